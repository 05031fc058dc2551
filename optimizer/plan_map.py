"""The plan's map (SPEC §9): the plan's frames put into words and colours for `geo.maps`.

`geo.maps` draws layers and knows no grade, trend or offence; here each station's grade and each
hotspot's trend get their colour, every code its word in the reader's language (`optimizer.i18n`,
with the bureau's own names for its offences, categories and station types), and the legends of
those classes are written.
"""

from __future__ import annotations

from pathlib import Path

import folium
import geopandas as gpd
import pandas as pd

from geo.maps import MAX_CELLS, MapText, write_geopackage
from geo.maps import plan_map as draw_plan_map
from models.config import Config
from models.scoring import ASSESSMENT_COLUMNS
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
    keep = [c for c in ASSESSMENT_COLUMNS if c in scores.columns]
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
        label=station_labels(stations),
    )
    if "total_with_bonus" in shown:
        shown["total_with_bonus"] = shown["total_with_bonus"].round(1)
    if "veto" in shown:
        shown["veto"] = shown["veto"].map(
            lambda v: labels["yes"] if str(v) == "True" else labels["no"]
        )
    return shown


def station_labels(stations: pd.DataFrame) -> pd.Series:
    """Each station as a planner names it: its name, else its id."""
    if "name" not in stations:
        return stations["station_id"].astype(str)
    names = stations["name"].fillna("").astype(str).str.strip()
    return names.where(names != "", stations["station_id"].astype(str))


def crews(allocation: pd.DataFrame, stations: pd.DataFrame, words: Vocabulary) -> pd.DataFrame:
    """`cell_id, shift, by, hours`: whose officers patrol each cell and shift, from
    `allocation.csv` rows — the cell's own station, or a lender (`lender_station_id`) marked as
    aid — named as planners name them."""
    named = dict(zip(stations["station_id"].astype(str), station_labels(stations), strict=True))
    rows = allocation[allocation["hours"] > 0]
    lender = (
        rows["lender_station_id"].fillna("").astype(str)
        if "lender_station_id" in rows
        else pd.Series("", index=rows.index)
    )
    station = rows["station_id"].astype(str)
    aid = words.section("map")["aid"]
    by = [
        aid.format(station=named.get(lent, lent)) if lent else named.get(own, own)
        for own, lent in zip(station, lender, strict=True)
    ]
    return pd.DataFrame(
        {"cell_id": rows["cell_id"], "shift": rows["shift"], "by": by, "hours": rows["hours"]}
    )


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
    previous: bool | None = None,
    execution: pd.DataFrame | None = None,
) -> folium.Map:
    """The planner's map of one plan, every word in `lang` (see `geo.maps.plan_map` for the
    layers): `stations` from `jurisdiction_layer`, `allocation` the rows of `allocation.csv`
    (a lender's hours on rows of their own, `lender_station_id`), `names` the bureau's own.
    The hours-against-last-month layer only with a `previous` plan (by default: when any cell
    had hours last month); `execution` (`execution.csv`: `station_id, cell_id, shift,
    planned_hours, delivered_hours, visits`) adds delivered against planned hours per shift."""
    words = vocabulary(lang, names)
    scheduled = pd.Series(schedule["shift"].unique())  # a schedule holds millions of visits
    shifts = pd.concat([risk["shift"], allocation["shift"], scheduled]).astype(str)
    text = MapText(
        layers=words.section("map"),
        fields=words.section("fields"),
        shifts={s: words.term(s) for s in shifts.unique()},
    )
    per_cell = allocation.groupby(["cell_id", "shift"], as_index=False, sort=False)[
        ["hours", "prev_hours"]
    ].sum()
    if previous is None:
        previous = bool((per_cell["prev_hours"] > 0).any())
    return draw_plan_map(
        shown_stations(stations, words),
        cells,
        risk,
        per_cell,
        shown_hotspots(hotspots, words),
        schedule,
        tiles,
        attribution,
        text,
        legends=class_legends(words),
        title=title,
        crews=crews(allocation, stations, words),
        change=previous,
        execution=execution,
        max_cells=max_cells,
        tiles_datum=tiles_datum,
    )


def write_maps(
    folder: Path,
    cfg: Config,
    *,
    names: BureauNames,
    title: str,
    cells: gpd.GeoDataFrame,
    risk: pd.DataFrame,
    allocation: pd.DataFrame,
    allocation_geo: gpd.GeoDataFrame,
    schedule: pd.DataFrame,
    hotspots: gpd.GeoDataFrame,
    jurisdictions: gpd.GeoDataFrame,
    execution: pd.DataFrame | None,
    lang: str,
) -> None:
    """`plan.gpkg` for GIS desks (layers allocation, hotspots, risk, jurisdictions) and the
    planners' `map.html`, into `folder`."""
    risk_geo = cells[["cell_id", "geometry"]].merge(
        risk[["cell_id", "shift", "risk", "station_id"]], on="cell_id"
    )
    write_geopackage(
        {
            "allocation": allocation_geo,
            "hotspots": hotspots,
            "risk": risk_geo,
            "jurisdictions": jurisdictions,
        },
        folder / "plan.gpkg",
    )
    plan_map(
        jurisdictions,
        cells[["cell_id", "geometry"]],
        risk,
        allocation,
        hotspots,
        schedule,
        cfg.map.tiles,
        cfg.map.attribution,
        lang,
        title=title,
        names=names,
        tiles_datum=cfg.map.tiles_datum,
        execution=execution,
    ).save(str(folder / "map.html"))
