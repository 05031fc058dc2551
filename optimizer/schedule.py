"""Patrol schedule (SPEC §6): allocated hours turned into hotspot visits of 10–16 minutes (the
Koper dose), in an order drawn afresh for every day and shift, seeded by month.

At province size the schedule runs to tens of millions of visits, so it is built from integer
codes alone — no Python per visit — one patrolling station at a time, so that only the finished
columns take memory of the schedule's length; its text columns are categoricals (each id stored
once); CSV and Parquet writers read them as the ids."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

VISIT_MINUTES = (10, 16)
SCHEDULE_COLUMNS = ["station_id", "date", "shift", "visit", "cell_id", "minutes"]
DRAW_BITS = 53  # `Generator.random` draws are whole multiples of 2**-53


def visit_schedule(allocation: pd.DataFrame, plan_month: str) -> pd.DataFrame:
    """`station_id, date, shift, visit, cell_id, minutes` from `allocation.csv` rows: each
    row's monthly hours become visits of 10–16 whole minutes by the station whose officers
    patrol there (the lender where aid is used), spread evenly over the days of the month and
    shuffled per station, day and shift. A row's visits never add up to more than its hours
    (the last few minutes that cannot make a visit are dropped), so no cell, cap or budget is
    exceeded.

    Rows are taken by patrolling station, shift and cell; every row draws enough visit
    lengths for its minutes at the shortest visit, then each visit of a station, in row order,
    a random number that orders the visits of its day and shift."""
    period = pd.Period(plan_month, "M")
    days = period.days_in_month
    rng = np.random.default_rng(int(period.year) * 100 + int(period.month))
    lender = allocation["lender_station_id"].fillna("").astype(str)
    patrolled = (allocation["hours"] > 0).to_numpy()
    patrol = lender.where(lender != "", allocation["station_id"])[patrolled]
    station, stations = _codes(patrol)
    shift, shifts = _codes(allocation["shift"][patrolled])
    cell, cells = _codes(allocation["cell_id"][patrolled])
    order = np.lexsort((cell, shift, station))  # by station, shift and cell, as the ids sort
    station, shift, cell = station[order], shift[order], cell[order]
    hours = allocation["hours"].to_numpy(dtype=float)[patrolled][order]
    budget = np.floor(hours * 60 + 1e-6).astype(np.int64)  # minutes
    draws = budget // VISIT_MINUTES[0]  # enough visits even at the shortest
    lengths = rng.integers(VISIT_MINUTES[0], VISIT_MINUTES[1] + 1, size=int(draws.sum()))
    lengths = lengths.astype(np.int16)
    # each row's even spread of days starts on a day of its own, so that no day takes every
    # cell's first visit (a cell seen fewer times than the month has days)
    first_day = rng.integers(0, days, size=len(draws))
    spans = list(_station_spans(station, draws))
    kept = np.zeros(len(lengths), bool)  # the visits that fit within their row's minutes
    visits = np.zeros(len(draws), np.int64)
    for rows, drawn in spans:
        kept[drawn], visits[rows] = _within_budget(lengths[drawn], draws[rows], budget[rows])
    n = int(visits.sum())
    out = {
        "station": np.empty(n, _code_dtype(len(stations))),
        "day": np.empty(n, np.int8),
        "shift": np.empty(n, _code_dtype(len(shifts))),
        "visit": np.empty(n, np.int64),
        "cell": np.empty(n, _code_dtype(len(cells))),
        "minutes": np.empty(n, np.int16),
    }
    # a visit's day and shift beside its draw's 53 bits in one 64-bit key: shifts of whole
    # hours covering the day once are at most 24, and 31 days × 24 shifts need 10 bits
    slot_bits = max(int(days * len(shifts) - 1).bit_length(), 1)
    if slot_bits + DRAW_BITS > 64:
        raise ValueError(f"{len(shifts)} shifts are too many for one visit order key")
    first = 0
    for rows, drawn in spans:
        row_visits = visits[rows]
        row = np.repeat(np.arange(len(row_visits)), row_visits)  # within the station
        rank = np.arange(len(row)) - np.repeat(np.cumsum(row_visits) - row_visits, row_visits)
        evenly = (rank * days) // np.maximum(row_visits[row], 1)  # a day count of ±1 apart
        day = (evenly + first_day[rows][row]) % days  # from 0, turned to the row's first day
        slot = day * len(shifts) + shift[rows][row]  # day, then shift
        draw = (rng.random(len(row)) * 2.0**DRAW_BITS).astype(np.uint64)  # exact
        key = (slot.astype(np.uint64) << np.uint64(DRAW_BITS)) | draw
        by_slot = np.argsort(key, kind="stable")  # per day and shift, in random order
        part = slice(first, first + len(row))
        slot = slot[by_slot]
        out["station"][part] = station[rows.start]
        out["day"][part] = slot // len(shifts)
        out["shift"][part] = slot % len(shifts)
        out["cell"][part] = cell[rows][row[by_slot]]
        out["minutes"][part] = lengths[drawn][kept[drawn]][by_slot]
        new_slot = np.r_[True, slot[1:] != slot[:-1]] if len(slot) else np.zeros(0, bool)
        position = np.arange(len(slot))
        out["visit"][part] = position - np.maximum.accumulate(np.where(new_slot, position, 0)) + 1
        first += len(row)
    dates = [f"{plan_month}-{d:02d}" for d in range(1, days + 1)]
    return pd.DataFrame(
        {
            "station_id": pd.Categorical.from_codes(out["station"], stations),
            "date": pd.Categorical.from_codes(out["day"], dates),
            "shift": pd.Categorical.from_codes(out["shift"], shifts),
            "visit": out["visit"],
            "cell_id": pd.Categorical.from_codes(out["cell"], cells),
            "minutes": out["minutes"],
        },
        copy=False,
    )


def _codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes of `values` over their sorted distinct values, and those values."""
    categories = sorted(values.astype(str).unique())
    return pd.Categorical(values.astype(str), categories).codes.astype(np.int32), categories


def _code_dtype(n: int) -> type:
    """The integer type pandas keeps the codes of `n` categories in (no copy when wrapped)."""
    return next(t for t in (np.int8, np.int16, np.int32) if n < np.iinfo(t).max)


def _station_spans(station: np.ndarray, draws: np.ndarray) -> Iterator[tuple[slice, slice]]:
    """(rows, draws) of each patrolling station in turn: `station` is sorted, `draws` holds
    the visit lengths drawn per row."""
    bounds = np.flatnonzero(np.diff(station)) + 1
    starts, ends = np.r_[0, bounds], np.r_[bounds, len(station)]
    drawn = np.r_[0, np.cumsum(draws)]
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        if b > a:
            yield slice(a, b), slice(int(drawn[a]), int(drawn[b]))


def _within_budget(
    lengths: np.ndarray, draws: np.ndarray, budget: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Which of the visit `lengths` (runs of `draws` per row) still fit within their row's
    `budget` of minutes, counting the row's visits in order, and how many fit per row."""
    total = np.cumsum(lengths, dtype=np.int64)
    if not len(total):
        return np.zeros(0, bool), np.zeros(len(draws), np.int64)
    start = np.cumsum(draws) - draws
    before = np.where(start > 0, total[np.maximum(start - 1, 0)], 0)
    fits = total <= np.repeat(before + budget, draws)
    row = np.repeat(np.arange(len(draws)), draws)
    return fits, np.bincount(row[fits], minlength=len(draws))
