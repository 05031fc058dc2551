"""The plan's map (SPEC §9): the plan's frames put into words and colours for `geo.maps`.

`geo.maps` draws layers and knows no grade, trend, offence or patrol unit; here each station's
grade and each hotspot's trend get their colour, each unit's route of the plan month's first day
its own (SPEC §16), every code its word in the reader's language (`optimizer.i18n`, with the
bureau's own names for its offences, categories and station types), and the legends of those
classes are written.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import folium
import geopandas as gpd
import pandas as pd

from geo.layers import LineGroup, MapText
from geo.maps import MAX_CELLS, write_geopackage
from geo.maps import plan_map as draw_plan_map
from models.config import Config
from models.scoring import ASSESSMENT_COLUMNS
from optimizer.i18n import BureauNames, Vocabulary, vocabulary
from optimizer.mission_files import clock

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
UNIT_COLOURS = (  # one per unit of a station, in turn
    "#1f78b4", "#e31a1c", "#33a02c", "#ff7f00", "#6a3d9a",
    "#b15928", "#17becf", "#e7298a", "#666666", "#bcbd22",
)  # fmt: skip
MAX_ROUTES = 5_000  # routes of one day on the map; beyond, the sheets show them
ROUTE_FIELDS = ("station_id", "unit_id", "shift", "stops", "patrol_min", "travel_min")
STOP_FIELDS = ("unit_id", "stop", "arrive", "depart", "cell_id", "scene_min")
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


def station_named(stations: pd.DataFrame, words: Vocabulary) -> dict[str, str]:
    """Each station id as a cell's popup names its station: name and id ("Riverside (S01)"), the
    id alone for a station without a name."""
    ids = stations["station_id"].astype(str)
    form = words.section("map")["station_named"]
    return {
        sid: sid if label == sid else form.format(name=label, id=sid)
        for sid, label in zip(ids, station_labels(stations), strict=True)
    }


def lenders(allocation: pd.DataFrame) -> pd.Series:
    """Each `allocation.csv` row's lending station, "" on the cell's own station's rows."""
    if "lender_station_id" not in allocation:
        return pd.Series("", index=allocation.index)
    return allocation["lender_station_id"].fillna("").astype(str)


def crews(allocation: pd.DataFrame, stations: pd.DataFrame, words: Vocabulary) -> pd.DataFrame:
    """`cell_id, shift, by, hours, lender`: whose officers patrol each cell and shift, from
    `allocation.csv` rows — the cell's own station, or a lender (`lender_station_id`) marked as
    aid — named as planners name them; `lender` names the lending station with its id ("" on
    the own station's rows)."""
    named = dict(zip(stations["station_id"].astype(str), station_labels(stations), strict=True))
    with_ids = station_named(stations, words)
    rows = allocation[allocation["hours"] > 0]
    lender = lenders(rows)
    station = rows["station_id"].astype(str)
    aid = words.section("map")["aid"]
    by = [
        aid.format(station=named.get(lent, lent)) if lent else named.get(own, own)
        for own, lent in zip(station, lender, strict=True)
    ]
    return pd.DataFrame(
        {
            "cell_id": rows["cell_id"],
            "shift": rows["shift"],
            "by": by,
            "hours": rows["hours"],
            "lender": [with_ids.get(lent, lent) for lent in lender],
        }
    )


