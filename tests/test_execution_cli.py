"""`patrolopt execution`: the files a planner reads, from a folder with known figures."""

from __future__ import annotations

import execution_bureau as eb
import pandas as pd
import pytest
from click.testing import CliRunner

from optimizer.cli import main


def _invoke(*args):
    return CliRunner().invoke(main, ["execution", *map(str, args)])


@pytest.fixture
def folder(tmp_path):
    data = eb.write_folder(tmp_path / "data")
    (data / "config.toml").write_text('crs = "EPSG:32651"\n', encoding="utf-8")
    return data


def test_execution_against_a_plan_file(folder, tmp_path):
    plan = tmp_path / "allocation.csv"
    eb.plan().to_csv(plan, index=False)
    out = tmp_path / "out"
    result = _invoke("--data", folder, "--month", "2025-12", "--out", out, "--plan", plan)
    assert result.exit_code == 0, result.output
    execution = pd.read_csv(out / "execution.csv", keep_default_na=False)
    assert list(execution.columns) == [
        "station_id",
        "cell_id",
        "shift",
        "planned_hours",
        "delivered_hours",
        "visits",
    ]
    got = {
        (r.station_id, r.cell_id, r.shift): (r.delivered_hours, r.visits)
        for r in execution.itertuples()
        if r.delivered_hours > 0
    }
    assert got.keys() == eb.EXPECTED_DOSE.keys()
    for key, (hours, visits) in eb.EXPECTED_DOSE.items():
        assert got[key] == (pytest.approx(hours, abs=1e-6), visits)
    adherence = pd.read_csv(out / "adherence.csv", keep_default_na=False)
    overall = adherence[(adherence["station_id"] == "ALL") & (adherence["shift"] == "ALL")]
    assert overall["delivered_in_plan_hours"].iloc[0] == pytest.approx(1320 / 3600 + 0.1, 1e-6)
    response = pd.read_csv(out / "response.csv", keep_default_na=False, dtype={"priority": str})
    row = response.set_index(["station_id", "shift", "priority"]).loc[("S1", "day", "1")]
    assert (row["calls"], row["unanswered"], row["p90_min"]) == (2, 1, 11.6)
    quality = pd.read_csv(out / "quality.csv", keep_default_na=False)
    assert {"duplicate_ping", "track_gap", "track_jump", "unit_off_duty"} <= set(quality["check"])
    assert "track_outside_grid" in set(quality["check"])
    assert "adherence" in result.output


def test_execution_finds_the_stored_plan(folder, tmp_path):
    out = tmp_path / "out"
    (out / "2025-12" / "baseline").mkdir(parents=True)
    eb.plan().to_csv(out / "2025-12" / "baseline" / "allocation.csv", index=False)
    result = _invoke("--data", folder, "--month", "2025-12", "--out", out)
    assert result.exit_code == 0, result.output
    adherence = pd.read_csv(out / "adherence.csv", keep_default_na=False)
    assert adherence["planned_hours"].iloc[-1] == pytest.approx(4.1)


def test_execution_finds_a_plan_held_only_in_the_store(folder, tmp_path):
    """The run folder is gone (archived, say) but the store in OUT/plans.db holds the plan."""
    out = tmp_path / "out"
    eb.store_only(out, {})
    result = _invoke("--data", folder, "--month", "2025-12", "--out", out)
    assert result.exit_code == 0, result.output
    adherence = pd.read_csv(out / "adherence.csv", keep_default_na=False)
    assert adherence["planned_hours"].iloc[-1] == pytest.approx(4.1)


def test_a_month_without_pings_or_calls_and_no_plan(folder, tmp_path):
    out = tmp_path / "out"
    result = _invoke("--data", folder, "--month", "2025-10", "--out", out)
    assert result.exit_code == 0, result.output
    assert "no plan for 2025-10" in result.output
    assert len(pd.read_csv(out / "execution.csv")) == 0
    response = pd.read_csv(out / "response.csv", keep_default_na=False)
    assert response[["calls", "unanswered"]].values.tolist() == [[0, 0]]


def test_bad_tracks_exit_2_and_write_nothing(folder, tmp_path):
    tracks, calls = eb.pings(), eb.calls()
    tracks.loc[0, "lat"] = 123.0
    tracks.loc[1, "station_id"] = "S5"
    tracks.loc[2, "recorded_at"] = "2099-01-01T00:00:00"
    calls.loc[0, "arrived_at"] = "2025-12-05T08:00:00"
    tracks.to_csv(folder / "patrol_tracks.csv", index=False)
    calls.to_csv(folder / "calls.csv", index=False)
    out = tmp_path / "out"
    result = _invoke("--data", folder, "--month", "2025-12", "--out", out)
    assert result.exit_code == 2, result.output
    for located in (
        "patrol_tracks.csv:2:lat:",
        "patrol_tracks.csv:3:station_id: unknown station 'S5'",
        "patrol_tracks.csv:4:recorded_at: date lies after the moment of the run",
        "calls.csv:2:arrived_at: arrived_at 2025-12-05 08:00:00 is before received_at",
    ):
        assert located in result.output
    assert "4 problem(s)" in result.output
    assert not out.exists()


def test_a_folder_without_execution_data(folder, tmp_path):
    (folder / "patrol_tracks.csv").unlink()
    (folder / "calls.csv").unlink()
    result = _invoke("--data", folder, "--month", "2025-12", "--out", tmp_path / "out")
    assert result.exit_code == 2 and "neither patrol_tracks nor calls" in result.output


def test_a_plan_file_without_stations_takes_each_cells_station(folder, tmp_path):
    plan = tmp_path / "allocation.csv"
    eb.plan()[["cell_id", "shift", "hours"]].to_csv(plan, index=False)
    out = tmp_path / "out"
    result = _invoke("--data", folder, "--month", "2025-12", "--out", out, "--plan", plan)
    assert result.exit_code == 0, result.output
    adherence = pd.read_csv(out / "adherence.csv", keep_default_na=False)
    rows = adherence.set_index(["station_id", "shift"])
    assert rows.loc[("S1", "ALL"), "planned_hours"] == pytest.approx(3.1)
    assert rows.loc[("S2", "ALL"), "planned_hours"] == pytest.approx(1.0)
