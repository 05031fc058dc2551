"""Hotspots per offence category (SPEC §5): clusters of recent cases as polygons with statistics
and a trend class over the monthly counts of their area.

All distances are metres and areas square metres in the metric CRS of the cases; months are
calendar months (`YYYY-MM`)."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy import ndimage
from scipy.spatial import cKDTree
from scipy.stats import norm, poisson
from sklearn.cluster import DBSCAN, HDBSCAN

from geo.grid import gaussian_smooth
from models.config import HotspotConfig
from models.spread import IN_PROCESS, Spread

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

# `method = "auto"`, by the number of a category's points in the window: HDBSCAN up to
# HDBSCAN_MAX_POINTS (its cost grows fast and it needs no eps), DBSCAN up to DBSCAN_MAX_POINTS
# (its neighbourhood lists grow with n × points per eps-disc: about 1 s at 100,000 points with
# dense clusters, ten times that and ~2 GB at 200,000 with eps unscaled), grid-density components
# beyond (linear in n).
HDBSCAN_MAX_POINTS = 3_000
DBSCAN_MAX_POINTS = 100_000

# A hotspot core holds at least HOT_DENSITY_FACTOR times the points a uniform spread (the mean
# density of the category over the area) puts within eps, and enough that a uniform spread of
# the same number of points has any such core with a chance below UNIFORM_CORE_CHANCE (Poisson
# tail, Bonferroni over the points; this governs sparse sets, where 3× a small mean is reached
# by chance).
HOT_DENSITY_FACTOR = 3.0
UNIFORM_CORE_CHANCE = 0.05
# DBSCAN and grid: on dense sets eps shrinks to the radius in which a uniform spread would put
# this many points, so neighbourhoods stay small and finer structure shows; never below
# MIN_EPS_SHARE × eps_m.
BACKGROUND_NEIGHBOURS = 10.0
MIN_EPS_SHARE = 0.25

# Grid method: cells of eps / GRID_CELLS_PER_EPS, raster capped at GRID_MAX_CELLS (cells grow).
GRID_CELLS_PER_EPS = 2
GRID_MAX_CELLS = 4_000_000

# Hull: concave hull (shapely ratio, 1 = convex) of the core points snapped to squares of
# eps / HULL_SNAP_PER_EPS (bounds its cost whatever the point count), buffered by eps / 2; the
# buffer exceeds the snap error (half a square's diagonal), so every core point lies inside.
CONCAVE_HULL_RATIO = 0.3
HULL_SNAP_PER_EPS = 4

# Trend classes over the monthly counts of a hotspot's area (oldest month first).
TREND_P_VALUE = 0.05  # two-sided Mann–Kendall significance → intensifying / diminishing
NEW_MIN_EARLIER_MONTHS = 3  # `new` needs this many months of history before the window
NEW_MAX_EARLIER_SHARE = 0.1  # … with a monthly mean ≤ this share of the window's monthly mean
PERSISTENT_MIN_SHARE = 0.75  # `persistent`: cases in ≥ this share of months, no trend


def choose_method(n_points: int, method: str) -> str:
    """`auto`: HDBSCAN on small sets, DBSCAN in between, grid-density components on large
    (thresholds `HDBSCAN_MAX_POINTS`, `DBSCAN_MAX_POINTS`); any other method is kept."""
    if method != "auto":
        return method
    if n_points <= HDBSCAN_MAX_POINTS:
        return "hdbscan"
    return "dbscan" if n_points <= DBSCAN_MAX_POINTS else "grid"


def scaled_parameters(
    n_points: int, area_m2: float, method: str, eps_m: float, min_samples: int
) -> tuple[float, int]:
    """eps (m) and min_samples scaled to the mean density λ = n_points / area_m2 (points per m²).

    For DBSCAN and the grid, eps is `eps_m` shrunk on dense sets to the radius where a uniform
    spread expects `BACKGROUND_NEIGHBOURS` points (not below `MIN_EPS_SHARE · eps_m`), which keeps
    neighbourhoods small and resolves finer structure where data allow; HDBSCAN needs no eps, so
    there it stays `eps_m` (it still sizes min_samples and the hull buffer).

    min_samples (the point itself included, as in DBSCAN) is the largest of the configured
    `min_samples`, `HOT_DENSITY_FACTOR` times the points μ = λπ eps² a uniform spread puts within
    eps, and 1 + the neighbour count k with P(Poisson(μ) ≥ k) ≤ `UNIFORM_CORE_CHANCE` / n_points,
    so only concentrations well above the mean density, and beyond chance, form clusters."""
    density = n_points / max(area_m2, 1.0)
    eps = eps_m
    if method != "hdbscan" and density > 0:
        eps = float(
            np.clip(
                np.sqrt(BACKGROUND_NEIGHBOURS / (np.pi * density)), MIN_EPS_SHARE * eps_m, eps_m
            )
        )
    expected = density * np.pi * eps**2
    chance = poisson.isf(UNIFORM_CORE_CHANCE / max(n_points, 1), expected) + 2
    return eps, int(max(min_samples, np.ceil(HOT_DENSITY_FACTOR * expected), chance))


def cluster_labels(
    xy: np.ndarray, method: str, eps_m: float, min_samples: int, core_samples: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster label per point (−1 = noise, else 0, 1, …) of metric points `xy` (n × 2), and
    which points are core points (the dense part of a cluster, whose hull is its polygon), with
    eps (m) and min_samples scaled to density (`scaled_parameters`).

    DBSCAN: its own core points. Grid: every member (its cells are all above the density
    threshold). HDBSCAN takes `min_samples` as its minimum cluster size and the configured
    `core_samples` for its core distances; its clusters are then held to DBSCAN's density rule
    (`dense_members`)."""
    if len(xy) < min_samples:
        return np.full(len(xy), -1), np.zeros(len(xy), dtype=bool)
    if method == "dbscan":
        fitted = DBSCAN(eps=eps_m, min_samples=min_samples).fit(xy)
        core = np.zeros(len(xy), dtype=bool)
        core[fitted.core_sample_indices_] = True
        return fitted.labels_, core
    if method == "grid":
        labels = grid_components(xy, eps_m, min_samples)
        return labels, labels >= 0
    labels = HDBSCAN(min_cluster_size=min_samples, min_samples=core_samples, copy=True).fit_predict(
        xy
    )
    return dense_members(xy, labels, eps_m, min_samples)


