"""Scenarios compared like for like (SPEC §18): each against the baseline of its month, its harm
covered on the baseline's measure beside its own where it weighs harm differently, one sentence
of what it gains and costs; the outcome said without a verdict where nothing compares; no raw id
on the Chinese page."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from models.config import AllocationConfig
from optimizer.report import key_figures, load_runs, render_report
from optimizer.report.figures import (
    Measure,
    baseline_of,
    covered_share,
    evaluation_verdicts,
    measure_of,
)
from tests.test_report import figure_row


def test_harm_covered_is_risk_times_the_concave_benefit_over_the_measures_total():
    """Two cells of one shift, risks 2 and 1, cap 60 h, slopes 0.01 / 0.005 / 0.002 per hour
    up to 15 / 30 / 60 h: 15 h cover 2 × 0.15, 30 h cover 1 × (0.15 + 0.075); of 3 units."""
    risk = pd.Series([2.0, 1.0], index=pd.MultiIndex.from_tuples([("a", "day"), ("b", "day")]))
    measure = Measure(risk, AllocationConfig())
    run = SimpleNamespace(
        allocation=pd.DataFrame(
            {"cell_id": ["a", "b", "b", "c"], "shift": "day", "hours": [15.0, 20.0, 10.0, 9.0]}
        )
    )  # b's 30 h split between its station and a lender; c has no risk in the measure
    assert covered_share(run, measure) == pytest.approx((0.3 + 0.225) / 3)


def with_plan(folder: Path, **changes: object) -> None:
    plan = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
    plan.update(changes)
    (folder / "plan.json").write_text(json.dumps(plan), encoding="utf-8")


@pytest.fixture
def campaign(demo_run, tmp_path) -> tuple[Path, Path, Path]:
    """The demo's baseline; `moved` shifts 250 h from S01 to S02; `campaign` patrols as the
    baseline does but doubles the forecast harm of S02's cells (a harm campaign)."""
    baseline, moved, campaign = (tmp_path / n for n in ("baseline", "moved", "campaign"))
    for folder in (baseline, moved, campaign):
        shutil.copytree(demo_run, folder)
    with_plan(moved, scenario="moved")
    alloc = pd.read_csv(moved / "allocation.csv", keep_default_na=False)
    s01, s02 = alloc["station_id"] == "S01", alloc["station_id"] == "S02"
    alloc.loc[s01, "hours"] *= 1 - 250 / alloc.loc[s01, "hours"].sum()
    alloc.loc[s02, "hours"] += 250 / s02.sum()
    alloc.to_csv(moved / "allocation.csv", index=False)
    risk = pd.read_csv(campaign / "risk.csv", keep_default_na=False)
    risk.loc[risk["station_id"] == "S02", "risk"] *= 2
    risk.to_csv(campaign / "risk.csv", index=False)
    with_plan(
        campaign,
        scenario="campaign",
        deltas={"officers": {}, "harm": {"burglary": 1.5}, "stability": True},
    )
    own = covered_share(load_runs([campaign])[0], measure_of(load_runs([campaign])[0]))
    with_plan(campaign, harm_covered_share=own)
    return baseline, moved, campaign


def test_a_harm_campaign_is_shown_on_the_baselines_measure_with_a_note(campaign):
    baseline, moved, campaign_run = campaign
    runs = load_runs([campaign_run, moved, baseline])  # the baseline is found by name
    figures = key_figures(runs, "en").set_index("scenario")
    base_share = json.loads((baseline / "plan.json").read_text())["harm_covered_share"]
    assert set(figures["baseline"]) == {"baseline"}
    # the same hours as the baseline: on the baseline's measure, the same share
    assert figures.loc["campaign", "harm_baseline"] == pytest.approx(base_share, abs=1e-12)
    assert abs(figures.loc["campaign", "harm"] - base_share) > 0.001  # another measure
    assert figures.loc["campaign", "measure"] == (
        "its own figure counts forecast harm on another measure (harm of burglary ×1.5); "
        "compare the figure on the baseline's measure."
    )
    assert figures.loc["moved", "measure"] == "" and figures.loc["baseline", "measure"] == ""
    assert figures.loc["campaign", "sentence"] == (
        "Patrols as many officer-hours as the baseline, 0.0 h of them placed differently and "
        "covers as much of the baseline's forecast harm; no station loses more than 10% of "
        "its hours."
    )
    loss = figures.loc["moved", "harm_baseline"] - base_share
    assert figures.loc["moved", "sentence"] == (
        "Patrols as many officer-hours as the baseline, 500.0 h of them placed differently and "
        f"covers {abs(loss) * 100:.1f} points {'less' if loss < 0 else 'more'} of the "
        "baseline's forecast harm; 1 station(s) lose more than 10% of their hours (S01)."
    )
    page = render_report([campaign_run, moved, baseline], "en")
    assert figure_row(page, "Forecast harm covered")[0] == (
        f"{figures.loc['campaign', 'harm']:.1%} † own measure"
    )
    assert figure_row(page, "Forecast harm covered, on the baseline&#39;s measure") == [
        f"{base_share:.1%}",
        f"{figures.loc['moved', 'harm_baseline']:.1%} ({loss * 100:+.1f} pp)",
        f"{base_share:.1%}",
    ]
    assert "† campaign: its own figure counts forecast harm on another measure" in page
    assert figure_row(page, "Scenario changes")[0] == "harm of burglary ×1.5"
    zh = render_report([campaign_run, moved, baseline], "zh")
    assert "按基准方案口径" in zh and "† 本方案口径" in zh
    assert "1 个派出所警时减少超过 10%（S01）" in zh


