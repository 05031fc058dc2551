"""Allocation benchmark: the product's solution path against plain monolithic PuLP + HiGHS.

    python scripts/bench_allocation.py [--sizes 10000,100000,1000000] [--out bench_allocation.json]
                                       [--skip-monolithic-above N] [--with-previous]

Synthetic, seeded instances: square stations of 10 × 10 cells (100 cells per station) on a
square layout, three shifts, so `variables` = cells × shifts; mutual aid between stations that
share a side; risk from a few Gaussian hotspots plus a skewed background, a quarter of the cells
quiet. For every size the product's path (`decomposed`; with `--with-previous` also `sifted`
against a perturbed previous plan) and `monolithic` are timed: build (arrays or PuLP objects)
and solve separately, peak memory as the growth of the process's peak RSS (ru_maxrss) while that
path ran, in a fresh child process per path so paths do not inherit each other's peak.
`solve_s` is `PatrolAllocation.solve(path)`, as the cycle calls it: the path's solve and the
output frames (allocation, duals, binding rules); for `monolithic` it includes building PuLP's
objects, which its solve call consumes.
The month's visits of the plan (SPEC §16, before routing) are timed after it (`schedule_s`,
`visits`; not in the peak), with
its own peak (`schedule_peak_mb`: the most memory its arrays held at once, from tracemalloc,
which NumPy reports to, in a second build) and the time to write it as `schedule.csv`
(`schedule_csv_s`). `--sizes 384000` has the synthetic province's cell-shifts (128,000 cells ×
3 shifts).
Prints a table and writes a JSON list of `{variables, path, build_s, solve_s, peak_mb,
objective, schedule_s, visits, schedule_peak_mb, schedule_csv_s}`. Needs only the runtime
dependencies.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from geo.grid import Grid
from models.config import AllocationConfig
from optimizer.allocation import PatrolAllocation
from optimizer.manifest import write_output
from optimizer.missions.units import shift_clocks
from optimizer.missions.visits import month_visits

CELLS_PER_SIDE = 10  # cells along a station's side: 100 cells per station
SHIFTS = ("day", "evening", "night")


def _visits(allocation: pd.DataFrame, config: AllocationConfig) -> pd.DataFrame:
    """The plan's visits of January 2026 with their windows, derived units of two officers."""
    crews = pd.DataFrame({"station_id": [], "shift": [], "officers": []})
    crews = crews.astype({"station_id": str, "shift": str, "officers": float})
    return month_visits(allocation, "2026-01", crews, shift_clocks(config), 90.0, 2)


