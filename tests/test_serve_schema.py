"""The service against its own OpenAPI schema with schemathesis (SPEC §14): generated requests
to every operation, valid and malformed, signed in as a leader and without a token; no answer is
a server error and every answer matches the schema (status, content type, body)."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from optimizer.manifest import default_store_url
from optimizer.serve.app import create_app
from optimizer.serve.auth import LoginThrottle
from optimizer.serve.deps import Settings
from tests.serve_helpers import PASSWORDS, served_copy

EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 15}


@pytest.fixture(scope="module")
def app(demo_run, tmp_path_factory):
    out = served_copy(demo_run, tmp_path_factory.mktemp("schema"))
    # no data folder: a generated scenario is refused (409) instead of planned; no login delay
    settings = Settings(
        out=out,
        db=default_store_url(out),
        users_file=out / "users.toml",
        throttle=LoginThrottle(base_s=0.0),
    )
    app = create_app(settings)
    with TestClient(app):  # runs the lifespan: the access log is written at the end
        yield app


@pytest.fixture(scope="module")
def leader(app) -> dict:
    client = TestClient(app)
    answer = client.post("/api/token", data={"username": "leader", "password": PASSWORDS["leader"]})
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def operations(app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda m: m.value)
@pytest.mark.parametrize("signed_in", [True, False], ids=["leader", "anonymous"])
def test_no_server_error_and_answers_match_the_schema(app, leader, mode, signed_in):
    found = operations(app)
    assert {op.path for op in found} >= {"/api/token", "/api/runs/{month}/{scenario}/{table}"}
    headers = leader if signed_in else {}
    answered = []
    for operation in found:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES[mode] if signed_in else 5,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case):
            answered.append(case.call_and_validate(headers=headers).status_code)

        try:
            check()
        except Unsatisfiable:  # nothing to send malformed (no parameters, no body)
            assert mode == GenerationMode.NEGATIVE, operation.path
    assert len(answered) >= 3 * len(found)
