"""The assessment desk's JSON API (SPEC §17): departments submit the month's indicator values,
the assessment office reviews, returns and closes the month (which writes `scores.csv` and
queues the month's run), stations appeal and apply for flexible weights, the office decides.
The work is done by `optimizer.assessment`; this module reads requests and shapes answers."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError

from optimizer.assessment import appeals as appeal_steps
from optimizer.assessment import desk
from optimizer.assessment.bulletin import REPORT_COLUMNS, NoBulletin, bulletin_docx, bulletin_html
from optimizer.assessment.bulletin import bulletin as make_bulletin
from optimizer.assessment.bureau import DeskBureau, desk_bureau
from optimizer.assessment.uploads import MAX_UPLOAD_BYTES, rows_table, uploaded_table
from optimizer.serve.deps import (
    AssessedMonth,
    Language,
    RecordId,
    desk_step,
    queue_month_run,
    require,
    service,
)
from optimizer.serve.forms import read_body as _body
from optimizer.serve.forms import read_form as _form
from optimizer.serve.roles import ASSESSOR_ROLES, DEPARTMENT_ROLES, REVIEW_ROLES
from optimizer.serve.users import User

router = APIRouter(tags=["assessment"])
Text = Annotated[str, Field(min_length=1, max_length=1000, pattern=r"\S")]  # not blank
APPEAL_READERS = {"assessor", "leader", "station"}
ATTACHMENT_MEDIA = sorted(set(appeal_steps.ATTACHMENT_TYPES.values()))


class Detail(BaseModel):
    detail: str | list | dict


ERRORS = {
    400: {"model": Detail, "description": "a body that cannot be read"},
    401: {"model": Detail, "description": "no valid token"},
    403: {"model": Detail, "description": "outside the role's rights"},
    404: {"model": Detail, "description": "no such submission, appeal or application"},
    409: {"model": Detail, "description": "the month's state forbids it, or no --data"},
    422: {"model": Detail, "description": "the problems, by row and column"},
}


Cell = Annotated[str, Field(max_length=200)] | float | None  # a number is read as its text


class SubmittedRow(BaseModel):
    station_id: Cell = None
    indicator_id: Cell = None
    value: Cell = None
    note: Annotated[str, Field(max_length=4000)] | None = None


class SubmittedRows(BaseModel):
    rows: list[SubmittedRow] = Field(max_length=200_000)


class Receipt(BaseModel):
    id: str
    rows: int
    late: bool


class ReturnBody(BaseModel):
    comment: Text


class CloseBody(BaseModel):
    reason: Text | None = None


class JobRef(BaseModel):
    job: str | None = None


class AppealRef(BaseModel):
    id: str


class Decision(BaseModel):
    decision: Literal["upheld", "rejected"]
    value: float | None = Field(None, ge=0, allow_inf_nan=False)
    reason: Text


class FlexRow(BaseModel):
    indicator_id: str = Field(max_length=200)
    weight: float = Field(ge=0, allow_inf_nan=False)


class FlexBody(BaseModel):
    rows: list[FlexRow] = Field(min_length=1, max_length=appeal_steps.MAX_FLEX_ROWS)


class FlexDecision(BaseModel):
    decision: Literal["approved", "rejected"]
    reason: Text


SUBMISSION_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "rows": {
                        "type": "array",
                        "maxItems": 200_000,
                        "items": {
                            "type": "object",
                            "properties": {
                                "station_id": {"type": "string", "maxLength": 200},
                                "indicator_id": {"type": "string", "maxLength": 200},
                                "value": {"type": ["number", "string", "null"]},
                                "note": {"type": ["string", "null"], "maxLength": 4000},
                            },
                        },
                    }
                },
                "required": ["rows"],
            }
        },
    },
}
APPEAL_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "indicator_id": {"type": "string", "maxLength": 200},
                    "reason": {"type": "string", "maxLength": 1000},
                    "attachment": {"type": "string", "format": "binary"},
                },
                "required": ["indicator_id", "reason"],
            }
        }
    },
}


def bureau_of(request: Request) -> DeskBureau:
    """The data folder as the desk reads it; 409 when the service has none."""
    data = service(request).settings.data
    if data is None:
        raise HTTPException(409, "the service was started without --data: no assessment desk")
    return desk_bureau(data, service(request).settings.out)


def _refused(exc: desk.DeskRefused) -> HTTPException:
    return HTTPException(exc.status, exc.detail)


def _json(body: bytes, model: type[BaseModel]):
    try:
        return model.model_validate_json(body or b"{}")
    except ValidationError as exc:
        errors = [{"loc": list(e.get("loc", ())), "msg": e["msg"]} for e in exc.errors()]
        raise HTTPException(422, errors) from None


# the flexible-weight routes first: `/api/assessment/flex` must not be taken for a month
@router.api_route(
    "/api/assessment/flex",
    methods=["GET", "PUT", "PATCH", "DELETE", "OPTIONS"],
    include_in_schema=False,
)
def flex_other_methods() -> Response:
    """Applications are POSTed: any other method gets 405, not the month route's 422."""
    return Response(status_code=405, headers={"Allow": "POST"})


