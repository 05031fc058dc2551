"""The FastAPI application of `patrolopt serve`: settings, shared state, the checks every
request passes (who asks, what they may read), security headers and the access log."""

from __future__ import annotations

import secrets
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordBearer
from starlette.exceptions import HTTPException as StarletteHTTPException

from models.errors import InputError
from optimizer.serve.access import AccessLog
from optimizer.serve.auth import COOKIE, LoginThrottle, Tokens, UserBook
from optimizer.serve.jobs import Jobs
from optimizer.serve.runs import RunNotFound, TableCache
from optimizer.serve.users import User, UserError

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
bearer = OAuth2PasswordBearer(tokenUrl="/api/token", auto_error=False)


@dataclass
class Settings:
    """What `patrolopt serve` was started with. `data` is the bureau's data folder (scenario
    runs need it), `db` the store's SQLAlchemy URL."""

    out: Path
    db: str
    users_file: Path
    data: Path | None = None
    token_minutes: int = 480
    lang: str = "en"
    throttle: LoginThrottle = field(default_factory=LoginThrottle)


@dataclass
class Service:
    """State shared by all requests."""

    settings: Settings
    users: UserBook
    tokens: Tokens
    tables: TableCache = field(default_factory=TableCache)
    jobs: Jobs | None = None
    access: AccessLog | None = None


def service(request: Request) -> Service:
    return request.app.state.service


def request_user(request: Request, token: str | None) -> User | None:
    """The user a valid bearer token (or, for GET and HEAD, the session cookie) names."""
    state = service(request)
    raw = token
    if raw is None and request.method in ("GET", "HEAD"):
        raw = request.cookies.get(COOKIE)
    name = state.tokens.subject(raw) if raw else None
    user = state.users.get(name) if name else None
    if user is not None:
        request.state.user = user
    return user


def current_user(request: Request, token: Annotated[str | None, Depends(bearer)]) -> User:
    """The signed-in user; 401 without a valid, unexpired token of a user still in the file."""
    user = request_user(request, token)
    if user is None:
        raise HTTPException(
            401, "a valid token is needed: POST /api/token", headers={"WWW-Authenticate": "Bearer"}
        )
    return user


def require(roles: set[str]):
    """A dependency giving the user when its role is one of `roles`, else 403."""

    def dependency(user: Annotated[User, Depends(current_user)]) -> User:
        check_role(user, roles)
        return user

    return dependency


def check_role(user: User, roles: set[str]) -> None:
    if user.role not in roles:
        raise HTTPException(403, f"role {user.role} may not read this")


def _log_access(state: Service, request: Request, status: int) -> None:
    """The answered request in the access log: the signed-in user, else the name a login
    tried (with no role), else nobody."""
    if state.access is None:
        return
    user = getattr(request.state, "user", None)
    state.access.record(
        {
            "user": user.name if user else getattr(request.state, "attempted", ""),
            "role": user.role if user else "",
            "method": request.method,
            "path": request.url.path,
            "status": status,
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
    )


def _error(status: int, detail, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def create_app(settings: Settings) -> FastAPI:
    """The service over `settings.out`; routes from `api` and `pages`."""
    from optimizer.serve import api, pages

    state = Service(
        settings=settings,
        users=UserBook(settings.users_file),
        tokens=Tokens(settings.token_minutes, secrets.token_bytes(32)),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        if state.jobs is not None:
            state.jobs.close()
        if state.access is not None:
            state.access.close()

    app = FastAPI(
        lifespan=lifespan,
        title="patrolopt",
        summary="Monthly patrol and training plans for planners, trainers, leaders, stations",
        version="1",
        docs_url=None,  # the interactive docs load scripts from the internet
        redoc_url=None,
    )
    if settings.data is not None:
        state.jobs = Jobs(settings.data, settings.out, settings.db, settings.lang)
    state.access = AccessLog(settings.db, settings.out)
    app.state.service = state

    @app.exception_handler(RunNotFound)
    def _not_found(_request: Request, exc: RunNotFound) -> JSONResponse:
        return _error(404, str(exc))

    @app.exception_handler(InputError)
    def _bad_input(_request: Request, exc: InputError) -> JSONResponse:
        return _error(422, [str(problem) for problem in exc.problems])

    @app.exception_handler(UserError)
    def _users_broken(_request: Request, exc: UserError) -> JSONResponse:
        return _error(503, f"the users file cannot be read: {exc}")

    @app.exception_handler(RequestValidationError)
    def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [  # FastAPI's ValidationError shape, with no echo of the input
            {
                "loc": [part if isinstance(part, int) else str(part) for part in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        return _error(422, errors)

    @app.exception_handler(StarletteHTTPException)
    def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, exc.detail, getattr(exc, "headers", None))

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        try:
            response = await call_next(request)
        except Exception:
            _log_access(state, request, 500)
            raise
        _log_access(state, request, response.status_code)
        response.headers.setdefault("Content-Security-Policy", API_CSP)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"  # forms send their Origin
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    app.add_exception_handler(pages.PageRefused, pages.refused)
    app.include_router(api.router)
    app.include_router(pages.router)
    return app
