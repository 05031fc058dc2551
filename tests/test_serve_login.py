"""Signing in to `patrolopt serve` against hostile clients: guesses sent in parallel, forged
`X-Forwarded-For` addresses, and tokens kept after the user's entry changed (issue 22). The
throttle runs on a clock that stands still, so a hold never runs out during a test and the
tests count checked passwords, never time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from fastapi import FastAPI
from fastapi.testclient import TestClient

from optimizer.cli import main
from optimizer.manifest import default_store_url
from optimizer.serve import main as serve_main
from optimizer.serve.app import create_app
from optimizer.serve.auth import LoginThrottle
from optimizer.serve.deps import Settings
from optimizer.serve.users import add_user
from tests.serve_helpers import serving

GUESSES = 8
FREE = 3  # the throttle's attempts checked before it holds a name or client


def still_throttle() -> LoginThrottle:
    """The default throttle on a clock that never moves, with answers slowed by milliseconds."""
    return LoginThrottle(base_s=0.001, free=FREE, clock=lambda: 1000.0)


def served_app(tmp_path: Path) -> FastAPI:
    """The service over an empty output folder with a leader `lee` (password `right`)."""
    out = tmp_path / "out"
    add_user(out / "users.toml", "lee", "leader", "", "right")
    settings = Settings(
        out=out, db=default_store_url(out), users_file=out / "users.toml", throttle=still_throttle()
    )
    return create_app(settings)


def count_checks(app: FastAPI, gate=None) -> list[str]:
    """The passwords the service checks from now on, recorded as each check begins; `gate`
    (if given) runs before the check is made."""
    book = app.state.service.users
    checked_passwords: list[str] = []
    real = book.authenticate

    def counted(name: str, password: str):
        checked_passwords.append(password)
        if gate is not None:
            gate()
        return real(name, password)

    book.authenticate = counted
    return checked_passwords


def test_parallel_guesses_are_counted_before_they_are_checked(tmp_path):
    """Eight guesses at once for one name from one client, the right password among them:
    each check waits until every guess is either being checked or answered, so a throttle that
    counts only finished failures lets all eight through to the check. At most three are
    checked; the others are refused (429) before their password is looked at."""
    app = served_app(tmp_path)
    settled = threading.Condition()
    refused: list[int] = []

    def everyone_in() -> None:
        with settled:
            settled.notify_all()
            settled.wait_for(lambda: len(checked) + len(refused) >= GUESSES, timeout=60)

    checked = count_checks(app, everyone_in)
    passwords = [f"guess-{n}" for n in range(GUESSES - 1)] + ["right"]
    statuses: dict[str, int] = {}
    start = threading.Barrier(GUESSES)

    with TestClient(app) as client:

        def guess(password: str) -> None:
            start.wait()
            answer = client.post("/api/token", data={"username": "lee", "password": password})
            statuses[password] = answer.status_code
            if answer.status_code == 429:
                with settled:
                    refused.append(1)
                    settled.notify_all()

        threads = [threading.Thread(target=guess, args=(p,)) for p in passwords]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert len(checked) <= FREE
    assert sorted(statuses) == sorted(passwords)
    assert sum(status == 429 for status in statuses.values()) == GUESSES - len(checked)
    assert {statuses[p] for p in checked} <= {200, 401}


def test_throttle_counts_an_attempt_before_it_is_checked():
    now = [0.0]
    throttle = LoginThrottle(base_s=1.0, max_s=8.0, free=2, clock=lambda: now[0])
    keys = ["user:a", "client:x"]
    assert [throttle.begin(keys), throttle.begin(keys)] == [0.0, 0.0]  # both being checked
    assert throttle.begin(keys) == 4.0  # the third waits one step beyond their answers
    assert throttle.begin(["user:b", "client:x"]) == 4.0  # the client is held too
    assert throttle.begin(["user:b", "client:y"]) == 0.0
    assert [throttle.failed(keys), throttle.failed(keys)] == [1.0, 2.0]
    throttle.succeeded(["user:b", "client:y"])
    assert throttle.begin(["user:b", "client:y"]) == 0.0


def test_failed_answers_double_and_a_success_forgets_the_name():
    now = [0.0]
    throttle = LoginThrottle(base_s=1.0, max_s=8.0, free=2, clock=lambda: now[0])
    keys = ["user:a", "client:x"]
    delays = []
    for _ in range(5):
        wait = throttle.begin(keys)
        now[0] += wait
        assert wait == 0 or throttle.begin(keys) == 0
        delays.append(throttle.failed(keys))
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0]
    now[0] += 16
    assert throttle.begin(keys) == 0
    throttle.succeeded(keys)
    assert throttle.begin(["user:a", "client:y"]) == 0


@contextmanager
def live(app: FastAPI, forwarded_allow_ips: str) -> Iterator[str]:
    """The app served by uvicorn as `patrolopt serve` configures it, on a free loopback port."""
    config = serve_main.server_config(app, "127.0.0.1", 0, forwarded_allow_ips)
    config.log_level = "warning"
    with serving(config) as url:
        yield url


def spray(tmp_path: Path, forwarded_allow_ips: str, forge: bool) -> int:
    """Passwords checked when one client guesses eight names one after another, each guess
    claiming (when `forge`) another client address in `X-Forwarded-For`."""
    app = served_app(tmp_path)
    checked = count_checks(app)
    with live(app, forwarded_allow_ips) as url, httpx.Client(base_url=url) as client:
        for n in range(GUESSES):
            headers = {"X-Forwarded-For": f"203.0.113.{n + 1}"} if forge else {}
            form = {"username": f"name{n}", "password": "guess"}
            answer = client.post("/api/token", data=form, headers=headers)
            assert answer.status_code in (401, 429)
    return len(checked)


def test_forged_forwarded_for_gets_no_more_guesses_checked(tmp_path):
    plain = spray(tmp_path / "plain", "", forge=False)
    forged = spray(tmp_path / "forged", "", forge=True)
    assert plain == forged == FREE


def test_forwarded_for_counts_from_a_proxy_the_operator_names(tmp_path):
    """Behind a named proxy each forwarded address is a client of its own (the header is read)."""
    assert spray(tmp_path, "127.0.0.1", forge=True) == GUESSES


def test_serve_passes_forwarded_allow_ips_and_trusts_none_by_default(monkeypatch, tmp_path):
    started = []
    monkeypatch.setattr(serve_main, "serve_forever", lambda *args: started.append(args))
    runner = CliRunner()
    out = str(tmp_path)
    assert runner.invoke(main, ["serve", "--out", out]).exit_code == 0
    named = ["serve", "--out", out, "--forwarded-allow-ips", "10.0.0.5"]
    assert runner.invoke(main, named).exit_code == 0
    assert [args[-1] for args in started] == ["", "10.0.0.5"]
    config = serve_main.server_config(FastAPI(), "127.0.0.1", 8000, "")
    assert config.proxy_headers is False


def bearer(client: TestClient, password: str = "right") -> dict[str, str]:
    answer = client.post("/api/token", data={"username": "lee", "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.mark.parametrize(
    ("role", "station", "password"),
    [("leader", "", "changed"), ("planner", "", "right"), ("station", "S01", "right")],
    ids=["password", "role", "station"],
)
def test_a_token_is_refused_once_its_user_entry_changes(tmp_path, role, station, password):
    app = served_app(tmp_path)
    users_file = app.state.service.settings.users_file
    with TestClient(app) as client:
        headers = bearer(client)
        assert client.get("/api/runs", headers=headers).status_code == 200
        add_user(users_file, "lee", role, station, password)
        assert client.get("/api/runs", headers=headers).status_code == 401
        assert client.get("/api/runs", headers=bearer(client, password)).status_code == 200


def test_a_session_cookie_is_refused_after_a_password_change(tmp_path):
    app = served_app(tmp_path)
    users_file = app.state.service.settings.users_file
    with TestClient(app, base_url="https://testserver") as client:
        signed_in = client.post(
            "/login", data={"username": "lee", "password": "right"}, follow_redirects=False
        )
        assert signed_in.status_code == 303
        assert client.get("/").status_code == 200
        add_user(users_file, "lee", "leader", "", "changed")
        assert client.get("/").status_code == 401


def test_an_attempt_cut_short_does_not_hold_its_slot(tmp_path):
    """Logins answered 503 (the users file cannot be read) count as failures, so the name is
    held for a while and then taken again: no attempt stays counted as being checked."""
    app = served_app(tmp_path)
    now = [0.0]
    app.state.service.settings.throttle = LoginThrottle(base_s=1.0, free=FREE, clock=lambda: now[0])
    users_file = app.state.service.settings.users_file
    good = users_file.read_text(encoding="utf-8")
    with TestClient(app) as client:
        users_file.write_text("[users.lee\n", encoding="utf-8")
        form = {"username": "lee", "password": "right"}
        answers = [client.post("/api/token", data=form).status_code for _ in range(4)]
        assert answers == [503, 503, 503, 429]
        users_file.write_text(good, encoding="utf-8")
        now[0] += 100
        assert client.post("/api/token", data=form).status_code == 200
