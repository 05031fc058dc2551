"""The planner's map and the GIS copy of a plan: offline pages, layers and labels in both
languages (the bureau's own names for its codes), the grid drawn in blocks past the cell limit,
the GeoPackage's layers."""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
import xstatic.pkg.leaflet as xleaflet

from geo.crs import wgs84_to_gcj02
from geo.maps import block_ids, block_size, svg_map
from optimizer.i18n import BureauNames
from optimizer.plan_map import jurisdiction_layer, plan_map

LEAFLET_TEXT = "".join(
    (Path(xleaflet.BASE_DIR) / name).read_text(encoding="utf-8")
    for name in ("leaflet.js", "leaflet.css")
)
URL = re.compile(r"https?://[^\s\"'()<>\\]+")


def page_text(page) -> str:
    """A folium map's HTML with the `\\uXXXX` escapes of its embedded JSON decoded."""
    return re.sub(r"\\u([0-9a-f]{4})", lambda m: chr(int(m.group(1), 16)), page.get_root().render())


def small_plan() -> dict:
    """Two stations side by side over a 4 × 4 grid of 0.01° cells, two shifts, one hotspot."""
    ids = [(ix, iy) for ix in range(100, 104) for iy in range(200, 204)]
    cells = gpd.GeoDataFrame(
        {"cell_id": [f"{ix}_{iy}" for ix, iy in ids]},
        geometry=[
            shapely.box(ix / 100, iy / 100, (ix + 1) / 100, (iy + 1) / 100) for ix, iy in ids
        ],
        crs="EPSG:4326",
    )
    station_of = ["S01" if ix < 102 else "S02" for ix, _ in ids]
    allocation = pd.DataFrame(
        [
            (cell, shift, station, 10.0 if station == "S01" else 0.0, 5.0)
            for cell, station in zip(cells["cell_id"], station_of, strict=True)
            for shift in ("day", "night")
        ],
        columns=["cell_id", "shift", "station_id", "hours", "prev_hours"],
    )
    stations = gpd.GeoDataFrame(
        {"station_id": ["S01", "S02"], "name": ["甲派出所", "乙派出所"]},
        geometry=[shapely.box(1.0, 2.0, 1.02, 2.04), shapely.box(1.02, 2.0, 1.04, 2.04)],
        crs="EPSG:4326",
    )
    scores = pd.DataFrame(
        {
            "station_id": ["S01", "S02"],
            "grade": ["excellent", "unqualified"],
            "total_with_bonus": [92.5, 55.0],
            "rank": [1, 2],
            "group_size": [2, 2],
            "veto": [False, True],
            "last_place_streak": [0, 3],
        }
    )
    hotspots = gpd.GeoDataFrame(
        {
            "hotspot_id": ["H001"],
            "category": ["theft"],
            "count": [40],
            "harm": [40.0],
            "dominant_offence": ["pickpocketing"],
            "peak_shift": ["day"],
            "peak_weekday": ["Friday"],
            "trend": ["intensifying"],
        },
        geometry=[shapely.Point(1.01, 2.01).buffer(0.004)],
        crs="EPSG:4326",
    )
    return {
        "stations": jurisdiction_layer(stations, scores, allocation),
        "cells": cells,
        "risk": allocation.assign(risk=1.0)[["cell_id", "shift", "risk"]],
        "allocation": allocation,
        "hotspots": hotspots,
        "schedule": pd.DataFrame(
            {
                "station_id": ["S01", "S01"],
                "date": ["2026-01-01", "2026-01-01"],
                "shift": ["day", "day"],
                "visit": [1, 2],
                "cell_id": ["100_200", "101_201"],
                "minutes": [12.0, 14.0],
            }
        ),
    }


def test_jurisdiction_layer_carries_scores_and_hours_per_shift():
    stations = small_plan()["stations"].set_index("station_id")
    assert stations.loc["S01", "grade"] == "excellent"
    assert stations.loc["S01", "hours_day"] == 80.0  # 8 cells × 10 h
    assert stations.loc["S01", "hours"] == 160.0
    assert stations.loc["S02", "hours"] == 0.0


