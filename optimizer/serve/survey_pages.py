"""The public survey of `patrolopt serve` (SPEC §17): `GET /survey/{code}`, the page a
station's printed QR code opens (no account; in the desk's language or `?lang=`), `POST
/survey/{code}` its answer, and `GET /api/stations/{id}/survey-qr` the QR code (assessors).

With no session to hold a CSRF token, the page's form carries a token signed for the survey
and the device cookie, and a browser's post from another site is refused (403), as the desk's
other forms are. A client that is no browser (no `Origin`, no `Sec-Fetch-Site`) may post
without the token: no other site can make it send anything. The device cookie is signed,
HttpOnly and SameSite=Lax. The work is `optimizer/assessment/survey.py`; this router imports
`deps` and `page_kit`, never another router."""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path as FilePath
from typing import Annotated, Literal

import segno
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from optimizer.assessment.survey import (
    COMMENT_CHARS,
    Answer,
    AnswerRefused,
    SurveySetup,
    address_digest,
    answered_this_month,
    checked_fields,
    desk_secret,
    device_cookie,
    device_of,
    form_token,
    form_token_ok,
    new_device_cookie,
    station_of_code,
    submit_answer,
    survey_code,
    survey_setup,
)
from optimizer.i18n import LANGUAGES, texts
from optimizer.serve.deps import StationId, require, service
from optimizer.serve.page_kit import Lang, foreign_origin, from_browser, page_lang, render
from optimizer.serve.roles import ASSESSOR_ROLES
from optimizer.serve.scenario_form import bureau_choices
from optimizer.serve.users import User

router = APIRouter()
COOKIE = "patrolopt_survey"  # the device's signed id
COOKIE_LIFETIME = timedelta(days=400)  # the longest browsers keep a cookie
MAX_BODY = 16 * 1024  # bytes of an answer's form: a 500-character comment fits thrice
Code = Annotated[str, Path(max_length=64, description="a station's survey code")]
QR_TYPES = {"svg": "image/svg+xml", "png": "image/png"}
QR_SCALE = 8  # pixels per module of the QR code
QR_BORDER = 4  # modules of quiet zone around it


def clock() -> datetime:
    """The moment of the request (UTC)."""
    return datetime.now(UTC)


Now = Annotated[datetime, Depends(clock)]


@dataclass(frozen=True)
class Desk:
    """What the survey reads: the desk's secret, the bureau's stations (id → name) and its
    survey setup (None without a data folder, where no station is known)."""

    secret: bytes
    stations: Mapping[str, str]
    setup: SurveySetup | None


@functools.lru_cache(maxsize=8)
def _secret(out: FilePath) -> bytes:
    return desk_secret(out)


def _desk(request: Request) -> Desk:
    settings = service(request).settings
    if settings.data is None:
        return Desk(_secret(settings.out), {}, None)
    stations = bureau_choices(settings.data).stations
    return Desk(_secret(settings.out), stations, survey_setup(settings.data))


def _note(
    request: Request, lang: str, key: str, status: int, retry_after: int | None = None
) -> HTMLResponse:
    """A page of one sentence of the survey's words (`key`)."""
    s = texts(lang, "survey")
    message = s[key].format(chars=COMMENT_CHARS)
    response = render(
        request, "message.html", lang, "runs_title", status, title=s["title"], message=message
    )
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _form_page(
    request: Request,
    lang: str,
    desk: Desk,
    station: str,
    code: str,
    token: str,
    problem: str | None = None,
    status: int = 200,
    comment: str = "",
) -> HTMLResponse:
    """The survey's form (again, with its `problem` and the visitor's `comment`, after a bad
    answer)."""
    s = texts(lang, "survey")
    indicators = desk.setup.indicators if desk.setup is not None else None
    names = []
    if indicators is not None:
        for row in indicators.to_dict("records"):
            zh = str(row.get("name_zh") or "").strip() if lang == "zh" else ""
            names.append(zh or str(row.get("name") or row["indicator_id"]))
    return render(
        request,
        "survey.html",
        lang,
        "runs_title",
        status,
        title=s["title"],
        s=s,
        station_name=desk.stations.get(station, station),
        code=code,
        token=token,
        indicators=names,
        problem=s[problem].format(chars=COMMENT_CHARS) if problem else None,
        comment_chars=COMMENT_CHARS,
        comment=comment,
    )


def _device(request: Request, secret: bytes) -> tuple[str, str | None]:
    """The device of the request's cookie, or a new one with the cookie to set."""
    device = device_of(secret, request.cookies.get(COOKIE))
    if device is not None:
        return device, None
    cookie = device_cookie(secret, new_device_cookie())
    return str(device_of(secret, cookie)), cookie


