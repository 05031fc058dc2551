"""Invariants under random inputs (hypothesis): scoring bounds, monotonicity, weight scaling;
allocation budgets and caps."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from models.config import AllocationConfig, ScoringConfig
from models.scoring import indicator_scores, score_months
from optimizer.allocation import PatrolAllocation

INDICATORS = pd.DataFrame(
    {
        "indicator_id": ["t", "m", "p"],
        "quadrant": ["prevention", "service", "major_case"],
        "direction": ["higher", "lower", "higher"],
        "target": [50.0, None, None],
        "method": ["target", "peer_minmax", "peer_percentile"],
        "redline": [False, False, False],
    }
)
values_st = st.lists(st.floats(0, 200, allow_nan=False), min_size=12, max_size=12)
weights_st = st.lists(st.floats(0.1, 10), min_size=3, max_size=3)


def _totals(values, weights, scale=1.0):
    stations = pd.DataFrame({"station_id": list("ABCD"), "station_type": "x"})
    w = pd.DataFrame(
        [
            (s, i, wt * scale)
            for s in "ABCD"
            for i, wt in zip(["t", "m", "p"], weights, strict=True)
        ],
        columns=["station_id", "indicator_id", "weight"],
    )
    rows = [
        (s, "2025-01", i, values[k * 3 + j])
        for k, s in enumerate("ABCD")
        for j, i in enumerate(["t", "m", "p"])
    ]
    scores = pd.DataFrame(rows, columns=["station_id", "month", "indicator_id", "value"])
    ind = indicator_scores(scores, INDICATORS, w, stations, ["2025-01"])
    return score_months(ind, INDICATORS, ScoringConfig()).set_index("station_id")["total"]


@settings(max_examples=40, deadline=None)
@given(values_st, weights_st)
def test_totals_stay_between_0_and_100(values, weights):
    totals = _totals(values, weights)
    assert ((totals >= 0) & (totals <= 100 + 1e-9)).all()


@settings(max_examples=40, deadline=None)
@given(values_st, weights_st, st.floats(0.01, 100))
def test_scaling_all_weights_changes_nothing(values, weights, scale):
    a, b = _totals(values, weights), _totals(values, weights, scale)
    assert np.allclose(a.sort_index(), b.sort_index())


@settings(max_examples=40, deadline=None)
@given(values_st, weights_st, st.integers(0, 3), st.sampled_from([0, 2]), st.floats(0, 100))
def test_raising_a_higher_is_better_value_never_lowers_the_total(
    values, weights, station, col, rise
):
    before = _totals(values, weights)
    raised = list(values)
    raised[station * 3 + col] += rise
    after = _totals(raised, weights)
    name = "ABCD"[station]
    assert after[name] >= before[name] - 1e-9


@st.composite
def instances(draw):
    n_stations = draw(st.integers(1, 3))
    n_cells = draw(st.integers(1, 5))
    ids = [f"S{i}" for i in range(n_stations)]
    cells = pd.DataFrame(
        {
            "cell_id": [f"{s}_{c}" for s in ids for c in range(n_cells)],
            "station_id": [s for s in ids for _ in range(n_cells)],
        }
    )
    officers = draw(st.lists(st.integers(0, 20), min_size=n_stations, max_size=n_stations))
    stations = pd.DataFrame({"station_id": ids, "officers": officers})
    risk_values = draw(st.lists(st.floats(0, 50), min_size=len(cells) * 3, max_size=len(cells) * 3))
    risk = pd.DataFrame(
        {
            "cell_id": np.repeat(cells["cell_id"], 3),
            "shift": ["day", "evening", "night"] * len(cells),
            "risk": risk_values,
        }
    )
    pairs = [(a, b) for a in ids for b in ids if a != b]
    neighbours = pd.DataFrame(pairs, columns=["station_id", "neighbour_id"])
    return cells, stations, risk, neighbours


@settings(max_examples=25, deadline=None)
@given(instances())
def test_allocation_never_exceeds_budgets_or_caps(instance):
    cells, stations, risk, neighbours = instance
    config = AllocationConfig(max_hours_cell=30)
    result = PatrolAllocation.from_frames(risk, cells, stations, neighbours, config).solve()
    alloc = result.allocation_
    assert alloc["hours"].min() >= -1e-9
    assert alloc.groupby(["cell_id", "shift"])["hours"].sum().max() <= 30 + 1e-6
    payer = alloc["lender_station_id"].where(alloc["lender_station_id"] != "", alloc["station_id"])
    spent = alloc.groupby([payer, alloc["shift"]])["hours"].sum()
    budget = result.duals_.set_index(["station_id", "shift"])["budget_hours"]
    for key, hours in spent.items():
        assert hours <= budget[key] + 1e-5
