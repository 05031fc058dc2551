"""The weighted displacement difference and its z-score (models/evaluation.py) worked by hand
on a two-station example."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from models.evaluation import evaluate_plan


def test_wdd_and_z_match_the_hand_computation():
    # A: a1 treated (10 h planned, 2 h before: +8 h); a2 a control (no hours, at risk);
    # a3 not comparable (no risk); a4 neither (+0.3 h, under the 0.5 h threshold).
    # B: b1 treated (+1 h), b2 a control.
    plan = pd.DataFrame(
        [
            ("a1", "day", 6.0, 1.0, 0.4),
            ("a1", "night", 4.0, 1.0, 0.3),
            ("a2", "day", 0.0, 0.0, 0.5),
            ("a3", "day", 0.0, 0.0, 0.0),
            ("a4", "day", 0.3, 0.0, 0.2),
            ("b1", "day", 1.0, 0.0, 0.9),
            ("b2", "night", 0.0, 0.0, 0.1),
        ],
        columns=["cell_id", "shift", "hours", "prev_hours", "risk"],
    )
    cells = pd.DataFrame(
        {"cell_id": ["a1", "a2", "a3", "a4", "b1", "b2"], "station_id": list("AAAABB")}
    )
    counts = {  # cell: (cases in 2025-05, the month before; in 2025-06, the planned month)
        "a1": (5, 2), "a2": (3, 4), "a3": (10, 0), "a4": (1, 1), "b1": (0, 1), "b2": (2, 2),
    }  # fmt: skip
    rows = [
        (cell, month, True)
        for cell, (before, after) in counts.items()
        for month, n in (("2025-05", before), ("2025-06", after))
        for _ in range(n)
    ]
    rows += [("a1", "2025-06", False)] * 7  # not patrol-sensitive: never counted
    rows += [("a1", "2025-04", True)] * 7  # outside both months
    cases = pd.DataFrame(rows, columns=["cell_id", "month", "patrol_sensitive"])

    found = evaluate_plan(plan, cells, cases, "2025-06", min_visit_minutes=5.0).set_index(
        "station_id"
    )

    # A: WDD = (T_a − T_b) − (C_a − C_b) = (2 − 5) − (4 − 3) = −4, z = −4 / √(2+5+4+3)
    a = found.loc["A"]
    assert (a.treated_cells, a.control_cells) == (1, 1)
    assert (a.before_treated, a.after_treated, a.before_control, a.after_control) == (5, 2, 3, 4)
    assert a.wdd == -4 and a.z == pytest.approx(-4 / math.sqrt(14), abs=1e-4)
    # B: (1 − 0) − (2 − 2) = 1, z = 1 / √5
    b = found.loc["B"]
    assert b.wdd == 1 and b.z == pytest.approx(1 / math.sqrt(5), abs=1e-4)
    # all stations: treated 5 → 3, controls 5 → 6: (3 − 5) − (6 − 5) = −3, z = −3 / √19
    every = found.loc["ALL"]
    assert (every.treated_cells, every.control_cells) == (2, 2)
    assert every.wdd == -3 and every.z == pytest.approx(-3 / math.sqrt(19), abs=1e-4)


def test_no_cases_gives_zero_z_not_a_division_by_zero():
    plan = pd.DataFrame({"cell_id": ["a1"], "shift": "day", "hours": 2.0})
    cells = pd.DataFrame({"cell_id": ["a1"], "station_id": ["A"]})
    cases = pd.DataFrame({"cell_id": [], "month": [], "patrol_sensitive": []})
    found = evaluate_plan(plan, cells, cases, "2025-06", min_visit_minutes=5.0).set_index(
        "station_id"
    )
    assert found.loc["A", "wdd"] == 0 and found.loc["A", "z"] == 0.0
