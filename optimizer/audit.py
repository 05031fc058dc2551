"""The audit trail (SPEC §8): an append-only hash chain of one entry per published run, kept
twice — table `audit_log` in the store and `audit.jsonl` beside the plans — plus, where the
bureau names one, an anchor: a second append-only place (a file or a table in another
database) that receives each new chain head.

What the chain proves: every entry's content (the sha256 of each input, output file and stored
table of its run, its `runs` row included) is what was recorded, in that order; a changed,
removed or re-ordered entry breaks its hash or its link (optimizer/chain.py). Only recorded
plans are plans: a run folder or stored rows of a month and scenario no entry records are named
by `verify`, and the desk neither lists nor serves them. What it does not prove on its own: a
writer of both the store and the folder can rebuild the whole chain; only the anchor, held out
of that writer's reach, shows a re-chained, truncated or rolled-back log. Inputs are
snapshotted by content (`OUT/.inputs/<sha256>`), so `verify` tells a changed plan or record (a
problem) from a data folder that has moved on since (a note)."""

from __future__ import annotations

import json
import os
import shutil
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Table,
    Text,
    create_engine,
    insert,
    inspect,
    select,
)
from sqlalchemy.engine import Connection

from models.columns import MONTH
from optimizer import store
from optimizer.access_log import verify_access
from optimizer.assessment.records import submission_problems
from optimizer.chain import Chain, read_lines, sha256_file
from optimizer.manifest import AUDIT_FILE, INPUT_SNAPSHOTS

AUDIT = Chain(
    noun="audit entry",
    fields=("recorded_at", "plan_month", "scenario", "folder", "data_dir", "files"),
    label="{plan_month}/{scenario}",
    # `rows`: the digests of the run's stored tables, since they were hashed; `action`, `user`,
    # `detail`: a decision about a recorded run (an adoption, SPEC §18) rather than a run
    optional=("rows", "action", "user", "detail"),
)
_ANCHOR = Table(
    "audit_anchor",
    MetaData(),
    Column("seq", Integer),
    Column("entry_hash", Text),
    Column("recorded_at", Text),
    Column("output_folder", Text),
)
AUDIT_TABLE = Table(
    "audit_log",
    MetaData(),
    Column("seq", Integer),
    Column("recorded_at", Text),
    Column("plan_month", Text),
    Column("scenario", Text),
    Column("folder", Text),
    Column("data_dir", Text),
    Column("files", Text),
    Column("rows", Text),
    Column("prev_hash", Text),
    Column("entry_hash", Text),
    Column("action", Text),  # decisions (SPEC §18), added after the rest
    Column("user", Text),
    Column("detail", Text),
)


_JSON_FIELDS = ("rows", "detail")  # optional fields kept as JSON text in the table


def _entry_of_row(row: dict) -> dict:
    entry = {**row, "seq": int(row["seq"]), "files": json.loads(row["files"])}
    for name in AUDIT.optional:
        if entry.get(name) is None:
            entry.pop(name, None)  # older entries, or a run rather than a decision
        elif name in _JSON_FIELDS:
            entry[name] = json.loads(entry[name])
    return entry


def stored_entries(conn: Connection) -> list[dict]:
    """The store's audit entries in chain order."""
    if "audit_log" not in inspect(conn).get_table_names():
        return []
    have = {c["name"] for c in inspect(conn).get_columns("audit_log")}
    columns = [c for c in AUDIT_TABLE.columns if c.name in have]
    rows = conn.execute(select(*columns).order_by(AUDIT_TABLE.c.seq))
    return [_entry_of_row(dict(r._mapping)) for r in rows]


def record_entry(
    conn: Connection,
    plan: dict,
    folder: Path,
    out: Path,
    data_dir: Path,
    files: dict[str, str],
    rows: dict[str, str],
) -> dict:
    """In the caller's transaction: the run's entry joins `audit_log`, holding the sha256 of
    every input, output file (`files`) and stored table (`rows`) and of the previous entry."""
    return _append(
        conn,
        {
            "plan_month": plan["plan_month"],
            "scenario": plan["scenario"],
            "folder": folder.resolve().relative_to(Path(out).resolve()).as_posix(),
            "data_dir": str(Path(data_dir).resolve()),
            "files": {f"inputs/{name}": sha for name, sha in sorted(plan["inputs"].items())}
            | {f"outputs/{name}": sha for name, sha in files.items()},
            "rows": rows,
        },
    )