@router.post("/api/assessment/flex", status_code=201, responses=ERRORS)
def file_flex(
    request: Request, body: FlexBody, user: Annotated[User, Depends(require({"station"}))]
) -> JSONResponse:
    """A station's application for flexible weights, checked against §4's rules."""
    settings = service(request).settings
    rows = [row.model_dump() for row in body.rows]
    try:
        application = appeal_steps.file_flex(
            settings.db, settings.out, bureau_of(request), user.station, user.name, rows
        )
    except desk.DeskRefused as exc:
        raise _refused(exc) from None
    return JSONResponse({"id": application}, status_code=201)


@router.post("/api/assessment/flex/{application}/decide", responses=ERRORS)
def decide_flex(
    request: Request,
    application: RecordId,
    body: FlexDecision,
    user: Annotated[User, Depends(require(ASSESSOR_ROLES))],
) -> AppealRef:
    """Approve (written to `flex_weights.csv` from its month on) or reject an application."""
    settings = service(request).settings
    try:
        appeal_steps.decide_flex(
            settings.db,
            settings.out,
            bureau_of(request),
            application,
            user.name,
            body.decision,
            body.reason,
        )
    except desk.DeskRefused as exc:
        raise _refused(exc) from None
    return AppealRef(id=application)


@router.post(
    "/api/assessment/{month}/submissions",
    status_code=201,
    responses={**ERRORS, 413: {"model": Detail}},
    openapi_extra={"requestBody": SUBMISSION_BODY},
)
async def submit(
    request: Request,
    month: AssessedMonth,
    user: Annotated[User, Depends(require(DEPARTMENT_ROLES))],
) -> Receipt:
    """A department's values for `month`: a CSV or XLSX upload (field `file`) or JSON rows,
    checked as `scores.csv` is; 422 naming each problem by row and column, nothing stored."""
    bureau = bureau_of(request)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        upload = (await _form(request, MAX_UPLOAD_BYTES)).get("file")
        if not isinstance(upload, tuple):
            raise HTTPException(422, "the form needs the file in field `file`")
        table, source = await asyncio.to_thread(uploaded_table, *upload)
    elif kind == "application/json":
        rows = _json(await _body(request, MAX_UPLOAD_BYTES), SubmittedRows).rows
        table, source = rows_table([r.model_dump(exclude_unset=True) for r in rows]), "json"
    else:
        raise HTTPException(415, "send multipart/form-data with `file`, or JSON `{rows: [...]}`")
    try:
        receipt = await desk_step(
            request,
            desk.submit,
            bureau,
            month,
            user.department,
            user.name,
            table,
            source,
        )
    except desk.DeskRefused as exc:
        raise _refused(exc) from None
    return JSONResponse(receipt.__dict__, status_code=201)


