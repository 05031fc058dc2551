"""The assessment office's pages (SPEC §17): the months open and closed, the flexible-weight
applications with their decision forms and each station's survey QR code; per month the
review — what each department submitted, late, missing or returned, a table per department
of indicator × station with the value, the pre-filled value and the quality flags in words —
with the forms to return a submission with a comment, to close the month (with a reason while
values are missing: refused, the missing values are listed) and to decide the month's appeals;
after closing, the run it queued and a page following it. The work is `optimizer.assessment`'s;
a refusal is shown on the page with its status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from models.errors import InputError
from optimizer.assessment import appeals as appeal_steps
from optimizer.assessment import desk
from optimizer.i18n import texts
from optimizer.serve.assessment_view import (
    Done,
    closed_months,
    department_counts,
    flex_applications,
    form_lang,
    indicator_names,
    month_submissions,
    number_text,
    open_months,
    page_bureau,
    page_form,
    problem_lines,
    recorded_months,
    text_field,
    typed_number,
    utc_text,
)
from optimizer.serve.deps import AssessedMonth, RecordId, desk_step, queue_month_run, service
from optimizer.serve.page_kit import Lang, PageRefused, form_user, page_lang, page_user, render
from optimizer.serve.roles import ASSESSOR_ROLES, LEADER_ROLES

router = APIRouter(include_in_schema=False)
FORM_BYTES = 64 * 1024  # a comment, reason or decision form
RUNNING = ("queued", "running")
REFRESH_S = 2
JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="the job's id")]
NewJob = Annotated[str | None, Query(pattern=r"^[0-9a-f]{32}$", description="a run just queued")]


OFFICE_READERS = ASSESSOR_ROLES | LEADER_ROLES  # leadership reads the office's pages


def _words(lang: str):
    return texts(lang, "serve")["assessment"]


@router.get("/assessment/office")
def office_page(request: Request, lang: Lang = None, done: Done = None) -> HTMLResponse:
    """The months to review (open, then closed), the flexible-weight applications and the
    stations' survey QR codes."""
    lang = page_lang(request, lang)
    user = page_user(request, lang, OFFICE_READERS)
    bureau = page_bureau(request, lang, user)
    url = service(request).settings.db
    closed = closed_months(url)
    months = open_months(f"{bureau.now():%Y-%m}", recorded_months(bureau.data), set(closed))
    names, indicators = bureau.names(), indicator_names(bureau, lang)
    return render(
        request,
        "assessment_office.html",
        lang,
        "assessment",
        user=user,
        title=_words(lang)["office_title"],
        months=months,
        closed=sorted(closed.values(), key=lambda c: c["month"], reverse=True),
        flex=flex_applications(url),
        names=names,
        indicators=indicators,
        done=done,
        utc_text=utc_text,
        acts=user.role in ASSESSOR_ROLES,
    )


def _review_page(
    request: Request,
    lang: str,
    user,
    month: str,
    problems: list[str] | tuple = (),
    missing: list[dict] | None = None,
    status: int = 200,
    done: str | None = None,
    job: str | None = None,
) -> HTMLResponse:
    bureau = page_bureau(request, lang, user)
    if month > f"{bureau.now():%Y-%m}":
        raise PageRefused(404, lang, user)
    url = service(request).settings.db
    review = desk.review(url, bureau, month)
    names, indicators = bureau.names(), indicator_names(bureau, lang)
    tables: dict[str, list[dict]] = {}
    for item in review["items"]:
        shown = {"value": number_text(item["value"]), "prefilled": number_text(item["prefilled"])}
        tables.setdefault(item["department"], []).append(item | shown)
    appeals = appeal_steps.appeals(url, month)
    appeals = appeals.astype(object).where(appeals.notna(), None).to_dict("records")
    return render(
        request,
        "assessment_review.html",
        lang,
        "assessment",
        status,
        user,
        title=_words(lang)["review_title"].format(month=month),
        month=month,
        review=review,
        closing=closed_months(url).get(month),
        counts=department_counts(review["items"]),
        tables=tables,
        submissions=month_submissions(url, month),
        appeals=appeals,
        names=names,
        indicators=indicators,
        problems=problems,
        missing=missing,
        done=done,
        job=job,
        number_text=number_text,
        utc_text=utc_text,
        acts=user.role in ASSESSOR_ROLES,
    )


@router.get("/assessment/office/{month}")
def review_page(
    request: Request,
    month: AssessedMonth,
    lang: Lang = None,
    done: Done = None,
    job: NewJob = None,
) -> HTMLResponse:
    """The month's review, its forms, its appeals and its bulletin (a leader reads it all,
    without the forms)."""
    lang = page_lang(request, lang)
    user = page_user(request, lang, OFFICE_READERS)
    return _review_page(request, lang, user, month, done=done, job=job)


