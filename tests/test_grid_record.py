"""The grid a plan was made on is recorded with it, and a previous plan made on another grid is
refused before any work; scenario deltas change what they name and nothing else."""

from __future__ import annotations

import json

import pandas as pd
from click.testing import CliRunner

from models.contracts import load_bureau
from models.scenarios import Deltas, Scenario
from optimizer.allocation import budgets
from optimizer.cli import main
from optimizer.stages import apply_deltas


def _run(data, month, out, *extra):
    args = ["run", "--data", str(data), "--month", month, "--out", str(out), *extra]
    return CliRunner().invoke(main, args)


def test_a_previous_plan_on_another_grid_is_refused(demo_copy, tmp_path):
    out = tmp_path / "out"
    first = _run(demo_copy, "2025-11", out)
    assert first.exit_code == 0, first.output
    plan = json.loads((out / "2025-12" / "baseline" / "plan.json").read_text(encoding="utf-8"))
    assert plan["grid"]["size_m"] == 250
    assert plan["grid"]["crs"] == plan["models"]["crs"]

    config = demo_copy / "config.toml"
    text = config.read_text(encoding="utf-8") if config.exists() else ""
    config.write_text(text + "\n[grid]\ncell_size_m = 500\n", encoding="utf-8")
    before = sorted(p.name for p in out.iterdir())
    for extra in ([], ["--previous-plan", str(out / "2025-12" / "baseline" / "allocation.csv")]):
        second = _run(demo_copy, "2025-12", out, *extra)
        assert second.exit_code == 2, second.output
        assert "250 m grid" in second.output and "500 m grid" in second.output
        assert sorted(p.name for p in out.iterdir()) == before  # nothing written


def test_more_officers_raise_that_station_budget_by_their_share(demo_data):
    bureau = load_bureau(demo_data)
    scenario = Scenario(name="more", config=bureau.config, deltas=Deltas(officers={"S01": 0.10}))
    changed = apply_deltas(bureau, scenario)
    cfg = bureau.config.allocation
    before = budgets(bureau.stations, cfg).set_index(["station_id", "shift"])["budget_hours"]
    after = budgets(changed.stations, cfg).set_index(["station_id", "shift"])["budget_hours"]
    ratio = after / before
    assert (ratio.xs("S01", level="station_id") - 1.10).abs().max() < 1e-9
    assert (ratio.drop("S01", level="station_id") == 1.0).all()
    assert changed.cases is bureau.cases  # no harm delta: the cases are not copied


def test_a_campaign_multiplies_only_its_category_harm(demo_data):
    bureau = load_bureau(demo_data)
    category = bureau.cases["category"].iloc[0]
    scenario = Scenario(name="campaign", config=bureau.config, deltas=Deltas(harm={category: 1.5}))
    changed = apply_deltas(bureau, scenario)
    hit = bureau.cases["category"] == category
    pd.testing.assert_series_equal(changed.cases["harm"][hit], bureau.cases["harm"][hit] * 1.5)
    pd.testing.assert_series_equal(changed.cases["harm"][~hit], bureau.cases["harm"][~hit])
    assert changed.stations is bureau.stations


def test_loading_warnings_and_an_empty_forecast_reach_quality(demo_data):
    from models.quality import QUALITY_COLUMNS
    from optimizer.stages import (
        ForecastResult,
        bureau_station_weights,
        forecast_warnings,
        quality_stage,
    )

    bureau = load_bureau(demo_data)
    warning = dict.fromkeys(QUALITY_COLUMNS, "")
    warning.update(check="time_offset_converted", severity="warning", message="converted")
    bureau.warnings = pd.DataFrame([warning])
    flags = quality_stage(bureau, "2025-12", None, bureau_station_weights(bureau, "2025-12")).flags
    assert (flags["check"] == "time_offset_converted").sum() == 1

    risk = pd.DataFrame({"cell_id": ["0_0"], "shift": ["day"], "risk": [0.0]})
    empty = forecast_warnings(ForecastResult(risk, "naive"), "2026-01")
    assert empty["check"].tolist() == ["no_risk"] and "2026-01" in empty["message"].iloc[0]
    some = forecast_warnings(ForecastResult(risk.assign(risk=0.5), "naive"), "2026-01")
    assert some.empty
