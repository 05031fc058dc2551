"""Native thread pools are held to the limit a run is given."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from threadpoolctl import threadpool_info

import models.contracts as contracts
import optimizer.cli as cli
import optimizer.cycle as cycle
from optimizer.threads import limited_threads, usable_cores


def _pool_sizes() -> dict[str, int]:
    return {pool["internal_api"]: pool["num_threads"] for pool in threadpool_info()}


def test_limit_reaches_openmp_loaded_inside_and_before():
    with limited_threads(1) as limit:
        from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

        assert limit == 1
        assert _openmp_effective_n_threads() == 1
        assert set(_pool_sizes().values()) == {1}


def test_default_is_the_usable_cores():
    with limited_threads() as limit:
        assert limit == usable_cores() >= 1


COMMANDS = [  # every command that reads a data folder, with the arguments it needs
    ["validate"],
    ["run", "--month", "2025-12"],
    ["score", "--month", "2025-12", "--out", "unused"],
    ["quality", "--month", "2025-12", "--out", "unused"],
    ["hotspots", "--month", "2025-12", "--out", "unused"],
    ["forecast", "--month", "2025-12", "--out", "unused"],
    ["backtest", "--month", "2025-12", "--out", "unused"],
    ["allocate", "--month", "2025-12", "--out", "unused"],
    ["train", "--month", "2025-12", "--out", "unused"],
    ["execution", "--month", "2025-12", "--out", "unused"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
@pytest.mark.parametrize("threads", sorted({1, min(2, usable_cores())}))
def test_cli_applies_threads_to_every_command(demo_data, monkeypatch, tmp_path, threads, command):
    """Against the suite's own default of one thread: the option, not the environment, rules.
    Each command stops where it reads the data folder, with the pools as it runs them."""
    seen = {}

    def load_bureau(data, *args, **kwargs):
        seen.update(_pool_sizes())
        raise RuntimeError("stop here")

    monkeypatch.setattr(contracts, "load_bureau", load_bureau)
    monkeypatch.setattr(cycle, "load_bureau", load_bureau)
    monkeypatch.chdir(tmp_path)
    args = ["--threads", str(threads), command[0], "--data", str(demo_data), *command[1:]]
    result = CliRunner().invoke(cli.main, args)
    assert result.exit_code == 1, result.output
    assert "stop here" in result.output
    assert seen and set(seen.values()) == {threads}
