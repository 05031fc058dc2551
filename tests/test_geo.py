import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.crs import (
    bd09_to_gcj02,
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


# Published reference pairs (lon, lat). WGS84 → GCJ-02: googollee/eviltransform, python/test.py
# (Shanghai, Shenzhen, Beijing; the same three pairs in its go/transform_test.go), and
# wandergis/coordtransform, test/app.js (wgs84togcj02 of Tiananmen). BD-09 → GCJ-02:
# wandergis/coordtransform, test/app.js (bd09togcj02).
WGS_GCJ_PAIRS = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
    ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),
]
BD_GCJ_PAIRS = [((116.404, 39.915), (116.39762729119315, 39.90865673957631))]


def test_gcj02_matches_published_reference_pairs_both_ways():
    wgs, gcj = (np.array(side) for side in zip(*WGS_GCJ_PAIRS, strict=True))
    glon, glat = wgs84_to_gcj02(wgs[:, 0], wgs[:, 1])
    assert np.abs(glon - gcj[:, 0]).max() < 1e-9 and np.abs(glat - gcj[:, 1]).max() < 1e-9
    wlon, wlat = to_wgs84(gcj[:, 0], gcj[:, 1], "gcj02")
    assert np.abs(wlon - wgs[:, 0]).max() < 1e-7 and np.abs(wlat - wgs[:, 1]).max() < 1e-7


def test_bd09_matches_a_published_reference_pair():
    (bd, gcj) = BD_GCJ_PAIRS[0]
    lon, lat = bd09_to_gcj02(*bd)
    assert abs(lon - gcj[0]) < 1e-9 and abs(lat - gcj[1]) < 1e-9


def test_the_utm_zone_of_a_point_on_a_zone_edge_or_the_equator():
    assert metric_crs("", [-90.0], [38.6]).to_epsg() == 32616  # the zone east of the edge
    assert metric_crs("", [-90.2], [0.0]).to_epsg() == 32615  # the northern zone
    assert metric_crs("", [-90.2, -91.0, 0.0], [38.6, 38.0, 39.0]).to_epsg() == 32615  # median
    with pytest.raises(ValueError, match="no UTM zone"):
        metric_crs("", [10.0], [85.0])


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