def record_decision(conn: Connection, run: dict, action: str, user: str, detail: dict) -> dict:
    """In the caller's transaction: a decision about the recorded `run` (its latest entry)
    joins `audit_log` — `action` (e.g. `adopt`), who took it and its `detail` — holding the
    run's plan.json sha256, so the entry names the very plan decided on."""
    plan_file = "outputs/plan.json"
    return _append(
        conn,
        {
            "plan_month": run["plan_month"],
            "scenario": run["scenario"],
            "folder": run["folder"],
            "data_dir": run["data_dir"],
            "files": {plan_file: run["files"][plan_file]},
            "action": action,
            "user": user,
            "detail": detail,
        },
    )


ASSESSMENT_SCENARIO = "assessment"  # the scenario field of the assessment desk's entries


def record_assessment(
    conn: Connection, month: str, action: str, user: str, changed: dict[str, str], detail: dict
) -> dict:
    """In the caller's transaction: a step of the assessment desk (SPEC §17: a submission,
    return, close, appeal, decision, flexible-weight decision or the day's survey tally) joins
    `audit_log`, naming its user and the sha256 of what it changed (`changed`: what → digest,
    e.g. `{"submission": …}`), under the assessed month and the scenario `assessment`. Such
    entries are decisions (`action`), never runs: `verify` checks them as links of the chain."""
    return _append(
        conn,
        {
            "plan_month": month,
            "scenario": ASSESSMENT_SCENARIO,
            "folder": "",
            "data_dir": "",
            "files": {f"assessment/{what}": digest for what, digest in sorted(changed.items())},
            "action": action,
            "user": user,
            "detail": detail,
        },
    )


def _append(conn: Connection, content: dict) -> dict:
    """`content` (stamped now) chained after the store's last entry and inserted."""
    MetaData().create_all(conn, tables=[AUDIT_TABLE])
    store.add_missing_columns(conn, AUDIT_TABLE)
    last = conn.execute(
        select(AUDIT_TABLE.c.seq, AUDIT_TABLE.c.entry_hash)
        .order_by(AUDIT_TABLE.c.seq.desc())
        .limit(1)
    ).first()
    content = {"recorded_at": datetime.now(UTC).isoformat(timespec="seconds"), **content}
    entry = AUDIT.chained(content, (int(last.seq), str(last.entry_hash)) if last else None)
    row = {**entry, "files": json.dumps(entry["files"], sort_keys=True)}
    for name in _JSON_FIELDS:
        if name in entry:
            row[name] = json.dumps(entry[name], sort_keys=True, ensure_ascii=False)
    conn.execute(insert(AUDIT_TABLE), [row])
    return entry


def read_log(path: Path) -> tuple[list[dict], list[str]]:
    """The entries of `audit.jsonl` and a problem for every line that is not a whole entry (a
    damaged log is reported, never a crash)."""
    return AUDIT.parse(read_lines(path), path)


@dataclass(frozen=True)
class RecordedRun:
    """A run an audit log records: its plan month, scenario and folder (relative to the output
    folder, `2026-01/baseline`)."""

    month: str
    scenario: str
    folder: str


def run_entries(entries: list[dict]) -> list[dict]:
    """The entries that record runs (published plans), not decisions about them."""
    return [entry for entry in entries if "action" not in entry]


def latest_entries(entries: list[dict]) -> dict[tuple[str, str], dict]:
    """The latest run entry of each plan month and scenario (a re-run replaces the plan)."""
    return {(entry["plan_month"], entry["scenario"]): entry for entry in run_entries(entries)}


def recorded_runs(entries: list[dict]) -> list[RecordedRun]:
    """The runs audit `entries` record, by plan month and scenario: the only plans `verify`
    accepts and the desk lists and serves."""
    latest = latest_entries(entries)
    return [RecordedRun(*key, latest[key]["folder"]) for key in sorted(latest)]


def append_line(out: Path, entry: dict) -> None:
    """The entry's line in `out/audit.jsonl`, unless the log already holds its place."""
    path = Path(out) / AUDIT_FILE
    logged, _ = read_log(path)
    if any(e["seq"] >= entry["seq"] for e in logged):
        return
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")


