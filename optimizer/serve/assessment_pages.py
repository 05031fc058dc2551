"""The assessment desk's pages for a business department (SPEC §17), and the desk's entrance
for every role of it: `/assessment` leads a department to its months, the assessment office to
its review (`office_pages`) and a station to its results (`appeal_pages`).

A department sees the months open for reporting and, per month, its own indicators × stations:
the values pre-filled from the cases, tracks and calls, an input for each value and note, the
status of each (submitted, late, returned with the office's comment, missing) and the deadline;
or it uploads a CSV or XLSX file. The desk checks what is sent (`desk.submit`); its problems
are shown by row beside the form, which keeps what was typed."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from models.errors import InputError
from models.submissions import report_deadline
from optimizer.assessment import desk
from optimizer.assessment.bureau import DeskBureau
from optimizer.assessment.uploads import MAX_UPLOAD_BYTES, rows_table, uploaded_table
from optimizer.i18n import texts
from optimizer.serve.assessment_view import (
    MAX_FORM_ROWS,
    Done,
    closed_months,
    form_lang,
    form_rows,
    indicator_names,
    month_submissions,
    number_text,
    open_months,
    page_bureau,
    page_form,
    problem_lines,
    problems_by_row,
    recorded_months,
    sent_rows,
    text_field,
)
from optimizer.serve.deps import AssessedMonth, desk_step, service
from optimizer.serve.page_kit import Lang, PageRefused, form_user, page_lang, page_user, render
from optimizer.serve.roles import ASSESSOR_ROLES, DEPARTMENT_ROLES, LEADER_ROLES

router = APIRouter(include_in_schema=False)
HOMES = {"department": "/assessment/submit", "station": "/assessment/station"}
HOMES |= dict.fromkeys(ASSESSOR_ROLES | LEADER_ROLES, "/assessment/office")
DESK_ROLES = set(HOMES)  # the roles with pages on the desk


@router.get("/assessment")
def desk_home(request: Request, lang: Lang = None) -> RedirectResponse:
    """The desk's page of the signed-in role."""
    lang = page_lang(request, lang)
    user = page_user(request, lang, DESK_ROLES)
    return RedirectResponse(f"{HOMES[user.role]}?lang={lang}", status_code=303)


@router.get("/assessment/submit")
def months_page(request: Request, lang: Lang = None) -> HTMLResponse:
    """The months the department may still report, with their deadlines."""
    lang = page_lang(request, lang)
    user = page_user(request, lang, DEPARTMENT_ROLES)
    bureau = page_bureau(request, lang, user)
    closed = closed_months(service(request).settings.db)
    months = open_months(f"{bureau.now():%Y-%m}", recorded_months(bureau.data), set(closed))
    deadline_day = bureau.config.scoring.report_deadline_day
    return render(
        request,
        "assessment_months.html",
        lang,
        "assessment",
        user=user,
        title=texts(lang, "serve")["assessment"]["months_title"],
        months=[
            {"month": m, "deadline": report_deadline(m, deadline_day).isoformat()} for m in months
        ],
    )


def _submission_page(
    request: Request,
    lang: str,
    user,
    month: str,
    typed: dict | None = None,
    row_problems: dict | None = None,
    problems: list[str] | tuple = (),
    status: int = 200,
    done: str | None = None,
) -> HTMLResponse:
    """The department's page of `month`: its items with what was typed (`typed`, by station
    and indicator: value, note) over the values held, and the problems of a refused send."""
    bureau = page_bureau(request, lang, user)
    url = service(request).settings.db
    review = desk.review(url, bureau, month)
    comments = {
        s["id"]: s["return_comment"]
        for s in month_submissions(url, month, user.department)
        if s["returned_at"] is not None
    }
    names, indicators = bureau.names(), indicator_names(bureau, lang)
    typed, row_problems = typed or {}, row_problems or {}
    rows = []
    for item in review["items"]:
        if item["department"] != user.department:
            continue
        key = (item["station_id"], item["indicator_id"])
        held = item["value"] if item["status"] != "missing" else item["prefilled"]
        value, note = typed.get(key, (number_text(held), item["note"] or ""))
        rows.append(
            {
                **item,
                "station_name": names.get(item["station_id"], ""),
                "indicator_name": indicators.get(item["indicator_id"], ""),
                "prefilled": number_text(item["prefilled"]),
                "input": value,
                "note": note,
                "comment": comments.get(item["submission_id"]),
                "problems": row_problems.get(key, []),
            }
        )
    shown = {(row["station_id"], row["indicator_id"]) for row in rows}
    elsewhere = [  # rows typed for a station or indicator the page does not list
        f"{station} {indicator}: {line}"
        for (station, indicator), lines in row_problems.items()
        if (station, indicator) not in shown
        for line in lines
    ]
    return render(
        request,
        "assessment_submit.html",
        lang,
        "assessment",
        status,
        user,
        title=texts(lang, "serve")["assessment"]["month_title"].format(month=month),
        month=month,
        review=review,
        late=f"{bureau.now():%Y-%m-%d}" > review["deadline"],
        rows=rows,
        problems=[*problems, *elsewhere],
        done=done,
    )


