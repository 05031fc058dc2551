"""A station's patrol units per day and shift (SPEC §16), and the shifts' clock times.

With `units.csv`, a day's units are the listed units of that station and shift whose
`weekdays` hold the day. Without it, a station's units for a day and shift are its patrol
officer-hours that day and shift ÷ the shift's length ÷ `missions.officers_per_unit`, rounded
up, named `{station_id}-{shift}-{n}`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.config import AllocationConfig
from models.mission_inputs import DEFAULT_MODE, EVERY_DAY

UNIT_COLUMNS = ["station_id", "shift", "unit_id", "officers", "mode", "weekdays"]


@dataclass(frozen=True)
class ShiftClock:
    """A shift's start (minutes after midnight of its date) and length (minutes); a shift
    that crosses midnight keeps its start date."""

    start_min: int
    length_min: int


def shift_clocks(config: AllocationConfig) -> dict[str, ShiftClock]:
    """Every configured shift's clock: `shift_hours` [start, end) in whole hours."""
    clocks = {}
    for shift in config.shifts:
        start, end = config.shift_hours[shift]
        hours = (end - start) % 24 or 24
        clocks[shift] = ShiftClock(start * 60, hours * 60)
    return clocks


def derived_units(
    patrol_hours: pd.DataFrame, days: int, clocks: dict[str, ShiftClock], officers_per_unit: int
) -> pd.DataFrame:
    """Units of every station and shift from `patrol_hours` (`station_id, shift, hours`: the
    month's patrol officer-hours), the same every day: hours ÷ days ÷ shift hours ÷ crew,
    rounded up; none where a station-shift has no patrol hours."""
    length_h = patrol_hours["shift"].map(lambda h: clocks[h].length_min / 60).astype(float)
    per_day = patrol_hours["hours"].to_numpy(dtype=float) / days
    count = np.ceil(per_day / length_h.to_numpy() / officers_per_unit - 1e-9).astype(int)
    count = np.maximum(count, 0)
    rows = patrol_hours.loc[patrol_hours.index.repeat(count), ["station_id", "shift"]]
    number = rows.groupby(["station_id", "shift"], sort=False).cumcount() + 1
    rows = rows.astype(str)
    return pd.DataFrame(
        {
            "station_id": rows["station_id"].to_numpy(),
            "shift": rows["shift"].to_numpy(),
            "unit_id": (
                rows["station_id"] + "-" + rows["shift"] + "-" + number.astype(str)
            ).to_numpy(),
            "officers": officers_per_unit,
            "mode": DEFAULT_MODE,
            "weekdays": EVERY_DAY,
        }
    )


def units_on(units: pd.DataFrame, date: pd.Timestamp) -> pd.DataFrame:
    """The units that work on `date` (their `weekdays` hold its ISO weekday)."""
    day = str(date.isoweekday())
    return units[units["weekdays"].str.split(";").map(lambda days: day in days)]


def unit_hours(units: pd.DataFrame, dates: pd.DatetimeIndex, clocks: dict[str, ShiftClock]):
    """The listed units' officer-hours per station and shift over `dates` (`station_id, shift,
    unit_hours`): officers × shift hours × the days each unit works."""
    weekdays = pd.Series((dates.dayofweek + 1).astype(str)).value_counts()  # ISO weekdays
    worked = (
        units["weekdays"]
        .str.split(";")
        .map(lambda days: int(sum(weekdays.get(d, 0) for d in days)))
    )
    length_h = units["shift"].map(lambda h: clocks[h].length_min / 60)
    hours = units["officers"] * length_h * worked
    frame = units[["station_id", "shift"]].assign(unit_hours=hours.astype(float))
    return frame.groupby(["station_id", "shift"], as_index=False, sort=True)["unit_hours"].sum()


def crews(units: pd.DataFrame | None, officers_per_unit: int) -> pd.DataFrame:
    """Officers per unit of each station and shift (`station_id, shift, officers`): the
    listed units' mean crew; stations and shifts without listed units use
    `officers_per_unit` (the caller's default)."""
    if units is None or not len(units):
        return pd.DataFrame(columns=["station_id", "shift", "officers"])
    return units.groupby(["station_id", "shift"], as_index=False, sort=True)["officers"].mean()
