"""The plan store and audit log (SPEC §8).

Every run's tables go into one SQLAlchemy database (SQLite by default, PostgreSQL the same), all
columns as text exactly as written to the run folder, geometry as WKT. One transaction per run,
taken under a store-wide lock (SQLite `BEGIN IMMEDIATE`, a PostgreSQL advisory lock), so two
runs at once are serialised and re-running a month and scenario replaces its rows.

The audit log is append-only: table `audit_log` and `audit.jsonl` in the output folder, one entry
per run holding the sha256 of every input and output file and of the previous entry. An entry
whose plan a later re-run of the same month and scenario replaced is superseded: `verify` checks
its place in the chain, and the files of the latest entry for each month and scenario.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd
from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    Table,
    Text,
    create_engine,
    delete,
    event,
    insert,
    inspect,
    text,
)
from sqlalchemy.engine import Connection, Engine

from optimizer.manifest import STORED

AUDIT_FILE = "audit.jsonl"
AUDIT_FIELDS = ["seq", "recorded_at", "plan_month", "scenario", "folder", "data_dir", "files"]
_PG_LOCK_KEY = 7_261_937  # advisory lock id of the plan store


def default_url(out: Path) -> str:
    return f"sqlite:///{Path(out).resolve() / 'plans.db'}"


def _engine(url: str) -> Engine:
    """An engine whose transactions take the store's write lock first."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 120})

        @event.listens_for(engine, "connect")
        def _no_implicit_begin(dbapi_connection, _record):
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url)


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def entry_hash(entry: dict) -> str:
    """sha256 of an audit entry's content and its link to the previous entry."""
    content = {k: entry[k] for k in [*AUDIT_FIELDS, "prev_hash"]}
    return hashlib.sha256(
        json.dumps(content, sort_keys=True, ensure_ascii=False).encode("utf-8")
    ).hexdigest()


def _read_table(conn: Connection, table: str) -> pd.DataFrame | None:
    if table not in inspect(conn).get_table_names():
        return None
    return pd.read_sql(text(f"SELECT * FROM {table}"), conn)


@contextmanager
def transaction(url: str) -> Iterator[Connection]:
    """One transaction on the store, holding its write lock from the start."""
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            _lock(conn)
            yield conn
    finally:
        engine.dispose()


def _schema(name: str) -> Table:
    """A stored table as the manifest declares it: every column text, as in the run folder,
    plus the plan month and scenario it belongs to (hotspots add their WKT geometry)."""
    columns = [*STORED[name].columns, *(["geometry_wkt"] if name == "hotspots" else [])]
    return Table(
        name,
        MetaData(),
        *(Column(c, Text) for c in columns),
        Column("plan_month", Text),
        Column("scenario", Text),
    )


_RUNS = Table(
    "runs",
    MetaData(),
    Column("plan_month", Text),
    Column("scenario", Text),
    Column("month", Text),
    Column("objective", Float),
    Column("status", Text),
    Column("folder", Text),
    Column("grid_size_m", Float),
    Column("grid_crs", Text),
)
_AUDIT = Table(
    "audit_log",
    MetaData(),
    Column("seq", Integer),
    Column("recorded_at", Text),
    Column("plan_month", Text),
    Column("scenario", Text),
    Column("folder", Text),
    Column("data_dir", Text),
    Column("files", Text),
    Column("prev_hash", Text),
    Column("entry_hash", Text),
)


def _add_missing_columns(conn: Connection, table: Table) -> None:
    """Columns a store written by an earlier version lacks, added empty."""
    have = {c["name"] for c in inspect(conn).get_columns(table.name)}
    for column in table.columns:
        if column.name not in have:
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))


def _rows(staging: Path, name: str) -> list[dict]:
    """The rows of one stored file of the staged run, as text, in the manifest's columns."""
    output = STORED[name]
    path = staging / output.name
    if not path.exists():
        return []
    if output.name.endswith(".geojson"):
        layer = gpd.read_file(path)
        frame = pd.DataFrame(layer.drop(columns="geometry")).astype(str)
        frame["geometry_wkt"] = layer.geometry.to_wkt()
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    columns = [c.name for c in _schema(name).columns if c.name not in ("plan_month", "scenario")]
    return frame.reindex(columns=columns, fill_value="").to_dict(orient="records")


def record_run(
    conn: Connection,
    staging: Path,
    folder: Path,
    plan: dict,
    files: dict[str, str],
    out: Path,
    data_dir: Path,
) -> dict:
    """In the caller's transaction: the staged run's tables replace the month and scenario's
    rows (in bulk, in the manifest's columns) and its audit entry joins `audit_log`, holding
    the sha256 of every input and of every output in `files`. Returns the entry."""
    key = {"plan_month": plan["plan_month"], "scenario": plan["scenario"]}
    tables = [_RUNS, *(_schema(name) for name in STORED)]
    MetaData().create_all(conn, tables=[*tables, _AUDIT])
    for table in tables:
        conn.execute(
            delete(table).where(
                table.c.plan_month == key["plan_month"], table.c.scenario == key["scenario"]
            )
        )
    _add_missing_columns(conn, _RUNS)
    run = {
        **key,
        "month": plan["month"],
        "objective": plan["objective"],
        "status": plan["solver"]["status"],
        "folder": str(folder),
        "grid_size_m": plan["grid"]["size_m"],
        "grid_crs": plan["grid"]["crs"],
    }
    conn.execute(insert(_RUNS), [run])
    for name in STORED:
        rows = _rows(staging, name)
        if rows:
            conn.execute(insert(_schema(name)), [{**row, **key} for row in rows])

    log = _read_table(conn, "audit_log")
    last = log.sort_values("seq").iloc[-1] if log is not None and len(log) else None
    entry = {
        "seq": int(last["seq"]) + 1 if last is not None else 1,
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **key,
        "folder": folder.resolve().relative_to(Path(out).resolve()).as_posix(),
        "data_dir": str(Path(data_dir).resolve()),
        "files": {f"inputs/{name}": sha for name, sha in sorted(plan["inputs"].items())}
        | {f"outputs/{name}": sha for name, sha in files.items()},
        "prev_hash": str(last["entry_hash"]) if last is not None else "",
    }
    entry["entry_hash"] = entry_hash(entry)
    conn.execute(insert(_AUDIT), [{**entry, "files": json.dumps(entry["files"], sort_keys=True)}])
    return entry


