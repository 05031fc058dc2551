"""Each data-quality check firing on a planted problem and staying quiet without it."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

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


def crowded_cases(seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Up to 150 cases of 3 offences crowded into 2 hours and 100 m on a 1-minute / 5-metre
    lattice, so that pairs exactly 5 minutes or 20 metres apart occur; a few without a time."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 150))
    t = pd.Timestamp("2025-06-01 10:00") + pd.to_timedelta(rng.integers(0, 120, n), unit="min")
    cases = pd.DataFrame(
        {
            "case_id": [f"c{i}" for i in range(n)],
            "offence": rng.choice(["theft", "fraud", "assault"], n),
            "occurred_at": t.where(rng.random(n) > 0.03),
            "jurisdiction_id": "A",
        }
    )
    return cases, rng.integers(0, 20, n) * 5.0 - 7.5, rng.integers(0, 20, n) * 5.0 + 3.0


@given(st.integers(0, 2**31 - 1))
@settings(max_examples=40, deadline=None)
def test_duplicates_are_every_close_pair_of_the_same_offence(seed):
    cases, x, y = crowded_cases(seed)
    order = cases.assign(x=x, y=y).sort_values(["offence", "occurred_at"]).dropna()
    rows = list(order.itertuples())
    expected = [
        (later.case_id, first.case_id)
        for i, first in enumerate(rows)
        for later in rows[i + 1 :]
        if later.offence == first.offence
        and later.occurred_at - first.occurred_at <= pd.Timedelta(minutes=5)
        and (first.x - later.x) ** 2 + (first.y - later.y) ** 2 <= 20**2
    ]
    found = q.duplicate_case_checks(cases, x, y)
    twins = [m.split("of case ")[1].split(" ")[0] for m in found["message"]]
    assert list(zip(found["case_id"], twins, strict=True)) == expected


def _plain_jumps(frame: pd.DataFrame, month: str, threshold: float = 4.0) -> list[tuple]:
    """`jump_checks` one station and indicator at a time: (station, indicator, z)."""
    out = []
    for (station, indicator), part in frame.sort_values("month").groupby(
        ["station_id", "indicator_id"]
    ):
        changes = part["value"].diff()
        past = changes[(part["month"] < month).to_numpy()].dropna().to_numpy()
        now = changes[(part["month"] == month).to_numpy()].to_numpy()
        if len(past) == 0 or len(now) == 0:
            continue
        deviation = np.abs(past - np.median(past))
        mad = np.median(deviation)
        spread = mad / 0.6745 if mad > 0 else 1.2533 * deviation.mean()
        off = now[0] - np.median(past)
        if spread > 0 and abs(off / spread) > threshold and abs(off) > deviation.max():
            out.append((station, indicator, off / spread))
    return out


@given(st.integers(0, 2**31 - 1))
@settings(max_examples=40, deadline=None)
def test_jumps_match_the_rule_applied_one_history_at_a_time(seed):
    rng = np.random.default_rng(seed)
    months = [
        str(p) for p in pd.period_range("2024-01", periods=int(rng.integers(1, 14)), freq="M")
    ]
    frame = pd.DataFrame(
        [
            (
                s,
                m,
                k,
                float(rng.choice([50, 51, 52, 80])) if rng.random() < 0.5 else rng.normal(50, 5),
            )
            for s in ("A", "B", "C")
            for k in ("x", "y")
            for m in months
            if rng.random() > 0.1
        ],
        columns=["station_id", "month", "indicator_id", "value"],
    )
    flagged = q.jump_checks(frame, months[-1])
    z = [m.rsplit("= ", 1)[1].rstrip(")") for m in flagged["message"]]
    found = list(zip(flagged["station_id"], flagged["indicator_id"], z, strict=True))
    expected = [(s, k, f"{v:.1f}") for s, k, v in _plain_jumps(frame, months[-1])]
    assert sorted(found) == sorted(expected)
