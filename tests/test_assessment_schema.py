"""The assessment desk's routes against the service's OpenAPI schema with schemathesis (SPEC
§17): generated requests, valid and malformed, signed in as each role that may change the
month (a department, the assessment office, a station) over a data folder; no answer is a
server error and every answer matches the schema. A request the schema allows may still be
refused for what it says (an unknown station, another department's indicator, a month not yet
closed, a file that is no CSV): those answers are 4xx naming the problem, so the check that
schema-valid requests are accepted is left out; every other check runs."""

from __future__ import annotations

import shutil

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from optimizer.manifest import default_store_url
from optimizer.serve.app import create_app
from optimizer.serve.auth import LoginThrottle
from optimizer.serve.deps import Settings
from optimizer.serve.users import add_user
from tests.serve_helpers import served_copy

PASSWORD = "schema-pass-123"
ROLES = {"office": ("assessor", "", ""), "command": ("department", "", "command")}
ROLES["s01"] = ("station", "S01", "")
EXAMPLES = {GenerationMode.POSITIVE: 12, GenerationMode.NEGATIVE: 8}


@pytest.fixture(scope="module")
def app(demo_run, demo_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("assessment-schema")
    out = served_copy(demo_run, folder)
    data = shutil.copytree(demo_data, folder / "data")
    for name, (role, station, department) in ROLES.items():
        add_user(out / "users.toml", name, role, station, PASSWORD, department)
    settings = Settings(
        out=out,
        db=default_store_url(out),
        users_file=out / "users.toml",
        data=data,
        throttle=LoginThrottle(base_s=0.0),
    )
    app = create_app(settings)
    app.state.service.jobs.close()
    app.state.service.jobs = None  # a generated close is stored, its run not started
    with TestClient(app):
        yield app


def _operations(app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    found = [result.ok() for result in schema.get_all_operations()]
    return [op for op in found if op.path.startswith(("/api/assessment", "/api/stations"))]


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda m: m.value)
@pytest.mark.parametrize("user", list(ROLES))
def test_the_desks_routes_answer_within_their_schema(app, user, mode):
    found = _operations(app)
    assert len(found) >= 10, [op.path for op in found]
    client = TestClient(app)
    token = client.post("/api/token", data={"username": user, "password": PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    answered = []
    for operation in found:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES[mode],
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case):
            answer = case.call_and_validate(
                headers=headers, excluded_checks=[positive_data_acceptance]
            )
            answered.append(answer.status_code)

        try:
            check()
        except Unsatisfiable:
            assert mode == GenerationMode.NEGATIVE, operation.path
    assert 500 not in answered and len(answered) >= 2 * len(found)
