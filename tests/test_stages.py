"""Each stage command on its own, writing straight into --out."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from optimizer.chain import sha256_file
from optimizer.cli import main

STAGES = {
    "score": ["scores.csv", "indicator_scores.csv", "rank_sensitivity.csv"],
    "quality": ["quality.csv"],
    "hotspots": ["hotspots.geojson"],
    "forecast": ["risk.csv"],
    "allocate": [
        "allocation.csv",
        "allocation.geojson",
        "duals.csv",
        "binding.csv",
        "schedule.csv",
        "patrol_balance.csv",
    ],
    "train": ["training.csv", "training.xlsx"],
}


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_writes_its_files(stage, demo_data, tmp_path):
    result = CliRunner().invoke(
        main, [stage, "--data", str(demo_data), "--month", "2025-06", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    for name in STAGES[stage]:
        assert (tmp_path / name).stat().st_size > 0, name


def test_forecast_uses_no_case_after_the_month(demo_data, tmp_path):
    runner = CliRunner()
    base = tmp_path / "a"
    result = runner.invoke(
        main, ["forecast", "--data", str(demo_data), "--month", "2025-06", "--out", str(base)]
    )
    assert result.exit_code == 0, result.output
    cut = tmp_path / "cut"
    cut.mkdir()
    for path in demo_data.iterdir():
        (cut / path.name).write_bytes(path.read_bytes())
    cases = pd.read_csv(cut / "cases.csv", dtype=str, keep_default_na=False)
    cases[cases["occurred_at"] < "2025-07"].to_csv(cut / "cases.csv", index=False)
    other = tmp_path / "b"
    args = ["forecast", "--data", str(cut), "--month", "2025-06", "--out", str(other)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    left = pd.read_csv(base / "risk.csv")
    right = pd.read_csv(other / "risk.csv")
    pd.testing.assert_frame_equal(left, right)


def test_bad_month_is_a_usage_error(demo_data, tmp_path):
    result = CliRunner().invoke(
        main, ["score", "--data", str(demo_data), "--month", "June", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2


def test_infeasible_floors_exit_3_with_diagnosis(demo_data, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    for path in demo_data.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "config.toml").write_text("[allocation]\nmin_hours_cell = 55\n", encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["run", "--data", str(folder), "--month", "2025-12", "--out", str(out)]
    )
    assert result.exit_code == 3
    assert "floors need" in result.output and "shift" in result.output
    assert not any(out.rglob("plan.json"))


def test_an_impossible_scenario_is_named_and_the_others_still_written(demo_data, tmp_path):
    cut = tmp_path / "cut.toml"
    cut.write_text('name = "cut"\n[allocation]\nmin_hours_cell = 55\n', encoding="utf-8")
    same = tmp_path / "same.toml"
    same.write_text('name = "same"\n', encoding="utf-8")
    out = tmp_path / "out"
    args = ["--data", str(demo_data), "--month", "2025-12", "--out", str(out)]
    result = CliRunner().invoke(
        main, ["run", *args, "--scenario", str(cut), "--scenario", str(same)]
    )
    assert result.exit_code == 3
    assert "scenario cut: station" in result.output and "floors need" in result.output
    assert (out / "2026-01" / "same" / "plan.json").exists()
    assert not (out / "2026-01" / "cut").exists()
    plan = json.loads((out / "2026-01" / "same" / "plan.json").read_text(encoding="utf-8"))
    assert plan["other_inputs"]["scenario"]["sha256"] == sha256_file(same)


def test_backtest_scores_every_model_and_auto(demo_data, tmp_path):
    args = ["--data", str(demo_data), "--month", "2025-06", "--months", "2"]
    result = CliRunner().invoke(main, ["backtest", *args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "backtest.csv")
    assert list(table.columns[:6]) == ["model", "month", "coverage", "hit_rate", "pai", "pei_star"]
    assert {"naive", "rolling_mean", "ewma", "kernel", "learned", "auto"} <= set(table["model"])
    assert sorted(table["month"].unique()) == ["2025-05", "2025-06"]
    assert sorted(table["coverage"].unique()) == [0.01, 0.05, 0.10]
    assert table["hit_rate"].between(0, 1).all() and (table["pai"] >= 0).all()


def test_allocate_with_a_previous_plan_keeps_within_the_stability_cap(demo_data, tmp_path):
    runner = CliRunner()
    first, second = tmp_path / "first", tmp_path / "second"
    args = ["--data", str(demo_data), "--month", "2025-06"]
    assert runner.invoke(main, ["allocate", *args, "--out", str(first)]).exit_code == 0
    previous = pd.read_csv(first / "allocation.csv", keep_default_na=False)
    previous["hours"] = previous["hours"] * 0.9  # last month ran on fewer hours
    previous.to_csv(tmp_path / "previous.csv", index=False)
    result = runner.invoke(
        main,
        [
            "allocate",
            *args,
            "--out",
            str(second),
            "--previous-plan",
            str(tmp_path / "previous.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    plan = pd.read_csv(second / "allocation.csv", keep_default_na=False)
    per_unit = plan.groupby(["station_id", "cell_id", "shift"])["hours"].sum()
    before = previous.groupby(["station_id", "cell_id", "shift"])["hours"].sum()
    moved = (per_unit - before.reindex(per_unit.index, fill_value=0)).abs()
    allowed = 0.30 * before.groupby(level=0).sum()
    assert (moved.groupby(level=0).sum() <= allowed + 1e-3).all()
    assert plan["prev_hours"].sum() > 0
