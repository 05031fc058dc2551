"""The missions' optional inputs (SPEC §16): `units.csv`, the road network and the station
houses load to typed frames; every malformed cell is named at file:row:column by `run`, which
exits 2 and writes nothing."""

from __future__ import annotations

import hashlib
import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.crs import gcj02_to_wgs84
from geo.jurisdictions import station_houses
from models.columns import weekday_list
from models.contracts import load_bureau
from models.errors import InputError
from optimizer.cli import main

MISSION_TABLES = {"stations", "units", "roads"}
LINE = {"type": "LineString", "coordinates": [[121.48, 31.25], [121.49, 31.26]]}


def _refused(folder, tmp_path) -> list[str]:
    """The problems `run` names for a spoiled folder, after checking it exits 2 and writes
    nothing."""
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["run", "--data", str(folder), "--month", "2025-12", "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert not out.exists()
    return result.output.splitlines()


def _write_roads(folder, features: list[tuple[dict, dict | None]]) -> None:
    layer = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": props, "geometry": geom} for props, geom in features
        ],
    }
    (folder / "roads.geojson").write_text(json.dumps(layer), encoding="utf-8")


def _set_houses(folder, houses: dict[str, dict]) -> None:
    """Give stations `station_lat` / `station_lon` properties (by station id)."""
    path = folder / "stations.geojson"
    layer = json.loads(path.read_text(encoding="utf-8"))
    for feature in layer["features"]:
        feature["properties"].update(houses.get(feature["properties"]["station_id"], {}))
    path.write_text(json.dumps(layer), encoding="utf-8")


def _inside(folder, station_id: str) -> tuple[float, float]:
    """A point (lon, lat) inside the station's jurisdiction as the file writes it."""
    stations = gpd.read_file(folder / "stations.geojson").set_index("station_id")
    point = stations.geometry[station_id].representative_point()
    return point.x, point.y


# --- units.csv ---------------------------------------------------------------------------


def test_units_load_typed_with_their_defaults(demo_copy):
    (demo_copy / "units.csv").write_text(
        "unit_id,station_id,shift,officers,mode,weekdays,callsign\n"
        "U1,S01,day,2,car,1;2;3;4;5,Alpha\n"
        "U1,S01,night,1,,,Bravo\n"
        "U2,S02,evening,3,foot,7;1;1, \n"
        "U3,S02,day,4,bike,5;;3;,Delta\n",
        encoding="utf-8",
    )
    units = load_bureau(demo_copy, MISSION_TABLES).units
    expected = pd.DataFrame(
        {
            "unit_id": ["U1", "U1", "U2", "U3"],
            "station_id": ["S01", "S01", "S02", "S02"],
            "shift": ["day", "night", "evening", "day"],
            "officers": np.array([2, 1, 3, 4], dtype="int64"),
            "mode": ["car", "car", "foot", "bike"],
            "weekdays": ["1;2;3;4;5", "1;2;3;4;5;6;7", "1;7", "3;5"],
            "callsign": ["Alpha", "Bravo", " ", "Delta"],
        }
    ).astype({c: "str" for c in ("unit_id", "station_id", "shift", "mode", "weekdays")})
    pd.testing.assert_frame_equal(units[expected.columns], expected, check_dtype=False)
    assert units["officers"].dtype == "int64"


def test_units_without_optional_columns_get_car_and_every_day(demo_copy):
    (demo_copy / "units.csv").write_text(
        "unit_id,station_id,shift,officers\nU1,S03,night,2\n", encoding="utf-8"
    )
    units = load_bureau(demo_copy, MISSION_TABLES).units
    assert units[["mode", "weekdays"]].values.tolist() == [["car", "1;2;3;4;5;6;7"]]


def test_absent_units_and_roads_are_none_and_not_inputs(demo_copy):
    bureau = load_bureau(demo_copy, MISSION_TABLES)
    assert bureau.units is None and bureau.roads is None
    assert set(bureau.files) == {"config", "stations"}


