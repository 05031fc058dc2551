"""Malformed inputs beyond the data folder's tables: scenario deltas, a previous plan given as a
file, undecodable bytes, cross-key config rules, months without data. Each is exit 2 with
`file:row:column` messages (or a plain --month message) and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from models.contracts import load_bureau
from models.scenarios import scenario_name_problem
from optimizer.cli import main
from optimizer.stages import spatial


def _refused(result, out) -> str:
    """The output of a refused command, after checking it failed cleanly and wrote nothing."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert not out.exists()
    return result.output


def test_scenario_deltas_must_name_known_stations_and_categories(demo_data, tmp_path):
    scenario = tmp_path / "bad.toml"
    scenario.write_text(
        'name = "bad"\n[deltas]\nharm = { nosuch = 3.0, theft = 1.5 }\n'
        'officers = { S99 = 0.1, "*" = 0.05, S01 = -2 }\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    args = ["--data", str(demo_data), "--month", "2025-12", "--out", str(out)]
    result = CliRunner().invoke(main, ["run", *args, "--scenario", str(scenario)])
    text = _refused(result, out)
    assert "bad.toml:3:deltas.harm.nosuch: unknown offence category 'nosuch'" in text
    assert "bad.toml:4:deltas.officers.S99: unknown station 'S99'" in text
    assert "bad.toml:4:deltas.officers.S01: Input should be greater than or equal to -1" in text
    assert "deltas.harm.theft" not in text and "deltas.officers.*" not in text
    assert "3 problem(s)" in text


@pytest.mark.parametrize("command", ["run", "allocate"])
def test_malformed_previous_plan_is_located(command, demo_data, tmp_path):
    bad = tmp_path / "prev.csv"
    bad.write_text(
        "station_id,cell_id,shift,hours,lender_station_id\n"
        "S01,1424_13857,day,abc,\n"
        "S01,1424_13857,dusk,3,\n"
        "S02,1425_13857,night,-1,S01\n",
        encoding="utf-8",
    )
    columns = tmp_path / "columns.csv"
    columns.write_text("cell,hours\n1424_13857,3\n", encoding="utf-8")
    out = tmp_path / "out"
    args = [command, "--data", str(demo_data), "--month", "2025-12", "--out", str(out)]
    text = _refused(CliRunner().invoke(main, [*args, "--previous-plan", str(bad)]), out)
    assert "prev.csv:2:hours: not a number: 'abc'" in text
    assert "prev.csv:3:shift: 'dusk' is not one of day, evening, night" in text
    assert "prev.csv:4:hours: -1 is below the minimum 0" in text
    text = _refused(CliRunner().invoke(main, [*args, "--previous-plan", str(columns)]), out)
    assert "columns.csv:1:cell_id: required column is missing" in text
    assert "columns.csv:1:shift: required column is missing" in text
    assert "internal error" not in text


def test_previous_plan_cells_off_the_grid_are_noted(demo_data, tmp_path):
    on_grid = spatial(load_bureau(demo_data)).cells["cell_id"].iloc[0]
    prev = tmp_path / "prev.csv"
    prev.write_text(
        f"cell_id,shift,hours\n{on_grid},day,4\n8_8,day,3\n9_9,day,5\n9_9,night,2\n",
        encoding="utf-8",
    )
    free = tmp_path / "free.toml"  # a 4 h plan would cap the month's change at 1.2 h
    free.write_text('name = "free"\n[deltas]\nstability = false\n', encoding="utf-8")
    out = tmp_path / "out"
    args = ["run", "--data", str(demo_data), "--month", "2025-12", "--out", str(out)]
    result = CliRunner().invoke(
        main, [*args, "--previous-plan", str(prev), "--scenario", str(free)]
    )
    assert result.exit_code == 0, result.output
    assert "2 of 3 cells of last month's plan (10 h) are not on this grid" in result.output
    plan = json.loads((out / "2026-01" / "free" / "plan.json").read_text(encoding="utf-8"))
    assert plan["previous_plan"] == {"cells": 3, "unknown": 2, "unknown_hours": 10.0}


def test_another_bureaus_previous_plan_is_refused(demo_data, tmp_path):
    prev = tmp_path / "prev.csv"  # not one of its cells lies on this bureau's grid
    prev.write_text("cell_id,shift,hours\n8_8,day,3\n9_9,day,5\n9_9,night,2\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ["run", "--data", str(demo_data), "--month", "2025-12", "--out", str(out)]
    text = _refused(CliRunner().invoke(main, [*args, "--previous-plan", str(prev)]), out)
    assert "prev.csv:0:cell_id: none of its 2 cells lies on this bureau's 250 m grid" in text


def test_run_without_out_writes_to_plans(demo_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(main, ["run", "--data", str(demo_data), "--month", "2025-12"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "plans" / "2026-01" / "baseline" / "plan.json").exists()
    assert (tmp_path / "plans" / "plans.db").exists()
    verified = runner.invoke(main, ["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "[default: plans]" in runner.invoke(main, ["run", "--help"]).output


def test_undecodable_bytes_name_their_line_and_encodings(demo_copy):
    folder = demo_copy
    lines = (folder / "offences.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    lines[3] = lines[3].replace("入室", "\udcff", 1)  # a lone 0xff byte in a UTF-8 file
    (folder / "offences.csv").write_bytes("".join(lines).encode("utf-8", "surrogateescape"))
    rows = (folder / "indicators.csv").read_text(encoding="utf-8").encode("gb18030").split(b"\n")
    rows[5] = rows[5] + b"\xff"  # a GB18030 file, bad byte at the end of line 6 (column survey)
    (folder / "indicators.csv").write_bytes(b"\n".join(rows))
    (folder / "config.toml").write_bytes(b"[grid]\ncell_size_m = 250  # \xff\n")
    result = CliRunner().invoke(main, ["validate", "--data", str(folder)])
    assert result.exit_code == 2, result.output
    text = result.output
    bad = "cannot decode bytes b'\\xff'; tried UTF-8"
    assert f"offences.csv:4:name_zh: {bad} (fails on line 4) and GB18030" in text
    assert f"indicators.csv:6:survey: {bad} (fails on line 2) and GB18030 (fails on line 6)" in text
    assert f"config.toml:2:(file): {bad} (fails on line 2)" in text
    assert ":0:" not in text and "Traceback" not in text


def test_too_many_outside_cases_name_their_rows(demo_copy):
    folder = demo_copy
    cases = pd.read_csv(folder / "cases.csv", dtype=str, keep_default_na=False)
    cases.loc[9::50, "lat"] = "10.0"  # far south of the bureau: lines 11, 61, 111, …
    cases.to_csv(folder / "cases.csv", index=False)
    result = CliRunner().invoke(main, ["validate", "--data", str(folder)])
    assert result.exit_code == 2, result.output
    assert "cases.csv:11:lat/lon: " in result.output
    assert "lie outside every jurisdiction (rows 11, 61, 111, 161, 211, …)" in result.output


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            "[scoring]\naward_places = 4\n\n[allocation]\n"
            "shift_share = { day = 0.5, evening = 0.3, night = 0.4 }\n",
            "config.toml:5:allocation.shift_share: shares must sum to 1; they sum to 1.2",
        ),
        (
            "[allocation]\nmax_hours_cell = 50\nshift_share = { day = 0.5, evening = 0.5 }\n",
            "config.toml:3:allocation.shift_share: shift_share names day, evening but "
            "shift_hours names day, evening, night; both must name the same shifts",
        ),
        (
            "[allocation]\nmax_hours_cell = 50\n"
            "shift_hours = { day = [8, 16], evening = [16, 24], night = [0, 8], late = [2, 4] }\n",
            "config.toml:3:allocation.shift_hours: shift_share names day, evening, night but "
            "shift_hours names day, evening, late, night",
        ),
        (
            "[allocation]\nbenefit_slopes = [0.01, 0.02, 0.001]\n",
            "config.toml:2:allocation.benefit_slopes: benefit_slopes must be non-negative",
        ),
    ],
)
def test_allocation_config_rules_point_at_their_key(config, expected, demo_copy):
    folder = demo_copy
    (folder / "config.toml").write_text(config, encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", "--data", str(folder)])
    assert result.exit_code == 2, result.output
    assert expected in result.output


def test_shift_shares_within_tolerance_pass(demo_copy):
    folder = demo_copy
    (folder / "config.toml").write_text(
        "[allocation]\nshift_share = { day = 0.4, evening = 0.35, night = 0.2500000001 }\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["validate", "--data", str(folder)])
    assert result.exit_code == 0, result.output


def test_case_metric_with_unknown_category(demo_copy):
    folder = demo_copy
    indicators = pd.read_csv(folder / "indicators.csv", dtype=str, keep_default_na=False)
    row = indicators.index[indicators["case_metric"] == "count:theft"][0]
    indicators.loc[row, "case_metric"] = "count:nosuch"
    indicators.to_csv(folder / "indicators.csv", index=False)
    result = CliRunner().invoke(main, ["validate", "--data", str(folder)])
    assert result.exit_code == 2, result.output
    assert (
        f"indicators.csv:{row + 2}:case_metric: unknown offence category 'nosuch' "
        "(known: burglary, fraud, public_order, robbery, theft, violence)"
    ) in result.output


@pytest.mark.parametrize("command", ["run", "score", "forecast", "allocate", "train"])
@pytest.mark.parametrize("month", ["2023-06", "2026-03"])
def test_month_without_data_is_refused(command, month, demo_data, tmp_path):
    out = tmp_path / "out"
    args = [command, "--data", str(demo_data), "--month", month, "--out", str(out)]
    text = _refused(CliRunner().invoke(main, args), out)
    if command == "run":
        assert f"the data holds no cases and no indicator values for {month}" in text
        assert "(cases from 2024-01 to 2025-12; indicator values from 2024-01 to 2025-12)" in text
    else:
        assert f"for {month} (" in text and "from 2024-01 to 2025-12" in text


@pytest.mark.parametrize(
    "name",
    [
        '""',
        '"."',
        '".."',
        '"../../x"',
        '"/tmp/elsewhere"',
        '"a/b"',
        '"a b"',
        '"x\\u0000y"',
        f'"{"n" * 65}"',
        '"春节.巡逻"',
        "3",
        "[1, 2]",
    ],
)
def test_scenario_names_that_cannot_name_a_folder(name, demo_data, tmp_path):
    scenario = tmp_path / "bad.toml"
    scenario.write_text(f"# a scenario\nname = {name}\n[allocation]\nmax_hours_cell = 50\n")
    out = tmp_path / "out"
    args = ["--data", str(demo_data), "--month", "2025-12", "--out", str(out)]
    text = _refused(CliRunner().invoke(main, ["run", *args, "--scenario", str(scenario)]), out)
    assert "bad.toml:2:name: " in text
    assert "1 problem(s)" in text


def test_scenario_stem_used_as_name_is_checked(demo_data, tmp_path):
    scenario = tmp_path / "more officers.toml"
    scenario.write_text("[allocation]\nmax_hours_cell = 50\n")
    out = tmp_path / "out"
    args = ["--data", str(demo_data), "--month", "2025-12", "--out", str(out)]
    text = _refused(CliRunner().invoke(main, ["run", *args, "--scenario", str(scenario)]), out)
    assert "more officers.toml:0:name: no name key, and the file's stem 'more officers'" in text


def test_two_scenarios_of_one_name_are_refused(demo_data, tmp_path):
    for stem in ("a", "b"):
        (tmp_path / f"{stem}.toml").write_text('name = "春节"\n', encoding="utf-8")
    out = tmp_path / "out"
    args = ["run", "--data", str(demo_data), "--month", "2025-12", "--out", str(out)]
    args += ["--scenario", str(tmp_path / "a.toml"), "--scenario", str(tmp_path / "b.toml")]
    text = _refused(CliRunner().invoke(main, args), out)
    assert "b.toml:1:name: scenario name '春节' is also the name of" in text


@pytest.mark.parametrize("name", ["baseline-2", "春节_巡逻-2", "x" * 64, "-", "A_1", "ｆｕｌｌ"])
def test_scenario_names_that_name_a_folder(name):
    assert scenario_name_problem(name) is None


@given(st.text(max_size=80))
def test_accepted_scenario_names_are_one_folder_inside_the_month(name):
    if scenario_name_problem(name) is None:
        assert name not in ("", ".", "..") and Path(name).name == name
        assert "/" not in name and "\\" not in name and "\x00" not in name
        assert 1 <= len(name) <= 64
