"""What the assessment desk's pages show (SPEC §17), read for the routers `assessment_pages`
(departments), `office_pages` (the assessment office) and `appeal_pages` (stations): the
months open for reporting, the office's own records of a month (submissions, closing,
appeals, flexible-weight applications), a station's values and standing, and the desk's
refusals as lines a reader can act on. The work itself is `optimizer.assessment`'s; this
module only reads."""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Annotated

import pandas as pd
from fastapi import HTTPException, Query, Request
from sqlalchemy import func, select

from models.errors import InputError, Problem
from models.months import month_after, next_month
from models.policy import station_weights
from optimizer import store
from optimizer.assessment.bureau import DeskBureau, desk_bureau
from optimizer.assessment.desk import REVIEW_STATUSES, DeskRefused
from optimizer.assessment.scores_file import SCORES_FILE
from optimizer.assessment.tables import (
    CLOSED_MONTHS,
    FLEX_APPLICATIONS,
    SUBMISSIONS,
    SUBMITTED_VALUES,
)
from optimizer.i18n import LANGUAGES
from optimizer.serve.deps import service
from optimizer.serve.forms import read_form
from optimizer.serve.page_kit import PageRefused, page_lang
from optimizer.serve.runs import RunNotFound, carried_out, run_folder
from optimizer.serve.users import User

MAX_FORM_ROWS = 20_000  # rows of the values form (4 fields each)
# the step a form just did, for the notice of the page it leads back to
Done = Annotated[str | None, Query(pattern=r"^[a-z_]{1,20}$", description="the step just done")]


def page_bureau(request: Request, lang: str, user: User) -> DeskBureau:
    """The data folder as the desk reads it; a page saying why (409) when the service has
    none or its files cannot be read."""
    data = service(request).settings.data
    if data is None:
        raise PageRefused(409, lang, user, key="assessment_no_data")
    try:
        return desk_bureau(data, service(request).settings.out)
    except InputError:
        raise PageRefused(409, lang, user, key="assessment_data_broken") from None


async def page_form(
    request: Request, limit: int, max_fields: int = 10
) -> dict[str, str | tuple[str, bytes]]:
    """A page's posted form read within `limit` bytes (`forms.read_form`); a refusal is a
    page (413 too large, 415 or 422 not a form)."""
    try:
        return await read_form(request, limit, max_fields)
    except HTTPException as exc:
        key = "form_too_large" if exc.status_code == 413 else "form_unreadable"
        raise PageRefused(exc.status_code, page_lang(request, None), key=key) from None


def form_lang(request: Request, fields: Mapping[str, object]) -> str:
    """The language a posted form names, else the service's."""
    lang = fields.get("lang")
    return page_lang(request, lang if lang in LANGUAGES else None)


def text_field(fields: Mapping[str, object], name: str) -> str:
    """A text field of a posted form ('' when absent or a file)."""
    value = fields.get(name)
    return value if isinstance(value, str) else ""


def problem_lines(exc: DeskRefused | InputError) -> list[str]:
    """A refusal as the lines a page lists: each problem `file:row:column: message`, or the
    desk's sentence."""
    if isinstance(exc, InputError):
        return [str(problem) for problem in exc.problems]
    if isinstance(exc.detail, list):
        return [str(line) for line in exc.detail]
    return [str(exc.detail)]


def recorded_months(data: Path) -> set[str]:
    """The months `scores.csv` of the data folder holds values of."""
    path = Path(data) / SCORES_FILE
    if not path.exists():
        return set()
    months = pd.read_csv(path, dtype=str, usecols=["month"], encoding="utf-8-sig")["month"]
    return set(months.dropna())


def open_months(current: str, recorded: Collection[str], closed: Collection[str]) -> list[str]:
    """The months departments may still report, the oldest (most overdue) first: from the
    month after the last one `scores.csv` holds from before the desk (`recorded` less the
    months the desk `closed`) to the `current` month, less the months the desk closed."""
    before = set(recorded) - set(closed)
    month = next_month(max(before)) if before else current
    months = []
    while month <= current:
        if month not in closed:
            months.append(month)
        month = month_after(month)
    return months


def closed_months(url: str) -> dict[str, dict]:
    """Month → its closing (`closed_at`, `closed_by`, `reason`, `missing`), every month the
    assessment office closed."""
    with store.transaction(url) as conn:
        rows = conn.execute(select(CLOSED_MONTHS).order_by(CLOSED_MONTHS.c.month)).mappings()
        return {row["month"]: dict(row) for row in rows}


def indicator_names(bureau: DeskBureau, lang: str) -> dict[str, str]:
    """Indicator id → its name in `lang` (the bureau's `name_zh` in Chinese, where given)."""
    table = bureau.indicators
    names = table.get("name", table["indicator_id"]).fillna("").astype(str)
    if lang == "zh" and "name_zh" in table.columns:
        chinese = table["name_zh"].fillna("").astype(str)
        names = chinese.where(chinese.str.strip() != "", names)
    return dict(zip(table["indicator_id"], names, strict=True))


