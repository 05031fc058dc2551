"""Hotspots (SPEC §5): the Mann–Kendall trend classes on constructed series, each clustering
method on seeded synthetic points, and determinism."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS

from models.config import HotspotConfig
from models.hotspots import (
    HOTSPOT_COLUMNS,
    choose_method,
    cluster_labels,
    find_hotspots,
    hull_polygons,
    mann_kendall,
    scaled_parameters,
    trend_class,
)

MONTHS = [str(p) for p in pd.period_range("2025-01", "2025-12", freq="M")]
SIDE_M = 10_000.0
CENTRE = (4_000.0, 6_000.0)
UTM = CRS.from_epsg(32650)


def synthetic(
    seed: int, background: int, clusters: list[tuple[tuple[float, float], int, list[str]]]
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """`background` uniform cases per month over SIDE_M × SIDE_M metres, plus per cluster
    (centre in m, cases per month, months) a Gaussian of σ = 60 m; one category `theft`."""
    rng = np.random.default_rng(seed)
    parts = [(rng.uniform(0, SIDE_M, (background, 2)), month) for month in MONTHS]
    for centre, per_month, months in clusters:
        parts += [(rng.normal(centre, 60.0, (per_month, 2)), month) for month in months]
    xy = np.vstack([p for p, _ in parts])
    month = np.concatenate([[m] * len(p) for p, m in parts])
    occurred = pd.to_datetime(month) + pd.to_timedelta(rng.integers(0, 28 * 24, len(xy)), "h")
    cases = pd.DataFrame(
        {
            "month": month,
            "category": "theft",
            "offence": rng.choice(["bicycle_theft", "pickpocketing"], len(xy)),
            "harm": 1.0,
            "shift": rng.choice(["day", "evening", "night"], len(xy)),
            "occurred_at": occurred,
        }
    )
    return cases, xy[:, 0], xy[:, 1]


def hotspots(cases, x, y, method: str):
    config = HotspotConfig(method=method)
    return find_hotspots(cases, x, y, MONTHS[-1], config, UTM, SIDE_M**2)


def test_mann_kendall_hand_checked():
    # pairs of 1, 2, 2, 4: five rising, one tie → S = 5; one tie group of 2:
    # Var S = (4·3·13 − 2·1·9) / 18 = 138 / 18; z = (5 − 1) / √Var S
    s, var, p = mann_kendall(np.array([1, 2, 2, 4]))
    assert s == 5
    assert var == pytest.approx(138 / 18)
    assert p == pytest.approx(math.erfc(4 / math.sqrt(138 / 18) / math.sqrt(2)))
    s, var, p = mann_kendall(np.arange(12))
    assert (s, var) == (66, pytest.approx(12 * 11 * 29 / 18))
    assert p < 1e-4
    assert mann_kendall(np.full(6, 3.0)) == (0.0, 0.0, 1.0)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([2, 3, 3, 4, 5, 5, 6, 7, 8, 8, 9, 10], "intensifying"),
        ([10, 9, 8, 8, 7, 6, 5, 5, 4, 3, 3, 2], "diminishing"),
        ([5, 6, 5, 5, 6, 5, 5, 6, 5, 5, 6, 5], "persistent"),
        ([0, 0, 0, 0, 0, 0, 0, 1, 0, 6, 9, 12], "new"),
        ([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0], "sporadic"),
        ([0, 0, 5, 8, 11], "intensifying"),  # two months before the window: too few for `new`
    ],
)
def test_trend_classes(counts, expected):
    assert trend_class(np.array(counts), recent=3) == expected


def test_auto_picks_by_size():
    assert [choose_method(n, "auto") for n in (500, 50_000, 500_000)] == [
        "hdbscan",
        "dbscan",
        "grid",
    ]
    assert choose_method(500, "grid") == "grid"


@pytest.mark.parametrize("method", ["dbscan", "hdbscan", "grid"])
def test_method_recovers_planted_cluster(method):
    cases, x, y = synthetic(1, background=1000, clusters=[(CENTRE, 100, MONTHS[-3:])])
    found = hotspots(cases, x, y, method)
    assert list(found.columns) == [*HOTSPOT_COLUMNS, "geometry"]
    assert len(found) == 1
    top = found.iloc[0]
    assert top["hotspot_id"] == "H001"
    assert shapely.distance(top.geometry.centroid, shapely.Point(CENTRE)) < 100
    assert 270 <= top["count"] <= 345  # 300 planted, some tails lost, some background taken
    assert top["trend"] == "new"  # only background in the area before the window
    assert found.geometry.is_valid.all()


@pytest.mark.parametrize("method", ["dbscan", "hdbscan", "grid"])
def test_uniform_background_has_no_hotspots(method):
    cases, x, y = synthetic(2, background=1000, clusters=[])
    found = hotspots(cases, x, y, method)
    assert found.empty
    assert list(found.columns) == [*HOTSPOT_COLUMNS, "geometry"]


def test_trend_of_a_steady_cluster_and_determinism():
    cases, x, y = synthetic(
        3, background=300, clusters=[(CENTRE, 40, MONTHS), ((7_000.0, 2_000.0), 60, MONTHS[-3:])]
    )
    other = synthetic(4, background=200, clusters=[(CENTRE, 30, MONTHS)])
    both = pd.concat([cases, other[0].assign(category="burglary", harm=3.0)], ignore_index=True)
    bx, by = np.r_[x, other[1]], np.r_[y, other[2]]
    found = hotspots(both, bx, by, "auto")
    assert found["category"].tolist() == ["burglary", "theft", "theft"]
    assert found["hotspot_id"].tolist() == ["H001", "H002", "H003"]
    assert found["harm"].iloc[1] >= found["harm"].iloc[2]
    assert found["trend"].tolist() == ["persistent", "new", "persistent"]
    assert_geodataframe_equal(found, hotspots(both, bx, by, "auto"))


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 4), st.floats(20.0, 400.0))
def test_each_hull_contains_the_points_it_was_built_from(seed, n_labels, eps_m):
    """Any point sets (tight, spread, a single point, collinear): each label's polygon holds
    all its points strictly inside."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 80, n_labels)
    parts = [rng.normal(rng.uniform(-5e4, 5e4, 2), rng.uniform(1, 800), (n, 2)) for n in sizes]
    if rng.random() < 0.3:  # points on a line
        parts[0][:, 1] = parts[0][0, 1]
    xy = np.vstack(parts)
    labels = np.repeat(np.arange(n_labels), sizes)
    polygons = hull_polygons(xy, labels, n_labels, eps_m)
    for k, polygon in enumerate(polygons):
        assert polygon.is_valid
        assert shapely.contains_xy(polygon, *xy[labels == k].T).all()


@pytest.mark.parametrize("method", ["dbscan", "hdbscan", "grid"])
def test_hotspot_polygons_contain_their_core_points(method):
    """As `find_hotspots` builds them: every core point of a cluster lies in its polygon, and
    the polygons are the ones written out."""
    cases, x, y = synthetic(
        5, background=800, clusters=[(CENTRE, 80, MONTHS[-3:]), ((7_000.0, 2_000.0), 60, MONTHS)]
    )
    window = cases["month"].isin(MONTHS[-3:]).to_numpy()
    xy = np.column_stack([x[window], y[window]])
    config = HotspotConfig(method=method)
    eps, min_samples = scaled_parameters(
        len(xy), SIDE_M**2, method, config.eps_m, config.min_samples
    )
    labels, core = cluster_labels(xy, method, eps, min_samples, config.min_samples)
    n = int(labels.max()) + 1
    assert n >= 2
    polygons = hull_polygons(xy[core], labels[core], n, eps)
    for k, polygon in enumerate(polygons):
        assert shapely.contains_xy(polygon, *xy[core & (labels == k)].T).all()
    found = hotspots(cases, x, y, method)
    assert sorted(p.wkb for p in found.geometry) == sorted(p.wkb for p in polygons)
