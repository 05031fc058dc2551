"""Missions on the desk (SPEC §14, §16): planners and leaders see every station's missions and
sheets, a station its own only; the mission tables through the API with a station's rows
filtered, in CSV and Parquet runs alike; unknown stations and days are 404."""

from __future__ import annotations

import io
import re

import geopandas as gpd
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from optimizer.manifest import default_store_url
from optimizer.serve.app import create_app
from optimizer.serve.deps import Settings
from tests.missions_data import ROUTES, STOPS, tiny_missions, twin
from tests.serve_helpers import PASSWORDS, STATION, browser, publish_copy, served_copy, signed_in

RUN = "/runs/2026-01/missions"
API = "/api/runs/2026-01/missions"
MISSION_TABLES = ("missions", "routes", "missions_summary")


@pytest.fixture(scope="module")
def out(demo_run, tmp_path_factory):
    """The served demo output with three more runs of the demo plan: `missions` with the tiny
    mission files, `parquet` with them as Parquet ([output] schedule_format), `bare` with no
    mission files (a plan made before missions)."""
    out = served_copy(demo_run, tmp_path_factory.mktemp("missions"))
    files = tiny_missions()
    publish_copy(out, demo_run, "missions", files)
    as_parquet = {twin(name) if name in (STOPS, ROUTES) else name: f for name, f in files.items()}
    publish_copy(out, demo_run, "parquet", as_parquet, leave_out=(STOPS, ROUTES))
    no_missions = (STOPS, ROUTES, "missions_summary.csv", "missions_done.csv")
    publish_copy(out, demo_run, "bare", leave_out=no_missions)
    return out


@pytest.fixture(scope="module")
def api(out):
    """A client of the API and a bearer token per role."""
    settings = Settings(out=out, db=default_store_url(out), users_file=out / "users.toml")
    with TestClient(create_app(settings)) as client:
        auth = {}
        for role, password in PASSWORDS.items():
            token = client.post("/api/token", data={"username": role, "password": password})
            auth[role] = {"Authorization": f"Bearer {token.json()['access_token']}"}
        yield client, auth


def test_missions_page_lists_every_station_for_planners_and_its_own_for_a_station(out):
    names = gpd.read_file(out / "2026-01" / "missions" / "jurisdictions.geojson")
    names = names.set_index("station_id")["name"]
    planner = signed_in(out, "planner").get(f"{RUN}/missions")
    assert planner.status_code == 200
    rows = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(\d+)</td>", planner.text)
    assert [(s, n) for s, n, _ in rows] == list(names.items())  # every station of the run
    assert {s: int(u) for s, _, u in rows if int(u)} == {"S01": 4, "S02": 4}
    assert f'href="{RUN}/sheets/S02/2026-01-31?lang=en"' in planner.text
    assert planner.text.count("/sheets/S01/") == 31  # every day of January
    station = signed_in(out, "station").get(f"{RUN}/missions?lang=zh")
    assert station.status_code == 200 and "巡逻任务与任务单" in station.text
    assert "/sheets/S01/2026-01-01" in station.text and "/sheets/S02/" not in station.text
    assert names["S01"] in station.text and names["S02"] not in station.text
    for role in ("trainer", "admin"):
        assert signed_in(out, role).get(f"{RUN}/missions").status_code == 403
    assert browser(out).get(f"{RUN}/missions").status_code == 401


def test_runs_page_links_the_missions_of_runs_that_have_them(out):
    page = signed_in(out, "planner").get("/").text
    assert f'href="{RUN}/missions?lang=en"' in page
    assert "/runs/2026-01/bare/missions" not in page  # a plan made before missions
    assert f"{API}/missions?format=csv" in page and f"{API}/missions_summary?format=csv" in page
    assert "/missions?lang" not in signed_in(out, "trainer").get("/").text
    station = signed_in(out, "station").get("/").text  # only the plan its month carries out
    assert f'href="{RUN}/missions' not in station and "/runs/2026-01/baseline/missions" in station


