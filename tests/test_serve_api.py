"""The service's API through FastAPI's test client (SPEC §14): every role against every route
(allowed, 401, 403), a station's rows only, filters and CSV, path checks, tokens and slowed
logins, and `patrolopt users add`."""

from __future__ import annotations

import io
import time

import jwt
import pandas as pd
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from optimizer.cli import main
from optimizer.serve.app import create_app
from optimizer.serve.auth import LoginThrottle
from optimizer.serve.deps import Settings
from optimizer.serve.roles import TABLE_ROLES
from optimizer.serve.runs import TABLE_FILES
from optimizer.serve.users import read_users
from tests.serve_helpers import PASSWORDS, STATION, served_copy, store_of

ROLES = list(PASSWORDS)
RUN = "/api/runs/2026-01/baseline"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request, demo_run, tmp_path_factory):
    """The served copy and its store's URL: the whole suite runs on SQLite and PostgreSQL."""
    out = served_copy(demo_run, tmp_path_factory.mktemp("served"))
    with store_of(request.param, out) as url:
        yield out, url


@pytest.fixture(scope="module")
def out(served):
    return served[0]


def make_client(out, url: str, **overrides) -> TestClient:
    settings = Settings(out=out, db=url, users_file=out / "users.toml")
    for key, value in overrides.items():
        setattr(settings, key, value)
    return TestClient(create_app(settings))


@pytest.fixture(scope="module")
def client(served):
    with make_client(*served) as client:
        yield client


