"""Shared set-up of the service tests: a served copy of the demo output with one user per role,
on SQLite or PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from sqlalchemy import create_engine, inspect

from optimizer.manifest import default_store_url
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
    `users.toml` (the station user reads S01) and a second scenario folder `copy`."""
    out = folder / "out"
    shutil.copytree(demo_run.parents[1], out, ignore=shutil.ignore_patterns("demo-data"))
    shutil.copytree(demo_run, out / "2026-01" / "copy")
    for role, password in PASSWORDS.items():
        add_user(out / "users.toml", role, role, STATION if role == "station" else "", password)
    return out


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
