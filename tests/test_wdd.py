"""The weighted displacement difference and its z-score (models/evaluation.py) worked by hand
on a two-station example."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from models.evaluation import evaluate_plan


def _cases(counts: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """Patrol-sensitive cases per cell: (in 2025-05, the month before; in 2025-06, the planned
    month), plus cases that never count (not patrol-sensitive, another month)."""
    rows = [
        (cell, month, True)
        for cell, (before, after) in counts.items()
        for month, n in (("2025-05", before), ("2025-06", after))
        for _ in range(n)
    ]
    rows += [("a1", "2025-06", False)] * 7  # not patrol-sensitive: never counted
    rows += [("a1", "2025-04", True)] * 7  # outside both months
    return pd.DataFrame(rows, columns=["cell_id", "month", "patrol_sensitive"])


def test_the_treated_cells_are_expected_to_fall_back_as_the_controls_did():
    """Station A: ten control cells (at risk, no hours added) each fell by exactly one case
    from the month before, whatever their forecast; so a treated cell is expected to fall by
    one too. a1 (+8 h) went 5 → 2: one case more than expected fell, wdd = 2 − 4 = −2 (the plain
    WDD would credit patrol with the whole fall back). Station B has two controls: too few to
    learn from, no comparison. Over all stations the twelve controls fell by one alike."""
    plan = [("a1", "day", 6.0, 1.0, 0.4), ("a1", "night", 4.0, 1.0, 0.3)]
    plan += [(f"a{i}", "day", 0.0, 0.0, 0.1 * i) for i in range(2, 12)]
    plan += [("a12", "day", 0.0, 0.0, 0.0)]  # no risk: not comparable
    plan += [("b1", "day", 1.0, 0.0, 0.9), ("b2", "night", 0.0, 0.0, 0.1)]
    plan += [("b3", "night", 0.0, 0.0, 0.3)]
    plan = pd.DataFrame(plan, columns=["cell_id", "shift", "hours", "prev_hours", "risk"])
    cells = pd.DataFrame({"cell_id": plan["cell_id"].unique()})
    cells["station_id"] = cells["cell_id"].str[0].str.upper()
    counts = {"a1": (5, 2), "a12": (10, 0), "b1": (1, 1), "b2": (2, 1), "b3": (4, 3)}
    counts |= {f"a{i}": (i, i - 1) for i in range(2, 12)}

    found = evaluate_plan(plan, cells, _cases(counts), "2025-06", min_visit_minutes=5.0)
    found = found.set_index("station_id")

    a = found.loc["A"]
    assert (a.treated_cells, a.control_cells) == (1, 10)
    assert (a.before_treated, a.after_treated) == (5, 2)
    assert (a.before_control, a.after_control) == (65, 55)
    assert a.expected_treated == pytest.approx(4.0)
    assert a.wdd == pytest.approx(-2.0)
    assert a.z == pytest.approx(-2 / math.sqrt(2), abs=1e-4)  # the fit is exact: only T_a
    b = found.loc["B"]
    assert (b.treated_cells, b.control_cells) == (1, 2)
    assert math.isnan(b.wdd) and math.isnan(b.z)
    every = found.loc["ALL"]
    assert (every.treated_cells, every.control_cells) == (2, 12)
    # a1 expected 4, b1 expected 0: wdd = (2 + 1) − 4 = −1
    assert every.expected_treated == pytest.approx(4.0)
    assert every.wdd == pytest.approx(-1.0)


def test_without_control_cells_there_is_no_comparison():
    plan = pd.DataFrame({"cell_id": ["a1"], "shift": "day", "hours": 2.0})
    cells = pd.DataFrame({"cell_id": ["a1"], "station_id": ["A"]})
    cases = pd.DataFrame({"cell_id": [], "month": [], "patrol_sensitive": []})
    found = evaluate_plan(plan, cells, cases, "2025-06", min_visit_minutes=5.0).set_index(
        "station_id"
    )
    assert found.loc["A", "control_cells"] == 0
    assert found.loc["A", ["wdd", "z", "expected_treated"]].isna().all()
