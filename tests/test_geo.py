import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.crs import (
    frame_to_gcj02,
    gcj02_to_wgs84,
    metric_crs,
    project,
    to_wgs84,
    unproject,
    wgs84_to_gcj02,
)


def test_gcj02_round_trip_within_a_centimetre():
    lon, lat = np.array([121.5, 116.4]), np.array([31.25, 39.9])
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert np.abs(glon - lon).max() > 1e-4  # the offset is real
    back = gcj02_to_wgs84(glon, glat)
    assert np.abs(back[0] - lon).max() < 1e-7 and np.abs(back[1] - lat).max() < 1e-7


def _bd09_from_gcj02(lon, lat):
    """Baidu's published forward offset, written out independently of geo.crs."""
    x_pi = np.pi * 3000.0 / 180.0
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * x_pi)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * x_pi)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def test_bd09_input_comes_back_to_wgs84():
    lon, lat = np.array([121.4737, 113.2644]), np.array([31.2304, 23.1291])
    blon, blat = _bd09_from_gcj02(*wgs84_to_gcj02(lon, lat))
    back_lon, back_lat = to_wgs84(blon, blat, "bd09")
    assert np.abs(back_lon - lon).max() < 1e-5 and np.abs(back_lat - lat).max() < 1e-5


def test_metric_crs_is_the_utm_zone_of_the_data_unless_configured():
    assert metric_crs("", [-90.2], [38.6]).to_epsg() == 32615  # St. Louis
    assert metric_crs("", [121.5], [31.2]).to_epsg() == 32651  # Shanghai
    assert metric_crs("", [151.2], [-33.9]).to_epsg() == 32756  # Sydney, southern hemisphere
    assert metric_crs("EPSG:4547", [121.5], [31.2]).to_epsg() == 4547
    x, y = project([-90.2], [38.6], metric_crs("", [-90.2], [38.6]))
    assert unproject(x, y, metric_crs("", [-90.2], [38.6]))[0][0] == pytest.approx(-90.2)


def test_layers_shift_onto_gcj02_tiles_and_back():
    """In Shanghai GCJ-02 lies about 0.0045° east and 0.002° south of WGS84 (~500 m): a
    jurisdiction drawn on AutoNavi tiles must move by that, and inverting recovers it."""
    frame = gpd.GeoDataFrame(geometry=[shapely.box(121.47, 31.22, 121.48, 31.23)], crs=4326)
    shifted = frame_to_gcj02(frame)
    dlon, dlat = (shifted.total_bounds - frame.total_bounds)[:2]
    assert 0.003 < dlon < 0.006 and -0.003 < dlat < -0.001
    xy = shapely.get_coordinates(shifted.geometry.values)
    lon, lat = gcj02_to_wgs84(xy[:, 0], xy[:, 1])
    assert np.allclose(np.column_stack([lon, lat]), shapely.get_coordinates(frame.geometry.values))
    assert shifted.crs == frame.crs
