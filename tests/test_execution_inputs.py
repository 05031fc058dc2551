"""Malformed GPS pings and dispatch records: every problem named at file:row:column."""

from __future__ import annotations

from datetime import datetime

import execution_bureau as eb
import pandas as pd
import pytest

from models.contracts import load_bureau
from models.errors import InputError

TABLES = {"stations", "patrol_tracks", "calls"}
NOW = datetime(2026, 1, 5)


def _problems(folder) -> list[str]:
    with pytest.raises(InputError) as caught:
        load_bureau(folder, TABLES, now=NOW)
    return [str(p) for p in caught.value.problems]


def _spoil(folder, tracks=None, calls=None):
    if tracks is not None:
        tracks.to_csv(folder / "patrol_tracks.csv", index=False)
    if calls is not None:
        calls.to_csv(folder / "calls.csv", index=False)
    return folder


def test_clean_folder_loads(tmp_path):
    bureau = load_bureau(eb.write_folder(tmp_path / "data"), TABLES, now=NOW)
    assert len(bureau.patrol_tracks) == len(eb.pings()) and len(bureau.calls) == 5


def test_every_bad_ping_and_call_is_listed(tmp_path):
    folder = eb.write_folder(tmp_path / "data")
    tracks, calls = eb.pings(), eb.calls()
    tracks.loc[3, "lat"] = 95.0
    tracks.loc[4, "lon"] = -200.0
    tracks.loc[5, "recorded_at"] = "2026-02-01T08:00:00"
    tracks.loc[6, "station_id"] = "S9"
    tracks.loc[7, "status"] = "lunch"
    calls.loc[1, "arrived_at"] = "2025-12-05T09:50:00"  # received 10:00
    calls.loc[2, "station_id"] = "S7"
    calls.loc[3, "received_at"] = "2027-01-01T00:00:00"
    problems = _problems(_spoil(folder, tracks, calls))
    assert problems == [
        "patrol_tracks.csv:5:lat: 95 is above the maximum 90",
        "patrol_tracks.csv:6:lon: -200 is below the minimum -180",
        "patrol_tracks.csv:9:status: 'lunch' is not one of patrol, responding, on_scene, off_duty",
        "patrol_tracks.csv:8:station_id: unknown station 'S9'",
        "calls.csv:4:station_id: unknown station 'S7'",
        "patrol_tracks.csv:7:recorded_at: date lies after the moment of the run",
        "calls.csv:5:received_at: date lies after the moment of the run",
        "calls.csv:3:arrived_at: arrived_at 2025-12-05 09:50:00 is before received_at "
        "2025-12-05 10:00:00",
    ]


def test_unparseable_values_are_located_by_the_text_reader(tmp_path):
    folder = eb.write_folder(tmp_path / "data")
    tracks, calls = eb.pings(), eb.calls()
    tracks["lat"] = tracks["lat"].astype(object)
    tracks.loc[2, "lat"] = "north"
    tracks.loc[8, "recorded_at"] = "yesterday"
    calls["priority"] = calls["priority"].astype(object)
    calls.loc[0, "priority"] = "urgent"
    problems = _problems(_spoil(folder, tracks, calls))
    assert "patrol_tracks.csv:4:lat: not a number: 'north'" in problems
    assert "patrol_tracks.csv:10:recorded_at: not an ISO 8601 date-time: 'yesterday'" in problems
    assert "calls.csv:2:priority: not a number: 'urgent'" in problems


def test_missing_columns_and_empty_cells(tmp_path):
    folder = eb.write_folder(tmp_path / "data")
    tracks = eb.pings().drop(columns="unit_id")
    calls = eb.calls()
    calls.loc[0, "lat"] = None
    problems = _problems(_spoil(folder, tracks, calls))
    assert "patrol_tracks.csv:1:unit_id: required column is missing" in problems
    assert "calls.csv:2:lat: empty value" in problems


def test_parquet_rows_count_from_one(tmp_path):
    folder = eb.write_folder(tmp_path / "data")
    tracks = eb.pings()
    tracks["recorded_at"] = pd.to_datetime(tracks["recorded_at"])
    tracks["officers"] = pd.to_numeric(tracks["officers"])
    tracks.loc[0, "lat"] = -91.0
    tracks.to_parquet(folder / "patrol_tracks.parquet")
    (folder / "patrol_tracks.csv").unlink()
    assert _problems(folder) == ["patrol_tracks.parquet:1:lat: -91 is below the minimum -90"]


def test_duplicate_call_ids(tmp_path):
    folder = eb.write_folder(tmp_path / "data")
    calls = eb.calls()
    calls.loc[4, "call_id"] = "c1"
    assert _problems(_spoil(folder, calls=calls)) == ["calls.csv:6:call_id: duplicate call_id 'c1'"]


def test_parquet_times_with_an_offset_are_converted_with_a_warning(tmp_path):
    folder = eb.write_folder(tmp_path / "data")
    (folder / "config.toml").write_text('timezone = "Asia/Shanghai"\n', encoding="utf-8")
    tracks = eb.pings()
    local = pd.to_datetime(tracks["recorded_at"])
    tracks["recorded_at"] = local.dt.tz_localize("Asia/Shanghai").dt.tz_convert("UTC")
    tracks["officers"] = pd.to_numeric(tracks["officers"])
    tracks.to_parquet(folder / "patrol_tracks.parquet")
    (folder / "patrol_tracks.csv").unlink()
    bureau = load_bureau(folder, TABLES, now=NOW)
    assert bureau.patrol_tracks["recorded_at"].tolist() == local.tolist()
    assert bureau.warnings[["check", "message"]].values.tolist() == [
        [
            "time_offset_converted",
            f"patrol_tracks.parquet recorded_at: {len(tracks)} time(s) with a UTC offset "
            "converted to Asia/Shanghai",
        ]
    ]
