"""The staffing recommendation as the bureau gets it (SPEC §19): `run` writes staffing.csv
beside the demo's plan, a scenario setting the recommended officers gets the plan staffing.csv
claims, and `patrolopt staffing` runs alone or explains why it cannot."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from models.config import AllocationConfig
from optimizer.allocation.frames import unit_benefit
from optimizer.allocation.staffing import STAFFING_COLUMNS
from optimizer.cli import main


def staffing_of(folder) -> pd.DataFrame:
    return pd.read_csv(folder / "staffing.csv", dtype={"station_id": str})


def harm_prevented(folder) -> float:
    """Σ risk · benefit(hours) over the plan's cells and shifts, from allocation.csv alone."""
    rows = pd.read_csv(folder / "allocation.csv", dtype={"cell_id": str})
    cells = rows.groupby(["cell_id", "shift"]).agg(hours=("hours", "sum"), risk=("risk", "first"))
    harm = unit_benefit(cells["hours"].to_numpy(), cells["risk"].to_numpy(), AllocationConfig())
    return float(harm.sum())


def test_run_writes_a_recommendation_that_keeps_every_rule(demo_run):
    table = staffing_of(demo_run)
    assert list(table.columns) == STAFFING_COLUMNS
    assert table["recommended"].sum() == table["officers"].sum()
    assert (table["change"] == table["recommended"] - table["officers"]).all()
    assert (table["change"].abs() <= np.floor(0.10 * table["officers"])).all()
    assert (table["change"] != 0).any()
    reserve = pd.read_csv(demo_run / "reserve.csv", dtype={"station_id": str})
    share = reserve["shift"].map(AllocationConfig().shift_share)
    officers = reserve["station_id"].map(table.set_index("station_id")["recommended"])
    assert (officers * 60 * share >= reserve["reserve_hours"]).all()
    before, after = table["harm_prevented_before"].sum(), table["harm_prevented_after"].sum()
    assert after >= before
    assert before == pytest.approx(harm_prevented(demo_run), abs=0.01)
    assert table["reason"].str.contains("forecast harm per officer").all()
    staffing = json.loads((demo_run / "plan.json").read_text(encoding="utf-8"))["staffing"]
    assert (staffing["method"], staffing["gap"], staffing["warnings"]) == ("exact", 0.0, [])
    assert staffing["harm_prevented_after"] == pytest.approx(after, abs=0.01)


def test_a_scenario_with_the_recommended_officers_gets_the_plan_claimed(demo_run, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(demo_run.parents[1], out)
    table = staffing_of(demo_run)
    scenario = tmp_path / "staffed.toml"
    moves = [
        f"{s} = {n / o - 1!r}"
        for s, o, n in table[["station_id", "officers", "recommended"]].values
    ]
    scenario.write_text('name = "staffed"\n[deltas.officers]\n' + "\n".join(moves) + "\n")
    data = demo_run.parents[1] / "demo-data"
    args = ["run", "--data", str(data), "--month", "2025-12", "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--scenario", str(scenario)])
    assert result.exit_code == 0, result.output
    staffed = out / "2026-01" / "staffed"
    claimed = table["harm_prevented_after"].sum()  # the drive estimated, not routed
    assert harm_prevented(staffed) == pytest.approx(claimed, rel=0.01)
    assert harm_prevented(staffed) >= harm_prevented(demo_run)
    again = staffing_of(staffed)  # the staffed plan's own recommendation: nothing more to move
    assert again["recommended"].sum() == table["recommended"].sum()


@pytest.fixture
def quick_demo(demo_run, tmp_path):
    """The demo's data as its run had it (calls, tracks, last month's plan) with a one-month
    backtest: the forecast the command makes is quick."""
    folder = tmp_path / "data"
    shutil.copytree(demo_run.parents[1] / "demo-data", folder)
    with open(folder / "config.toml", "a", encoding="utf-8") as config:
        config.write("\n[forecast]\nbacktest_months = 1\n")
    return folder


def test_the_command_writes_staffing_csv_alone(quick_demo, tmp_path):
    out = tmp_path / "staffing"
    previous = quick_demo / "plan-2025-12.csv"
    args = ["staffing", "--data", str(quick_demo), "--month", "2025-12", "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--previous-plan", str(previous)])
    assert result.exit_code == 0, result.output
    assert [p.name for p in out.iterdir()] == ["staffing.csv"]
    table = staffing_of(out)
    assert table["recommended"].sum() == table["officers"].sum()
    assert "staffing for 2026-01 written to" in result.output
    assert "(exact, gap 0.00%)" in result.output


def test_a_total_below_what_the_stations_need_exits_3_with_the_numbers(quick_demo, tmp_path):
    with open(quick_demo / "config.toml", "a", encoding="utf-8") as config:
        config.write("\n[staffing]\ntotal = 300\n")
    out = tmp_path / "staffing"
    args = ["staffing", "--data", str(quick_demo), "--month", "2025-12", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 3, result.output
    assert "staffing: the stations need at least 528 officers, the total is 300" in result.output
    assert "the response reserves need 34 officers at 1 station(s) (S08)" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.parametrize("value", ["1.5", "-0.1"])
def test_a_move_share_outside_0_1_is_a_config_error_at_its_key(quick_demo, value):
    with open(quick_demo / "config.toml", "a", encoding="utf-8") as config:
        config.write(f"\n[staffing]\nmax_move_share = {value}\n")
    result = CliRunner().invoke(main, ["validate", "--data", str(quick_demo)])
    assert result.exit_code == 2, result.output
    assert "config.toml:" in result.output and ":staffing.max_move_share: " in result.output
