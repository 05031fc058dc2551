"""What a station reads of a plan (SPEC §14, §18): its rows of every table with the mutual aid
named in both directions, its name, and the shapes of its own map.

Tables say whose a row is in two ways. `allocation` (with `lender_station_id`) keys a row by
the station owning the cell, and names the lender of aid hours; `schedule` and `missions` key a
visit by the station whose officers make it. A station reads, in both kinds, the rows of its own
cells (aid it receives included) and the rows of aid it lends in another's cells, each aid row
labelled in an `aid` column ("lends to S01", "received from S02")."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

LENDER = "lender_station_id"
AID = "aid"
JURISDICTIONS = "jurisdictions.geojson"
CELLS = "allocation.geojson"
ROUTES = "missions.geojson"


def cell_owners(allocation: pd.DataFrame) -> pd.Series:
    """cell id → the station whose jurisdiction holds it (allocation's `station_id`)."""
    return allocation.drop_duplicates("cell_id").set_index("cell_id")["station_id"]


def station_rows(
    frame: pd.DataFrame,
    station: str,
    owners: pd.Series | None,
    words: Mapping[str, str],
    names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """The rows station `station` reads, with an `aid` column where a table carries aid:
    "lends to X" for its hours in X's cells, "received from Y" for Y's hours in its own cells,
    empty for its own. `owners` (`cell_owners`) places the visits of tables keyed by who
    patrols (schedule, missions); `words` holds `lends_to` and `received_from` ({station}),
    and a station is named by its id and, where `names` has it, its name."""
    if "station_id" not in frame.columns:
        return frame.iloc[:0]
    patrolled_by = frame["station_id"]
    if LENDER in frame.columns:
        lender = frame[LENDER].fillna("").astype(str)
        owner = frame["station_id"]
        patrolled_by = lender.where(lender != "", owner)
    elif owners is not None and "cell_id" in frame.columns:
        owner = frame["cell_id"].map(owners).fillna(frame["station_id"])
    else:
        return frame[frame["station_id"] == station]
    keep = (owner == station) | (patrolled_by == station)
    rows = frame[keep].copy()
    owner, patrolled_by = owner[keep], patrolled_by[keep]
    lends = (patrolled_by == station) & (owner != station)
    received = (owner == station) & (patrolled_by != station)
    names = names or {}

    def named(other: str) -> str:
        return f"{other} {names[other]}" if names.get(other) else other

    aid = pd.Series("", index=rows.index, dtype=object)
    aid[lends] = [words["lends_to"].format(station=named(s)) for s in owner[lends]]
    aid[received] = [
        words["received_from"].format(station=named(s)) for s in patrolled_by[received]
    ]
    rows[AID] = aid
    return rows


def station_names(folder: Path) -> dict[str, str]:
    """station id → name, from the run's `jurisdictions.geojson` (`name`, else the id); none
    for a run without it."""
    path = folder / JURISDICTIONS
    if not path.is_file():
        return {}
    return dict(_layer(path, path.stat().st_mtime_ns)[["station_id", "name"]].values)


@functools.lru_cache(maxsize=8)
def _layer(path: Path, _mtime_ns: int) -> gpd.GeoDataFrame:
    layer = gpd.read_file(path)
    if "name" not in layer.columns:
        layer["name"] = layer["station_id"]
    for column in ("station_id", "name"):
        layer[column] = layer[column].astype(str)
    return layer.to_crs(4326) if layer.crs is not None else layer


def read_layer_of(folder: Path, name: str) -> gpd.GeoDataFrame | None:
    """A layer of the run (WGS84), kept while its file is unchanged; None when absent."""
    path = folder / name
    return _layer(path, path.stat().st_mtime_ns) if path.is_file() else None


@dataclass(frozen=True)
class Shape:
    """One drawn thing of the station's map: an SVG path (`d`) or polyline (`points`), its
    colour and the words shown on hover."""

    d: str
    colour: str
    title: str


@dataclass(frozen=True)
class StationMap:
    view_box: str
    jurisdiction: list[Shape]
    cells: list[Shape]
    routes: list[Shape]
    legend: list[tuple[str, str]]  # colour, hours range


BLUES = ("#f1f5fb", "#c6dbef", "#6baed6", "#2171b5", "#08306b")
ROUTE_COLOURS = ("#d62728", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")
WIDTH = 640.0


class _Projection:
    """Longitude and latitude to SVG units: equirectangular at the area's mean latitude,
    north up, `WIDTH` wide."""

    def __init__(self, bounds: tuple[float, float, float, float]) -> None:
        minx, miny, maxx, maxy = bounds
        self.kx = math.cos(math.radians((miny + maxy) / 2))
        span = max((maxx - minx) * self.kx, maxy - miny, 1e-9)
        self.scale = WIDTH / span
        self.minx, self.maxy = minx, maxy
        self.height = (maxy - miny) * self.scale

    def xy(self, lon: float, lat: float) -> str:
        x = (lon - self.minx) * self.kx * self.scale
        return f"{x:.1f},{(self.maxy - lat) * self.scale:.1f}"

    def path(self, geometry) -> str:
        parts = []
        for polygon in getattr(geometry, "geoms", [geometry]):
            for ring in (polygon.exterior, *polygon.interiors):
                points = [self.xy(x, y) for x, y in ring.coords]
                parts.append("M" + " L".join(points) + " Z")
        return " ".join(parts)

    def line(self, geometry) -> str:
        return " ".join(self.xy(x, y) for x, y in shapely.get_coordinates(geometry))


def station_map(
    jurisdiction: gpd.GeoSeries,
    cells: gpd.GeoDataFrame,
    routes: gpd.GeoDataFrame,
    shifts: list[str],
    words: Mapping[str, str],
    shift_words: Mapping[str, str],
) -> StationMap:
    """The shapes of a station's map: its jurisdiction, its cells coloured by their hours over
    all shifts (hover: cell, hours per shift in `shifts` order, risk) and the routes given (one
    line per unit; hover: unit, stops, minutes on patrol and driving)."""
    bounds = shapely.union_all([*jurisdiction.geometry, *cells.geometry]).bounds
    projection = _Projection(bounds)
    hours = cells.pivot_table(index="cell_id", columns="shift", values="hours", aggfunc="sum")
    risk = cells.groupby("cell_id")["risk"].max()
    shapes = cells.drop_duplicates("cell_id").set_index("cell_id").geometry
    total = hours.sum(axis=1)
    top = float(total.max()) if len(total) else 0.0
    steps = [top * k / len(BLUES) for k in range(len(BLUES) + 1)]
    cell_shapes = []
    for cell, geometry in shapes.items():
        step = min(int(total[cell] / top * len(BLUES)), len(BLUES) - 1) if top > 0 else 0
        by_shift = " · ".join(
            f"{shift_words.get(s, s)} {hours.at[cell, s]:.1f} h" for s in shifts if s in hours
        )
        title = words["cell_hover"].format(cell=cell, hours=by_shift, risk=f"{risk[cell]:.2f}")
        cell_shapes.append(Shape(projection.path(geometry), BLUES[step], title))
    route_shapes = [
        Shape(
            projection.line(row.geometry),
            ROUTE_COLOURS[n % len(ROUTE_COLOURS)],
            words["route_hover"].format(
                unit=row.unit_id, stops=row.stops, patrol=row.patrol_min, travel=row.travel_min
            ),
        )
        for n, row in enumerate(routes.itertuples())
    ]
    legend = [(colour, f"{steps[k]:.0f}–{steps[k + 1]:.0f} h") for k, colour in enumerate(BLUES)]
    return StationMap(
        view_box=f"-10 -10 {WIDTH + 20:.0f} {projection.height + 20:.0f}",
        jurisdiction=[Shape(projection.path(g), "none", "") for g in jurisdiction.geometry],
        cells=cell_shapes,
        routes=route_shapes,
        legend=legend,
    )


def plan_shifts(folder: Path) -> list[str]:
    """The plan's shifts in the configured order (plan.json's `shift_hours`)."""
    plan = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
    return list(plan.get("parameters", {}).get("allocation", {}).get("shift_hours", {}))
