"""The planner's map and the GIS copy of a plan: offline pages, layers and labels in both
languages (the bureau's own names for its codes), the grid drawn in blocks past the cell limit,
the units' routes of the month's first day, the GeoPackage's layers, the inline-SVG view."""

from __future__ import annotations

import hashlib
import html
import json
import re
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import xstatic.pkg.leaflet as xleaflet
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from mapdata import page_text, small_plan
from missions_data import ROUTES, STOPS, tiny_missions

from geo.crs import wgs84_to_gcj02
from geo.grid import Grid
from geo.layers import scheduled_visits
from geo.leaflet import safe_attribution
from geo.legend import (
    DELIVERY_COLOURS,
    HOURS_COLOURS,
    OFF_PLAN_COLOUR,
    class_breaks,
    classed,
)
from geo.maps import SvgView, block_size, svg_map
from models.config import Config
from optimizer import plan_map as plan_map_module
from optimizer.cli import main
from optimizer.i18n import BureauNames
from optimizer.plan_map import jurisdiction_layer, plan_map, write_maps

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
    # named by its lower-left cell
    assert Grid.block_ids(ids, 2)[ids == "101_203"].item() == "100_202"
    drawn = pd.DataFrame({"layer": "risk", "shift": "day", "cell_id": ids})
    assert block_size(drawn, max_cells=16) == 1
    assert block_size(drawn, max_cells=4) == 2  # 16 cells in four 2×2 blocks
    assert block_size(drawn, max_cells=3) == 4  # blocks stay on the grid: 3×3 ones cut it in 4
    # risk 2 shifts × 16 cells, hours 2 × 8, change 16, visits 2: 66 polygons cell by cell
    text = page_text(plan_map(**plan, tiles="none", attribution="", max_cells=20))
    assert "Cells drawn in blocks of 2×2" in text
    assert '"hours": "40.0"' in text  # four S01 cells of 10 h summed into one block
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


def legend_titles(text: str) -> dict[str, str]:
    """The page's legend boxes: each title and the text of its items."""
    boxes = re.findall(
        r'<div class="lg-box" id="legend-\d+"><b>(.*?)</b><div>(.*?)</div></div>', text
    )
    return {
        html.unescape(title): html.unescape(re.sub("<[^>]+>", " ", items)) for title, items in boxes
    }


def layers_shown(m: folium.Map) -> dict[str, bool]:
    """Each overlay of `m` by its name in the layer control: whether it is on at start."""
    return {
        html.unescape(child.layer_name): child.show
        for child in m._children.values()
        if isinstance(child, folium.GeoJson | folium.FeatureGroup)
    }


def test_busiest_shift_hours_on_at_start_with_outlines_and_station_names_without_tiles():
    plan = small_plan(names=("甲派出所", ""))
    night = plan["allocation"]["shift"] == "night"
    plan["allocation"].loc[night, "hours"] *= 2  # night is the busiest shift
    m = plan_map(**plan, tiles="none", attribution="")
    shown = layers_shown(m)
    assert shown["Patrol hours · night"] is True and shown["Patrol hours · day"] is False
    assert shown["Forecast risk · night"] is False
    assert shown["Jurisdiction outlines"] is True and shown["Station names"] is True
    text = page_text(m)
    assert "L.tileLayer" not in text
    assert '<div class=\\"station-label\\">甲派出所</div>' in text
    assert '<div class=\\"station-label\\">S02</div>' in text  # no name: its id
    assert '"interactive": false' in text  # outlines and names let clicks through


def test_legends_carry_units_and_quantile_classes():
    text = page_text(plan_map(**small_plan(), tiles="none", attribution=""))
    legend = legend_titles(text)
    for title in (
        "Forecast risk (harm expected in the month)",
        "Patrol hours (officer-hours in the month)",
        "Hours vs last month (officer-hours)",
    ):
        assert title in legend, title
    saturated = pd.Series([60.0] * 40 + [5.0, 12.0, 20.0, 33.0, 41.0])
    breaks = class_breaks(saturated, 5)
    assert breaks.tolist() == [12.0, 20.0, 33.0, 41.0, 60.0]  # ties at the cap: still five
    assert class_breaks(pd.Series([2.0, 2.0, 3.0]), 5).tolist() == [2.0, 3.0]
    colour, items = classed(breaks, HOURS_COLOURS)
    assert [label for _, label in items] == ["≤ 12", "12 – 20", "20 – 33", "33 – 41", "41 – 60"]
    assert colour(60.0) == HOURS_COLOURS[-1] and colour(1.0) == HOURS_COLOURS[0]


