"""The data folder contract (SPEC §2): reading every table, checking every value, collecting
every problem before failing once.

A bureau's folder holds CSV (UTF-8, UTF-8 with BOM or GB18030, detected) or Parquet tables and a
GeoJSON or GeoPackage of jurisdictions. Values are checked cell by cell; the problems name file,
row and column so a clerk can fix all of them in one pass.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import to_wgs84
from geo.jurisdictions import station_of_points
from models.config import Config, decode, load_config
from models.errors import InputError, Problem
from models.policy import (
    PERSPECTIVES,
    QUADRANTS,
    flex_weight_problems,
    temporary_share_problems,
)

TRUE_WORDS = {"true", "1", "yes", "是", "y", "t"}
FALSE_WORDS = {"false", "0", "no", "否", "n", "f"}
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_UTC_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")


@dataclass(frozen=True)
class Column:
    """One column of a table: its kind (`text`, `number`, `integer`, `bool`, `month`,
    `datetime`), whether the file must have it, whether a cell may be empty, and its range."""

    name: str
    kind: str = "text"
    required: bool = True
    allow_empty: bool = False
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None


TABLES: dict[str, list[Column]] = {
    "stations": [
        Column("station_id"),
        Column("name"),
        Column("station_type"),
        Column("officers", "integer", minimum=0),
        Column("patrol_hours_per_officer", "number", required=False, allow_empty=True, minimum=0),
        Column("type_zh", required=False, allow_empty=True),
    ],
    "cases": [
        Column("case_id"),
        Column("occurred_at", "datetime"),
        Column("offence"),
        Column("lat", "number", minimum=-90, maximum=90),
        Column("lon", "number", minimum=-180, maximum=180),
        Column("station_id", required=False, allow_empty=True),
        Column("reported_at", "datetime", required=False, allow_empty=True),
        Column("solved", "bool", required=False, allow_empty=True),
        Column("response_minutes", "number", required=False, allow_empty=True, minimum=0),
        Column("harm", "number", required=False, allow_empty=True, minimum=0),
    ],
    "offences": [
        Column("offence"),
        Column("category"),
        Column("harm_weight", "number", minimum=0),
        Column("patrol_sensitive", "bool"),
        Column("preventable", "bool"),
        Column("major", "bool"),
        Column("name_zh", required=False, allow_empty=True),
        Column("category_zh", required=False, allow_empty=True),
    ],
    "indicators": [
        Column("indicator_id"),
        Column("name"),
        Column("quadrant", choices=QUADRANTS),
        Column("perspective", choices=PERSPECTIVES),
        Column("direction", choices=("higher", "lower")),
        Column("source", choices=("auto", "manual", "subjective")),
        Column("temporary", "bool"),
        Column("target", "number", required=False, allow_empty=True, minimum=0),
        Column(
            "method",
            required=False,
            allow_empty=True,
            choices=("target", "peer_minmax", "peer_percentile"),
        ),
        Column("redline", "bool", required=False, allow_empty=True),
        Column("pool", "bool", required=False, allow_empty=True),
        Column("case_metric", required=False, allow_empty=True),
        Column("name_zh", required=False, allow_empty=True),
    ],
    "weights": [
        Column("indicator_id"),
        Column("station_type"),
        Column("weight", "number", minimum=0),
    ],
    "scores": [
        Column("station_id"),
        Column("month", "month"),
        Column("indicator_id"),
        Column("value", "number", allow_empty=True),
        Column("reported_at", "datetime", required=False, allow_empty=True),
        Column("source", required=False, allow_empty=True),
    ],
    "courses": [
        Column("course_id"),
        Column("title"),
        Column("hours", "number", minimum=0),
        Column("seats", "integer", minimum=0),
        Column("addresses"),
        Column("format", required=False, allow_empty=True),
        Column("title_zh", required=False, allow_empty=True),
    ],
    "training_log": [
        Column("station_id"),
        Column("course_id"),
        Column("month", "month"),
        Column("attendees", "integer", minimum=0),
    ],
    "flex_weights": [
        Column("station_id"),
        Column("indicator_id"),
        Column("weight", "number", minimum=0),
    ],
}
PREVIOUS_PLAN: list[Column] = [
    Column("cell_id"),
    Column("shift"),
    Column("hours", "number", minimum=0),
    Column("prev_hours", "number", required=False, minimum=0),
    Column("risk", "number", required=False, minimum=0),
]
OPTIONAL_TABLES = frozenset({"training_log", "flex_weights"})
UNIQUE_KEYS: dict[str, tuple[str, ...]] = {
    "stations": ("station_id",),
    "cases": ("case_id",),
    "offences": ("offence",),
    "indicators": ("indicator_id",),
    "weights": ("indicator_id", "station_type"),
    "scores": ("station_id", "month", "indicator_id"),
    "courses": ("course_id",),
    "flex_weights": ("station_id", "indicator_id"),
}
ALL_TABLES = frozenset(TABLES)
CASE_METRIC = re.compile(r"^(?:(?:count|solved_rate):(?P<category>.+)|mean_response)$")
OUTSIDE_LISTED = 5  # rows named when too many cases lie outside every jurisdiction


@dataclass
class Table:
    """A table as read: all cells as text, the file name and the row number of its first row."""

    file: str
    path: Path
    frame: pd.DataFrame
    first_row: int


@dataclass
class Bureau:
    """A bureau's validated inputs, typed, coordinates in WGS84.

    `cases` gains `month` (YYYY-MM), `category`, `harm` (resolved), `patrol_sensitive`,
    `preventable`, `major` and `jurisdiction_id` (the station whose polygon holds the case).
    `outside_cases` lists cases outside every jurisdiction (dropped, below the allowed share).
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
    outside_cases: pd.DataFrame = field(default_factory=pd.DataFrame)


