"""Plan store, audit log and the month-to-month loop (SPEC §8), on SQLite and — when
PATROLOPT_TEST_PG_URL names a server (`.ci/run` starts one) — on PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from hashlib import sha256
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from optimizer.chain import sha256_file
from optimizer.cli import main

PG_URL = os.environ.get("PATROLOPT_TEST_PG_URL", "")
MONTHS = ["2025-10", "2025-11", "2025-12"]


@contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A new, empty PostgreSQL database on the test server, dropped afterwards."""
    if not PG_URL:
        pytest.skip("PATROLOPT_TEST_PG_URL not set: no PostgreSQL server (.ci/run starts one)")
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A fresh, empty store of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'plans.db'}"
        return
    with fresh_pg_database() as url:
        yield url


def run_month(data: Path, month: str, out: Path, url: str) -> None:
    args = ["run", "--data", str(data), "--month", month, "--out", str(out), "--db", url]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output


def run_command(data: Path, out: Path, url: str) -> list[str]:
    """`patrolopt run` for the last demo month as a separate process."""
    cli = "from optimizer.cli import main; main()"
    args = ["run", "--data", str(data), "--month", MONTHS[-1], "--out", str(out), "--db", url]
    return [sys.executable, "-c", cli, *args]


def table_counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    with engine.connect() as conn:
        tables = ["runs", "scores", "risk", "allocation", "duals", "hotspots", "audit_log"]
        counts = {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar() for t in tables}
    engine.dispose()
    return counts


@pytest.fixture(scope="module")
def bureau(tmp_path_factory, demo_data):
    """A private copy of the demo bureau (tests below tamper with inputs)."""
    copy = tmp_path_factory.mktemp("store-bureau") / "data"
    shutil.copytree(demo_data, copy)
    return copy


def test_three_months_loop_with_evaluation_and_reruns_replacing(bureau, tmp_path, store_url):
    out = tmp_path / "out"
    for month in MONTHS:
        run_month(bureau, month, out, store_url)
    first = out / "2025-11" / "baseline"
    assert not (first / "evaluation.csv").exists()  # no earlier plan to evaluate
    for plan_month in ("2025-12", "2026-01"):
        evaluation = pd.read_csv(out / plan_month / "baseline" / "evaluation.csv")
        assert evaluation["station_id"].iloc[-1] == "ALL"
        assert (evaluation["treated_cells"] > 0).any()
        plan = pd.read_csv(out / plan_month / "baseline" / "allocation.csv")
        assert plan["prev_hours"].sum() > 0  # x_prev read back from the store
    before = table_counts(store_url)
    assert before["runs"] == 3 and before["audit_log"] == 3
    run_month(bureau, MONTHS[-1], out, store_url)
    after = table_counts(store_url)
    assert {k: v for k, v in after.items() if k != "audit_log"} == {
        k: v for k, v in before.items() if k != "audit_log"
    }
    assert after["audit_log"] == 4  # append-only: the re-run supersedes, nothing is erased
    verified = CliRunner().invoke(main, ["audit", "verify", "--out", str(out), "--db", store_url])
    assert verified.exit_code == 0, verified.output


def test_sqlite_and_postgresql_store_the_same_rows(bureau, tmp_path):
    lite = f"sqlite:///{tmp_path / 'plans.db'}"
    with fresh_pg_database() as pg:
        run_month(bureau, MONTHS[-1], tmp_path / "a", lite)
        run_month(bureau, MONTHS[-1], tmp_path / "b", pg)
        for table in ("allocation", "duals", "scores", "risk", "hotspots", "training"):
            frames = []
            for url in (lite, pg):
                engine = create_engine(url)
                with engine.connect() as conn:
                    frame = pd.read_sql(text(f"SELECT * FROM {table}"), conn)
                engine.dispose()
                frames.append(frame.sort_values(list(frame.columns), ignore_index=True))
            pd.testing.assert_frame_equal(frames[0], frames[1], check_dtype=False)


def _verify(out: Path, url: str):
    return CliRunner().invoke(main, ["audit", "verify", "--out", str(out), "--db", url])


