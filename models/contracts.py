"""The data folder contract (SPEC §2): which tables a bureau's folder holds, their columns and
keys, and loading them with every problem collected before failing once.

A table is declared once in `models.tables.TABLES` (columns, key, references, dated columns,
whether the folder may lack it or it may hold no rows); reading is `models.reading` (the large
execution tables `models.typed_tables`), cell checks `models.columns`, row and reference checks
`models.checks`, the jurisdiction layer `models.outlines`, the inputs of the missions (units,
roads, station houses) `models.mission_inputs`. Problems name file, row and column so a clerk
can fix all of them in one pass.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import to_wgs84
from geo.jurisdictions import station_of_points
from models.checks import cross_references, duplicates, policy_problems, spelling_problems
from models.columns import SAMPLE_ROWS, Column, coerce, number_columns
from models.config import Config, load_config, timezone_of
from models.errors import InputError, Problem
from models.memory import hand_back_memory
from models.mission_inputs import road_problems, station_houses_checked, typed_roads, typed_units
from models.outlines import (
    grid_cell_size,
    overlap_problems,
    shape_problems,
    stray_vertex_problems,
)
from models.quality import QUALITY_COLUMNS
from models.reading import Table, find_geometry, find_table, located, read_layer, read_table
from models.tables import (
    ALL_TABLES,
    EXPERIMENT,
    PREVIOUS_PLAN,
    TABLES,
    TYPED_TABLES,
    TableSpec,
    with_shifts,
)
from models.toml_keys import config_key_problem
from models.typed_tables import read_typed

__all__ = ["Bureau", "Column", "TableSpec", "TABLES", "load_bureau", "load_previous_plan"]

OUTSIDE_LISTED = 5  # rows named when too many cases lie outside every jurisdiction


@dataclass
class Bureau:
    """A bureau's validated inputs, typed, coordinates in WGS84, times local.

    `cases` gains `month` (YYYY-MM), `category`, `harm` (resolved), `patrol_sensitive`,
    `preventable`, `major` and `jurisdiction_id` (the station whose polygon holds the case).
    `outside_cases` lists cases outside every jurisdiction (dropped, below the allowed share).
    `warnings` holds the named warnings of loading, as `quality.csv` rows. The optional inputs
    of the missions: `units` with their defaults (`models.mission_inputs.typed_units`), `roads`
    (`typed_roads`), and the stations' `station_lat`, `station_lon` in WGS84 where given.
    """

    config: Config
    files: dict[str, Path]
    stations: gpd.GeoDataFrame | None = None
    cases: pd.DataFrame | None = None
    offences: pd.DataFrame | None = None
    indicators: pd.DataFrame | None = None
    weights: pd.DataFrame | None = None
    scores: pd.DataFrame | None = None
    courses: pd.DataFrame | None = None
    training_log: pd.DataFrame | None = None
    flex_weights: pd.DataFrame | None = None
    patrol_tracks: pd.DataFrame | None = None
    calls: pd.DataFrame | None = None
    units: pd.DataFrame | None = None
    roads: gpd.GeoDataFrame | None = None
    outside_cases: pd.DataFrame = field(default_factory=pd.DataFrame)
    warnings: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=QUALITY_COLUMNS))


def _no_rows(table: Table, name: str) -> list[Problem]:
    layer = table.path.suffix in (".geojson", ".gpkg")
    what = "the layer has no features" if layer else "the file has a header but no rows"
    column = "(features)" if layer else "(rows)"
    return [Problem(table.file, table.first_row, column, f"{what}: {name} needs at least one")]


def _garbage_problem(table: Table) -> Problem:
    """The note on a table most of whose first rows are wrong: is it the right file?"""
    return Problem(
        table.file,
        table.first_row,
        "(rows)",
        f"most of the first {SAMPLE_ROWS} rows are wrong: is this the right file? Its keys, "
        "references and dates were not checked",
    )


def _wgs84_layer(table: Table, geometry: gpd.GeoSeries, config: Config) -> gpd.GeoSeries:
    """A layer's features in WGS84: reprojected from the file's own CRS when it declares one,
    else converted from the config's `coordinates`."""
    crs = geometry.crs
    series = gpd.GeoSeries(geometry.to_numpy(), crs=crs or "EPSG:4326")
    with located(table.file):
        if crs is not None and not crs.equals("EPSG:4326") and crs.to_epsg() != 4326:
            series = series.to_crs("EPSG:4326")
        elif config.coordinates.lower() != "wgs84":
            features = series.to_numpy()
            usable = np.array([g is not None and not g.is_empty for g in features], dtype=bool)
            features[usable] = shapely.transform(
                features[usable],
                lambda xy: np.column_stack(to_wgs84(xy[:, 0], xy[:, 1], config.coordinates)),
            )
            series = gpd.GeoSeries(features, crs="EPSG:4326")
    return series


