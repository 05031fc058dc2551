"""Printable mission sheets (SPEC §16) from a tiny run folder (`missions_data.py`): each unit's
stops in order with times, the drive back and totals, a route map drawn offline, both
languages, both output formats, `patrolopt sheets` and its errors on malformed runs."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from urllib.parse import unquote

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from missions_data import DAYS, PLAN_MONTH, ROUTES, STOPS, tiny_missions, tiny_run, twin

from optimizer.cli import main
from optimizer.mission_files import read_missions
from optimizer.sheets import file_name, mission_sheets, sheet_page

HOSTILE = '<img src=x onerror="alert(1)">'


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return tiny_run(tmp_path_factory.mktemp("run") / PLAN_MONTH / "baseline")


def rows(page: str, unit: str) -> list[list[str]]:
    """The cells of unit `unit`'s table, row by row, as text."""
    section = re.search(rf"<h3>Unit {unit} ·.*?</table>", page, flags=re.S).group(0)
    return [
        [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", section, flags=re.S)
        if "<td" in row
    ]


def test_a_sheet_lists_each_units_stops_with_times_the_drive_back_and_totals(run):
    page = mission_sheets(run, station="S01", date="2026-01-01")["S01/2026-01-01.html"]
    assert "Mission sheet · 甲派出所 (S01)" in page and "2026-01-01 · Thursday" in page
    assert rows(page, "S01-day-2") == [
        ["", "07:30", "Leave the station", "", ""],
        ["1", "07:36–07:48", "465_4432", "12", "6"],
        ["2", "07:54–08:06", "466_4432", "12", "6"],
        ["", "08:11", "Back at the station", "", "5"],
        ["", "Total", "2 stop(s)", "24", "17"],
    ]
    assert "crew of 2" in page and "0.8 officer-hours on scene" in page  # 24 min × 2 officers
    units = re.findall(r"<h3>Unit (\S+) ·", page)
    assert units == ["S01-day-1", "S01-day-2", "S01-night-1", "S01-night-2"]
    assert page.index("Shift: day · 07:00–23:00") < page.index("Shift: night · 23:00–07:00")


def test_times_after_midnight_carry_the_next_day_and_the_night_keeps_its_start_date(run):
    page = mission_sheets(run, station="S02", date="2026-01-01")["S02/2026-01-01.html"]
    assert rows(page, "S02-night-2")[2:4] == [
        ["2", "23:54–00:06 (+1)", "466_4432", "12", "6"],
        ["", "00:11 (+1)", "Back at the station", "", "5"],
    ]
    next_day = mission_sheets(run, station="S02", date="2026-01-02")["S02/2026-01-02.html"]
    assert rows(next_day, "S02-night-2")[0] == ["", "23:30", "Leave the station", "", ""]


def test_each_unit_gets_a_route_map_and_a_printed_page(run):
    page = mission_sheets(run, station="S01", date="2026-01-02")["S01/2026-01-02.html"]
    assert "<script" not in page and "http" not in page.replace("http-equiv", "")  # offline
    paths = re.findall(r'<polyline class="route" points="([^"]+)"', page)
    assert len(paths) == 4  # one per unit
    station, north, east, back = [tuple(map(float, p.split(","))) for p in paths[0].split()]
    assert station == back and north[0] == station[0] and north[1] < station[1]
    assert east[1] == north[1] and east[0] > north[0]  # stop 2 due east of stop 1
    home = re.search(r'<rect class="home" x="([\d.]+)" y="([\d.]+)"', page).groups()
    assert tuple(map(float, home)) == station
    assert page.count('<g class="stop">') == 8 and ">1</text>" in page and ">2</text>" in page
    assert "@page{size:A4" in page and ".unit{break-after:page" in page


def test_a_sheet_speaks_the_plans_language(run):
    page = mission_sheets(run, station="S02", date="2026-01-02", lang="zh")
    page = page["S02/2026-01-02.html"]
    for words in ("巡逻任务单 · 乙派出所 (S02)", "星期五", "班次：白班", "巡逻组 S02-night-1",
                  "警员 2 人", "返回所里", "2 个站点"):  # fmt: skip
        assert words in page, words
    assert '<html lang="zh-CN">' in page


def test_a_day_without_units_says_so(run):
    page = mission_sheets(run, station="S01", date="2026-01-31")["S01/2026-01-31.html"]
    assert "No patrol unit of this station is on duty this day." in page
    assert "<section" not in page


def test_parquet_runs_give_the_same_sheets(run, tmp_path):
    files = tiny_missions()
    parquet = tiny_run(tmp_path / PLAN_MONTH / "baseline", files={})
    for name in (STOPS, ROUTES):
        files[name].to_parquet(parquet / twin(name), index=False)
    assert not (parquet / STOPS).exists() and (parquet / twin(ROUTES)).exists()
    assert mission_sheets(parquet, date="2026-01-02") == mission_sheets(run, date="2026-01-02")


def test_names_from_the_data_reach_the_sheet_only_escaped(tmp_path):
    files = tiny_missions()
    for name in (STOPS, ROUTES):
        files[name]["unit_id"] = files[name]["unit_id"].str.replace("S01-day-1", HOSTILE)
    files[STOPS]["cell_id"] = "<script>alert(2)</script>"
    folder = tiny_run(tmp_path / PLAN_MONTH / "baseline", files)
    page = sheet_page(read_missions(folder), "S01", "2026-01-01")
    assert "<img" not in page and "<script" not in page
    assert "Unit &lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page


def test_patrolopt_sheets_writes_one_page_per_station_and_day(run, tmp_path):
    out = tmp_path / "sheets"
    done = CliRunner().invoke(main, ["sheets", str(run), "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert "62 mission sheet(s) written" in done.output  # 2 stations × 31 days
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html"))[:2] == [
        "S01/2026-01-01.html",
        "S01/2026-01-02.html",
    ]
    one = tmp_path / "one"
    args = ["--lang", "zh", "sheets", str(run), "--station", "S02", "--date", DAYS[1]]
    done = CliRunner().invoke(main, [*args, "--out", str(one)])
    assert done.exit_code == 0, done.output
    assert [p.relative_to(one).as_posix() for p in one.rglob("*.html")] == ["S02/2026-01-02.html"]
    assert "乙派出所" in (one / "S02" / "2026-01-02.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--station", "S99"], "missions.csv:0:station_id: no station 'S99' in this run"),
        (["--date", "2026-02-01"], "plan.json:0:plan_month: '2026-02-01' is not a day of"),
        (["--date", "1 Jan"], "plan.json:0:plan_month: '1 Jan' is not a day of"),
    ],
)
def test_a_station_or_day_outside_the_run_is_bad_input(run, tmp_path, args, message):
    out = tmp_path / "sheets"
    done = CliRunner().invoke(main, ["sheets", str(run), *args, "--out", str(out)])
    assert done.exit_code == 2 and message in done.output, done.output
    assert not out.exists()


