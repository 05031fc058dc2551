"""The planner's map and the GIS copy of a plan: offline pages, layers and labels in both
languages (the bureau's own names for its codes), the grid drawn in blocks past the cell limit,
the GeoPackage's layers."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import xstatic.pkg.leaflet as xleaflet
from click.testing import CliRunner
from mapdata import page_text, small_plan

from geo.crs import wgs84_to_gcj02
from geo.leaflet import safe_attribution
from geo.maps import block_ids, block_size, svg_map
from optimizer.cli import main
from optimizer.i18n import BureauNames
from optimizer.plan_map import plan_map

LEAFLET_TEXT = "".join(
    (Path(xleaflet.BASE_DIR) / name).read_text(encoding="utf-8")
    for name in ("leaflet.js", "leaflet.css")
)
FIXED = ("map.html", "plan.gpkg")  # files whose bytes depended on the moment of the run
URL = re.compile(r"https?://[^\s\"'()<>\\]+")


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


def test_same_inputs_give_the_same_map_and_geopackage(demo_data, tmp_path):
    """Two runs of the same month into two folders: map.html and plan.gpkg hash the same."""
    digests = []
    for out in (tmp_path / "one", tmp_path / "two"):
        result = CliRunner().invoke(
            main, ["run", "--data", str(demo_data), "--month", "2025-12", "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
        folder = out / "2026-01" / "baseline"
        digests.append(
            {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in FIXED}
        )
    assert digests[0] == digests[1]


def test_attribution_keeps_text_and_web_links_only():
    assert safe_attribution("© <b>城市</b> & co") == "© 城市 &amp; co"
    assert safe_attribution("&copy; <a href='https://osm.org/c'>OSM</a>") == (
        '© <a href="https://osm.org/c">OSM</a>'
    )
    hostile = (
        '<a href="javascript:alert(1)" onclick="alert(2)">x</a><script>alert(3)</script>'
        '<img src=x onerror=alert(4)><a href="https://a.b/?q=&quot;><x>">y'
    )
    assert safe_attribution(hostile) == 'x<a href="https://a.b/?q=&quot;&gt;&lt;x&gt;">y</a>'
