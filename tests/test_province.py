"""scripts/make_province.py: a small province is a valid data folder in both formats, the same
for a seed, with indicators that follow the cases."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from optimizer.cli import main


@pytest.fixture(scope="module")
def make_province():
    path = Path(__file__).resolve().parents[1] / "scripts" / "make_province.py"
    spec = importlib.util.spec_from_file_location("make_province", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write(module, folder: Path, big_format: str, seed: int = 3) -> dict:
    return module.write_province(folder, 12, 4000, 8, "2025-06", 4.0, seed, big_format)


@pytest.mark.parametrize("big_format", ["parquet", "csv"])
def test_a_small_province_validates(make_province, tmp_path, big_format):
    written = _write(make_province, tmp_path, big_format)
    assert written["cases"] == 4000 and written["months"] == ["2024-11", "2025-06"]
    assert (tmp_path / f"cases.{big_format}").exists()
    result = CliRunner().invoke(main, ["validate", "--data", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "4000 cases, 12 stations" in result.output


def test_the_same_seed_gives_the_same_province(make_province, tmp_path):
    _write(make_province, tmp_path / "a", "parquet")
    _write(make_province, tmp_path / "b", "parquet")
    _write(make_province, tmp_path / "c", "parquet", seed=4)
    a, b, c = (pd.read_parquet(tmp_path / k / "cases.parquet") for k in "abc")
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    scores = pd.read_parquet(tmp_path / "a" / "scores.parquet")
    counts = scores[scores["indicator_id"] == "P01"].set_index(["station_id", "month"])["value"]
    burglary = a[a["offence"] == "burglary"]
    truth = burglary.groupby([burglary["station_id"], burglary["occurred_at"].str[:7]]).size()
    # the case-derived indicator follows the cases (a few reports are missing on purpose)
    assert (counts.reindex(truth.index).dropna() == truth.reindex(counts.index).dropna()).all()
