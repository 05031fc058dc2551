"""Dask (SPEC §15): a run spread over worker processes writes the plan one process writes,
on the demo (`run --workers 2`) and on a small province (`run --scheduler` of a cluster of
two workers); the spread keeps the pieces' order and hands out lazily made pieces a few at a
time."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from models.errors import InputError, Problem
from optimizer.cli import main

distributed = pytest.importorskip("distributed", reason="Dask is the [dask] extra")

SKIPPED = {"plan.json", "audit.jsonl", "plans.db"}  # they record where and when it ran


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in SKIPPED
    }


def _same_plan(one: Path, spread: Path) -> None:
    """Every output file byte for byte, and plan.json but for its timings."""
    a, b = _files(one), _files(spread)
    assert sorted(a) == sorted(b)
    assert [name for name in a if a[name] != b[name]] == []
    plans = [json.loads((f / "plan.json").read_text(encoding="utf-8")) for f in (one, spread)]
    for plan in plans:
        assert plan.pop("timings_s")
    assert plans[0] == plans[1]


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as running:
        yield running


def test_demo_with_two_workers_writes_the_same_plan(demo_run, tmp_path):
    data = demo_run.parents[1] / "demo-data"
    args = ["run", "--data", str(data), "--month", "2025-12", "--out", str(tmp_path)]
    args += ["--previous-plan", str(data / "plan-2025-12.csv"), "--workers", "2"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    _same_plan(demo_run, tmp_path / "2026-01" / "baseline")


def test_small_province_on_a_scheduler_writes_the_same_plan(cluster, tmp_path):
    path = Path(__file__).resolve().parents[1] / "scripts" / "make_province.py"
    spec = importlib.util.spec_from_file_location("make_province", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    data = tmp_path / "province"
    module.write_province(data, 24, 30_000, 16, "2025-06", 4.0, 3, "parquet")
    base = ["run", "--data", str(data), "--month", "2025-06"]
    one = CliRunner().invoke(main, [*base, "--out", str(tmp_path / "one")])
    assert one.exit_code == 0, one.output
    spread = CliRunner().invoke(
        main, [*base, "--out", str(tmp_path / "dask"), "--scheduler", cluster.scheduler_address]
    )
    assert spread.exit_code == 0, spread.output
    plan = json.loads((tmp_path / "one" / "2025-07" / "baseline" / "plan.json").read_text())
    assert plan["models"]["forecast"]  # a forecast was chosen by the backtest
    _same_plan(
        tmp_path / "one" / "2025-07" / "baseline", tmp_path / "dask" / "2025-07" / "baseline"
    )


def _square(x: int, offset: int) -> int:
    return x * x + offset


def _refuse(x: int) -> int:
    if x == 3:
        raise InputError([Problem("cases.csv", 4, "lat", "not a number")])
    return x


def test_the_spread_keeps_order_and_passes_errors_back(cluster):
    from optimizer.cluster import DaskSpread

    with distributed.Client(cluster) as client:
        spread = DaskSpread(client, 2)
        assert spread(_square, iter(range(12)), offset=1) == [i * i + 1 for i in range(12)]
        with pytest.raises(InputError) as raised:
            spread(_refuse, range(5))
        assert str(raised.value.problems[0]) == "cases.csv:4:lat: not a number"


class _Recorder:
    """A client that runs each piece at once and logs when pieces go out and come back."""

    def __init__(self):
        self.log: list[tuple[str, object]] = []

    def scatter(self, value, **_):
        return _Done(value, self.log, "data")

    def submit(self, fn, piece, pure, **shared):
        self.log.append(("out", piece.value))
        return _Done(fn(piece.value, **{k: v.value for k, v in shared.items()}), self.log, "back")


class _Done:
    def __init__(self, value, log, kind):
        self.value, self.log, self.kind = value, log, kind

    def result(self):
        self.log.append((self.kind, self.value))
        return self.value

    def release(self):
        pass


def test_lazy_pieces_go_out_a_few_per_worker_ahead_of_the_results():
    from optimizer.cluster import AHEAD_PER_WORKER, DaskSpread

    client = _Recorder()
    assert DaskSpread(client, 2)(_square, iter(range(10)), offset=0) == [i * i for i in range(10)]
    out = [v for kind, v in client.log if kind == "out"]
    assert out == list(range(10))
    for position, (kind, piece) in enumerate(client.log):
        if kind == "out":
            back = sum(1 for k, _ in client.log[:position] if k == "back")
            assert piece - back < AHEAD_PER_WORKER * 2  # never more than 4 pieces out at once


def test_workers_and_scheduler_are_refused_together_and_a_missing_scheduler_is_named(
    demo_data, tmp_path, monkeypatch
):
    base = ["run", "--data", str(demo_data), "--month", "2025-12", "--out", str(tmp_path)]
    both = CliRunner().invoke(main, [*base, "--workers", "2", "--scheduler", "tcp://x:1"])
    assert both.exit_code == 2 and "not both" in both.output
    monkeypatch.setattr("optimizer.cluster.CONNECT_TIMEOUT_S", 2)
    nobody = CliRunner().invoke(main, [*base, "--scheduler", "tcp://127.0.0.1:9"])
    assert nobody.exit_code == 2
    assert "no Dask scheduler answers at tcp://127.0.0.1:9" in nobody.output
    assert not (tmp_path / "2026-01").exists()


@pytest.mark.parametrize("command", ["forecast", "backtest"])
def test_stage_commands_on_two_workers_write_the_same_files(demo_data, tmp_path, command):
    base = [command, "--data", str(demo_data), "--month", "2025-12"]
    extra = ["--months", "2"] if command == "backtest" else []
    one = CliRunner().invoke(main, [*base, *extra, "--out", str(tmp_path / "one")])
    assert one.exit_code == 0, one.output
    two = [*base, *extra, "--out", str(tmp_path / "two"), "--workers", "2"]
    spread = CliRunner().invoke(main, two)
    assert spread.exit_code == 0, spread.output
    assert _files(tmp_path / "one") == _files(tmp_path / "two")
    assert _files(tmp_path / "one")  # something was written