def test_map_without_tiles_has_no_basemap_and_speaks_chinese():
    names = BureauNames(category={"theft": "盗窃"})
    text = page_text(plan_map(**small_plan(), tiles="none", attribution="", lang="zh", names=names))
    assert "L.tileLayer" not in text
    for label in ("辖区（考核等级）", "预测风险 · 白班", "巡逻警时 · 夜班", "警时较上月变化"):
        assert label in text, label
    assert "热点 · 盗窃 (1)" in text
    assert "已排巡逻的热点" in text
    assert "加剧" in text  # the trend class in words
    assert "网格按" not in text  # 16 cells: drawn one by one


def test_map_tile_template_gets_its_host_as_attribution():
    template = "https://tiles.example.gov.cn/{z}/{x}/{y}.png"
    text = page_text(plan_map(**small_plan(), tiles=template, attribution=""))
    assert template in text
    assert '"attribution": "tiles.example.gov.cn"' in text


def test_map_layers_follow_the_tiles_datum():
    plan = small_plan()
    wgs = page_text(plan_map(**plan, tiles="none", attribution=""))
    gcj = page_text(plan_map(**plan, tiles="none", attribution="", tiles_datum="gcj02"))
    lon, lat = wgs84_to_gcj02(1.0, 2.0)  # a corner of station S01
    corner = f"[{float(lon):.5f}, {float(lat):.5f}]"
    assert corner in gcj and corner not in wgs
    assert "[1.0, 2.0]" in wgs


def test_past_the_cell_limit_the_grid_is_drawn_in_blocks():
    plan = small_plan()
    ids = plan["cells"]["cell_id"]
    assert block_ids(ids, 2)[ids == "101_203"].item() == "100_202"  # named by its lower-left cell
    drawn = pd.DataFrame({"layer": "risk", "shift": "day", "cell_id": ids})
    assert block_size(drawn, max_cells=16) == 1
    assert block_size(drawn, max_cells=4) == 2  # 16 cells in four 2×2 blocks
    assert block_size(drawn, max_cells=3) == 4  # blocks stay on the grid: 3×3 ones cut it in 4
    # risk 2 shifts × 16 cells, hours 2 × 8, change 16, visits 2: 66 polygons cell by cell
    text = page_text(plan_map(**plan, tiles="none", attribution="", max_cells=20))
    assert "Cells drawn in blocks of 2×2" in text
    assert '"hours": 40.0' in text  # four S01 cells of 10 h summed into one block
    assert "blocks of" not in page_text(plan_map(**plan, tiles="none", attribution=""))


def test_svg_map_draws_one_path_per_station():
    stations = small_plan()["stations"]
    svg = svg_map(stations, pd.Series(["#111", "#222"]), stations["station_id"])
    assert svg.count("<path") == 2 and ">S02</text>" in svg


def test_demo_map_is_light_and_loads_only_tiles(demo_run):
    path = demo_run / "map.html"
    assert path.stat().st_size < 5_000_000
    text = path.read_text(encoding="utf-8")
    assert not re.search(
        r"<script[^>]*\ssrc=|<link[^>]*\shref=|@import|url\(\s*['\"]?https?:", text
    )
    own = set(URL.findall(LEAFLET_TEXT))
    remote = set(URL.findall(text)) - own
    assert remote <= {
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        "https://www.openstreetmap.org/copyright",
    }


def test_geopackage_holds_the_plan_layers(demo_run):
    layers = dict(pyogrio.list_layers(demo_run / "plan.gpkg"))
    assert set(layers) >= {"allocation", "hotspots", "risk"}
    for name in ("allocation", "hotspots"):
        packed = gpd.read_file(demo_run / "plan.gpkg", layer=name)
        plain = gpd.read_file(demo_run / f"{name}.geojson")
        assert len(packed) == len(plain) and packed.crs == plain.crs
    risk = gpd.read_file(demo_run / "plan.gpkg", layer="risk")
    assert len(risk) == len(pd.read_csv(demo_run / "risk.csv"))
