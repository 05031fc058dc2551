"""The administrator's pages (SPEC §14): the users of the service (add one with its role and
station, disable or enable one, set a new password), written to the users file as
`patrolopt users add` writes it; and `audit verify` of the plans and the access log, in words.
A disabled user cannot sign in, and its tokens stop being taken from the next request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from optimizer.audit import verify
from optimizer.serve.deps import service
from optimizer.serve.page_kit import (
    Csrf,
    FormLang,
    Lang,
    PageRefused,
    form_user,
    page_lang,
    page_user,
    render,
)
from optimizer.serve.roles import ADMIN_ROLES, ROLES
from optimizer.serve.runs import list_runs, run_folder
from optimizer.serve.station_view import station_names
from optimizer.serve.users import (
    UserError,
    add_user,
    check_new_password,
    is_disabled,
    read_users,
    reset_password,
    set_disabled,
)

router = APIRouter(include_in_schema=False)
UserName = Annotated[str, Path(max_length=64)]
Password = Annotated[str, Form(max_length=1000)]


def known_stations(request: Request) -> dict[str, str]:
    """The bureau's stations (id → name) as the latest published run names them."""
    out = service(request).settings.out
    for run in reversed(list_runs(out)):
        names = station_names(run_folder(out, run["month"], run["scenario"]))
        if names:
            return names
    return {}


def _users_page(
    request: Request, lang: str, user, status: int = 200, problem: str | None = None
) -> HTMLResponse:
    entries = read_users(service(request).settings.users_file)
    return render(
        request,
        "users.html",
        lang,
        "users_title",
        status,
        user,
        entries=[
            {"user": entry, "disabled": is_disabled(hashed)} for entry, hashed in entries.values()
        ],
        roles=ROLES,
        stations=known_stations(request),
        problem=problem,
    )


@router.get("/admin/users")
def users_page(request: Request, lang: Lang = None) -> HTMLResponse:
    """Every user with role, station and whether it may sign in; the forms to change them."""
    lang = page_lang(request, lang)
    return _users_page(request, lang, page_user(request, lang, ADMIN_ROLES))


def _done(lang: str) -> Response:
    return RedirectResponse(f"/admin/users?lang={lang}", status_code=303)


@router.post("/admin/users")
def add_user_form(
    request: Request,
    username: Annotated[str, Form(max_length=200)],
    role: Annotated[str, Form(max_length=40)],
    password: Password,
    station: Annotated[str, Form(max_length=200)] = "",
    csrf: Csrf = None,
    lang: FormLang = None,
) -> Response:
    """Add a user; the page again with the problem (422) for a name taken, a station the
    bureau does not have or an entry `users add` would refuse."""
    lang = page_lang(request, lang)
    user = form_user(request, lang, ADMIN_ROLES, csrf)
    path = service(request).settings.users_file
    station = station.strip() if role == "station" else ""
    if username in read_users(path):
        return _users_page(request, lang, user, 422, "name_taken")
    if role == "station" and station not in known_stations(request):
        return _users_page(request, lang, user, 422, "unknown_station")
    try:
        check_new_password(password)
        add_user(path, username, role, station, password)
    except UserError as exc:
        return _users_page(request, lang, user, 422, str(exc))
    return _done(lang)


@router.post("/admin/users/{name}/disable")
def disable_form(request: Request, name: UserName, csrf: Csrf = None, lang: FormLang = None):
    return _set_disabled(request, name, csrf, lang, True)


@router.post("/admin/users/{name}/enable")
def enable_form(request: Request, name: UserName, csrf: Csrf = None, lang: FormLang = None):
    return _set_disabled(request, name, csrf, lang, False)


def _set_disabled(request: Request, name: str, csrf, lang, disabled: bool) -> Response:
    """Disable or enable a user; an administrator cannot disable itself (nobody would be left
    to undo it)."""
    lang = page_lang(request, lang)
    user = form_user(request, lang, ADMIN_ROLES, csrf)
    if disabled and name == user.name:
        return _users_page(request, lang, user, 422, "not_yourself")
    try:
        set_disabled(service(request).settings.users_file, name, disabled)
    except UserError:
        raise PageRefused(404, lang, user, key="no_user") from None
    return _done(lang)


@router.post("/admin/users/{name}/password")
def password_form(
    request: Request, name: UserName, password: Password, csrf: Csrf = None, lang: FormLang = None
) -> Response:
    """A new password for the user (it is signed out everywhere)."""
    lang = page_lang(request, lang)
    user = form_user(request, lang, ADMIN_ROLES, csrf)
    path = service(request).settings.users_file
    if name not in read_users(path):
        raise PageRefused(404, lang, user, key="no_user")
    try:
        check_new_password(password)
        reset_password(path, name, password)
    except UserError as exc:
        return _users_page(request, lang, user, 422, str(exc))
    return _done(lang)


@router.get("/admin/audit")
def audit_page(request: Request, lang: Lang = None) -> HTMLResponse:
    """`audit verify` of the output folder and store: the plans' chain and files and the access
    log, verified or the problems found."""
    lang = page_lang(request, lang)
    user = page_user(request, lang, ADMIN_ROLES)
    settings = service(request).settings
    found = verify(settings.out, settings.db)
    return render(
        request,
        "audit.html",
        lang,
        "audit_title",
        user=user,
        problems=found.problems,
        notes=found.notes,
    )
