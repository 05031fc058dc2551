"""Coordinate handling: China's GCJ-02 / BD-09 to WGS84, and the metric CRS used for distances.

GCJ-02 ("Mars coordinates") is the obfuscated datum mandated for maps published in China; BD-09 is
Baidu's further offset of it. Inputs in either are converted to WGS84 before anything else.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS, Transformer

_A = 6378245.0  # Krasovsky 1940 semi-major axis used by GCJ-02, metres
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = math.pi * 3000.0 / 180.0


def _gcj_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 offset (degrees) added to WGS84 coordinates inside China."""
    x, y = lon - 105.0, lat - 35.0
    dlat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    )
    dlon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * np.sqrt(np.abs(x))
        + (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    )
    rad = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Forward GCJ-02 obfuscation of WGS84 degrees."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


def frame_to_gcj02(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """`frame` (WGS84 degrees) with its geometries shifted to GCJ-02, so that they sit on
    basemap tiles drawn in that datum (AutoNavi/Gaode, Tencent) instead of ~500 m off."""

    def shift(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1]))

    return frame.set_geometry(shapely.transform(frame.geometry.values, shift), crs=frame.crs)


def gcj02_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Invert GCJ-02 by fixed-point iteration (error < 1e-7 degrees, about 1 cm)."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    wlon, wlat = lon.copy(), lat.copy()
    for _ in range(30):
        glon, glat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = glon - lon, glat - lat
        wlon, wlat = wlon - elon, wlat - elat
        if np.nanmax(np.abs(np.concatenate([elon.ravel(), elat.ravel(), [0.0]]))) < 1e-9:
            break
    return wlon, wlat


def bd09_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Remove Baidu's BD-09 offset, giving GCJ-02 degrees."""
    x, y = np.asarray(lon, float) - 0.0065, np.asarray(lat, float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def to_wgs84(lon, lat, coordinates: str) -> tuple[np.ndarray, np.ndarray]:
    """Convert input coordinates declared as `wgs84`, `gcj02`, `bd09` or `EPSG:nnnn` to WGS84."""
    kind = coordinates.strip().lower()
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    if kind == "wgs84":
        return lon, lat
    if kind == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if kind == "bd09":
        return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))
    transformer = Transformer.from_crs(
        CRS.from_user_input(coordinates), "EPSG:4326", always_xy=True
    )
    return transformer.transform(lon, lat)


def utm_crs(lon, lat) -> CRS:
    """The UTM zone CRS (WGS84 datum) holding the median of the points, looked up in the PROJ
    database like geopandas' `estimate_utm_crs`. A point on a zone's edge belongs to the zone
    east of it, one on the equator to the northern zone (each zone taken as west ≤ lon < east,
    south ≤ lat < north)."""
    from pyproj.aoi import AreaOfInterest
    from pyproj.database import query_utm_crs_info

    lon0, lat0 = float(np.nanmedian(lon)), float(np.nanmedian(lat))
    area = AreaOfInterest(lon0, lat0, lon0, lat0)
    for zone in query_utm_crs_info(datum_name="WGS 84", area_of_interest=area):
        bounds = zone.area_of_use
        if bounds.west <= lon0 < bounds.east and bounds.south <= lat0 < bounds.north:
            return CRS.from_epsg(int(zone.code))
    raise ValueError(
        f"no UTM zone holds {lon0:.4f}, {lat0:.4f} (beyond 84°N or 80°S): set crs in config.toml"
    )


def metric_crs(crs_setting: str, lon, lat) -> CRS:
    """The configured metric CRS, else the UTM zone of the data."""
    if crs_setting:
        return CRS.from_user_input(crs_setting)
    return utm_crs(lon, lat)


def project(lon, lat, crs: CRS) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 degrees → metres in `crs`."""
    transformer = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = transformer.transform(np.asarray(lon, float), np.asarray(lat, float))
    return np.asarray(x), np.asarray(y)


def unproject(x, y, crs: CRS) -> tuple[np.ndarray, np.ndarray]:
    """Metres in `crs` → WGS84 degrees (lon, lat)."""
    transformer = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lon, lat = transformer.transform(np.asarray(x, float), np.asarray(y, float))
    return np.asarray(lon), np.asarray(lat)
