import numpy as np

from geo.crs import gcj02_to_wgs84, wgs84_to_gcj02
from geo.grid import assign_cells


def test_grid_uses_floor_division_and_is_stable():
    ids = assign_cells([-1.0, 0.0, 249.9, 250.0], [-250.0, 10.0, 10.0, 500.0], 250)
    assert ids.tolist() == ["-1_-1", "0_0", "0_0", "1_2"]
    again = assign_cells([249.9], [10.0], 250)
    assert again[0] == ids[2]


def test_gcj02_round_trip_within_a_centimetre():
    lon, lat = np.array([121.5, 116.4]), np.array([31.25, 39.9])
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert np.abs(glon - lon).max() > 1e-4  # the offset is real
    back = gcj02_to_wgs84(glon, glat)
    assert np.abs(back[0] - lon).max() < 1e-7 and np.abs(back[1] - lat).max() < 1e-7
