"""Scenario runs through the service (SPEC §14): a leader's scenario TOML becomes a job whose
plan lands in the output folder and store as `patrolopt run --scenario` writes it; input errors
and infeasible plans come back in the job's message; reads are answered while it runs; without
`--data` 409; and a service killed mid-run (started as `patrolopt serve`, users made with
`patrolopt users add`) leaves no partial plan."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
import sqlalchemy
from click.testing import CliRunner
from fastapi.testclient import TestClient

from optimizer.audit import verify
from optimizer.cli import main
from optimizer.manifest import default_store_url
from optimizer.serve.app import create_app
from optimizer.serve.deps import Settings
from tests.serve_helpers import PASSWORDS, served_copy, store_of

MORE_OFFICERS = 'name = "more-s01"\n[deltas]\nofficers = { S01 = 0.10 }\n'
UNKNOWN_KEY = 'name = "typo"\n[allocation]\nmax_hours_cel = 50\n'
IMPOSSIBLE = 'name = "zero"\n[allocation]\npatrol_hours_per_officer = 0.0\nmin_hours_cell = 5\n'


@pytest.fixture(scope="module")
def bureau(demo_run, tmp_path_factory):
    """A served copy of the demo with its data folder next to it."""
    folder = tmp_path_factory.mktemp("jobs")
    out = served_copy(demo_run, folder)
    data = shutil.copytree(demo_run.parents[1] / "demo-data", folder / "data")
    return out, data


def client_for(out: Path, data: Path | None, url: str | None = None) -> TestClient:
    db = url or default_store_url(out)
    settings = Settings(out=out, db=db, users_file=out / "users.toml", data=data)
    return TestClient(create_app(settings))


def token(client, role: str) -> dict:
    answer = client.post("/api/token", data={"username": role, "password": PASSWORDS[role]})
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def wait(get, job_id: str, until=("done", "infeasible", "failed"), limit_s: float = 600) -> dict:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        state = get(f"/api/jobs/{job_id}").json()
        if state["state"] in until:
            return state
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} still {state} after {limit_s} s")


def test_scenario_jobs_end_to_end(bureau, tmp_path):
    out, data = bureau
    other = shutil.copytree(out, tmp_path / "other")  # the same plans and store for `run`
    with client_for(out, data) as client:
        leader = token(client, "leader")
        submitted = {}
        for name, body in (
            ("more-s01", MORE_OFFICERS), ("typo", UNKNOWN_KEY), ("zero", IMPOSSIBLE),
        ):  # fmt: skip
            answer = client.post(
                "/api/runs/2026-01/scenarios",
                content=body.encode(),
                headers={**leader, "Content-Type": "application/toml"},
            )
            assert answer.status_code == 202, answer.text
            assert answer.json()["state"] == "queued" and len(answer.json()["id"]) == 32
            submitted[name] = answer.json()["id"]

        def get(path):
            return client.get(path, headers=leader)

        running = wait(get, submitted["more-s01"], until=("running", "done"))
        assert running["state"] == "running"  # reads are answered meanwhile
        assert get("/api/runs/2026-01/baseline/allocation").status_code == 200
        assert get(f"/api/jobs/{submitted['zero']}").json()["state"] == "queued"  # one at a time

        done = wait(get, submitted["more-s01"])
        assert done["state"] == "done", done
        typo = wait(get, submitted["typo"])
        assert typo["state"] == "failed" and ":3:allocation.max_hours_cel:" in typo["message"]
        zero = wait(get, submitted["zero"])
        assert zero["state"] == "infeasible" and "short by" in zero["message"]
        escaped = client.post(
            "/api/runs/2026-01/scenarios", content=b'name = "../../escaped"\n', headers=leader
        )
        assert escaped.status_code == 400 and "cannot name a scenario" in escaped.text
        assert not (out.parent / "escaped").exists() and not (out / "escaped").exists()

        scenarios = {r["scenario"] for r in get("/api/runs").json() if r["month"] == "2026-01"}
        assert scenarios == {"baseline", "copy", "more-s01"}
        figures = get("/api/compare?run=2026-01/baseline&run=2026-01/more-s01").json()
        assert "S01 +10%" in figures[1]["settings"]
        assert get("/api/jobs/" + "0" * 32).status_code == 404
        assert client.get(f"/api/jobs/{submitted['typo']}", headers=token(client, "planner")) \
            .status_code == 403  # fmt: skip
        refused = client.post(
            "/api/runs/2026-01/scenarios", content=b"x", headers=token(client, "planner")
        )
        assert refused.status_code == 403
        assert client.post("/api/runs/2026-01/scenarios", content=b"x").status_code == 401

    # the same scenario through `patrolopt run` writes the same plan
    scenario = tmp_path / "more-s01.toml"
    scenario.write_text(MORE_OFFICERS)
    ran = CliRunner().invoke(
        main,
        ["run", "--data", str(data), "--month", "2025-12", "--out", str(other),
         "--scenario", str(scenario)],
    )  # fmt: skip
    assert ran.exit_code == 0, ran.output
    for name in ("allocation.csv", "duals.csv", "training.csv", "scores.csv", "schedule.csv"):
        served = (out / "2026-01" / "more-s01" / name).read_bytes()
        assert served == (other / "2026-01" / "more-s01" / name).read_bytes(), name
    assert verify(out, default_store_url(out)).problems == []
    engine = sqlalchemy.create_engine(default_store_url(out))
    with engine.connect() as conn:
        runs = pd.read_sql("SELECT scenario FROM runs WHERE plan_month = '2026-01'", conn)
    engine.dispose()
    assert set(runs["scenario"]) == {"baseline", "copy", "more-s01"}


def test_a_scenario_job_lands_in_postgresql(demo_run, tmp_path):
    out = served_copy(demo_run, tmp_path)
    data = shutil.copytree(demo_run.parents[1] / "demo-data", tmp_path / "data")
    with store_of("postgresql", out) as url, client_for(out, data, url) as client:
        leader = token(client, "leader")
        job = client.post("/api/runs/2026-01/scenarios", content=MORE_OFFICERS, headers=leader)
        done = wait(lambda path: client.get(path, headers=leader), job.json()["id"])
        assert done["state"] == "done", done
        engine = sqlalchemy.create_engine(url)
        with engine.connect() as conn:
            stored = pd.read_sql("SELECT scenario FROM runs WHERE plan_month = '2026-01'", conn)
        engine.dispose()
        assert set(stored["scenario"]) == {"baseline", "copy", "more-s01"}
        assert (out / "2026-01" / "more-s01" / "allocation.csv").exists()
        assert verify(out, url).problems == []


def test_without_data_scenarios_are_refused(bureau):
    out, _data = bureau
    with client_for(out, None) as client:
        answer = client.post(
            "/api/runs/2026-01/scenarios", content=MORE_OFFICERS.encode(),
            headers=token(client, "leader"),
        )  # fmt: skip
        assert answer.status_code == 409


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(child) for child in text]
    return found


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    status = Path(f"/proc/{pid}/status").read_text()
    return "State:\tZ" in status


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_a_killed_service_leaves_no_partial_plan(bureau, tmp_path):
    out, data = bureau
    patrolopt = [sys.executable, "-c", "from optimizer.cli import main; main()"]
    users = tmp_path / "users.toml"
    added = subprocess.run(
        [*patrolopt, "users", "add", "chief", "--role", "leader", "--users", str(users)],
        input="chief's password\n", capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    port = free_port()
    server = subprocess.Popen(
        [*patrolopt, "serve", "--out", str(out), "--data", str(data), "--users", str(users),
         "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        signed = httpx.post(
            f"{base}/api/token", data={"username": "chief", "password": "chief's password"}
        )
        headers = {"Authorization": f"Bearer {signed.json()['access_token']}"}
        body = 'name = "killed"\n[deltas]\nofficers = { S02 = 0.2 }\n'
        job = httpx.post(f"{base}/api/runs/2026-01/scenarios", content=body, headers=headers)
        assert job.status_code == 202

        def get(path):
            return httpx.get(base + path, headers=headers)

        def late_in_the_run() -> bool:
            """Running, past the forecast: from here to the end the job is seconds long."""
            state = get(f"/api/jobs/{job.json()['id']}").json()
            assert state["state"] in ("queued", "running"), state  # not yet over
            return state["state"] == "running" and any(
                step in state["message"] for step in ("allocate", "train", "write")
            )

        deadline = time.monotonic() + 600
        while not late_in_the_run():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        workers = children(server.pid)
        assert workers, "the job runs in a worker process"
        server.send_signal(signal.SIGKILL)
        server.wait()
        for _ in range(100):
            if all(gone(w) for w in workers):
                break
            time.sleep(0.1)
        assert all(gone(w) for w in workers), "the worker dies with the service"
    finally:
        server.kill()
        server.wait()
    assert not (out / "2026-01" / "killed").exists()
    assert verify(out, default_store_url(out)).problems == []
    left = [p.name for p in (out / "2026-01").iterdir() if p.name.startswith(".killed")]
    assert all(".staging-" in name for name in left)  # cleared by the next run
