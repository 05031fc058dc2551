"""The service's pages (SPEC §14): a login form, the runs, and each run's map and report and
comparisons, its missions and their printable sheets (SPEC §16), served offline like the files.

Shared page helpers (sessions, CSRF, refusals) live in `page_kit`. Every page has a
Content-Security-Policy: the service's own pages run no script at all and allow only their
nonce'd stylesheet; a plan's map and report run only the inline scripts they were written with
(by hash), in a sandbox without the service's origin, with no connection but the basemap's
tiles."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Annotated
from urllib.parse import quote, urlencode, urlparse

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from models.errors import InputError
from optimizer.i18n import texts
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
    service,
    sign_in,
)
from optimizer.serve.page_kit import (
    Lang,
    PageRefused,
    csrf_ok,
    page_lang,
    page_run_folder,
    page_user,
    render,
    safe_next,
)
from optimizer.serve.roles import (
    ASSESSOR_ROLES,
    DEPARTMENT_ROLES,
    LEADER_ROLES,
    MAP_ROLES,
    MISSION_ROLES,
    TABLE_ROLES,
    WORKBOOK_ROLES,
)
from optimizer.serve.runs import carried_out, list_runs, run_missions
from optimizer.sheets import sheet_page

router = APIRouter(include_in_schema=False)
DESK_HOME_ROLES = DEPARTMENT_ROLES | ASSESSOR_ROLES


@router.get("/login")
def login_form(request: Request, lang: Lang = None, next: str = "/") -> HTMLResponse:  # noqa: A002
    lang = page_lang(request, lang)
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
    lang = page_lang(request, lang)
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
def logout(
    request: Request,
    csrf: Annotated[str | None, Form(max_length=200)] = None,
    lang: Annotated[Language | None, Form()] = None,
) -> Response:
    """Sign out, back to the login form in the language the pages were read in."""
    if not csrf_ok(request, csrf):
        raise HTTPException(403, "the form expired")
    response = RedirectResponse(f"/login?lang={page_lang(request, lang)}", status_code=303)
    response.delete_cookie(COOKIE, httponly=True, secure=True, samesite="strict")
    return response


@router.get("/")
def runs_page(request: Request, lang: Lang = None) -> Response:
    """The published runs the user may read, each with its pages and tables; the run each
    month carries out is marked, leaders adopt another here. A station lists only the runs
    its months carry out, with a link to its home page. A department and the assessment
    office are led to the assessment desk."""
    lang = page_lang(request, lang)
    user = page_user(request, lang)
    role = user.role
    if role in DESK_HOME_ROLES:  # no plans to read: their home is the assessment desk
        return RedirectResponse(f"/assessment?lang={lang}", status_code=303)
    runs = list_runs(service(request).settings.out)
    if role == "station":
        runs = [run for run in runs if run["adopted"]]
    return render(
        request,
        "runs.html",
        lang,
        "runs_title",
        user=user,
        runs=runs,
        can_adopt=role in LEADER_ROLES,
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


@router.get("/runs/{month}/{scenario}/map")
def map_page(request: Request, month: Month, scenario: ScenarioName, lang: Lang = None):
    lang = page_lang(request, lang)
    page_user(request, lang, MAP_ROLES)
    folder = page_run_folder(request, month, scenario, lang)
    return plan_page((folder / "map.html").read_text(encoding="utf-8"))


@router.get("/runs/{month}/{scenario}/report")
def report_page(request: Request, month: Month, scenario: ScenarioName, lang: Lang = None):
    """The run's report: as written, or rendered again in the language asked for."""
    language = page_lang(request, lang)
    page_user(request, language, LEADER_ROLES)
    folder = page_run_folder(request, month, scenario, language)
    if lang is None:
        return plan_page((folder / "report.html").read_text(encoding="utf-8"))
    return plan_page(render_report([folder], lang))


@router.get("/compare")
def compare_page(request: Request, run: Runs, lang: Lang = None) -> HTMLResponse:
    """The comparison of the runs asked for: a button to adopt each (a form of this page: the
    report itself runs in a sandbox that may send none) above the leadership report."""
    lang = page_lang(request, lang)
    user = page_user(request, lang, LEADER_ROLES)
    try:
        compared_folders(request, run)
    except LookupError:
        raise PageRefused(404, lang) from None
    out = service(request).settings.out
    runs = []
    for name in run:
        month, scenario = name.split("/", 1)
        adopted = carried_out(out, month) == scenario
        runs.append({"name": name, "month": month, "scenario": scenario, "adopted": adopted})
    query = urlencode([*(("run", name) for name in run), ("lang", lang)], safe="/")
    here = f"/compare?{query}"
    return render(
        request,
        "compare.html",
        lang,
        "compare_title",
        user=user,
        runs=runs,
        query=query,
        here=here,
        wide=True,
    )


@router.get("/compare/report")
def compare_report(request: Request, run: Runs, lang: Lang = None) -> HTMLResponse:
    """The leadership report of the runs asked for, side by side; framed by `/compare`."""
    lang = page_lang(request, lang)
    page_user(request, lang, LEADER_ROLES)
    try:
        folders = compared_folders(request, run)
    except LookupError:
        raise PageRefused(404, lang) from None
    response = plan_page(render_report(folders, lang))
    csp = response.headers["Content-Security-Policy"]
    response.headers["Content-Security-Policy"] = csp.replace(
        "frame-ancestors 'none'", "frame-ancestors 'self'"
    )
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


def _missions(request: Request, month: str, scenario: str, lang: str) -> Missions:
    """The run's missions; 404 for a run that has none (or whose mission files are broken)."""
    try:
        return run_missions(page_run_folder(request, month, scenario, lang))
    except InputError:
        raise PageRefused(404, lang) from None


@router.get("/runs/{month}/{scenario}/missions")
def missions_page(request: Request, month: Month, scenario: ScenarioName, lang: Lang = None):
    """The run's stations (a station user: its own) with a link to each day's sheet."""
    lang = page_lang(request, lang)
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
    lang = page_lang(request, lang)
    user = page_user(request, lang, MISSION_ROLES)
    if user.role == "station" and station != user.station:
        raise PageRefused(403, lang, user)
    missions = _missions(request, month, scenario, lang)
    try:
        return plan_page(sheet_page(missions, station, date, lang))
    except InputError:  # a station or day the run does not have
        raise PageRefused(404, lang, user) from None
