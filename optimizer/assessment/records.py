"""The assessment desk's stored submissions checked against the audit chain (SPEC §17): each
`submit` entry recorded the sha256 of the values it stored; `audit verify` recomputes it from
the store, so a value changed behind the desk's back is found."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import inspect, select
from sqlalchemy.engine import Connection

from optimizer.assessment.tables import SUBMITTED_VALUES
from optimizer.store import rows_digest

VALUE_FIELDS = ("station_id", "indicator_id", "value", "note", "prefilled")  # as digested


def submission_rows(conn: Connection) -> dict[str, list[dict]]:
    """Every stored submission's values (VALUE_FIELDS), by submission id."""
    if SUBMITTED_VALUES.name not in inspect(conn).get_table_names():
        return {}
    columns = [SUBMITTED_VALUES.c[name] for name in ("submission_id", *VALUE_FIELDS)]
    rows: dict[str, list[dict]] = defaultdict(list)
    for row in conn.execute(select(*columns)).mappings():
        rows[row["submission_id"]].append({name: row[name] for name in VALUE_FIELDS})
    return rows


def submission_problems(conn: Connection, entries: list[dict]) -> list[str]:
    """Submissions whose stored values no longer match the sha256 their `submit` entry of
    `entries` recorded (or that are gone)."""
    stored = submission_rows(conn)
    problems = []
    for entry in entries:
        recorded = entry.get("files", {}).get("assessment/submission")
        if entry.get("action") != "submit" or recorded is None:
            continue
        submission = entry.get("detail", {}).get("id", "")
        rows = stored.get(submission)
        if rows is None or rows_digest(rows) != recorded:
            problems.append(
                f"audit entry {entry['seq']}: submission {submission}'s stored values no "
                "longer match their recorded sha256"
            )
    return problems
