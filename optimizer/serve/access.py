"""The service's access log (SPEC §14): every answered request (user, role, method, path,
status, time) in the store's `access_log` and in `OUT/access.jsonl`, each entry chained to the
one before by sha256 like the audit entries, so `patrolopt audit verify` finds an entry changed,
removed or added since. Requests are logged by a background thread in batches: an answer never
waits for the store, whose lock a run may hold."""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, Table, Text, inspect, select

from optimizer.manifest import ACCESS_FILE
from optimizer.store import transaction

ACCESS_FIELDS = ["seq", "user", "role", "method", "path", "status", "time"]
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
log = logging.getLogger(__name__)


def access_hash(entry: dict) -> str:
    """sha256 of an access entry's fields and its link to the previous entry."""
    content = {k: entry[k] for k in [*ACCESS_FIELDS, "prev_hash"]}
    return hashlib.sha256(
        json.dumps(content, sort_keys=True, ensure_ascii=False).encode("utf-8")
    ).hexdigest()


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
        for line in handle:
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
        seq, previous = (last[0], last[1]) if last else (0, "")
        committed = _committed_bytes(path, seq)
        entries = []
        for request in requests:
            seq += 1
            entry = {**request, "seq": seq, "prev_hash": previous}
            entry["entry_hash"] = previous = access_hash(entry)
            entries.append(entry)
        conn.execute(ACCESS_TABLE.insert(), entries)
        lines = "".join(
            json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n" for entry in entries
        ).encode("utf-8")
        with open(path, "ab") as handle:
            handle.truncate(committed)
            handle.write(lines)
    _COMMITTED[path] = (seq, committed + len(lines))


def verify_access(out: Path, url: str) -> tuple[list[str], list[str]]:
    """(problems, notes) of the access log. Problems, first one first: an entry whose content
    no longer matches its hash, a broken link or gap in the chain, the store and
    `access.jsonl` disagreeing. A note when the file ends in entries the store never committed
    (a service stopped between writing the file and committing): they are not part of the log,
    and the service drops them before its next entries."""
    path = Path(out) / ACCESS_FILE
    with transaction(url) as conn:  # under the lock: no batch lands between the two reads
        stored = []
        if ACCESS_TABLE.name in inspect(conn).get_table_names():
            rows = conn.execute(select(ACCESS_TABLE).order_by(ACCESS_TABLE.c.seq))
            stored = [dict(row._mapping) for row in rows]
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    lines = [line for line in lines if line.strip()]
    notes = []
    if len(lines) > len(stored):
        notes.append(
            f"{ACCESS_FILE} ends in {len(lines) - len(stored)} entries the store never "
            "committed (a service stopped before its commit): they are not part of the log and "
            "are dropped by the next entries"
        )
    problems = []
    logged = []  # the lines the store has committed
    for number, line in enumerate(lines[: len(stored)], 1):
        try:
            logged.append(json.loads(line))
        except ValueError:
            problems.append(f"{ACCESS_FILE} line {number}: not an entry")
            return problems, notes
    for source, entries in (("access_log", stored), (ACCESS_FILE, logged)):
        previous, expected = "", 1
        for entry in entries:
            where = f"{source} entry {entry['seq']} ({entry['method']} {entry['path']})"
            if access_hash(entry) != entry["entry_hash"]:
                problems.append(f"{where}: content does not match its hash")
            elif entry["prev_hash"] != previous or entry["seq"] != expected:
                problems.append(f"{where}: link to the previous entry is broken")
            previous, expected = entry["entry_hash"], entry["seq"] + 1
    by_seq = {e["seq"]: e["entry_hash"] for e in logged}
    for entry in stored:
        if by_seq.get(entry["seq"]) != entry["entry_hash"]:
            problems.append(
                f"access_log entry {entry['seq']}: {ACCESS_FILE} does not hold the same entry"
            )
            break
    return problems, notes


class AccessLog:
    """Requests queued by the service and written by one thread, in batches; `close` writes
    what is left."""

    def __init__(self, url: str, out: Path, retry_s: float = 1.0) -> None:
        self.url, self.out, self.retry_s = url, out, retry_s
        self._queue: queue.Queue[dict | None] = queue.Queue()
        self._thread = threading.Thread(target=self._write, name="access-log", daemon=True)
        self._thread.start()

    def record(self, entry: dict) -> None:
        self._queue.put(entry)

    def _write(self) -> None:
        pending: list[dict] = []
        stopping = False
        while not stopping or pending:
            if not pending:
                item = self._queue.get()
                if item is None:
                    return
                pending.append(item)
            while not self._queue.empty():
                item = self._queue.get()
                if item is None:
                    stopping = True
                else:
                    pending.append(item)
            try:
                append_access(self.url, self.out, pending)
                pending = []
            except Exception:  # noqa: BLE001 - kept and tried again: the log must not lose them
                log.exception("access log: %d entries not written yet", len(pending))
                if stopping:
                    return
                threading.Event().wait(self.retry_s)

    def close(self, timeout_s: float = 30.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout_s)