@router.get("/api/assessment/{month}", responses=ERRORS)
def review(
    request: Request, month: AssessedMonth, user: Annotated[User, Depends(require(REVIEW_ROLES))]
) -> JSONResponse:
    """The month's review: per department, indicator and station what is submitted, late,
    missing or returned, with the pre-filled value and the quality flags (a department sees
    its own)."""
    bureau = bureau_of(request)
    found = desk.review(service(request).settings.db, bureau, month)
    if user.role == "department":
        found["items"] = [i for i in found["items"] if i["department"] == user.department]
    return JSONResponse(found)


@router.post("/api/assessment/{month}/submissions/{submission}/return", responses=ERRORS)
def return_submission(
    request: Request,
    month: AssessedMonth,
    submission: RecordId,
    body: ReturnBody,
    user: Annotated[User, Depends(require(ASSESSOR_ROLES))],
) -> AppealRef:
    """Send a submission back to its department with a comment (its values count as
    missing until submitted again)."""
    settings = service(request).settings
    try:
        bureau = bureau_of(request)
        desk.return_submission(
            settings.db, settings.out, bureau, month, submission, user.name, body.comment
        )
    except desk.DeskRefused as exc:
        raise _refused(exc) from None
    return AppealRef(id=submission)


@router.post(
    "/api/assessment/{month}/close",
    status_code=202,
    responses={**ERRORS, 409: {"description": "values missing: `missing` lists them"}},
)
async def close(
    request: Request,
    month: AssessedMonth,
    user: Annotated[User, Depends(require(ASSESSOR_ROLES))],
) -> JobRef:
    """Close `month`: refused (409 with `missing`) while values are missing unless `reason`
    is given; writes the month to `scores.csv` and queues its run (the plan for the month
    after)."""
    body = _json(await _body(request, 64 * 1024), CloseBody)
    bureau = bureau_of(request)
    try:
        await desk_step(request, desk.close, bureau, month, user.name, body.reason)
    except desk.DeskRefused as exc:
        if isinstance(exc.detail, dict):
            return JSONResponse(
                {"detail": "values are missing: close with a reason, or wait", **exc.detail},
                status_code=409,
            )
        raise _refused(exc) from None
    return JSONResponse({"job": queue_month_run(request, month, user)}, status_code=202)


@router.post(
    "/api/assessment/{month}/appeals",
    status_code=201,
    responses={**ERRORS, 413: {"model": Detail}, 415: {"model": Detail}},
    openapi_extra={"requestBody": APPEAL_BODY},
)
async def file_appeal(
    request: Request, month: AssessedMonth, user: Annotated[User, Depends(require({"station"}))]
) -> AppealRef:
    """A station's appeal against one of its values of a closed month, within `appeal_days`:
    `indicator_id`, `reason`, optional `attachment` (PDF, PNG or JPEG, ≤ 5 MB)."""
    fields = await _form(request, appeal_steps.MAX_ATTACHMENT_BYTES)
    indicator, reason = fields.get("indicator_id"), fields.get("reason")
    if not isinstance(indicator, str) or not isinstance(reason, str):
        raise HTTPException(422, "the form needs `indicator_id` and `reason`")
    attachment = fields.get("attachment")
    if not isinstance(attachment, tuple) or not attachment[1]:
        attachment = None
    try:
        appeal = await desk_step(
            request,
            appeal_steps.file_appeal,
            bureau_of(request),
            month,
            user.station,
            user.name,
            indicator.strip(),
            reason,
            attachment,
        )
    except desk.DeskRefused as exc:
        raise _refused(exc) from None
    return JSONResponse({"id": appeal}, status_code=201)


@router.api_route(
    "/api/assessment/{month}/appeals",
    methods=["PUT", "PATCH", "DELETE", "OPTIONS"],
    include_in_schema=False,
)
def appeals_other_methods() -> Response:
    """The appeals path takes GET and POST: any other method gets 405 naming both."""
    return Response(status_code=405, headers={"Allow": "GET, POST"})