def test_a_run_records_the_digests_of_units_and_roads(demo_copy, tmp_path):
    (demo_copy / "units.csv").write_text(
        "unit_id,station_id,shift,officers\nU1,S01,day,2\n", encoding="utf-8"
    )
    _write_roads(demo_copy, [({"speed_kmh": 40}, LINE)])
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["run", "--data", str(demo_copy), "--month", "2025-12", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    inputs = json.loads((out / "2026-01" / "baseline" / "plan.json").read_text())["inputs"]
    for name in ("units.csv", "roads.geojson"):
        assert inputs[name] == hashlib.sha256((demo_copy / name).read_bytes()).hexdigest()


def test_every_bad_unit_is_named_by_run(demo_copy, tmp_path):
    (demo_copy / "units.csv").write_text(
        "unit_id,station_id,shift,officers,mode,weekdays\n"
        "U1,S01,day,2,car,1;2;3;4;5\n"  # 2: fine
        "U2,S99,day,2,,\n"  # 3
        "U3,S01,dusk,2,,\n"  # 4
        "U4,S01,day,0,,\n"  # 5
        "U5,S01,day,-1,,\n"  # 6
        "U6,S01,day,1.5,,\n"  # 7
        "U7,S01,day,two,,\n"  # 8
        "U8,S01,day,2,horse,\n"  # 9
        "U9,S01,day,2,,8\n"  # 10
        "U10,S01,day,2,,mon\n"  # 11
        "U11,S01,day,2,,1;1\n"  # 12: fine, "1"
        "U1,S01,day,3,,\n",  # 13
        encoding="utf-8",
    )
    problems = _refused(demo_copy, tmp_path)
    for line in [
        "units.csv:3:station_id: unknown station 'S99'",
        "units.csv:4:shift: 'dusk' is not one of day, evening, night",
        "units.csv:5:officers: 0 is below the minimum 1",
        "units.csv:6:officers: -1 is below the minimum 1",
        "units.csv:7:officers: not a whole number: '1.5'",
        "units.csv:8:officers: not a number: 'two'",
        "units.csv:9:mode: 'horse' is not one of car, bike, foot",
        "units.csv:10:weekdays: '8' is not ISO weekdays 1–7 (Monday = 1) joined by ';'",
        "units.csv:11:weekdays: 'mon' is not ISO weekdays 1–7 (Monday = 1) joined by ';'",
        "units.csv:13:shift: duplicate unit_id + shift 'U1' + 'day'",
    ]:
        assert line in problems
    assert not any(p.startswith(("units.csv:2:", "units.csv:12:")) for p in problems)


def test_a_unit_names_the_shifts_of_the_config(demo_copy):
    (demo_copy / "config.toml").write_text(
        "[allocation]\n"
        "shift_share = { early = 0.5, late = 0.5 }\n"
        "shift_hours = { early = [6, 18], late = [18, 6] }\n",
        encoding="utf-8",
    )
    (demo_copy / "units.csv").write_text(
        "unit_id,station_id,shift,officers\nU1,S01,early,2\nU2,S01,day,2\n", encoding="utf-8"
    )
    with pytest.raises(InputError) as caught:
        load_bureau(demo_copy, MISSION_TABLES)
    assert [str(p) for p in caught.value.problems] == [
        "units.csv:3:shift: 'day' is not one of early, late"
    ]


def test_units_parquet_rows_count_from_one(demo_copy):
    pd.DataFrame(
        {
            "unit_id": ["U1", "U2"],
            "station_id": ["S01", "S02"],
            "shift": ["day", "day"],
            "officers": [2, 0],
        }  # fmt: skip
    ).to_parquet(demo_copy / "units.parquet")
    with pytest.raises(InputError) as caught:
        load_bureau(demo_copy, MISSION_TABLES)
    assert [str(p) for p in caught.value.problems] == [
        "units.parquet:2:officers: 0 is below the minimum 1"
    ]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 7), min_size=1, max_size=12), st.sampled_from([";", " ; "]))