def test_popups_say_whose_officers_patrol_a_cell():
    plan = with_aid(small_plan())
    text = page_text(plan_map(**plan, tiles="none", attribution="", lang="zh"))
    assert '"by": "甲派出所（支援） 4.0 小时"' in text  # S02's cell, S01's officers
    assert '"by": "甲派出所 10.0 小时"' in text
    assert "巡逻警力" in text  # the popup's heading
    en = page_text(plan_map(**plan, tiles="none", attribution=""))
    assert '"by": "甲派出所 (aid) 4.0 h"' in en


def test_change_layer_only_against_a_previous_plan():
    plan = small_plan()
    with_previous = layers_shown(plan_map(**plan, tiles="none", attribution=""))
    assert "Hours vs last month" in with_previous
    plan["allocation"]["prev_hours"] = 0.0  # a first month: no plan before it
    m = plan_map(**plan, tiles="none", attribution="")
    assert "Hours vs last month" not in layers_shown(m)
    assert "Hours vs last month" not in page_text(m)  # nor in the legend
    forced = plan_map(**plan, tiles="none", attribution="", previous=True)
    assert "Hours vs last month" in layers_shown(forced)  # a previous plan with no hours here


def execution_frame() -> pd.DataFrame:
    """`execution.csv` of the small plan's day shift: one cell far short of its plan, one on
    plan, one over it, one patrolled where nothing was planned."""
    return pd.DataFrame(
        {
            "station_id": ["S01", "S01", "S01", "S02"],
            "cell_id": ["100_200", "100_201", "101_200", "102_200"],
            "shift": ["day"] * 4,
            "planned_hours": [10.0, 10.0, 10.0, 0.0],
            "delivered_hours": [2.0, 10.0, 13.0, 3.0],
            "visits": [1, 6, 9, 2],
        }
    )


def test_delivered_against_planned_hours_per_shift():
    plan = small_plan()
    m = plan_map(**plan, tiles="none", attribution="", execution=execution_frame())
    shown = layers_shown(m)
    assert shown["Delivered vs planned · day"] is False  # on request, off at start
    assert "Delivered vs planned · night" not in shown  # no execution data for it
    text = page_text(m)
    for colour in DELIVERY_COLOURS[0], DELIVERY_COLOURS[2], DELIVERY_COLOURS[3], OFF_PLAN_COLOUR:
        assert f'"fillColor": "{colour}"' in text  # short, on plan, over, off plan
    assert f'"fillColor": "{DELIVERY_COLOURS[1]}"' not in text  # no cell at 50–90 %
    assert '"delivered_share": "20%"' in text and '"delivered_share": "130%"' in text
    legend = legend_titles(text)
    assert (
        "patrolled, no hours planned" in legend["Delivered vs planned (delivered / planned hours)"]
    )
    assert "Delivered vs planned" not in page_text(plan_map(**plan, tiles="none", attribution=""))


def test_delivered_hours_summed_per_block():
    m = plan_map(
        **small_plan(), tiles="none", attribution="", execution=execution_frame(), max_cells=20
    )
    text = page_text(m)
    assert "Cells drawn in blocks of 2×2" in text
    # the 2×2 block 100_200 holds three of the rows: 30 h planned, 25 delivered (83 %), 16 visits
    assert '"delivered_hours": "25.0", "delivered_share": "83%"' in text
    assert '"planned_hours": "30.0", "visits": 16' in text


