"""Configuration values out of range, infinite or NaN: refused at their file, line and key
(exit 2), in `config.toml` and in a scenario's overrides and deltas alike."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from models.config import Config
from models.errors import InputError
from models.scenarios import load_scenario
from optimizer.cli import main

# (TOML after a comment line and its table header, the located keys `validate` names)
NON_FINITE = [
    ("[allocation]\nmax_hours_cell = inf", ["3:allocation.max_hours_cell"]),
    (
        "[scoring]\naward_weight = { excellent = inf, good = 2, qualified = 1, unqualified = 0 }",
        ["3:scoring.award_weight.excellent"],
    ),
    (
        "[allocation]\nbenefit_slopes = [nan, nan, nan]",
        [f"3:allocation.benefit_slopes.{i}" for i in range(3)],
    ),
    (
        "[allocation]\nshift_share = { day = nan, evening = 0.35, night = 0.25 }",
        ["3:allocation.shift_share.day"],
    ),
    ("[allocation]\npatrol_hours_per_officer = inf", ["3:allocation.patrol_hours_per_officer"]),
    ("[grid]\ncell_size_m = inf", ["3:grid.cell_size_m"]),
    (
        "[execution]\nresponse_target_min = { 1 = nan, 3 = -5 }",
        ["3:execution.response_target_min.1", "3:execution.response_target_min.3"],
    ),
]


@pytest.mark.parametrize(("toml", "keys"), NON_FINITE)
def test_validate_refuses_non_finite_config_at_its_line_and_key(demo_copy, toml, keys):
    (demo_copy / "config.toml").write_text(f"# the bureau's settings\n{toml}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", "--data", str(demo_copy)])
    assert result.exit_code == 2, result.output
    for key in keys:
        assert f"config.toml:{key}: " in result.output
    assert "Traceback" not in result.output


def _scenario_problems(tmp_path, toml: str) -> list[str]:
    path = tmp_path / "campaign.toml"
    path.write_text(f'name = "campaign"\n{toml}\n', encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_scenario(path, Config(), ["S01"], ["theft"])
    return [str(problem) for problem in caught.value.problems]


@pytest.mark.parametrize(("toml", "keys"), NON_FINITE)
def test_scenario_override_refuses_non_finite_values_at_its_line_and_key(tmp_path, toml, keys):
    problems = _scenario_problems(tmp_path, toml)
    located = {problem.split(": ")[0] for problem in problems}
    assert located == {f"campaign.toml:{key}" for key in keys}


@pytest.mark.parametrize(
    ("toml", "where", "message"),
    [
        ("[deltas]\nharm = { theft = inf }", "campaign.toml:3:deltas.harm.theft", "finite"),
        ("[deltas]\nharm = { theft = -1 }", "campaign.toml:3:deltas.harm.theft", "0"),
        ("[deltas]\nofficers = { S01 = nan }", "campaign.toml:3:deltas.officers.S01", "finite"),
        ("[deltas]\nofficers = { S01 = -2 }", "campaign.toml:3:deltas.officers.S01", "-1"),
    ],
)
def test_scenario_deltas_refuse_non_finite_and_out_of_range(tmp_path, toml, where, message):
    [problem] = _scenario_problems(tmp_path, toml)
    assert problem.startswith(f"{where}: ") and message in problem


@pytest.mark.parametrize(
    ("toml", "where"),
    [
        (
            "[scoring]\ngrade_thresholds = { excellent = 190, good = 80, qualified = 60 }",
            "scoring.grade_thresholds.excellent",
        ),
        (
            "[scoring]\nquadrant_targets = { prevention = -30 }",
            "scoring.quadrant_targets.prevention",
        ),
        (
            "[allocation]\nshift_share = { day = 1.4, evening = -0.2, night = -0.2 }",
            "allocation.shift_share.day",
        ),
        ("[allocation]\nbenefit_slopes = [0.01, 0.005, -0.002]", "allocation.benefit_slopes.2"),
        ("[allocation]\npatrol_hours_per_officer = 1000", "allocation.patrol_hours_per_officer"),
        ("[execution]\nresponse_target_min = { 0 = 10 }", "execution.response_target_min.0"),
    ],
)
def test_each_key_declares_its_range(tmp_path, toml, where):
    problems = _scenario_problems(tmp_path, toml)
    assert any(problem.startswith(f"campaign.toml:3:{where}: ") for problem in problems), problems
