"""The store upgraded in place from one version to the next (SPEC §17): a store the release
before the assessment desk wrote — plans, audit chain, access log, no Alembic revision — takes
the desk's tables with every row kept and `audit verify` still holding; an upgrade of a store at
the newest revision changes nothing; a new store starts at the newest; a run's publication and
the service's start upgrade the store they open. On SQLite and, when PATROLOPT_TEST_PG_URL names
a server, on PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, text

from models.errors import StoreError
from optimizer import audit, store
from optimizer.access_log import append_access
from optimizer.assessment.tables import ASSESSMENT, CLOSED_MONTHS
from optimizer.chain import sha256_file
from optimizer.cli import main
from optimizer.manifest import AUDIT_FILE, STORED
from optimizer.migrations import alembic_config, upgrade_store
from optimizer.publish import Staging, finish, publish
from optimizer.serve.app import create_app
from optimizer.serve.deps import Settings
from tests.test_store import fresh_pg_database

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
DESK_TABLES = set(ASSESSMENT.tables)
ALLOCATION = pd.DataFrame(
    {
        "station_id": ["S01", "S02"],
        "cell_id": ["c1", "c2"],
        "shift": ["day", "night"],
        "hours": ["12.5", "3.0"],
        "prev_hours": ["10.0", "0.0"],
        "risk": ["0.8", "0.1"],
    }
).reindex(columns=list(STORED["allocation"].columns), fill_value="")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    """A fresh, empty store of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'plans.db'}"
        return
    with fresh_pg_database() as pg:
        yield pg


def _bureau(folder: Path) -> dict[str, Path]:
    """The one input file the plans below are made from."""
    folder.mkdir(exist_ok=True)
    config = folder / "config.toml"
    config.write_text("[assessment]\nappeal_days = 5\n", encoding="utf-8")
    return {config.name: config}


def _plan(month: str, plan_month: str, inputs: dict[str, Path]) -> dict:
    return {
        "plan_month": plan_month,
        "scenario": "baseline",
        "month": month,
        "objective": 12.5,
        "solver": {"status": "optimal"},
        "grid": {"size_m": 500.0, "crs": "EPSG:32650"},
        "inputs": {name: sha256_file(path) for name, path in inputs.items()},
    }


def previous_release_store(url: str, out: Path, inputs: dict[str, Path]) -> None:
    """`url` and `out` as the release before the desk wrote them, by its own writers and with
    no Alembic revision: a published plan for 2026-01 (its rows, audit entry and log line), an
    adoption recorded after it and two requests in the access log."""
    out.mkdir()
    with Staging(out / "2026-01" / "baseline") as staging:
        ALLOCATION.to_csv(staging.folder / "allocation.csv", index=False)
        plan = staging.seal(_plan("2025-12", "2026-01", inputs))
        data = next(iter(inputs.values())).parent
        with store.transaction(url) as conn:
            rows = store.store_rows(conn, staging.folder, staging.target, plan)
            entry = audit.record_entry(conn, plan, staging.target, out, data, staging.files, rows)
        finish(staging.folder, staging.target, out, entry)
    with store.transaction(url) as conn:
        adopted = audit.record_decision(conn, entry, "adopt", "lead", {"note": "as planned"})
    audit.append_line(out, adopted)
    requests = [
        {"user": u, "role": r, "method": "GET", "path": "/", "status": 200, "time": t}
        for u, r, t in [("lead", "leader", "2026-01-02T08:00:00"), ("", "", "2026-01-02T08:01")]
    ]
    append_access(url, out, requests)


def _tables(url: str) -> dict[str, pd.DataFrame]:
    """Every table of the store with its rows in a fixed order."""
    engine = create_engine(url)
    with engine.connect() as conn:
        names = inspect(conn).get_table_names()
        frames = {name: pd.read_sql(text(f'SELECT * FROM "{name}"'), conn) for name in names}
    engine.dispose()
    return {
        name: frame.sort_values(list(frame.columns), ignore_index=True)
        for name, frame in frames.items()
    }


def _revision(url: str) -> str | None:
    tables = _tables(url)
    version = tables.get("alembic_version")
    return None if version is None else version["version_num"].item()


def _problems(out: Path, url: str) -> list[str]:
    return audit.verify(out, url).problems


def test_a_store_of_the_previous_release_is_upgraded_with_its_plans_and_chain(url, tmp_path):
    out, inputs = tmp_path / "out", _bureau(tmp_path / "data")
    previous_release_store(url, out, inputs)
    before = _tables(url)
    assert _revision(url) is None and not DESK_TABLES & set(before)
    assert len(before["audit_log"]) == 2 and len(before["access_log"]) == 2
    assert _problems(out, url) == []
    upgrade_store(url)
    after = _tables(url)
    assert _revision(url) == HEAD and set(after) >= DESK_TABLES
    for name, rows in before.items():  # plans, chain and access log as they were
        pd.testing.assert_frame_equal(after[name], rows, check_dtype=False)
    assert after["allocation"]["hours"].tolist() == ["12.5", "3.0"]
    assert _problems(out, url) == []


