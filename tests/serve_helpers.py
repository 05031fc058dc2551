"""Shared set-up of the service tests: a served copy of the demo output with one user per role,
on SQLite or PostgreSQL."""

from __future__ import annotations

import json
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect

from optimizer.manifest import default_store_url, write_outputs
from optimizer.publish import Staging, publish
from optimizer.serve.app import create_app
from optimizer.serve.deps import Settings
from optimizer.serve.users import add_user
from tests.test_store import fresh_pg_database

PASSWORDS = {
    "planner": "plan-pass",
    "trainer": "train-pass",
    "leader": "lead-pass",
    "station": "station-pass",
    "admin": "admin-pass",
}
STATION = "S01"


def served_copy(demo_run: Path, folder: Path) -> Path:
    """A copy of the demo's output folder with its store, users for every role in
    `users.toml` (the station user reads S01) and a second scenario `copy`, published (in
    the store and the audit log) with the demo plan's files."""
    out = folder / "out"
    shutil.copytree(demo_run.parents[1], out, ignore=shutil.ignore_patterns("demo-data"))
    publish_copy(out, demo_run, "copy")
    for role, password in PASSWORDS.items():
        add_user(out / "users.toml", role, role, STATION if role == "station" else "", password)
    return out


def publish_copy(
    out: Path,
    run: Path,
    scenario: str,
    files: dict[str, pd.DataFrame] | None = None,
    leave_out: tuple[str, ...] = (),
) -> Path:
    """The plan of `run` published again in `out` as `scenario` of the same month, with
    `files` (name → table) written beside its own, and its files named in `leave_out` not."""
    plan = json.loads((run / "plan.json").read_text(encoding="utf-8"))
    del plan["outputs"]
    with Staging(out / run.parent.name / scenario) as staging:
        for path in run.iterdir():
            if path.name != "plan.json" and path.name not in leave_out:
                shutil.copyfile(path, staging.folder / path.name)
        write_outputs(staging.folder, files or {})
        sealed = staging.seal({**plan, "scenario": scenario})
        data = run.parents[1] / "demo-data"
        inputs = {p.name: p for p in sorted(data.iterdir()) if p.name in plan["inputs"]}
        publish(staging, sealed, default_store_url(out), out, inputs)
    return staging.target


@contextmanager
def store_of(kind: str, out: Path) -> Iterator[str]:
    """The URL of the served copy's store: its own SQLite file, or a fresh PostgreSQL database
    holding the same tables (skipped without PATROLOPT_TEST_PG_URL)."""
    sqlite = default_store_url(out)
    if kind == "sqlite":
        yield sqlite
        return
    with fresh_pg_database() as url:
        source, target = create_engine(sqlite), create_engine(url)
        with source.connect() as read, target.begin() as write:
            for table in inspect(read).get_table_names():
                pd.read_sql_table(table, read).to_sql(table, write, index=False)
        source.dispose()
        target.dispose()
        yield url


def browser(out: Path) -> TestClient:
    """A browser on the service over `out` (HTTPS, so the Secure cookies are sent back)."""
    settings = Settings(out=out, db=default_store_url(out), users_file=out / "users.toml")
    return TestClient(create_app(settings), base_url="https://testserver")


def signed_in(out: Path, role: str) -> TestClient:
    """A browser signed in through the login form as the user of `role`."""
    client = browser(out)
    form = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    done = client.post(
        "/login",
        data={"username": role, "password": PASSWORDS[role], "csrf": csrf, "next": "/"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    return client


@contextmanager
def serving(service: Settings | uvicorn.Config) -> Iterator[str]:
    """The service for `settings` (or a uvicorn config of the app) on a free loopback port,
    in a thread: its base URL."""
    config = (
        uvicorn.Config(create_app(service), log_level="warning")
        if isinstance(service, Settings)
        else service
    )
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