def sync_log(conn: Connection, out: Path) -> None:
    """Append to `audit.jsonl` the committed entries a killed run did not get to write."""
    for entry in stored_entries(conn):
        append_line(out, entry)


def snapshot_inputs(out: Path, files: dict[str, Path], recorded: dict[str, str]) -> None:
    """Keep each input's content under `out/.inputs/<sha256>` (once per content), so the
    record of what a plan was made from survives the data folder moving on."""
    folder = Path(out) / INPUT_SNAPSHOTS
    folder.mkdir(exist_ok=True)
    for path in files.values():
        kept = folder / recorded[path.name]
        if not kept.exists():  # two runs at once each copy to their own partial file
            partial = kept.with_name(f"{kept.name}.partial-{os.getpid()}-{threading.get_ident()}")
            shutil.copyfile(path, partial)
            partial.replace(kept)


@dataclass
class Findings:
    """What `verify` found: `problems` (a plan or its record changed: exit 2) and `notes`
    (the data folder has moved on since, which the snapshots account for)."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _file_findings(out: Path, entry: dict, found: Findings) -> None:
    where = AUDIT.where("audit", entry)
    folder = out / entry["folder"]
    for name, recorded in entry["files"].items():
        kind, filename = name.split("/", 1)
        if kind == "outputs":
            file = folder / filename
            if not file.exists():
                found.problems.append(f"{where}: {file} is missing")
            elif sha256_file(file) != recorded:
                found.problems.append(f"{where}: {file} no longer matches its recorded sha256")
            continue
        file = Path(entry["data_dir"]) / filename
        if file.exists() and sha256_file(file) == recorded:
            continue
        kept = out / INPUT_SNAPSHOTS / recorded
        if kept.exists() and sha256_file(kept) == recorded:
            found.notes.append(
                f"{where}: {file} has changed since the plan (its recorded content is kept in "
                f"{kept})"
            )
        else:
            found.problems.append(f"{where}: input {file} no longer matches its recorded sha256")
    listed = {name.split("/", 1)[1] for name in entry["files"] if name.startswith("outputs/")}
    if folder.is_dir():
        for extra in sorted(p.name for p in folder.iterdir()):
            if extra not in listed:
                found.problems.append(f"{where}: {folder / extra} is listed by no audit entry")


def _run_folders(out: Path) -> list[str]:
    """Every run folder of the output folder, as `<plan month>/<scenario>`: the folders in its
    plan-month folders, less the dot folders of runs being written."""
    if not out.is_dir():
        return []
    months = [p for p in out.iterdir() if p.is_dir() and MONTH.fullmatch(p.name)]
    return sorted(
        f"{month.name}/{folder.name}"
        for month in months
        for folder in month.iterdir()
        if folder.is_dir() and not folder.name.startswith(".")
    )


def _unrecorded(
    out: Path,
    folders: list[str],
    plans: dict[str, set[tuple[str, str]]],
    recorded: list[RecordedRun],
) -> list[str]:
    """The run folders and the stored tables' rows of a plan month and scenario that no audit
    entry records: plans put there by hand, never published."""
    known = {run.folder for run in recorded}
    problems = [
        f"{out / f} is a run folder no audit entry records" for f in folders if f not in known
    ]
    keys = {(run.month, run.scenario) for run in recorded}
    for table, held in plans.items():
        problems += [
            f"the store's {table} table holds rows of {month}/{scenario}, which no audit entry "
            "records"
            for month, scenario in sorted(held - keys)
        ]
    return problems


def verify(out: Path, url: str, anchor: str | None = None) -> Findings:
    """The audit trail of `out` checked, first problem first: each entry's hash, link and
    sequence in the store and in `audit.jsonl`, the two logs against each other, the files and
    stored rows (of every stored table, `runs` included, where the entry digests them) of the
    latest entry for each plan month and scenario, the assessment desk's stored submissions,
    run folders and stored rows no entry records,
    — given an anchor — that the chain still holds every head the anchor received, and the
    service's access log."""
    out = Path(out)
    found = Findings()
    folders = _run_folders(out)  # before the entries: a run's folder appears after its commit
    engine = store.open_engine(url)
    try:
        with engine.connect() as conn:
            stored = stored_entries(conn)
            latest = latest_entries(stored)
            digests = {
                key: store.stored_digests(conn, *key, entry["rows"])
                for key, entry in latest.items()
                if "rows" in entry
            }
            plans = store.stored_plans(conn)
            found.problems += submission_problems(conn, stored)
    finally:
        engine.dispose()
    path = out / AUDIT_FILE
    logged, damaged = read_log(path)
    found.problems += damaged
    if not stored and not logged:
        found.problems.append(f"no audit entries in {url} or {path}")
        return found
    found.problems += AUDIT.problems("audit_log", stored)
    found.problems += AUDIT.problems(AUDIT_FILE, logged)
    found.problems += AUDIT.disagreement("audit_log", stored, AUDIT_FILE, logged)
    if len(logged) > len(stored):
        found.problems.append(
            f"{AUDIT_FILE} holds {len(logged) - len(stored)} entries the store lacks"
        )
    if not stored:
        latest = latest_entries(logged)
    for key, entry in sorted(latest.items(), key=lambda item: item[1]["seq"]):
        _file_findings(out, entry, found)
        for table, digest in digests.get(key, {}).items():
            if entry["rows"][table] != digest:
                found.problems.append(
                    f"{AUDIT.where('audit', entry)}: the store's {table} rows no longer match "
                    "their recorded sha256"
                )
    found.problems += _unrecorded(out, folders, plans, recorded_runs(stored or logged))
    if anchor:
        found.problems += _anchor_problems(anchor, stored or logged)
    problems, notes = verify_access(out, url)  # the service's requests, chained alike
    found.problems += problems
    found.notes += notes
    return found