def test_tampering_with_any_recorded_file_is_caught_and_named(bureau, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(bureau, data)
    out, url = tmp_path / "out", f"sqlite:///{tmp_path / 'plans.db'}"
    run_month(data, MONTHS[-1], out, url)
    assert _verify(out, url).exit_code == 0
    folder = out / "2026-01" / "baseline"

    allocation = folder / "allocation.csv"
    original = allocation.read_bytes()
    allocation.write_bytes(original.replace(b",", b";", 1))
    result = _verify(out, url)
    assert result.exit_code != 0 and "allocation.csv" in result.output
    assert "entry 1 (2026-01/baseline)" in result.output
    allocation.write_bytes(original)

    # the data folder moving on is a note while the run's snapshot of it holds; a changed
    # snapshot as well is a changed record
    cases = data / "cases.csv"
    saved = cases.read_bytes()
    cases.write_bytes(saved + b"\n")
    result = _verify(out, url)
    assert result.exit_code == 0 and "cases.csv has changed since the plan" in result.output
    snapshot = out / ".inputs" / sha256(saved).hexdigest()
    snapshot.write_bytes(saved + b"\n")
    result = _verify(out, url)
    assert result.exit_code != 0 and "cases.csv" in result.output
    cases.write_bytes(saved)
    snapshot.write_bytes(saved)

    log = out / "audit.jsonl"
    entry = json.loads(log.read_text(encoding="utf-8"))
    entry["files"]["outputs/allocation.csv"] = "0" * 64
    log.write_text(json.dumps(entry) + "\n", encoding="utf-8")
    result = _verify(out, url)
    assert result.exit_code != 0 and "audit.jsonl entry 1" in result.output
    assert "does not match its hash" in result.output


def test_a_killed_run_never_leaves_a_partial_plan(bureau, tmp_path):
    """Kill `run` at several moments: the plan folder is absent, the old plan or the new one —
    always complete, every file matching the sha256 its plan.json recorded."""
    out = tmp_path / "out"
    url = f"sqlite:///{tmp_path / 'plans.db'}"
    run_month(bureau, MONTHS[-1], out, url)  # an old complete plan to be replaced
    target = out / "2026-01" / "baseline"
    command = run_command(bureau, out, url)
    for delay in (0.5, 2.0, 4.0, 6.0, 8.0, 10.0):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        visible = [p for p in target.parent.iterdir() if not p.name.startswith(".")]
        assert visible == [target]
        plan = json.loads((target / "plan.json").read_text(encoding="utf-8"))
        for name, digest in plan["outputs"].items():
            if name != "plan.json":
                assert sha256_file(target / name) == digest, (delay, name)
    # the next run clears what killed runs left in their dot folders, and the trail holds
    run_month(bureau, MONTHS[-1], out, url)
    assert [p.name for p in target.parent.iterdir()] == ["baseline"]
    verified = CliRunner().invoke(main, ["audit", "verify", "--out", str(out), "--db", url])
    assert verified.exit_code == 0, verified.output


def test_two_runs_at_once_leave_one_consistent_plan(bureau, tmp_path):
    """Two processes plan the same month and scenario on one store at the same time: the store
    holds one run's rows, the folder matches the latest audit entry, and the trail verifies."""
    out = tmp_path / "out"
    url = f"sqlite:///{tmp_path / 'plans.db'}"
    command = run_command(bureau, out, url)
    processes = [subprocess.Popen(command, stderr=subprocess.PIPE) for _ in range(2)]
    for process in processes:
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err.decode()
    counts = table_counts(url)
    assert counts["runs"] == 1 and counts["audit_log"] == 2
    single = len(pd.read_csv(out / "2026-01" / "baseline" / "allocation.csv"))
    assert counts["allocation"] == single
    assert _verify(out, url).exit_code == 0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(alphabet=list('ab"\\\n\t\x01é中 %,'), max_size=5),
            st.one_of(st.text(max_size=3), st.none(), st.just(float("nan"))),
        ),
        max_size=8,
    )
)
def test_rows_given_as_tuples_have_the_digest_of_their_rows(rows):
    """The store digests its tables from tuples; the digest is the one of the rows as dicts,
    the one `audit verify` computes from the rows read back."""
    from optimizer.store import rows_digest, tuples_digest

    columns = ["station_id", "%s message"]
    dicts = [dict(zip(columns, row, strict=True)) for row in rows]
    assert tuples_digest(columns, rows) == rows_digest(dicts)
