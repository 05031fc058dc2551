"""The plan store (SPEC §8): every run's tables in one SQLAlchemy database (SQLite by default,
PostgreSQL the same), in the columns the output manifest declares, all as text exactly as written
to the run folder, geometry as WKT. One transaction per run, taken under a store-wide lock
(SQLite `BEGIN IMMEDIATE`, a PostgreSQL advisory lock), so two runs at once are serialised and
re-running a month and scenario replaces its rows. The audit chain built on it is
optimizer/audit.py."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from json.encoder import encode_basestring
from pathlib import Path

import geopandas as gpd
import pandas as pd
from sqlalchemy import (
    Column,
    Float,
    MetaData,
    Table,
    Text,
    create_engine,
    delete,
    event,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DatabaseError, OperationalError

from models.errors import StoreError
from optimizer.manifest import AUDIT_FILE, STORED

_PG_LOCK_KEY = 7_261_937  # advisory lock id of the plan store
_LOCK_WAIT_S = 600  # how long a run waits for another run's publication before giving up


def open_engine(url: str, on_wait: Callable[[str], None] | None = None) -> Engine:
    """An engine whose transactions take the store's write lock first; `on_wait` hears once
    when another run holds it and this one waits."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": _LOCK_WAIT_S})

        @event.listens_for(engine, "connect")
        def _no_implicit_begin(dbapi_connection, _record):
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn):
            conn.exec_driver_sql("PRAGMA busy_timeout = 200")
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except OperationalError:
                if on_wait:
                    on_wait(f"waiting for the store lock on {url}, held by another run")
                conn.exec_driver_sql(f"PRAGMA busy_timeout = {_LOCK_WAIT_S * 1000}")
                try:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                except OperationalError as exc:
                    raise StoreError(
                        f"{url}: the store stayed locked by another run for {_LOCK_WAIT_S} s"
                    ) from exc

        return engine
    return create_engine(url)


def _lock(conn: Connection, url: str, on_wait: Callable[[str], None] | None) -> None:
    if conn.dialect.name != "postgresql":
        return
    free = conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    if free.scalar():
        return
    if on_wait:
        on_wait(f"waiting for the store lock on {url}, held by another run")
    conn.execute(text(f"SET LOCAL lock_timeout = '{_LOCK_WAIT_S}s'"))
    try:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    except OperationalError as exc:
        raise StoreError(f"{url}: the store stayed locked by another run") from exc


def store_exists(url: str) -> bool:
    """Whether the store at `url` holds anything yet: a SQLite file of some length, or any
    server database (which the server keeps whether or not a run has written to it)."""
    if not url.startswith("sqlite:///"):
        return True
    path = Path(url.removeprefix("sqlite:///"))
    return path.exists() and path.stat().st_size > 0


_OWN_TABLES = ("audit_log", "access_log")  # a store holds one from its first write on


def refuse_foreign(url: str, tables: set[str]) -> None:
    """Refuse a database holding `tables` but none of a patrolopt store's own: a wrong `--db`
    must not receive plans or the desk's tables."""
    if tables and not tables.intersection(_OWN_TABLES):
        listed = ", ".join(sorted(tables)[:5])
        raise StoreError(f"{url}: not a patrolopt store (it holds {listed}, no audit_log)")


def check_store(url: str, out: Path) -> None:
    """Refuse a store that cannot hold this output folder's plans: an empty file, a database
    of something else, or one without the audit entries that `out/audit.jsonl` continues (a
    wrong `--db` would silently start a new chain and forget last month's plan)."""
    tables: set[str] = set()
    chained = False
    # a zero-byte file is a store another run has just opened and not yet written: new,
    # unless the folder's log continues a chain (checked below)
    if store_exists(url):
        engine = open_engine(url)
        try:
            with engine.connect() as conn:
                tables = set(inspect(conn).get_table_names())
                if "audit_log" in tables:
                    first = conn.execute(text("SELECT 1 FROM audit_log LIMIT 1")).first()
                    chained = first is not None
        except DatabaseError as exc:
            raise StoreError(f"{url}: not a database the store can open ({exc.orig})") from exc
        finally:
            engine.dispose()
    refuse_foreign(url, tables)
    log = Path(out) / AUDIT_FILE
    if not chained and log.exists() and log.stat().st_size > 0:
        raise StoreError(
            f"{url}: holds no audit log, but {log} continues one: wrong --db, or the store "
            "was lost; restore it before planning"
        )


