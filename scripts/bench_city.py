"""A city month on a shared server: `patrolopt run` on the real St. Louis data (233k cases),
first month (no stored plan) and second month (reads the stored plan), each alone and with a
CPU-bound job running beside it, as separate processes. Prints wall and CPU seconds per run and
the slowest steps (plan.json timings); writes the figures to a JSON file.

    python scripts/bench_city.py [--source ../shared/data/stl-slmpd] [--month 2019-10]
                                 [--out bench_city.json]

Targets (issue: a city in seconds): first month <= 30 s wall on 2 cores, also beside another
CPU-bound job; second month <= 20 s.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "stl-slmpd"


def _prepare(source: Path, folder: Path) -> Path:
    spec = importlib.util.spec_from_file_location(
        "prepare_stl", Path(__file__).with_name("prepare_stl.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.prepare(source, folder)


def _spin(stop) -> None:
    """The other job on the server: one core kept busy until told to stop."""
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def _run(data: Path, month: str, out: Path) -> dict:
    """One `patrolopt run` as its own process: wall and CPU seconds, step timings."""
    command = [sys.executable, "-c", "from optimizer.cli import main; main()"]
    command += ["run", "--data", str(data), "--month", month, "--out", str(out)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"run {month} failed ({done.returncode}):\n{done.stderr}")
    plan_month = str(pd.Period(month, "M") + 1)
    plan = json.loads((out / plan_month / "baseline" / "plan.json").read_text(encoding="utf-8"))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "steps_s": plan["timings_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SHARED)
    parser.add_argument("--month", default="2019-10")
    parser.add_argument("--out", type=Path, default=Path("bench_city.json"))
    args = parser.parse_args()
    if not (args.source / "incidents_2015_2019.csv.gz").exists():
        raise SystemExit(f"St. Louis data not found at {args.source}")
    second = str(pd.Period(args.month, "M") + 1)
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = _prepare(args.source, Path(tmp) / "data")
        for busy in (False, True):
            stop = multiprocessing.Event()
            spinner = multiprocessing.Process(target=_spin, args=(stop,)) if busy else None
            if spinner:
                spinner.start()
            try:
                out = Path(tmp) / f"plans-{'busy' if busy else 'alone'}"
                for label, month in (("first month", args.month), ("second month", second)):
                    key = f"{label}{' beside a CPU-bound job' if busy else ''}"
                    figures[key] = _run(data, month, out)
                    slowest = sorted(figures[key]["steps_s"].items(), key=lambda kv: -kv[1])[:3]
                    steps = ", ".join(f"{name} {secs:.1f} s" for name, secs in slowest)
                    print(
                        f"{key:40s} {figures[key]['wall_s']:6.1f} s wall "
                        f"{figures[key]['cpu_s']:6.1f} s CPU  ({steps})"
                    )
            finally:
                if spinner:
                    stop.set()
                    spinner.join()
    args.out.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
