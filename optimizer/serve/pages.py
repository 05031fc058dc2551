"""The service's pages (SPEC §14): a login form, the runs, and each run's map and report and
comparisons, its missions and their printable sheets (SPEC §16), served offline like the files.

Pages are signed in by a `Secure; HttpOnly; SameSite=Strict` cookie holding the same signed token
as the API. The login and logout forms carry a per-browser CSRF token that must equal their
cookie, and a cross-site `Origin` or `Sec-Fetch-Site` is refused; the cookie is taken for GET
and HEAD only, so no other site can make a signed-in browser change anything. Every page has a
Content-Security-Policy: the service's own pages run no script at all and allow only their
nonce'd stylesheet; a plan's map and report run only the inline scripts they were written with
(by hash), in a sandbox without the service's origin, with no connection but the basemap's
tiles."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlencode, urlparse

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from models.errors import InputError
from optimizer.i18n import LANGUAGES, texts
from optimizer.mission_files import Missions
from optimizer.report import render_report
from optimizer.serve.auth import COOKIE
from optimizer.serve.deps import (
    Day,
    Language,
    Month,
    Runs,
    ScenarioName,
    StationId,
    compared_folders,
    request_user,
    service,
    sign_in,
)
from optimizer.serve.roles import (
    LEADER_ROLES,
    MAP_ROLES,
    MISSION_ROLES,
    TABLE_ROLES,
    WORKBOOK_ROLES,
)
from optimizer.serve.runs import list_runs, run_folder, run_missions
from optimizer.serve.users import User
from optimizer.sheets import sheet_page

router = APIRouter(include_in_schema=False)
CSRF_COOKIE = "patrolopt_csrf"
Lang = Annotated[Language | None, Query()]
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


def own_csp(nonce: str) -> str:
    return (
        f"default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


def _lang(request: Request, lang: str | None) -> str:
    return lang or service(request).settings.lang


def render(
    request: Request,
    template: str,
    lang: str,
    title_key: str,
    status: int = 200,
    user: User | None = None,
    **context,
) -> HTMLResponse:
    """A page of the service with its nonce'd stylesheet, the session's CSRF token and CSP."""
    nonce = secrets.token_urlsafe(16)
    csrf = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    t = texts(lang, "serve")

    def lang_query(code: str) -> str:
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
        return urlencode([*params, ("lang", code)])

    body = TEMPLATES.get_template(template).render(
        t=t,
        lang=lang,
        title=t[title_key],
        nonce=nonce,
        csrf=csrf,
        user=user,
        languages=[(code, texts(code, "serve")["language"]) for code in LANGUAGES],
        lang_query=lang_query,
        **context,
    )
    response = HTMLResponse(body, status_code=status)
    response.headers["Content-Security-Policy"] = own_csp(nonce)
    if CSRF_COOKIE not in request.cookies:
        response.set_cookie(CSRF_COOKIE, csrf, httponly=True, secure=True, samesite="strict")
    return response


def message(request: Request, lang: str, key: str, status: int, user=None) -> HTMLResponse:
    t = texts(lang, "serve")
    link = link_text = None
    if status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        link, link_text = "/login?" + urlencode({"next": target, "lang": lang}), t["login"]
    return render(
        request,
        "message.html",
        lang,
        "runs_title",
        status,
        user,
        message=t[key],
        link=link,
        link_text=link_text,
    )


class PageRefused(Exception):
    """A page asked for without a session (401) or outside the role's rights (403)."""

    def __init__(self, status: int, lang: str, user: User | None = None) -> None:
        super().__init__(status)
        self.status, self.lang, self.user = status, lang, user


def page_user(request: Request, lang: str, roles: set[str] | None = None) -> User:
    """The user of the session cookie, or of a bearer token sent as for the API."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    user = request_user(request, token if scheme.lower() == "bearer" and token else None)
    if user is None:
        raise PageRefused(401, lang)
    if roles is not None and user.role not in roles:
        raise PageRefused(403, lang, user)
    return user


def refused(request: Request, exc: PageRefused) -> HTMLResponse:
    key = {401: "signin_needed", 403: "forbidden"}.get(exc.status, "not_found")
    return message(request, exc.lang, key, exc.status, exc.user)


def safe_next(target: str) -> str:
    """Only a path of this service: no scheme, host or `//` that would leave it."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def csrf_ok(request: Request, token: str | None) -> bool:
    """A form post this service's own page sent: a browser's `Origin` and `Sec-Fetch-Site`
    name this origin, and the form's CSRF token equals its cookie. A client that is no browser
    (no Origin, no Sec-Fetch-Site) may post without the token: no other site can make it send
    anything."""
    origin = request.headers.get("origin")
    if origin is not None and (origin == "null" or urlparse(origin).netloc != request.url.netloc):
        return False
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    if token is None:
        return origin is None and fetch_site is None
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), token.encode())


@router.get("/login")
def login_form(request: Request, lang: Lang = None, next: str = "/") -> HTMLResponse:  # noqa: A002
    lang = _lang(request, lang)
    return render(request, "login.html", lang, "login_title", next=safe_next(next[:2000]))


@router.post("/login")
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
    csrf: Annotated[str | None, Form(max_length=200)] = None,
    next: Annotated[str, Form(max_length=2000)] = "/",  # noqa: A002
    lang: Annotated[Language | None, Form()] = None,
) -> Response:
    lang = _lang(request, lang)
    target = safe_next(next)
    if not csrf_ok(request, csrf):
        error = texts(lang, "serve")["expired"]
        return render(request, "login.html", lang, "login_title", 403, error=error, next=target)
    try:
        token = await sign_in(request, username, password)
    except HTTPException as exc:
        error = texts(lang, "serve")["throttled" if exc.status_code == 429 else "failed"]
        status = exc.status_code
        return render(request, "login.html", lang, "login_title", status, error=error, next=target)
    if lang and "lang=" not in target:
        target += ("&" if "?" in target else "?") + f"lang={lang}"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=60 * service(request).settings.token_minutes,
        httponly=True,
        secure=True,
        samesite="strict",
    )
    return response


