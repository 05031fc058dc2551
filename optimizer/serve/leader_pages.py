"""Leadership's pages (SPEC §14, §18): a scenario form whose answers are queued as the scenario
run `POST /api/runs/{month}/scenarios` queues, the jobs with their state and latest progress
(the page refreshes itself while one runs) and, once done, the comparison against the month's
baseline; and the adoption of a run as the plan its month carries out."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from models.scenarios import BASELINE
from optimizer.adoption import NotARecordedRun, adopt
from optimizer.serve.deps import Month, ScenarioName, service
from optimizer.serve.jobs import ScenarioNameRefused
from optimizer.serve.page_kit import (
    Csrf,
    FormLang,
    Lang,
    PageRefused,
    form_user,
    page_lang,
    page_user,
    render,
    safe_next,
)
from optimizer.serve.roles import LEADER_ROLES
from optimizer.serve.runs import list_runs
from optimizer.serve.scenario_form import (
    HARM_FIELD,
    OFFICERS_FIELD,
    ScenarioAnswers,
    answers_of,
    bureau_choices,
    scenario_toml,
)

router = APIRouter(include_in_schema=False)
RUNNING = ("queued", "running")
REFRESH_S = 2


def _jobs(request: Request, lang: str, user):
    """The service's jobs; 409 (a page saying why) when it was started without --data."""
    jobs = service(request).jobs
    if jobs is None:
        raise PageRefused(409, lang, user, key="no_data")
    return jobs


def _months(request: Request) -> list[str]:
    """Plan months with a published run, the latest first."""
    return sorted({run["month"] for run in list_runs(service(request).settings.out)}, reverse=True)


def _form(
    request: Request,
    lang: str,
    user,
    answers: ScenarioAnswers | None,
    month: str | None,
    problems=(),
    status: int = 200,
) -> HTMLResponse:
    choices = bureau_choices(service(request).settings.data)
    months = _months(request)
    return render(
        request,
        "scenario.html",
        lang,
        "scenario_title",
        status,
        user,
        months=months,
        month=month or (months[0] if months else ""),
        stations=choices.stations,
        categories={c: choices.category_label(c, lang) for c in choices.categories},
        answers=answers or ScenarioAnswers("", {}, {}, True),
        officers_field=OFFICERS_FIELD,
        harm_field=HARM_FIELD,
        problems=problems,
    )


@router.get("/scenarios/new")
def scenario_form(request: Request, lang: Lang = None, month: str | None = None) -> HTMLResponse:
    """The scenario form: officers by station (%), harm by category (×), stability, a name."""
    lang = page_lang(request, lang)
    user = page_user(request, lang, LEADER_ROLES)
    _jobs(request, lang, user)
    return _form(request, lang, user, None, month if month in _months(request) else None)


@router.post("/scenarios/new")
async def submit_scenario_form(request: Request) -> Response:
    """Queue the scenario the form describes, then show the jobs; the form again, with its
    problems, when an answer cannot make a scenario (422)."""
    form = await request.form()
    raw_lang = form.get("lang")
    lang = page_lang(request, raw_lang if raw_lang in ("en", "zh") else None)
    csrf = form.get("csrf")
    user = form_user(request, lang, LEADER_ROLES, csrf if isinstance(csrf, str) else None)
    jobs = _jobs(request, lang, user)
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    answers = answers_of(fields, bureau_choices(service(request).settings.data))
    month = fields.get("month", "")
    text, problems = scenario_toml(answers)
    if month not in _months(request):
        problems.append(("bad_month", month))
    if not problems:
        try:
            jobs.submit(month, text.encode("utf-8"), user.name)
        except ScenarioNameRefused:
            problems.append(("bad_name", answers.name))
    if problems:
        return _form(request, lang, user, answers, month, problems, 422)
    return RedirectResponse(f"/jobs?lang={lang}", status_code=303)


@router.get("/jobs")
def jobs_page(request: Request, lang: Lang = None) -> HTMLResponse:
    """The scenario runs of this service, the latest first: state, latest progress or outcome,
    and for a finished plan the comparison with its month's baseline. Refreshes itself every
    few seconds while a job is queued or running."""
    lang = page_lang(request, lang)
    user = page_user(request, lang, LEADER_ROLES)
    listed = _jobs(request, lang, user).listed()
    rows = []
    for job in listed:
        compare = None
        if job.state == "done":
            runs = [f"{job.plan_month}/{BASELINE}", f"{job.plan_month}/{job.scenario}"]
            compare = "/compare?" + urlencode([*(("run", r) for r in runs), ("lang", lang)])
        rows.append({"job": job, "compare": compare})
    refresh = REFRESH_S if any(job.state in RUNNING for job in listed) else None
    return render(request, "jobs.html", lang, "jobs_title", user=user, rows=rows, refresh=refresh)


@router.post("/runs/{month}/{scenario}/adopt")
def adopt_form(
    request: Request,
    month: Month,
    scenario: ScenarioName,
    csrf: Csrf = None,
    lang: FormLang = None,
    next: Annotated[str, Form(max_length=2000)] = "/",  # noqa: A002
) -> Response:
    """Adopt the run as the plan its month carries out (an audit entry naming the leader),
    then back to the page the button was on."""
    lang = page_lang(request, lang)
    user = form_user(request, lang, LEADER_ROLES, csrf)
    settings = service(request).settings
    try:
        adopt(settings.out, settings.db, month, scenario, user.name)
    except NotARecordedRun:
        raise PageRefused(404, lang, user) from None
    target = safe_next(next)
    if "lang=" not in target:
        target += ("&" if "?" in target else "?") + f"lang={lang}"
    return RedirectResponse(target, status_code=303)