def test_a_weekday_list_is_its_distinct_days_sorted(days, joint):
    assert weekday_list(joint.join(map(str, days))) == ";".join(map(str, sorted(set(days))))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 7), max_size=6),
    st.one_of(st.integers(-3, 0), st.integers(8, 99)).map(str) | st.sampled_from(["mon", "1,2"]),
)
def test_a_weekday_list_with_any_other_part_is_refused(days, other):
    assert weekday_list(";".join([*map(str, days), other])) is None


# --- roads -------------------------------------------------------------------------------


def test_roads_load_in_wgs84_with_speeds_and_directions(demo_copy):
    _write_roads(
        demo_copy,
        [
            ({"speed_kmh": 40, "oneway": True, "name": "Siping Rd"}, LINE),
            ({"speed_kmh": None, "oneway": None}, LINE),
            ({"oneway": "否"}, {"type": "MultiLineString", "coordinates": [LINE["coordinates"]]}),
        ],
    )
    bureau = load_bureau(demo_copy, MISSION_TABLES)
    roads = bureau.roads
    assert roads.crs.to_epsg() == 4326
    assert roads["speed_kmh"].tolist()[:1] == [40.0] and roads["speed_kmh"][1:].isna().all()
    assert roads["oneway"].tolist() == [True, False, False] and roads["oneway"].dtype == bool
    assert roads.geom_type.tolist() == ["LineString", "LineString", "MultiLineString"]
    assert roads["name"].tolist()[0] == "Siping Rd"
    assert bureau.files["roads"].name == "roads.geojson"


def test_roads_without_properties_get_mode_speeds_and_both_ways(demo_copy):
    _write_roads(demo_copy, [({}, LINE)])
    roads = load_bureau(demo_copy, MISSION_TABLES).roads
    assert roads["speed_kmh"].isna().all() and roads["oneway"].tolist() == [False]


def test_a_projected_road_package_is_reprojected(demo_copy):
    line = shapely.LineString(LINE["coordinates"])
    metric = gpd.GeoDataFrame({"speed_kmh": [50.0]}, geometry=[line], crs="EPSG:4326")
    metric.to_crs("EPSG:32651").to_file(demo_copy / "roads.gpkg", driver="GPKG")
    roads = load_bureau(demo_copy, MISSION_TABLES).roads
    assert roads.crs.to_epsg() == 4326
    np.testing.assert_allclose(shapely.get_coordinates(roads.geometry), LINE["coordinates"])


def test_every_bad_road_is_named_by_run(demo_copy, tmp_path):
    _write_roads(
        demo_copy,
        [
            ({"speed_kmh": 40, "oneway": True}, LINE),  # 1: fine
            ({}, {"type": "Point", "coordinates": [121.48, 31.25]}),  # 2
            ({}, None),  # 3
            ({}, {"type": "LineString", "coordinates": []}),  # 4
            ({"speed_kmh": 0}, LINE),  # 5
            ({"speed_kmh": "fast"}, LINE),  # 6
            ({"oneway": "maybe"}, LINE),  # 7
            ({}, {"type": "LineString", "coordinates": [[121.48, 31.25], [500, 31.25]]}),  # 8
            ({"speed_kmh": -5}, LINE),  # 9
        ],
    )
    problems = _refused(demo_copy, tmp_path)
    empty = "empty geometry: a road is a LineString or MultiLineString"
    for line in [
        "roads.geojson:2:geometry: Point is not a LineString or MultiLineString",
        f"roads.geojson:3:geometry: {empty}",
        f"roads.geojson:4:geometry: {empty}",
        "roads.geojson:5:speed_kmh: 0 is not above 0",
        "roads.geojson:6:speed_kmh: not a number: 'fast'",
        "roads.geojson:7:oneway: not a boolean (true/false, 1/0, yes/no, 是/否): 'maybe'",
        "roads.geojson:8:geometry: vertex 2 (500, 31.25) is not a longitude/latitude in WGS84",
        "roads.geojson:9:speed_kmh: -5 is not above 0",
    ]:
        assert line in problems
    assert not any(p.startswith("roads.geojson:1:") for p in problems)


def test_a_road_layer_without_features_is_refused(demo_copy):
    _write_roads(demo_copy, [])
    with pytest.raises(InputError) as caught:
        load_bureau(demo_copy, MISSION_TABLES)
    assert [str(p) for p in caught.value.problems] == [
        "roads.geojson:1:(features): the layer has no features: roads needs at least one"
    ]


