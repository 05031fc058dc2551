"""Jurisdictions: which station holds a point, which stations are neighbours, and where each
station's house stands."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

CELLS_PER_JURISDICTION = 256  # screening raster density of `station_of_points`


def station_of_points(stations: gpd.GeoDataFrame, x, y) -> np.ndarray:
    """Station id holding each point (the first station in `stations` whose jurisdiction
    intersects it, boundary included), `None` where none does or a coordinate is missing.

    `stations` and the points share one CRS. No geometry is made per point: the points fall into
    a screening raster over the jurisdictions (about `CELLS_PER_JURISDICTION` cells each); a cell
    lying within one jurisdiction and touching no other settles its points at once, and only the
    points of the other cells are tested, with `intersects_xy`, against the jurisdictions their
    cell touches.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    result = np.full(len(x), None, dtype=object)
    geoms = stations.geometry.to_numpy()
    ids = stations["station_id"].to_numpy()
    if len(geoms) == 0 or len(x) == 0:
        return result
    x0, y0, x1, y1 = shapely.total_bounds(geoms)
    inside = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)  # False for NaN
    width, height = x1 - x0, y1 - y0
    size = max(
        np.sqrt(width * height / (CELLS_PER_JURISDICTION * len(geoms))),
        max(width, height) / 4096,
        1e-9,
    )
    ny = int(height // size) + 1
    pts = np.flatnonzero(inside)
    cell = ((x[pts] - x0) // size).astype(np.int64) * ny + ((y[pts] - y0) // size).astype(np.int64)
    used, point_cell = np.unique(cell, return_inverse=True)
    ix, iy = used // ny, used % ny
    pad = size * 1e-6  # a point rounded into a neighbouring cell still lies in its box
    boxes = shapely.box(
        x0 + ix * size - pad, y0 + iy * size - pad, x0 + (ix + 1) * size + pad,
        y0 + (iy + 1) * size + pad,
    )  # fmt: skip
    shapely.prepare(geoms)
    tree = shapely.STRtree(geoms)
    box_idx, geom_idx = tree.query(boxes, predicate="intersects")
    touching = np.bincount(box_idx, minlength=len(used))
    single = touching[box_idx] == 1
    clean = np.full(len(used), -1)
    settled = single.copy()
    settled[single] = shapely.within(boxes[box_idx[single]], geoms[geom_idx[single]])
    clean[box_idx[settled]] = geom_idx[settled]
    found = clean[point_cell]
    # the other points: every (point, jurisdiction its cell touches) pair, tested exactly
    mixed = np.flatnonzero((found < 0) & (touching[point_cell] > 0))
    order = np.argsort(box_idx, kind="stable")
    box_idx, geom_idx = box_idx[order], geom_idx[order]
    start = np.searchsorted(box_idx, np.arange(len(used)))
    count = touching[point_cell[mixed]]
    pair_point = np.repeat(mixed, count)
    offset = np.arange(len(pair_point)) - np.repeat(np.cumsum(count) - count, count)
    pair_geom = geom_idx[start[point_cell[pair_point]] + offset]
    hit = shapely.intersects_xy(geoms[pair_geom], x[pts[pair_point]], y[pts[pair_point]])
    pair_point, pair_geom = pair_point[hit], pair_geom[hit]
    first = np.full(len(pts), len(geoms))
    np.minimum.at(first, pair_point, pair_geom)
    found[mixed] = np.where(first[mixed] < len(geoms), first[mixed], -1)
    hold = found >= 0
    result[pts[hold]] = ids[found[hold]]
    return result


def neighbours(stations: gpd.GeoDataFrame, min_shared_m: float = 1.0) -> pd.DataFrame:
    """Pairs of stations whose jurisdictions share a boundary of positive length.

    `stations` in a metric CRS; a shared boundary shorter than `min_shared_m` metres (a touching
    corner, a digitising sliver) does not count. Returns `station_id, neighbour_id, shared_m`, both
    directions, by the first station's then the second's position in `stations`. Candidate pairs
    come from an STRtree, so the cost grows with the number of touching pairs, not all pairs.
    """
    geoms = stations.geometry.to_numpy()
    ids = stations["station_id"].to_numpy()
    first, second = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = first < second
    order = np.lexsort((second[keep], first[keep]))
    i, j = first[keep][order], second[keep][order]
    boundary = shapely.boundary(geoms)
    shared = shapely.length(shapely.intersection(boundary[i], boundary[j]))
    # tolerate slivers: polygons that overlap slightly also share a boundary
    short = np.flatnonzero(shared < min_shared_m)
    overlap = shapely.intersection(geoms[i[short]], geoms[j[short]])
    half = np.where(shapely.area(overlap) > 0, shapely.length(overlap) / 2, 0.0)
    shared[short] = np.maximum(shared[short], half)
    ok = shared >= min_shared_m
    i, j, shared = i[ok], j[ok], shared[ok]
    return pd.DataFrame(
        {
            "station_id": np.column_stack([ids[i], ids[j]]).ravel(),
            "neighbour_id": np.column_stack([ids[j], ids[i]]).ravel(),
            "shared_m": np.repeat(shared, 2),
        }
    )


def station_houses(stations: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Each station's house as a WGS84 point, where its patrols start and end: its
    `station_lon`, `station_lat` (degrees, WGS84) where both are given, else the representative
    point of its jurisdiction (a point inside the polygon, unlike a centroid, so a crescent's
    house is not in the neighbour's area). The jurisdictions may be in any CRS.

    Returns `station_id, lon, lat` and the point geometry (EPSG:4326), in the stations' order.
    """
    inside = stations.geometry.representative_point()
    if stations.crs is not None and stations.crs.to_epsg() != 4326:
        inside = inside.to_crs("EPSG:4326")
    lon, lat = shapely.get_x(inside.to_numpy()), shapely.get_y(inside.to_numpy())
    if {"station_lon", "station_lat"} <= set(stations.columns):
        given_lon = pd.to_numeric(stations["station_lon"], errors="coerce").to_numpy(float)
        given_lat = pd.to_numeric(stations["station_lat"], errors="coerce").to_numpy(float)
        given = np.isfinite(given_lon) & np.isfinite(given_lat)
        lon, lat = np.where(given, given_lon, lon), np.where(given, given_lat, lat)
    return gpd.GeoDataFrame(
        {"station_id": stations["station_id"].to_numpy(), "lon": lon, "lat": lat},
        geometry=shapely.points(lon, lat),
        crs="EPSG:4326",
        index=stations.index,
    )