def spoil(run: Path, folder: Path, name: str, change) -> Path:
    """A copy of `run` whose file `name` is read, changed by `change`, and written back."""
    shutil.copytree(run, folder)
    path = folder / name
    if name.endswith(".geojson"):
        data = json.loads(path.read_text(encoding="utf-8"))
        change(data)
        path.write_text(json.dumps(data), encoding="utf-8")
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        path.write_text(change(frame).to_csv(index=False), encoding="utf-8")
    return folder


def test_malformed_mission_files_are_named_by_file_row_and_column(run, tmp_path):
    def bad_cells(frame):
        frame.loc[1, "arrive"] = "07:24"
        frame.loc[4, "stop"] = "first"
        return frame

    def not_a_line(data):
        data["features"][2]["geometry"] = {"type": "Point", "coordinates": [116.4, 39.9]}

    cases = {
        "cells": (STOPS, bad_cells, ["missions.csv:3:arrive: not an ISO 8601 date-time: '07:24'",
                                     "missions.csv:6:stop: not a number: 'first'"]),
        "column": (STOPS, lambda f: f.drop(columns="officers"),
                   ["missions.csv:1:officers: required column is missing"]),
        "line": (ROUTES, not_a_line, ["missions.geojson:3:geometry: not a LineString"]),
    }  # fmt: skip
    for case, (name, change, messages) in cases.items():
        folder = spoil(run, tmp_path / case / PLAN_MONTH / "baseline", name, change)
        done = CliRunner().invoke(main, ["sheets", str(folder), "--out", str(tmp_path / "x")])
        assert done.exit_code == 2, (case, done.output)
        for message in messages:
            assert f"{folder / message}" in done.output, (case, done.output)
    assert not (tmp_path / "x").exists()


