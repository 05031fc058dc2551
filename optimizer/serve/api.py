"""The service's JSON API (SPEC §14): token, runs, tables with filters and CSV, the training
workbook, the comparison of runs; users and audit for administrators."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel

from optimizer.adoption import NotARecordedRun, adopt
from optimizer.audit import verify
from optimizer.i18n import texts
from optimizer.report import key_figures, load_runs
from optimizer.serve.deps import (
    Language,
    Month,
    Runs,
    ScenarioName,
    check_role,
    compared_folders,
    current_user,
    require,
    service,
    sign_in,
)
from optimizer.serve.jobs import ScenarioNameRefused
from optimizer.serve.roles import (
    ADMIN_ROLES,
    ALL_ROLES,
    ASSESSOR_ROLES,
    LEADER_ROLES,
    TABLE_ROLES,
    WORKBOOK_ROLES,
)
from optimizer.serve.runs import (
    TABLE_FILES,
    RunNotFound,
    list_runs,
    run_folder,
    select_rows,
    table_path,
    typed,
)
from optimizer.serve.station_view import LENDER, cell_owners, station_rows
from optimizer.serve.users import User

router = APIRouter()
Table = StrEnum("Table", {name: name for name in TABLE_FILES})
Filter = Annotated[str | None, Query(max_length=200)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Detail(BaseModel):
    detail: str


ERRORS = {
    401: {"model": Detail, "description": "no valid token"},
    403: {"model": Detail, "description": "outside the role's rights"},
    404: {"model": Detail, "description": "no such run or file"},
}
ROWS = {
    "description": "the table's rows, as objects with the file's columns, or the CSV",
    "content": {
        "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
        "text/csv": {"schema": {"type": "string"}},
    },
}


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"


class RunEntry(BaseModel):
    month: str
    scenario: str
    assessed_month: str
    status: str
    adopted: bool
    tables: list[str]


class JobView(BaseModel):
    id: str
    state: Literal["queued", "running", "done", "infeasible", "failed"]
    message: str


class AdoptionView(BaseModel):
    month: str
    scenario: str
    adopted: Literal[True] = True
    audit_entry: int


class UserEntry(BaseModel):
    name: str
    role: str
    station: str


class AuditReport(BaseModel):
    verified: bool
    problems: list[str]
    notes: list[str]


@router.get("/health")
def health() -> dict[str, str]:
    """Liveness, without a token."""
    return {"status": "ok"}


@router.post(
    "/api/token",
    responses={401: ERRORS[401], 429: {"model": Detail, "description": "too many failures"}},
)
async def token(
    request: Request,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
) -> Token:
    """A bearer token for the user, valid for `serve.token_minutes`."""
    return Token(access_token=await sign_in(request, username, password))


@router.get("/api/runs", responses={401: ERRORS[401]})
def runs(request: Request, _user: Annotated[User, Depends(require(ALL_ROLES))]) -> list[RunEntry]:
    """The published runs: plan month and scenario."""
    return [RunEntry(**run) for run in list_runs(service(request).settings.out)]


@router.post("/api/runs/{month}/{scenario}/adopt", responses=ERRORS)
def adopt_run(
    request: Request,
    month: Month,
    scenario: ScenarioName,
    user: Annotated[User, Depends(require(LEADER_ROLES))],
) -> AdoptionView:
    """Adopt a recorded run as the plan its month carries out (leaders; SPEC §18): what
    stations see, missions are printed from, next month builds on and execution is measured
    against. An audit entry names the leader."""
    settings = service(request).settings
    try:
        entry = adopt(settings.out, settings.db, month, scenario, user.name)
    except NotARecordedRun as exc:
        raise HTTPException(404, str(exc)) from None
    return AdoptionView(month=month, scenario=scenario, audit_entry=entry["seq"])


@router.api_route(
    "/api/runs/{month}/{scenario}/adopt",
    methods=["GET", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
)
def adopt_other_methods() -> Response:
    """Adoption is a POST: any other method gets 405, not the table route's 422."""
    return Response(status_code=405, headers={"Allow": "POST"})


@router.get(
    "/api/runs/{month}/{scenario}/training.xlsx",
    responses={**ERRORS, 200: {"content": {XLSX: {}}, "description": "the training workbook"}},
    response_class=FileResponse,
)
def workbook(
    request: Request,
    month: Month,
    scenario: ScenarioName,
    _user: Annotated[User, Depends(require(WORKBOOK_ROLES))],
):
    """The run's training workbook (trainers and leaders)."""
    folder = run_folder(service(request).settings.out, month, scenario)
    path = folder / "training.xlsx"
    if not path.is_file():
        raise HTTPException(404, "this run has no training.xlsx")
    return FileResponse(path, media_type=XLSX, filename=f"training-{month}-{scenario}.xlsx")


