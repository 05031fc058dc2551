"""Shared set-up of the assessment desk's page tests: the demo data with its last month of
indicator values removed, the desk's tables in a fresh store, a user per desk role, and the
service over them with no job queue (or a queue that only records what it is given)."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import pandas as pd
from fastapi import FastAPI
from fastapi.testclient import TestClient

from optimizer.manifest import default_store_url
from optimizer.serve.app import create_app
from optimizer.serve.deps import Settings
from optimizer.serve.jobs import Job
from optimizer.serve.users import add_user
from tests.test_assessment_desk import MONTH, PASSWORD, USERS

DESK_USERS = {**USERS, "s02": ("station", "S02", "")}


def desk_settings(data: Path, out: Path) -> Settings:
    """The desk over `data` (its month MONTH taken out of scores.csv) and a fresh store in
    `out`, with DESK_USERS."""
    scores = pd.read_csv(data / "scores.csv")
    scores[scores["month"] != MONTH].to_csv(data / "scores.csv", index=False)
    out.mkdir(exist_ok=True)
    url = default_store_url(out)  # the service's start upgrades it to hold the desk's tables
    for name, (role, station, department) in DESK_USERS.items():
        add_user(out / "users.toml", name, role, station, PASSWORD, department)
    return Settings(out=out, db=url, users_file=out / "users.toml", data=data)


class RecordedJobs:
    """A job queue that keeps the runs it is given, queued, and runs none."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}

    def submit_month(self, plan_month: str, requested_by: str = "") -> Job:
        job = Job(id=secrets.token_hex(16), plan_month=plan_month, requested_by=requested_by)
        self.jobs[job.id] = job
        return job

    def get(self, job_id: str) -> dict[str, str] | None:
        job = self.jobs.get(job_id)
        return job.view() if job else None

    def close(self) -> None:
        pass


def desk_app(settings: Settings, jobs: RecordedJobs | None = None) -> FastAPI:
    """The service with `jobs` in place of its job queue (none: no run is queued)."""
    app = create_app(settings)
    app.state.service.jobs.close()
    app.state.service.jobs = jobs
    return app


def csrf_of(page) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def signed_in(app: FastAPI, name: str) -> TestClient:
    """A browser (HTTPS, so the Secure cookies come back) signed in through the login form."""
    client = TestClient(app, base_url="https://testserver")
    form = client.get("/login")
    done = client.post(
        "/login",
        data={"username": name, "password": PASSWORD, "csrf": csrf_of(form)},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    return client
