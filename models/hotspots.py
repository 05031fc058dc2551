"""Hotspots per offence category (SPEC §5): clusters of recent cases as polygons with statistics
and a trend class over the monthly counts of their area."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy import ndimage
from scipy.stats import kendalltau
from sklearn.cluster import DBSCAN, HDBSCAN

from models.config import HotspotConfig

HOTSPOT_COLUMNS = [
    "hotspot_id",
    "category",
    "count",
    "harm",
    "dominant_offence",
    "peak_shift",
    "peak_weekday",
    "trend",
]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
HDBSCAN_MAX_POINTS = 3_000
DBSCAN_MAX_POINTS = 200_000


def choose_method(n_points: int, method: str) -> str:
    """`auto`: HDBSCAN on small sets, DBSCAN in between, grid-density components on large."""
    if method != "auto":
        return method
    if n_points <= HDBSCAN_MAX_POINTS:
        return "hdbscan"
    return "dbscan" if n_points <= DBSCAN_MAX_POINTS else "grid"


def cluster_labels(
    xy: np.ndarray, method: str, eps_m: float, min_samples: int, area_m2: float
) -> np.ndarray:
    """Cluster label per point (−1 = noise). DBSCAN's min_samples is raised to three times the
    points a uniform spread would put within eps, so only real concentrations form clusters."""
    n = len(xy)
    if n < min_samples:
        return np.full(n, -1)
    expected = n * np.pi * eps_m**2 / max(area_m2, 1.0)
    scaled = int(max(min_samples, np.ceil(3 * expected)))
    if method == "hdbscan":
        return HDBSCAN(min_cluster_size=scaled, min_samples=min_samples, copy=True).fit_predict(xy)
    if method == "dbscan":
        return DBSCAN(eps=eps_m, min_samples=scaled).fit_predict(xy)
    return grid_components(xy, eps_m, scaled)


def grid_components(xy: np.ndarray, cell_m: float, min_count: int) -> np.ndarray:
    """Bin points into `cell_m` squares, smooth with a Gaussian kernel (σ = one cell), keep
    cells above `min_count` expected points and label their connected components."""
    ix = np.floor(xy[:, 0] / cell_m).astype(np.int64)
    iy = np.floor(xy[:, 1] / cell_m).astype(np.int64)
    ix0, iy0 = ix.min(), iy.min()
    raster = np.zeros((iy.max() - iy0 + 1, ix.max() - ix0 + 1))
    np.add.at(raster, (iy - iy0, ix - ix0), 1.0)
    smooth = ndimage.gaussian_filter(raster, sigma=1.0)
    components, _ = ndimage.label(smooth * 2 * np.pi >= min_count)
    return components[iy - iy0, ix - ix0] - 1


def trend_class(counts: np.ndarray, recent: int) -> str:
    """Trend of monthly counts (oldest first): Mann–Kendall (Kendall's τ against time, p < 0.05)
    for intensifying / diminishing; `new` when the earlier months are (almost) empty;
    `persistent` when present in ≥ 75 % of months; else `sporadic`."""
    counts = np.asarray(counts, float)
    earlier = counts[:-recent] if len(counts) > recent else np.array([])
    if len(earlier) >= 3 and earlier.sum() <= 0.1 * counts[-recent:].sum():
        return "new"
    if len(counts) >= 4 and np.ptp(counts) > 0:
        tau, p = kendalltau(np.arange(len(counts)), counts)
        if p < 0.05:
            return "intensifying" if tau > 0 else "diminishing"
    return "persistent" if (counts > 0).mean() >= 0.75 else "sporadic"


def find_hotspots(
    cases: pd.DataFrame,
    x: np.ndarray,
    y: np.ndarray,
    month: str,
    config: HotspotConfig,
    crs: CRS,
    area_m2: float,
    history_months: int = 12,
) -> gpd.GeoDataFrame:
    """Hotspots of the last `config.months` months up to `month`, per category, as polygons
    (buffered hulls) in `crs`, with `HOTSPOT_COLUMNS`. `cases` carries `month, category,
    offence, harm, shift, occurred_at`; x, y are their metric coordinates."""
    last = pd.Period(month, "M")
    window = {str(last - k) for k in range(config.months)}
    history = [str(last - k) for k in range(history_months - 1, -1, -1)]
    frame = cases.assign(_x=x, _y=y)
    rows, geoms = [], []
    for category, group in frame[frame["month"].isin(window)].groupby("category", sort=True):
        xy = group[["_x", "_y"]].to_numpy()
        method = choose_method(len(xy), config.method)
        labels = cluster_labels(xy, method, config.eps_m, config.min_samples, area_m2)
        everything = frame[frame["category"] == category]
        for label in sorted(set(labels) - {-1}):
            members = group[labels == label]
            hull = shapely.convex_hull(shapely.multipoints(members[["_x", "_y"]].to_numpy()))
            polygon = hull.buffer(config.eps_m / 2)
            inside = everything[shapely.contains_xy(polygon, everything["_x"], everything["_y"])]
            monthly = inside.groupby("month").size().reindex(history, fill_value=0).to_numpy()
            rows.append(
                {
                    "category": category,
                    "count": len(members),
                    "harm": float(members["harm"].sum()),
                    "dominant_offence": members["offence"].mode().iloc[0],
                    "peak_shift": members["shift"].mode().iloc[0],
                    "peak_weekday": WEEKDAYS[int(members["occurred_at"].dt.weekday.mode().iloc[0])],
                    "trend": trend_class(monthly, config.months),
                }
            )
            geoms.append(polygon)
    out = gpd.GeoDataFrame(rows, columns=HOTSPOT_COLUMNS[1:], geometry=geoms, crs=crs)
    out = out.sort_values(["category", "harm"], ascending=[True, False], ignore_index=True)
    out.insert(0, "hotspot_id", [f"H{i + 1:03d}" for i in range(len(out))])
    return out
