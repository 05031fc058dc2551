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
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine

STORED = {
    "scores": "scores.csv",
    "quality": "quality.csv",
    "risk": "risk.csv",
    "allocation": "allocation.csv",
    "duals": "duals.csv",
    "training": "training.csv",
    "evaluation": "evaluation.csv",
}
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


def save_run(
    url: str,
    out: Path,
    staging: Path,
    folder: Path,
    plan: dict,
    data_dir: Path,
    swap: Callable[[Path, Path], None],
) -> dict:
    """Under the store's lock, in one transaction: the staged run's tables replace the month and
    scenario's rows and its audit entry joins `audit_log`; only then does `swap(staging,
    folder)` put the finished folder in place and the entry go to `out/audit.jsonl`, just
    before the commit — so a run killed at any point leaves folder, store and log agreeing
    except for that last instant. Returns the entry."""
    engine = _engine(url)
    key = {"plan_month": plan["plan_month"], "scenario": plan["scenario"]}
    try:
        with engine.begin() as conn:
            _lock(conn)
            files = {f"inputs/{name}": sha for name, sha in sorted(plan["inputs"].items())}
            files |= {f"outputs/{p.name}": sha256_file(p) for p in sorted(staging.iterdir())}
            existing = set(inspect(conn).get_table_names())
            for table in ("runs", *STORED, "hotspots"):
                if table in existing:
                    conn.execute(
                        text(
                            f"DELETE FROM {table} WHERE plan_month = :plan_month "
                            "AND scenario = :scenario"
                        ),
                        key,
                    )
            run = {
                **key,
                "month": plan["month"],
                "objective": plan["objective"],
                "status": plan["solver"]["status"],
                "folder": str(folder),
            }
            pd.DataFrame([run]).to_sql("runs", conn, if_exists="append", index=False)
            for table, name in STORED.items():
                if (staging / name).exists():
                    frame = pd.read_csv(staging / name, dtype=str, keep_default_na=False)
                    frame.assign(**key).to_sql(table, conn, if_exists="append", index=False)
            hotspots = gpd.read_file(staging / "hotspots.geojson")
            frame = pd.DataFrame(hotspots.drop(columns="geometry")).astype(str)
            frame["geometry_wkt"] = hotspots.geometry.to_wkt()
            frame.assign(**key).to_sql("hotspots", conn, if_exists="append", index=False)

            log = _read_table(conn, "audit_log")
            last = log.sort_values("seq").iloc[-1] if log is not None and len(log) else None
            entry = {
                "seq": int(last["seq"]) + 1 if last is not None else 1,
                "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
                **key,
                "folder": folder.resolve().relative_to(Path(out).resolve()).as_posix(),
                "data_dir": str(Path(data_dir).resolve()),
                "files": files,
                "prev_hash": str(last["entry_hash"]) if last is not None else "",
            }
            entry["entry_hash"] = entry_hash(entry)
            row = {**entry, "files": json.dumps(files, sort_keys=True)}
            pd.DataFrame([row]).to_sql("audit_log", conn, if_exists="append", index=False)
            swap(staging, folder)
            with open(Path(out) / AUDIT_FILE, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
    finally:
        engine.dispose()
    return entry


def previous_allocation(url: str, plan_month: str, scenario: str) -> pd.DataFrame | None:
    """The stored plan for `plan_month`, as written (`station_id, cell_id, shift, hours,
    prev_hours, risk, lender_station_id`, numbers parsed), or None."""
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            if "allocation" not in inspect(conn).get_table_names():
                return None
            frame = pd.read_sql(
                text("SELECT * FROM allocation WHERE plan_month = :m AND scenario = :s"),
                conn,
                params={"m": plan_month, "s": scenario},
            )
    finally:
        engine.dispose()
    if frame.empty:
        return None
    for column in ("hours", "prev_hours", "risk"):
        frame[column] = pd.to_numeric(frame[column])
    return frame.drop(columns=["plan_month", "scenario"])


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
