"""Patrol schedule (SPEC §6): allocated hours turned into hotspot visits of 10–16 minutes (the
Koper dose), in an order drawn afresh for every day and shift, seeded by month."""

from __future__ import annotations

import numpy as np
import pandas as pd

VISIT_MINUTES = (10, 16)
SCHEDULE_COLUMNS = ["station_id", "date", "shift", "visit", "cell_id", "minutes"]


def visit_schedule(allocation: pd.DataFrame, plan_month: str) -> pd.DataFrame:
    """`station_id, date, shift, visit, cell_id, minutes` from `allocation.csv` rows: each
    row's monthly hours become visits of 10–16 minutes by the station whose officers patrol
    there (the lender where aid is used), spread evenly over the days of the month and shuffled
    per station, day and shift. A row's visits never add up to more than its hours (the last
    few minutes that cannot make a visit are dropped), so no cell, cap or budget is exceeded."""
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
    minutes = rng.integers(VISIT_MINUTES[0], VISIT_MINUTES[1] + 1, size=len(row)).astype(float)
    spent = _within_row_cumsum(minutes, draws)
    keep = spent <= budget[row]
    row, minutes = row[keep], minutes[keep]
    visits = np.bincount(row, minlength=len(rows))
    rank = np.arange(len(row)) - np.repeat(np.cumsum(visits) - visits, visits)
    day = 1 + (rank * days) // np.maximum(visits[row], 1)  # evenly over the month
    out = pd.DataFrame(
        {
            "station_id": rows["patrol"].to_numpy()[row],
            "date": [f"{plan_month}-{d:02d}" for d in day],
            "shift": rows["shift"].to_numpy()[row],
            "cell_id": rows["cell_id"].to_numpy()[row],
            "minutes": minutes,
            "_order": rng.random(len(row)),
        }
    )
    out = out.sort_values(["station_id", "date", "shift", "_order"], ignore_index=True)
    out["visit"] = out.groupby(["station_id", "date", "shift"]).cumcount() + 1
    return out[SCHEDULE_COLUMNS]


def _within_row_cumsum(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Running totals of `values` restarting at each run of `lengths` consecutive entries."""
    if not len(values):
        return values
    total = np.cumsum(values)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return total - np.where(starts > 0, total[np.maximum(starts - 1, 0)], 0.0)
