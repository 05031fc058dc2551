"""Effect of past training (SPEC §7, §4 bonus): difference in differences against stations not yet
trained, checked on exact synthetic panels and against the demo's planted K05 → S02 effect."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from models.contracts import load_bureau
from models.training import comparisons, course_effectiveness, training_bonus, training_effects
from optimizer.cli import SCORE_TABLES
from optimizer.demo import INDICATORS, PLANTED_COURSE, PLANTED_EFFECT, demo_month
from optimizer.stages import score_stage

COURSES = pd.DataFrame({"course_id": ["K1"], "addresses": ["I1"]})
MONTHS = [str(p) for p in pd.period_range("2024-01", "2025-06", freq="M")]


def ramp_panel(trained: dict[str, str], slope: float, noise: float = 0.0) -> pd.DataFrame:
    """Scores of indicator I1: station level + a month shock common to all + `slope` points per
    month since training (an effect that keeps growing), + optional seeded noise."""
    rng = np.random.default_rng(3)
    shock = rng.normal(0, 5, len(MONTHS))
    stations = sorted({*trained, "N1", "N2", "N3", "N4"})
    rows = []
    for i, s in enumerate(stations):
        start = pd.Period(trained[s], "M") if s in trained else None
        for k, m in enumerate(MONTHS):
            since = (pd.Period(m, "M") - start).n if start is not None else 0
            score = 50 + 3 * i + shock[k] + slope * max(since, 0) + rng.normal(0, noise)
            rows.append((s, m, "regional", "I1", score, 1.0, False))
    return pd.DataFrame(
        rows,
        columns=[
            "station_id",
            "month",
            "station_type",
            "indicator_id",
            "score",
            "weight",
            "missing",
        ],
    )


def log_of(trained: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {"station_id": list(trained), "course_id": "K1", "month": list(trained.values())}
    ).assign(attendees=5)


STAGGERED = {"T1": "2024-06", "T2": "2024-08", "T3": "2024-12", "T4": "2025-02"}


def test_each_cohort_is_compared_only_with_stations_not_yet_trained():
    found = {
        c.station_id: c
        for c in comparisons(ramp_panel(STAGGERED, 1.0), log_of(STAGGERED), COURSES, "2025-06")
    }
    never = ("N1", "N2", "N3", "N4")
    assert found["T1"].controls == ("N1", "N2", "N3", "N4", "T3", "T4")  # T2 trains in T1's window
    assert found["T2"].controls == (*never, "T3", "T4")
    assert found["T3"].controls == never  # T4 trains within T3's window, T1 and T2 before it
    assert found["T4"].controls == never


def test_a_growing_effect_is_recovered_exactly_despite_staggered_adoption():
    # after-window mean of 1, 2, 3 months × 2 points = 4; earlier-trained stations keep rising,
    # so any of them used as a control would bias the estimate downwards
    ind = ramp_panel(STAGGERED, 2.0)
    effects = training_effects(ind, log_of(STAGGERED), COURSES, "2025-06")
    assert effects["effect"].to_numpy() == pytest.approx([4.0] * 4)
    course = course_effectiveness(ind, log_of(STAGGERED), COURSES, "2025-06")
    assert course.loc[0, "effect"] == pytest.approx(4.0)
    assert course.loc[0, "n_treated"] == 4


def test_no_effect_is_found_in_noise_and_a_real_one_is():
    null = course_effectiveness(
        ramp_panel(STAGGERED, 0.0, 2.0), log_of(STAGGERED), COURSES, "2025-06"
    )
    assert null.loc[0, "low"] < 0 < null.loc[0, "high"]
    real = course_effectiveness(
        ramp_panel(STAGGERED, 3.0, 2.0), log_of(STAGGERED), COURSES, "2025-06"
    )
    assert real.loc[0, "low"] < 6.0 < real.loc[0, "high"] and real.loc[0, "low"] > 0


def test_training_without_a_full_window_or_controls_is_not_measured():
    late = {"T1": "2025-05"}  # only one month after it by 2025-06
    assert comparisons(ramp_panel(late, 1.0), log_of(late), COURSES, "2025-06") == []
    assert training_effects(ramp_panel(late, 1.0), None, COURSES, "2025-06").empty
    assert course_effectiveness(ramp_panel(late, 1.0), log_of(late), COURSES, "2025-06").empty


def test_the_bonus_counts_significant_gains_only_weighted_and_capped():
    effects = pd.DataFrame(
        {
            "station_id": ["A", "A", "B", "C"],
            "course_id": "K1",
            "month": "2024-06",
            "indicator_id": ["I1", "I2", "I1", "I1"],
            "effect": [4.0, 2.0, 200.0, 30.0],
            "low": [1.0, 0.5, 150.0, -1.0],
            "high": [7.0, 3.5, 250.0, 61.0],
            "n_controls": 5,
        }
    )
    weights = pd.DataFrame(
        {
            "station_id": ["A", "A", "B", "B", "C"],
            "indicator_id": ["I1", "I2", "I1", "I2", "I1"],
            "weight": [10.0, 30.0, 20.0, 20.0, 5.0],
        }
    )
    bonus = training_bonus(effects, weights, "2025-06", cap=5).set_index("station_id")["bonus"]
    assert bonus["A"] == pytest.approx(4 * 0.25 + 2 * 0.75)
    assert bonus["B"] == 5  # capped
    assert "C" not in bonus.index  # its interval covers zero


# --- the demo bureau ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_bureau(demo_data):
    return load_bureau(demo_data, SCORE_TABLES)


@pytest.fixture(scope="module")
def demo_scored(demo_bureau):
    return score_stage(demo_bureau, demo_month())


def planted_points() -> float:
    """The planted value effect in score points: S02 scores value / target × 100 below target."""
    target = next(row[8] for row in INDICATORS if row[0] == "S02")
    return PLANTED_EFFECT / target * 100


def test_the_demo_planted_effect_lies_within_its_interval(demo_bureau, demo_scored):
    found = course_effectiveness(
        demo_scored.all_indicator_scores,
        demo_bureau.training_log,
        demo_bureau.courses,
        demo_month(),
    ).set_index(["course_id", "indicator_id"])
    planted = found.loc[(PLANTED_COURSE, "S02")]
    assert planted["low"] > 0
    assert planted["low"] <= planted_points() <= planted["high"]
    # nothing was planted anywhere else: every other interval covers zero
    others = found.drop(index=(PLANTED_COURSE, "S02"))
    assert len(others) >= 5
    assert ((others["low"] <= 0) & (others["high"] >= 0)).all()


def test_with_the_planted_effect_taken_out_the_demo_shows_none(demo_bureau):
    log = demo_bureau.training_log
    start = log[log["course_id"] == PLANTED_COURSE].set_index("station_id")["month"]
    scores = demo_bureau.scores.copy()
    treated = (
        (scores["indicator_id"] == "S02")
        & scores["station_id"].isin(start.index)
        & (scores["month"] > scores["station_id"].map(start).fillna("9999-99"))
    )
    scores.loc[treated, "value"] -= PLANTED_EFFECT
    plain = dataclasses.replace(demo_bureau, scores=scores)
    ind = score_stage(plain, demo_month()).all_indicator_scores
    found = course_effectiveness(ind, log, demo_bureau.courses, demo_month())
    row = found.set_index(["course_id", "indicator_id"]).loc[(PLANTED_COURSE, "S02")]
    assert row["low"] <= 0 <= row["high"]
    assert row["high"] < planted_points()


def test_the_demo_bonus_goes_to_significant_gains_only_and_respects_the_cap(
    demo_bureau, demo_scored
):
    effects = demo_scored.effects
    significant = set(effects.loc[effects["low"] > 0, "station_id"])
    scores = demo_scored.month_scores.set_index("station_id")
    assert significant and set(scores.index[scores["bonus"] > 0]) == significant
    assert (scores["bonus"] <= demo_bureau.config.scoring.bonus_cap).all()
    assert scores["total_with_bonus"].to_numpy() == pytest.approx(
        (scores["total"] + scores["bonus"]).to_numpy()
    )