async def _office_form(request: Request) -> tuple[dict, str, object]:
    """The posted form, its language and the assessor who sent it (CSRF checked)."""
    fields = await page_form(request, FORM_BYTES)
    lang = form_lang(request, fields)
    user = form_user(request, lang, ASSESSOR_ROLES, text_field(fields, "csrf") or None)
    return fields, lang, user


def _back(lang: str, month: str, done: str, job: str | None = None) -> RedirectResponse:
    target = f"/assessment/office/{month}?lang={lang}&done={done}"
    return RedirectResponse(target + (f"&job={job}" if job else ""), status_code=303)


@router.post("/assessment/office/{month}/return/{submission}")
async def return_form(request: Request, month: AssessedMonth, submission: RecordId) -> Response:
    """Send a submission back to its department with the comment typed."""
    fields, lang, user = await _office_form(request)
    bureau = page_bureau(request, lang, user)
    try:
        await desk_step(
            request,
            desk.return_submission,
            bureau,
            month,
            submission,
            user.name,
            text_field(fields, "comment"),
        )
    except desk.DeskRefused as exc:
        return _review_page(request, lang, user, month, problem_lines(exc), status=exc.status)
    return _back(lang, month, "returned")


@router.post("/assessment/office/{month}/close")
async def close_form(request: Request, month: AssessedMonth) -> Response:
    """Close the month: its values into `scores.csv` and its run queued; refused (409) with
    the missing values listed while some are missing and no reason is given."""
    fields, lang, user = await _office_form(request)
    bureau = page_bureau(request, lang, user)
    reason = text_field(fields, "reason")
    try:
        await desk_step(request, desk.close, bureau, month, user.name, reason)
    except desk.DeskRefused as exc:
        if isinstance(exc.detail, dict):
            missing = exc.detail.get("missing", [])
            return _review_page(request, lang, user, month, missing=missing, status=exc.status)
        return _review_page(request, lang, user, month, problem_lines(exc), status=exc.status)
    return _back(lang, month, "closed", queue_month_run(request, month, user))


@router.post("/assessment/office/{month}/appeals/{appeal}/decide")
async def decide_appeal_form(request: Request, month: AssessedMonth, appeal: RecordId) -> Response:
    """Uphold an appeal with the corrected value (`scores.csv` amended, the month's run
    queued again) or reject it, with the reason typed."""
    fields, lang, user = await _office_form(request)
    decision = text_field(fields, "decision")
    value = typed_number(text_field(fields, "value")) if decision == "upheld" else None
    words = _words(lang)
    if decision not in ("upheld", "rejected"):
        return _review_page(request, lang, user, month, [words["bad_decision"]], status=422)
    if decision == "upheld" and value is None:
        return _review_page(request, lang, user, month, [words["bad_value"]], status=422)
    try:
        changed = await desk_step(
            request,
            appeal_steps.decide_appeal,
            page_bureau(request, lang, user),
            month,
            appeal,
            user.name,
            decision,
            value,
            text_field(fields, "reason"),
        )
    except desk.DeskRefused as exc:
        return _review_page(request, lang, user, month, problem_lines(exc), status=exc.status)
    return _back(lang, month, "decided", queue_month_run(request, month, user) if changed else None)


@router.post("/assessment/office/flex/{application}/decide")
async def decide_flex_form(request: Request, application: RecordId) -> Response:
    """Approve (written to `flex_weights.csv` from its month on) or reject an application."""
    fields, lang, user = await _office_form(request)
    decision = text_field(fields, "decision")
    if decision not in ("approved", "rejected"):
        raise PageRefused(422, lang, user, key="assessment_bad_decision")
    try:
        await desk_step(
            request,
            appeal_steps.decide_flex,
            page_bureau(request, lang, user),
            application,
            user.name,
            decision,
            text_field(fields, "reason"),
        )
    except (desk.DeskRefused, InputError) as exc:
        status = exc.status if isinstance(exc, desk.DeskRefused) else 422
        return render(
            request,
            "message.html",
            lang,
            "assessment",
            status,
            user,
            title=_words(lang)["office_title"],
            message="; ".join(problem_lines(exc)),
            link=f"/assessment/office?lang={lang}",
            link_text=_words(lang)["office_title"],
        )
    return RedirectResponse(f"/assessment/office?lang={lang}&done=decided", status_code=303)


@router.get("/assessment/jobs/{job}")
def job_page(request: Request, job: JobId, lang: Lang = None) -> HTMLResponse:
    """The state of a run the office queued, refreshing itself while it waits or runs."""
    lang = page_lang(request, lang)
    user = page_user(request, lang, ASSESSOR_ROLES)
    jobs = service(request).jobs
    found = jobs.get(job) if jobs is not None else None
    if found is None:
        raise PageRefused(404, lang, user)
    return render(
        request,
        "assessment_job.html",
        lang,
        "assessment",
        user=user,
        title=_words(lang)["job_title"],
        job=found,
        refresh=REFRESH_S if found["state"] in RUNNING else None,
    )
