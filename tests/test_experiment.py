"""The built-in randomized dose experiment (models/experiment.py): pairs of comparable cells,
a coin per pair, every budget kept; the next month's evaluation reports its estimate."""

from __future__ import annotations

import json

import pandas as pd
from click.testing import CliRunner

from models.experiment import assign_experiment
from optimizer.cli import main


def _allocation() -> pd.DataFrame:
    """Station S1: four cells in two shifts, risks 10, 9, 5, 4.5 per shift; 4 h each."""
    rows = [
        ("S1", cell, shift, 4.0, 4.0, risk, "")
        for cell, risk in (("a", 10.0), ("b", 9.0), ("c", 5.0), ("d", 4.5))
        for shift in ("day", "night")
    ]
    columns = ["station_id", "cell_id", "shift", "hours", "prev_hours", "risk"]
    return pd.DataFrame(rows, columns=[*columns, "lender_station_id"])


def test_pairs_of_comparable_cells_get_a_high_and_a_low_dose_within_their_hours():
    found = assign_experiment(
        _allocation(), 1.0, "2026-01", floor_hours=0.5, cap_hours=10.0, max_change_share=None
    )
    cells = found.cells.set_index("cell_id")
    assert sorted(found.cells["pair"].unique()) == ["S1-1", "S1-2"]
    assert set(cells.loc[["a", "b"], "pair"]) == {"S1-1"}  # neighbours by forecast harm
    assert sorted(cells.loc[["a", "b"], "arm"]) == ["high", "low"]
    by_arm = found.cells.groupby("arm")["hours"].sum()
    assert (by_arm["high"], by_arm["low"]) == (24.0, 8.0)  # 4 h ± 2 h, two shifts, two pairs
    plan = found.allocation.groupby("shift")["hours"].sum()
    assert plan.to_dict() == {"day": 16.0, "night": 16.0}  # every shift's hours kept


def test_the_stability_cap_limits_the_experiment_and_share_zero_leaves_the_plan():
    untouched = assign_experiment(
        _allocation(), 0.0, "2026-01", floor_hours=0.5, cap_hours=10.0, max_change_share=0.3
    )
    assert untouched.cells.empty
    capped = assign_experiment(  # 30 % of 32 h = 9.6 h of change: one pair (8 h), not two
        _allocation(), 1.0, "2026-01", floor_hours=0.5, cap_hours=10.0, max_change_share=0.3
    )
    assert capped.cells["pair"].nunique() == 1


def test_a_run_with_the_experiment_records_it_and_the_next_month_measures_it(demo_copy, tmp_path):
    with open(demo_copy / "config.toml", "a", encoding="utf-8") as config:
        config.write("\n[evaluation]\nexperiment_share = 0.3\n")
    out = tmp_path / "out"
    for month in ("2025-10", "2025-11"):
        args = ["run", "--data", str(demo_copy), "--month", month, "--out", str(out)]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
    november = out / "2025-11" / "baseline"
    experiment = pd.read_csv(november / "experiment.csv")
    plan = json.loads((november / "plan.json").read_text(encoding="utf-8"))
    assert plan["experiment"] == {"share": 0.3, "pairs": experiment["pair"].nunique()}
    assert experiment["pair"].nunique() >= 10
    assert (experiment.groupby("pair")["arm"].nunique() == 2).all()
    # every station-shift patrols the hours the LP gave it (duals.csv): pairs keep their total
    allocation = pd.read_csv(november / "allocation.csv", dtype=str, keep_default_na=False)
    patroller = allocation["lender_station_id"].where(
        allocation["lender_station_id"] != "", allocation["station_id"]
    )
    used = pd.to_numeric(allocation["hours"]).groupby([patroller, allocation["shift"]]).sum()
    duals = pd.read_csv(november / "duals.csv").set_index(["station_id", "shift"])
    assert (used - duals["used_hours"].reindex(used.index)).abs().max() < 0.15
    evaluation = pd.read_csv(out / "2025-12" / "baseline" / "evaluation.csv")
    overall = evaluation.set_index("station_id").loc["ALL"]
    assert overall["randomized_pairs"] == experiment["pair"].nunique()
    assert overall["randomized_low"] <= overall["randomized_response"] <= overall["randomized_high"]
    report = (november / "report.html").read_text(encoding="utf-8")
    assert "Randomized dose experiment" in report  # which cells, and why
    assert f"{experiment['pair'].nunique()} pairs of cells" in report