def _read_table(conn: Connection, table: str) -> pd.DataFrame | None:
    if table not in inspect(conn).get_table_names():
        return None
    return pd.read_sql(text(f"SELECT * FROM {table}"), conn)


@contextmanager
def transaction(url: str, on_wait: Callable[[str], None] | None = None) -> Iterator[Connection]:
    """One transaction on the store, holding its write lock from the start."""
    engine = open_engine(url, on_wait)
    try:
        with engine.begin() as conn:
            _lock(conn, url, on_wait)
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


def add_missing_columns(conn: Connection, table: Table) -> None:
    """Columns a store written by an earlier version lacks, added empty."""
    have = {c["name"] for c in inspect(conn).get_columns(table.name)}
    for column in table.columns:
        if column.name not in have:
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))


def _rows(staging: Path, name: str) -> tuple[list[str], list[tuple]]:
    """The rows of one stored file of the staged run, as text, as tuples in the manifest's
    `columns` (returned first); a missing file has none."""
    output = STORED[name]
    path = staging / output.name
    columns = [c.name for c in _schema(name).columns if c.name not in ("plan_month", "scenario")]
    if not path.exists():
        return columns, []
    if output.name.endswith(".geojson"):
        layer = gpd.read_file(path)
        frame = pd.DataFrame(layer.drop(columns="geometry")).astype(str)
        frame["geometry_wkt"] = layer.geometry.to_wkt()
    else:
        frame = pd.read_csv(path, dtype=object, keep_default_na=False)
    frame = frame.reindex(columns=columns, fill_value="")
    return columns, list(zip(*(frame[c].to_numpy(dtype=object) for c in columns), strict=True))


def rows_digest(rows: list[dict]) -> str:
    """sha256 of a table's rows whatever their order: the canonical JSON of each row, sorted."""
    lines = sorted(json.dumps(row, sort_keys=True, ensure_ascii=False) for row in rows)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def tuples_digest(columns: list[str], rows: list[tuple]) -> str:
    """`rows_digest` of rows given as tuples in `columns` order: each value encoded once and
    every row's JSON put together by one format string, with no dict per row (a province
    stores millions of values)."""
    order = sorted(range(len(columns)), key=columns.__getitem__)
    fields = (json.dumps(columns[i], ensure_ascii=False).replace("%", "%%") for i in order)
    line = "{" + ", ".join(f"{field}: %s" for field in fields) + "}"
    values = list(zip(*rows, strict=True)) or [()] * len(columns)
    encoded = [_json_values(values[i]) for i in order]
    lines = sorted(line % row for row in zip(*encoded, strict=True))
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def _json_values(values: tuple) -> list[str]:
    """`values` as `json.dumps(..., ensure_ascii=False)` writes them inside a row: text in one
    pass of JSON's own string encoder, other values (missing ones) one by one."""
    try:
        return list(map(encode_basestring, values))
    except TypeError:  # not all text
        return [json.dumps(v, ensure_ascii=False) for v in values]


def _insert(conn: Connection, table: Table, rows: list[tuple]) -> None:
    """`rows` (tuples in `table`'s column order) inserted by one `executemany` of the
    database's driver: SQLAlchemy's bulk insert builds a parameter dict per row, seconds of
    the store's time at province size. Drivers of other parameter styles take that way."""
    marker = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(conn.dialect.paramstyle)
    if marker is None:
        names = [c.name for c in table.columns]
        conn.execute(insert(table), [dict(zip(names, row, strict=True)) for row in rows])
        return
    quote = conn.dialect.identifier_preparer
    columns = ", ".join(quote.quote(c.name) for c in table.columns)
    markers = ", ".join([marker] * len(table.columns))
    sql = f"INSERT INTO {quote.format_table(table)} ({columns}) VALUES ({markers})"
    conn.exec_driver_sql(sql, rows)


