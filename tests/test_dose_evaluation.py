"""Last month's plan measured on the dose delivered (SPEC §13 closing the loop), by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.evaluation import dose_response, evaluate_plan

CELLS = pd.DataFrame({"cell_id": ["c1", "c2", "c3", "c4"], "station_id": "S1"})
PLAN = pd.DataFrame(
    {"cell_id": ["c1", "c2", "c3", "c4"], "shift": "day", "hours": 1.0, "risk": 1.0}
)


def _cases(counts: dict[str, int], month: str) -> list[dict]:
    return [
        {"cell_id": c, "month": month, "patrol_sensitive": True, "harm": 1.0}
        for c, n in counts.items()
        for _ in range(n)
    ]


CASES = pd.DataFrame(
    _cases({"c1": 3, "c2": 2, "c4": 1}, "2025-11")
    + _cases({"c1": 1, "c2": 2, "c3": 1, "c4": 2}, "2025-12")
    + [{"cell_id": "c1", "month": "2025-12", "patrol_sensitive": False, "harm": 9.0}]
)
DELIVERED = pd.DataFrame({"cell_id": ["c1", "c2", "c3"], "delivered_hours": [2.0, 1.0, 0.1]})
BEFORE = pd.DataFrame({"cell_id": ["c1", "c2", "c4"], "delivered_hours": [0.5, 1.0, 0.2]})


def test_treated_cells_come_from_the_delivered_dose():
    # added: c1 +1.5 h (≥ 5 min × 4: treated); c2 0, c3 +0.1 (below 20 min), c4 −0.2: controls
    out = evaluate_plan(PLAN, CELLS, CASES, "2025-12", DELIVERED, BEFORE, min_visit_minutes=5.0)
    row = out.set_index("station_id").loc["ALL"]
    assert (row["treated_cells"], row["control_cells"]) == (1, 3)
    assert (row["before_treated"], row["after_treated"]) == (3, 1)
    assert (row["before_control"], row["after_control"]) == (3, 5)
    # three controls are too few to learn how the cells fall back, four cells too few to hold
    # the plan's forecast, last month's harm and hours fixed: no verdict rather than a wrong one
    assert np.isnan(row["wdd"]) and np.isnan(row["dose_response"])


def test_without_tracks_the_planned_dose_counts_and_no_dose_response():
    out = evaluate_plan(PLAN, CELLS, CASES, "2025-12", min_visit_minutes=5.0)
    assert out["dose_response"].isna().all()
    assert out.set_index("station_id").loc["ALL", "treated_cells"] == 4


def test_dose_response_needs_spread():
    assert np.isnan(dose_response([1.0, 1.0, 1.0], [0.0, 1.0, 2.0])[0])
    slope, low, high = dose_response([0.0, 1.0, 2.0, 3.0], [0.0, -1.0, -2.0, -3.0])
    assert slope == pytest.approx(-100.0) and low == pytest.approx(-100.0)


def test_dose_response_holds_the_covariates_fixed():
    """Harm = 2 × last month's harm − 0.5 per delivered hour, and the hours went where last
    month was bad: the slope on hours alone is positive (more hours, more harm), held fixed
    it is −0.5 per hour, −50 per 100 h."""
    before = np.array([1.0, 4.0, 2.0, 8.0, 5.0, 3.0, 7.0, 6.0])
    hours = 2.0 * before + np.array([0.5, -1.0, 1.0, 0.0, -0.5, 1.5, -1.5, 0.5])
    harm = 2.0 * before - 0.5 * hours
    assert np.polyfit(hours, harm, 1)[0] > 0
    slope, low, high = dose_response(hours, harm, before[:, None])
    assert slope == pytest.approx(-50.0) and low == pytest.approx(-50.0, abs=1e-6)