def _jurisdiction_problems(
    table: Table, stations: gpd.GeoDataFrame, config: Config, config_path: Path
) -> list[Problem]:
    """Overlaps, a stray vertex, and a grid too fine for the extent (checked before any grid
    is allocated), for jurisdictions whose shapes are fine."""
    problems = overlap_problems(table.file, stations)
    strays = stray_vertex_problems(table.file, stations)
    if strays:
        return problems + strays
    _, message = grid_cell_size(stations, config)
    if message:
        problems.append(config_key_problem(config_path, ("grid", "cell_size_m"), message))
    return problems


def _read(data_dir: Path, name: str, spec: TableSpec):
    """The table `name` of the folder (and a layer's geometry), None if an optional one is
    absent."""
    path = find_geometry(data_dir, name) if spec.layer else find_table(data_dir, name)
    if path is None:
        if spec.optional:
            return None
        file = f"{name}.geojson" if spec.layer else f"{name}.csv"
        raise InputError([Problem(file, 0, "(file)", "file is missing")])
    if spec.layer:
        return path, *read_layer(path)
    return path, read_table(path, number_columns(list(spec.columns))), None


def _read_typed(data_dir: Path, name: str, spec: TableSpec) -> tuple[Path, Table, None] | None:
    """A large table read typed by `models.typed_tables`, or None when it must be read as
    text."""
    path = find_table(data_dir, name)
    if path is None or path.is_dir():
        return None
    table = read_typed(path, list(spec.columns))
    return None if table is None else (path, table, None)


def load_bureau(
    data_dir: Path,
    tables: frozenset[str] | set[str] = ALL_TABLES,
    now: datetime | None = None,
) -> Bureau:
    """Read and check the named tables of a data folder (and `config.toml`).

    Required tables among `tables` must exist; optional ones are read when present. Raises
    InputError with every problem found; returns the typed Bureau otherwise.
    """
    data_dir = Path(data_dir)
    now = now or datetime.now()
    problems: list[Problem] = []
    if not data_dir.is_dir():
        raise InputError([Problem(str(data_dir), 0, "(folder)", "data folder does not exist")])
    config_path = data_dir / "config.toml"
    try:
        config = load_config(config_path)
    except InputError as exc:
        problems += exc.problems
        config = Config()
    timezone = timezone_of(config.timezone)
    bureau = Bureau(config=config, files={})
    if config_path.exists():
        bureau.files["config"] = config_path
    raw: dict[str, Table] = {}
    converted: list[tuple[str, str, int]] = []
    for name in sorted(tables):
        spec = TABLES[name]
        fast = _read_typed(data_dir, name, spec) if name in TYPED_TABLES else None
        try:
            found = fast or _read(data_dir, name, spec)
        except InputError as exc:
            problems += exc.problems
            continue
        if found is None:
            continue
        path, table, geometry = found
        bureau.files[name] = path
        if not len(table.frame) and not spec.may_be_empty:
            problems += _no_rows(table, name)
            continue
        typed = coerce(table, with_shifts(spec.columns, config.allocation.shifts), timezone)
        problems += typed.problems
        if typed.garbage:  # its rows would only repeat the same problems in other checks
            problems.append(_garbage_problem(table))
            continue
        raw[name] = table
        converted += [(table.file, column, n) for column, n in typed.converted.items()]
        frame = typed.frame
        problems += duplicates(table, frame, spec.key)
        for col in spec.columns:
            if col.identifier:
                problems += spelling_problems(table, frame, col.name)
        if name == "stations":
            geoms = _wgs84_layer(table, geometry, config)
            found_shapes = shape_problems(table.file, geoms.to_numpy())
            problems += found_shapes
            frame = gpd.GeoDataFrame(frame, geometry=geoms.to_numpy(), crs="EPSG:4326")
            if len(frame) and "station_id" in frame.columns:
                if not found_shapes:
                    problems += _jurisdiction_problems(table, frame, config, config_path)
                frame, found_houses = station_houses_checked(frame, table, config.coordinates)
                problems += found_houses
        elif name == "roads":
            geoms = _wgs84_layer(table, geometry, config)
            problems += road_problems(table.file, geoms.to_numpy())
            frame = typed_roads(frame, geoms)
        setattr(bureau, name, frame)

    frames = {name: getattr(bureau, name) for name in raw}
    problems += cross_references(frames, raw, now)
    if problems:
        raise InputError(problems)
    problems += policy_problems(frames, raw, config.scoring)
    if bureau.cases is not None and bureau.offences is not None:
        bureau.cases, bureau.outside_cases, found = _derive_cases(bureau, raw["cases"].first_row)
        problems += found
    if problems:
        raise InputError(problems)
    if bureau.units is not None:
        bureau.units = typed_units(bureau.units)
    bureau.warnings = _conversion_warnings(converted, config.timezone or "the system's time zone")
    del raw
    hand_back_memory()  # reading freed about twice the tables' size, which allocators keep
    return bureau


