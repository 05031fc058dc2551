"""Scenarios of one run share the baseline's forecast: a harm campaign re-weights it by
category with the model kept, instead of selecting a model again."""

from __future__ import annotations

import json

import pandas as pd
from click.testing import CliRunner

from optimizer.cli import main


def test_a_campaign_reweights_the_baseline_forecast_and_keeps_its_model(demo_data, tmp_path):
    campaign = tmp_path / "campaign.toml"
    campaign.write_text('name = "campaign"\n[deltas]\nharm = { theft = 1.5 }\n', encoding="utf-8")
    out = tmp_path / "out"
    args = ["run", "--data", str(demo_data), "--month", "2025-12", "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--scenario", str(campaign)])
    assert result.exit_code == 0, result.output
    baseline = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "base")])
    assert baseline.exit_code == 0, baseline.output
    plans = {
        name: json.loads((folder / "2026-01" / name / "plan.json").read_text(encoding="utf-8"))
        for name, folder in (("campaign", out), ("baseline", tmp_path / "base"))
    }
    assert plans["campaign"]["models"]["forecast"] == plans["baseline"]["models"]["forecast"]
    risk = {
        name: pd.read_csv(folder / "2026-01" / name / "risk.csv").set_index(["cell_id", "shift"])
        for name, folder in (("campaign", out), ("baseline", tmp_path / "base"))
    }
    ratio = risk["campaign"]["risk"] / risk["baseline"]["risk"]
    ratio = ratio[risk["baseline"]["risk"] > 0]
    assert ratio.min() >= 1.0 - 1e-4 and ratio.max() <= 1.5 + 1e-4  # risk.csv rounds to 1e-6
    assert ratio.max() > 1.0  # theft's share of the risk weighs more