@router.post("/logout")
def logout(request: Request, csrf: Annotated[str | None, Form(max_length=200)] = None) -> Response:
    if not csrf_ok(request, csrf):
        raise HTTPException(403, "the form expired")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, httponly=True, secure=True, samesite="strict")
    return response


@router.get("/")
def runs_page(request: Request, lang: Lang = None) -> HTMLResponse:
    lang = _lang(request, lang)
    user = page_user(request, lang)
    role = user.role
    return render(
        request,
        "runs.html",
        lang,
        "runs_title",
        user=user,
        runs=list_runs(service(request).settings.out),
        readable={table for table, roles in TABLE_ROLES.items() if role in roles},
        can_map=role in MAP_ROLES,
        can_missions=role in MISSION_ROLES,
        can_report=role in LEADER_ROLES,
        can_compare=role in LEADER_ROLES,
        can_workbook=role in WORKBOOK_ROLES,
    )


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def plan_csp(html: str) -> str:
    """The policy of a plan's own page: its inline scripts by hash, inline styles, images from
    the basemap's tile server only, no connections, and a sandbox without this origin."""
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, flags=re.S | re.I)
    hashes = " ".join(f"'sha256-{_sha256(s)}'" for s in scripts if s) or "'none'"
    images = ["data:", "blob:"]
    tiles = re.search(r'L\.tileLayer\(\s*"([^"]+)"', html)
    if tiles:
        url = urlparse(tiles.group(1))
        host = re.sub(r"\{[a-z]\}", "*", url.netloc)
        if url.scheme in ("http", "https") and re.fullmatch(r"[\w.*:-]+", host):
            images.append(f"{url.scheme}://{host}")
    return (
        f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; "
        f"img-src {' '.join(images)}; font-src data:; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'none'; sandbox allow-scripts allow-popups"
    )


def plan_page(html: str) -> HTMLResponse:
    response = HTMLResponse(html)
    response.headers["Content-Security-Policy"] = plan_csp(html)
    return response


def _folder(request: Request, month: str, scenario: str, lang: str) -> Path:
    try:
        return run_folder(service(request).settings.out, month, scenario)
    except LookupError:
        raise PageRefused(404, lang) from None


@router.get("/runs/{month}/{scenario}/map")
def map_page(request: Request, month: Month, scenario: ScenarioName, lang: Lang = None):
    lang = _lang(request, lang)
    page_user(request, lang, MAP_ROLES)
    folder = _folder(request, month, scenario, lang)
    return plan_page((folder / "map.html").read_text(encoding="utf-8"))


@router.get("/runs/{month}/{scenario}/report")
def report_page(request: Request, month: Month, scenario: ScenarioName, lang: Lang = None):
    """The run's report: as written, or rendered again in the language asked for."""
    language = _lang(request, lang)
    page_user(request, language, LEADER_ROLES)
    folder = _folder(request, month, scenario, language)
    if lang is None:
        return plan_page((folder / "report.html").read_text(encoding="utf-8"))
    return plan_page(render_report([folder], lang))


@router.get("/compare")
def compare_page(request: Request, run: Runs, lang: Lang = None):
    """The leadership report of the runs asked for, side by side."""
    lang = _lang(request, lang)
    page_user(request, lang, LEADER_ROLES)
    try:
        folders = compared_folders(request, run)
    except LookupError:
        raise PageRefused(404, lang) from None
    return plan_page(render_report(folders, lang))


def _missions(request: Request, month: str, scenario: str, lang: str) -> Missions:
    """The run's missions; 404 for a run that has none (or whose mission files are broken)."""
    try:
        return run_missions(_folder(request, month, scenario, lang))
    except InputError:
        raise PageRefused(404, lang) from None


@router.get("/runs/{month}/{scenario}/missions")
def missions_page(request: Request, month: Month, scenario: ScenarioName, lang: Lang = None):
    """The run's stations (a station user: its own) with a link to each day's sheet."""
    lang = _lang(request, lang)
    user = page_user(request, lang, MISSION_ROLES)
    missions = _missions(request, month, scenario, lang)
    names = missions.stations
    if user.role == "station":
        names = names[names.index == user.station]
    units = missions.stops.groupby("station_id")["unit_id"].nunique()
    return render(
        request,
        "missions.html",
        lang,
        "missions_title",
        user=user,
        month=month,
        scenario=scenario,
        days=missions.days,
        stations=[
            {"id": sid, "path": quote(sid, safe=""), "name": name, "units": int(units.get(sid, 0))}
            for sid, name in names.items()
        ],
    )


@router.get("/runs/{month}/{scenario}/sheets/{station}/{date}")
def sheet(
    request: Request,
    month: Month,
    scenario: ScenarioName,
    station: StationId,
    date: Day,
    lang: Lang = None,
):
    """The printable mission sheet of one station and day; a station user reads its own."""
    lang = _lang(request, lang)
    user = page_user(request, lang, MISSION_ROLES)
    if user.role == "station" and station != user.station:
        raise PageRefused(403, lang, user)
    missions = _missions(request, month, scenario, lang)
    try:
        return plan_page(sheet_page(missions, station, date, lang))
    except InputError:  # a station or day the run does not have
        raise PageRefused(404, lang, user) from None
