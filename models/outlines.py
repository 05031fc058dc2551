"""Checks of the jurisdiction layer (SPEC §2): every feature a valid polygon, coordinates that
are longitudes and latitudes, no two jurisdictions claiming one place, and an extent the grid can
cover — all before anything is allocated for it.

Polygons are WGS84 here; lengths and areas are estimated on the sphere (good to a few per cent),
which is enough to name a problem and to guard memory.
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import shapely

from models.config import Config
from models.errors import Problem

METRES_PER_DEGREE = 111_320.0  # along the equator and along a meridian, near enough
MAX_GRID_CELLS = 20_000_000  # the grid over the jurisdictions' extent: ~1 GB to build at this size
MAX_EXTENT_KM = 2_000.0  # a bureau's jurisdictions span less; farther lies a mistyped vertex
OVERLAP_SHARE = 0.001  # jurisdictions may overlap by digitising slivers below this share of area
_REASON_AT = re.compile(r"^(?P<what>[^\[]+)\[(?P<x>\S+) (?P<y>\S+)\]")


def _crossing(geom, x: float, y: float) -> str:
    """Where an outline crosses itself at (x, y), by its vertices (numbered from 1 as the file
    lists them, ring after ring): the edges through the point, else the nearest vertex."""
    rings = shapely.get_rings(shapely.get_parts(geom))
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    a, b = coords[:-1], coords[1:]
    same_ring = ring[:-1] == ring[1:]
    ab = b - a
    t = np.clip(
        ((x - a[:, 0]) * ab[:, 0] + (y - a[:, 1]) * ab[:, 1])
        / np.maximum((ab**2).sum(axis=1), 1e-300),
        0,
        1,
    )
    gap = np.hypot(a[:, 0] + t * ab[:, 0] - x, a[:, 1] + t * ab[:, 1] - y)
    edges = np.flatnonzero(same_ring & (gap <= 1e-9 * max(1.0, abs(x), abs(y))))
    if len(edges) >= 2:
        named = " and ".join(f"{k + 1}–{k + 2}" for k in edges[:2])
        return f"where the edges between vertices {named} cross"
    nearest = int(np.argmin(np.hypot(coords[:, 0] - x, coords[:, 1] - y))) + 1
    return f"next to vertex {nearest}"


def shape_problems(file: str, geoms: np.ndarray) -> list[Problem]:
    """Features that are missing, not polygons, outside WGS84's range, or invalid outlines
    (a spike or twisted ring: named at the vertex next to where it crosses itself)."""
    problems = []
    for i, geom in enumerate(geoms):
        row = i + 1

        def problem(message: str, row: int = row) -> None:
            problems.append(Problem(file, row, "geometry", message))

        if geom is None or geom.is_empty:
            problem("missing jurisdiction polygon")
            continue
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            problem(f"{geom.geom_type} is not a polygon")
            continue
        coords = shapely.get_coordinates(geom)
        outside = ~(
            np.isfinite(coords).all(axis=1)
            & (np.abs(coords[:, 0]) <= 180)
            & (np.abs(coords[:, 1]) <= 90)
        )
        if outside.any():
            k = int(np.flatnonzero(outside)[0])
            x, y = coords[k]
            problem(f"vertex {k + 1} ({x:g}, {y:g}) is not a longitude/latitude in WGS84")
            continue
        if not geom.is_valid:
            reason = shapely.is_valid_reason(geom)
            at = _REASON_AT.match(reason)
            if at:
                x, y = float(at["x"]), float(at["y"])
                where = f" at ({x:.6f}, {y:.6f}), {_crossing(geom, x, y)}"
                reason = at["what"].strip()
            else:
                where = ""
            problem(
                f"jurisdiction outline is not a valid polygon: {reason.lower()}{where} "
                "(a spike or a ring crossing itself); fix the outline"
            )
    return problems


def overlap_problems(file: str, stations: gpd.GeoDataFrame) -> list[Problem]:
    """Pairs of jurisdictions sharing more than a sliver of area: a place belongs to one
    station, else one of them is left without the cells it patrols. Reported at the later one."""
    geoms = stations.geometry.to_numpy()
    ids = stations["station_id"].astype(str).to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pairs = left < right
    problems = []
    for i, j in zip(left[pairs], right[pairs], strict=True):
        shared = shapely.intersection(geoms[i], geoms[j]).area
        smaller = min(geoms[i].area, geoms[j].area)
        if shared <= OVERLAP_SHARE * smaller:
            continue
        lat = shapely.centroid(geoms[j]).y
        problems.append(
            Problem(
                file,
                int(j) + 1,
                "geometry",
                f"jurisdiction of {ids[j]} overlaps that of {ids[i]} (row {i + 1}) by about "
                f"{_km2_text(_km2_of(shared, lat))} ({shared / smaller:.0%} of the smaller); "
                "a place belongs to one station",
            )
        )
    return problems


def _km2_of(area_deg2: float, lat: float) -> float:
    return area_deg2 * (METRES_PER_DEGREE / 1000) ** 2 * np.cos(np.radians(lat))


def _km2_text(km2: float) -> str:
    return f"{km2:.2f} km²" if km2 >= 0.01 else f"{km2 * 1e6:.0f} m²"


def extent_m(stations: gpd.GeoDataFrame) -> tuple[float, float]:
    """East-west and north-south extent of the jurisdictions in metres (spherical estimate)."""
    minx, miny, maxx, maxy = stations.total_bounds
    mid = np.radians((miny + maxy) / 2)
    return (maxx - minx) * METRES_PER_DEGREE * np.cos(mid), (maxy - miny) * METRES_PER_DEGREE


def stray_vertex_problems(file: str, stations: gpd.GeoDataFrame) -> list[Problem]:
    """A vertex far from the rest when the jurisdictions span more than any bureau does (one
    vertex typed as 0,0 turns a district's grid into a continent's)."""
    width, height = extent_m(stations)
    if max(width, height) <= MAX_EXTENT_KM * 1000:
        return []
    coords, part = shapely.get_coordinates(stations.geometry.to_numpy(), return_index=True)
    centre = np.median(coords, axis=0)
    scale = np.cos(np.radians(centre[1]))
    dist = np.hypot((coords[:, 0] - centre[0]) * scale, coords[:, 1] - centre[1])
    k = int(np.argmax(dist))
    feature = int(part[k])
    first = int(np.flatnonzero(part == feature)[0])
    x, y = coords[k]
    return [
        Problem(
            file,
            feature + 1,
            "geometry",
            f"vertex {k - first + 1} ({x:g}, {y:g}) lies {dist[k] * METRES_PER_DEGREE / 1000:,.0f} "
            f"km from the other jurisdictions, which then span {width / 1000:,.0f} × "
            f"{height / 1000:,.0f} km; a mistyped coordinate?",
        )
    ]


def grid_cells_needed(stations: gpd.GeoDataFrame, cell_size_m: float) -> float:
    """Number of grid cells over the jurisdictions' extent at `cell_size_m` metres."""
    width, height = extent_m(stations)
    return (np.floor(width / cell_size_m) + 2) * (np.floor(height / cell_size_m) + 2)