def _anchor_engine(anchor: str):
    return create_engine(anchor) if "://" in anchor else None


def anchor_head(anchor: str, entry: dict, out: Path) -> None:
    """Append the new chain head to the bureau's anchor: a JSON-lines file, or table
    `audit_anchor` of the database at a SQLAlchemy URL (best kept on another server)."""
    head = {
        "seq": entry["seq"],
        "entry_hash": entry["entry_hash"],
        "recorded_at": entry["recorded_at"],
        "output_folder": str(Path(out).resolve()),
    }
    engine = _anchor_engine(anchor)
    if engine is None:
        with open(anchor, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(head, sort_keys=True) + "\n")
        return
    try:
        with engine.begin() as conn:
            MetaData().create_all(conn, tables=[_ANCHOR])
            conn.execute(insert(_ANCHOR), [head])
    finally:
        engine.dispose()


def _anchored_heads(anchor: str) -> tuple[list[dict], list[str]]:
    engine = _anchor_engine(anchor)
    if engine is None:
        path = Path(anchor)
        if not path.exists():
            return [], [f"{anchor}: the anchor file does not exist"]
        heads, problems = [], []
        for number, line in read_lines(path):
            try:
                head = json.loads(line)
                heads.append({"seq": int(head["seq"]), "entry_hash": str(head["entry_hash"])})
            except (ValueError, KeyError, TypeError):
                problems.append(f"{anchor}:{number}: not an anchored chain head")
        return heads, problems
    try:
        with engine.connect() as conn:
            if "audit_anchor" not in inspect(conn).get_table_names():
                return [], [f"{anchor}: holds no audit_anchor table"]
            rows = conn.execute(select(_ANCHOR.c.seq, _ANCHOR.c.entry_hash)).all()
    finally:
        engine.dispose()
    return [{"seq": int(r.seq), "entry_hash": r.entry_hash} for r in rows], []


def _anchor_problems(anchor: str, chain: list[dict]) -> list[str]:
    """Every head the anchor received must still be in the chain, unchanged: a re-chained log
    changes the hashes, a truncated or rolled-back one loses the latest heads."""
    heads, problems = _anchored_heads(anchor)
    by_seq = {e["seq"]: e["entry_hash"] for e in chain}
    for head in heads:
        held = by_seq.get(head["seq"])
        if held is None:
            problems.append(
                f"anchor {anchor}: chain head {head['seq']} is no longer in the log "
                "(truncated or rolled back)"
            )
        elif held != head["entry_hash"]:
            problems.append(
                f"anchor {anchor}: entry {head['seq']} differs from the head anchored then "
                "(the log was re-chained)"
            )
    return problems
