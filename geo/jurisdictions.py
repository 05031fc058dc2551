"""Jurisdictions: which station holds a point, and which stations are neighbours."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely


def station_of_points(stations: gpd.GeoDataFrame, x, y) -> np.ndarray:
    """Station id holding each point (first match), `None` where no jurisdiction does.

    `stations` and the points share one CRS.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    result = np.full(len(x), None, dtype=object)
    tree = shapely.STRtree(stations.geometry.to_numpy())
    points = shapely.points(x, y)
    point_idx, geom_idx = tree.query(points, predicate="intersects")
    order = np.lexsort((geom_idx, point_idx))
    point_idx, geom_idx = point_idx[order], geom_idx[order]
    first = np.r_[True, point_idx[1:] != point_idx[:-1]] if len(point_idx) else np.array([], bool)
    ids = stations["station_id"].to_numpy()
    result[point_idx[first]] = ids[geom_idx[first]]
    return result


def neighbours(stations: gpd.GeoDataFrame, min_shared_m: float = 1.0) -> pd.DataFrame:
    """Pairs of stations whose jurisdictions share a boundary of positive length.

    `stations` in a metric CRS; a shared boundary shorter than `min_shared_m` metres (a touching
    corner, a digitising sliver) does not count. Returns `station_id, neighbour_id, shared_m`, both
    directions.
    """
    geoms = stations.geometry.to_numpy()
    ids = stations["station_id"].to_numpy()
    rows = []
    for i in range(len(geoms)):
        for j in range(i + 1, len(geoms)):
            if not geoms[i].intersects(geoms[j]):
                continue
            shared = shapely.length(shapely.intersection(geoms[i].boundary, geoms[j].boundary))
            if shared < min_shared_m:
                # tolerate slivers: polygons that overlap slightly also share a boundary
                overlap = geoms[i].intersection(geoms[j])
                shared = max(shared, overlap.length / 2 if overlap.area > 0 else 0.0)
            if shared >= min_shared_m:
                rows.append((ids[i], ids[j], shared))
                rows.append((ids[j], ids[i], shared))
    return pd.DataFrame(rows, columns=["station_id", "neighbour_id", "shared_m"])