def _conversion_warnings(converted: list[tuple[str, str, int]], zone: str) -> pd.DataFrame:
    """A `time_offset_converted` warning per column whose times carried a UTC offset."""
    rows = [
        {
            "check": "time_offset_converted",
            "severity": "warning",
            "message": f"{file} {column}: {n:,} time(s) with a UTC offset converted to {zone}",
        }
        for file, column, n in converted
    ]
    return pd.DataFrame(rows, columns=QUALITY_COLUMNS).fillna("")


def _months(times: pd.Series) -> pd.Series:
    """`YYYY-MM` of each time, built once per distinct month (fast at millions of rows)."""
    codes = (times.dt.year * 12 + times.dt.month - 1).to_numpy()
    distinct, inverse = np.unique(codes, return_inverse=True)
    labels = np.array([f"{c // 12:04d}-{c % 12 + 1:02d}" for c in distinct], dtype=object)
    return pd.Series(labels[inverse], index=times.index, dtype="str")


def _derive_cases(
    bureau: Bureau, first_row: int
) -> tuple[pd.DataFrame, pd.DataFrame, list[Problem]]:
    """Convert coordinates, resolve harm and category, find each case's jurisdiction.
    `first_row` is the row number of the first case in its file."""
    cases = bureau.cases.copy()
    config = bureau.config
    lon, lat = to_wgs84(cases["lon"], cases["lat"], config.coordinates)
    cases["lon"], cases["lat"] = lon, lat
    cases["month"] = _months(cases["occurred_at"])
    offences = bureau.offences.reset_index(drop=True)
    row = pd.Index(offences["offence"]).get_indexer(cases["offence"])  # once for every column
    for col in ("category", "patrol_sensitive", "preventable", "major", "harm_weight"):
        values = offences[col].take(row)
        values.index = cases.index
        if col == "harm_weight":
            own = cases["harm"] if "harm" in cases.columns else np.nan
            cases["harm"] = pd.Series(own, index=cases.index).fillna(values)
        else:
            cases[col] = values
    problems: list[Problem] = []
    outside = cases.iloc[0:0]
    if bureau.stations is not None:
        cases["jurisdiction_id"] = station_of_points(bureau.stations, lon, lat)
        is_out = cases["jurisdiction_id"].isna().to_numpy()
        share = is_out.mean() if len(cases) else 0.0
        if share > config.max_outside_share:
            rows = np.flatnonzero(is_out) + first_row
            listed = ", ".join(str(r) for r in rows[:OUTSIDE_LISTED])
            more = ", …" if len(rows) > OUTSIDE_LISTED else ""
            problems.append(
                Problem(
                    bureau.files["cases"].name,
                    int(rows[0]),
                    "lat/lon",
                    f"{is_out.sum()} cases ({share:.1%}) lie outside every jurisdiction (rows "
                    f"{listed}{more}); at most {config.max_outside_share:.1%} allowed "
                    "(max_outside_share)",
                )
            )
        outside = cases[is_out]
        cases = cases[~is_out].reset_index(drop=True)
    return cases, outside, problems


def load_experiment(path: Path) -> pd.DataFrame | None:
    """The randomized dose experiment published with a plan (`experiment.csv`), checked like
    every input table; None when there is no such file. Raises InputError with every
    problem."""
    if not Path(path).is_file():
        return None
    table = read_table(path, number_columns(EXPERIMENT.columns))
    typed = coerce(table, EXPERIMENT.columns, timezone_of(""))
    if typed.problems:
        raise InputError(typed.problems)
    return typed.frame


def load_previous_plan(path: Path, shifts: Collection[str]) -> pd.DataFrame:
    """Last month's plan given as a file (an `allocation.csv`, or Parquet): `cell_id, shift,
    hours` checked like every input table (hours ≥ 0, shift one of `shifts`), `prev_hours` and
    `risk` parsed when present, other columns (`station_id`, `lender_station_id`) passed through
    as text. Raises InputError with every problem; cells outside the grid are ignored later."""
    columns = with_shifts(PREVIOUS_PLAN.columns, shifts)
    table = read_table(path, number_columns(columns))
    typed = coerce(table, columns, timezone_of(""))
    if typed.problems:
        raise InputError(typed.problems)
    return typed.frame
