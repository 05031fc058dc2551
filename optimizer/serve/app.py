"""The FastAPI application of `patrolopt serve`: the routers of `api` and the pages over the
shared state of `deps`, the error answers, security headers and the access log."""

from __future__ import annotations

import secrets
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from models.errors import InputError
from optimizer.migrations import upgrade_store
from optimizer.serve import (
    admin_pages,
    api,
    appeal_pages,
    assessment_api,
    assessment_pages,
    leader_pages,
    office_pages,
    page_kit,
    pages,
    station_pages,
    survey_pages,
)
from optimizer.serve.access import AccessLog
from optimizer.serve.auth import Tokens, UserBook
from optimizer.serve.deps import Service, Settings
from optimizer.serve.jobs import Jobs
from optimizer.serve.runs import RunNotFound
from optimizer.serve.users import UserError

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"


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
    """The service over `settings.out`; routes from `api` and `pages`. The store is upgraded
    to this version's schema first, so the desk's tables are there before any request."""
    upgrade_store(settings.db)
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

    app.add_exception_handler(page_kit.PageRefused, page_kit.refused)
    app.include_router(api.router)
    app.include_router(assessment_api.router)
    for router in (
        pages,
        leader_pages,
        admin_pages,
        station_pages,
        assessment_pages,
        office_pages,
        appeal_pages,
        survey_pages,
    ):
        app.include_router(router.router)
    return app
