"""The command line's own options and words: --lang and --debug before or after the command,
sentences in the chosen language, a missing scenario file refused before any work."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from optimizer.cli import main


@pytest.mark.parametrize(
    "args",
    [
        ["--lang", "zh", "validate", "--data", "{data}"],
        ["validate", "--data", "{data}", "--lang", "zh"],
        ["validate", "--lang=zh", "--data", "{data}"],
    ],
)
def test_lang_is_taken_before_or_after_the_command(demo_data, args):
    result = CliRunner().invoke(main, [a.format(data=demo_data) for a in args])
    assert result.exit_code == 0, result.output
    assert "校验通过" in result.output


def test_input_problems_are_told_in_chinese(tmp_path):
    result = CliRunner().invoke(
        main, ["validate", "--data", str(tmp_path / "none"), "--lang", "zh"]
    )
    assert result.exit_code == 2
    assert "未写入任何文件" in result.output


def test_debug_is_an_option_and_shows_the_traceback(demo_data, monkeypatch):
    import models.contracts

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(models.contracts, "load_bureau", broken)
    plain = CliRunner().invoke(main, ["validate", "--data", str(demo_data)])
    debug = CliRunner().invoke(main, ["validate", "--data", str(demo_data), "--debug"])
    assert plain.exit_code == debug.exit_code == 1
    assert "internal error: boom" in plain.output and "Traceback" not in plain.output
    assert "Traceback" in debug.output


def test_a_missing_scenario_file_is_refused_at_once(demo_data, tmp_path, monkeypatch):
    import models.contracts

    def never(*args, **kwargs):
        raise AssertionError("the data folder was loaded before the scenario was checked")

    monkeypatch.setattr(models.contracts, "load_bureau", never)
    args = ["run", "--data", str(demo_data), "--month", "2025-12", "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(main, [*args, "--scenario", str(tmp_path / "nope.toml")])
    assert result.exit_code == 2 and "nope.toml" in result.output
    assert not (tmp_path / "o").exists()
