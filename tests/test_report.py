"""The leadership report from its run folders: flagged stations, scenarios compared side by side
in both languages, missing files named, what the missions carry of the plan."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from models.execution import ADHERENCE_COLUMNS, RESPONSE_COLUMNS
from optimizer.cli import main
from optimizer.manifest import write_outputs
from optimizer.missions.columns import SUMMARY_COLUMNS
from optimizer.report import flagged_stations, key_figures, load_runs, render_report
from optimizer.report import render as render_module
from optimizer.report.runs import MISSIONS_SUMMARY


def test_flags_name_veto_streak_and_quality():
    scores = pd.DataFrame(
        {"station_id": ["S01", "S02"], "veto": [True, False], "last_place_streak": [0, 3]}
    )
    quality = pd.DataFrame({"station_id": ["S02", "S02", ""], "check": ["jump"] * 3})
    flags = flagged_stations(scores, quality, last_place_months=3, lang="en")
    assert flags.values.tolist() == [
        ["S01", "red-line veto"],
        ["S02", "last in its group 3 months running"],
        ["S02", "2 data-quality flag(s)"],
    ]


@pytest.fixture
def two_scenarios(demo_run, tmp_path) -> tuple[Path, Path]:
    """The demo run and a copy named `shifted` that moves 100 hours from S01 to S02."""
    first, second = tmp_path / "baseline", tmp_path / "shifted"
    shutil.copytree(demo_run, first)
    shutil.copytree(demo_run, second)
    plan = json.loads((second / "plan.json").read_text(encoding="utf-8"))
    plan["scenario"] = "shifted"
    (second / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    alloc = pd.read_csv(second / "allocation.csv", keep_default_na=False)
    s01, s02 = alloc["station_id"] == "S01", alloc["station_id"] == "S02"
    alloc.loc[s01, "hours"] *= 1 - 100 / alloc.loc[s01, "hours"].sum()
    alloc.loc[s02, "hours"] += 100 / s02.sum()
    alloc.to_csv(second / "allocation.csv", index=False)
    return first, second


def test_compare_puts_scenarios_side_by_side_with_differences(two_scenarios, tmp_path):
    out = tmp_path / "compare.html"
    result = CliRunner().invoke(main, ["compare", *map(str, two_scenarios), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert "Differences against Baseline" in text and "Δ shifted" in text
    assert ">+100</text>" in text and ">-100</text>" in text  # S02 gained, S01 lost
    assert text.count('<section class="scenario">') == 3  # one difference block, two columns
    zh = render_report(list(two_scenarios), "zh")
    assert "与 基准方案 的差异" in zh and "各所巡逻警时" in zh


def test_compare_names_every_missing_file(tmp_path):
    result = CliRunner().invoke(main, ["compare", str(tmp_path), "--out", str(tmp_path / "c.html")])
    assert result.exit_code == 2
    assert f"{tmp_path / 'plan.json'}:0:: missing" in result.output


HOSTILE = '<img src=x onerror="alert(1)">'


def test_names_from_the_data_reach_the_report_only_escaped(demo_run, tmp_path):
    """A station name, course title, reason and scenario name with markup show as text."""
    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    plan = json.loads((run / "plan.json").read_text(encoding="utf-8"))
    plan["scenario"] = HOSTILE
    (run / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    stations = json.loads((run / "jurisdictions.geojson").read_text(encoding="utf-8"))
    stations["features"][0]["properties"]["name"] = HOSTILE
    (run / "jurisdictions.geojson").write_text(json.dumps(stations), encoding="utf-8")
    training = pd.read_csv(run / "training.csv", keep_default_na=False)
    training.loc[0, ["title", "reason"]] = [HOSTILE, "<script>alert(2)</script>"]
    training.to_csv(run / "training.csv", index=False)
    for lang in ("en", "zh"):
        page = render_report([run], lang)
        assert "<img" not in page and "<script" not in page
        assert page.count("&lt;img src=x onerror=") >= 3  # the label, the name, the title
        assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page


def test_a_first_month_has_no_hours_moved(demo_run, tmp_path):
    """A plan made with no previous plan (a first month, where the allocation counts every
    hour as moved): hours moved read n/a, not every patrol hour."""
    first = tmp_path / "first"
    shutil.copytree(demo_run, first)
    plan = json.loads((first / "plan.json").read_text(encoding="utf-8"))
    total = pd.read_csv(first / "allocation.csv")["hours"].sum()
    plan.update(previous_plan=None, hours_moved=float(total))
    (first / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    figures = key_figures(load_runs([first]), "en")
    assert figures["moved"].isna().all()
    plan["previous_plan"] = {"cells": 1, "unknown": 0, "unknown_hours": 0.0}
    (first / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    assert key_figures(load_runs([first]), "en")["moved"].tolist() == [total]
    plan["previous_plan"] = None
    (first / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    page = render_report([first], "en")
    reason = "n/a: planned without a previous plan (none stored or given, as in a first month)"
    assert f"Hours moved: <b>{reason}</b>" in page
    assert figure_row(page, "Forecast harm covered") == [f"{plan['harm_covered_share']:.1%}"]
    assert figure_row(page, "Hours moved") == [reason]


def figure_row(page: str, heading: str) -> list[str]:
    """The cells of one figure's row in the key figures (scenarios as columns), as text."""
    row = re.search(rf'<tr(?: class="wide")?><th>{re.escape(heading)}</th>(.*?)</tr>', page)
    return [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td>(.*?)</td>", row.group(1))]


def test_compare_says_what_a_chief_asks_for_four_scenarios(two_scenarios, tmp_path):
    """Against the baseline: `shifted` moves 100 h from S01 to S02 (200 h placed differently);
    `aid` changes one config value; `wide` copies `shifted` once more."""
    baseline, shifted = two_scenarios
    aid, wide = tmp_path / "aid", tmp_path / "wide"
    shutil.copytree(baseline, aid)
    shutil.copytree(shifted, wide)
    for folder, name in ((aid, "aid"), (wide, "wide")):
        plan = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
        plan["scenario"] = name
        if name == "aid":
            plan["parameters"]["allocation"]["max_aid_share"] = 0.2
        (folder / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    runs = load_runs([baseline, shifted, aid, wide])
    figures = key_figures(runs, "en").set_index("scenario")
    assert figures.loc["shifted", "moved_baseline"] == pytest.approx(200, abs=0.01)
    assert figures.loc["aid", "moved_baseline"] == 0
    assert pd.isna(figures.loc["baseline", "moved_baseline"])
    assert np.isfinite(figures.loc["shifted", "harm_per_hour"])
    assert pd.isna(figures.loc["aid", "harm_per_hour"])  # no hour moved: nothing to divide
    assert "allocation.max_aid_share = 0.2" in figures.loc["aid", "settings"]
    assert "max_aid_share" not in figures.loc["shifted", "settings"]
    duals = pd.read_csv(baseline / "duals.csv")
    mean = (duals["dual"] * duals["budget_hours"]).sum() / duals["budget_hours"].sum()
    assert figures.loc["baseline", "dual_mean"] == pytest.approx(mean)
    top = duals.loc[duals["dual"].idxmax()]
    assert figures.loc["baseline", "dual_top"].startswith(f"{top['dual']:.4g} ({top['station_id']}")
    for lang in ("en", "zh"):
        page = render_report([baseline, shifted, aid, wide], lang)
        assert '<table class="t figures">' in page
        assert ".grid{display:flex;flex-wrap:wrap" in page and "max-width:720px" not in page
        assert page.count('<section class="scenario">') == 3 + 4
    page = render_report([baseline, shifted, aid, wide], "en")
    assert figure_row(page, "Hours moved against the baseline") == [
        "— (the baseline)",
        "200.0",
        "0.0",
        "200.0",
    ]
    assert figure_row(page, "Harm covered per hour moved")[2] == "n/a: no hour placed differently"
    assert "Value of one more officer-hour (mean)" in page


def evaluated(run: Path, tmp_path: Path) -> Path:
    """A copy of `run` with the St. Louis kind of evaluation: S01 significantly worse (crime
    rose where hours were added), S02 better but possibly chance."""
    folder = tmp_path / "evaluated"
    shutil.copytree(run, folder)
    pd.DataFrame(
        {
            "station_id": ["S01", "S02", "ALL"],
            "treated_cells": [10, 12, 22],
            "control_cells": [20, 18, 38],
            "before_treated": [100, 50, 150],
            "after_treated": [130, 41, 171],
            "before_control": [40, 30, 70],
            "after_control": [38, 30, 68],
            "wdd": [32, -9, 23],
            "z": [2.27, -0.9, 1.1],
        }
    ).to_csv(folder / "evaluation.csv", index=False)
    return folder


def test_last_months_outcome_comes_first_with_a_plain_verdict(demo_run, tmp_path):
    folder = evaluated(demo_run, tmp_path)
    page = render_report([folder], "en")
    assert page.index("Outcome of last month&#39;s plan") < page.index("Scenarios side by side")
    assert (
        "crime rose 30%, in comparable cells it fell 5%: 35 points worse; z = 2.27, unlikely"
        in page
    )
    assert "Crime rose where hours were added: review this station" in page
    assert "crime fell 18%, in comparable cells it stayed level: 18 points better" in page
    assert "18 points better; z = −0.90, could be chance" in page
    for term in ("Forecast harm covered", "Harm units", "WDD", "Dual value"):
        assert page.count(f"<dt>{term}</dt>") == 1
    zh = render_report([folder], "zh")
    assert "增加警力的网格案件上升 30%，对照网格下降 5%：差于对照 35 个百分点" in zh
    assert "差于对照 35 个百分点；z = 2.27，不太可能是偶然" in zh
    assert "<dt>危害单位</dt>" in zh and "全部派出所" in zh


def executed(run: Path, tmp_path: Path) -> Path:
    """A copy of `run` with small adherence.csv and response.csv (SPEC §13 columns) and
    duals.csv's `reserve_hours`: S02 furthest off plan, S01 slowest to answer."""
    folder = tmp_path / "executed"
    shutil.copytree(run, folder)
    pd.DataFrame(
        [
            ("S01", "day", 100.0, 90.0, 85.0, 0.85, 0.0556),
            ("S01", "ALL", 200.0, 190.0, 170.0, 0.85, 0.1053),
            ("S02", "ALL", 300.0, 150.0, 120.0, 0.40, 0.2),
            ("S03", "ALL", 100.0, 100.0, 100.0, 1.0, 0.0),
            ("ALL", "ALL", 600.0, 440.0, 390.0, 0.65, 0.1136),
        ],
        columns=[c for c in ADHERENCE_COLUMNS if c != "unit_id"],  # station rows only
    ).assign(unit_id="")[ADHERENCE_COLUMNS].to_csv(folder / "adherence.csv", index=False)
    pd.DataFrame(
        [
            ("S01", "ALL", "ALL", 40, 14.5, 31.0, 0.55, 2),
            ("S02", "ALL", "ALL", 60, 8.0, 15.0, 0.9, 0),
            ("ALL", "ALL", "1", 70, 9.0, 20.0, 0.8, 1),
            ("ALL", "ALL", "2", 30, 12.0, 28.0, 0.6, 1),
            ("ALL", "ALL", "ALL", 100, 10.0, 24.0, 0.74, 2),
        ],
        columns=RESPONSE_COLUMNS,
    ).to_csv(folder / "response.csv", index=False)
    duals = pd.read_csv(folder / "duals.csv")
    duals["reserve_hours"] = [62.0 if s == "S01" else 0.0 for s in duals["station_id"]]
    duals.to_csv(folder / "duals.csv", index=False)
    return folder


def test_execution_shows_adherence_response_and_reserve_furthest_off_plan_first(demo_run, tmp_path):
    folder = executed(demo_run, tmp_path)
    page = render_report([folder], "en")
    section = page[page.index("Execution of last month") : page.index("Terms used")]
    adherence = section[section.index("Adherence:") : section.index("Response times,")]
    rows = re.findall(r"<tr><td>(S\d\d|all stations)</td>", adherence)
    assert rows == ["S02", "S01", "S03", "all stations"]  # furthest off plan first
    assert "<td>40.0%</td>" in adherence and "<td>20.0%</td>" in adherence
    response = section[section.index("Response times,") : section.index("by priority")]
    assert re.findall(r"<tr><td>(S\d\d|all stations)</td>", response) == [
        "S01",
        "S02",
        "all stations",
    ]
    assert "<td>55.0%</td>" in response and "<td>31.0</td>" in response
    shifts = pd.read_csv(folder / "duals.csv").query("station_id == 'S01'")["shift"].nunique()
    assert f"Hours reserved for response before planning: {62 * shifts}" in section
    duals = pd.read_csv(folder / "duals.csv")
    duals.drop(columns="reserve_hours").to_csv(folder / "duals.csv", index=False)
    duals[["station_id", "shift", "reserve_hours"]].to_csv(folder / "reserve.csv", index=False)
    from_reserve = render_report([folder], "en")  # the reserve as the execution step writes it
    assert f"Hours reserved for response before planning: {62 * shifts}" in from_reserve
    zh = render_report([folder], "zh")
    assert "上月方案执行情况" in zh and "按时到达比例" in zh and "预留警时" in zh
    for name in ("adherence.csv", "response.csv", "reserve.csv"):
        (folder / name).unlink(missing_ok=True)
    plain = render_report([folder], "en")
    assert "Execution of last month" not in plain  # without the files, no section


def with_missions(demo_run: Path, folder: Path, unplaced: dict) -> Path:
    """A copy of the demo run with a `missions_summary.csv` row for every station and shift of
    its duals: 40 h on scene of 40 h planned, 5 h of drive, a 300 min longest route (478 min
    in the first row), and `unplaced` hours where given ((station, shift) → hours) on top of
    the planned ones."""
    shutil.copytree(demo_run, folder)
    duals = pd.read_csv(folder / "duals.csv")
    rows = [
        (s, h, 2, 40.0 + unplaced.get((s, h), 0.0), 40.0, 5.0, unplaced.get((s, h), 0.0), 300)
        for s, h in zip(duals["station_id"], duals["shift"], strict=True)
    ]
    summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    summary.loc[0, "longest_route_min"] = 478
    write_outputs(folder, {MISSIONS_SUMMARY: summary})
    return folder


def test_missions_section_names_every_station_shift_with_unplaced_hours(demo_run, tmp_path):
    unplaced = {("S03", "night"): 12.5, ("S01", "day"): 0.01}
    folder = with_missions(demo_run, tmp_path / "run", unplaced)
    rows = len(pd.read_csv(folder / "duals.csv"))
    page = render_report([folder], "en")
    section = page[page.index("Missions: what the patrol units carry") :]
    lp = 40 * rows + 12.51
    assert (
        f"On the units&#39; routes {40 * rows / lp:.1%} of the {lp:,.1f} planned officer-hours "
        "are spent on scene; 12.5 h could not be placed in any route; the longest route takes "
        "478 min."
    ) in section
    night = "S03 " + load_runs([folder])[0].station_names["S03"]
    assert f"{night}, night shift: 12.5 of its 52.5 planned officer-hours" in section
    assert "S01" in section and ", day shift: &lt; 0.1 of its 40.0 planned" in section
    table_rows = re.findall(r"<tr><td>(S\d\d)</td>", section[: section.index("</table>")])
    assert table_rows[:2] == ["S03", "S01"]  # the unplaced hours first
    for heading in ("Planned (h)", "On scene (h)", "Driving (h)", "Unplaced (h)",
                    "Longest route (min)"):  # fmt: skip
        assert f"<th>{heading}</th>" in section, heading
    zh = render_report([folder], "zh")
    assert "巡逻任务：各巡逻组承担的方案警时" in zh and "<th>未排入（小时）</th>" in zh
    assert "夜班：计划 52.5 警力小时中有 12.5 小时未能排入任何路线。" in zh


def test_missions_section_says_when_every_hour_is_placed_and_how_many_rows_it_leaves(
    demo_run, tmp_path, monkeypatch
):
    folder = with_missions(demo_run, tmp_path / "run", {})
    monkeypatch.setattr(render_module, "MISSION_TABLE_ROWS", 2)
    page = render_report([folder], "en")
    assert "Every planned officer-hour is placed in a route." in page
    more = len(pd.read_csv(folder / "duals.csv")) - 2
    assert f"The table lists the first 2 station-shifts; {more} more are in" in page
    (folder / MISSIONS_SUMMARY).unlink()
    assert "Missions:" not in render_report([folder], "en")