def _with_cookie(response: Response, request: Request, cookie: str | None) -> Response:
    if cookie is not None:
        response.set_cookie(
            COOKIE,
            cookie,
            max_age=int(COOKIE_LIFETIME.total_seconds()),
            path="/survey",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return response


@router.get("/survey/{code}", include_in_schema=False)
def survey_page(request: Request, code: Code, now: Now, lang: Lang = None) -> Response:
    """A station's survey: overall satisfaction 1–5 and an optional comment, naming the
    indicators the answer counts toward; a thank-you where this device answered this month."""
    lang = page_lang(request, lang)
    desk = _desk(request)
    station = station_of_code(desk.secret, code, desk.stations)
    if station is None or desk.setup is None:
        return _note(request, lang, "unknown", 404)
    device, cookie = _device(request, desk.secret)
    settings = service(request).settings
    if cookie is None and answered_this_month(settings.db, device, now, desk.setup.timezone):
        return _note(request, lang, "already_answered", 200)
    token = form_token(desk.secret, code, device, now)
    return _with_cookie(_form_page(request, lang, desk, station, code, token), request, cookie)


async def _form(request: Request) -> FormData:
    """The posted form, read only up to `MAX_BODY` bytes (413 beyond); 422 for a form that
    cannot be read (a file in it, say)."""
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > MAX_BODY:
        raise AnswerRefused(413, "form_too_large")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise AnswerRefused(413, "form_too_large")

    async def replay() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        return await Request(request.scope, replay).form(max_files=0, max_fields=20)
    except StarletteHTTPException:
        raise AnswerRefused(422, "bad_form") from None


@router.post("/survey/{code}", include_in_schema=False)
async def answer_survey(request: Request, code: Code, now: Now, lang: Lang = None) -> Response:
    """Store an answer (form fields `satisfaction` 1–5, `comment` optional) and thank the
    visitor; 404 for an unknown code, 403 for a form from elsewhere or expired, 409 for a
    second answer from the device this month, 429 (with Retry-After) for a flood from its
    address, 413 for an oversize field, 422 (the form again) for a bad one."""
    lang = page_lang(request, lang)
    desk = _desk(request)
    station = station_of_code(desk.secret, code, desk.stations)
    if station is None or desk.setup is None:
        return _note(request, lang, "unknown", 404)
    if foreign_origin(request):
        return _note(request, lang, "expired", 403)
    try:
        form = await _form(request)
    except AnswerRefused as exc:
        return _note(request, lang, exc.key, exc.status)
    sent_lang = form.get("lang")
    lang = sent_lang if sent_lang in LANGUAGES else lang
    token = form.get("csrf")
    if from_browser(request) or token is not None:
        known = device_of(desk.secret, request.cookies.get(COOKIE))
        if not (known and isinstance(token, str)) or not form_token_ok(
            desk.secret, token, code, known, now
        ):
            return _note(request, lang, "expired", 403)
    device, cookie = _device(request, desk.secret)
    settings = service(request).settings
    try:
        satisfaction, comment = checked_fields(
            *(str(form.get(name) or "") for name in ("satisfaction", "comment"))
        )
        host = request.client.host if request.client else ""
        answer = Answer(station, satisfaction, comment, device, address_digest(desk.secret, host))
        await run_in_threadpool(
            submit_answer, settings.db, settings.out, answer, now, desk.setup.timezone
        )
    except AnswerRefused as exc:
        if exc.status == 422:
            token = form_token(desk.secret, code, device, now)
            sent = str(form.get("comment") or "")[:COMMENT_CHARS]
            page = _form_page(request, lang, desk, station, code, token, exc.key, exc.status, sent)
        else:
            page = _note(request, lang, exc.key, exc.status, exc.retry_after)
        return _with_cookie(page, request, cookie)
    return _with_cookie(_note(request, lang, "thanks", 200), request, cookie)


def qr_image(url: str, kind: Literal["svg", "png"]) -> bytes:
    """The QR code of `url` as an SVG or PNG image (`QR_SCALE` pixels a module)."""
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind=kind, scale=QR_SCALE, border=QR_BORDER)
    return buffer.getvalue()


@router.get(
    "/api/stations/{station}/survey-qr",
    response_class=Response,
    responses={
        200: {
            "content": {media: {} for media in QR_TYPES.values()},
            "description": "the QR code of the station's survey page",
        },
        401: {"description": "no valid token"},
        403: {"description": "outside the role's rights"},
        404: {"description": "no such station"},
    },
)
def survey_qr(
    request: Request,
    station: StationId,
    _user: Annotated[User, Depends(require(ASSESSOR_ROLES))],
    format: Annotated[  # noqa: A002 - the query parameter's name
        Literal["svg", "png"], Query(description="svg or png")
    ] = "svg",
) -> Response:
    """The QR code a station prints (assessors): it encodes the absolute URL of the station's
    survey page."""
    desk = _desk(request)
    if station not in desk.stations:
        raise HTTPException(404, "no such station in the bureau's data")
    url = str(request.url_for("survey_page", code=survey_code(desk.secret, station)))
    return Response(qr_image(url, format), media_type=QR_TYPES[format])