def dense_members(
    xy: np.ndarray, labels: np.ndarray, eps_m: float, min_samples: int
) -> tuple[np.ndarray, np.ndarray]:
    """HDBSCAN `labels` held to DBSCAN's density rule, and the core points: a core point has
    ≥ min_samples points (itself included) within eps (m); a cluster keeps its core points and
    the members within eps of one of them, and a cluster without a core point is noise.
    HDBSCAN has no density floor: it finds clumps in pure noise, and a cluster born high in its
    hierarchy takes in the surrounding background (hundreds of metres of it) at low membership
    probability."""
    pairs = cKDTree(xy).query_pairs(eps_m, output_type="ndarray")
    core = (np.bincount(pairs.ravel(), minlength=len(xy)) + 1 >= min_samples) & (labels >= 0)
    i, j = np.r_[pairs[:, 0], pairs[:, 1]], np.r_[pairs[:, 1], pairs[:, 0]]
    near_core = core.copy()
    near_core[i[core[j] & (labels[i] == labels[j])]] = True
    labels = np.where(near_core, labels, -1)
    keep = np.bincount(labels[core], minlength=labels.max() + 1) > 0
    return keep_clusters(labels, keep), core


def keep_clusters(labels: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """`labels` (−1 = noise) with the clusters where `keep[label]` is false turned to noise and
    the rest renumbered 0, 1, … in their order."""
    renumber = np.where(keep, np.cumsum(keep) - 1, -1)
    return np.append(renumber, -1)[labels]  # the appended −1 is where noise (−1) indexes


def grid_components(xy: np.ndarray, eps_m: float, min_samples: int) -> np.ndarray:
    """Cluster label per point by grid density: bin the points into squares of
    eps / `GRID_CELLS_PER_EPS` metres, smooth the counts with a Gaussian kernel of σ = eps/√2
    (whose effective area 2πσ² equals DBSCAN's eps-disc, π eps²), keep the cells where the
    smoothed count per eps-disc is ≥ `min_samples`, and label their 4-connected components.
    Components holding fewer than `min_samples` points are noise, as in DBSCAN."""
    lo = xy.min(axis=0)
    extent = xy.max(axis=0) - lo
    cell = max(eps_m / GRID_CELLS_PER_EPS, float(np.sqrt(np.prod(extent + 1.0) / GRID_MAX_CELLS)))
    ij = ((xy - lo) // cell).astype(np.int64)
    shape = tuple(ij.max(axis=0) + 1)
    flat = np.ravel_multi_index((ij[:, 0], ij[:, 1]), shape)
    counts = np.bincount(flat, minlength=shape[0] * shape[1]).reshape(shape).astype(float)
    smooth = gaussian_smooth(counts, eps_m / np.sqrt(2) / cell, axes=(0, 1))
    components, _ = ndimage.label(smooth * np.pi * eps_m**2 / cell**2 >= min_samples)
    labels = components.ravel()[flat] - 1
    return keep_clusters(labels, np.bincount(labels[labels >= 0]) >= min_samples)


def mann_kendall(counts: np.ndarray) -> tuple[float, float, float]:
    """Mann–Kendall trend test of a series (oldest first): S = Σ_{i<j} sign(x_j − x_i), its
    variance under no trend with the tie correction, Var S = [n(n−1)(2n+5) −
    Σ_t t(t−1)(2t+5)] / 18 over tie groups of size t, and the two-sided p-value of the normal
    approximation with continuity correction, z = (S − sign S) / √Var S. Returns (S, Var S, p);
    p = 1 when Var S = 0 (fewer than two distinct values)."""
    x = np.asarray(counts, float)
    n = len(x)
    s = float(np.sign(x[None, :] - x[:, None])[np.triu_indices(n, 1)].sum())
    _, ties = np.unique(x, return_counts=True)
    var = (n * (n - 1) * (2 * n + 5) - float(np.sum(ties * (ties - 1) * (2 * ties + 5)))) / 18
    if var <= 0:
        return s, 0.0, 1.0
    z = (s - np.sign(s)) / np.sqrt(var)
    return s, var, float(2 * norm.sf(abs(z)))


def trend_class(counts: np.ndarray, recent: int) -> str:
    """Trend class of a hotspot from the monthly case counts of its area (oldest first), the last
    `recent` months being the clustering window. In order:

    - `new`: at least `NEW_MIN_EARLIER_MONTHS` months before the window, and their mean monthly
      count is ≤ `NEW_MAX_EARLIER_SHARE` of the window's (the area was (almost) empty);
    - `intensifying` / `diminishing`: Mann–Kendall two-sided p < `TREND_P_VALUE`, S > 0 / S < 0;
    - `persistent`: cases in ≥ `PERSISTENT_MIN_SHARE` of the months, no significant trend;
    - `sporadic`: otherwise."""
    counts = np.asarray(counts, float)
    earlier, window = counts[:-recent], counts[-recent:]
    if (
        len(earlier) >= NEW_MIN_EARLIER_MONTHS
        and earlier.mean() <= NEW_MAX_EARLIER_SHARE * window.mean()
        and window.sum() > 0
    ):
        return "new"
    s, _, p = mann_kendall(counts)
    if p < TREND_P_VALUE:
        return "intensifying" if s > 0 else "diminishing"
    return "persistent" if (counts > 0).mean() >= PERSISTENT_MIN_SHARE else "sporadic"


def label_modes(labels: np.ndarray, codes: np.ndarray, n_labels: int, n_codes: int) -> np.ndarray:
    """Most frequent code per label (labels 0 … n_labels − 1, codes 0 … n_codes − 1; negative
    codes are missing values and ignored); ties go to the smallest code."""
    ok = codes >= 0
    table = np.bincount(labels[ok] * n_codes + codes[ok], minlength=n_labels * n_codes)
    return table.reshape(n_labels, n_codes).argmax(axis=1)


def hull_polygons(xy: np.ndarray, labels: np.ndarray, n_labels: int, eps_m: float) -> list:
    """One polygon per label 0 … n_labels − 1 (each present): the concave hull of its points
    (metric, n × 2; the clusters' core points, so a few border members a cluster reaches
    into the background do not stretch it) snapped to squares of eps / `HULL_SNAP_PER_EPS`
    metres, buffered by eps / 2 metres. A buffer is always a valid polygon, and this one
    contains every point it was built from."""
    snap = eps_m / HULL_SNAP_PER_EPS
    order = np.argsort(labels, kind="stable")
    ends = np.cumsum(np.bincount(labels, minlength=n_labels))
    polygons = []
    for members in np.split(order, ends[:-1]):
        cells = np.unique(np.floor(xy[members] / snap).astype(np.int64), axis=0)
        hull = shapely.concave_hull(
            shapely.multipoints((cells + 0.5) * snap), ratio=CONCAVE_HULL_RATIO
        )
        polygons.append(hull.buffer(eps_m / 2))
    return polygons


def area_monthly_counts(
    polygons: list, x: np.ndarray, y: np.ndarray, month_index: np.ndarray, n_months: int
) -> np.ndarray:
    """Cases per polygon and month (n_polygons × n_months) of points (x, y in metres, month_index
    0 … n_months − 1). Points are sorted by x once; each polygon tests only the points inside
    its bounding box, so the cost follows the points near the polygons, not n × polygons."""
    order = np.argsort(x, kind="stable")
    xs, ys, ms = x[order], y[order], month_index[order]
    out = np.zeros((len(polygons), n_months), dtype=np.int64)
    for k, polygon in enumerate(polygons):
        minx, miny, maxx, maxy = polygon.bounds
        lo, hi = np.searchsorted(xs, minx, side="left"), np.searchsorted(xs, maxx, side="right")
        near = np.flatnonzero((ys[lo:hi] >= miny) & (ys[lo:hi] <= maxy)) + lo
        shapely.prepare(polygon)
        inside = near[shapely.contains_xy(polygon, xs[near], ys[near])]
        out[k] = np.bincount(ms[inside], minlength=n_months)
    return out


@dataclass(frozen=True)
class CategoryCases:
    """One category's cases of the trend history: metric x, y (m), month index in the history,
    whether in the hotspot window, offence and shift codes, weekday and harm, row by row."""

    category: str
    x: np.ndarray
    y: np.ndarray
    month: np.ndarray
    in_window: np.ndarray
    offence: np.ndarray
    shift: np.ndarray
    weekday: np.ndarray
    harm: np.ndarray


def category_hotspots(
    cases: CategoryCases,
    config: HotspotConfig,
    area_m2: float,
    n_history: int,
    offences: np.ndarray,
    shifts: np.ndarray,
) -> pd.DataFrame | None:
    """Hotspots of one category (columns of HOTSPOT_COLUMNS but the id, with `geometry`), None
    without any; `offences`, `shifts` name the codes, `n_history` is the months of trend."""
    window = np.flatnonzero(cases.in_window)
    xy = np.column_stack([cases.x[window], cases.y[window]])
    method = choose_method(len(xy), config.method)
    eps, min_samples = scaled_parameters(len(xy), area_m2, method, config.eps_m, config.min_samples)
    labels, core = cluster_labels(xy, method, eps, min_samples, config.min_samples)
    if not core.any():
        return None
    n = int(labels.max()) + 1
    polygons = hull_polygons(xy[core], labels[core], n, eps)
    members, labels = window[labels >= 0], labels[labels >= 0]
    monthly = area_monthly_counts(polygons, cases.x, cases.y, cases.month, n_history)
    offence = label_modes(labels, cases.offence[members], n, len(offences))
    shift = label_modes(labels, cases.shift[members], n, len(shifts))
    day = label_modes(labels, cases.weekday[members], n, len(WEEKDAYS))
    return pd.DataFrame(
        {
            "category": cases.category,
            "count": np.bincount(labels, minlength=n),
            "harm": np.bincount(labels, weights=cases.harm[members], minlength=n),
            "dominant_offence": offences[offence],
            "peak_shift": shifts[shift],
            "peak_weekday": np.asarray(WEEKDAYS)[day],
            "trend": [trend_class(counts, config.months) for counts in monthly],
            "geometry": polygons,
        }
    )


def find_hotspots(
    cases: pd.DataFrame,
    x: np.ndarray,
    y: np.ndarray,
    month: str,
    config: HotspotConfig,
    crs: CRS,
    area_m2: float,
    history_months: int = 12,
    spread: Spread = IN_PROCESS,
) -> gpd.GeoDataFrame:
    """Hotspots of the last `config.months` months up to `month`, per category, as polygons in
    `crs` with `HOTSPOT_COLUMNS`, ids `H001`, … by category then harm (descending).

    `cases` carries `month, category, offence, harm, shift, occurred_at`; x, y are their metric
    coordinates (m); `area_m2` is the area covered (m², for the mean density). Trends use the
    monthly counts of each hotspot's area over up to `history_months` months ending at `month`,
    starting no earlier than the first month of `cases` (months before the data are unknown,
    not empty). Categories are clustered independently, on `spread`."""
    last = pd.Period(month, "M")
    first = last - (history_months - 1)
    if len(cases):
        first = max(first, pd.Period(cases["month"].min(), "M"))
    history = [str(p) for p in pd.period_range(first, last, freq="M")]
    month_index = pd.Categorical(cases["month"], categories=history).codes
    in_window = month_index >= len(history) - config.months
    offence_codes, offences = pd.factorize(cases["offence"], sort=True)
    shift_codes, shifts = pd.factorize(cases["shift"], sort=True)
    weekday = cases["occurred_at"].dt.weekday.to_numpy()
    harm = cases["harm"].to_numpy(dtype=float)
    x, y = np.asarray(x, float), np.asarray(y, float)
    blocks = []
    for category, rows in cases.groupby("category", sort=True).indices.items():
        rows = rows[month_index[rows] >= 0]
        blocks.append(
            CategoryCases(
                category,
                x[rows],
                y[rows],
                month_index[rows],
                in_window[rows],
                offence_codes[rows],
                shift_codes[rows],
                weekday[rows],
                harm[rows],
            )
        )
    found = spread(
        category_hotspots,
        blocks,
        config=config,
        area_m2=area_m2,
        n_history=len(history),
        offences=np.asarray(offences),
        shifts=np.asarray(shifts),
    )
    frames = [frame for frame in found if frame is not None]
    columns = HOTSPOT_COLUMNS[1:] + ["geometry"]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    out = out.sort_values(["category", "harm"], ascending=[True, False], ignore_index=True)
    out.insert(0, "hotspot_id", [f"H{i + 1:03d}" for i in range(len(out))])
    return gpd.GeoDataFrame(out, geometry="geometry", crs=crs)
