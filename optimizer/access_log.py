"""The desk's access log (SPEC §14): every answered request (user, role, method, path, status,
time) in the store's `access_log` and in `OUT/access.jsonl`, each entry chained to the one
before by sha256 like the audit entries (optimizer/chain.py), so `patrolopt audit verify` finds
an entry changed, removed or added since. The desk queues its requests and hands them here in
batches, so an answer never waits for the store."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, Table, Text, inspect, select

from optimizer.chain import Chain, read_lines
from optimizer.manifest import ACCESS_FILE
from optimizer.store import transaction

ACCESS = Chain(
    noun="access entry",
    fields=("user", "role", "method", "path", "status", "time"),
    label="{method} {path}",
)
ACCESS_TABLE = Table(
    "access_log",
    MetaData(),
    Column("seq", Integer),
    Column("user", Text),
    Column("role", Text),
    Column("method", Text),
    Column("path", Text),
    Column("status", Integer),
    Column("time", Text),
    Column("prev_hash", Text),
    Column("entry_hash", Text),
)

_COMMITTED: dict[
    Path, tuple[int, int]
] = {}  # access file → (entries, bytes) this process committed


def _committed_bytes(path: Path, entries: int) -> int:
    """Length in bytes of the first `entries` lines of the access file: what the store has
    committed. A line after them was written by a service stopped, or a batch failed, before
    its commit (the file is written just before it)."""
    known = _COMMITTED.get(path)
    if known is not None and known[0] == entries:
        return known[1]
    if not path.exists():
        return 0
    length, seen = 0, 0
    with open(path, "rb") as handle:
        for line in handle:  # binary lines end at b"\n" only, as `read_lines` splits them
            if seen == entries:
                break
            length += len(line)
            seen += line.strip() != b""
    return length


def append_access(url: str, out: Path, requests: list[dict]) -> None:
    """Chain `requests` (dicts of user, role, method, path, status, time) after the last entry
    and append them to the store and `out/access.jsonl`, in one transaction under the store's
    lock, the file written just before the commit. The store is what counts: lines the file
    holds beyond its last committed entry (a service killed between the two) are dropped
    first."""
    path = Path(out) / ACCESS_FILE
    with transaction(url) as conn:
        ACCESS_TABLE.create(conn, checkfirst=True)
        last = conn.execute(
            select(ACCESS_TABLE.c.seq, ACCESS_TABLE.c.entry_hash)
            .order_by(ACCESS_TABLE.c.seq.desc())
            .limit(1)
        ).first()
        entries, seq = [], last[0] if last else 0
        committed = _committed_bytes(path, seq)
        for request in requests:
            entry = ACCESS.chained(request, last)
            entries.append(entry)
            seq, last = entry["seq"], (entry["seq"], entry["entry_hash"])
        conn.execute(ACCESS_TABLE.insert(), entries)
        lines = "".join(
            json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n" for entry in entries
        ).encode("utf-8")
        with open(path, "ab") as handle:
            handle.truncate(committed)
            handle.write(lines)
    _COMMITTED[path] = (seq, committed + len(lines))


def verify_access(out: Path, url: str) -> tuple[list[str], list[str]]:
    """(problems, notes) of the access log. Problems, first one first: a line that is not a
    whole entry, an entry whose content no longer matches its hash, a broken link or gap in the
    chain, the store and `access.jsonl` disagreeing. A note when the file ends in entries the
    store never committed (a service stopped between writing the file and committing): they
    are not part of the log, and the service drops them before its next entries."""
    path = Path(out) / ACCESS_FILE
    with transaction(url) as conn:  # under the lock: no batch lands between the two reads
        stored = []
        if ACCESS_TABLE.name in inspect(conn).get_table_names():
            rows = conn.execute(select(ACCESS_TABLE).order_by(ACCESS_TABLE.c.seq))
            stored = [dict(row._mapping) for row in rows]
        lines = read_lines(path)
    notes = []
    if len(lines) > len(stored):
        notes.append(
            f"{ACCESS_FILE} ends in {len(lines) - len(stored)} entries the store never "
            "committed (a service stopped before its commit): they are not part of the log and "
            "are dropped by the next entries"
        )
    logged, problems = ACCESS.parse(lines[: len(stored)], path)
    problems += ACCESS.problems(ACCESS_TABLE.name, stored)
    problems += ACCESS.problems(ACCESS_FILE, logged)
    problems += ACCESS.disagreement(ACCESS_TABLE.name, stored, ACCESS_FILE, logged)
    return problems, notes
