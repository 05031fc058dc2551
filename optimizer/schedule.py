"""Patrol schedule (SPEC §6): allocated hours turned into hotspot visits of 10–16 minutes (the
Koper dose), in an order drawn afresh for every day and shift, seeded by month."""

from __future__ import annotations

import numpy as np
import pandas as pd

VISIT_MINUTES = (10, 16)


def visit_schedule(allocation: pd.DataFrame, plan_month: str) -> pd.DataFrame:
    """`station_id, date, shift, visit, cell_id, minutes`: each cell's monthly hours spread over
    the days of the month as visits, shuffled per day and shift."""
    period = pd.Period(plan_month, "M")
    days = period.days_in_month
    seed = int(period.year) * 100 + int(period.month)
    rng = np.random.default_rng(seed)
    hours = allocation.groupby(["station_id", "shift", "cell_id"], sort=True)["hours"].sum()
    hours = hours[hours > 0]
    rows = []
    for (station, shift), cells in hours.groupby(level=[0, 1], sort=True):
        per_day = cells.droplevel([0, 1]) * 60 / days  # minutes per day per cell
        for day in range(1, days + 1):
            visits = []
            for cell, minutes in per_day.items():
                left = minutes
                while left >= VISIT_MINUTES[0] / 2:
                    dose = float(
                        min(
                            max(left, VISIT_MINUTES[0]),
                            rng.integers(VISIT_MINUTES[0], VISIT_MINUTES[1] + 1),
                        )
                    )
                    visits.append((cell, dose))
                    left -= dose
            order = rng.permutation(len(visits))
            date = f"{plan_month}-{day:02d}"
            rows += [
                (station, date, shift, n + 1, visits[i][0], visits[i][1])
                for n, i in enumerate(order)
            ]
    return pd.DataFrame(
        rows, columns=["station_id", "date", "shift", "visit", "cell_id", "minutes"]
    )