# --- station houses ----------------------------------------------------------------------


def test_station_houses_load_and_default_to_a_point_inside(demo_copy):
    lon, lat = _inside(demo_copy, "S02")
    _set_houses(demo_copy, {"S02": {"station_lat": lat, "station_lon": lon}})
    stations = load_bureau(demo_copy, MISSION_TABLES).stations
    houses = station_houses(stations).set_index("station_id")
    assert houses.loc["S02", ["lon", "lat"]].tolist() == pytest.approx([lon, lat])
    assert stations["station_lat"].notna().sum() == 1  # only S02 gave its house
    own = stations.set_index("station_id").geometry
    assert all(own[s].covers(houses.geometry[s]) for s in own.index)
    assert houses.crs.to_epsg() == 4326 and list(houses.index) == list(stations["station_id"])


def test_station_houses_of_metric_jurisdictions_are_in_wgs84(demo_copy):
    stations = load_bureau(demo_copy, {"stations"}).stations
    wgs84 = station_houses(stations)
    metric = station_houses(stations.to_crs("EPSG:32651"))
    assert metric.crs.to_epsg() == 4326
    assert stations.geometry.covers(metric.geometry).all()
    np.testing.assert_allclose(metric[["lon", "lat"]], wgs84[["lon", "lat"]], atol=1e-3)


def test_station_houses_are_converted_like_the_cases(demo_copy):
    (demo_copy / "config.toml").write_text('coordinates = "gcj02"\n', encoding="utf-8")
    lon, lat = _inside(demo_copy, "S05")  # the file's coordinates, read as GCJ-02
    _set_houses(demo_copy, {"S05": {"station_lat": lat, "station_lon": lon}})
    stations = load_bureau(demo_copy, {"stations"}).stations.set_index("station_id")
    want_lon, want_lat = gcj02_to_wgs84(lon, lat)
    assert stations.loc["S05", ["station_lon", "station_lat"]].tolist() == pytest.approx(
        [want_lon, want_lat]
    )
    assert stations.geometry["S05"].covers(shapely.Point(want_lon, want_lat))


def test_a_house_on_the_edge_of_its_jurisdiction_is_inside(demo_copy):
    stations = gpd.read_file(demo_copy / "stations.geojson").set_index("station_id")
    corner = shapely.get_coordinates(stations.geometry["S01"])[0]
    _set_houses(demo_copy, {"S01": {"station_lon": corner[0], "station_lat": corner[1]}})
    assert load_bureau(demo_copy, {"stations"}).stations["station_lat"].notna().sum() == 1


def test_every_bad_house_is_named_by_run(demo_copy, tmp_path):
    lon, lat = _inside(demo_copy, "S04")
    ids = gpd.read_file(demo_copy / "stations.geojson")["station_id"]
    rows = {s: i + 1 for i, s in enumerate(ids)}  # feature numbers
    _set_houses(
        demo_copy,
        {
            "S01": {"station_lat": 31.3},
            "S02": {"station_lon": 121.5},
            "S03": {"station_lat": lat, "station_lon": lon},  # S04's ground
            "S04": {"station_lat": 95, "station_lon": lon},
            "S05": {"station_lat": "north", "station_lon": lon},
        },
    )
    problems = _refused(demo_copy, tmp_path)
    for line in [
        f"stations.geojson:{rows['S01']}:station_lon: station_lat is given but station_lon is "
        "empty: give both or neither",
        f"stations.geojson:{rows['S02']}:station_lat: station_lon is given but station_lat is "
        "empty: give both or neither",
        f"stations.geojson:{rows['S03']}:station_lat: station house of S03 lies outside its "
        "jurisdiction",
        f"stations.geojson:{rows['S04']}:station_lat: 95 is above the maximum 90",
        f"stations.geojson:{rows['S05']}:station_lat: not a number: 'north'",
    ]:
        assert line in problems
    assert sum("station house of" in p for p in problems) == 1
