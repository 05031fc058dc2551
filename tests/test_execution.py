"""Delivered dose, visits, adherence and response against figures worked out by hand
(tests/execution_bureau.py explains each number)."""

from __future__ import annotations

import execution_bureau as eb
import pandas as pd
import pytest
from pyproj import CRS

from models.contracts import load_bureau
from models.execution import (
    adherence_table,
    execution_table,
    measured_metrics,
    month_calls,
    response_table,
    track_quality,
)
from models.tracks import measure_tracks

SHIFTS, RULES = eb.SHIFTS, eb.RULES
TARGETS = {1: 10.0, 2: 20.0, 3: 45.0}


@pytest.fixture(scope="module")
def bureau(tmp_path_factory):
    folder = eb.write_folder(tmp_path_factory.mktemp("exec") / "data")
    return load_bureau(folder, {"stations", "patrol_tracks", "calls"})


@pytest.fixture(scope="module")
def delivered(bureau):
    return measure_tracks(bureau.patrol_tracks, "2025-12", CRS(eb.CRS), "wgs84", RULES)


def test_dose_and_visits_follow_the_gap_speed_and_status_rules(delivered):
    got = {
        (r.station_id, r.cell_id, r.shift): (r.delivered_hours, r.visits)
        for r in delivered.dose.itertuples(index=False)
    }
    assert got.keys() == eb.EXPECTED_DOSE.keys()
    for key, (hours, visits) in eb.EXPECTED_DOSE.items():
        assert got[key][0] == pytest.approx(hours, abs=1e-9), key
        assert got[key][1] == visits, key


def test_summary_counts_what_counted_nowhere(delivered):
    summary = delivered.summary.set_index("station_id")
    s1, s2 = summary.loc["S1"], summary.loc["S2"]
    assert (s1["duplicates"], s1["gaps"], s1["jumps"]) == (1, 1, 2)
    assert s1["gap_hours"] == pytest.approx(300 / 3600)
    assert s1["response_hours"] == pytest.approx(240 / 3600)
    assert s1["off_duty_units"] == "" and s2["off_duty_units"] == "U3"
    assert (s1["units"], s2["units"]) == (2, 2)


def test_execution_and_adherence_by_hand(delivered):
    execution = execution_table(eb.plan(), delivered.dose, list(SHIFTS))
    rows = execution.set_index(["station_id", "cell_id", "shift"])
    assert len(execution) == 6  # 5 plan rows + the outside cell of U4
    assert rows.loc[("S1", eb.CELL["D"], "day"), "delivered_hours"] == 0
    assert rows.loc[("S2", eb.CELL["west"], "day"), "planned_hours"] == 0
    adherence = adherence_table(execution, list(SHIFTS)).set_index(["station_id", "shift"])
    day = adherence.loc[("S1", "day")]
    assert day["planned_hours"] == pytest.approx(3.0)
    assert day["delivered_hours"] == pytest.approx(1560 / 3600, abs=1e-6)
    assert day["delivered_in_plan_hours"] == pytest.approx(1320 / 3600, abs=1e-6)
    assert day["adherence"] == pytest.approx(1320 / 3600 / 3.0, abs=1e-6)
    assert day["off_plan_share"] == pytest.approx(240 / 1560, abs=1e-6)
    night = adherence.loc[("S1", "night")]
    assert night["delivered_in_plan_hours"] == pytest.approx(0.1)  # capped at the plan
    assert night["adherence"] == pytest.approx(1.0)
    s1 = adherence.loc[("S1", "ALL")]
    assert s1["delivered_in_plan_hours"] == pytest.approx(1320 / 3600 + 0.1, abs=1e-6)
    assert s1["adherence"] == pytest.approx((1320 / 3600 + 0.1) / 3.1, abs=1e-6)
    assert s1["off_plan_share"] == pytest.approx(240 / 1950, abs=1e-6)
    s2 = adherence.loc[("S2", "day")]
    assert s2["adherence"] == 0 and s2["off_plan_share"] == 1.0
    overall = adherence.loc[("ALL", "ALL")]
    assert overall["planned_hours"] == pytest.approx(4.1)
    assert overall["delivered_hours"] == pytest.approx(2550 / 3600, abs=1e-6)
    assert ("ALL", "evening") not in adherence.index  # neither planned nor patrolled
    no_plan = adherence_table(execution_table(None, delivered.dose, list(SHIFTS)), list(SHIFTS))
    assert no_plan["adherence"].isna().all() and (no_plan["off_plan_share"] == 1).all()


def test_lender_rows_belong_to_the_lending_station(delivered):
    plan = pd.concat(
        [eb.plan(), pd.DataFrame([("S1", eb.CELL["A"], "day", 0.5, 0.0, 1.0, "S2")],
                                 columns=eb.plan().columns)]
    )  # fmt: skip
    execution = execution_table(plan, delivered.dose, list(SHIFTS))
    rows = execution.set_index(["station_id", "cell_id", "shift"])
    assert rows.loc[("S2", eb.CELL["A"], "day"), "planned_hours"] == 0.5
    assert rows.loc[("S1", eb.CELL["A"], "day"), "planned_hours"] == 1.0


