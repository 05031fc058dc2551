"""Patrol schedule (SPEC §6): allocated hours turned into hotspot visits of 10–16 minutes (the
Koper dose), in an order drawn afresh for every day and shift, seeded by month.

At province size the schedule runs to tens of millions of visits, so it is built from integer
codes alone — no Python per visit — and its text columns are categoricals (each id stored
once); CSV and Parquet writers read them as the ids."""

from __future__ import annotations

import numpy as np
import pandas as pd

VISIT_MINUTES = (10, 16)
SCHEDULE_COLUMNS = ["station_id", "date", "shift", "visit", "cell_id", "minutes"]


def visit_schedule(allocation: pd.DataFrame, plan_month: str) -> pd.DataFrame:
    """`station_id, date, shift, visit, cell_id, minutes` from `allocation.csv` rows: each
    row's monthly hours become visits of 10–16 whole minutes by the station whose officers
    patrol there (the lender where aid is used), spread evenly over the days of the month and
    shuffled per station, day and shift. A row's visits never add up to more than its hours
    (the last few minutes that cannot make a visit are dropped), so no cell, cap or budget is
    exceeded."""
    period = pd.Period(plan_month, "M")
    days = period.days_in_month
    rng = np.random.default_rng(int(period.year) * 100 + int(period.month))
    lender = allocation["lender_station_id"].fillna("").astype(str)
    rows = allocation.assign(patrol=lender.where(lender != "", allocation["station_id"]))
    rows = rows.loc[rows["hours"] > 0, ["patrol", "shift", "cell_id", "hours"]]
    rows = rows.sort_values(["patrol", "shift", "cell_id"], ignore_index=True)
    budget = np.floor(rows["hours"].to_numpy() * 60 + 1e-6)  # minutes
    draws = (budget // VISIT_MINUTES[0]).astype(int)  # enough visits even at the shortest
    row = np.repeat(np.arange(len(rows)), draws)
    minutes = rng.integers(VISIT_MINUTES[0], VISIT_MINUTES[1] + 1, size=len(row))
    spent = _within_row_cumsum(minutes.astype(float), draws)
    keep = spent <= budget[row]
    row, minutes = row[keep], minutes[keep]
    visits = np.bincount(row, minlength=len(rows))
    rank = np.arange(len(row)) - np.repeat(np.cumsum(visits) - visits, visits)
    day = (rank * days) // np.maximum(visits[row], 1)  # from 0, evenly over the month
    station, stations = _codes(rows["patrol"])
    shift, shifts = _codes(rows["shift"])
    cell, cells = _codes(rows["cell_id"])
    station, shift, cell = station[row], shift[row], cell[row]
    order = np.lexsort((rng.random(len(row)), shift, day, station))
    station, day, shift, cell, minutes = (a[order] for a in (station, day, shift, cell, minutes))
    new_slot = np.ones(len(order), bool)  # first visit of a station, day and shift
    new_slot[1:] = (np.diff(station) != 0) | (np.diff(day) != 0) | (np.diff(shift) != 0)
    position = np.arange(len(order))
    visit = position - np.maximum.accumulate(np.where(new_slot, position, 0)) + 1
    dates = [f"{plan_month}-{d:02d}" for d in range(1, days + 1)]
    return pd.DataFrame(
        {
            "station_id": pd.Categorical.from_codes(station, stations),
            "date": pd.Categorical.from_codes(day, dates),
            "shift": pd.Categorical.from_codes(shift, shifts),
            "visit": visit,
            "cell_id": pd.Categorical.from_codes(cell, cells),
            "minutes": minutes.astype(np.int16),
        }
    )[SCHEDULE_COLUMNS]


def _codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes of `values` over their sorted distinct values, and those values."""
    categories = sorted(values.astype(str).unique())
    return pd.Categorical(values.astype(str), categories).codes.astype(np.int32), categories


def _within_row_cumsum(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Running totals of `values` restarting at each run of `lengths` consecutive entries."""
    if not len(values):
        return values
    total = np.cumsum(values)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return total - np.where(starts > 0, total[np.maximum(starts - 1, 0)], 0.0)