def sign_in(client: TestClient, role: str) -> dict:
    answer = client.post("/api/token", data={"username": role, "password": PASSWORDS[role]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "bearer"
    return {"Authorization": f"Bearer {body['access_token']}"}


@pytest.fixture(scope="module")
def auth(client):
    return {role: sign_in(client, role) for role in ROLES}


def file_rows(out, table: str) -> pd.DataFrame:
    return pd.read_csv(
        out / "2026-01" / "baseline" / f"{table}.csv", dtype=str, keep_default_na=False
    )


def routes() -> list[tuple[str, set[str], str | None]]:
    """(path, roles allowed, the run file it reads) of every read route on the demo run."""
    tables = [(f"{RUN}/{table}", roles, TABLE_FILES[table]) for table, roles in TABLE_ROLES.items()]
    return [
        ("/api/runs", set(ROLES), None),
        *tables,
        (f"{RUN}/training.xlsx", {"trainer", "leader"}, "training.xlsx"),
        ("/api/compare?run=2026-01/baseline&run=2026-01/copy", {"leader"}, None),
        ("/api/users", {"admin"}, None),
        ("/api/audit", {"admin"}, None),
    ]


@pytest.mark.parametrize(("path", "allowed", "reads"), routes())
def test_every_role_on_every_route(client, auth, out, path, allowed, reads):
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer nonsense"}).status_code == 401
    present = reads is None or (out / "2026-01" / "baseline" / reads).exists()
    for role in ROLES:
        answer = client.get(path, headers=auth[role])
        expected = (200 if present else 404) if role in allowed else 403
        assert answer.status_code == expected, (role, answer.text[:300])


@pytest.mark.parametrize("table", ["training", "scores"])
def test_station_reads_only_its_own_rows_whatever_it_asks(client, auth, out, table):
    own = file_rows(out, table)
    own = own[own["station_id"] == STATION]
    assert len(own) > 0
    headers = auth["station"]
    rows = client.get(f"{RUN}/{table}", headers=headers).json()
    assert len(rows) == len(own) and {r["station_id"] for r in rows} == {STATION}
    for station in ("S02", "", "S01' OR '1'='1", "*"):
        assert (
            client.get(f"{RUN}/{table}", params={"station": station}, headers=headers).json() == []
        )
    text = client.get(f"{RUN}/{table}", params={"format": "csv"}, headers=headers).text
    assert set(pd.read_csv(io.StringIO(text), dtype=str)["station_id"]) == {STATION}
    other = client.get(f"{RUN}/{table}?station=S02&format=csv", headers=headers).text
    assert pd.read_csv(io.StringIO(other)).empty


@pytest.mark.parametrize("table", ["allocation", "schedule"])
def test_station_reads_its_cells_and_the_aid_in_them_named_as_aid(client, auth, out, table):
    """Allocation keys rows by the cell's station, schedule by the patrolling one: the station
    reads the rows of its own cells in both, the aid others bring named (the demo's S01
    receives aid from S02 and S03 and lends none)."""
    allocation = file_rows(out, "allocation")
    owners = allocation.drop_duplicates("cell_id").set_index("cell_id")["station_id"]
    frame = file_rows(out, table)
    lender = frame.get("lender_station_id", pd.Series("", index=frame.index)).fillna("")
    patroller = frame["station_id"].where(lender == "", lender)
    expected = frame[frame["cell_id"].map(owners) == STATION]
    expected_aid = ["" if p == STATION else f"received from {p}" for p in patroller[expected.index]]
    rows = client.get(f"{RUN}/{table}", headers=auth["station"]).json()
    assert [r["cell_id"] for r in rows] == list(expected["cell_id"])
    assert [r["aid"] or "" for r in rows] == expected_aid
    assert {"received from S02", "received from S03"} <= set(expected_aid)


def test_rows_keep_the_files_columns_and_filters_select(client, auth, out):
    allocation = file_rows(out, "allocation")
    rows = client.get(f"{RUN}/allocation", headers=auth["leader"]).json()
    assert list(rows[0]) == list(allocation.columns) and len(rows) == len(allocation)
    assert isinstance(rows[0]["hours"], float) and isinstance(rows[0]["cell_id"], str)
    picked = client.get(
        f"{RUN}/allocation", params={"station": "S02", "shift": "night"}, headers=auth["planner"]
    ).json()
    expected = allocation[(allocation["station_id"] == "S02") & (allocation["shift"] == "night")]
    assert len(picked) == len(expected) > 0
    assert sorted(r["cell_id"] for r in picked) == sorted(expected["cell_id"])
    training = file_rows(out, "training")
    course = training["course_id"].iloc[0]
    chosen = client.get(f"{RUN}/training", params={"course": course}, headers=auth["trainer"])
    assert len(chosen.json()) == (training["course_id"] == course).sum()
    whole = client.get(f"{RUN}/duals", params={"format": "csv"}, headers=auth["leader"])
    assert whole.content == (out / "2026-01" / "baseline" / "duals.csv").read_bytes()
    assert whole.headers["content-type"].startswith("text/csv")
    no_column = client.get(f"{RUN}/scores", params={"shift": "day"}, headers=auth["leader"])
    assert no_column.status_code == 200 and no_column.json() == []  # scores have no shift
    hotspots = client.get(f"{RUN}/hotspots", headers=auth["planner"]).json()
    assert hotspots and hotspots[0]["geometry"].startswith("POLYGON")


def test_runs_workbook_and_comparison(client, auth, out):
    runs = client.get("/api/runs", headers=auth["station"]).json()
    listed = {(r["month"], r["scenario"]) for r in runs}
    folders = {(p.parent.name, p.name) for p in out.glob("20*-*/*") if (p / "plan.json").exists()}
    assert listed == folders and {("2026-01", "baseline"), ("2026-01", "copy")} <= listed
    book = client.get(f"{RUN}/training.xlsx", headers=auth["trainer"])
    assert book.content == (out / "2026-01" / "baseline" / "training.xlsx").read_bytes()
    assert "attachment" in book.headers["content-disposition"]
    figures = client.get(
        "/api/compare",
        params={"run": ["2026-01/baseline", "2026-01/copy"]},
        headers=auth["leader"],
    ).json()
    assert [f["run"] for f in figures] == ["2026-01/baseline", "2026-01/copy"]
    assert figures[0]["harm"] == figures[1]["harm"] > 0 and figures[0]["seats"] > 0
    missing = client.get("/api/compare?run=2026-01/nothing", headers=auth["leader"])
    assert missing.status_code == 404
    malformed = client.get("/api/compare?run=../etc", headers=auth["leader"])
    assert malformed.status_code == 422


def test_path_parts_cannot_leave_the_published_runs(client, auth, out, tmp_path):
    leader = auth["leader"]
    staging = out / "2026-01" / ".baseline.staging-1"
    staging.mkdir()
    (staging / "plan.json").write_text("{}")
    (staging / "scores.csv").write_text("station_id\nS09\n")
    (tmp_path / "plan.json").write_text("{}")
    (tmp_path / "scores.csv").write_text("station_id\nS09\n")
    (out / "2026-01" / "outside").symlink_to(tmp_path)
    for path in [
        "/api/runs/2026-01/.baseline.staging-1/scores",
        "/api/runs/2026-01/outside/scores",
        "/api/runs/2026-01/%2e%2e/scores",
        "/api/runs/2026-01/..%2Fbaseline/scores",
        "/api/runs/2026-13/baseline/scores",
        "/api/runs/../baseline/scores",
        "/api/runs/2026-01/baseline/plan",
        "/api/runs/2026-01/baseline/..%2Fplans.db",
    ]:
        assert client.get(path, headers=leader).status_code in (404, 422), path
    runs = client.get("/api/runs", headers=leader).json()
    assert {r["scenario"] for r in runs if r["month"] == "2026-01"} == {"baseline", "copy"}


def test_tokens_expire_and_name_current_users(out, client, auth):
    service = client.app.state.service
    key = service.tokens.key
    now = int(time.time())
    expired = jwt.encode({"sub": "leader", "iat": now - 100, "exp": now - 1}, key, "HS256")
    forged = jwt.encode({"sub": "leader", "exp": now + 600}, b"another key" * 3, "HS256")
    unsigned = jwt.encode({"sub": "leader", "exp": now + 600}, None, "none")
    ghost = jwt.encode({"sub": "nobody", "exp": now + 600}, key, "HS256")
    for token in (expired, forged, unsigned, ghost):
        answer = client.get("/api/runs", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, token
    claims = jwt.decode(auth["leader"]["Authorization"][7:], key, algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 480 * 60


def test_failed_logins_are_slowed_then_refused(served):
    client = make_client(*served, throttle=LoginThrottle(base_s=0.05, max_s=0.4, free=3))
    waits = []
    for _ in range(3):
        started = time.monotonic()
        answer = client.post("/api/token", data={"username": "leader", "password": "guess"})
        waits.append(time.monotonic() - started)
        assert answer.status_code == 401
    assert waits[2] >= 0.2  # the third failure's answer waits 0.05 × 2² s at least
    refused = client.post(
        "/api/token", data={"username": "leader", "password": PASSWORDS["leader"]}
    )
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    time.sleep(0.45)
    again = client.post("/api/token", data={"username": "leader", "password": PASSWORDS["leader"]})
    assert again.status_code == 200
    unknown = client.post("/api/token", data={"username": "who", "password": "x"})
    assert unknown.status_code == 401
    assert client.post("/api/token", data={"username": "leader"}).status_code == 422


def test_users_add_stores_a_scrypt_hash_and_refuses_bad_entries(tmp_path):
    users = tmp_path / "users.toml"
    runner = CliRunner()
    done = runner.invoke(
        main,
        ["users", "add", "陈警官", "--role", "station", "--station", "S02", "--users", str(users)],
        input="s3cret words\n",
    )
    assert done.exit_code == 0, done.output
    text = users.read_text(encoding="utf-8")
    assert "s3cret" not in text and "scrypt$" in text
    assert users.stat().st_mode & 0o077 == 0
    user, _hash = read_users(users)["陈警官"]
    assert (user.role, user.station) == ("station", "S02")
    for args in (
        ["x", "--role", "station"],
        ["x", "--role", "planner", "--station", "S01"],
        ["a/b", "--role", "planner"],
        ["x", "--role", "planner"],  # empty password
    ):
        refused = runner.invoke(main, ["users", "add", *args, "--users", str(users)], input="\n")
        assert refused.exit_code == 2, (args, refused.output)
    assert set(read_users(users)) == {"陈警官"}
    bad_role = runner.invoke(main, ["users", "add", "x", "--role", "chief", "--users", str(users)])
    assert bad_role.exit_code == 2


def test_a_removed_user_is_signed_out(served, tmp_path):
    out, url = served
    import shutil

    users = tmp_path / "users.toml"
    shutil.copy(out / "users.toml", users)
    client = make_client(out, url, users_file=users)
    headers = sign_in(client, "planner")
    assert client.get("/api/runs", headers=headers).status_code == 200
    users.write_text(users.read_text().replace('[users."planner"]', '[users."planner2"]'))
    assert client.get("/api/runs", headers=headers).status_code == 401