def test_response_by_hand(bureau):
    calls = month_calls(bureau.calls, "2025-12", bureau.stations, SHIFTS)
    assert calls.set_index("call_id").loc["c5", "station_id"] == "S2"  # from its point
    table = response_table(calls, TARGETS, list(SHIFTS)).set_index(
        ["station_id", "shift", "priority"]
    )
    p1 = table.loc[("S1", "day", "1")]
    assert (p1["calls"], p1["unanswered"]) == (2, 1)
    assert p1["median_min"] == pytest.approx(10.0)
    assert p1["p90_min"] == pytest.approx(11.6)
    assert p1["within_target_share"] == pytest.approx(0.5)
    every = table.loc[("S1", "day", "ALL")]
    assert every["calls"] == 3 and every["median_min"] == pytest.approx(12.0)
    assert every["p90_min"] == pytest.approx(14.4)
    assert every["within_target_share"] == pytest.approx(2 / 3, abs=1e-6)
    s2 = table.loc[("S2", "evening", "3")]
    assert s2["calls"] == 1 and s2["within_target_share"] == 0
    overall = table.loc[("ALL", "ALL", "ALL")]
    assert (overall["calls"], overall["unanswered"]) == (4, 1)
    assert overall["median_min"] == pytest.approx(13.5)


def test_a_month_without_calls_gives_one_empty_row(bureau):
    calls = month_calls(bureau.calls, "2025-11", bureau.stations, SHIFTS)
    table = response_table(calls, TARGETS, list(SHIFTS))
    assert len(table) == 1 and table.loc[0, "calls"] == 0 and table.loc[0, "unanswered"] == 0


def test_measured_case_metrics(bureau, delivered):
    execution = execution_table(eb.plan(), delivered.dose, list(SHIFTS))
    calls = month_calls(bureau.calls, "2025-12", bureau.stations, SHIFTS)
    metrics = measured_metrics(execution, response_table(calls, TARGETS, list(SHIFTS)), "2025-12")
    # S1 planned A day (0.37 of 1 h: not covered), A night (covered), D day (not): 1 of 3
    assert metrics["patrol_coverage"][("S1", "2025-12")] == pytest.approx(100 / 3)
    assert metrics["patrol_coverage"][("S2", "2025-12")] == 0
    assert metrics["response_within_target"][("S1", "2025-12")] == pytest.approx(200 / 3)


def test_quality_flags(delivered):
    flags = track_quality(
        delivered.summary, delivered.dose, {eb.CELL["A"], eb.CELL["B"]}, "2025-12"
    )
    checks = set(zip(flags["station_id"], flags["check"], strict=True))
    assert checks == {
        ("S1", "duplicate_ping"),
        ("S1", "track_gap"),
        ("S1", "track_jump"),
        ("S2", "unit_off_duty"),
        ("S2", "track_outside_grid"),
    }
    assert "U3" in flags.loc[flags["check"] == "unit_off_duty", "message"].iloc[0]


def test_parquet_reads_the_same(bureau, tmp_path):
    folder = eb.write_folder(tmp_path / "data")
    frame = eb.pings()
    frame["recorded_at"] = pd.to_datetime(frame["recorded_at"])
    frame["officers"] = pd.to_numeric(frame["officers"])
    frame.to_parquet(folder / "patrol_tracks.parquet")
    (folder / "patrol_tracks.csv").unlink()
    again = load_bureau(folder, {"stations", "patrol_tracks"})
    got = measure_tracks(again.patrol_tracks, "2025-12", CRS(eb.CRS), "wgs84", RULES)
    first = measure_tracks(bureau.patrol_tracks, "2025-12", CRS(eb.CRS), "wgs84", RULES)
    pd.testing.assert_frame_equal(got.dose, first.dose)


def test_reported_coverage_far_from_the_tracks_is_flagged(bureau, delivered):
    from models.quality import case_metric_checks

    execution = execution_table(eb.plan(), delivered.dose, list(SHIFTS))
    measured = measured_metrics(execution, None, "2025-12")
    indicators = pd.DataFrame({"indicator_id": ["P9"], "case_metric": ["patrol_coverage"]})
    scores = pd.DataFrame(
        {"station_id": ["S1", "S2"], "month": "2025-12", "indicator_id": "P9", "value": [95, 0.0]}
    )
    cases = pd.DataFrame(columns=["jurisdiction_id", "month", "category"])
    flagged = case_metric_checks(scores, indicators, cases, "2025-12", measured)
    assert flagged["station_id"].tolist() == ["S1"]
    assert "reported 95, execution data gives 33.33" in flagged["message"].iloc[0]
    assert case_metric_checks(scores, indicators, cases, "2025-12").empty  # no tracks: no check


def test_measuring_unit_by_unit_in_chunks_changes_nothing(bureau, delivered, monkeypatch):
    import models.tracks as tracks

    monkeypatch.setattr(tracks, "CHUNK_PINGS", 7)  # several chunks, none splitting a unit
    chunked = measure_tracks(bureau.patrol_tracks, "2025-12", CRS(eb.CRS), "wgs84", RULES)
    pd.testing.assert_frame_equal(chunked.dose, delivered.dose)
    pd.testing.assert_frame_equal(chunked.summary, delivered.summary)