def decode_text(raw: bytes, file: str) -> str:
    """Decode CSV bytes: UTF-8 (with or without BOM), else GB18030; InputError at the first
    undecodable line otherwise."""
    return decode(raw, file, ("utf-8", "gb18030"), table=True)


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells of a typed frame (Parquet, GeoJSON properties) as text, nulls as ''."""
    out = {}
    for name in frame.columns:
        col = frame[name]
        text = col.astype(object).map(lambda v: "" if v is None or v is pd.NaT else str(v))
        text[col.isna().to_numpy()] = ""
        out[name] = text
    return pd.DataFrame(out, index=frame.index)


def find_table(data_dir: Path, stem: str) -> Path | None:
    """`<stem>.csv`, else `<stem>.parquet`, in the data folder."""
    for suffix in (".csv", ".parquet"):
        path = data_dir / f"{stem}{suffix}"
        if path.exists():
            return path
    return None


def read_table(path: Path) -> Table:
    """Read a CSV or Parquet table with every cell as text; raise InputError if unreadable."""
    try:
        if path.suffix == ".parquet":
            frame = _as_text(pd.read_parquet(path))
            return Table(path.name, path, frame.reset_index(drop=True), 1)
        raw = path.read_bytes()
    except (ValueError, OSError) as exc:
        raise InputError([Problem(path.name, 0, "(file)", f"cannot read: {exc}")]) from exc
    text = decode_text(raw, path.name)
    try:
        frame = pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=False
        )
    except ValueError as exc:  # pandas' ParserError among them, naming the line
        message = str(exc).strip()
        line = re.search(r"line (\d+)", message)
        row = int(line.group(1)) if line else 0
        raise InputError([Problem(path.name, row, "(file)", f"cannot read: {message}")]) from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return Table(path.name, path, frame, 2)


def find_geometry(data_dir: Path, stem: str = "stations") -> Path | None:
    """`<stem>.geojson`, else `<stem>.gpkg`."""
    for suffix in (".geojson", ".gpkg"):
        path = data_dir / f"{stem}{suffix}"
        if path.exists():
            return path
    return None


def read_stations(path: Path) -> tuple[Table, gpd.GeoSeries]:
    """Read the jurisdiction layer: properties as text, geometry apart (feature number from 1)."""
    try:
        with warnings.catch_warnings():  # a property GDAL cannot parse is checked below, by row
            warnings.simplefilter("ignore", UserWarning)
            gdf = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several unrelated types for unreadable files
        raise InputError([Problem(path.name, 0, "(file)", f"cannot read: {exc}")]) from exc
    props = _as_text(pd.DataFrame(gdf.drop(columns="geometry")))
    return Table(path.name, path, props.reset_index(drop=True), 1), gdf.geometry


def coerce(table: Table, columns: list[Column]) -> tuple[pd.DataFrame, list[Problem]]:
    """Typed copy of a text table and every problem with its cells.

    Unknown columns pass through as text. Rows with a bad cell stay in the frame (with NaN) so
    later checks can still see them; the caller fails on any problem anyway.
    """
    problems: list[Problem] = []
    frame = table.frame.copy()
    rows = np.arange(len(frame)) + table.first_row

    def report(mask: np.ndarray, column: str, message) -> None:
        for i in np.flatnonzero(mask):
            text = message(i) if callable(message) else message
            problems.append(Problem(table.file, int(rows[i]), column, text))

    for col in columns:
        if col.name not in frame.columns:
            if col.required:
                problems.append(Problem(table.file, 1, col.name, "required column is missing"))
            continue
        text = frame[col.name].astype(str).str.strip()
        values = text.to_numpy()
        empty = text.eq("").to_numpy()
        if not col.allow_empty:
            report(empty, col.name, "empty value")
        if col.kind in ("number", "integer"):
            parsed = pd.to_numeric(text.str.replace(",", "", regex=False), errors="coerce")
            number = parsed.to_numpy(dtype=float)
            bad = ~empty & ~np.isfinite(number)
            report(bad, col.name, lambda i, v=values: f"not a number: {v[i]!r}")
            if col.kind == "integer":
                frac = ~empty & np.isfinite(number) & (np.round(number) != number)
                report(frac, col.name, lambda i, v=values: f"not a whole number: {v[i]!r}")
            ok = np.isfinite(number)
            if col.minimum is not None:
                report(
                    ok & (number < col.minimum),
                    col.name,
                    lambda i, n=number, m=col.minimum: f"{n[i]:g} is below the minimum {m:g}",
                )
            if col.maximum is not None:
                report(
                    ok & (number > col.maximum),
                    col.name,
                    lambda i, n=number, m=col.maximum: f"{n[i]:g} is above the maximum {m:g}",
                )
            frame[col.name] = number
        elif col.kind == "bool":
            lower = text.str.lower()
            is_true = lower.isin(TRUE_WORDS).to_numpy()
            is_false = lower.isin(FALSE_WORDS).to_numpy()
            report(
                ~empty & ~is_true & ~is_false,
                col.name,
                lambda i, v=values: f"not a boolean (true/false, 1/0, yes/no, 是/否): {v[i]!r}",
            )
            frame[col.name] = pd.array(np.where(empty, None, is_true), dtype="boolean")
        elif col.kind == "month":
            bad = ~empty & ~text.str.match(_MONTH).to_numpy()
            report(bad, col.name, lambda i, v=values: f"not a month YYYY-MM: {v[i]!r}")
            frame[col.name] = text.where(~bad, "")
        elif col.kind == "datetime":
            local = text.str.replace(_UTC_OFFSET, "", regex=True)
            parsed = pd.to_datetime(local, format="ISO8601", errors="coerce")
            bad = ~empty & parsed.isna().to_numpy()
            report(bad, col.name, lambda i, v=values: f"not an ISO 8601 date-time: {v[i]!r}")
            frame[col.name] = parsed
        else:
            frame[col.name] = text
            if col.choices is not None:
                bad = ~empty & ~text.isin(col.choices).to_numpy()
                allowed = ", ".join(col.choices)
                report(bad, col.name, lambda i, v=values, a=allowed: f"{v[i]!r} is not one of {a}")
    return frame, problems


def _duplicates(table: Table, frame: pd.DataFrame, keys: tuple[str, ...]) -> list[Problem]:
    if not set(keys) <= set(frame.columns):
        return []
    dup = frame.duplicated(list(keys), keep="first").to_numpy()
    what = " + ".join(keys)
    return [
        Problem(
            table.file,
            int(i + table.first_row),
            keys[-1],
            f"duplicate {what} " + " + ".join(repr(v) for v in frame.iloc[i][list(keys)]),
        )
        for i in np.flatnonzero(dup)
    ]


def _references(
    table: Table, frame: pd.DataFrame, column: str, known: set[str], what: str
) -> list[Problem]:
    if column not in frame.columns:
        return []
    values = frame[column].astype(str).to_numpy()
    bad = np.array([v != "" and v not in known for v in values], dtype=bool)
    return [
        Problem(table.file, int(i + table.first_row), column, f"unknown {what} {values[i]!r}")
        for i in np.flatnonzero(bad)
    ]


def _future(table: Table, frame: pd.DataFrame, column: str, now: datetime) -> list[Problem]:
    if column not in frame.columns:
        return []
    col = frame[column]
    if pd.api.types.is_datetime64_any_dtype(col):
        mask = (col > pd.Timestamp(now)).fillna(False).to_numpy(dtype=bool)
    else:
        mask = (col.astype(str) > now.strftime("%Y-%m")).to_numpy(dtype=bool)
    return [
        Problem(
            table.file, int(i + table.first_row), column, "date lies after the moment of the run"
        )
        for i in np.flatnonzero(mask)
    ]


def _station_geometry(
    table: Table, geometry: gpd.GeoSeries, config: Config
) -> tuple[gpd.GeoSeries, list[Problem]]:
    problems = []
    geoms = geometry.to_numpy()
    for i, geom in enumerate(geoms):
        if geom is None or geom.is_empty:
            problems.append(Problem(table.file, i + 1, "geometry", "missing jurisdiction polygon"))
        elif geom.geom_type not in ("Polygon", "MultiPolygon"):
            problems.append(
                Problem(table.file, i + 1, "geometry", f"{geom.geom_type} is not a polygon")
            )
        elif not geom.is_valid:
            geoms[i] = shapely.make_valid(geom)
    crs = geometry.crs
    series = gpd.GeoSeries(geoms, crs=crs or "EPSG:4326")
    if crs is not None and not crs.equals("EPSG:4326") and crs.to_epsg() != 4326:
        series = series.to_crs("EPSG:4326")
    elif config.coordinates.lower() != "wgs84" and not problems:
        series = gpd.GeoSeries(
            shapely.transform(
                series.to_numpy(),
                lambda xy: np.column_stack(to_wgs84(xy[:, 0], xy[:, 1], config.coordinates)),
            ),
            crs="EPSG:4326",
        )
    return series, problems


def _policy(bureau: Bureau, tables: dict[str, Table]) -> list[Problem]:
    """Policy errors: temporary weight above the cap per station type; flexible weights."""
    problems = []
    if bureau.weights is not None and bureau.indicators is not None:
        problems += temporary_share_problems(
            bureau.weights,
            bureau.indicators,
            bureau.config.scoring.max_temporary_share,
            tables["weights"].file,
            tables["weights"].first_row,
        )
    if bureau.flex_weights is not None and bureau.weights is not None and "flex_weights" in tables:
        problems += flex_weight_problems(
            bureau.flex_weights,
            bureau.weights,
            bureau.indicators,
            bureau.stations,
            bureau.config.scoring.max_flex_share,
            tables["flex_weights"].file,
            tables["flex_weights"].first_row,
        )
    return problems


def _derive_cases(
    bureau: Bureau, first_row: int
) -> tuple[pd.DataFrame, pd.DataFrame, list[Problem]]:
    """Convert coordinates, resolve harm and category, find each case's jurisdiction.
    `first_row` is the row number of the first case in its file."""
    cases = bureau.cases.copy()
    config = bureau.config
    lon, lat = to_wgs84(cases["lon"], cases["lat"], config.coordinates)
    cases["lon"], cases["lat"] = lon, lat
    cases["month"] = cases["occurred_at"].dt.strftime("%Y-%m")
    offences = bureau.offences.set_index("offence")
    for col in ("category", "patrol_sensitive", "preventable", "major"):
        cases[col] = cases["offence"].map(offences[col])
    own_harm = cases["harm"] if "harm" in cases.columns else np.nan
    cases["harm"] = pd.Series(own_harm, index=cases.index).fillna(
        cases["offence"].map(offences["harm_weight"])
    )
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
    bureau = Bureau(config=config, files={})
    if config_path.exists():
        bureau.files["config"] = config_path
    raw: dict[str, Table] = {}
    for name in sorted(tables):
        try:
            if name == "stations":
                path = find_geometry(data_dir)
                if path is None:
                    problems.append(Problem("stations.geojson", 0, "(file)", "file is missing"))
                    continue
                table, geometry = read_stations(path)
            else:
                path = find_table(data_dir, name)
                if path is None:
                    if name not in OPTIONAL_TABLES:
                        problems.append(Problem(f"{name}.csv", 0, "(file)", "file is missing"))
                    continue
                table = read_table(path)
        except InputError as exc:
            problems += exc.problems
            continue
        bureau.files[name] = path
        raw[name] = table
        frame, found = coerce(table, TABLES[name])
        problems += found
        if name in UNIQUE_KEYS:
            problems += _duplicates(table, frame, UNIQUE_KEYS[name])
        if name == "stations":
            geoms, found = _station_geometry(table, geometry, config)
            problems += found
            frame = gpd.GeoDataFrame(frame, geometry=geoms.to_numpy(), crs="EPSG:4326")
        setattr(bureau, name, frame)

    problems += _cross_references(bureau, raw, now)
    if problems:
        raise InputError(problems)
    problems += _policy(bureau, raw)
    if bureau.cases is not None and bureau.offences is not None:
        bureau.cases, bureau.outside_cases, found = _derive_cases(bureau, raw["cases"].first_row)
        problems += found
    if problems:
        raise InputError(problems)
    return bureau


def _case_metric_problem(text: str, categories: set[str] | None) -> str | None:
    """What is wrong with a `case_metric` cell, if anything; the category is checked against
    the offence `categories` when they are loaded."""
    if not text:
        return None
    match = CASE_METRIC.match(text)
    if not match:
        return f"{text!r} is not count:<category>, solved_rate:<category> or mean_response"
    category = match["category"]
    if category is None or categories is None or category in categories:
        return None
    return f"unknown offence category {category!r} (known: {', '.join(sorted(categories))})"


def _cross_references(bureau: Bureau, raw: dict[str, Table], now: datetime) -> list[Problem]:
    problems: list[Problem] = []
    station_ids = set(bureau.stations["station_id"]) if bureau.stations is not None else None
    indicator_ids = (
        set(bureau.indicators["indicator_id"]) if bureau.indicators is not None else None
    )
    checks = [
        ("cases", "offence", "offences", "offence", "offence"),
        ("cases", "station_id", "stations", "station_id", "station"),
        ("scores", "station_id", "stations", "station_id", "station"),
        ("scores", "indicator_id", "indicators", "indicator_id", "indicator"),
        ("weights", "indicator_id", "indicators", "indicator_id", "indicator"),
        ("training_log", "station_id", "stations", "station_id", "station"),
        ("training_log", "course_id", "courses", "course_id", "course"),
        ("flex_weights", "station_id", "stations", "station_id", "station"),
        ("flex_weights", "indicator_id", "indicators", "indicator_id", "indicator"),
    ]
    for name, column, target, key, what in checks:
        source, known = getattr(bureau, name), getattr(bureau, target)
        if source is None or known is None or name not in raw:
            continue
        problems += _references(raw[name], source, column, set(known[key]), what)
    if bureau.courses is not None and indicator_ids is not None:
        table = raw["courses"]
        for i, text in enumerate(bureau.courses["addresses"]):
            for ref in [p.strip() for p in str(text).split(";") if p.strip()]:
                if ref not in indicator_ids:
                    problems.append(
                        Problem(
                            table.file,
                            i + table.first_row,
                            "addresses",
                            f"unknown indicator {ref!r}",
                        )
                    )
    if bureau.indicators is not None and "case_metric" in bureau.indicators.columns:
        categories = set(bureau.offences["category"]) if bureau.offences is not None else None
        table = raw["indicators"]
        for i, text in enumerate(bureau.indicators["case_metric"]):
            message = _case_metric_problem(text, categories)
            if message:
                problems.append(Problem(table.file, i + table.first_row, "case_metric", message))
    if bureau.weights is not None and bureau.stations is not None and station_ids:
        weighted_types = set(bureau.weights["station_type"])
        table = raw["stations"]
        for i, kind in enumerate(bureau.stations["station_type"]):
            if kind and kind not in weighted_types:
                problems.append(
                    Problem(
                        table.file,
                        i + 1,
                        "station_type",
                        f"station type {kind!r} has no weights in weights.csv",
                    )
                )
    for name, column in [
        ("cases", "occurred_at"),
        ("cases", "reported_at"),
        ("scores", "month"),
        ("scores", "reported_at"),
        ("training_log", "month"),
    ]:
        if getattr(bureau, name) is not None and name in raw:
            problems += _future(raw[name], getattr(bureau, name), column, now)
    return problems


def load_previous_plan(path: Path, shifts: Collection[str]) -> pd.DataFrame:
    """Last month's plan given as a file (an `allocation.csv`, or Parquet): `cell_id, shift,
    hours` checked like every input table (hours ≥ 0, shift one of `shifts`), `prev_hours` and
    `risk` parsed when present, other columns (`station_id`, `lender_station_id`) passed through
    as text. Raises InputError with every problem; cells outside the grid are ignored later."""
    table = read_table(path)
    columns = [
        replace(col, choices=tuple(shifts)) if col.name == "shift" else col for col in PREVIOUS_PLAN
    ]
    frame, problems = coerce(table, columns)
    if problems:
        raise InputError(problems)
    return frame
