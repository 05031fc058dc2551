"""Effect of past training (SPEC §7, §4 bonus): difference in differences against stations not yet
trained, checked on exact synthetic panels and against the demo's planted K05 → S02 effect."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from models.contracts import load_bureau
from models.training import (
    comparisons,
    course_addresses,
    course_effectiveness,
    training_bonus,
    training_effects,
)
from optimizer.cli.base import SCORE_TABLES
from optimizer.demo import INDICATORS, PLANTED_COURSE, PLANTED_EFFECT, demo_month
from optimizer.stages import bureau_station_weights, score_stage

COURSES = pd.DataFrame({"course_id": ["K1"], "addresses": ["I1"]})
INDICATOR_SCORE_COLUMNS = [
    "station_id", "month", "station_type", "indicator_id", "score", "weight", "missing",
]  # fmt: skip
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
        columns=INDICATOR_SCORE_COLUMNS,
    )


def log_of(trained: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {"station_id": list(trained), "course_id": "K1", "month": list(trained.values())}
    ).assign(attendees=5)


STAGGERED = {"T1": "2024-06", "T2": "2024-08", "T3": "2024-12", "T4": "2025-02"}


def test_each_cohort_is_compared_only_with_stations_not_yet_trained():
    compared = comparisons(ramp_panel(STAGGERED, 1.0), log_of(STAGGERED), COURSES, "2025-06")
    found = {s: compared.controls_of(i) for i, s in enumerate(compared.trained["station_id"])}
    never = ("N1", "N2", "N3", "N4")
    assert found["T1"] == ("N1", "N2", "N3", "N4", "T3", "T4")  # T2 trains in T1's window
    assert found["T2"] == (*never, "T3", "T4")
    assert found["T3"] == never  # T4 trains within T3's window, T1 and T2 before it
    assert found["T4"] == never


def test_a_growing_effect_is_recovered_exactly_despite_staggered_adoption():
    # after-window mean of 1, 2, 3 months × 2 points = 4; earlier-trained stations keep rising,
    # so any of them used as a control would bias the estimate downwards
    ind = ramp_panel(STAGGERED, 2.0)
    compared = comparisons(ind, log_of(STAGGERED), COURSES, "2025-06")
    effects = training_effects(compared)
    assert effects["effect"].to_numpy() == pytest.approx([4.0] * 4)
    course = course_effectiveness(compared)
    assert course.loc[0, "effect"] == pytest.approx(4.0)
    assert course.loc[0, "n_treated"] == 4


def test_no_effect_is_found_in_noise_and_a_real_one_is():
    null = course_effectiveness(
        comparisons(ramp_panel(STAGGERED, 0.0, 2.0), log_of(STAGGERED), COURSES, "2025-06")
    )
    assert null.loc[0, "low"] < 0 < null.loc[0, "high"]
    real = course_effectiveness(
        comparisons(ramp_panel(STAGGERED, 3.0, 2.0), log_of(STAGGERED), COURSES, "2025-06")
    )
    assert real.loc[0, "low"] < 6.0 < real.loc[0, "high"] and real.loc[0, "low"] > 0


def test_training_without_a_full_window_or_controls_is_not_measured():
    late = {"T1": "2025-05"}  # only one month after it by 2025-06
    assert len(comparisons(ramp_panel(late, 1.0), log_of(late), COURSES, "2025-06")) == 0
    assert training_effects(comparisons(ramp_panel(late, 1.0), None, COURSES, "2025-06")).empty
    assert course_effectiveness(
        comparisons(ramp_panel(late, 1.0), log_of(late), COURSES, "2025-06")
    ).empty


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
    return score_stage(demo_bureau, demo_month(), bureau_station_weights(demo_bureau, demo_month()))


def planted_points() -> float:
    """The planted value effect in score points: S02 scores value / target × 100 below target."""
    target = next(row[8] for row in INDICATORS if row[0] == "S02")
    return PLANTED_EFFECT / target * 100


def test_the_demo_planted_effect_lies_within_its_interval(demo_bureau, demo_scored):
    found = course_effectiveness(demo_scored.comparisons).set_index(["course_id", "indicator_id"])
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
    ind = score_stage(
        plain, demo_month(), bureau_station_weights(plain, demo_month())
    ).all_indicator_scores
    found = course_effectiveness(comparisons(ind, log, demo_bureau.courses, demo_month()))
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


# --- the shared comparisons against a plain loop over trainings --------------------------------


def loop_comparisons(ind, log, courses, month, window=3):
    """The comparisons of `comparisons`, one training at a time (the specification as code):
    `(station, course, month, indicator, change, controls, control changes)` tuples."""
    scores = ind[~ind["missing"]].pivot_table(
        index=["station_id", "indicator_id"], columns="month", values="score", aggfunc="first"
    )
    types = ind.groupby("station_id")["station_type"].first()
    first_month, last_month = pd.Period(min(scores.columns), "M"), pd.Period(month, "M")
    addresses = course_addresses(courses)
    taken = log[["station_id", "course_id", "month"]].merge(addresses)
    taken["period"] = [pd.Period(m, "M") for m in taken["month"]]
    first_on = taken.groupby(["station_id", "indicator_id"])["period"].min()
    answers = addresses.groupby("course_id")["indicator_id"].agg(list)
    firsts = log.groupby(["station_id", "course_id"], as_index=False)["month"].min()
    out = []
    for station, course, t_month in firsts.sort_values(["month", "station_id", "course_id"]).values:
        t = pd.Period(t_month, "M")
        if t - window < first_month or t + window > last_month:
            continue
        after = [str(t + k) for k in range(1, window + 1)]
        before = [str(t - k) for k in range(1, window + 1)]
        wide = scores.reindex(columns=after + before)
        change = wide[after].mean(axis=1) - wide[before].mean(axis=1)
        own = taken[(taken["station_id"] == station) & (taken["course_id"] != course)]
        for indicator in answers.get(course, []):
            other = own.loc[own["indicator_id"] == indicator, "period"]
            delta = change.get((station, indicator), np.nan)
            if ((other >= t - window) & (other <= t + window)).any() or not np.isfinite(delta):
                continue
            trained = {s for (s, k), p in first_on.items() if k == indicator and p <= t + window}
            peers = [
                s
                for s in types.index
                if types[s] == types[station]
                and s not in trained
                and np.isfinite(change.get((s, indicator), np.nan))
            ]
            if peers:
                peer_changes = np.array([change[(s, indicator)] for s in peers])
                out.append((station, course, t_month, indicator, delta, tuple(peers), peer_changes))
    return out


def random_bureau(seed: int):
    """Scores of 3 indicators at 12 stations of 2 types over 14 months, some reports missing,
    and a random training log of 3 overlapping courses (repeats and clashes included)."""
    rng = np.random.default_rng(seed)
    months = [str(p) for p in pd.period_range("2024-01", periods=14, freq="M")]
    stations = [f"S{i:02d}" for i in range(12)]
    ind = pd.DataFrame(
        [
            (s, m, "ab"[i % 2], k, rng.normal(60, 10), 1.0, bool(rng.random() < 0.08))
            for i, s in enumerate(stations)
            for m in months
            for k in ("I1", "I2", "I3")
        ],
        columns=INDICATOR_SCORE_COLUMNS,
    )
    courses = pd.DataFrame({"course_id": ["K1", "K2", "K3"], "addresses": ["I1;I2", "I2", "I3"]})
    n = int(rng.integers(0, 14))
    log = pd.DataFrame(
        {
            "station_id": rng.choice(stations, n),
            "course_id": rng.choice(courses["course_id"], n),
            "month": rng.choice(months, n),
        }
    )
    return ind, log, courses, months[-1]


@given(st.integers(0, 2**31 - 1))
@settings(max_examples=40, deadline=None)
def test_the_shared_comparisons_match_a_loop_over_trainings(seed):
    ind, log, courses, month = random_bureau(seed)
    expected = loop_comparisons(ind, log, courses, month)
    compared = comparisons(ind, log, courses, month)
    rows = compared.trained.itertuples(index=False)
    found = [(r.station_id, r.course_id, r.month, r.indicator_id, r.change) for r in rows]
    assert found == [e[:5] for e in expected]
    for i, e in enumerate(expected):
        assert compared.controls_of(i) == e[5]
    effects = training_effects(compared)
    measured = [e for e in expected if len(e[6]) >= 2]
    assert effects["effect"].tolist() == [e[4] - e[6].mean() for e in measured]
    half = [
        stats.t.ppf(0.975, len(e[6]) - 1) * e[6].std(ddof=1) * np.sqrt(1 + 1 / len(e[6]))
        for e in measured
    ]
    assert (effects["high"] - effects["effect"]).to_numpy() == pytest.approx(half, rel=1e-12)
    course = course_effectiveness(compared)
    for row in course.itertuples(index=False):
        group = [e for e in expected if (e[1], e[3]) == (row.course_id, row.indicator_id)]
        assert row.effect == np.mean([e[4] - e[6].mean() for e in group])
        assert row.n_treated == len(group)
        assert row.n_controls == len({s for e in group for s in e[5]})
        weights: dict[str, float] = {}
        for e in group:
            weights[e[0]] = weights.get(e[0], 0.0) + 1 / len(group)
            for s in e[5]:
                weights[s] = weights.get(s, 0.0) + 1 / len(group) / len(e[5])
        dof = sum(len(e[6]) - 1 for e in group)
        variance = sum(((e[6] - e[6].mean()) ** 2).sum() for e in group)
        se = np.sqrt(variance / dof * sum(w * w for w in weights.values()))
        half = stats.t.ppf(0.975, max(row.n_controls - 1, 1)) * se
        assert row.high - row.effect == pytest.approx(half, rel=1e-12)
