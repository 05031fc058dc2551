"""Scenario names: one rule (models/config.py) for the run and the desk. A name is one folder
inside the month's, and `baseline` — the official plan's — is no scenario's, whether written as
the `name` key or taken from the file's stem; the desk refuses such a scenario when it is sent
(400) and still serves the folders runs wrote, `baseline` among them."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from models.config import Config
from models.errors import InputError
from models.scenarios import SCENARIO_PATTERN, load_scenario, scenario_name_problem
from optimizer.cli import main
from optimizer.manifest import default_store_url
from optimizer.serve.app import Settings, create_app
from tests.serve_helpers import PASSWORDS, served_copy


@pytest.mark.parametrize("name", ["baseline", "Baseline", "BASELINE", "ｂａｓｅｌｉｎｅ"])
def test_baseline_is_reserved_in_any_case_or_width(name):
    assert "official plan" in scenario_name_problem(name)


@pytest.mark.parametrize("name", ["v1.2", ".hidden", "a b", "x" * 65])
def test_the_desk_and_the_run_refuse_the_same_names(name):
    assert scenario_name_problem(name) is not None
    assert re.fullmatch(SCENARIO_PATTERN, name) is None


def _problems(path) -> list[str]:
    with pytest.raises(InputError) as caught:
        load_scenario(path, Config(), ["S01"], ["theft"])
    return [str(problem) for problem in caught.value.problems]


def test_a_scenario_named_baseline_is_refused_at_its_key(tmp_path):
    path = tmp_path / "campaign.toml"
    path.write_text('# the chief\'s idea\nname = "baseline"\n', encoding="utf-8")
    [problem] = _problems(path)
    assert problem.startswith("campaign.toml:2:name: 'baseline' is the official plan's name")


def test_a_file_named_baseline_needs_a_name_key(tmp_path):
    path = tmp_path / "baseline.toml"
    path.write_text("[allocation]\nmax_hours_cell = 50\n", encoding="utf-8")
    [problem] = _problems(path)
    assert problem.startswith("baseline.toml:0:name: no name key, and the file's stem 'baseline'")
    path.write_text('name = "more-hours"\n[allocation]\nmax_hours_cell = 50\n', encoding="utf-8")
    assert load_scenario(path, Config(), ["S01"], ["theft"]).name == "more-hours"


def test_run_refuses_a_scenario_named_baseline(demo_data, tmp_path):
    scenario = tmp_path / "campaign.toml"
    scenario.write_text('name = "baseline"\n[allocation]\nmax_hours_cell = 50\n')
    out = tmp_path / "out"
    args = ["run", "--data", str(demo_data), "--month", "2025-12", "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--scenario", str(scenario)])
    assert result.exit_code == 2, result.output
    assert "campaign.toml:1:name: 'baseline' is the official plan's name" in result.output
    assert not out.exists()


@pytest.fixture(scope="module")
def desk(demo_run, tmp_path_factory):
    """The demo's output served with its data folder, so scenarios can be sent."""
    out = served_copy(demo_run, tmp_path_factory.mktemp("names"))
    data = demo_run.parents[1] / "demo-data"
    settings = Settings(
        out=out, db=default_store_url(out), users_file=out / "users.toml", data=data
    )
    with TestClient(create_app(settings)) as client:
        answer = client.post(
            "/api/token", data={"username": "leader", "password": PASSWORDS["leader"]}
        )
        yield client, {"Authorization": f"Bearer {answer.json()['access_token']}"}


@pytest.mark.parametrize(
    ("body", "located"),
    [
        ('name = "baseline"\n', "job-"),
        ('# more hours\nname = "Baseline"\n', ".toml:2:name: 'Baseline' is the official plan's"),
        ('name = "v1.2"\n', ".toml:1:name: 'v1.2' cannot name a scenario"),
        ('name = "../../escaped"\n', ".toml:1:name: '../../escaped' cannot name a scenario"),
    ],
)
def test_the_desk_refuses_a_scenario_name_the_run_refuses(desk, body, located):
    client, leader = desk
    answer = client.post(
        "/api/runs/2026-01/scenarios",
        content=body.encode(),
        headers={**leader, "Content-Type": "application/toml"},
    )
    assert answer.status_code == 400, answer.text
    assert located in answer.json()["detail"]


def test_the_desk_still_serves_the_baseline_folder(desk):
    client, leader = desk
    runs = {r["scenario"] for r in client.get("/api/runs", headers=leader).json()}
    assert {"baseline", "copy"} <= runs
    assert client.get("/api/runs/2026-01/baseline/allocation", headers=leader).status_code == 200