def month_submissions(url: str, month: str, department: str | None = None) -> list[dict]:
    """The submissions of `month` (a department's only, given `department`), the latest
    first, each with how many rows it holds and, when returned, the office's comment."""
    rows = func.count(SUBMITTED_VALUES.c.submission_id).label("rows")
    query = (
        select(SUBMISSIONS, rows)
        .join(SUBMITTED_VALUES, SUBMITTED_VALUES.c.submission_id == SUBMISSIONS.c.id)
        .where(SUBMISSIONS.c.month == month)
        .group_by(*SUBMISSIONS.c)
        .order_by(SUBMISSIONS.c.submitted_at.desc(), SUBMISSIONS.c.id)
    )
    if department is not None:
        query = query.where(SUBMISSIONS.c.department == department)
    with store.transaction(url) as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def department_counts(items: list[dict]) -> list[dict]:
    """Per department of the review's items: how many values are in each status."""
    counts: dict[str, dict[str, int]] = {}
    for item in items:
        tally = counts.setdefault(item["department"], dict.fromkeys(REVIEW_STATUSES, 0))
        tally[item["status"]] += 1
    return [{"department": name, **tally} for name, tally in sorted(counts.items())]


def flex_applications(url: str, station: str | None = None) -> list[dict]:
    """The flexible-weight applications (a station's own only, given `station`), the latest
    first, with their rows read."""
    query = select(FLEX_APPLICATIONS).order_by(FLEX_APPLICATIONS.c.filed_at.desc())
    if station is not None:
        query = query.where(FLEX_APPLICATIONS.c.station_id == station)
    with store.transaction(url) as conn:
        found = [dict(row) for row in conn.execute(query).mappings()]
    return [{**row, "rows": json.loads(row["rows"])} for row in found]


def form_rows(fields: Mapping[str, object]) -> list[dict]:
    """The values form's rows as typed: `station.N`, `indicator.N`, `value.N`, `note.N` for N
    from 0, in that order, as `station_id, indicator_id, value, note`."""
    rows = []
    for n in range(MAX_FORM_ROWS):
        station, indicator = (
            text_field(fields, f"station.{n}"),
            text_field(fields, f"indicator.{n}"),
        )
        if not station and not indicator:
            break
        value, note = text_field(fields, f"value.{n}"), text_field(fields, f"note.{n}")
        rows.append(
            {
                "station_id": station,
                "indicator_id": indicator,
                "value": value.strip(),
                "note": note.strip(),
            }
        )
    return rows


def sent_rows(rows: list[dict]) -> list[dict]:
    """The rows to send: those with a value or a note (a row left blank stays missing)."""
    return [row for row in rows if row["value"] or row["note"]]


def problems_by_row(
    problems: list[Problem | str], rows: list[dict]
) -> tuple[dict[tuple[str, str], list[str]], list[str]]:
    """The problems of the `rows` sent (numbered from 1, as `rows_table` numbers them) by
    their (station, indicator), and those of no one row."""
    by_row: dict[tuple[str, str], list[str]] = {}
    others = []
    for problem in problems:
        row = getattr(problem, "row", 0)
        if 1 <= row <= len(rows):
            key = (rows[row - 1]["station_id"], rows[row - 1]["indicator_id"])
            by_row.setdefault(key, []).append(f"{problem.column}: {problem.message}")
        else:
            others.append(str(problem))
    return by_row, others


def station_values(data: Path, month: str, station: str) -> pd.DataFrame:
    """`indicator_id, value` of `station` in `month` as `scores.csv` holds them now."""
    path = Path(data) / SCORES_FILE
    if not path.exists():
        return pd.DataFrame(columns=["indicator_id", "value"])
    scores = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    own = scores[(scores["month"] == month) & (scores["station_id"] == station)]
    own = own.assign(value=pd.to_numeric(own["value"], errors="coerce"))
    return own[["indicator_id", "value"]].sort_values("indicator_id").reset_index(drop=True)


def station_standing(request: Request, month: str, station: str) -> dict | None:
    """The station's total, grade and rank in its peer group for assessed `month`, from the
    plan of the month after that its month carries out; None before that plan is written."""
    state = service(request)
    out, plan_month = state.settings.out, next_month(month)
    try:
        scores = state.tables.read(
            run_folder(out, plan_month, carried_out(out, plan_month)), "scores"
        )
    except RunNotFound:
        return None
    own = scores[(scores["station_id"] == station) & (scores["month"] == month)]
    if own.empty:
        return None
    row = own.iloc[0]
    total = pd.to_numeric(row.get("total_with_bonus", row.get("total")), errors="coerce")
    return {
        "total": number_text(total),
        "grade": row.get("grade", ""),
        "rank": row.get("rank", ""),
        "group_size": row.get("group_size", ""),
    }


def typed_number(text: str) -> float | None:
    """A number typed into a form (a decimal comma taken as a point): finite, else None."""
    try:
        value = float(text.strip().replace(",", "."))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def utc_text(stamp: str | None) -> str:
    """A stored time (ISO 8601, UTC) as a page shows it: `YYYY-MM-DD HH:MM UTC`."""
    return f"{stamp[:10]} {stamp[11:16]} UTC" if stamp else ""


def number_text(value) -> str:
    """A value as a form or table shows it: up to ten significant digits, '' for none."""
    return "" if value is None or pd.isna(value) else f"{float(value):.10g}"


def flex_choices(bureau: DeskBureau, station: str) -> list[dict]:
    """The indicators a station's flexible-weight application may name: those its type
    weighs and those of the pool (SPEC §4), with its type's weight and whether in the pool."""
    base = station_weights(bureau.weights, bureau.stations, None)
    own = base[base["station_id"] == station].set_index("indicator_id")["weight"]
    pool = bureau.indicators.get("pool", pd.Series(False, index=bureau.indicators.index))
    pooled = set(bureau.indicators.loc[pool.fillna(False).astype(bool), "indicator_id"])
    return [
        {
            "indicator_id": indicator,
            "weight": number_text(own.get(indicator, 0.0)),
            "pool": indicator in pooled,
        }
        for indicator in bureau.indicators["indicator_id"]
        if indicator in own.index or indicator in pooled
    ]