def instance(variables: int, seed: int = 0):
    """(risk, cells, stations, neighbours) with about `variables` cell-shift variables."""
    rng = np.random.default_rng(seed)
    n_cells = max(1, variables // len(SHIFTS))
    n_stations = max(1, round(n_cells / CELLS_PER_SIDE**2))
    cols = max(1, int(math.sqrt(n_stations)))
    rows = math.ceil(n_stations / cols)
    station_ids = [f"S{i:05d}" for i in range(n_stations)]
    index = np.arange(n_cells)
    station = np.minimum(index // CELLS_PER_SIDE**2, n_stations - 1)
    local = index - station * CELLS_PER_SIDE**2
    gx = (station % cols) * CELLS_PER_SIDE + local % CELLS_PER_SIDE
    gy = (station // cols) * CELLS_PER_SIDE + local // CELLS_PER_SIDE
    cells = pd.DataFrame(
        {
            "cell_id": Grid.ids(gx, gy),
            "station_id": np.array(station_ids)[station],
        }
    )
    width, height = cols * CELLS_PER_SIDE, rows * CELLS_PER_SIDE
    centres = rng.uniform([0, 0], [width, height], size=(max(3, n_stations // 4), 2))
    hot = np.zeros(n_cells)
    for cx, cy in centres:
        hot += 4.0 * np.exp(-((gx - cx) ** 2 + (gy - cy) ** 2) / (2 * 2.0**2))
    base = rng.gamma(0.6, 0.5, size=(len(SHIFTS), n_cells)) * (rng.random(n_cells) > 0.25)
    shift_weight = np.array([0.8, 1.2, 1.0])[:, None]
    risk = pd.DataFrame(
        {
            "cell_id": np.tile(cells["cell_id"].to_numpy(), len(SHIFTS)),
            "shift": np.repeat(SHIFTS, n_cells),
            "risk": np.round(((base + hot) * shift_weight).ravel(), 6),
        }
    )
    stations = pd.DataFrame(
        {"station_id": station_ids, "officers": rng.integers(8, 30, n_stations)}
    )
    sy = np.arange(n_stations) // cols
    pairs = [
        (station_ids[i], station_ids[j])
        for i in range(n_stations)
        for j in (i + 1, i + cols)
        if j < n_stations and (j == i + cols or sy[j] == sy[i])
    ]
    pairs += [(b, a) for a, b in pairs]
    neighbours = pd.DataFrame(pairs, columns=["station_id", "neighbour_id"])
    return risk, cells, stations, neighbours


def previous_plan(risk, cells, stations, neighbours, seed: int = 1) -> pd.DataFrame:
    """Last month's plan: the optimum for a noisy copy of the risk (±50 % per cell-shift)."""
    rng = np.random.default_rng(seed)
    last_month = risk.assign(risk=risk["risk"] * rng.uniform(0.5, 1.5, len(risk)))
    model = PatrolAllocation.from_frames(
        last_month, cells, stations, neighbours, AllocationConfig()
    ).solve("decomposed")
    per_cell = model.allocation_.groupby(["cell_id", "shift"], as_index=False)["hours"].sum()
    return per_cell.assign(hours=np.round(per_cell["hours"], 6))


def _measure(variables: int, path: str, with_previous: bool, queue) -> None:
    """Time one path on one instance in this (child) process and report through `queue`."""
    risk, cells, stations, neighbours = instance(variables)
    previous = previous_plan(risk, cells, stations, neighbours) if with_previous else None
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    config = AllocationConfig(time_limit_s=3600)
    start = time.perf_counter()
    model = PatrolAllocation.from_frames(risk, cells, stations, neighbours, config, previous)
    built = time.perf_counter()
    model.solve(path)
    solved = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scheduled_at = time.perf_counter()
    schedule = _visits(model.allocation_, config)
    scheduled = time.perf_counter()
    tracemalloc.start()  # a second build, traced: tracing slows it, so it is not the one timed
    _visits(model.allocation_, config)
    schedule_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    written_at = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        write_output(Path(folder), "schedule.csv", schedule)
    written = time.perf_counter()
    queue.put(
        {
            "variables": len(model.data.units),
            "path": path,
            "previous_plan": with_previous,
            "build_s": round(built - start, 3),
            "solve_s": round(solved - built, 3),
            "peak_mb": round(max(peak - before, 0) / 1024, 1),
            "objective": float(model.objective_),
            "schedule_s": round(scheduled - scheduled_at, 3),
            "visits": len(schedule),
            "schedule_peak_mb": round(schedule_peak, 1),
            "schedule_csv_s": round(written - written_at, 3),
        }
    )


def measure(variables: int, path: str, with_previous: bool) -> dict:
    """`_measure` in a fresh process (own peak memory, no state carried between paths)."""
    context = mp.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_measure, args=(variables, path, with_previous, queue))
    child.start()
    result = queue.get()
    child.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--out", type=Path, default=Path("bench_allocation.json"))
    parser.add_argument(
        "--skip-monolithic-above", type=int, default=0, help="0 = always run monolithic"
    )
    parser.add_argument("--with-previous", action="store_true", help="also the stability path")
    args = parser.parse_args()
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        monolithic = not args.skip_monolithic_above or size <= args.skip_monolithic_above
        runs = [("decomposed", False)] + [("monolithic", False)] * monolithic
        if args.with_previous:
            runs += [("sifted", True)] + [("monolithic", True)] * monolithic
        for path, with_previous in runs:
            row = measure(size, path, with_previous)
            results.append(row)
            print(
                f"{row['variables']:>9,} {path:<11} prev={with_previous!s:<5} "
                f"build {row['build_s']:8.2f} s  solve {row['solve_s']:8.2f} s  "
                f"wall {row['build_s'] + row['solve_s']:8.2f} s  peak {row['peak_mb']:8.1f} MB  "
                f"objective {row['objective']:.6f}  "
                f"schedule {row['schedule_s']:6.2f} s ({row['visits']:,} visits, "
                f"peak {row['schedule_peak_mb']} MB, csv {row['schedule_csv_s']:.2f} s)",
                flush=True,
            )
        same = [r for r in results if r["variables"] == results[-1]["variables"]]
        for prev in (False, True):
            objectives = {r["path"]: r["objective"] for r in same if r["previous_plan"] == prev}
            if "monolithic" in objectives and len(objectives) > 1:
                ref = objectives["monolithic"]
                gaps = {p: abs(o - ref) / max(abs(ref), 1e-12) for p, o in objectives.items()}
                print(f"  relative gap to monolithic (previous plan: {prev}): {gaps}")
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
