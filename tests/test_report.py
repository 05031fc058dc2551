"""The leadership report from its run folders: flagged stations, scenarios compared side by side
in both languages, missing files named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from optimizer.cli import main
from optimizer.report import flagged_stations, render_report


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
    assert "Differences against baseline" in text and "Δ shifted" in text
    assert ">+100</text>" in text and ">-100</text>" in text  # S02 gained, S01 lost
    assert text.count('<section class="scenario">') == 3  # one difference block, two columns
    zh = render_report(list(two_scenarios), "zh")
    assert "与 baseline 的差异" in zh and "各所巡逻警时" in zh


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