@router.get("/api/assessment/{month}/appeals", responses=ERRORS)
def list_appeals(
    request: Request, month: AssessedMonth, user: Annotated[User, Depends(require(APPEAL_READERS))]
) -> JSONResponse:
    """The month's appeals and their decisions (a station sees its own)."""
    station = user.station if user.role == "station" else None
    rows = appeal_steps.appeals(service(request).settings.db, month, station)
    return JSONResponse(json.loads(rows.to_json(orient="records", force_ascii=False)))


@router.get(
    "/api/assessment/{month}/appeals/{appeal}/attachment",
    responses={**ERRORS, 200: {"content": {m: {} for m in ATTACHMENT_MEDIA}}},
    response_class=Response,
)
def appeal_attachment(
    request: Request,
    month: AssessedMonth,
    appeal: RecordId,
    user: Annotated[User, Depends(require(APPEAL_READERS))],
) -> Response:
    """An appeal's attachment, as filed (the office, leadership, the appealing station)."""
    try:
        name, media, body, station = appeal_steps.appeal_attachment(
            service(request).settings.db, month, appeal
        )
    except desk.DeskRefused as exc:
        raise _refused(exc) from None
    if user.role == "station" and station != user.station:
        raise HTTPException(404, f"no attachment of an appeal {appeal} on month {month}")
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:100] or "attachment"
    headers = {
        "Content-Disposition": f'attachment; filename="{safe}"',
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    return Response(body, media_type=media, headers=headers)


@router.post("/api/assessment/{month}/appeals/{appeal}/decide", responses=ERRORS)
def decide_appeal(
    request: Request,
    month: AssessedMonth,
    appeal: RecordId,
    body: Decision,
    user: Annotated[User, Depends(require(ASSESSOR_ROLES))],
) -> JobRef:
    """Uphold an appeal with the corrected value (`scores.csv` amended, the month's run
    queued again) or reject it, with a reason."""
    settings = service(request).settings
    try:
        changed = appeal_steps.decide_appeal(
            settings.db,
            settings.out,
            bureau_of(request),
            month,
            appeal,
            user.name,
            body.decision,
            body.value,
            body.reason,
        )
    except desk.DeskRefused as exc:
        raise _refused(exc) from None
    return JobRef(job=queue_month_run(request, month, user) if changed else None)


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
BULLETIN_READERS = {"assessor", "leader", "station"}
# the bulletin page: its own inline styles, nothing else loaded or run
BULLETIN_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'; sandbox"
)


@router.get(
    "/api/assessment/{month}/bulletin",
    responses={
        **ERRORS,
        200: {"content": {DOCX: {}, "text/html": {}}, "description": "the bulletin"},
    },
    response_class=Response,
)
def bulletin(
    request: Request,
    month: AssessedMonth,
    user: Annotated[User, Depends(require(BULLETIN_READERS))],
    format: Literal["html", "docx"] = "html",  # noqa: A002 - the query parameter's name
    lang: Language | None = None,
) -> Response:
    """The month's bulletin from its plan and review, as a page or as DOCX for
    circulation; a station gets its own."""
    state = service(request)
    settings = state.settings
    items = desk.review(settings.db, bureau_of(request), month)["items"]
    reports = pd.DataFrame(items, columns=list(REPORT_COLUMNS))
    station = user.station if user.role == "station" else None
    try:
        found = make_bulletin(settings.out, month, reports, lang or settings.lang, station)
    except NoBulletin as exc:
        raise HTTPException(404, str(exc)) from None
    if format == "docx":
        name = f"bulletin-{month}{'-' + station if station else ''}.docx"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        return Response(bulletin_docx(found), media_type=DOCX, headers=headers)
    response = HTMLResponse(bulletin_html(found))
    response.headers["Content-Security-Policy"] = BULLETIN_CSP
    return response
