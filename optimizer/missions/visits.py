"""A month's visits (SPEC §16): each cell's planned hours of a shift become visits of 10–16
whole minutes on scene (the Koper dose) by the station whose officers patrol there, spread
evenly over the days of the month, and each visit a time window in its shift so that a cell's
visits in one shift are at least `missions.revisit_gap_min` apart: k visits of a day get k
slots of ⌊shift ÷ k⌋ minutes from an offset drawn per cell and day, each visit arriving early
enough in its slot to leave the gap before the next slot.

Hours are officer-hours and a visit's minutes are a unit's minutes on scene: a cell's hours
become hours × 60 ÷ the crew of the station's units minutes of visits. A cell sees at most
⌊shift ÷ (gap + 16 min)⌋ visits a shift, so the slots of a day hold its visits with the gap
between them; minutes beyond that, or fewer than one shortest visit, make no visit (they are
counted as unplaced)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer.missions.units import ShiftClock

VISIT_MINUTES = (10, 16)
MEAN_VISIT = 13  # minutes: the visit count aims at this mean length
VISIT_COLUMNS = ["station_id", "day", "shift", "cell_id", "minutes", "early", "late"]


def month_visits(
    allocation: pd.DataFrame,
    plan_month: str,
    crew: pd.DataFrame,
    clocks: dict[str, ShiftClock],
    revisit_gap_min: float,
    officers_per_unit: int,
) -> pd.DataFrame:
    """`VISIT_COLUMNS` from `allocation.csv` rows: `station_id` the patrolling station (the
    lender where aid is used), `day` from 0, `minutes` on scene, `early`/`late` the window of
    the visit's arrival in minutes from its shift's start. `crew` (`station_id, shift,
    officers`) gives the officers per unit of each patrolling station and shift listed in
    `units.csv`; others have `officers_per_unit`.

    A row's visits are spread over the days from a day of its own (drawn, seeded by month), so
    that no day takes every cell's first visit; a cell's daily counts differ by at most one."""
    period = pd.Period(plan_month, "M")
    days = period.days_in_month
    rng = np.random.default_rng(int(period.year) * 100 + int(period.month))
    lender = allocation["lender_station_id"].fillna("").astype(str)
    rows = pd.DataFrame(
        {
            "station_id": lender.where(lender != "", allocation["station_id"].astype(str)),
            "shift": allocation["shift"].astype(str),
            "cell_id": allocation["cell_id"].astype(str),
            "hours": allocation["hours"].astype(float),
        }
    )
    rows = rows[rows["hours"] > 0].sort_values(["station_id", "shift", "cell_id"])
    rows = rows.merge(crew, on=["station_id", "shift"], how="left", validate="many_to_one")
    officers = rows["officers"].fillna(officers_per_unit).to_numpy(dtype=float)
    minutes = np.floor(rows["hours"].to_numpy() * 60 / officers + 1e-6)
    length = rows["shift"].map(lambda h: clocks[h].length_min).to_numpy(dtype=np.int64)
    gap = int(np.ceil(revisit_gap_min))
    most_a_day = np.maximum(length // (gap + VISIT_MINUTES[1]), 1)
    count = np.clip(
        np.rint(minutes / MEAN_VISIT),
        np.ceil(minutes / VISIT_MINUTES[1]),
        np.floor(minutes / VISIT_MINUTES[0]),
    )
    count = np.minimum(count, most_a_day * days).astype(np.int64)
    placed = np.minimum(minutes, count * VISIT_MINUTES[1]).astype(np.int64)
    first_day = rng.integers(0, days, size=len(rows))

    if not count.sum():
        return pd.DataFrame({c: [] for c in VISIT_COLUMNS})
    row = np.repeat(np.arange(len(rows)), count)
    rank = np.arange(len(row)) - np.repeat(np.cumsum(count) - count, count)
    n = count[row]
    # each visit base minutes, the first `placed % n` of a row's visits one more
    base = placed[row] // np.maximum(n, 1)
    visit_minutes = base + (rank < placed[row] % np.maximum(n, 1))
    day = ((rank * days) // np.maximum(n, 1) + first_day[row]) % days
    # the visit's slot among the row's visits of its day: ranks of one day are consecutive
    day_start = np.r_[True, (row[1:] != row[:-1]) | (day[1:] != day[:-1])]
    position = np.arange(len(row))
    slot = position - np.maximum.accumulate(np.where(day_start, position, 0))
    per_day = np.bincount(np.cumsum(day_start) - 1)[np.cumsum(day_start) - 1]
    span = length[row] // per_day  # whole minutes of the shift each of the day's visits has
    # the day's slots start at an offset of the cell's own (within the room the gaps leave),
    # so that the cells' windows do not all open at once
    room = np.where(per_day > 1, length[row] - per_day * span + gap, 0)
    group = np.cumsum(day_start) - 1
    offset = np.floor(rng.random(int(group[-1]) + 1)[group] * (room + 1)).astype(np.int64)
    early = offset + slot * span
    late = np.where(per_day > 1, early + span - gap - visit_minutes, length[row] - visit_minutes)
    visits = pd.DataFrame(
        {
            "station_id": rows["station_id"].to_numpy()[row],
            "day": day.astype(np.int16),
            "shift": rows["shift"].to_numpy()[row],
            "cell_id": rows["cell_id"].to_numpy()[row],
            "minutes": visit_minutes.astype(np.int16),
            "early": early.astype(np.int32),
            "late": late.astype(np.int32),
        }
    )
    return visits.sort_values(["station_id", "day", "shift"], kind="stable", ignore_index=True)
