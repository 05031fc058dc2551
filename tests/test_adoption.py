"""Deciding the month (SPEC §18): every scenario of a month builds on the plan its month carried
out, a leader adopts one scenario (an audit entry), and the next month, the sheets and the desk
read the adopted plan."""

from __future__ import annotations

import json

import pandas as pd
from click.testing import CliRunner

from optimizer.adoption import logged_adoption
from optimizer.cli import main

KEY = ["cell_id", "shift"]


def _run(data, month, out, *extra):
    result = CliRunner().invoke(
        main, ["run", "--data", str(data), "--month", month, "--out", str(out), *extra]
    )
    assert result.exit_code == 0, result.output
    return result


def _hours(folder, column="hours") -> pd.Series:
    """A plan's hours by cell and shift, its own station's and lenders' together (or the
    previous plan's, `prev_hours`, which allocation.csv holds on the cell's own row)."""
    frame = pd.read_csv(folder / "allocation.csv", dtype={"cell_id": str})
    return frame.groupby(KEY)[column].sum().round(1)


def _built_on(folder, previous) -> bool:
    """Whether the plan in `folder` holds the hours of the plan in `previous` as its
    `prev_hours`, row for row (a row the earlier plan lacks had 0 hours)."""
    prev = _hours(folder, "prev_hours")
    return bool((prev == _hours(previous).reindex(prev.index, fill_value=0.0)).all())


def test_scenarios_build_on_the_adopted_plan_and_next_month_reads_it(demo_data, tmp_path):
    more = tmp_path / "more.toml"
    more.write_text('name = "more"\n[deltas]\nharm = { theft = 2.0 }\n', encoding="utf-8")
    out = tmp_path / "out"
    _run(demo_data, "2025-10", out)
    _run(demo_data, "2025-10", out, "--scenario", str(more))
    november = out / "2025-11"
    assert not _hours(november / "baseline").equals(_hours(november / "more"))

    # a December scenario builds on what November carried out (the baseline), not its own
    _run(demo_data, "2025-11", out, "--scenario", str(more))
    assert _built_on(out / "2025-12" / "more", november / "baseline")
    assert not _built_on(out / "2025-12" / "more", november / "more")

    adopted = CliRunner().invoke(main, ["adopt", str(november / "more"), "--by", "chief"])
    assert adopted.exit_code == 0, adopted.output
    entry = json.loads((out / "audit.jsonl").read_text(encoding="utf-8").splitlines()[-1])
    assert (entry["action"], entry["scenario"], entry["user"]) == ("adopt", "more", "chief")
    assert logged_adoption(out, "2025-11").scenario == "more"

    _run(demo_data, "2025-11", out)  # December's baseline builds on the adopted plan
    assert _built_on(out / "2025-12" / "baseline", november / "more")
    verified = CliRunner().invoke(main, ["audit", "verify", "--out", str(out)])
    assert verified.exit_code == 0, verified.output


def test_adopting_a_run_no_one_recorded_is_refused(demo_data, tmp_path):
    out = tmp_path / "out"
    _run(demo_data, "2025-11", out)
    before = (out / "audit.jsonl").read_text(encoding="utf-8")
    refused = CliRunner().invoke(main, ["adopt", str(out / "2025-12" / "campaign")])
    assert refused.exit_code == 2
    assert "2025-12/campaign is no recorded plan" in refused.output
    assert "recorded scenarios of 2025-12: baseline" in refused.output
    assert (out / "audit.jsonl").read_text(encoding="utf-8") == before


def test_a_scenario_run_later_builds_on_the_file_the_baseline_was_planned_from(demo_data, tmp_path):
    """`run --previous-plan` for the baseline, then a scenario alone: the scenario reads the
    same file (recorded in the baseline's plan.json), so the two are like for like."""
    first = tmp_path / "first"
    _run(demo_data, "2025-10", first)
    given = tmp_path / "plan-2025-11.csv"
    given.write_bytes((first / "2025-11" / "baseline" / "allocation.csv").read_bytes())
    out = tmp_path / "out"
    _run(demo_data, "2025-11", out, "--previous-plan", str(given))
    campaign = tmp_path / "campaign.toml"
    campaign.write_text('name = "campaign"\n[deltas]\nharm = { theft = 1.5 }\n', encoding="utf-8")
    _run(demo_data, "2025-11", out, "--scenario", str(campaign))
    plans = {
        name: json.loads((out / "2025-12" / name / "plan.json").read_text(encoding="utf-8"))
        for name in ("baseline", "campaign")
    }
    assert (
        plans["campaign"]["other_inputs"]["previous_plan"]
        == (plans["baseline"]["other_inputs"]["previous_plan"])
    )
    pd.testing.assert_series_equal(
        _hours(out / "2025-12" / "campaign", "prev_hours"),
        _hours(out / "2025-12" / "baseline", "prev_hours"),
    )
