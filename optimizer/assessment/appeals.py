"""What a station may contest after the assessment office closes a month (SPEC §17): an appeal
against one of its values, with an optional attachment, decided by the office (an upheld appeal
corrects `scores.csv`, and the month is planned again); and an application for flexible
weights (SPEC §4), checked against the pool and share rules when filed and written to
`flex_weights.csv` from the next month on when approved. Every filing and decision is an entry
of the audit chain."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import insert, select, update

from models.errors import InputError
from models.months import next_month
from models.policy import flex_weight_problems
from optimizer import audit, store
from optimizer.assessment.bureau import DeskBureau
from optimizer.assessment.desk import MAX_COMMENT, DeskRefused, closed_month, recorded, utc_now
from optimizer.assessment.scores_file import amend_value, replace_file
from optimizer.assessment.tables import APPEALS, FLEX_APPLICATIONS

MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
ATTACHMENT_TYPES = {  # leading bytes → media type: PDF and the common image formats
    b"%PDF-": "application/pdf",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
}
MAX_FLEX_ROWS = 100
APPEAL_COLUMNS = ["id", "station_id", "indicator_id", "state", "decision", "value", "reason"]


def _text(value: str | None, what: str) -> str:
    text = (value or "").strip()
    if not text or len(text) > MAX_COMMENT:
        raise DeskRefused(422, f"{what} needs 1 to {MAX_COMMENT} characters")
    return text


def attachment_type(body: bytes) -> str:
    """The attachment's media type told by its bytes; 413 oversize, 415 not PDF or image."""
    if len(body) > MAX_ATTACHMENT_BYTES:
        raise DeskRefused(413, "an attachment is at most 5 MB")
    for magic, media in ATTACHMENT_TYPES.items():
        if body.startswith(magic):
            return media
    raise DeskRefused(415, "an attachment is a PDF, PNG or JPEG file")


def file_appeal(
    url: str,
    out: Path,
    bureau: DeskBureau,
    month: str,
    station: str,
    user: str,
    indicator: str,
    reason: str | None,
    attachment: tuple[str, bytes] | None = None,
) -> str:
    """Store a station's appeal against its value of `indicator` in closed `month`, within
    `appeal_days` of the close; its id."""
    reason = _text(reason, "an appeal's reason")
    if indicator not in set(bureau.indicators["indicator_id"]):
        raise DeskRefused(422, f"unknown indicator {indicator!r}")
    media = attachment_type(attachment[1]) if attachment else None
    with store.transaction(url) as conn:
        closed = closed_month(conn, month)
        if closed is None:
            raise DeskRefused(409, f"month {month} is not closed: there is no result to appeal")
        until = datetime.fromisoformat(closed["closed_at"]) + timedelta(
            days=bureau.config.assessment.appeal_days
        )
        if datetime.now(UTC) > until:
            raise DeskRefused(409, f"appeals on {month} closed on {until:%Y-%m-%d %H:%M} UTC")
        pending = conn.execute(
            select(APPEALS.c.id).where(
                APPEALS.c.month == month,
                APPEALS.c.station_id == station,
                APPEALS.c.indicator_id == indicator,
                APPEALS.c.state == "pending",
            )
        ).first()
        if pending is not None:
            raise DeskRefused(409, f"an appeal on {indicator} is already waiting for a decision")
        appeal = secrets.token_hex(16)
        row = {
            "id": appeal,
            "month": month,
            "station_id": station,
            "indicator_id": indicator,
            "reason": reason,
            "user": user,
            "filed_at": utc_now(),
            "attachment_name": attachment[0][:200] if attachment else None,
            "attachment_type": media,
            "attachment": attachment[1] if attachment else None,
            "state": "pending",
        }
        conn.execute(insert(APPEALS).values(**row))
        digest = _digest({k: v for k, v in row.items() if k != "attachment"}, attachment)
        entry = audit.record_assessment(
            conn, month, "appeal", user, {"appeal": digest}, {"id": appeal, "station": station}
        )
    recorded(out, entry)
    return appeal


def _digest(fields: dict, attachment: tuple[str, bytes] | None) -> str:
    content = dict(fields)
    if attachment:
        content["attachment_sha256"] = hashlib.sha256(attachment[1]).hexdigest()
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def decide_appeal(
    url: str,
    out: Path,
    bureau: DeskBureau,
    month: str,
    appeal: str,
    user: str,
    decision: str,
    value: float | None,
    reason: str | None,
) -> bool:
    """The office's decision on a pending appeal: `upheld` with the corrected `value` (written
    to `scores.csv`) or `rejected`. True when the month's values changed (plan it again)."""
    reason = _text(reason, "a decision's reason")
    if decision == "upheld" and (value is None or not value >= 0):
        raise DeskRefused(422, "an upheld appeal needs the corrected value, 0 or more")
    with store.transaction(url) as conn:
        found = conn.execute(
            select(APPEALS).where(APPEALS.c.id == appeal, APPEALS.c.month == month)
        ).first()
        if found is None:
            raise DeskRefused(404, f"no appeal {appeal} on month {month}")
        if found.state != "pending":
            raise DeskRefused(409, f"this appeal was already decided: {found.state}")
        fields = {"state": decision, "decision_reason": reason, "decided_by": user}
        fields["decided_at"] = utc_now()
        changed = {"appeal": _digest({"id": appeal, **fields, "value": value}, None)}
        if decision == "upheld":
            fields["value"] = float(value)
            previous = amend_value(
                bureau.data,
                month,
                found.station_id,
                found.indicator_id,
                float(value),
                bureau.now().strftime("%Y-%m-%d %H:%M:%S"),
                f"appeal:{appeal[:8]}",
            )
            fields["previous_value"] = previous
        conn.execute(update(APPEALS).where(APPEALS.c.id == appeal).values(**fields))
        entry = audit.record_assessment(
            conn,
            month,
            "appeal decision",
            user,
            changed,
            {"id": appeal, "decision": decision, "value": value, "reason": reason},
        )
    recorded(out, entry)
    return decision == "upheld"