@router.get(
    "/api/runs/{month}/{scenario}/{table}",
    responses={**ERRORS, 200: ROWS},
    response_class=Response,
)
def table_rows(
    request: Request,
    month: Month,
    scenario: ScenarioName,
    table: Table,
    user: Annotated[User, Depends(current_user)],
    station: Filter = None,
    shift: Filter = None,
    course: Filter = None,
    format: Literal["json", "csv"] = "json",  # noqa: A002 - the query parameter's name
):
    """A run's table as row objects (or `?format=csv`), filtered by station, shift and
    course; a station user gets only its own station's rows, and the rows of mutual aid it
    lends or receives, named in an `aid` column."""
    check_role(user, TABLE_ROLES[table.value])
    state = service(request)
    folder = run_folder(state.settings.out, month, scenario)
    whole = state.tables.read(folder, table.value)
    filters = {"station": station, "shift": shift, "course": course}
    frame = whole if user.role != "station" else station_view(state, folder, whole, user.station)
    rows = select_rows(frame, filters)
    if format == "csv":
        path = table_path(folder, table.value)
        body = path.read_bytes() if rows is whole and path.suffix == ".csv" else None
        body = body if body is not None else rows.to_csv(index=False).encode("utf-8")
        return Response(body, media_type="text/csv; charset=utf-8")
    body = typed(rows).to_json(orient="records", force_ascii=False)
    return Response(body.encode("utf-8"), media_type="application/json")


def station_view(state, folder, frame, station: str):
    """A station's rows of `frame`: its own and the mutual aid it lends or receives, named in
    an `aid` column (tables keyed by who patrols are placed by the allocation's cell owners)."""
    owners = None
    if "cell_id" in frame.columns and LENDER not in frame.columns:
        try:
            owners = cell_owners(state.tables.read(folder, "allocation"))
        except RunNotFound:
            owners = None
    words = texts(state.settings.lang, "serve")["desk"]
    return station_rows(frame, station, owners, words)


@router.get(
    "/api/compare",
    responses={
        **ERRORS,
        200: {
            "description": "one row per run: leadership's key figures",
            "content": {"application/json": {"schema": {"type": "array", "items": {}}}},
        },
    },
    response_class=JSONResponse,
)
def compare(
    request: Request,
    run: Runs,
    _user: Annotated[User, Depends(require(LEADER_ROLES))],
    lang: Language | None = None,
):
    """The key figures of each run side by side (harm covered, hours moved, patrol hours,
    training seats, flagged stations, solver status, settings)."""
    folders = compared_folders(request, run)
    figures = key_figures(load_runs(folders), lang or service(request).settings.lang)
    figures.insert(0, "run", run)
    body = figures.to_json(orient="records", force_ascii=False)
    return Response(body.encode("utf-8"), media_type="application/json")


@router.get("/api/users", responses={401: ERRORS[401], 403: ERRORS[403]})
def users(
    request: Request, _user: Annotated[User, Depends(require(ADMIN_ROLES))]
) -> list[UserEntry]:
    """The users of the service with their roles (administrators); never their hashes."""
    return [
        UserEntry(name=u.name, role=u.role, station=u.station)
        for u, _hash in service(request).users.users().values()
    ]


@router.get("/api/audit", responses={401: ERRORS[401], 403: ERRORS[403]})
def audit(request: Request, _user: Annotated[User, Depends(require(ADMIN_ROLES))]) -> AuditReport:
    """`audit verify` of the output folder and store (administrators)."""
    settings = service(request).settings
    found = verify(settings.out, settings.db)
    return AuditReport(verified=not found.problems, problems=found.problems, notes=found.notes)


MAX_SCENARIO_BYTES = 256 * 1024
SCENARIO_BODY = {
    "required": True,
    "description": "a scenario TOML (SPEC §10): config overrides, `name`, `[deltas]`",
    "content": {
        "application/toml": {"schema": {"type": "string"}},
        "text/plain": {"schema": {"type": "string"}},
    },
}


@router.post(
    "/api/runs/{month}/scenarios",
    status_code=202,
    responses={
        **ERRORS,
        400: {"model": Detail, "description": "a scenario name the run refuses"},
        409: {"model": Detail, "description": "started without --data"},
        413: {"model": Detail, "description": "larger than 256 KiB"},
    },
    openapi_extra={"requestBody": SCENARIO_BODY},
)
async def submit_scenario(
    request: Request, month: Month, user: Annotated[User, Depends(require(LEADER_ROLES))]
) -> JobView:
    """Queue a scenario run planning `month` (the run assesses the month before) from the
    bureau's data folder; its input errors or diagnosis come with the job."""
    jobs = service(request).jobs
    if jobs is None:
        raise HTTPException(409, "the service was started without --data: no scenario runs")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_SCENARIO_BYTES:
            raise HTTPException(413, "a scenario file is at most 256 KiB")
    try:
        job = jobs.submit(month, body, user.name)
    except ScenarioNameRefused as exc:
        raise HTTPException(400, str(exc)) from None
    return JSONResponse(job.view(), status_code=202)


@router.get("/api/jobs/{job_id}", responses=ERRORS)
def job_state(
    request: Request,
    job_id: Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")],
    _user: Annotated[User, Depends(require(LEADER_ROLES | ASSESSOR_ROLES))],
) -> JobView:
    """A run's state (a scenario, or a month the assessment office closed): queued, running,
    done, infeasible or failed, with the message."""
    jobs = service(request).jobs
    found = jobs.get(job_id) if jobs is not None else None
    if found is None:
        raise HTTPException(404, "no such job")
    return JobView(**found)