def _month_shown(request: Request, lang: str, user, month: str) -> DeskBureau:
    """The desk's bureau; 404 for a month that has not begun."""
    bureau = page_bureau(request, lang, user)
    if month > f"{bureau.now():%Y-%m}":
        raise PageRefused(404, lang, user)
    return bureau


@router.get("/assessment/submit/{month}")
def submission_page(
    request: Request, month: AssessedMonth, lang: Lang = None, done: Done = None
) -> HTMLResponse:
    """The department's indicators × stations of `month`, pre-filled, with their statuses."""
    lang = page_lang(request, lang)
    user = page_user(request, lang, DEPARTMENT_ROLES)
    _month_shown(request, lang, user, month)
    return _submission_page(request, lang, user, month, done=done)


def _sent(lang: str, month: str) -> RedirectResponse:
    return RedirectResponse(
        f"/assessment/submit/{month}?lang={lang}&done=submitted", status_code=303
    )


async def _submit(request: Request, user, bureau: DeskBureau, month: str, table, source) -> None:
    await desk_step(
        request,
        desk.submit,
        bureau,
        month,
        user.department,
        user.name,
        table,
        source,
    )


@router.post("/assessment/submit/{month}")
async def send_values(request: Request, month: AssessedMonth) -> Response:
    """The values typed into the form, checked by the desk; the page again with each problem
    beside its row (422, or the desk's status) and nothing stored when refused."""
    fields = await page_form(request, MAX_UPLOAD_BYTES, 4 * MAX_FORM_ROWS + 10)
    lang = form_lang(request, fields)
    user = form_user(request, lang, DEPARTMENT_ROLES, text_field(fields, "csrf") or None)
    bureau = _month_shown(request, lang, user, month)
    typed = {
        (r["station_id"], r["indicator_id"]): (r["value"], r["note"]) for r in form_rows(fields)
    }
    rows = sent_rows(form_rows(fields))
    if not rows:
        problems = [texts(lang, "serve")["assessment"]["no_rows"]]
        return _submission_page(request, lang, user, month, problems=problems, status=422)
    try:
        await _submit(request, user, bureau, month, rows_table(rows), "form")
    except InputError as exc:
        by_row, others = problems_by_row(list(exc.problems), rows)
        return _submission_page(request, lang, user, month, typed, by_row, others, 422)
    except desk.DeskRefused as exc:
        lines = problem_lines(exc)
        return _submission_page(request, lang, user, month, typed, None, lines, exc.status)
    return _sent(lang, month)


@router.post("/assessment/submit/{month}/upload")
async def upload_values(request: Request, month: AssessedMonth) -> Response:
    """A CSV or XLSX file of values, checked by the desk as `scores.csv` is; its problems by
    file, row and column when refused."""
    fields = await page_form(request, MAX_UPLOAD_BYTES)
    lang = form_lang(request, fields)
    user = form_user(request, lang, DEPARTMENT_ROLES, text_field(fields, "csrf") or None)
    bureau = _month_shown(request, lang, user, month)
    upload = fields.get("file")
    if not isinstance(upload, tuple) or not upload[1]:
        problems = [texts(lang, "serve")["assessment"]["no_file"]]
        return _submission_page(request, lang, user, month, problems=problems, status=422)
    try:
        table, source = await asyncio.to_thread(uploaded_table, *upload)
        await _submit(request, user, bureau, month, table, source)
    except (InputError, desk.DeskRefused) as exc:
        status = exc.status if isinstance(exc, desk.DeskRefused) else 422
        lines = problem_lines(exc)
        return _submission_page(request, lang, user, month, problems=lines, status=status)
    return _sent(lang, month)
