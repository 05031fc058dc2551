"""TOML syntax errors in `config.toml` and in scenario files: reported at their line (exit 2),
including those tomllib meets only at the end of the text."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from models.config import Config
from models.errors import InputError
from models.scenarios import load_scenario
from optimizer.cli import main

# (TOML text, the line its syntax error is reported at)
BROKEN = [
    ('name = "campaign"\n[allocation\nmax_hours_cell = 50\n', 2),  # unclosed header
    ('name = "campaign"\n\n[allocation]\nmax_hours_cell = 50 50\n', 4),  # two values
    ('name = "campaign"\n[allocation]\nbenefit_slopes = [0.01,\n', 3),  # at end of document
    ('name = "campaign"\n[deltas]\nharm = { theft = 2\n\n', 3),  # unclosed inline table
    ('name = "campaign"\n[allocation]\nmax_hours_cell =', 3),  # no value, no final newline
]


@pytest.mark.parametrize(("toml", "line"), BROKEN)
def test_scenario_syntax_error_is_reported_at_its_line(tmp_path, toml, line):
    path = tmp_path / "campaign.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_scenario(path, Config(), ["S01"], ["theft"])
    [problem] = caught.value.problems
    assert (problem.file, problem.row, problem.column) == ("campaign.toml", line, "(file)")
    assert problem.message.startswith("not valid TOML: ")


@pytest.mark.parametrize(("toml", "line"), BROKEN)
def test_validate_reports_config_syntax_error_at_its_line(demo_copy, toml, line):
    (demo_copy / "config.toml").write_text(toml.replace('name = "campaign"', "# settings"))
    result = CliRunner().invoke(main, ["validate", "--data", str(demo_copy)])
    assert result.exit_code == 2, result.output
    assert f"config.toml:{line}:(file): not valid TOML: " in result.output


def test_run_reports_scenario_syntax_error_at_its_line(demo_copy, tmp_path):
    scenario = tmp_path / "campaign.toml"
    scenario.write_text(BROKEN[2][0], encoding="utf-8")
    out = tmp_path / "out"
    args = ["run", "--data", str(demo_copy), "--month", "2025-12", "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--scenario", str(scenario)])
    assert result.exit_code == 2, result.output
    assert "campaign.toml:3:(file): not valid TOML: " in result.output
    assert not (out / "2026-01").exists()
