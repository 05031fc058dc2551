"""Planner maps (SPEC §9): folium with Leaflet inlined, so the page opens on an air-gapped
network. Leaflet's files come from the `xstatic-leaflet` package."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import folium
import geopandas as gpd
import xstatic.pkg.leaflet as xleaflet

GRADE_COLOURS = {
    "excellent": "#1a9850",
    "good": "#91cf60",
    "qualified": "#fee08b",
    "unqualified": "#d73027",
}
LABELS = {
    "en": {
        "stations": "Jurisdictions (grade)",
        "risk": "Risk",
        "hotspots": "Hotspots",
        "hours": "Patrol hours",
        "change": "Change vs last month",
        "legend": "Grade",
    },
    "zh": {
        "stations": "辖区（考核等级）",
        "risk": "风险",
        "hotspots": "热点",
        "hours": "巡逻时长",
        "change": "较上月变化",
        "legend": "等级",
    },
}


def leaflet_inline() -> str:
    """Leaflet's script and stylesheet as inline tags, images as data URIs."""
    base = Path(xleaflet.BASE_DIR)
    css = (base / "leaflet.css").read_text(encoding="utf-8")

    def data_uri(match: re.Match) -> str:
        image = base / match.group(1)
        return f"url(data:image/png;base64,{base64.b64encode(image.read_bytes()).decode()})"

    css = re.sub(r"url\((images/[^)]+\.png)\)", data_uri, css)
    js = (base / "leaflet.js").read_text(encoding="utf-8")
    return f"<style>{css}</style>\n<script>{js}</script>"


class OfflineMap(folium.Map):
    """A folium map that references no remote script or stylesheet."""

    default_js: list = []
    default_css: list = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.get_root().header.add_child(folium.Element(leaflet_inline()), name="leaflet", index=0)


def plan_map(
    stations: gpd.GeoDataFrame,
    risk_cells: gpd.GeoDataFrame,
    hotspots: gpd.GeoDataFrame,
    hours_cells: gpd.GeoDataFrame,
    tiles: str,
    attribution: str,
    lang: str = "en",
) -> folium.Map:
    """Map with jurisdictions coloured by grade, risk and hours per shift, hotspots, legend and
    layer control; all frames in WGS84."""
    labels = LABELS[lang]
    centre = stations.union_all().centroid
    use_tiles = (
        None if tiles == "none" else ("OpenStreetMap" if tiles == "openstreetmap" else tiles)
    )
    m = OfflineMap(
        location=[centre.y, centre.x], zoom_start=13, tiles=use_tiles, attr=attribution or None
    )
    folium.GeoJson(
        stations,
        name=labels["stations"],
        style_function=lambda f: {
            "fillColor": GRADE_COLOURS.get(f["properties"].get("grade"), "#999"),
            "color": "#333",
            "weight": 1.5,
            "fillOpacity": 0.35,
        },
        popup=folium.GeoJsonPopup(
            fields=[
                c for c in ("station_id", "name", "grade", "total", "rank") if c in stations.columns
            ]
        ),
    ).add_to(m)
    for frame, column, title, colour in (
        (risk_cells, "risk", labels["risk"], "#e31a1c"),
        (hours_cells, "hours", labels["hours"], "#2171b5"),
    ):
        for shift, part in frame.groupby("shift", sort=False):
            top = part[column].max() or 1.0
            folium.GeoJson(
                part[["cell_id", "shift", column, "geometry"]],
                name=f"{title}: {shift}",
                show=False,
                style_function=lambda f, c=column, t=top, col=colour: {
                    "fillColor": col,
                    "weight": 0,
                    "fillOpacity": 0.75 * float(f["properties"][c]) / t,
                },
                tooltip=folium.GeoJsonTooltip(fields=["cell_id", "shift", column]),
            ).add_to(m)
    if len(hotspots):
        folium.GeoJson(
            hotspots,
            name=labels["hotspots"],
            style_function=lambda f: {"color": "#6a3d9a", "weight": 2, "fillOpacity": 0.1},
            popup=folium.GeoJsonPopup(fields=[c for c in hotspots.columns if c != "geometry"]),
        ).add_to(m)
    legend = "".join(
        f'<div><span style="background:{c};display:inline-block;width:12px;'
        f'height:12px"></span> {g}</div>'
        for g, c in GRADE_COLOURS.items()
    )
    m.get_root().html.add_child(
        folium.Element(
            f'<div id="legend" style="position:fixed;bottom:20px;left:20px;z-index:9999;'
            f'background:white;padding:6px;font:12px sans-serif"><b>{labels["legend"]}</b>'
            f"{legend}</div>"
        )
    )
    folium.LayerControl(collapsed=False).add_to(m)
    return m
