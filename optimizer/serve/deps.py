"""What every route of `patrolopt serve` shares: the settings and state of the service, who
asks (bearer token or session cookie) and what the role may read, signing in under the login
throttle, and the path and query parameters of runs. The routers (`api`, `pages`) import this
module and never each other; `app` puts them together."""

from __future__ import annotations

import asyncio
import pathlib
from dataclasses import dataclass, field
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.security import OAuth2PasswordBearer
from pydantic import StringConstraints

from models.months import MONTH_PATTERN, next_month
from models.scenarios import SCENARIO_PATTERN
from optimizer.i18n import LANGUAGES
from optimizer.serve.access import AccessLog
from optimizer.serve.auth import COOKIE, LoginThrottle, Tokens, UserBook
from optimizer.serve.jobs import Jobs
from optimizer.serve.runs import TableCache, run_folder
from optimizer.serve.users import User

bearer = OAuth2PasswordBearer(tokenUrl="/api/token", auto_error=False)
Language = Literal[LANGUAGES]  # --lang, ?lang= and the forms' lang take the same codes
Month = Annotated[str, Path(pattern=MONTH_PATTERN, description="plan month (M+1), YYYY-MM")]
AssessedMonth = Annotated[str, Path(pattern=MONTH_PATTERN, description="assessed month, YYYY-MM")]
RecordId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="id the desk gave it")]
ScenarioName = Annotated[str, Path(pattern=SCENARIO_PATTERN, description="scenario folder")]
StationId = Annotated[str, Path(max_length=200, description="station id")]
Day = Annotated[str, Path(max_length=40, description="a day of the plan month, YYYY-MM-DD")]
RUN_PATTERN = MONTH_PATTERN[:-1] + "/" + SCENARIO_PATTERN[1:]  # month/scenario
RunName = Annotated[str, StringConstraints(pattern=RUN_PATTERN)]
Runs = Annotated[list[RunName], Query(min_length=1, max_length=12, description="MONTH/SCENARIO")]


@dataclass
class Settings:
    """What `patrolopt serve` was started with. `data` is the bureau's data folder (scenario
    runs need it), `db` the store's SQLAlchemy URL."""

    out: pathlib.Path
    db: str
    users_file: pathlib.Path
    data: pathlib.Path | None = None
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


def request_user(request: Request, token: str | None, form_checked: bool = False) -> User | None:
    """The user a valid bearer token (or, for GET and HEAD and a form whose CSRF token and
    origin were checked, the session cookie) names."""
    state = service(request)
    raw = token
    if raw is None and (form_checked or request.method in ("GET", "HEAD")):
        raw = request.cookies.get(COOKIE)
    user = state.tokens.holder(raw, state.users) if raw else None
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


def client_key(request: Request) -> str:
    return f"client:{request.client.host if request.client else ''}"


async def sign_in(request: Request, username: str, password: str) -> str:
    """A token for the user these credentials name. The attempt is counted before the
    password is checked; failures are slowed and, repeated, refused for a while (429 with
    Retry-After)."""
    state = service(request)
    throttle = state.settings.throttle
    keys = [f"user:{username}", client_key(request)]
    request.state.attempted = username
    wait = throttle.begin(keys)
    if wait > 0:
        raise HTTPException(
            429, "too many failed logins: try again later", {"Retry-After": str(int(wait) + 1)}
        )
    try:
        entry = await asyncio.to_thread(state.users.authenticate, username, password)
    except BaseException:  # cut short (users file unreadable, client gone): a failure still
        throttle.failed(keys)
        raise
    if entry is None:
        await asyncio.sleep(throttle.failed(keys))
        raise HTTPException(401, "wrong user name or password", {"WWW-Authenticate": "Bearer"})
    throttle.succeeded(keys)
    request.state.user = entry[0]
    return state.tokens.issue(*entry)


def compared_folders(request: Request, run: list[str]):
    out = service(request).settings.out
    return [run_folder(out, *name.split("/", 1)) for name in run]


def queue_month_run(request: Request, month: str, user: User) -> str | None:
    """Queue the run of assessed `month` (the plan of the month after) once the assessment
    office closed it or upheld an appeal on it: the job's id, None without a job queue."""
    jobs = service(request).jobs
    return jobs.submit_month(next_month(month), user.name).id if jobs is not None else None


async def desk_step(request: Request, step, bureau, *args):
    """A step of the assessment desk (`optimizer.assessment`: the store's URL, the output
    folder and the desk's bureau first, then `args`) in a worker thread, so the service keeps
    answering while it writes."""
    settings = service(request).settings
    return await asyncio.to_thread(step, settings.db, settings.out, bureau, *args)