def test_a_publication_upgrades_the_store_it_records_in(url, tmp_path):
    out, inputs = tmp_path / "out", _bureau(tmp_path / "data")
    previous_release_store(url, out, inputs)
    with Staging(out / "2026-02" / "baseline") as staging:
        ALLOCATION.to_csv(staging.folder / "allocation.csv", index=False)
        publish(staging, staging.seal(_plan("2026-01", "2026-02", inputs)), url, out, inputs)
    tables = _tables(url)
    assert _revision(url) == HEAD and set(tables) >= DESK_TABLES
    assert tables["audit_log"]["plan_month"].tolist() == ["2026-01", "2026-01", "2026-02"]
    assert _problems(out, url) == []


def test_an_upgrade_at_the_newest_revision_changes_nothing(url, tmp_path):
    out, inputs = tmp_path / "out", _bureau(tmp_path / "data")
    previous_release_store(url, out, inputs)
    upgrade_store(url)
    with store.transaction(url) as conn:  # the desk at work between two starts
        closed = {"month": "2025-12", "closed_at": "2026-01-03T09:00:00", "closed_by": "office"}
        conn.execute(CLOSED_MONTHS.insert(), [closed])
    once = _tables(url)
    upgrade_store(url)
    twice = _tables(url)
    assert set(twice) == set(once) and _revision(url) == HEAD
    for name, rows in once.items():
        pd.testing.assert_frame_equal(twice[name], rows)
    assert twice[CLOSED_MONTHS.name]["closed_by"].tolist() == ["office"]


def test_a_new_store_starts_at_the_newest_revision_and_takes_a_first_plan(url, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    upgrade_store(url)
    tables = _tables(url)
    assert _revision(url) == HEAD
    assert {"audit_log", "access_log"} | DESK_TABLES <= set(tables)
    assert all(len(rows) == 0 for name, rows in tables.items() if name != "alembic_version")
    store.check_store(url, out)  # a store the service opened before any run takes the first
    (out / AUDIT_FILE).write_text('{"seq": 1}\n', encoding="utf-8")
    with pytest.raises(StoreError, match="holds no audit log"):
        store.check_store(url, out)  # ... but not a chain the folder's log continues


def test_desk_tables_already_there_are_kept_not_made_again(tmp_path):
    url = f"sqlite:///{tmp_path / 'plans.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        audit.AUDIT_TABLE.create(conn)
        CLOSED_MONTHS.create(conn)
        conn.execute(
            CLOSED_MONTHS.insert(), [{"month": "2025-12", "closed_at": "t", "closed_by": "o"}]
        )
    engine.dispose()
    upgrade_store(url)
    tables = _tables(url)
    assert _revision(url) == HEAD and set(tables) >= DESK_TABLES
    assert tables[CLOSED_MONTHS.name]["month"].tolist() == ["2025-12"]


def test_an_older_audit_log_gets_the_columns_of_decisions(tmp_path):
    """A chain written before decisions were recorded: its rows kept, the columns added."""
    path = tmp_path / "plans.db"
    first = ("seq", "recorded_at", "plan_month", "scenario", "folder", "data_dir", "files")
    with sqlite3.connect(path) as db:
        db.execute(f"CREATE TABLE audit_log ({', '.join(first)}, rows, prev_hash, entry_hash)")
        db.execute(
            "INSERT INTO audit_log VALUES (1, 't', '2026-01', 'baseline', 'f', 'd', '{}', "
            "'{}', '', 'h1')"
        )
    url = f"sqlite:///{path}"
    upgrade_store(url)
    log = _tables(url)["audit_log"]
    assert {"action", "user", "detail"} <= set(log.columns)
    assert log[["seq", "entry_hash"]].values.tolist() == [[1, "h1"]]
    assert log["action"].isna().all()


def test_a_foreign_database_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(StoreError, match="not a patrolopt store .*invoices"):
        upgrade_store(f"sqlite:///{path}")
    assert set(_tables(f"sqlite:///{path}")) == {"invoices"}


def test_a_store_of_a_newer_version_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'plans.db'}"
    upgrade_store(url)
    with store.transaction(url) as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'from-a-newer-release'"))
    with pytest.raises(StoreError, match="unknown to this version"):
        upgrade_store(url)
    assert _revision(url) == "from-a-newer-release"


def test_the_service_upgrades_its_store_before_any_request(tmp_path):
    out, inputs = tmp_path / "out", _bureau(tmp_path / "data")
    url = f"sqlite:///{out / 'plans.db'}"
    previous_release_store(url, out, inputs)
    app = create_app(Settings(out=out, db=url, users_file=out / "users.toml"))
    app.state.service.access.close()
    assert _revision(url) == HEAD and set(_tables(url)) >= DESK_TABLES
    assert _problems(out, url) == []


def test_serve_refuses_a_foreign_database_as_bad_input(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE invoices (id INTEGER)")
    args = ["serve", "--out", str(tmp_path), "--db", f"sqlite:///{path}", "--port", "0"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "not a patrolopt store" in result.output