def places(
    allocation: pd.DataFrame, risk: pd.DataFrame, stations: pd.DataFrame, words: Vocabulary
) -> pd.DataFrame:
    """`cell_id, station`: the station each cell belongs to (its own rows of `allocation.csv`,
    and `risk.csv`'s `station_id` where it has one), named with its id."""
    own = allocation.loc[lenders(allocation) == "", ["cell_id", "station_id"]]
    parts = [own, risk[["cell_id", "station_id"]]] if "station_id" in risk else [own]
    found = pd.concat(parts).astype(str).drop_duplicates()
    named = station_named(stations, words)
    return pd.DataFrame(
        {"cell_id": found["cell_id"], "station": found["station_id"].map(lambda s: named.get(s, s))}
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


def class_legends(words: Vocabulary) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """The grade and hotspot-trend legends, tied to the stations and hotspot layers."""
    labels = words.section("map")
    return [
        ("stations", labels["grade"], [(c, words.term(g)) for g, c in GRADE_COLOURS.items()]),
        ("hotspots", labels["trend"], [(c, words.term(t)) for t, c in TREND_COLOURS.items()]),
    ]


def _stop_points(missions: pd.DataFrame | None, day: str, colour: dict) -> gpd.GeoDataFrame:
    """The stops of `day` (`missions.csv` rows) as points: unit, shift, order, arrival and
    departure (HH:MM, marked when past midnight), cell and minutes on scene, and the colour of
    their unit."""
    stops = missions[missions["date"].astype(str) == day] if missions is not None else None
    if stops is None or stops.empty:
        return gpd.GeoDataFrame({"shift": []}, geometry=[], crs="EPSG:4326")
    start = pd.Timestamp(day)
    times = {c: pd.to_datetime(stops[c], format="ISO8601") for c in ("arrive", "depart")}
    return gpd.GeoDataFrame(
        {
            "unit_id": stops["unit_id"],
            "shift": stops["shift"],
            "stop": stops["stop"],
            **{c: [clock(t, start) for t in times[c]] for c in times},
            "cell_id": stops["cell_id"],
            "scene_min": stops["minutes"],
            "colour": stops["unit_id"].map(colour).fillna(UNCLASSED),
        },
        geometry=gpd.points_from_xy(stops["lon"], stops["lat"]),
        crs="EPSG:4326",
    )


def route_groups(
    routes: gpd.GeoDataFrame, missions: pd.DataFrame | None, words: Vocabulary, text: MapText
) -> tuple[list[LineGroup], tuple[str, str, list[tuple[str, str]]]]:
    """The routes of the plan month's first day (`missions.geojson`: one line per unit and
    shift, station → stops → station) as one map layer per shift in the configured order
    (`text`), each unit in a colour of its own within its station, with its stops
    (`missions.csv`) as points giving their order, times and cell; and their legend, tied to
    those layers. Past `MAX_ROUTES` routes none is drawn and the legend says so, always
    shown: the printed sheets show them."""
    labels = words.section("map")
    dates = routes["date"].astype(str)
    day = dates.min() if len(routes) else ""
    title = labels["routes"].format(date=day)
    shown = routes[dates == day]
    if len(shown) > MAX_ROUTES:
        return [], ("", title, [(UNCLASSED, labels["routes_many"].format(n=f"{len(shown):,}"))])
    shown = shown.to_crs("EPSG:4326").sort_values(["station_id", "shift", "unit_id"])
    units = shown[["station_id", "unit_id"]].drop_duplicates()
    turn = units.groupby("station_id").cumcount() % len(UNIT_COLOURS)
    colour = dict(zip(units["unit_id"], [UNIT_COLOURS[i] for i in turn], strict=True))
    points = _stop_points(missions, day, colour)
    groups = []
    for shift in text.ordered(shown["shift"]):
        part = shown[shown["shift"] == shift]
        groups.append(
            LineGroup(
                name=f"{title} · {text.shift(shift)}",
                lines=part.assign(colour=part["unit_id"].map(colour), shift=text.shift(shift))[
                    [*ROUTE_FIELDS, "colour", "geometry"]
                ],
                points=points[points["shift"] == shift].drop(columns="shift"),
                line_fields=ROUTE_FIELDS,
                point_fields=STOP_FIELDS,
            )
        )
    legend = [(f"border-top:3px solid {UNIT_COLOURS[0]}", labels["routes_legend"])]
    return groups, ("routes", title, legend)


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
    routes: gpd.GeoDataFrame | None = None,
    missions: pd.DataFrame | None = None,
    shifts: Sequence[str] = (),
) -> folium.Map:
    """The planner's map of one plan, every word in `lang` (see `geo.maps.plan_map` for the
    layers): `stations` from `jurisdiction_layer`, `allocation` the rows of `allocation.csv`
    (a lender's hours on rows of their own, `lender_station_id`), `names` the bureau's own,
    `shifts` the configured shift order (`[allocation] shift_share`), in which the map lists
    every shift (shifts not configured after them, as found).
    The hours-against-last-month layer only with a `previous` plan (by default: when any cell
    had hours last month); `execution` (`execution.csv`: `station_id, cell_id, shift,
    planned_hours, delivered_hours, visits`) adds delivered against planned hours per shift;
    `routes` (`missions.geojson`) the units' routes of the month's first day, with their
    stops from `missions` (`missions.csv`) where given (`route_groups`)."""
    words = vocabulary(lang, names)
    scheduled = pd.Series(schedule["shift"].unique())  # a schedule holds millions of visits
    routed = routes["shift"] if routes is not None else pd.Series(dtype=str)
    found = pd.concat([risk["shift"], allocation["shift"], scheduled, routed]).astype(str)
    text = MapText(
        layers=words.section("map"),
        fields=words.section("fields"),
        shifts={s: words.term(s) for s in dict.fromkeys([*map(str, shifts), *found.unique()])},
    )
    legends, lines = class_legends(words), []
    if routes is not None:
        lines, section = route_groups(routes, missions, words, text)
        legends.append(section)
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
        legends=legends,
        title=title,
        crews=crews(allocation, stations, words),
        change=previous,
        execution=execution,
        max_cells=max_cells,
        tiles_datum=tiles_datum,
        lines=lines,
        places=places(allocation, risk, stations, words),
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
    routes: gpd.GeoDataFrame | None = None,
    missions: pd.DataFrame | None = None,
) -> None:
    """`plan.gpkg` for GIS desks (layers allocation, hotspots, risk, jurisdictions) and the
    planners' `map.html`, into `folder`; with `routes` (the `missions.geojson` frame) the map
    shows the units' routes of the plan month's first day, their stops from `missions` (the
    `missions.csv` frame) where given."""
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
        routes=routes,
        missions=missions,
        shifts=cfg.allocation.shifts,
    ).save(str(folder / "map.html"))
