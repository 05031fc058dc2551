"""Missions measured against the tracks (SPEC §16 "Execution"): each planned stop visited or
not, and adherence per unit, on hand-made missions and pings whose figures are worked out
below; the missions found beside a plan file or with a stored plan; a malformed missions file
refused; the demo's units following their missions with each station's own habit.

The bureau is tests/execution_bureau.py's (S1 and S2, 250 m cells in UTM 51N). Every unit
pings once a minute with 2 officers, so a stay from the first ping in a cell to the first ping
out of it of n minutes is n minutes on scene and 2n/60 officer-hours. On 2025-12-01:

  M1 (S1)  stop 1 A 09:00, 12 min: in A 09:00–09:12, out at 09:13 → visited, 13 min on scene
           stop 2 C 10:00, 10 min: in B 09:13–10:29, in C 10:30–10:36, out at 10:37
           → arrived 30 min late, still on time (± 30 min): visited, 7 min on scene
  M2 (S1)  stop 1 A 13:00, 12 min: in B 13:00–13:44, in A 13:45–13:57, out at 13:58
           → 45 min late: not visited
  M3 (S1)  stop 1 C 11:00, 12 min: never pings → not visited (and flagged in quality.csv)
  M4 (S2)  stop 1 E 12:00, 12 min: in F (the next cell) 12:00–12:15, E at 12:16
           → wrong cell: not visited
  X9 (S2)  no missions: pings in E 14:00–14:10, counted in the station rows only
"""

from __future__ import annotations

import re

import execution_bureau as eb
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS

from models.contracts import load_bureau
from models.execution import (
    ADHERENCE_COLUMNS,
    adherence_table,
    execution_table,
    missions_done,
    unit_cells,
)
from models.tracks import measure_tracks
from optimizer.cli import main
from optimizer.execution import MISSION_FILES, PLANNED_STOPS, plan_missions
from optimizer.manifest import OUTPUTS, default_store_url
from optimizer.missions.columns import DONE_COLUMNS, MISSION_COLUMNS

SHIFTS, RULES = eb.SHIFTS, eb.RULES
F = (eb.X0 + 1375, eb.Y0 + 125)  # cell 1405_13840, S2
POINT = {"A": eb.A, "B": eb.B, "C": eb.C, "E": eb.E, "F": F}
CELL = {**eb.CELL, "F": "1405_13840"}
DAY = "2025-12-01"


def _track(unit: str, station: str, legs: list[tuple[str, str, str]]) -> list[dict]:
    """One ping a minute from each leg's first to its last minute (HH:MM) in its cell."""
    rows = []
    for cell, first, last in legs:
        for when in pd.date_range(f"{DAY} {first}", f"{DAY} {last}", freq="1min"):
            lon, lat = eb.lonlat(POINT[cell])
            rows.append(
                {
                    "unit_id": unit,
                    "station_id": station,
                    "recorded_at": when.strftime("%Y-%m-%dT%H:%M:%S"),
                    "lat": lat,
                    "lon": lon,
                    "status": "patrol",
                    "officers": 2,
                }
            )
    return rows


def pings() -> pd.DataFrame:
    return pd.DataFrame(
        _track("M1", "S1", [("A", "09:00", "09:12"), ("B", "09:13", "10:29")])
        + _track("M1", "S1", [("C", "10:30", "10:36"), ("B", "10:37", "10:37")])
        + _track("M2", "S1", [("B", "13:00", "13:44"), ("A", "13:45", "13:57")])
        + _track("M2", "S1", [("B", "13:58", "13:58")])
        + _track("M4", "S2", [("F", "12:00", "12:15"), ("E", "12:16", "12:16")])
        + _track("X9", "S2", [("E", "14:00", "14:10")])
    )


def missions() -> pd.DataFrame:
    rows = [  # station, unit, stop, cell, arrive, minutes
        ("S1", "M1", 1, "A", "09:00", 12),
        ("S1", "M1", 2, "C", "10:00", 10),
        ("S1", "M2", 1, "A", "13:00", 12),
        ("S1", "M3", 1, "C", "11:00", 12),
        ("S2", "M4", 1, "E", "12:00", 12),
    ]
    frame = pd.DataFrame(rows, columns=["station_id", "unit_id", "stop", "cell", "at", "minutes"])
    arrive = pd.to_datetime(DAY + " " + frame["at"])
    lonlat = [eb.lonlat(POINT[c]) for c in frame["cell"]]
    return pd.DataFrame(
        {
            "station_id": frame["station_id"],
            "date": DAY,
            "shift": "day",
            "unit_id": frame["unit_id"],
            "stop": frame["stop"],
            "cell_id": frame["cell"].map(CELL),
            "lat": [lat for _, lat in lonlat],
            "lon": [lon for lon, _ in lonlat],
            "arrive": arrive.dt.strftime("%Y-%m-%dT%H:%M"),
            "depart": (arrive + pd.to_timedelta(frame["minutes"], "min")).dt.strftime(
                "%Y-%m-%dT%H:%M"
            ),
            "minutes": frame["minutes"],
            "travel_min": 2,
            "officers": 2,
        }
    )[MISSION_COLUMNS]


