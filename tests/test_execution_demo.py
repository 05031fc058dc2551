"""The demo shows the whole loop: plan, patrols following it, measured against it."""

from __future__ import annotations

import sqlite3

import pandas as pd


def test_demo_measures_its_plan(demo_run):
    adherence = pd.read_csv(demo_run / "adherence.csv", keep_default_na=False)
    overall = adherence[(adherence["station_id"] == "ALL") & (adherence["shift"] == "ALL")].iloc[0]
    planned = pd.read_csv(demo_run.parents[1] / "demo-data" / "plan-2025-12.csv")
    assert overall["planned_hours"] == round(planned["hours"].sum(), 6)
    # hours delivered where planned, whenever: above the share of stops made on time
    # (tests/test_missions_done.py), as units spend their missions' free time near a stop
    assert 0.55 < overall["adherence"] < 1.0
    assert 0 < overall["off_plan_share"] < 0.25
    execution = pd.read_csv(demo_run / "execution.csv", keep_default_na=False)
    assert execution["visits"].sum() > 0
    assert abs(execution["delivered_hours"].sum() - overall["delivered_hours"]) < 1e-3
    response = pd.read_csv(demo_run / "response.csv", keep_default_na=False)
    every = response[(response["station_id"] == "ALL") & (response["shift"] == "ALL")]
    assert every[every["priority"] == "ALL"]["unanswered"].iloc[0] > 0
    reserve = pd.read_csv(demo_run / "reserve.csv")
    assert (reserve["units"] >= 1).all() and (reserve["reserve_hours"] > 0).all()
    quality = pd.read_csv(demo_run / "quality.csv", keep_default_na=False)
    assert {"duplicate_ping", "track_gap", "track_jump"} <= set(quality["check"])
    # P03 (patrol visibility) is checked against the coverage the tracks show
    coverage = quality[(quality["check"] == "case_metric") & (quality["indicator_id"] == "P03")]
    assert len(coverage) and coverage["message"].str.contains("execution data gives").all()


def test_demo_stores_the_execution_tables(demo_run):
    with sqlite3.connect(demo_run.parent.parent / "plans.db") as conn:
        stored = pd.read_sql("SELECT * FROM adherence WHERE plan_month = '2026-01'", conn)
    written = pd.read_csv(demo_run / "adherence.csv", dtype=str, keep_default_na=False)
    assert len(stored) == len(written)
