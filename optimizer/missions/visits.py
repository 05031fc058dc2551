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

    The visits of a cell and shift (its own station's and the lenders') are spread over the
    days together, from a day of the cell's own (drawn, seeded by month), so that no day takes
    every cell's first visit and a cell's daily counts differ by at most one; each lender's
    visits are spread evenly among them. The windows of a cell's visits of one day are
    shared by all the stations that patrol it."""
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
    rows = rows[rows["hours"] > 0].sort_values(["cell_id", "shift", "station_id"])
    rows = rows.merge(crew, on=["station_id", "shift"], how="left", validate="many_to_one")
    officers = rows["officers"].fillna(officers_per_unit).to_numpy(dtype=float)
    minutes = np.floor(rows["hours"].to_numpy() * 60 / officers + 1e-6)
    length = rows["shift"].map(lambda h: clocks[h].length_min).to_numpy(dtype=np.int64)
    gap = int(np.ceil(revisit_gap_min))
    most = np.maximum(length // (gap + VISIT_MINUTES[1]), 1) * days  # a cell's visits a shift
    count = np.clip(
        np.rint(minutes / MEAN_VISIT),
        np.ceil(minutes / VISIT_MINUTES[1]),
        np.floor(minutes / VISIT_MINUTES[0]),
    )
    cell = (rows["cell_id"] + "|" + rows["shift"]).factorize()[0]  # rows of a cell are together
    total = np.bincount(cell, count)[cell]
    count = np.where(total > most, np.floor(count * most / np.maximum(total, 1)), count)
    count = count.astype(np.int64)
    if not count.sum():
        return pd.DataFrame({c: [] for c in VISIT_COLUMNS})
    placed = np.minimum(minutes, count * VISIT_MINUTES[1]).astype(np.int64)
    first_day = rng.integers(0, days, size=int(cell.max()) + 1)

    row = np.repeat(np.arange(len(rows)), count)
    rank = np.arange(len(row)) - np.repeat(np.cumsum(count) - count, count)
    n = count[row]
    # each visit base minutes, the first `placed % n` of a row's visits one more
    visit_minutes = placed[row] // n + (rank < placed[row] % n)
    # the cell's visits in one line, each row's spread evenly along it, then over the days
    along = (2 * rank + 1) / (2 * n)
    order = np.lexsort((row, along, cell[row]))
    row, rank, visit_minutes = row[order], rank[order], visit_minutes[order]
    group = cell[row]
    cell_n = np.bincount(group)[group]
    cell_rank = np.arange(len(row)) - (np.cumsum(np.bincount(group)) - np.bincount(group))[group]
    day = ((cell_rank * days) // cell_n + first_day[group]) % days
    # the visit's slot among its cell's visits of the day: a day's ranks are consecutive
    day_start = np.r_[True, (group[1:] != group[:-1]) | (day[1:] != day[:-1])]
    position = np.arange(len(row))
    slot = position - np.maximum.accumulate(np.where(day_start, position, 0))
    per_day = np.bincount(np.cumsum(day_start) - 1)[np.cumsum(day_start) - 1]
    span = length[row] // per_day  # whole minutes of the shift each of the day's visits has
    # the day's slots start at an offset of the cell's own (within the room the gaps leave),
    # so that the cells' windows do not all open at once
    room = np.where(per_day > 1, length[row] - per_day * span + gap, 0)
    day_group = np.cumsum(day_start) - 1
    offset = np.floor(rng.random(int(day_group[-1]) + 1)[day_group] * (room + 1)).astype(np.int64)
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
