"""The access log (SPEC §14): every answered request, signed in or not, in the store's
`access_log` and `access.jsonl`, chained by sha256; `patrolopt audit verify` passes on it and
names an entry changed in the store or removed from the file — on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from optimizer import access_log
from optimizer.cli import main
from optimizer.manifest import ACCESS_FILE
from optimizer.serve.app import create_app
from optimizer.serve.deps import Settings
from tests.serve_helpers import PASSWORDS, served_copy, store_of


@pytest.fixture(params=["sqlite", "postgresql"])
def served(request, demo_run, tmp_path):
    out = served_copy(demo_run, tmp_path)
    with store_of(request.param, out) as url:
        yield out, url


def stored_log(url: str) -> list[dict]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM access_log ORDER BY seq")).mappings().all()
    engine.dispose()
    return [dict(row) for row in rows]


def test_every_request_is_logged_chained_and_verified(served):
    out, url = served
    settings = Settings(out=out, db=url, users_file=out / "users.toml")
    with TestClient(create_app(settings)) as client:
        client.get("/health")
        client.get("/api/runs")
        client.post("/api/token", data={"username": "station", "password": "wrong"})
        answer = client.post("/api/token", data={"username": "station",
                                                 "password": PASSWORDS["station"]})  # fmt: skip
        headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        client.get("/api/runs/2026-01/baseline/scores?station=S02", headers=headers)
        client.get("/api/runs/2026-01/baseline/risk", headers=headers)
    rows = stored_log(url)
    seen = [(r["user"], r["role"], r["method"], r["path"], r["status"]) for r in rows]
    assert seen == [
        ("", "", "GET", "/health", 200),
        ("", "", "GET", "/api/runs", 401),
        ("station", "", "POST", "/api/token", 401),
        ("station", "station", "POST", "/api/token", 200),
        ("station", "station", "GET", "/api/runs/2026-01/baseline/scores", 200),
        ("station", "station", "GET", "/api/runs/2026-01/baseline/risk", 403),
    ]
    assert [r["seq"] for r in rows] == list(range(1, 7)) and all(r["time"] for r in rows)
    lines = (out / ACCESS_FILE).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["entry_hash"] for line in lines] == [r["entry_hash"] for r in rows]

    runner = CliRunner()
    verified = runner.invoke(main, ["audit", "verify", "--out", str(out), "--db", url])
    assert verified.exit_code == 0, verified.output

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE access_log SET status = 200 WHERE seq = 6"))
    engine.dispose()
    tampered = runner.invoke(main, ["audit", "verify", "--out", str(out), "--db", url])
    assert tampered.exit_code == 2
    assert "access_log entry 6 (GET /api/runs/2026-01/baseline/risk): content" in tampered.output

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE access_log SET status = 403 WHERE seq = 6"))
    engine.dispose()
    (out / ACCESS_FILE).write_text("\n".join(lines[:2] + lines[3:]) + "\n", encoding="utf-8")
    removed = runner.invoke(main, ["audit", "verify", "--out", str(out), "--db", url])
    assert removed.exit_code == 2 and "access.jsonl entry 4" in removed.output


def test_entries_a_stopped_service_wrote_without_their_commit_are_a_note_then_dropped(
    demo_run, tmp_path
):
    """The file is written just before the commit: a service killed between the two leaves a
    tail (here a whole entry and half a line) the store never committed. `verify` notes it
    without failing; the next batch drops it and chains after the committed entries."""
    from optimizer.audit import verify

    out = served_copy(demo_run, tmp_path)
    url = f"sqlite:///{out / 'plans.db'}"
    request = {"user": "chief", "role": "leadership", "method": "GET", "path": "/api/runs"}
    access_log.append_access(url, out, [{**request, "status": 200, "time": "t1"}] * 2)
    path = out / ACCESS_FILE
    committed = path.read_bytes()
    stray = {**request, "status": 200, "time": "t3", "seq": 3, "prev_hash": "x"}
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({**stray, "entry_hash": "y"}) + '\n{"user": "ch')
    access_log._COMMITTED.clear()  # as a new service process finds it

    found = verify(out, url)
    assert found.problems == []
    assert any("ends in 2 entries the store never committed" in n for n in found.notes)

    access_log.append_access(url, out, [{**request, "status": 403, "time": "t4"}])
    lines = path.read_text(encoding="utf-8").splitlines()
    assert path.read_bytes().startswith(committed) and len(lines) == 3
    assert json.loads(lines[2])["seq"] == 3 and json.loads(lines[2])["status"] == 403
    found = verify(out, url)
    assert found.problems == []
    assert not any("never committed" in n for n in found.notes)


def test_paths_holding_unicode_line_breaks_are_logged_and_verify(demo_run, tmp_path):
    """`GET /%C2%85` and its kin: JSON leaves U+0085, U+2028 and U+2029 raw in the line, which
    must stay one entry when the log is read back."""
    from optimizer.audit import verify

    out = served_copy(demo_run, tmp_path)
    url = f"sqlite:///{out / 'plans.db'}"
    settings = Settings(out=out, db=url, users_file=out / "users.toml")
    with TestClient(create_app(settings)) as client:
        for path in ("/%C2%85", "/a%E2%80%A8b", "/%E2%80%A9", "/health"):
            client.get(path)
    logged = [row["path"] for row in stored_log(url)]
    assert logged == ["/\u0085", "/a\u2028b", "/\u2029", "/health"]
    assert "\u0085" in (out / ACCESS_FILE).read_text(encoding="utf-8")
    found = verify(out, url)
    assert found.problems == [] and found.notes == []
