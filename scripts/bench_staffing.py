"""Benchmark: the staffing recommendation (SPEC §19) on two cities and a province. Prints the
figures and writes them as JSON.

    python scripts/bench_staffing.py [--stl ../shared/data/stl-slmpd] [--stl-month 2019-10]
                                     [--stations 2000] [--skip-city] [--skip-province]
                                     [--out bench_staffing.json]

Cities — each month is planned as `run` plans it (execution data, forecast,
`stages.planned_missions`), then the staffing step is timed: the model alone (`recommend`,
`exact`: branch and bound to a zero gap) and the whole step (`staffing_stage`: the model, then
the plan made again with the recommended officers, the missions' drive estimated for them):

- the demo, built in a scratch folder as `patrolopt demo` builds it (12 stations, calls and
  therefore response reserves, last month's plan);
- St. Louis (six districts, no calls), prepared by scripts/prepare_stl.py when `--stl` holds
  its data (as scripts/bench_city.py finds it), first month: no previous plan.

Province — the synthetic bureau of scripts/bench_allocation.py's `instance`, `--stations`
square stations of 100 cells (2,000: 200,000 cells × 3 shifts = 600,000 cell-shifts, more than
scripts/make_province.py's 128,000 cells), response reserves of 0, 4 or 6 officers' hours drawn
per station-shift, in its first month (no previous plan) and with a previous plan; the model
by the province method (`rounded`: the LP relaxation, rounded and repaired) and by `exact` for
comparison. Each in a fresh process: wall time of the model, peak memory of the process
(the instance and today's plan included), the objective, the relaxation's bound and the gap.
Targets (SPEC §15, 2 cores): the province's whole run ≤ 600 s and ≤ 6 GB.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

SCRIPTS = Path(__file__).resolve().parent
STL = SCRIPTS.parents[1] / "shared" / "data" / "stl-slmpd"


def _script(name: str):
    """A module of scripts/ by file name (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def city(data: Path, month: str, previous_plan: Path | None) -> dict:
    """The month after `month` planned as `run` plans it, then the staffing step timed."""
    from models.contracts import load_bureau, load_previous_plan
    from optimizer import stages
    from optimizer.allocation.staffing import recommend
    from optimizer.execution import execution_stage, has_execution_data
    from optimizer.staffing import staffing_stage

    start = time.perf_counter()
    bureau = load_bureau(data)
    sp = stages.spatial(bureau)
    cases = stages.cases_upto(bureau, month, sp)
    shifts = bureau.config.allocation.shifts
    previous = load_previous_plan(previous_plan, shifts) if previous_plan else None
    executed = execution_stage(bureau, month, sp, previous) if has_execution_data(bureau) else None
    reserve = executed.reserve if executed is not None else None
    risk = stages.forecast_stage(bureau, month, sp, cases).risk
    allocated, _ = stages.planned_missions(bureau, month, sp, cases, risk, previous, True, reserve)
    planned = time.perf_counter()
    model = recommend(allocated.plan.data, bureau.stations, bureau.config.staffing)
    modelled = time.perf_counter()
    result = staffing_stage(bureau, month, sp, risk, previous, allocated, reserve=reserve)
    done = time.perf_counter()
    return {
        "stations": len(bureau.stations),
        "cell_shifts": len(allocated.plan.data.units),
        "plan_s": round(planned - start, 2),
        "model_s": round(modelled - planned, 3),
        "staffing_step_s": round(done - modelled, 3),
        **{k: v for k, v in result.record().items() if k != "warnings"},
        "model_recommends_as_step": bool(model.recommended.equals(result.staffing.recommended)),
    }


def _province(stations: int, with_previous: bool, method: str, queue) -> None:
    """One province measurement in this (child) process, reported through `queue`."""
    import pandas as pd

    from models.config import AllocationConfig, StaffingConfig
    from optimizer.allocation import PatrolAllocation
    from optimizer.allocation.staffing import recommend

    allocation = _script("bench_allocation")
    risk, cells, bureau, neighbours = allocation.instance(stations * 100 * 3)
    previous = allocation.previous_plan(risk, cells, bureau, neighbours) if with_previous else None
    config = AllocationConfig(time_limit_s=3600)
    rng = np.random.default_rng(7)
    shares = pd.Series(config.shift_share)
    reserve = pd.DataFrame(
        {
            "station_id": np.repeat(bureau["station_id"].to_numpy(), len(shares)),
            "shift": np.tile(shares.index, len(bureau)),
        }
    )
    officers_held = rng.choice([0, 0, 4, 6], len(reserve))  # officers' hours on call
    share = reserve["shift"].map(shares).to_numpy()
    reserve["reserve_hours"] = officers_held * config.patrol_hours_per_officer * share
    today = PatrolAllocation.from_frames(
        risk, cells, bureau, neighbours, config, previous, reserve=reserve
    ).solve()
    start = time.perf_counter()
    staffing = recommend(today.data, bureau, StaffingConfig(), method)
    wall = time.perf_counter() - start
    moved = staffing.recommended - bureau.set_index("station_id")["officers"]
    queue.put(
        {
            "stations": len(bureau),
            "cell_shifts": len(today.data.units),
            "previous_plan": with_previous,
            "method": method,
            "model_s": round(wall, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "today_objective": round(float(today.objective_), 4),
            "objective": round(staffing.objective, 4),
            "bound": round(staffing.bound, 4),
            "gap": staffing.gap,
            "moved": int(moved.clip(lower=0).sum()),
            "status": staffing.status,
        }
    )


def province(stations: int, with_previous: bool, method: str) -> dict:
    context = mp.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_province, args=(stations, with_previous, method, queue))
    child.start()
    result = queue.get()
    child.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stl", type=Path, default=STL)
    parser.add_argument("--stl-month", default="2019-10")
    parser.add_argument("--stations", type=int, default=2000)
    parser.add_argument("--skip-city", action="store_true")
    parser.add_argument("--skip-province", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("bench_staffing.json"))
    args = parser.parse_args()
    figures: dict = {"cities": {}, "province": []}

    def save() -> None:
        args.out.write_text(json.dumps(figures, indent=2), encoding="utf-8")

    if not args.skip_city:
        from optimizer.demo import demo_month, write_demo_bureau
        from optimizer.demo_execution import write_demo_execution

        with tempfile.TemporaryDirectory(prefix="bench-staffing-") as scratch:
            data = write_demo_bureau(Path(scratch) / "demo")
            month = demo_month()
            plan = write_demo_execution(data, month)
            figures["cities"]["demo"] = city(data, month, plan)
            print("demo", json.dumps(figures["cities"]["demo"]), flush=True)
            save()
            if (args.stl / "incidents_2015_2019.csv.gz").exists():
                stl = _script("prepare_stl").prepare(args.stl, Path(scratch) / "stl")
                figures["cities"]["st_louis"] = city(stl, args.stl_month, None)
                print("st_louis", json.dumps(figures["cities"]["st_louis"]), flush=True)
            else:
                figures["cities"]["st_louis"] = {"skipped": f"no St. Louis data at {args.stl}"}
            save()
    for with_previous in (False, True) if not args.skip_province else ():
        for method in ("rounded", "exact"):
            row = province(args.stations, with_previous, method)
            figures["province"].append(row)
            print("province", json.dumps(row), flush=True)
            save()
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