def store_rows(conn: Connection, staging: Path, folder: Path, plan: dict) -> dict[str, str]:
    """In the caller's transaction: the staged run's tables replace the month and scenario's
    rows, in bulk and in the manifest's columns. Returns each stored table's `rows_digest`, the
    run's own row in `runs` included."""
    key = {"plan_month": plan["plan_month"], "scenario": plan["scenario"]}
    tables = list(_tables().values())
    MetaData().create_all(conn, tables=tables)
    add_missing_columns(conn, _RUNS)
    for table in tables:
        conn.execute(
            delete(table).where(
                table.c.plan_month == key["plan_month"], table.c.scenario == key["scenario"]
            )
        )
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
    digests = {_RUNS.name: _table_digest(conn, _RUNS, key["plan_month"], key["scenario"])}
    for name in STORED:
        columns, rows = _rows(staging, name)
        if rows:
            month_and_scenario = (key["plan_month"], key["scenario"])
            _insert(conn, _schema(name), [(*row, *month_and_scenario) for row in rows])
        digests[name] = tuples_digest(columns, rows)
    return digests


def _table_digest(conn: Connection, table: Table, plan_month: str, scenario: str) -> str:
    """`rows_digest` of a table's rows of one month and scenario as the store holds them now."""
    query = select(*(c for c in table.columns if c.name not in ("plan_month", "scenario")))
    query = query.where(table.c.plan_month == plan_month, table.c.scenario == scenario)
    return rows_digest([dict(r._mapping) for r in conn.execute(query)])


def _tables() -> dict[str, Table]:
    """Every table of a run's rows: `runs` (one row per run) and the stored outputs."""
    return {_RUNS.name: _RUNS} | {name: _schema(name) for name in STORED}


def stored_digests(
    conn: Connection, plan_month: str, scenario: str, tables: Iterable[str]
) -> dict[str, str]:
    """`rows_digest` of the named tables' rows of one month and scenario, as they are now (a
    table the store lacks, or no longer keeps, has no rows)."""
    have = set(inspect(conn).get_table_names())
    schemas = _tables()
    digests = {}
    for name in tables:
        if name in have and name in schemas:
            digests[name] = _table_digest(conn, schemas[name], plan_month, scenario)
        else:
            digests[name] = rows_digest([])
    return digests


def stored_plans(conn: Connection) -> dict[str, set[tuple[str, str]]]:
    """Each table of run rows the store holds → the (plan month, scenario) its rows belong to."""
    have = set(inspect(conn).get_table_names())
    plans = {}
    for name, table in _tables().items():
        if name in have:
            query = select(table.c.plan_month, table.c.scenario).distinct()
            plans[name] = {(r.plan_month, r.scenario) for r in conn.execute(query)}
    return plans


@dataclass(frozen=True)
class StoredPlan:
    """A stored month's plan as written (`station_id, cell_id, shift, hours, prev_hours, risk,
    lender_station_id`, numbers parsed), the grid it was made on (`size_m`, `crs`; None
    for runs stored before grids were recorded) and, for a stored plan, its scenario."""

    allocation: pd.DataFrame
    grid: dict | None
    source: str
    scenario: str | None = None
    experiment: pd.DataFrame | None = None  # its randomized dose experiment's cells


def previous_allocation(url: str, plan_month: str, scenario: str) -> StoredPlan | None:
    """The stored plan for `plan_month` and `scenario`, or None."""
    engine = open_engine(url)
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
            experiment = None
            if "experiment" in inspect(conn).get_table_names():
                experiment = pd.read_sql(
                    text("SELECT * FROM experiment WHERE plan_month = :m AND scenario = :s"),
                    conn,
                    params=params,
                ).drop(columns=["plan_month", "scenario"])
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
        scenario,
        experiment if experiment is not None and len(experiment) else None,
    )
