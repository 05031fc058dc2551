"""The month's cycle on the assessment desk (SPEC §17): departments submit their indicator
values, the assessment office reviews them and returns what it doubts, and closes the month,
which writes its values to the data folder's `scores.csv`. Every version of every submission is
kept in the store; each step is an entry of the audit chain with its user and the sha256 of
what it changed. The assessed month is M (the plan it feeds is M+1)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from models.errors import InputError
from models.quality import case_metric_checks
from models.reading import Table
from models.submissions import (
    SUBMISSION_KEY,
    changed_from_prefill,
    checked_submission,
    is_late,
    report_deadline,
)
from optimizer import audit, store
from optimizer.assessment.bureau import DeskBureau
from optimizer.assessment.records import VALUE_FIELDS
from optimizer.assessment.scores_file import month_digest, month_rows, write_month
from optimizer.assessment.survey import survey_values, tally_survey
from optimizer.assessment.tables import CLOSED_MONTHS, SUBMISSIONS, SUBMITTED_VALUES

MAX_COMMENT = 1000  # characters of a return comment or a close reason
KEY = list(SUBMISSION_KEY)  # a value is owed per station and indicator
REVIEW_STATUSES = ("missing", "submitted", "late", "returned")  # of a value owed the month


class DeskRefused(Exception):
    """A step the desk refuses, with the HTTP status that says why (404 unknown, 409 the
    month's state forbids it, 413 too large, 415 wrong kind of file, 422 bad content) and a
    detail for the reader (a sentence, or a list)."""

    def __init__(self, status: int, detail) -> None:
        super().__init__(detail if isinstance(detail, str) else json.dumps(detail))
        self.status, self.detail = status, detail


@dataclass(frozen=True)
class Receipt:
    """A stored submission: its id, how many rows, whether after the deadline."""

    id: str
    rows: int
    late: bool


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def recorded(out: Path, entry: dict) -> None:
    """The audit entry's line in the output folder's `audit.jsonl` (after its transaction)."""
    Path(out).mkdir(parents=True, exist_ok=True)
    audit.append_line(out, entry)


def closed_month(conn: Connection, month: str) -> dict | None:
    row = conn.execute(select(CLOSED_MONTHS).where(CLOSED_MONTHS.c.month == month)).first()
    return dict(row._mapping) if row else None


def check_month_open(conn: Connection, bureau: DeskBureau, month: str) -> None:
    """409 for a closed month or one that has not begun."""
    if month > f"{bureau.now():%Y-%m}":
        raise DeskRefused(409, f"month {month} has not begun: values are reported after it")
    if closed_month(conn, month) is not None:
        raise DeskRefused(409, f"month {month} is closed: its values are final (appeals only)")


def submit(
    url: str,
    out: Path,
    bureau: DeskBureau,
    month: str,
    department: str,
    user: str,
    table: Table,
    source: str,
) -> Receipt:
    """Check and store a department's values for `month`. InputError (nothing stored) naming
    every problem by row and column; DeskRefused for a closed or future month."""
    prefilled = bureau.prefilled(month)
    frame, problems = checked_submission(
        table, bureau.station_ids, bureau.indicators, department, prefilled, bureau.timezone, month
    )
    if problems:
        raise InputError(problems)
    frame = frame[list(VALUE_FIELDS)].astype(object)
    values = frame.where(frame.notna(), None).to_dict("records")
    digest = store.rows_digest(values)
    now = bureau.now()
    late = is_late(month, bureau.config.scoring.report_deadline_day, now)
    receipt = Receipt(secrets.token_hex(16), len(values), late)
    with store.transaction(url) as conn:
        check_month_open(conn, bureau, month)
        conn.execute(
            insert(SUBMISSIONS).values(
                id=receipt.id,
                month=month,
                department=department,
                user=user,
                submitted_at=utc_now(),
                late=int(late),
                source=source,
                rows_sha256=digest,
            )
        )
        conn.execute(
            insert(SUBMITTED_VALUES), [{"submission_id": receipt.id, **row} for row in values]
        )
        entry = audit.record_assessment(
            conn,
            month,
            "submit",
            user,
            {"submission": digest},
            {"id": receipt.id, "department": department, "rows": len(values), "late": late},
        )
    recorded(out, entry)
    return receipt


def submitted_values(conn: Connection, month: str) -> pd.DataFrame:
    """Every submitted value of `month`, one row per submission and value, with the
    submission's department, time, late and returned marks; the latest submission last."""
    query = (
        select(
            SUBMITTED_VALUES,
            SUBMISSIONS.c.department,
            SUBMISSIONS.c.submitted_at,
            SUBMISSIONS.c.late,
            SUBMISSIONS.c.returned_at,
        )
        .join(SUBMISSIONS, SUBMISSIONS.c.id == SUBMITTED_VALUES.c.submission_id)
        .where(SUBMISSIONS.c.month == month)
        .order_by(SUBMISSIONS.c.submitted_at, SUBMISSIONS.c.id)
    )
    frame = pd.DataFrame(conn.execute(query).mappings().all())
    if frame.empty:
        columns = [c.name for c in SUBMITTED_VALUES.columns]
        return pd.DataFrame(columns=[*columns, "department", "submitted_at", "late", "returned_at"])
    return frame


def current_values(submitted: pd.DataFrame) -> pd.DataFrame:
    """The value each station and indicator holds now: its latest submission's (a later
    submission supersedes an earlier one), with `status` submitted, late or returned."""
    latest = submitted.drop_duplicates(KEY, keep="last").copy()
    latest["status"] = "submitted"
    latest.loc[latest["late"].astype(bool), "status"] = "late"
    latest.loc[latest["returned_at"].notna(), "status"] = "returned"
    return latest.reset_index(drop=True)


def _flags(bureau: DeskBureau, month: str, items: pd.DataFrame) -> list[list[str]]:
    """Per item: changed_from_prefill (of a value sent: a missing one changed nothing), and
    the third-party recomputation's check (§3.2)."""
    flags: list[list[str]] = [[] for _ in range(len(items))]
    sent = items["status"].ne("missing")
    changed = changed_from_prefill(items["value"], items["prefilled"]) & sent
    for i in changed.to_numpy().nonzero()[0]:
        flags[i].append("changed_from_prefill")
    valued = items[items["value"].notna()].assign(month=month)
    if bureau.cases is not None and len(valued):
        checks = case_metric_checks(valued, bureau.indicators, bureau.cases, month)
        found = set(zip(checks["station_id"], checks["indicator_id"], strict=True))
        keys = zip(items["station_id"], items["indicator_id"], strict=True)
        for i, key in enumerate(keys):
            if key in found:
                flags[i].append("third_party_mismatch")
    return flags


def review_items(conn: Connection, bureau: DeskBureau, month: str) -> pd.DataFrame:
    """Per department, indicator and station: `status` (missing, submitted, late, returned),
    `value`, `prefilled`, `flags`, `submission_id`; every value owed (a weight above zero)
    and every value submitted. A `survey` indicator of a station with enough public answers
    takes their mean (`survey_values`) over any submitted value, flagged `survey`."""
    survey = survey_values(
        conn,
        month,
        bureau.indicators,
        sorted(bureau.station_ids),
        bureau.config.assessment.survey_min_answers,
    )
    owed = bureau.owed[["department", "station_id", "indicator_id"]]
    current = current_values(submitted_values(conn, month))
    items = owed.merge(current.drop(columns=["department"]), on=KEY, how="outer")
    departments = bureau.departments()
    items["department"] = items["indicator_id"].map(departments).fillna("")
    items["status"] = items["status"].fillna("missing")
    items["flags"] = [[] for _ in range(len(items))]
    if len(survey):
        by_survey = items.merge(survey, on=KEY, how="left", suffixes=("", "_survey"))
        answered = by_survey["value_survey"].notna().to_numpy()
        items.loc[answered, "value"] = by_survey.loc[answered, "value_survey"].to_numpy()
        items.loc[answered, "status"] = "submitted"
        for i in answered.nonzero()[0]:
            items.at[items.index[i], "flags"] = ["survey"]
    prefilled = bureau.prefilled(month).rename(columns={"prefilled": "prefilled_now"})
    items = items.merge(prefilled, on=KEY, how="left")
    items["prefilled"] = items["prefilled"].fillna(items.pop("prefilled_now"))
    items["value"] = pd.to_numeric(items["value"], errors="coerce")
    for i, extra in enumerate(_flags(bureau, month, items)):
        items.at[items.index[i], "flags"] = items.at[items.index[i], "flags"] + extra
    items = items.sort_values(["department", "indicator_id", "station_id"]).reset_index(drop=True)
    return items[
        [
            "department",
            "indicator_id",
            "station_id",
            "status",
            "value",
            "prefilled",
            "flags",
            "submission_id",
            "note",
        ]
    ]


def review(url: str, bureau: DeskBureau, month: str) -> dict:
    """`GET /api/assessment/{month}`: the month's state, deadline and review items."""
    with store.transaction(url) as conn:
        items = review_items(conn, bureau, month)
        closed = closed_month(conn, month)
    records = items.astype(object).where(items.notna(), None).to_dict("records")
    return {
        "month": month,
        "state": "closed" if closed else "open",
        "deadline": report_deadline(month, bureau.config.scoring.report_deadline_day).isoformat(),
        "items": records,
    }


def return_submission(
    url: str, out: Path, bureau: DeskBureau, month: str, submission: str, user: str, comment: str
) -> None:
    """The assessment office sends a submission back with `comment`: its values count as
    missing until the department submits again."""
    comment = comment.strip()
    if not comment or len(comment) > MAX_COMMENT:
        raise DeskRefused(422, f"a return needs a comment of 1 to {MAX_COMMENT} characters")
    with store.transaction(url) as conn:
        found = conn.execute(
            select(SUBMISSIONS).where(SUBMISSIONS.c.id == submission, SUBMISSIONS.c.month == month)
        ).first()
        if found is None:
            raise DeskRefused(404, f"no submission {submission} for month {month}")
        check_month_open(conn, bureau, month)
        if found.returned_at is not None:
            raise DeskRefused(409, "this submission was already returned")
        conn.execute(
            update(SUBMISSIONS)
            .where(SUBMISSIONS.c.id == submission)
            .values(returned_by=user, return_comment=comment, returned_at=utc_now())
        )
        entry = audit.record_assessment(
            conn,
            month,
            "return",
            user,
            {"submission": found.rows_sha256},
            {"id": submission, "department": found.department, "comment": comment},
        )
    recorded(out, entry)


def _missing(items: pd.DataFrame, owed: pd.DataFrame) -> list[dict]:
    due = items.merge(owed[KEY], on=KEY)
    gaps = due[due["status"].isin(["missing", "returned"])]
    return gaps[["department", "station_id", "indicator_id", "status"]].to_dict("records")


def close(
    url: str,
    out: Path,
    bureau: DeskBureau,
    month: str,
    user: str,
    reason: str | None,
) -> pd.DataFrame:
    """Freeze `month`: its current values (and the survey's means) written to `scores.csv`.
    DeskRefused 409 with the missing values (returned ones count as missing) unless a
    `reason` is given, which is recorded. Returns the rows written."""
    reason = (reason or "").strip()
    if len(reason) > MAX_COMMENT:
        raise DeskRefused(422, f"a reason is at most {MAX_COMMENT} characters")
    with store.transaction(url) as conn:
        if closed_month(conn, month) is not None:
            raise DeskRefused(409, f"month {month} is already closed")
        check_month_open(conn, bureau, month)
        tallies = tally_survey(conn, datetime.now(UTC), bureau.timezone)  # days not yet tallied
        items = review_items(conn, bureau, month)
        missing = _missing(items, bureau.owed)
        if missing and not reason:
            raise DeskRefused(409, {"missing": missing})
        submitted = current_values(submitted_values(conn, month)).set_index(KEY)
        rows = items[items["status"].isin(["submitted", "late"])].copy()
        at = pd.MultiIndex.from_frame(rows[KEY])
        when = pd.to_datetime(submitted["submitted_at"].reindex(at), utc=True)
        local = when.dt.tz_convert(bureau.timezone).dt.strftime("%Y-%m-%d %H:%M:%S")
        rows["reported_at"] = local.fillna(bureau.now().strftime("%Y-%m-%d %H:%M:%S")).to_numpy()
        rows["source"] = [
            "survey" if "survey" in flags else f"desk:{department}"
            for department, flags in zip(rows["department"], rows["flags"], strict=True)
        ]
        written = month_rows(rows.assign(month=month))
        conn.execute(
            insert(CLOSED_MONTHS).values(
                month=month,
                closed_at=utc_now(),
                closed_by=user,
                reason=reason or None,
                missing=json.dumps(missing, ensure_ascii=False) if missing else None,
            )
        )
        entry = audit.record_assessment(
            conn,
            month,
            "close",
            user,
            {"scores": month_digest(written)},
            {"rows": len(written), "missing": len(missing), "reason": reason},
        )
        write_month(bureau.data, month, written)  # last: a failure rolls the close back
    for done in [*tallies, entry]:
        recorded(out, done)
    return written
