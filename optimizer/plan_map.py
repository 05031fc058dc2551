"""The plan's map (SPEC §9): the plan's frames put into words and colours for `geo.maps`.

`geo.maps` draws layers and knows no grade, trend or offence; here each station's grade and each
hotspot's trend get their colour, every code its word in the reader's language (`optimizer.i18n`,
with the bureau's own names for its offences, categories and station types), and the legends of
those classes are written.
"""

from __future__ import annotations

import folium
import geopandas as gpd
import pandas as pd

from geo.maps import MAX_CELLS, MapText
from geo.maps import plan_map as draw_plan_map
from optimizer.i18n import BureauNames, Vocabulary, vocabulary

GRADE_COLOURS = {
    "excellent": "#1a9850",
    "good": "#91cf60",
    "qualified": "#fee08b",
    "unqualified": "#d73027",
}
TREND_COLOURS = {
    "new": "#7a0177",
    "intensifying": "#e31a1c",
    "persistent": "#ff7f00",
    "sporadic": "#969696",
    "diminishing": "#33a02c",
}
UNCLASSED = "#999999"  # a grade the palette does not know
HOTSPOT_COLOUR = "#6a3d9a"  # a trend the palette does not know
HOTSPOT_WORDS = {  # hotspot column → kind of code (None: the product's own)
    "category": "category",
    "dominant_offence": "offence",
    "peak_shift": None,
    "peak_weekday": None,
    "trend": None,
}


def jurisdiction_layer(
    stations: gpd.GeoDataFrame, scores: pd.DataFrame, allocation: pd.DataFrame
) -> gpd.GeoDataFrame:
    """Station polygons with their assessment (grade, score, rank, streak, veto) and planned hours
    per shift and in total: the stations layer of the map, the report and the GeoPackage."""
    keep = [
        c
        for c in (
            "station_id",
            "grade",
            "total_with_bonus",
            "rank",
            "group_size",
            "veto",
            "last_place_streak",
        )
        if c in scores.columns
    ]
    hours = allocation.pivot_table(
        index="station_id", columns="shift", values="hours", aggfunc="sum", fill_value=0.0
    )
    hours = hours.add_prefix("hours_").assign(hours=hours.sum(axis=1)).round(1).reset_index()
    base = stations[[c for c in ("station_id", "name", "geometry") if c in stations.columns]]
    out = base.merge(scores[keep], on="station_id", how="left").merge(
        hours, on="station_id", how="left"
    )
    return out.to_crs("EPSG:4326")


def shown_stations(stations: gpd.GeoDataFrame, words: Vocabulary) -> gpd.GeoDataFrame:
    """`jurisdiction_layer` rows as a reader sees them: the grade in words with its colour in
    `fill`, the score to one decimal, the veto as yes / no."""
    labels = words.section("map")
    shown = stations.assign(
        fill=stations["grade"].map(GRADE_COLOURS).fillna(UNCLASSED),
        grade=stations["grade"].map(words.term),
    )
    if "total_with_bonus" in shown:
        shown["total_with_bonus"] = shown["total_with_bonus"].round(1)
    if "veto" in shown:
        shown["veto"] = shown["veto"].map(
            lambda v: labels["yes"] if str(v) == "True" else labels["no"]
        )
    return shown


def shown_hotspots(hotspots: gpd.GeoDataFrame, words: Vocabulary) -> gpd.GeoDataFrame:
    """Hotspots in words, by category: their trend's colour in `colour`, their category's name
    in `layer` (one map layer each)."""
    spots = hotspots.sort_values("category", kind="stable") if len(hotspots) else hotspots
    shown = spots.assign(
        colour=spots["trend"].map(TREND_COLOURS).fillna(HOTSPOT_COLOUR),
        layer=spots["category"].map(lambda c: words.term(c, "category")),
    )
    for column, kind in HOTSPOT_WORDS.items():
        if column in shown:
            shown[column] = shown[column].map(lambda v, k=kind: words.term(v, k))
    return shown


def class_legends(words: Vocabulary) -> list[tuple[str, list[tuple[str, str]]]]:
    """The grade and hotspot-trend legends."""
    labels = words.section("map")
    return [
        (labels["grade"], [(c, words.term(g)) for g, c in GRADE_COLOURS.items()]),
        (labels["trend"], [(c, words.term(t)) for t, c in TREND_COLOURS.items()]),
    ]


def map_title(lang: str, month: str, scenario: str) -> str:
    """The map's title: plan month and scenario."""
    return vocabulary(lang).section("map")["title"].format(month=month, scenario=scenario)


def plan_map(
    stations: gpd.GeoDataFrame,
    cells: gpd.GeoDataFrame,
    risk: pd.DataFrame,
    allocation: pd.DataFrame,
    hotspots: gpd.GeoDataFrame,
    schedule: pd.DataFrame,
    tiles: str,
    attribution: str,
    lang: str = "en",
    title: str = "",
    names: BureauNames | None = None,
    max_cells: int = MAX_CELLS,
    tiles_datum: str = "wgs84",
) -> folium.Map:
    """The planner's map of one plan, every word in `lang` (see `geo.maps.plan_map` for the
    layers and the frames): `stations` from `jurisdiction_layer`, `names` the bureau's own."""
    words = vocabulary(lang, names)
    shifts = pd.concat([risk["shift"], allocation["shift"], schedule["shift"]]).astype(str)
    text = MapText(
        layers=words.section("map"),
        fields=words.section("fields"),
        shifts={s: words.term(s) for s in shifts.unique()},
    )
    return draw_plan_map(
        shown_stations(stations, words),
        cells,
        risk,
        allocation,
        shown_hotspots(hotspots, words),
        schedule,
        tiles,
        attribution,
        text,
        legends=class_legends(words),
        title=title,
        max_cells=max_cells,
        tiles_datum=tiles_datum,
    )
