"""Each data-quality check firing on a planted problem and staying quiet without it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models import quality as q


def _scores(values, month="2025-06", reported="2025-06-20"):
    return pd.DataFrame(
        {
            "station_id": "A",
            "month": month,
            "indicator_id": list(values),
            "value": list(values.values()),
            "reported_at": pd.to_datetime(reported),
        }
    )


def test_missing_and_late_reports():
    weights = pd.DataFrame({"station_id": "A", "indicator_id": ["x", "y"], "weight": [1.0, 1.0]})
    on_time = q.report_checks(_scores({"x": 1.0, "y": 2.0}), weights, "2025-06", 27)
    assert on_time.empty
    late = q.report_checks(_scores({"x": 1.0}, reported="2025-06-28"), weights, "2025-06", 27)
    assert sorted(late["check"]) == ["late_report", "missing_report"]
    assert set(late["indicator_id"]) == {"x", "y"}


def _history(values: list[float]) -> tuple[pd.DataFrame, list[str]]:
    """One station's indicator `x` over consecutive months from 2024-01, and those months."""
    months = [str(p) for p in pd.period_range("2024-01", periods=len(values), freq="M")]
    frame = pd.DataFrame({"station_id": "A", "month": months, "indicator_id": "x", "value": values})
    return frame, months


def test_jump_fires_only_on_an_outlying_change():
    frame, months = _history([50, 51, 50, 52, 51, 50, 51, 52, 50, 51, 50, 51, 52])
    assert q.jump_checks(frame, months[-1]).empty
    frame.loc[12, "value"] = 90
    flagged = q.jump_checks(frame, months[-1])
    assert flagged["check"].tolist() == ["jump"]


def test_jump_fires_where_most_past_changes_are_alike():
    """Mostly flat history (MAD of the changes is 0): the mean-deviation fallback still
    flags a large change, not a usual one; a station with one month of history is quiet."""
    frame, months = _history([50, 50, 50, 51, 51, 51, 51, 50, 50, 50, 50, 50, 51])
    assert q.jump_checks(frame, months[-1]).empty
    frame.loc[12, "value"] = 70
    assert q.jump_checks(frame, months[-1])["check"].tolist() == ["jump"]
    assert q.jump_checks(frame.iloc[:2], months[1]).empty


def test_duplicates_within_5_minutes_and_20_metres():
    t = pd.Timestamp("2025-06-01 10:00")
    cases = pd.DataFrame(
        {
            "case_id": ["a", "b", "c", "d"],
            "offence": ["theft", "theft", "theft", "robbery"],
            "occurred_at": [t, t + pd.Timedelta(minutes=4), t + pd.Timedelta(minutes=30), t],
            "jurisdiction_id": "A",
        }
    )
    x = np.array([0.0, 10.0, 0.0, 0.0])
    y = np.array([0.0, 10.0, 0.0, 0.0])
    found = q.duplicate_case_checks(cases, x, y)
    assert found["case_id"].tolist() == ["b"]
    far = q.duplicate_case_checks(cases, np.array([0.0, 30.0, 0.0, 0.0]), y)
    assert far.empty


def test_station_mismatch_and_case_metric():
    cases = pd.DataFrame(
        {
            "case_id": ["a", "b", "c"],
            "station_id": ["A", "A", "B"],
            "jurisdiction_id": ["A", "B", "B"],
            "month": "2025-06",
            "category": "theft",
        }
    )
    assert q.station_mismatch_checks(cases)["case_id"].tolist() == ["b"]
    indicators = pd.DataFrame({"indicator_id": ["n"], "case_metric": ["count:theft"]})
    scores = pd.DataFrame(
        {"station_id": ["A", "B"], "month": "2025-06", "indicator_id": "n", "value": [1.0, 3.0]}
    )
    flagged = q.case_metric_checks(scores, indicators, cases, "2025-06")
    # A holds 1 theft (reported 1: fine); B holds 2 (reported 3: 50 % off)
    assert flagged["station_id"].tolist() == ["B"]