def grid_cell_size(stations: gpd.GeoDataFrame, config: Config) -> tuple[float, str | None]:
    """The grid's cell size in metres as `config` sets it, and why it is too small for the
    jurisdictions' extent, if it is: the one place the cell size is read from the config."""
    size_m = config.grid.cell_size_m
    return size_m, grid_size_message(stations, size_m)


def grid_size_message(stations: gpd.GeoDataFrame, cell_size_m: float) -> str | None:
    """Why `cell_size_m` is too small for the jurisdictions' extent, if it is."""
    cells = grid_cells_needed(stations, cell_size_m)
    if cells <= MAX_GRID_CELLS:
        return None
    width, height = extent_m(stations)
    smallest = np.sqrt(width * height / MAX_GRID_CELLS)
    return (
        f"{cell_size_m:g} m cells over the jurisdictions' {width / 1000:,.1f} × "
        f"{height / 1000:,.1f} km make {cells:,.0f} grid cells, more than the "
        f"{MAX_GRID_CELLS:,} a plan can hold; use cells of at least {np.ceil(smallest):.0f} m"
    )


def cell_less_problems(
    file: str, stations: gpd.GeoDataFrame, station_cells: set[str], cell_size_m: float
) -> list[Problem]:
    """Stations (in a metric CRS) whose jurisdiction holds no grid cell centre: their officers'
    patrol hours would have no cell to go to. `station_cells` names the stations that have one."""
    problems = []
    for i, (sid, geom) in enumerate(zip(stations["station_id"], stations.geometry, strict=True)):
        if sid in station_cells:
            continue
        problems.append(
            Problem(
                file,
                i + 1,
                "geometry",
                f"jurisdiction of {sid} ({_km2_text(geom.area / 1e6)}) holds no centre of a "
                f"{cell_size_m:g} m grid cell, so its patrol hours would have nowhere to go; "
                "use a smaller grid.cell_size_m or fix the outline",
            )
        )
    return problems
