"""The published runs of an output folder as the service reads them (SPEC §8, §14): folders
`OUT/<plan month>/<scenario>/` holding a `plan.json`; dot folders are a run still being written
and are never read. Path parts are checked against strict patterns and the resolved folder must
lie inside the output folder, so no request reaches any other file."""

from __future__ import annotations

import functools
import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq

from models.months import MONTH_PATTERN
from models.scenarios import BASELINE, SCENARIO_PATTERN
from optimizer.adoption import adopted_plan
from optimizer.audit import RecordedRun, read_log, recorded_runs
from optimizer.manifest import AUDIT_FILE, SERVED
from optimizer.mission_files import ROUTES, STOPS, Missions, read_missions, written_as

TABLE_FILES = {table: output.name for table, output in SERVED.items()}  # the API's tables
FILTER_COLUMNS = {"station": "station_id", "shift": "shift", "course": "course_id"}
TEXT_COLUMNS = ("month", "date", "shift")  # kept as text even where they look like numbers


class RunNotFound(LookupError):
    """No published run, or no such file in it."""


@dataclass(frozen=True)
class Logged:
    """What the plan log records: the runs, and the scenario each plan month carries out
    (adopted, else the baseline: only months with a recorded run are listed)."""

    runs: tuple[RecordedRun, ...] = ()
    carried_out: dict[str, str] = field(default_factory=dict)


def _logged(out: Path) -> Logged:
    """The output folder's plan log (`audit.jsonl`), read again only when it has changed. The
    desk reads the log, not the store: an answer never waits for the store's lock, and `audit
    verify` holds the log to the store."""
    path = Path(out) / AUDIT_FILE
    try:
        stat = path.stat()
    except FileNotFoundError:
        return Logged()
    return _read_logged(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _read_logged(path: Path, _mtime_ns: int, _size: int) -> Logged:
    entries, _ = read_log(path)
    runs = tuple(recorded_runs(entries))
    months = sorted({run.month for run in runs})
    return Logged(runs, {m: adopted_plan(entries, m).scenario for m in months})


def _recorded_runs(out: Path) -> tuple[RecordedRun, ...]:
    return _logged(out).runs


def carried_out(out: Path, month: str) -> str:
    """The scenario plan month `month` carries out (SPEC §18): the adopted one, else the
    baseline — what stations see by default."""
    return _logged(out).carried_out.get(month, BASELINE)


def run_folder(out: Path, month: str, scenario: str) -> Path:
    """The folder of a published run, one the plan log records; RunNotFound for anything else
    (a folder put in place by hand included)."""
    if not (re.fullmatch(MONTH_PATTERN, month) and re.fullmatch(SCENARIO_PATTERN, scenario)):
        raise RunNotFound(f"no run {month}/{scenario}")
    recorded = {(run.month, run.scenario) for run in _recorded_runs(out)}
    root = out.resolve()
    folder = (root / month / scenario).resolve()
    if (
        (month, scenario) not in recorded
        or folder.parent.parent != root
        or not (folder / "plan.json").is_file()
    ):
        raise RunNotFound(f"no run {month}/{scenario}")
    return folder


def list_runs(out: Path) -> list[dict]:
    """Every published run the plan log records: plan month, scenario, assessed month, solver
    status, whether it is the plan its month carries out (`adopted`) and the tables it
    holds."""
    runs = []
    root = Path(out)
    for run in _recorded_runs(root):
        try:
            folder = run_folder(root, run.month, run.scenario)
            plan = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
        except (RunNotFound, OSError, ValueError):
            continue
        runs.append(
            {
                "month": run.month,
                "scenario": run.scenario,
                "assessed_month": str(plan.get("month", "")),
                "status": str(plan.get("solver", {}).get("status", "")),
                "adopted": carried_out(root, run.month) == run.scenario,
                "tables": [t for t in TABLE_FILES if written_as(folder, t) is not None],
            }
        )
    return runs


class TableCache:
    """Tables read from their files, the last few kept while their file is unchanged."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self._frames: OrderedDict[tuple, pd.DataFrame] = OrderedDict()
        self._lock = threading.Lock()

    def read(self, folder: Path, table: str) -> pd.DataFrame:
        path = table_path(folder, table)
        try:
            stat = path.stat()
        except FileNotFoundError as exc:
            raise RunNotFound(f"this run has no {path.name}") from exc
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if key in self._frames:
                self._frames.move_to_end(key)
                return self._frames[key]
        frame = read_table(path)
        with self._lock:
            self._frames[key] = frame
            while len(self._frames) > self.size:
                self._frames.popitem(last=False)
        return frame


def table_path(folder: Path, table: str) -> Path:
    """The file holding the desk's `table` in a run folder: its CSV or GeoJSON, else the
    Parquet written in its place (`[output] schedule_format`); the CSV or GeoJSON's path
    (absent) when the run has neither."""
    return written_as(folder, table) or folder / TABLE_FILES[table]


def read_table(path: Path) -> pd.DataFrame:
    """A run's table as text, exactly as written (Parquet's values as Python writes them);
    the properties of a GeoJSON or GeoParquet layer with the geometry as WKT."""
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    if path.suffix == ".geojson":
        geo = gpd.read_file(path)
    elif b"geo" in (pq.read_schema(path).metadata or {}):
        geo = gpd.read_parquet(path)
    else:
        return pd.read_parquet(path).astype(str)
    frame = pd.DataFrame(geo.drop(columns=geo.geometry.name)).astype(str)
    frame["geometry"] = geo.geometry.to_wkt()
    return frame


def run_missions(folder: Path) -> Missions:
    """The missions of a run folder for its sheets (`optimizer.sheets`), read again only when
    one of their files has changed; `InputError` when the run has none or they are broken."""
    stamps = []
    for table in (STOPS, ROUTES):
        path = written_as(folder, table)
        stat = path.stat() if path is not None else None
        stamps.append((str(path), stat.st_mtime_ns, stat.st_size) if stat else None)
    return _missions(folder, tuple(stamps))


@functools.lru_cache(maxsize=4)
def _missions(folder: Path, _stamps: tuple) -> Missions:
    return read_missions(folder)


def select_rows(frame: pd.DataFrame, filters: dict[str, str | None]) -> pd.DataFrame:
    """Rows matching every given filter (station, shift, course → their column). No row of a
    table without the filter's column matches it."""
    for name, value in filters.items():
        if value is None:
            continue
        column = FILTER_COLUMNS[name]
        frame = frame[frame[column] == value] if column in frame.columns else frame.iloc[:0]
    return frame


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers as numbers for JSON: a column whose every non-empty value parses as a number,
    unless it is an id, month, date or shift; empty values become null."""
    result = {}
    for column in frame.columns:
        values = frame[column]
        empty = values == ""
        if column.endswith("_id") or column in TEXT_COLUMNS or empty.all():
            result[column] = values.mask(empty, None)
            continue
        numbers = pd.to_numeric(values.mask(empty), errors="coerce")
        bad = numbers.isna() & ~empty
        result[column] = values.mask(empty, None) if bad.any() else numbers
    return pd.DataFrame(result, index=frame.index)