CELL = st.tuples(st.integers(-6, 6), st.integers(-6, 6))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["risk", "hours"]), st.sampled_from(["day", ""]), CELL),
        min_size=20,
        max_size=80,
    ),
    st.integers(16, 40),
)
def test_the_block_size_is_the_first_whose_blocks_fit(rows, max_cells):
    """`block_size` counts blocks on the cell indices: the k it gives is the first whose
    named blocks (`Grid.block_ids`), per layer and shift, number `max_cells` or fewer (at
    least 16: four layers and shifts in four quadrants always fit)."""
    drawn = pd.DataFrame(
        [(layer, shift, f"{x}_{y}") for layer, shift, (x, y) in rows],
        columns=["layer", "shift", "cell_id"],
    )

    def polygons(k: int) -> int:
        return len(drawn.assign(cell_id=Grid.block_ids(drawn["cell_id"], k)).drop_duplicates())

    k = block_size(drawn, max_cells)
    assert polygons(k) <= max_cells
    assert k == 1 or polygons(k - 1) > max_cells


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.tuples(st.sampled_from(["1_2", "3_4", "5_6"]), st.sampled_from(["day", "night"])),
            st.integers(10, 16),
        ),
        max_size=30,
    ),
    st.booleans(),
)
def test_scheduled_visits_count_every_visit_of_a_cell_and_shift(visits, categorical):
    schedule = pd.DataFrame(
        [(cell, shift, minutes) for (cell, shift), minutes in visits],
        columns=["cell_id", "shift", "minutes"],
    ).astype({"minutes": "int16"})
    if categorical:
        schedule = schedule.astype({"cell_id": "category", "shift": "category"})
    got = scheduled_visits(schedule).sort_values(["cell_id", "shift"], ignore_index=True)
    expected = (
        schedule.astype({"cell_id": str, "shift": str})
        .groupby(["cell_id", "shift"], as_index=False)
        .agg(visits=("minutes", "size"), minutes=("minutes", "sum"))
    )
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def routes_map(**options) -> str:
    """The small plan's map with the tiny missions' routes (`missions_data.py`)."""
    files = tiny_missions()
    page = plan_map(
        **small_plan(),
        tiles="none",
        attribution="",
        routes=files[ROUTES],
        missions=files[STOPS],
        **options,
    )
    return page_text(page)


def features(text: str, kind: str) -> list[dict]:
    """The properties of every feature of geometry `kind` the page's layers hold."""
    pattern = r'"type": "' + kind + r'"\}, (?:"id": "\d+", )?"properties": (\{[^{}]*\})'
    found = re.findall(pattern, text)
    return [json.loads(p) for p in found]


def test_routes_of_the_first_day_one_layer_per_shift_with_stops_and_times():
    text = routes_map()
    for name in ("Unit routes 2026-01-01 · day", "Unit routes 2026-01-01 · night"):
        assert f'"{name}"' in text, name  # in the layer control
    lines = features(text, "LineString")
    assert len(lines) == 8  # 2 stations × 2 shifts × 2 units of the first day, not the second
    colours = {line["unit_id"]: line["colour"] for line in lines}
    assert len({colours[f"S01-{s}-{n}"] for s in ("day", "night") for n in (1, 2)}) == 4
    assert colours["S01-day-1"] == colours["S02-day-1"]  # each station's units in turn
    stops = {(s["unit_id"], s["stop"]): s for s in features(text, "Point")}
    assert len(stops) == 16
    assert stops[("S02-night-2", 2)] == {
        "arrive": "23:54",
        "cell_id": "466_4432",
        "colour": colours["S02-night-2"],
        "depart": "00:06 (+1)",
        "scene_min": 12,
        "stop": 2,
        "unit_id": "S02-night-2",
    }
    assert "Arrives" in text and "On scene (min)" in text  # the popup's headings
    assert "one colour per unit of a station" in text  # the legend


def test_routes_speak_chinese_and_follow_the_tiles_datum():
    text = routes_map(lang="zh", tiles_datum="gcj02")
    assert "巡逻组路线 2026-01-01 · 夜班" in text and "到达" in text
    lon, lat = wgs84_to_gcj02(116.4, 39.9)  # station S01, where its routes start
    assert f"[{round(float(lon), 5)}, {round(float(lat), 5)}]" in text
    assert "[116.4, 39.9]" not in text


def test_too_many_routes_are_left_to_the_sheets(monkeypatch):
    monkeypatch.setattr(plan_map_module, "MAX_ROUTES", 7)
    text = routes_map()
    assert features(text, "LineString") == [] and features(text, "Point") == []
    assert "8 routes that day, too many to draw: print the mission sheets" in text


