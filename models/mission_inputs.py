"""The optional inputs of the missions (SPEC §16) beyond what their declarations in
`models.tables` check: the patrol units' defaults, the road network's geometry, and the station
houses (`station_lat`, `station_lon` of the stations), given in pairs and inside their own
jurisdiction. The missions read the typed frames; `geo.jurisdictions.station_houses` gives
each station's house point."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import to_wgs84
from models.columns import ISO_WEEKDAYS, stripped
from models.errors import Problem, mask_problems
from models.reading import Table

DEFAULT_MODE = "car"  # a unit without a `mode`
EVERY_DAY = ";".join(ISO_WEEKDAYS)  # a unit without `weekdays`
LINE_TYPES = (1, 5)  # shapely type ids of a road's geometry: LineString, MultiLineString
POLYGON_TYPES = (3, 6)  # of a jurisdiction: Polygon, MultiPolygon
HOUSE_TOLERANCE_DEG = 1e-7  # about 1 cm: a house this close to its jurisdiction lies on its edge
HOUSE_COLUMNS = ("station_lat", "station_lon")


def typed_units(units: pd.DataFrame) -> pd.DataFrame:
    """Checked `units.csv` rows with their defaults: `mode` car, `weekdays` every day (ISO
    digits joined by ';'), `officers` as whole numbers. Other columns pass through."""
    out = units.copy()
    for column, default in (("mode", DEFAULT_MODE), ("weekdays", EVERY_DAY)):
        given = out[column] if column in out.columns else ""
        out[column] = pd.Series(given, index=out.index, dtype="str").replace("", default)
    out["officers"] = out["officers"].astype("int64")
    return out


def road_problems(file: str, geoms: np.ndarray) -> list[Problem]:
    """Road features whose geometry is missing or empty, not a LineString or MultiLineString,
    or has a vertex that is not a WGS84 longitude/latitude; at the feature (from 1)."""
    types = shapely.get_type_id(geoms)
    missing = (types < 0) | shapely.is_empty(geoms)
    other = ~missing & ~np.isin(types, LINE_TYPES)
    problems = mask_problems(
        file, 1, missing, "geometry", "empty geometry: a road is a LineString or MultiLineString"
    )
    problems += mask_problems(
        file,
        1,
        other,
        "geometry",
        lambda i: f"{geoms[i].geom_type} is not a LineString or MultiLineString",
    )
    lines = np.flatnonzero(~missing & ~other)
    coords, owner = shapely.get_coordinates(geoms[lines], return_index=True)
    wrong = ~(
        np.isfinite(coords).all(axis=1)
        & (np.abs(coords[:, 0]) <= 180)
        & (np.abs(coords[:, 1]) <= 90)
    )
    features, first = np.unique(owner[wrong], return_index=True)
    at = np.flatnonzero(wrong)[first]  # the first wrong vertex of each such feature
    vertex = at - np.searchsorted(owner, features)  # its place in the feature, from 0
    mask = np.zeros(len(geoms), dtype=bool)
    mask[lines[features]] = True
    found = {
        int(lines[f]): f"vertex {k + 1} ({coords[a, 0]:g}, {coords[a, 1]:g}) is not a "
        "longitude/latitude in WGS84"
        for f, a, k in zip(features, at, vertex, strict=True)
    }
    return problems + mask_problems(file, 1, mask, "geometry", found.__getitem__)


def typed_roads(frame: pd.DataFrame, geoms: gpd.GeoSeries) -> gpd.GeoDataFrame:
    """The road network in WGS84: `speed_kmh` (km/h; NaN = the unit's mode's speed), `oneway`
    (False where not given: both ways), other properties as read."""
    out = pd.DataFrame(frame, copy=True)
    if "speed_kmh" not in out.columns:
        out["speed_kmh"] = np.nan
    given = out["oneway"] if "oneway" in out.columns else pd.NA
    out["oneway"] = pd.Series(given, index=out.index, dtype="boolean").fillna(False).astype(bool)
    return gpd.GeoDataFrame(out, geometry=geoms.to_numpy(), crs="EPSG:4326")


def _given(table: Table, column: str) -> np.ndarray:
    """Rows where the file wrote something in `column` (False for every row without it)."""
    if column not in table.frame.columns:
        return np.zeros(len(table.frame), dtype=bool)
    return stripped(table.text(column)).ne("").to_numpy()


def station_houses_checked(
    stations: gpd.GeoDataFrame, table: Table, coordinates: str
) -> tuple[gpd.GeoDataFrame, list[Problem]]:
    """The stations with their houses converted to WGS84 as the cases' coordinates are
    (`coordinates` of the config), and the houses' problems: one of `station_lat`,
    `station_lon` written without the other, or a house outside its own jurisdiction (beyond
    `HOUSE_TOLERANCE_DEG` of it), tested where the jurisdiction is a valid polygon (the shape
    checks name the others). The jurisdictions are in WGS84."""
    if not set(HOUSE_COLUMNS) & set(stations.columns):
        return stations, []
    has_lat, has_lon = (_given(table, c) for c in HOUSE_COLUMNS)
    problems = mask_problems(
        table.file,
        table.first_row,
        has_lon & ~has_lat,
        "station_lat",
        "station_lon is given but station_lat is empty: give both or neither",
    )
    problems += mask_problems(
        table.file,
        table.first_row,
        has_lat & ~has_lon,
        "station_lon",
        "station_lat is given but station_lon is empty: give both or neither",
    )
    lat, lon = (
        stations[c].to_numpy(float) if c in stations.columns else np.full(len(stations), np.nan)
        for c in HOUSE_COLUMNS
    )
    pair = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    lon, lat = np.where(pair, lon, np.nan), np.where(pair, lat, np.nan)
    lon[pair], lat[pair] = to_wgs84(lon[pair], lat[pair], coordinates)
    out = stations.assign(station_lat=lat, station_lon=lon)
    areas = out.geometry.to_numpy()
    tested = pair & np.isin(shapely.get_type_id(areas), POLYGON_TYPES) & shapely.is_valid(areas)
    outside = np.zeros(len(out), dtype=bool)
    outside[tested] = ~shapely.dwithin(
        areas[tested], shapely.points(lon[tested], lat[tested]), HOUSE_TOLERANCE_DEG
    )
    ids = out["station_id"].astype(str).to_numpy()
    problems += mask_problems(
        table.file,
        table.first_row,
        outside,
        "station_lat",
        lambda i: f"station house of {ids[i]} lies outside its jurisdiction",
    )
    return out, problems
