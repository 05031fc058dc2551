"""What every page of the service shares (SPEC §14): templates rendered with a nonce'd
stylesheet, the CSRF token and a Content-Security-Policy; who is signed in (session cookie or
bearer token) and whether the role may open the page; the refusals (401, 403, 404) as pages.

Pages are signed in by a `Secure; HttpOnly; SameSite=Strict` cookie holding the same signed token
as the API. Every form carries a per-browser CSRF token that must equal its cookie, and a
cross-site `Origin` or `Sec-Fetch-Site` is refused: the cookie signs a form in only then, so no
other site can make a signed-in browser change anything. The page routers (`pages`,
`leader_pages`, `admin_pages`, `station_pages`) import this module and never each other."""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode, urlparse

from fastapi import Form, Query, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from optimizer.i18n import LANGUAGES, texts
from optimizer.serve.deps import Language, request_user, service
from optimizer.serve.runs import run_folder
from optimizer.serve.users import User

CSRF_COOKIE = "patrolopt_csrf"
Lang = Annotated[Language | None, Query()]
Csrf = Annotated[str | None, Form(max_length=200)]  # a form's CSRF token
FormLang = Annotated[Language | None, Form()]  # a form's language
TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


def own_csp(nonce: str) -> str:
    return (
        f"default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self' data:; "
        "frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


def page_lang(request: Request, lang: str | None) -> str:
    """The language asked for, else the service's."""
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

    title = context.pop("title", None) or t["desk"].get(title_key) or t[title_key]
    body = TEMPLATES.get_template(template).render(
        t=t,
        d=t["desk"],
        terms=texts(lang, "terms"),
        columns=texts(lang, "columns"),
        lang=lang,
        title=title,
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
    text = t["desk"].get(key) or t[key]
    return render(
        request,
        "message.html",
        lang,
        "runs_title",
        status,
        user,
        message=text,
        link=link,
        link_text=link_text,
    )


class PageRefused(Exception):
    """A page asked for without a session (401), outside the role's rights (403), of
    something that is not there (404) or a form sent from elsewhere or expired (403,
    `key` "expired")."""

    def __init__(
        self, status: int, lang: str, user: User | None = None, key: str | None = None
    ) -> None:
        super().__init__(status)
        self.status, self.lang, self.user, self.key = status, lang, user, key


def page_user(request: Request, lang: str, roles: set[str] | None = None) -> User:
    """The user of the session cookie, or of a bearer token sent as for the API."""
    return _checked(request, lang, roles, form_checked=False)


def form_user(request: Request, lang: str, roles: set[str], csrf: str | None) -> User:
    """The user who sent a form: a bearer token's, or the session cookie's when the form is
    this service's own (its CSRF token equals the cookie's, its origin is this one); 403
    "expired" otherwise."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    bearer = scheme.lower() == "bearer" and bool(token)
    if not bearer and (csrf is None or not csrf_ok(request, csrf)):
        raise PageRefused(403, lang, key="expired")
    return _checked(request, lang, roles, form_checked=not bearer)


def _checked(request: Request, lang: str, roles: set[str] | None, form_checked: bool) -> User:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    bearer = token if scheme.lower() == "bearer" and token else None
    user = request_user(request, bearer, form_checked)
    if user is None:
        raise PageRefused(401, lang)
    if roles is not None and user.role not in roles:
        raise PageRefused(403, lang, user)
    return user


def refused(request: Request, exc: PageRefused) -> HTMLResponse:
    key = exc.key or {401: "signin_needed", 403: "forbidden"}.get(exc.status, "not_found")
    return message(request, exc.lang, key, exc.status, exc.user)


def safe_next(target: str) -> str:
    """Only a path of this service: no scheme, host or `//` that would leave it."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def foreign_origin(request: Request) -> bool:
    """A browser's request sent from another site: its `Origin` names another origin (or none,
    "null") or its `Sec-Fetch-Site` another site."""
    origin = request.headers.get("origin")
    if origin is not None and (origin == "null" or urlparse(origin).netloc != request.url.netloc):
        return True
    fetch_site = request.headers.get("sec-fetch-site")
    return fetch_site is not None and fetch_site not in ("same-origin", "none")


def from_browser(request: Request) -> bool:
    """A request that names where it was sent from (`Origin`, `Sec-Fetch-Site`), as browsers'
    form posts do; a client that is no browser sends neither, and no other site can make it
    send anything."""
    return "origin" in request.headers or "sec-fetch-site" in request.headers


def csrf_ok(request: Request, token: str | None) -> bool:
    """A form post this service's own page sent: a browser's `Origin` and `Sec-Fetch-Site`
    name this origin, and the form's CSRF token equals its cookie. A client that is no browser
    (no Origin, no Sec-Fetch-Site) may post the login form without the token: no other site
    can make it send anything."""
    if foreign_origin(request):
        return False
    if token is None:
        return not from_browser(request)
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), token.encode())


def page_run_folder(request: Request, month: str, scenario: str, lang: str) -> Path:
    """A published run's folder, or the 404 page."""
    try:
        return run_folder(service(request).settings.out, month, scenario)
    except LookupError:
        raise PageRefused(404, lang) from None
