"""The stable grid (SPEC §5): ids, indices, jurisdiction cells, polygons, raster and blocks."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS

from geo.grid import Grid, gaussian_smooth

UTM = CRS.from_epsg(32651)
GRID = Grid(250, UTM)

coordinates = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
indices = st.integers(-(10**7), 10**7)


def test_grid_uses_floor_division_and_is_stable():
    ids = GRID.assign([-1.0, 0.0, 249.9, 250.0], [-250.0, 10.0, 10.0, 500.0])
    assert ids.tolist() == ["-1_-1", "0_0", "0_0", "1_2"]
    again = GRID.assign([249.9], [10.0])
    assert again[0] == ids[2]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(coordinates, coordinates), min_size=1, max_size=60),
    st.data(),
)
def test_cell_ids_do_not_depend_on_the_other_points(points, data):
    """A point's cell is the same whatever subset of the data it comes in."""
    x, y = np.array(points).T
    keep = np.array(data.draw(st.lists(st.booleans(), min_size=len(x), max_size=len(x))))
    np.testing.assert_array_equal(GRID.assign(x, y)[keep], GRID.assign(x[keep], y[keep]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(indices, indices), min_size=0, max_size=40))
def test_ids_indices_and_centres_round_trip(pairs):
    ix = np.array([p[0] for p in pairs], dtype=np.int64)
    iy = np.array([p[1] for p in pairs], dtype=np.int64)
    back_ix, back_iy = Grid.parse(Grid.ids(ix, iy))
    np.testing.assert_array_equal(back_ix, ix)
    np.testing.assert_array_equal(back_iy, iy)
    np.testing.assert_array_equal(GRID.assign(*GRID.centres(ix, iy)), Grid.ids(ix, iy))


@settings(max_examples=40, deadline=None)
@given(coordinates, coordinates)
def test_a_point_lies_in_the_square_of_its_cell(x, y):
    ix, iy = GRID.indices([x], [y])
    square = GRID.polygons(pd.DataFrame({"ix": ix, "iy": iy})).geometry.iloc[0]
    # in the square, up to the rounding of x / size (a point a nanometre off a border, say)
    assert square.distance(shapely.Point(x, y)) < 1e-6
    assert square.area == pytest.approx(GRID.cell_area_m2)


def test_record_round_trips_and_a_geographic_crs_is_refused():
    assert Grid.from_record(GRID.record()) == GRID
    assert GRID.record() == {"size_m": 250.0, "crs": "EPSG:32651"}
    assert Grid(250, "EPSG:32651") == GRID and Grid(200, UTM) != GRID
    with pytest.raises(ValueError, match="metric"):
        Grid(250, "EPSG:4326")
    with pytest.raises(ValueError, match="positive"):
        Grid(0, UTM)


def test_jurisdiction_cells_are_the_same_whatever_else_is_in_the_data():
    """One station alone gets exactly the cells (ids, centres) it gets inside the whole bureau."""
    squares = [shapely.box(0, 0, 1000, 1000), shapely.box(1000, 0, 2600, 900)]
    both = gpd.GeoDataFrame(
        {"station_id": ["A", "B"]}, geometry=squares, crs="EPSG:32651"
    ).translate(-380.0, 120.0)
    bureau = gpd.GeoDataFrame({"station_id": ["A", "B"]}, geometry=both, crs="EPSG:32651")
    whole = GRID.cells(bureau)
    alone = GRID.cells(bureau[bureau["station_id"] == "B"])
    pd.testing.assert_frame_equal(
        whole[whole["station_id"] == "B"].reset_index(drop=True), alone.reset_index(drop=True)
    )
    # every centre is the middle of its own cell
    assert (GRID.assign(whole["x"], whole["y"]) == whole["cell_id"]).all()