def test_a_map_without_missions_has_no_routes_layer_and_routes_alone_have_no_stops():
    assert "Unit routes" not in page_text(plan_map(**small_plan(), tiles="none", attribution=""))
    routes = tiny_missions()[ROUTES]
    text = page_text(plan_map(**small_plan(), tiles="none", attribution="", routes=routes))
    assert len(features(text, "LineString")) == 8 and features(text, "Point") == []


@given(
    st.lists(st.tuples(st.floats(73.0, 135.0), st.floats(18.0, 53.0)), min_size=1, max_size=20),
    st.integers(40, 400),
    st.integers(40, 400),
)
def test_an_svg_view_keeps_every_point_inside_its_padded_canvas(points, width, height):
    lonlat = np.array(points)
    bounds = (*lonlat.min(axis=0), *lonlat.max(axis=0))
    view = SvgView.fit(bounds, width, height, pad=5, min_span=0.001)
    px = view.px(lonlat)
    assert (px >= 5 - 1e-6).all()
    assert (px[:, 0] <= width - 5 + 1e-6).all() and (px[:, 1] <= height - 5 + 1e-6).all()
    east, north = view.px(np.array([[bounds[2], bounds[3]]]))[0]
    west, south = view.px(np.array([[bounds[0], bounds[1]]]))[0]
    assert east >= west and south >= north  # north up, east right


def cell_popups(text: str) -> dict[str, dict[str, str]]:
    """What a click on each cell shows under its layer's own rows (the page's cell table):
    heading → value, in the order shown, empty values left out as the popup leaves them."""
    table = json.loads(re.search(r"var cell_table_\d+ = (\{.*?\});\n", text)[1])
    return {
        cell: {head: value for head, value in zip(table["aliases"], row, strict=True) if value}
        for cell, row in table["rows"].items()
    }


def with_aid(plan: dict) -> dict:
    """The small plan with S01 lending 4 h of the night shift to S02's cell 102_200."""
    plan["allocation"]["lender_station_id"] = ""
    aid = pd.DataFrame(
        {
            "cell_id": ["102_200"],
            "shift": ["night"],
            "station_id": ["S02"],
            "hours": [4.0],
            "prev_hours": [0.0],
            "lender_station_id": ["S01"],
        }
    )
    plan["allocation"] = pd.concat([plan["allocation"], aid], ignore_index=True)
    return plan


def test_a_click_on_a_cell_shows_its_station_id_risk_hours_per_shift_and_aid():
    plan = with_aid(small_plan())
    plan["risk"].loc[plan["risk"]["cell_id"] == "102_200", "risk"] = [1234.5, 0.01234]
    text = page_text(plan_map(**plan, tiles="none", attribution="", shifts=["night", "day"]))
    assert list(cell_popups(text)["102_200"].items()) == [
        ("Station", "乙派出所 (S02)"),
        ("Cell", "102_200"),
        ("Forecast risk · night", "0.012"),
        ("Forecast risk · day", "1,234"),
        ("Patrol hours · night", "4.0"),
        ("Patrol hours · day", "0.0"),
        ("Mutual aid from", "甲派出所 (S01) 4.0 h · night"),
    ]
    assert cell_popups(text)["100_200"] == {
        "Station": "甲派出所 (S01)",
        "Cell": "100_200",
        "Forecast risk · night": "1.0",
        "Forecast risk · day": "1.0",
        "Patrol hours · night": "10.0",
        "Patrol hours · day": "10.0",
    }
    zh = cell_popups(page_text(plan_map(**plan, tiles="none", attribution="", lang="zh")))
    assert zh["102_200"]["派出所"] == "乙派出所（S02）"
    assert zh["102_200"]["跨所支援"] == "甲派出所（S01） 4.0 小时 · 夜班"
    # every cell layer's popup ends with the table; its own rows first, for reading
    popups = re.findall(r"bindPopup\(function\(layer\)\{.*?return div;", text, re.S)
    assert sum("cell_table_" in p for p in popups) == 2 + 2 + 1 + 1  # risk, hours, change, visits
    assert '"hours": "10.0"' in text and '"risk": "1,234"' in text