def test_a_run_without_missions_or_a_folder_that_is_no_run_is_bad_input(run, tmp_path):
    older = tmp_path / "older"
    shutil.copytree(run, older)
    (older / STOPS).unlink()
    done = CliRunner().invoke(main, ["sheets", str(older), "--out", str(tmp_path / "x")])
    assert done.exit_code == 2
    assert f"{older / STOPS}:0:: missing: this run has no missions" in done.output
    done = CliRunner().invoke(main, ["sheets", str(tmp_path), "--out", str(tmp_path / "x")])
    assert done.exit_code == 2 and f"{tmp_path / 'plan.json'}:0:: missing" in done.output
    assert not (tmp_path / "x").exists()


def test_stations_without_a_name_show_their_id(tmp_path):
    folder = tiny_run(tmp_path / PLAN_MONTH / "baseline")
    (folder / "jurisdictions.geojson").unlink()
    page = mission_sheets(folder, station="S01", date="2026-01-01")["S01/2026-01-01.html"]
    assert "<h1>Mission sheet · S01</h1>" in page


def test_routes_of_another_projection_are_drawn_in_wgs84(run, tmp_path):
    files = tiny_missions()
    files[ROUTES] = files[ROUTES].to_crs("EPSG:32650")
    folder = tiny_run(tmp_path / PLAN_MONTH / "baseline", files)
    route = read_missions(folder).routes.geometry.iloc[0]
    assert shapely.equals_exact(route, tiny_missions()[ROUTES].geometry.iloc[0], tolerance=1e-7)


@given(st.text(min_size=1, max_size=12))
def test_a_station_id_becomes_one_safe_file_name_that_reads_back(station):
    name = file_name(station)
    assert "/" not in name and "\\" not in name and not name.startswith(".")
    assert unquote(name) == station


def test_station_ids_are_folders_inside_the_output(tmp_path):
    files = tiny_missions()
    for name in (STOPS, ROUTES):
        files[name]["station_id"] = files[name]["station_id"].replace({"S01": "../up"})
    folder = tiny_run(tmp_path / PLAN_MONTH / "baseline", files)
    out = tmp_path / "sheets"
    pages = CliRunner().invoke(main, ["sheets", str(folder), "--date", DAYS[0], "--out", str(out)])
    assert pages.exit_code == 0, pages.output
    assert sorted(p.parent.name for p in out.rglob("*.html")) == ["%2E.%2Fup", "S01", "S02"]
    assert gpd.read_file(folder / ROUTES)["station_id"].iloc[0] == "../up"


def test_a_unit_without_stops_stays_on_call_and_one_without_a_route_has_no_return(tmp_path):
    files = tiny_missions()
    stops, routes = files[STOPS], files[ROUTES]
    files[STOPS] = stops[stops["unit_id"] != "S01-day-1"]
    files[ROUTES] = routes[routes["unit_id"] != "S01-day-2"]
    folder = tiny_run(tmp_path / PLAN_MONTH / "baseline", files)
    page = mission_sheets(folder, station="S01", date="2026-01-01")["S01/2026-01-01.html"]
    on_call = page[page.index("<h3>Unit S01-day-1") : page.index("<h3>Unit S01-day-2")]
    assert "No stops: the unit stays on call at the station." in on_call
    assert "crew of –" in on_call and "<polyline" in on_call  # its route is still drawn
    assert rows(page, "S01-day-2") == [
        ["", "07:30", "Leave the station", "", ""],
        ["1", "07:36–07:48", "465_4432", "12", "6"],
        ["2", "07:54–08:06", "466_4432", "12", "6"],
        ["", "Total", "2 stop(s)", "24", "12"],  # the drive to its stops, no way back known
    ]
