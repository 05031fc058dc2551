"""Shared fixtures: the demo bureau written once per session, and its full run."""

from __future__ import annotations

import os
import shutil

# One native thread per pool for the whole suite: CI shares its cores, and OpenMP threads beyond
# the free cores spin (set before scikit-learn's OpenMP runtime loads).
os.environ.setdefault("PATROLOPT_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
from click.testing import CliRunner

from optimizer.cli import main
from optimizer.demo import write_demo_bureau


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory):
    return write_demo_bureau(tmp_path_factory.mktemp("bureau") / "data")


@pytest.fixture
def demo_copy(demo_data, tmp_path):
    """A copy of the demo data folder this test may spoil."""
    folder = tmp_path / "data"
    shutil.copytree(demo_data, folder)
    return folder


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo-out")
    result = CliRunner().invoke(main, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out / "2026-01" / "baseline"