def test_a_block_popup_names_every_station_it_covers():
    plan = small_plan()
    text = page_text(plan_map(**plan, tiles="none", attribution="", max_cells=8))
    assert "Cells drawn in blocks of 4×4" in text
    block = cell_popups(text)["100_200"]
    assert block["Station"] == "甲派出所 (S01), 乙派出所 (S02)"
    assert block["Patrol hours · day"] == "80.0"  # 8 S01 cells of 10 h


def test_shifts_follow_the_configured_order_everywhere(tmp_path):
    """A bureau whose shifts are configured night, evening, day (not alphabetical, not day
    first): the layer list, the station and cell popups and the visits' shifts follow it."""
    plan = small_plan()
    evening = plan["allocation"][plan["allocation"]["shift"] == "day"].assign(shift="evening")
    plan["allocation"] = pd.concat([plan["allocation"], evening], ignore_index=True)
    plan["risk"] = plan["allocation"].assign(risk=1.0)[["cell_id", "shift", "risk", "station_id"]]
    plan["schedule"] = pd.concat(
        [plan["schedule"], plan["schedule"].assign(shift="night", visit=[3, 4])]
    )
    cfg = Config.model_validate(
        {
            "allocation": {
                "shift_share": {"night": 0.3, "evening": 0.3, "day": 0.4},
                "shift_hours": {"night": [0, 8], "evening": [16, 24], "day": [8, 16]},
            }
        }
    )
    cells = plan["cells"]
    write_maps(
        tmp_path,
        cfg,
        names=BureauNames(),
        title="",
        cells=cells,
        risk=plan["risk"],
        allocation=plan["allocation"],
        allocation_geo=cells.merge(plan["allocation"], on="cell_id"),
        schedule=plan["schedule"],
        hotspots=plan["hotspots"],
        jurisdictions=jurisdiction_layer(
            gpd.GeoDataFrame(plan["stations"][["station_id", "name", "geometry"]]),
            pd.DataFrame({"station_id": ["S01", "S02"], "grade": ["good", "good"]}),
            plan["allocation"],
        ),
        execution=None,
        lang="en",
    )
    text = (tmp_path / "map.html").read_text(encoding="utf-8")
    text = re.sub(r"\\u([0-9a-f]{4})", lambda m: chr(int(m.group(1), 16)), text)
    order = ["night", "evening", "day"]
    overlays = re.search(r"overlays : +\{(.*?)\}", text, re.S)[1]
    for kind in ("Forecast risk", "Patrol hours"):
        found = re.findall(kind + r" · (\w+)", overlays)
        assert found == order, (kind, found)
    assert [h.split(" · ")[1] for h in cell_popups(text)["100_200"] if "hours" in h] == order
    station_popup = re.search(r'"aliases": (\["Station".*?\])', text)[1]
    assert re.findall(r"Patrol hours · (\w+)", station_popup) == order
    assert '"shifts": "night, day"' in text  # cells visited in two shifts


def test_each_legend_is_tied_to_the_layers_it_explains():
    """The legend script names, for each box, the layers whose toggling shows or hides it."""
    plan = small_plan()
    text = page_text(plan_map(**plan, tiles="none", attribution="", max_cells=20))
    overlays = dict(
        (var, name)
        for name, var in re.findall(
            r'"([^"]+)" : (\w+),', re.search(r"overlays : +\{(.*?)\}", text, re.S)[1]
        )
    )
    ties = {
        int(box): [overlays[v] for v in re.findall(r"\w+", layers)] if layers != "null" else None
        for box, layers in re.findall(r"\[(\d+), (null|\[[^\]]*\])\]", text)
    }
    titles = list(legend_titles(text)) + ["Cells drawn in blocks of 2×2"]
    tied = {titles[box]: layers for box, layers in ties.items()}
    assert tied == {
        "Grade": ["Jurisdictions by grade"],
        "Hotspot trend": ["Hotspots · theft (1)"],
        "Forecast risk (harm expected in the month)": [
            "Forecast risk · day",
            "Forecast risk · night",
        ],
        "Patrol hours (officer-hours in the month)": ["Patrol hours · day", "Patrol hours · night"],
        "Hours vs last month (officer-hours)": ["Hours vs last month"],
        "Scheduled hotspot visits": ["Scheduled hotspot visits"],
        "Cells drawn in blocks of 2×2": None,  # a note: always shown
    }
    assert "map.on('overlayadd overlayremove', show);" in text