def test_the_baseline_is_the_run_named_baseline_of_the_month_else_its_first(campaign, tmp_path):
    baseline, moved, campaign_run = campaign
    later = tmp_path / "later"
    shutil.copytree(moved, later)
    with_plan(later, plan_month="2026-02", month="2026-01")
    runs = load_runs([moved, later, baseline, campaign_run])
    assert [baseline_of(r, runs).plan["scenario"] for r in runs] == [
        "baseline",
        "moved",  # the only run of 2026-02
        "baseline",
        "baseline",
    ]
    runs = load_runs([moved, campaign_run])
    assert [baseline_of(r, runs).plan["scenario"] for r in runs] == ["moved", "moved"]


def evaluation(**rows: list) -> pd.DataFrame:
    columns = [
        "station_id", "treated_cells", "control_cells", "before_treated", "after_treated",
        "before_control", "after_control", "wdd", "z",
        "dose_response", "dose_response_low", "dose_response_high",
    ]  # fmt: skip
    return pd.DataFrame([[k, *v] for k, v in rows.items()], columns=columns)


def test_without_comparable_cells_no_verdict_and_only_the_dose_response_speaks():
    """The demo's kind of outcome: no comparable cells anywhere (control_cells = 0), the
    dose–response interval excluding zero."""
    frame = evaluation(
        S02=[46, 0, 57, 55, 0, 0, -2, -0.19, 0.71, -2.72, 4.14],
        S03=[54, 0, 153, 123, 0, 0, -30, -1.81, -4.6, -7.7, -1.5],
        S04=[20, 10, 100, 80, 50, 50, -20, -2.5, float("nan"), float("nan"), float("nan")],
    )
    verdicts = evaluation_verdicts(frame, "en").set_index("station_id")
    assert verdicts.loc["S03", "verdict"] == (
        "Planned hours (WDD): no comparison possible, too few comparable cells without added "
        "hours to tell what patrol did from what would have happened anyway (54 cells given "
        "more hours). Delivered hours (dose–response: harm against "
        "hours patrolled, cell by cell): each 100 more hours delivered went with 4.6 fewer harm "
        "units (95 % interval −7.7 to −1.5), unlikely to be chance."
    )
    assert "z =" not in verdicts.loc["S03", "verdict"]
    assert verdicts.loc["S03", ["wdd", "z"]].tolist() == ["", ""]
    assert verdicts.loc["S02", "verdict"].endswith(
        "no clear link, 0.7 harm units per 100 hours delivered (95 % interval −2.7 to 4.1), "
        "could be chance."
    )
    assert verdicts.loc["S04", "verdict"] == (
        "Planned hours (WDD: crime in cells given more hours against comparable cells): "
        "Where hours were added crime fell 20%, in comparable cells it stayed level: 20 points "
        "better; z = −2.50, unlikely to be chance."
    )
    assert verdicts.loc["S04", ["wdd", "z"]].tolist() == ["-20", "-2.50"]
    zh = evaluation_verdicts(frame, "zh").set_index("station_id")
    assert zh.loc["S03", "verdict"].startswith("计划增加的警时（WDD）：无法比较")


RAW_IDS = (
    "treated_cells", "control_cells", "before_control", "dose_response_low", "major_case",
    "total_weight", "time_offset_converted", "duplicate_ping", "ALL", "baseline", "Optimal",
    "shift", "by_station", "by_course", "demand", "unmet",
)  # fmt: skip


def page_text(page: str) -> str:
    """What a reader sees of a page: no style, markup or attributes."""
    page = re.sub(r"<style>.*?</style>", "", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_the_chinese_report_shows_no_raw_id(campaign):
    baseline, moved, _ = campaign
    quality = pd.read_csv(baseline / "quality.csv", keep_default_na=False, dtype=str)
    extra = quality.iloc[:1].assign(check="time_offset_converted")
    pd.concat([quality, extra]).to_csv(baseline / "quality.csv", index=False)
    pd.DataFrame(
        {
            "station_type": ["urban"], "temporary": [0.1], "subjective": [0.2], "public": [0.3],
            "prevention": [30], "major_case": [40], "service": [20], "compliance": [10],
            "total_weight": [100],
        }
    ).to_csv(baseline / "policy.csv", index=False)  # fmt: skip
    text = page_text(render_report([baseline, moved], "zh"))
    found = [word for word in RAW_IDS if re.search(rf"(?<![\w.]){word}(?![\w.])", text)]
    assert found == []
    assert "基准方案" in text and "最优" in text and "全部派出所" in text
