"""The stable square grid: cells anchored at the metric CRS origin.

`ix = floor(x / size)`, `iy = floor(y / size)`, `cell_id = "{ix}_{iy}"`: the same point gets the
same cell in every run and every subset of the data, so plans of different months line up.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS


def cell_indices(x, y, size_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Integer cell indices of metric coordinates (floor division, also for negative values)."""
    return (
        np.floor(np.asarray(x, float) / size_m).astype(np.int64),
        np.floor(np.asarray(y, float) / size_m).astype(np.int64),
    )


def cell_ids(ix, iy) -> np.ndarray:
    """`"{ix}_{iy}"` strings for index arrays."""
    return np.char.add(np.char.add(np.asarray(ix).astype(str), "_"), np.asarray(iy).astype(str))


def assign_cells(x, y, size_m: float) -> np.ndarray:
    """Cell id of every metric point."""
    return cell_ids(*cell_indices(x, y, size_m))


def jurisdiction_cells(stations: gpd.GeoDataFrame, size_m: float) -> pd.DataFrame:
    """Every grid cell whose centre lies in a jurisdiction, with its station.

    `stations` must be in a metric CRS. Returns `cell_id, ix, iy, x, y, station_id` sorted by
    station and cell, x/y the cell centre in metres.
    """
    minx, miny, maxx, maxy = stations.total_bounds
    ix0, iy0 = cell_indices([minx], [miny], size_m)
    ix1, iy1 = cell_indices([maxx], [maxy], size_m)
    gx, gy = np.meshgrid(np.arange(ix0[0], ix1[0] + 1), np.arange(iy0[0], iy1[0] + 1))
    gx, gy = gx.ravel(), gy.ravel()
    cx, cy = (gx + 0.5) * size_m, (gy + 0.5) * size_m
    station = np.full(len(gx), None, dtype=object)
    for sid, geom in zip(stations["station_id"], stations.geometry, strict=True):
        inside = shapely.contains_xy(geom, cx, cy) & (station == None)  # noqa: E711
        station[inside] = sid
    keep = station != None  # noqa: E711
    cells = pd.DataFrame(
        {
            "cell_id": cell_ids(gx[keep], gy[keep]),
            "ix": gx[keep],
            "iy": gy[keep],
            "x": cx[keep],
            "y": cy[keep],
            "station_id": station[keep].astype(str),
        }
    )
    return cells.sort_values(["station_id", "iy", "ix"], ignore_index=True)


def cell_polygons(cells: pd.DataFrame, size_m: float, crs: CRS) -> gpd.GeoDataFrame:
    """Square polygons for a frame with `ix, iy` columns, in the metric `crs`."""
    x0 = cells["ix"].to_numpy() * size_m
    y0 = cells["iy"].to_numpy() * size_m
    boxes = shapely.box(x0, y0, x0 + size_m, y0 + size_m)
    return gpd.GeoDataFrame(cells.copy(), geometry=boxes, crs=crs)
