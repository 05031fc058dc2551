"""Which station holds a point and which stations are neighbours, checked against plain
per-point and per-pair shapely on random jurisdictions (tiled, overlapping, with holes in the
coverage) and points on their edges and corners."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.jurisdictions import neighbours, station_of_points


def random_stations(seed: int) -> gpd.GeoDataFrame:
    """Voronoi tiles of random seeds in a 10 km square, a few dropped (gaps) and a few grown by
    up to 30 m (overlaps and slivers), and one axis-aligned square on round coordinates."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 40))
    seeds = shapely.multipoints(rng.uniform(0, 10_000, (n, 2)))
    tiles = shapely.get_parts(
        shapely.voronoi_polygons(seeds, extend_to=shapely.box(0, 0, 1e4, 1e4))
    )
    tiles = shapely.intersection(tiles, shapely.box(0, 0, 10_000, 10_000))
    grow = rng.random(len(tiles)) < 0.2
    tiles[grow] = shapely.buffer(tiles[grow], rng.uniform(0, 30, grow.sum()))
    tiles = tiles[rng.random(len(tiles)) > 0.1]
    tiles = np.append(tiles, shapely.box(2000, 2000, 3000, 3000))
    return gpd.GeoDataFrame({"station_id": [f"S{i}" for i in range(len(tiles))]}, geometry=tiles)


def random_points(stations: gpd.GeoDataFrame, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform points over and beyond the square, every vertex of every jurisdiction, points on
    the round square's edges, and a missing coordinate."""
    rng = np.random.default_rng(seed + 1)
    xy = rng.uniform(-500, 10_500, (2000, 2))
    corners = shapely.get_coordinates(stations.geometry.to_numpy())
    edges = np.array([[2000.0, 2500.0], [2500.0, 3000.0], [3000.0, 3000.0], [1999.999, 2500.0]])
    xy = np.vstack([xy, corners, edges, [[np.nan, 5.0]]])
    return xy[:, 0], xy[:, 1]


@given(st.integers(0, 2**31 - 1))
@settings(max_examples=25, deadline=None)
def test_each_point_gets_the_first_jurisdiction_holding_it(seed):
    stations = random_stations(seed)
    x, y = random_points(stations, seed)
    geoms, ids = stations.geometry.to_numpy(), stations["station_id"].to_numpy()
    expected = [
        next((ids[k] for k, g in enumerate(geoms) if g.intersects(shapely.Point(px, py))), None)
        for px, py in zip(x, y, strict=True)
    ]
    assert station_of_points(stations, x, y).tolist() == expected


@given(st.integers(0, 2**31 - 1))
@settings(max_examples=25, deadline=None)
def test_neighbours_are_the_pairs_sharing_a_boundary(seed):
    stations = random_stations(seed)
    geoms, ids = stations.geometry.to_numpy(), stations["station_id"].to_numpy()
    expected = []
    for i in range(len(geoms)):
        for j in range(i + 1, len(geoms)):
            if not geoms[i].intersects(geoms[j]):
                continue
            shared = geoms[i].boundary.intersection(geoms[j].boundary).length
            overlap = geoms[i].intersection(geoms[j])
            if shared < 1.0 and overlap.area > 0:
                shared = max(shared, overlap.length / 2)
            if shared >= 1.0:
                expected += [(ids[i], ids[j], shared), (ids[j], ids[i], shared)]
    found = neighbours(stations)
    assert list(found.itertuples(index=False, name=None)) == expected


def test_no_jurisdiction_holds_a_point_outside_them_all():
    stations = gpd.GeoDataFrame({"station_id": ["A"]}, geometry=[shapely.box(0, 0, 10, 10)])
    found = station_of_points(stations, [5.0, 10.0, 10.5, np.nan], [5.0, 10.0, 5.0, 5.0])
    assert found.tolist() == ["A", "A", None, None]