def appeals(url: str, month: str, station: str | None = None) -> pd.DataFrame:
    """The appeals on `month` (a station's own only, given `station`), in APPEAL_COLUMNS plus
    when filed and decided."""
    query = select(APPEALS).where(APPEALS.c.month == month).order_by(APPEALS.c.filed_at)
    if station is not None:
        query = query.where(APPEALS.c.station_id == station)
    with store.transaction(url) as conn:
        rows = pd.DataFrame(conn.execute(query).mappings().all(), columns=APPEALS.c.keys())
    rows["decision"] = rows["decision_reason"]
    rows = rows.drop(columns=["attachment"])
    return rows[[*APPEAL_COLUMNS, "previous_value", "filed_at", "decided_at", "attachment_name"]]


def file_flex(
    url: str, out: Path, bureau: DeskBureau, station: str, user: str, rows: list[dict]
) -> str:
    """Store a station's application for flexible weights (`indicator_id, weight` rows), the
    §4 rules checked first (InputError naming the rows); its id. It applies from the month
    after the current one."""
    if not 0 < len(rows) <= MAX_FLEX_ROWS:
        raise DeskRefused(422, f"an application has 1 to {MAX_FLEX_ROWS} rows")
    frame = pd.DataFrame(rows, columns=["indicator_id", "weight"]).assign(station_id=station)
    unknown = ~frame["indicator_id"].isin(set(bureau.indicators["indicator_id"]))
    problems = [
        f"rows:{i + 1}:indicator_id: unknown indicator {frame['indicator_id'].iloc[i]!r}"
        for i in unknown.to_numpy().nonzero()[0]
    ]
    if frame["indicator_id"].duplicated().any():
        problems.append("rows:0:indicator_id: an indicator is named twice")
    if problems:
        raise DeskRefused(422, problems)
    found = flex_weight_problems(
        frame,
        bureau.weights,
        bureau.indicators,
        bureau.stations,
        bureau.config.scoring.max_flex_share,
        "rows",
        1,
    )
    if found:
        raise InputError(found)
    application = secrets.token_hex(16)
    start = next_month(f"{bureau.now():%Y-%m}")
    with store.transaction(url) as conn:
        conn.execute(
            insert(FLEX_APPLICATIONS).values(
                id=application,
                station_id=station,
                user=user,
                filed_at=utc_now(),
                from_month=start,
                rows=json.dumps(rows, sort_keys=True),
                state="pending",
            )
        )
        entry = audit.record_assessment(
            conn,
            start,
            "flex application",
            user,
            {"flex": store.rows_digest(rows)},
            {"id": application, "station": station},
        )
    recorded(out, entry)
    return application


def decide_flex(
    url: str, out: Path, bureau: DeskBureau, application: str, user: str, decision: str, reason: str
) -> None:
    """The office approves (the rows replace the station's flexible weights in
    `flex_weights.csv`, from the application's month on) or rejects an application."""
    reason = _text(reason, "a decision's reason")
    with store.transaction(url) as conn:
        found = conn.execute(
            select(FLEX_APPLICATIONS).where(FLEX_APPLICATIONS.c.id == application)
        ).first()
        if found is None:
            raise DeskRefused(404, f"no flexible-weight application {application}")
        if found.state != "pending":
            raise DeskRefused(409, f"this application was already decided: {found.state}")
        conn.execute(
            update(FLEX_APPLICATIONS)
            .where(FLEX_APPLICATIONS.c.id == application)
            .values(state=decision, decision_reason=reason, decided_by=user, decided_at=utc_now())
        )
        rows = json.loads(found.rows)
        entry = audit.record_assessment(
            conn,
            found.from_month,
            "flex decision",
            user,
            {"flex": store.rows_digest(rows)},
            {"id": application, "decision": decision, "reason": reason},
        )
        if decision == "approved":
            write_flex(bureau.data, found.station_id, rows, found.from_month)
    recorded(out, entry)


def write_flex(data: Path, station: str, rows: list[dict], from_month: str) -> None:
    """Replace `station`'s rows of `data/flex_weights.csv` with `rows` from `from_month`."""
    path = Path(data) / "flex_weights.csv"
    current = (
        pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        if path.exists()
        else pd.DataFrame(columns=["station_id", "indicator_id", "weight", "from_month"])
    )
    if "from_month" not in current.columns:
        current["from_month"] = ""
    new = pd.DataFrame(rows).assign(station_id=station, from_month=from_month)
    new["weight"] = [f"{float(w):.10g}" for w in new["weight"]]
    kept = current[current["station_id"] != station]
    new = new.reindex(columns=current.columns, fill_value="")
    replace_file(path, pd.concat([kept, new], ignore_index=True))


def appeal_attachment(url: str, month: str, appeal: str) -> tuple[str, str, bytes, str]:
    """An appeal's attachment: file name, media type, bytes and the appealing station;
    DeskRefused 404 when there is no such appeal or it has no attachment."""
    query = select(
        APPEALS.c.attachment_name,
        APPEALS.c.attachment_type,
        APPEALS.c.attachment,
        APPEALS.c.station_id,
    ).where(APPEALS.c.id == appeal, APPEALS.c.month == month)
    with store.transaction(url) as conn:
        found = conn.execute(query).first()
    if found is None or found.attachment is None:
        raise DeskRefused(404, f"no attachment of an appeal {appeal} on month {month}")
    return (
        found.attachment_name or "attachment",
        found.attachment_type,
        found.attachment,
        (found.station_id),
    )