def append_audit_line(out: Path, entry: dict) -> None:
    """The entry's line in `out/audit.jsonl`, the log's copy beside the plans."""
    with open(Path(out) / AUDIT_FILE, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")


@dataclass(frozen=True)
class StoredPlan:
    """A stored month's plan as written (`station_id, cell_id, shift, hours, prev_hours, risk,
    lender_station_id`, numbers parsed) and the grid it was made on (`size_m`, `crs`; None
    for runs stored before grids were recorded)."""

    allocation: pd.DataFrame
    grid: dict | None
    source: str


def previous_allocation(url: str, plan_month: str, scenario: str) -> StoredPlan | None:
    """The stored plan for `plan_month` and `scenario`, or None."""
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            if "allocation" not in inspect(conn).get_table_names():
                return None
            params = {"m": plan_month, "s": scenario}
            frame = pd.read_sql(
                text("SELECT * FROM allocation WHERE plan_month = :m AND scenario = :s"),
                conn,
                params=params,
            )
            runs = pd.read_sql(
                text("SELECT * FROM runs WHERE plan_month = :m AND scenario = :s"),
                conn,
                params=params,
            )
    finally:
        engine.dispose()
    if frame.empty:
        return None
    for column in ("hours", "prev_hours", "risk"):
        frame[column] = pd.to_numeric(frame[column])
    grid = None
    if len(runs) and "grid_crs" in runs and pd.notna(runs["grid_crs"].iloc[0]):
        grid = {"size_m": float(runs["grid_size_m"].iloc[0]), "crs": runs["grid_crs"].iloc[0]}
    return StoredPlan(
        frame.drop(columns=["plan_month", "scenario"]),
        grid,
        f"the plan for {plan_month} ({scenario}) in the store",
    )


def _stored_entries(url: str) -> list[dict]:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            log = _read_table(conn, "audit_log")
    finally:
        engine.dispose()
    if log is None:
        return []
    entries = []
    for row in log.sort_values("seq").to_dict(orient="records"):
        row["seq"] = int(row["seq"])
        row["files"] = json.loads(row["files"])
        entries.append(row)
    return entries


def verify(out: Path, url: str) -> list[str]:
    """Problems with the audit trail of `out`, first one first; empty when everything matches.
    Checks each entry's hash and link, the store's log against `audit.jsonl`, and the files of
    the latest entry for each plan month and scenario against their recorded sha256."""
    out = Path(out)
    stored = _stored_entries(url)
    path = out / AUDIT_FILE
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    logged = [json.loads(line) for line in lines if line.strip()]
    if not stored and not logged:
        return [f"no audit entries in {url} or {path}"]
    problems = []
    for source, entries in (("audit_log", stored), (AUDIT_FILE, logged)):
        previous = ""
        for entry in entries:
            where = f"{source} entry {entry['seq']} ({entry['plan_month']}/{entry['scenario']})"
            if entry_hash(entry) != entry["entry_hash"]:
                problems.append(f"{where}: content does not match its hash")
            elif entry["prev_hash"] != previous:
                problems.append(f"{where}: link to the previous entry is broken")
            previous = entry["entry_hash"]
    by_seq = {e["seq"]: e["entry_hash"] for e in logged}
    for entry in stored:
        if by_seq.get(entry["seq"]) != entry["entry_hash"]:
            problems.append(
                f"audit_log entry {entry['seq']} ({entry['plan_month']}/{entry['scenario']}): "
                f"{AUDIT_FILE} does not hold the same entry"
            )
    if len(logged) > len(stored):
        problems.append(f"{AUDIT_FILE} holds {len(logged) - len(stored)} entries the store lacks")
    latest = {(e["plan_month"], e["scenario"]): e for e in (stored or logged)}
    for entry in sorted(latest.values(), key=lambda e: e["seq"]):
        for name, recorded in entry["files"].items():
            kind, filename = name.split("/", 1)
            base = out / entry["folder"] if kind == "outputs" else Path(entry["data_dir"])
            file = base / filename
            where = f"audit entry {entry['seq']} ({entry['plan_month']}/{entry['scenario']})"
            if not file.exists():
                problems.append(f"{where}: {file} is missing")
            elif sha256_file(file) != recorded:
                problems.append(f"{where}: {file} no longer matches its recorded sha256")
    return problems
