"""Scoring rules on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from models.config import ScoringConfig
from models.scoring import indicator_scores, normalise, redundant_pairs, score_months

INDICATORS = pd.DataFrame(
    {
        "indicator_id": ["up", "down", "pct", "red"],
        "quadrant": ["prevention", "service", "major_case", "compliance"],
        "direction": ["higher", "lower", "higher", "lower"],
        "target": [50.0, 10.0, None, None],
        "method": ["target", "target", "peer_percentile", "peer_minmax"],
        "redline": [False, False, False, True],
    }
)


def _frame(indicator, values, kind="regional"):
    return pd.DataFrame(
        {"month": "2025-01", "station_type": kind, "indicator_id": indicator, "value": values}
    )


def test_target_scores_both_directions_and_zero():
    up = normalise(_frame("up", [25.0, 80.0]), INDICATORS).tolist()
    down = normalise(_frame("down", [20.0, 0.0, 5.0]), INDICATORS).tolist()
    assert up == [50.0, 100.0]
    assert down == [50.0, 100.0, 100.0]


def test_percentile_gives_ties_their_average_rank():
    scores = normalise(_frame("pct", [1.0, 2.0, 2.0, 4.0]), INDICATORS).tolist()
    # ranks from the worst: 1, 2.5, 2.5, 4 → 100·(r−1)/3
    assert scores == pytest.approx([0.0, 50.0, 50.0, 100.0])


def test_minmax_all_equal_peers_score_100():
    assert normalise(_frame("red", [3.0, 3.0]), INDICATORS).tolist() == [100.0, 100.0]


def _score(values: dict[tuple[str, str], float], missing="zero"):
    stations = pd.DataFrame({"station_id": ["A", "B", "C"], "station_type": "regional"})
    weights = pd.DataFrame(
        [(s, i, w) for s in "ABC" for i, w in (("up", 3.0), ("red", 1.0))],
        columns=["station_id", "indicator_id", "weight"],
    )
    rows = [(s, m, i, v) for (s, m, i), v in values.items()]
    scores = pd.DataFrame(rows, columns=["station_id", "month", "indicator_id", "value"])
    months = sorted(scores["month"].unique())
    ind = indicator_scores(scores, INDICATORS, weights, stations, months, missing)
    return score_months(ind, INDICATORS, ScoringConfig(missing=missing))


def test_totals_veto_ties_and_missing():
    values = {
        ("A", "2025-01", "up"): 50,
        ("A", "2025-01", "red"): 0,
        ("B", "2025-01", "up"): 50,
        ("B", "2025-01", "red"): 0,
        ("C", "2025-01", "red"): 1,
    }
    out = _score(values).set_index("station_id")
    # A, B: up 100 (w3), red 100 (w1: both 0 best) → 100; C: up missing → 0, red worst → 0
    assert out.loc["A", "total"] == 100.0 and out.loc["B", "total"] == 100.0
    assert out.loc["A", "rank"] == 1 and out.loc["B", "rank"] == 1 and out.loc["C", "rank"] == 3
    assert bool(out.loc["C", "veto"]) and out.loc["C", "grade"] == "unqualified"
    excluded = _score(values, missing="exclude").set_index("station_id")
    assert excluded.loc["C", "total"] == 0.0  # only red counts, and C is worst on it


def test_last_place_streak_resets():
    values = {}
    lows = {"2025-01": "C", "2025-02": "C", "2025-03": "B", "2025-04": "C"}
    for month, low in lows.items():
        for s in "ABC":
            values[(s, month, "up")] = 10 if s == low else 50
            values[(s, month, "red")] = 0
    out = _score(values)
    streak = out[out["station_id"] == "C"].set_index("month")["last_place_streak"]
    assert streak.tolist() == [1, 2, 0, 1]


def test_quota_grades_drop_lowest_first():
    from models.scoring import apply_quota

    frame = pd.DataFrame(
        {
            "month": "2025-01",
            "station_type": "x",
            "station_id": list("ABCDE"),
            "total_with_bonus": [99.0, 95.0, 93.0, 91.0, 70.0],
            "grade": ["excellent"] * 4 + ["qualified"],
        }
    )
    # n = 5: at most 2 excellent, 3 good
    assert apply_quota(frame).tolist() == ["excellent", "excellent", "good", "good", "qualified"]


def test_awards_follow_grade_weights():
    from models.scoring import awards

    month = pd.DataFrame(
        {
            "station_id": ["A", "B", "C"],
            "grade": ["excellent", "good", "unqualified"],
            "total_with_bonus": [95.0, 85.0, 40.0],
        }
    )
    out = awards(month, ScoringConfig(award_places=5)).set_index("station_id")["places"]
    # weights 3 : 2 : 0 → exactly 3 and 2
    assert out.to_dict() == {"A": 3, "B": 2, "C": 0}


def test_rollups_mean_of_months_and_last_two_years():
    from models.scoring import rollups

    rows = []
    for year in (2023, 2024):
        for month in range(1, 13):
            for station, total in (("A", 90.0), ("B", 70.0 + month % 3)):
                rows.append((station, f"{year}-{month:02d}", "x", total))
    frame = pd.DataFrame(rows, columns=["station_id", "month", "station_type", "total_with_bonus"])
    out = rollups(frame, ScoringConfig()).set_index(["station_id", "period"])
    assert out.loc[("B", "2023-Q1"), "total"] == pytest.approx((71 + 72 + 70) / 3)
    assert out.loc[("A", "2024"), "rank"] == 1
    assert not out.loc[("B", "2023"), "last_two_years"]
    assert out.loc[("B", "2024"), "last_two_years"]


def test_flexible_weights_capped_and_pool_only():
    from models.policy import flex_weight_problems

    indicators = pd.DataFrame({"indicator_id": ["a", "b", "c"], "pool": [True, True, False]})
    weights = pd.DataFrame(
        {"indicator_id": ["a", "b", "c"], "station_type": "x", "weight": [50.0, 30.0, 20.0]}
    )
    stations = pd.DataFrame({"station_id": ["S1"], "station_type": ["x"]})
    ok = pd.DataFrame(
        {"station_id": ["S1", "S1"], "indicator_id": ["a", "b"], "weight": [40.0, 40.0]}
    )
    assert flex_weight_problems(ok, weights, indicators, stations, 0.2) == []
    too_much = ok.assign(weight=[20.0, 60.0])
    problems = flex_weight_problems(too_much, weights, indicators, stations, 0.2)
    assert [p.column for p in problems] == ["weight"] and "S1" in problems[0].message
    off_pool = pd.DataFrame({"station_id": ["S1"], "indicator_id": ["c"], "weight": [25.0]})
    problems = flex_weight_problems(off_pool, weights, indicators, stations, 0.2)
    assert "not in the indicator pool" in problems[0].message


def _long(wide: pd.DataFrame) -> pd.DataFrame:
    """Station-month × indicator values as `station_id, month, indicator_id, value` rows."""
    long = wide.rename_axis(index="row", columns="indicator_id").stack().rename("value")
    long = long.reset_index()
    return long.assign(station_id="S" + (long["row"] % 5).astype(str), month=long["row"] // 5)


def test_redundant_pairs_are_the_strongly_rank_correlated_ones():
    rng = np.random.default_rng(0)
    base = rng.normal(size=40)
    wide = pd.DataFrame(
        {
            "a": base,
            "b": np.exp(base) + rng.normal(0, 0.01, 40),  # same ranks nearly: ρ ≈ 1
            "c": -(base**3),  # exactly reversed ranks: ρ = −1
            "d": rng.normal(size=40),  # unrelated
        }
    )
    wide.loc[:29, "c"] = np.nan  # c shares only 10 station-months with the others
    pairs = redundant_pairs(_long(wide))
    assert pairs[["indicator_a", "indicator_b"]].values.tolist() == [["a", "b"]]
    assert pairs["rho"].iloc[0] >= 0.9 and pairs["n"].iloc[0] == 40
    pairs = redundant_pairs(_long(wide), min_n=10)
    assert pairs[["indicator_a", "indicator_b"]].values.tolist() == [
        ["a", "b"],
        ["a", "c"],
        ["b", "c"],
    ]
    assert pairs["rho"].iloc[1] == -1.0 and pairs["n"].iloc[1] == 10


@given(st.integers(0, 2**31 - 1))
@settings(max_examples=30, deadline=None)
def test_redundant_pairs_match_spearman_pair_by_pair(seed):
    rng = np.random.default_rng(seed)
    rows = int(rng.integers(5, 40))
    base = rng.integers(0, 6, rows).astype(float)
    wide = pd.DataFrame(
        {
            k: np.where(rng.random(rows) < 0.2, np.nan, base * sign + rng.integers(0, 2, rows))
            for k, sign in zip("pqrs", (1, 1, -1, 0), strict=True)
        }
    )
    expected = []
    for i, a in enumerate("pqrs"):
        for b in "pqrs"[i + 1 :]:
            both = wide[[a, b]].dropna()
            if len(both) < 12 or both[a].nunique() < 2 or both[b].nunique() < 2:
                continue
            rho = spearmanr(both[a], both[b]).statistic
            if abs(rho) >= 0.9:
                expected.append((a, b, rho, len(both)))
    found = redundant_pairs(_long(wide))
    assert [(r[0], r[1], r[3]) for r in found.values.tolist()] == [e[:2] + e[3:] for e in expected]
    assert found["rho"].tolist() == pytest.approx([round(e[2], 4) for e in expected], abs=1e-9)
