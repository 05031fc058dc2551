"""The evaluation does not credit regression to the mean to patrol: on seeded closed-loop
worlds with a known effect (tests/evaluation_world.py), plans that follow last month's harm,
the forecast or a legacy spread, and a world where patrol does nothing."""

from __future__ import annotations

import numpy as np
import pytest
from evaluation_world import closed_loop

from models.evaluation import evaluate_plan

SEEDS = range(6)
MONTHS = 6  # months 3 to 6 measured, as a bureau's plans after the first


def _measured(follows: str, effect: float) -> dict[str, np.ndarray]:
    """Bureau-wide estimates of every measured month of every seed: the dose response with
    its interval, the WDD's z, and the plain slope of harm change on added hours."""
    found = {"estimate": [], "low": [], "high": [], "z": [], "plain": []}
    for seed in SEEDS:
        world = closed_loop(seed, effect_per_100h=effect, months=MONTHS, follows=follows)
        for month, before in zip(world.months[2:], world.months[1:], strict=False):
            out = evaluate_plan(
                world.plans[month],
                world.cells,
                world.cases,
                month,
                world.delivered[month],
                world.delivered[before],
                min_visit_minutes=10.0,
            )
            row = out.set_index("station_id").loc["ALL"]
            found["estimate"].append(row["dose_response"])
            found["low"].append(row["dose_response_low"])
            found["high"].append(row["dose_response_high"])
            found["z"].append(row["z"])
            found["plain"].append(_plain_slope(world, month, before))
    return {name: np.array(values) for name, values in found.items()}


def _plain_slope(world, month: str, before: str) -> float:
    """Harm change per 100 added delivered hours, nothing held fixed: the estimate that
    credits the fall back to patrol."""
    cases = world.cases.groupby(["cell_id", "month"]).size().unstack(fill_value=0)
    cases = cases.reindex(world.cells["cell_id"], fill_value=0)
    change = (cases.get(month, 0) - cases.get(before, 0)).to_numpy(float)
    added = (
        world.delivered[month]["delivered_hours"] - world.delivered[before]["delivered_hours"]
    ).to_numpy()
    return 100 * np.polyfit(added, change, 1)[0]


@pytest.mark.parametrize("follows", ["last_month", "forecast", "legacy"])
def test_the_dose_response_finds_the_true_effect(follows):
    found = _measured(follows, -6.5)
    ratio = found["estimate"].mean() / -6.5
    covered = np.mean((found["low"] <= -6.5) & (found["high"] >= -6.5))
    assert 0.7 <= ratio <= 1.4, ratio
    assert covered >= 0.75, covered


def test_plans_that_follow_last_month_would_fool_the_plain_slope():
    """The world is the hard case: the plain slope of change on added hours finds more than
    twice the true effect."""
    found = _measured("last_month", -6.5)
    assert found["plain"].mean() / -6.5 > 2.0


def test_where_patrol_does_nothing_nothing_is_found():
    found = _measured("last_month", 0.0)
    spread = found["estimate"].std() / np.sqrt(len(found["estimate"]))
    assert abs(found["estimate"].mean()) < 2.5 * spread
    assert np.mean((found["low"] <= 0) & (found["high"] >= 0)) >= 0.8
    assert np.mean(np.abs(found["z"]) > 1.96) <= 0.2  # the WDD's false alarms
    assert abs(found["z"].mean()) < 0.5


def test_the_randomized_experiment_covers_the_truth():
    estimates, covered, pairs = [], [], []
    for seed in SEEDS:
        world = closed_loop(seed, months=4, follows="last_month", experiment_share=0.5)
        for month, before in zip(world.months[2:], world.months[1:], strict=False):
            row = (
                evaluate_plan(
                    world.plans[month],
                    world.cells,
                    world.cases,
                    month,
                    world.delivered[month],
                    world.delivered[before],
                    min_visit_minutes=10.0,
                    experiment=world.experiments[month],
                )
                .set_index("station_id")
                .loc["ALL"]
            )
            estimates.append(row["randomized_response"])
            covered.append(row["randomized_low"] <= -6.5 <= row["randomized_high"])
            pairs.append(row["randomized_pairs"])
    assert min(pairs) >= 50
    assert 0.6 <= np.mean(estimates) / -6.5 <= 1.5
    assert np.mean(covered) >= 0.75