def test_sheet_page_for_planners_and_the_stations_own_units(out):
    planner = signed_in(out, "planner")
    sheet = planner.get(f"{RUN}/sheets/S02/2026-01-01")
    assert sheet.status_code == 200 and "Mission sheet · " in sheet.text and "(S02)" in sheet.text
    assert "23:54–00:06 (+1)" in sheet.text and "<script" not in sheet.text
    csp = sheet.headers["content-security-policy"]
    assert "script-src 'none'" in csp and "sandbox" in csp
    zh = planner.get(f"{RUN}/sheets/S02/2026-01-01?lang=zh")
    assert "巡逻任务单 · " in zh.text and "返回所里" in zh.text
    station = signed_in(out, "station")
    assert station.get(f"{RUN}/sheets/{STATION}/2026-01-02").status_code == 200
    assert station.get(f"{RUN}/sheets/S02/2026-01-02").status_code == 403
    assert signed_in(out, "trainer").get(f"{RUN}/sheets/S01/2026-01-02").status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        f"{RUN}/sheets/S01/2026-02-01",  # a day of another month
        f"{RUN}/sheets/S01/yesterday",
        f"{RUN}/sheets/S99/2026-01-01",  # no such station
        "/runs/2026-01/bare/sheets/S01/2026-01-01",  # a run without missions
        "/runs/2026-01/bare/missions",
        "/runs/2026-01/nothing/missions",
    ],
)
def test_unknown_days_stations_and_runs_are_404(out, path):
    answer = signed_in(out, "leader").get(path)
    assert answer.status_code == 404 and "No such plan." in answer.text


@pytest.mark.parametrize("run", ["missions", "parquet"])
@pytest.mark.parametrize("table", MISSION_TABLES)
def test_a_station_reads_its_own_mission_rows_and_the_aid_in_its_cells(api, run, table):
    client, auth = api
    path = f"/api/runs/2026-01/{run}/{table}"
    everything = client.get(path, headers=auth["planner"]).json()
    assert {r["station_id"] for r in everything} == {"S01", "S02"}
    own = client.get(path, headers=auth["station"]).json()
    plain = [{k: v for k, v in r.items() if k != "aid"} for r in own]
    assert all(r in everything for r in plain)
    mine = [r for r in everything if r["station_id"] == STATION]
    assert [r for r in plain if r["station_id"] == STATION] == mine and mine
    assert all(r["aid"] for r in own if r["station_id"] != STATION)  # others' visits: aid
    other = client.get(path, params={"station": "S02"}, headers=auth["station"]).json()
    assert all(r["aid"] for r in other)
    text = client.get(path, params={"format": "csv"}, headers=auth["station"]).text
    rows = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    assert (rows["station_id"] == STATION).sum() == len(mine)
    assert client.get(path, headers=auth["trainer"]).status_code == 403


def test_mission_tables_read_alike_from_csv_and_parquet(api, out):
    client, auth = api
    leader = auth["leader"]
    for table in ("missions", "routes"):
        csv_rows = client.get(f"{API}/{table}", headers=leader).json()
        parquet_rows = client.get(f"/api/runs/2026-01/parquet/{table}", headers=leader).json()
        assert len(csv_rows) == len(parquet_rows) == (32 if table == "missions" else 16)
        assert [r["unit_id"] for r in csv_rows] == [r["unit_id"] for r in parquet_rows]
    first = client.get("/api/runs/2026-01/parquet/missions", headers=leader).json()[0]
    assert first["arrive"] == "2026-01-01T07:06" and first["stop"] == 1
    whole = client.get(f"{API}/missions", params={"format": "csv"}, headers=leader)
    assert whole.content == (out / "2026-01" / "missions" / STOPS).read_bytes()
    parquet_csv = client.get("/api/runs/2026-01/parquet/missions?format=csv", headers=leader)
    assert pd.read_csv(io.StringIO(parquet_csv.text)).shape == (32, 13)
    runs = {r["scenario"]: r["tables"] for r in client.get("/api/runs", headers=leader).json()}
    assert set(MISSION_TABLES) <= set(runs["parquet"]) and "missions" not in runs["bare"]
    route = client.get(f"{API}/routes", headers=leader).json()[0]
    assert re.match(r"LINESTRING \(116\.4 39\.9, ", route["geometry"])