def brute_force_cells(stations: gpd.GeoDataFrame, grid: Grid) -> pd.DataFrame:
    """Every cell of the bounding box tested against every station in turn, the first one
    holding its centre winning: the definition, at stations × cells cost."""
    minx, miny, maxx, maxy = stations.total_bounds
    (ix0, ix1), (iy0, iy1) = grid.indices([minx, maxx], [miny, maxy])
    gx, gy = (a.ravel() for a in np.meshgrid(np.arange(ix0, ix1 + 1), np.arange(iy0, iy1 + 1)))
    cx, cy = grid.centres(gx, gy)
    owner = np.full(len(gx), None, dtype=object)
    for sid, geom in zip(stations["station_id"], stations.geometry, strict=True):
        owner[shapely.contains_xy(geom, cx, cy) & pd.isna(owner)] = sid
    keep = ~pd.isna(owner)
    frame = pd.DataFrame(
        {
            "cell_id": Grid.ids(gx[keep], gy[keep]),
            "ix": gx[keep],
            "iy": gy[keep],
            "x": cx[keep],
            "y": cy[keep],
            "station_id": owner[keep].astype(str),
        }
    )
    return frame.sort_values(["station_id", "iy", "ix"], ignore_index=True)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 8))
def test_jurisdiction_cells_match_the_definition(seed, n_stations):
    """Overlapping, concave and holed jurisdictions: each cell goes to the first station whose
    polygon holds its centre, exactly as testing every cell against every station does."""
    rng = np.random.default_rng(seed)
    shapes = []
    for _ in range(n_stations):
        centre = rng.uniform(-3000, 3000, 2)
        blob = shapely.Point(*centre).buffer(rng.uniform(200, 1500), quad_segs=3)
        if rng.random() < 0.4:
            blob = blob.difference(shapely.Point(*centre).buffer(150))
        shapes.append(blob)
    stations = gpd.GeoDataFrame(
        {"station_id": [f"S{i:02d}" for i in rng.permutation(n_stations)]},
        geometry=shapes,
        crs=UTM,
    )
    cells = GRID.cells(stations)
    expected = brute_force_cells(stations, GRID)
    pd.testing.assert_frame_equal(pd.DataFrame(cells.drop(columns="geometry")), expected)
    assert shapely.equals_exact(
        cells.geometry.values, shapely.points(cells["x"], cells["y"]), 0
    ).all()


def test_cells_are_taken_to_the_grid_crs():
    square = gpd.GeoDataFrame(
        {"station_id": ["A"]}, geometry=[shapely.box(0, 0, 1000, 1000)], crs=UTM
    )
    in_degrees = GRID.cells(square.to_crs("EPSG:4326"))
    assert len(in_degrees) == 16 and in_degrees.crs == UTM


def test_polygons_are_the_squares_of_the_cells():
    cells = pd.DataFrame({"cell_id": ["-1_2"], "ix": [-1], "iy": [2]})
    squares = GRID.polygons(cells)
    assert squares.crs == UTM and list(squares.columns) == ["cell_id", "ix", "iy", "geometry"]
    assert squares.geometry.iloc[0].bounds == (-250.0, 500.0, 0.0, 750.0)


def test_blocks_are_named_by_their_lower_left_cell_and_nest():
    ids = pd.Series(Grid.ids([-3, -1, 0, 1, 5], [7, -2, 0, 3, 5]), index=[4, 3, 2, 1, 0])
    assert Grid.block_ids(ids, 2).tolist() == ["-4_6", "-2_-2", "0_0", "0_2", "4_4"]
    assert Grid.block_ids(ids, 2).index.tolist() == [4, 3, 2, 1, 0]
    assert Grid.block_ids(ids, 1).equals(ids)
    four = Grid.block_ids(ids, 4)
    assert Grid.block_ids(Grid.block_ids(ids, 2), 4).equals(four)  # 2×2 blocks nest in 4×4


def test_raster_smoothing_keeps_mass_and_ignores_cells_off_the_jurisdiction():
    cells = pd.DataFrame({"ix": [10, 11, 12, 40], "iy": [5, 5, 5, 5]})
    raster = GRID.raster(cells)
    assert raster.ix.min() == 0 and raster.iy.min() == 0
    values = np.array([[0.0], [1.0], [0.0], [0.0]])
    smooth = raster.smooth(values, 250.0)
    assert smooth[0, 0] == pytest.approx(smooth[2, 0]) and smooth[0, 0] > 0
    assert smooth[3, 0] == pytest.approx(0.0, abs=1e-12)  # 29 cells away: beyond the kernel
    assert smooth.sum() < 1.0  # mass spread onto cells that are not jurisdiction cells
    array = np.zeros((15, 15))
    array[7, 7] = 1.0
    assert gaussian_smooth(array, 1.5, (0, 1)).sum() == pytest.approx(1.0)