EXPECTED = pd.DataFrame(
    [
        ("S1", DAY, "day", "M1", 1, CELL["A"], True, "2025-12-01T09:00", 13.0),
        ("S1", DAY, "day", "M1", 2, CELL["C"], True, "2025-12-01T10:30", 7.0),
        ("S1", DAY, "day", "M2", 1, CELL["A"], False, "", 0.0),
        ("S1", DAY, "day", "M3", 1, CELL["C"], False, "", 0.0),
        ("S2", DAY, "day", "M4", 1, CELL["E"], False, "", 0.0),
    ],
    columns=DONE_COLUMNS,
)


@pytest.fixture(scope="module")
def delivered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("missions") / "data"
    folder.mkdir()
    (folder / "stations.geojson").write_text(eb.stations().to_json(drop_id=True), "utf-8")
    pings().to_csv(folder / "patrol_tracks.csv", index=False)
    bureau = load_bureau(folder, {"stations", "patrol_tracks"})
    return measure_tracks(bureau.patrol_tracks, "2025-12", CRS(eb.CRS), "wgs84", RULES)


def _stops(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(arrive=pd.to_datetime(frame["arrive"]))


def test_each_planned_stop_visited_or_not(delivered):
    done = missions_done(_stops(missions()), delivered.visits, on_time_min=30)
    pd.testing.assert_frame_equal(done[DONE_COLUMNS], EXPECTED, check_dtype=False)


def test_a_tighter_window_misses_the_late_arrival(delivered):
    done = missions_done(_stops(missions()), delivered.visits, on_time_min=29)
    assert done["visited"].tolist() == [True, False, False, False, False]


def test_one_visit_serves_one_stop(delivered):
    """M1's stay in A from 09:00 is the nearest visit of two stops planned in A at 09:05 and
    09:20 (a wide window holds both): the nearer stop takes it, the other is not visited."""
    twice = missions().iloc[[0, 0]].reset_index(drop=True)
    twice["stop"] = [1, 2]
    twice["arrive"] = [f"{DAY}T09:20", f"{DAY}T09:05"]
    done = missions_done(_stops(twice), delivered.visits, on_time_min=60)
    assert done["visited"].tolist() == [False, True]


def test_adherence_per_unit_and_shift(delivered):
    plan = eb.plan()
    execution = execution_table(plan, delivered.dose, list(SHIFTS))
    units = unit_cells(_stops(missions()), delivered.unit_dose)
    adherence = adherence_table(execution, list(SHIFTS), units)
    assert list(adherence.columns) == ADHERENCE_COLUMNS
    rows = adherence[adherence["unit_id"] != ""].set_index(["station_id", "unit_id", "shift"])
    assert list(rows.index) == [
        ("S1", "M1", "day"),
        ("S1", "M2", "day"),
        ("S1", "M3", "day"),
        ("S2", "M4", "day"),
    ]
    hours = 2 / 60  # officer-hours of a minute
    expected = {  # planned, delivered, delivered in plan
        "M1": ((12 + 10) * hours, (13 + 77 + 7) * hours, (12 + 7) * hours),
        "M2": (12 * hours, (45 + 13) * hours, 12 * hours),
        "M3": (12 * hours, 0.0, 0.0),
        "M4": (12 * hours, 16 * hours, 0.0),
    }
    for (_, unit, _), row in rows.iterrows():
        planned, got, in_plan = expected[unit]
        assert row["planned_hours"] == pytest.approx(planned, abs=1e-6), unit
        assert row["delivered_hours"] == pytest.approx(got, abs=1e-6), unit
        assert row["delivered_in_plan_hours"] == pytest.approx(in_plan, abs=1e-6), unit
        assert row["adherence"] == pytest.approx(in_plan / planned, abs=1e-6), unit
    assert rows.loc[("S1", "M1", "day"), "off_plan_share"] == pytest.approx(77 / 97, abs=1e-6)
    assert np.isnan(rows.loc[("S1", "M3", "day"), "off_plan_share"])  # nothing delivered
    assert rows.loc[("S2", "M4", "day"), "off_plan_share"] == 1.0
    stations = adherence[adherence["unit_id"] == ""]
    pd.testing.assert_frame_equal(  # the station rows as they were without units
        stations.reset_index(drop=True), adherence_table(execution, list(SHIFTS))
    )
    last = adherence.iloc[-1]
    assert (last["station_id"], last["shift"], last["unit_id"]) == ("ALL", "ALL", "")


def test_the_columns_read_are_the_missions_columns():
    assert {c.name for c in PLANNED_STOPS} <= set(MISSION_COLUMNS)
    assert set(MISSION_FILES) <= set(OUTPUTS)


# --- the command: missions beside the plan file, with the stored plan, malformed ---


@pytest.fixture
def folder(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "stations.geojson").write_text(eb.stations().to_json(drop_id=True), "utf-8")
    (data / "config.toml").write_text('crs = "EPSG:32651"\n', encoding="utf-8")
    pings().to_csv(data / "patrol_tracks.csv", index=False)
    return data


def _execution(*args):
    return CliRunner().invoke(main, ["execution", "--month", "2025-12", *map(str, args)])


def test_missions_beside_the_plan_file(folder, tmp_path):
    plan_folder = tmp_path / "2025-12" / "baseline"
    plan_folder.mkdir(parents=True)
    eb.plan().to_csv(plan_folder / "allocation.csv", index=False)
    missions().to_csv(plan_folder / "missions.csv", index=False)
    out = tmp_path / "out"
    args = ["--data", folder, "--out", out, "--plan", plan_folder / "allocation.csv"]
    result = _execution(*args)
    assert result.exit_code == 0, result.output
    done = pd.read_csv(out / "missions_done.csv", keep_default_na=False, dtype={"date": str})
    assert list(done.columns) == DONE_COLUMNS
    pd.testing.assert_frame_equal(done, EXPECTED, check_dtype=False)
    adherence = pd.read_csv(out / "adherence.csv", keep_default_na=False)
    assert sorted(set(adherence["unit_id"]) - {""}) == ["M1", "M2", "M3", "M4"]
    quality = pd.read_csv(out / "quality.csv", keep_default_na=False)
    untracked = quality[quality["check"] == "mission_unit_untracked"]
    assert untracked["station_id"].tolist() == ["S1"]
    assert "M3" in untracked["message"].iloc[0]


def test_without_missions_nothing_is_checked(folder, tmp_path):
    plan = tmp_path / "allocation.csv"
    eb.plan().to_csv(plan, index=False)
    out = tmp_path / "out"
    result = _execution("--data", folder, "--out", out, "--plan", plan)
    assert result.exit_code == 0, result.output
    assert not (out / "missions_done.csv").exists()
    assert (pd.read_csv(out / "adherence.csv", keep_default_na=False)["unit_id"] == "").all()


def test_missions_of_other_units_are_not_checked(folder, tmp_path):
    plan = tmp_path / "allocation.csv"
    eb.plan().to_csv(plan, index=False)
    missions().assign(unit_id=lambda f: "car-" + f["unit_id"]).to_csv(
        tmp_path / "missions.csv", index=False
    )
    out = tmp_path / "out"
    result = _execution("--data", folder, "--out", out, "--plan", plan)
    assert result.exit_code == 0, result.output
    assert not (out / "missions_done.csv").exists()
    quality = pd.read_csv(out / "quality.csv", keep_default_na=False)
    assert (quality["check"] == "mission_unit_untracked").sum() == 2  # S1 and S2


def test_missions_of_a_plan_held_only_in_the_store(folder, tmp_path):
    out = tmp_path / "out"
    eb.store_only(out, {"missions": missions().astype(str)})
    result = _execution("--data", folder, "--out", out)
    assert result.exit_code == 0, result.output
    done = pd.read_csv(out / "missions_done.csv", keep_default_na=False, dtype={"date": str})
    pd.testing.assert_frame_equal(done, EXPECTED, check_dtype=False)


def test_a_malformed_missions_file_exits_2_and_writes_nothing(folder, tmp_path):
    plan = tmp_path / "allocation.csv"
    eb.plan().to_csv(plan, index=False)
    bad = missions()
    bad.loc[1, "arrive"] = "half past nine"
    bad.loc[3, "minutes"] = -5
    bad.drop(columns="unit_id").to_csv(tmp_path / "missions.csv", index=False)
    out = tmp_path / "out"
    result = _execution("--data", folder, "--out", out, "--plan", plan)
    assert result.exit_code == 2, result.output
    for located in (
        "missions.csv:1:unit_id: required column is missing",
        "missions.csv:3:arrive: not an ISO 8601 date-time: 'half past nine'",
        "missions.csv:5:minutes: -5 is below the minimum 0",
    ):
        assert located in result.output
    assert not out.exists()


def test_the_missions_of_the_plan_the_month_carried_out(tmp_path):
    """The missions measured are those of the scenario the month carried out (the run passes
    the adopted one): its own, or none when it has none; never another scenario's."""
    out = tmp_path / "out"
    for scenario, with_missions in (("baseline", True), ("patrol", False)):
        folder = out / "2025-12" / scenario
        folder.mkdir(parents=True)
        eb.plan().to_csv(folder / "allocation.csv", index=False)
        if with_missions:
            missions().drop(columns="officers").to_csv(folder / "missions.csv", index=False)
    url = default_store_url(out)  # no store: never created by looking
    found = plan_missions("2025-12", 3, plan_file=None, out=out, store_url=url, scenario="baseline")
    assert found is not None and found.path is None  # a stored plan's: not a run input
    assert found.stops["unit_id"].tolist() == ["M1", "M1", "M2", "M3", "M4"]
    assert (found.stops["officers"] == 3).all()  # the crew where the missions name none
    assert found.stops["arrive"].iloc[0] == pd.Timestamp("2025-12-01 09:00")
    own = plan_missions("2025-12", 3, plan_file=None, out=out, store_url=url, scenario="patrol")
    assert own is None
    assert not (out / "plans.db").exists()
    given = plan_missions(
        "2025-12",
        2,
        plan_file=out / "2025-12" / "baseline" / "allocation.csv",
        out=out,
        store_url=url,
    )
    assert given.input_files() == {
        "previous_missions": out / "2025-12" / "baseline" / "missions.csv"
    }


# --- the demo: its units drive its missions ---


def test_demo_units_follow_their_missions_each_station_its_own_way(demo_run):
    """The demo's units are its missions' units; each station visits between 55 % and 95 %
    of its stops, the stations apart from each other."""
    done = pd.read_csv(demo_run / "missions_done.csv", keep_default_na=False, dtype=str)
    missions = pd.read_csv(demo_run.parents[1] / "demo-data" / "missions.csv", dtype=str)
    assert len(done) == len(missions)
    assert set(done["unit_id"]) == set(missions["unit_id"])
    visited = done["visited"] == "True"
    assert (done["arrived_at"][visited] != "").all() and (done["arrived_at"][~visited] == "").all()
    share = visited.groupby(done["station_id"]).mean()
    assert share.between(0.55, 0.95).all(), share.to_dict()
    assert share.max() - share.min() > 0.1  # habits of their own
    keys = ["station_id", "date", "shift", "unit_id", "stop", "cell_id"]
    made = done[visited].merge(missions, on=keys, validate="one_to_one")
    late = pd.to_datetime(made["arrived_at"]) - pd.to_datetime(made["arrive"])
    assert late.abs().max() <= pd.Timedelta(minutes=30)  # missions.on_time_min


def test_demo_adherence_per_unit(demo_run):
    adherence = pd.read_csv(demo_run / "adherence.csv", keep_default_na=False)
    units = adherence[adherence["unit_id"] != ""]
    missions = pd.read_csv(demo_run.parents[1] / "demo-data" / "missions.csv")
    pairs = missions[["station_id", "unit_id", "shift"]].drop_duplicates()
    assert len(units) == len(pairs)
    planned = (missions["minutes"] * missions["officers"] / 60).groupby(missions["unit_id"]).sum()
    got = units.set_index("unit_id")["planned_hours"]
    assert np.allclose(got.sort_index(), planned.sort_index(), atol=1e-5)
    assert units["adherence"].between(0, 1).all()
    stations = adherence[(adherence["unit_id"] == "") & (adherence["station_id"] != "ALL")]
    for station, rows in units.groupby("station_id"):  # a station's units deliver its hours
        own = stations[(stations["station_id"] == station) & (stations["shift"] == "ALL")]
        assert rows["delivered_hours"].sum() <= own["delivered_hours"].iloc[0] + 1e-6


def test_the_report_counts_stops_visited_per_station_fewest_first(demo_run):
    from optimizer.report import render_report

    page = render_report([demo_run], "en")
    part = page[page.index("Mission stops visited on time") :]
    part = part[: part.index("</table>")]
    rows = re.findall(r"<tr><td>(S\d\d|all stations)</td><td>[^<]*</td><td>(\d+)</td>", part)
    done = pd.read_csv(demo_run / "missions_done.csv", keep_default_na=False, dtype=str)
    visited = (done["visited"] == "True").groupby(done["station_id"]).mean()
    assert [station for station, _ in rows] == [*visited.sort_values().index, "all stations"]
    assert int(rows[-1][1]) == len(done)


# --- invariants ---

visit = st.tuples(
    st.sampled_from(["M1", "M2"]),
    st.sampled_from([CELL["A"], CELL["C"]]),
    st.integers(0, 600),  # minutes after 08:00
    st.floats(5, 60),  # length
)
stop = st.tuples(
    st.sampled_from(["M1", "M2", "M3"]),
    st.sampled_from([CELL["A"], CELL["C"]]),
    st.integers(0, 600),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(stop, min_size=1, max_size=12), st.lists(visit, max_size=12), st.integers(0, 90))
def test_visits_serve_stops_of_their_unit_and_cell_on_time_once(stops, visits, window):
    start = pd.Timestamp(f"{DAY} 08:00")
    planned = pd.DataFrame(stops, columns=["unit_id", "cell_id", "at"])
    planned = planned.assign(
        station_id="S1",
        date=DAY,
        shift="day",
        stop=np.arange(1, len(planned) + 1),
        arrive=start + pd.to_timedelta(planned["at"], "min"),
    )
    seen = pd.DataFrame(visits, columns=["unit_id", "cell_id", "at", "minutes"])
    seen["arrived"] = start + pd.to_timedelta(seen["at"], "min")
    done = missions_done(planned, seen, on_time_min=window)
    assert len(done) == len(planned)
    assert (done["minutes_on_scene"] > 0).tolist() == done["visited"].tolist()
    used = []
    for row, plan in zip(done.itertuples(), planned.itertuples(), strict=True):
        if not row.visited:
            assert row.arrived_at == ""
            continue
        arrived = pd.Timestamp(row.arrived_at)
        assert abs(arrived - plan.arrive) <= pd.Timedelta(minutes=window)
        match = seen[
            (seen["unit_id"] == plan.unit_id)
            & (seen["cell_id"] == plan.cell_id)
            & (seen["arrived"] == arrived)
        ]
        assert len(match)
        used.append((plan.unit_id, plan.cell_id, arrived))
    for key in set(used):  # no visit serves more stops than there are such visits
        unit, cell, arrived = key
        same = (seen["unit_id"] == unit) & (seen["cell_id"] == cell) & (seen["arrived"] == arrived)
        assert used.count(key) <= same.sum()
    # a stop left unvisited has no free visit of its unit and cell within the window
    free = seen.copy()
    for unit, cell, arrived in used:
        hit = free.index[
            (free["unit_id"] == unit) & (free["cell_id"] == cell) & (free["arrived"] == arrived)
        ]
        free = free.drop(hit[0])
    for row, plan in zip(done.itertuples(), planned.itertuples(), strict=True):
        if not row.visited:
            near = free[
                (free["unit_id"] == plan.unit_id)
                & (free["cell_id"] == plan.cell_id)
                & ((free["arrived"] - plan.arrive).abs() <= pd.Timedelta(minutes=window))
            ]
            assert near.empty


ping = st.tuples(
    st.integers(0, 2),  # unit
    st.integers(0, 4 * 3600),  # seconds after 2025-12-01 14:00 (crosses a shift)
    st.integers(0, 3),  # cell column
    st.sampled_from(["patrol", "patrol", "responding"]),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(ping, min_size=2, max_size=50))
def test_visits_and_unit_dose_add_up_to_the_station_dose(rows):
    frame = pd.DataFrame(rows, columns=["unit", "t", "col", "status"])
    points = [eb.lonlat((eb.X0 + 250 * c + 125, eb.Y0 + 125)) for c in frame["col"]]
    tracks = pd.DataFrame(
        {
            "unit_id": "U" + frame["unit"].astype(str),
            "station_id": "S1",
            "recorded_at": pd.Timestamp(f"{DAY} 14:00") + pd.to_timedelta(frame["t"], "s"),
            "lat": [lat for _, lat in points],
            "lon": [lon for lon, _ in points],
            "status": frame["status"],
        }
    )
    got = measure_tracks(tracks, "2025-12", CRS(eb.CRS), "wgs84", RULES)
    keys = ["station_id", "cell_id", "shift"]
    dose = got.dose.set_index(keys)
    visits = got.visits.groupby(keys).size()
    assert visits.reindex(dose.index, fill_value=0).tolist() == dose["visits"].tolist()
    assert (got.visits["minutes"] >= RULES.min_visit_minutes).all()
    per_unit = got.unit_dose.groupby(keys)["delivered_hours"].sum()
    assert np.allclose(per_unit.reindex(dose.index).to_numpy(), dose["delivered_hours"])
