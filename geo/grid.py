"""The stable square grid (SPEC §5): cells anchored at the metric CRS origin.

`ix = floor(x / size)`, `iy = floor(y / size)`, `cell_id = "{ix}_{iy}"`: the same point gets the
same cell in every run and every subset of the data, so plans of different months line up.
`Grid` is the one place that knows this layout: ids, indices, jurisdiction cells, polygons,
the raster that spatial smoothing works on and the coarser blocks of the map.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

SEPARATOR = "_"  # between ix and iy in a cell id


@dataclass(frozen=True)
class Grid:
    """Square cells of `size_m` metres in the metric (projected) `crs`."""

    size_m: float
    crs: CRS

    def __post_init__(self) -> None:
        crs = CRS.from_user_input(self.crs)
        if not crs.is_projected:
            raise ValueError(f"the grid needs a metric (projected) CRS, not {crs.to_string()}")
        if not self.size_m > 0:
            raise ValueError(f"cell size must be positive, not {self.size_m}")
        object.__setattr__(self, "crs", crs)
        object.__setattr__(self, "size_m", float(self.size_m))

    @property
    def cell_area_m2(self) -> float:
        """Area of one cell in square metres."""
        return self.size_m**2

    def record(self) -> dict:
        """The grid as plain values (`size_m`, `crs`), as a stored plan records it."""
        return {"size_m": self.size_m, "crs": self.crs.to_string()}

    @classmethod
    def from_record(cls, record: dict) -> Grid:
        """The grid `record()` describes."""
        return cls(float(record["size_m"]), CRS.from_user_input(record["crs"]))

    def indices(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Integer cell indices (ix, iy) of metric coordinates (floor division, also below 0)."""
        return (
            np.floor(np.asarray(x, float) / self.size_m).astype(np.int64),
            np.floor(np.asarray(y, float) / self.size_m).astype(np.int64),
        )

    @staticmethod
    def ids(ix, iy) -> np.ndarray:
        """`"{ix}_{iy}"` strings for index arrays. Each distinct cell's id is formatted once
        (millions of points fall in far fewer cells)."""
        ix, iy = np.asarray(ix, np.int64), np.asarray(iy, np.int64)
        if len(ix) == 0:
            return np.char.add(np.char.add(ix.astype(str), SEPARATOR), iy.astype(str))
        iy0 = iy.min()
        codes, keys = pd.factorize((ix - ix.min()) * (iy.max() - iy0 + 1) + (iy - iy0))
        first = np.zeros(len(keys), np.int64)
        first[codes[::-1]] = np.arange(len(codes))[::-1]  # a point of each distinct cell
        labels = np.char.add(np.char.add(ix[first].astype(str), SEPARATOR), iy[first].astype(str))
        return np.array(labels.tolist())[codes]  # as wide as the longest id, not 43 characters

    @staticmethod
    def parse(cell_ids) -> tuple[np.ndarray, np.ndarray]:
        """(ix, iy) of cell ids, the inverse of `ids`."""
        parts = pd.Series(np.asarray(cell_ids, dtype=str)).str.split(SEPARATOR, n=1, expand=True)
        if len(parts) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return parts[0].astype(np.int64).to_numpy(), parts[1].astype(np.int64).to_numpy()

    def assign(self, x, y) -> np.ndarray:
        """Cell id of every metric point."""
        return self.ids(*self.indices(x, y))

    def centres(self, ix, iy) -> tuple[np.ndarray, np.ndarray]:
        """Metric coordinates (x, y) of the centres of cells (ix, iy)."""
        return (np.asarray(ix) + 0.5) * self.size_m, (np.asarray(iy) + 0.5) * self.size_m

    def cells(self, stations: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """Every cell whose centre lies in a jurisdiction, with its station (the first one in
        `stations` order where jurisdictions overlap).

        `stations` (`station_id`, polygons) is taken to this grid's CRS. Returns `cell_id, ix,
        iy, x, y, station_id` sorted by station and cell, x, y the cell centre in metres, the
        centre as point geometry (`polygons` gives the squares). Each station tests only the
        cells of its own bounding box, in one vectorised call: the cost follows the stations'
        area, not stations × cells."""
        stations = stations.to_crs(self.crs)
        geoms = np.asarray(stations.geometry.values, dtype=object)
        bounds = shapely.bounds(geoms).reshape(-1, 4)
        empty = ~np.isfinite(bounds).all(axis=1)  # a missing or empty geometry holds no cell
        bounds[empty] = 0.0
        ix0, iy0 = self.indices(bounds[:, 0], bounds[:, 1])
        ix1, iy1 = self.indices(bounds[:, 2], bounds[:, 3])
        width = np.where(empty, 0, ix1 - ix0 + 1)
        size = width * (iy1 - iy0 + 1)
        owner = np.repeat(np.arange(len(geoms)), size)
        offset = np.arange(len(owner)) - np.repeat(np.cumsum(size) - size, size)
        gx = ix0[owner] + offset % np.maximum(width[owner], 1)
        gy = iy0[owner] + offset // np.maximum(width[owner], 1)
        cx, cy = self.centres(gx, gy)
        shapely.prepare(geoms)
        inside = shapely.contains_xy(geoms[owner], cx, cy)
        owner, gx, gy, cx, cy = owner[inside], gx[inside], gy[inside], cx[inside], cy[inside]
        first = np.lexsort((owner, gy, gx))  # per cell, the first station in frame order
        same = np.r_[False, (np.diff(gx[first]) == 0) & (np.diff(gy[first]) == 0)]
        keep = first[~same]
        cells = pd.DataFrame(
            {
                "cell_id": self.ids(gx[keep], gy[keep]),
                "ix": gx[keep],
                "iy": gy[keep],
                "x": cx[keep],
                "y": cy[keep],
                "station_id": stations["station_id"].astype(str).to_numpy()[owner[keep]],
            }
        )
        cells = cells.sort_values(["station_id", "iy", "ix"], ignore_index=True)
        points = shapely.points(cells["x"].to_numpy(), cells["y"].to_numpy())
        return gpd.GeoDataFrame(cells, geometry=points, crs=self.crs)

    def polygons(self, cells: pd.DataFrame) -> gpd.GeoDataFrame:
        """`cells` (any frame with `ix, iy`) with their squares as geometry, in this CRS."""
        x0, y0 = cells["ix"].to_numpy() * self.size_m, cells["iy"].to_numpy() * self.size_m
        boxes = shapely.box(x0, y0, x0 + self.size_m, y0 + self.size_m)
        data = pd.DataFrame(cells.drop(columns="geometry", errors="ignore"))
        return gpd.GeoDataFrame(data, geometry=boxes, crs=self.crs)

    def raster(self, cells: pd.DataFrame) -> Raster:
        """The raster spatial smoothing works on for `cells` (a frame with `ix, iy`)."""
        ix = cells["ix"].to_numpy(dtype=np.int64)
        iy = cells["iy"].to_numpy(dtype=np.int64)
        if len(ix) == 0:
            return Raster(ix, iy, self.size_m)
        return Raster(ix - ix.min(), iy - iy.min(), self.size_m)

    @staticmethod
    def block_ids(cell_ids: pd.Series, k: int) -> pd.Series:
        """The k×k block of every cell, named after its lower-left cell; with k = 1 the cells
        themselves. Blocks are anchored at the origin like the cells, so they nest."""
        ids = cell_ids.astype(str)
        if k == 1:
            return ids
        ix, iy = Grid.parse(ids)
        return pd.Series(Grid.ids((ix // k) * k, (iy // k) * k), index=ids.index, name=ids.name)


@dataclass(frozen=True)
class Raster:
    """Cells laid on a dense array: `ix`, `iy` relative to the smallest, cells of `size_m`
    metres. Values given per cell (`values[..., cell, shift]`) are smoothed on it."""

    ix: np.ndarray
    iy: np.ndarray
    size_m: float

    def smooth(self, values: np.ndarray, bandwidth_m: float) -> np.ndarray:
        """Gaussian kernel smoothing (σ = `bandwidth_m` metres) of `values[..., cell, shift]`,
        shift by shift; cells outside the raster's cells count as empty. Leading axes (months)
        are smoothed independently."""
        if len(self.ix) == 0:
            return values.copy()
        lead = values.shape[:-2]
        raster = np.zeros((*lead, self.iy.max() + 1, self.ix.max() + 1, values.shape[-1]))
        raster[..., self.iy, self.ix, :] = values
        axes = (len(lead), len(lead) + 1)
        return gaussian_smooth(raster, bandwidth_m / self.size_m, axes)[..., self.iy, self.ix, :]


def gaussian_smooth(array: np.ndarray, sigma: float, axes: tuple[int, int]) -> np.ndarray:
    """`array` convolved over its two `axes` with a Gaussian kernel of σ = `sigma` array cells,
    cut at 3σ and normalised to sum 1 (mass is kept); outside the array counts as empty. By
    FFT, so the cost does not grow with σ; negative round-off is clipped to 0."""
    from scipy.signal import fftconvolve  # scipy.signal is slow to import; only smoothing needs it

    radius = max(1, int(np.ceil(3 * sigma)))
    offsets = np.arange(-radius, radius + 1)
    kernel_1d = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = np.outer(kernel_1d, kernel_1d)
    kernel /= kernel.sum()
    shape = [1] * array.ndim
    shape[axes[0]] = shape[axes[1]] = len(offsets)
    smoothed = fftconvolve(array, kernel.reshape(shape), mode="same", axes=axes)
    return np.clip(smoothed, 0.0, None)
