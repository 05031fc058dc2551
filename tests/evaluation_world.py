"""A seeded closed-loop world with a known patrol effect, for the evaluation's tests: cells
with their own harm rate, a planner that puts hours where last month's harm was (the case in
which "before" is the month the plan was fitted to, and cells that just had a bad month fall
back whatever the patrol does), patrols that deliver their plan with noise, and crime that
falls by a known amount per delivered hour.

Each month t the plan is made from the data up to t−1: hours by last month's harm (or by the
forecast, or spread by the long-run harm as a legacy patrol would), the forecast an
exponentially weighted mean of the months before. The world's frames are those
`models.evaluation.evaluate_plan` reads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.experiment import assign_experiment

FIRST_MONTH = pd.Period("2025-01", "M")
SHIFTS = ("day", "night")


@dataclass(frozen=True)
class World:
    """`months` months of a bureau: the plans (`cell_id, shift, hours, prev_hours, risk`),
    the hours delivered (`cell_id, delivered_hours`), the patrol-sensitive cases and the cells
    (`cell_id, station_id`), by month; `effect` the true change of harm per 100 delivered
    hours."""

    cells: pd.DataFrame
    cases: pd.DataFrame
    plans: dict[str, pd.DataFrame]
    delivered: dict[str, pd.DataFrame]
    experiments: dict[str, pd.DataFrame]
    months: list[str]
    effect: float


def closed_loop(
    seed: int,
    *,
    effect_per_100h: float = -6.5,
    months: int = 8,
    cells: int = 800,
    stations: int = 4,
    budget_hours: float = 6_000.0,
    follows: str = "last_month",
    adherence: float = 0.8,
    experiment_share: float = 0.0,
) -> World:
    """The world of `seed`. `follows`: what the plan follows — `last_month` (hours by last
    month's harm: the regression-to-the-mean case), `forecast` (by the forecast) or `legacy`
    (by the long-run harm of the first months, never updated). `experiment_share`: the share of
    cell pairs in the randomized dose experiment (`models.experiment`)."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"c{i:04d}" for i in range(cells)])
    station = np.array([f"S{1 + i % stations:02d}" for i in range(cells)])
    rate = rng.gamma(1.2, 4.0, cells) + 0.3  # expected harm a month without patrol
    beta = -effect_per_100h / 100.0  # harm prevented per delivered hour
    cap = 40.0  # hours a cell can take in a month
    harm_seen, plans, delivered, experiments, case_rows = [], {}, {}, {}, []
    previous_plan = np.zeros(cells)
    month_names = [str(FIRST_MONTH + t) for t in range(months)]
    for t, month in enumerate(month_names):
        if t == 0:
            weights = rate  # a legacy patrol by the bureau's long experience
            forecast = rate.copy()
        else:
            history = np.array(harm_seen)
            decay = 0.7 ** np.arange(len(history))[::-1]
            forecast = decay @ history / decay.sum()
            weights = {
                "last_month": history[-1] + 0.5,
                "forecast": forecast + 0.1,
                "legacy": np.asarray(harm_seen[0]) + 0.5,
            }[follows]
        plan = _spread(budget_hours, weights, cap)
        rows = _plan_rows(ids, plan, previous_plan, forecast).assign(
            station_id=np.tile(station, len(SHIFTS)), lender_station_id=""
        )
        tried = assign_experiment(
            rows, experiment_share, month, floor_hours=0.0, cap_hours=cap / 2,
            max_change_share=None,
        )  # fmt: skip
        experiments[month] = tried.cells
        plan = tried.allocation.groupby("cell_id")["hours"].sum().reindex(ids).to_numpy()
        dose = plan * adherence * rng.lognormal(-0.045, 0.3, cells)
        expected = np.maximum(rate - beta * dose, 0.0)
        harm = rng.poisson(expected).astype(float)
        harm_seen.append(harm)
        plans[month] = tried.allocation.drop(columns=["station_id", "lender_station_id"])
        delivered[month] = pd.DataFrame({"cell_id": ids, "delivered_hours": dose.round(2)})
        case_rows.append(
            pd.DataFrame({"cell_id": np.repeat(ids, harm.astype(int)), "month": month}).assign(
                patrol_sensitive=True, harm=1.0
            )
        )
        previous_plan = plan
    return World(
        cells=pd.DataFrame({"cell_id": ids, "station_id": station}),
        cases=pd.concat(case_rows, ignore_index=True),
        plans=plans,
        delivered=delivered,
        experiments=experiments,
        months=month_names,
        effect=effect_per_100h,
    )


def _spread(budget: float, weights: np.ndarray, cap: float) -> np.ndarray:
    """`budget` hours in proportion to `weights`, no cell above `cap` (the excess spread on
    again), rounded to 0.5 h as plans are."""
    hours = np.zeros(len(weights))
    free = np.ones(len(weights), dtype=bool)
    left = budget
    while left > 1e-6 and free.any():
        share = np.where(free, weights, 0.0)
        add = left * share / share.sum()
        hours = np.minimum(hours + add, cap)
        free = hours < cap - 1e-9
        left = budget - hours.sum()
    return np.round(hours * 2) / 2


def _plan_rows(
    ids: np.ndarray, hours: np.ndarray, previous: np.ndarray, forecast: np.ndarray
) -> pd.DataFrame:
    """A plan as allocation.csv holds it: rows per cell and shift, each shift half of the
    cell's hours and of its forecast harm; `prev_hours` the plan before."""
    rows = []
    for shift in SHIFTS:
        rows.append(
            pd.DataFrame(
                {
                    "cell_id": ids,
                    "shift": shift,
                    "hours": hours / 2,
                    "prev_hours": previous / 2,
                    "risk": forecast / 2,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)
