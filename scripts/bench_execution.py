"""Benchmark: a month of GPS pings for 200 units every 10 seconds (≈ 35 M rows) measured from
Parquet by the real command, `patrolopt execution`, against a plan. Prints wall time and peak
memory and writes them as JSON.

    python scripts/bench_execution.py [--units 200] [--interval-s 10] [--hours-per-day 16]
                                      [--work DIR] [--out bench_execution.json]

The bureau is the demo's twelve stations; each unit patrols its station's cells two shifts a
day, driving and stopping at street speed with GPS noise, some time responding to calls, a few
lost pings and jumps. The pings are written one day per row group in time order (as daily AVL
exports are), then the command reads, validates and measures them in a child process whose
wall time and peak resident memory are the figures. Target: ≤ 60 s and ≤ 4 GB on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from geo.crs import unproject
from geo.grid import Grid
from optimizer.demo import METRIC, write_demo_bureau

MONTH = "2025-12"
SHIFTS = (("day", 8), ("evening", 16))


def write_bureau(folder: Path) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """The demo stations (other demo tables removed: the command reads only these) and a
    plan for the month over every jurisdiction cell and shift."""
    write_demo_bureau(folder)
    for name in os.listdir(folder):
        if name not in ("stations.geojson", "config.toml"):
            os.remove(folder / name)
    stations = gpd.read_file(folder / "stations.geojson").to_crs(METRIC)
    cells = pd.DataFrame(Grid(250.0, stations.crs).cells(stations).drop(columns="geometry"))
    rng = np.random.default_rng(3)
    plan = pd.concat([cells.assign(shift=s) for s in ("day", "evening", "night")])
    plan["hours"] = np.round(rng.gamma(0.6, 8.0, len(plan)), 3)
    plan = plan[["station_id", "cell_id", "shift", "hours"]].assign(lender_station_id="")
    return stations, plan


def _reflect(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Positions folded back into [low, high], as a unit turning at its area's edge."""
    width = high - low
    folded = np.mod(values - low, 2 * width)
    return low + np.where(folded > width, 2 * width - folded, folded)


def write_pings(
    path: Path, stations: gpd.GeoDataFrame, units: int, interval_s: int, hours_per_day: int
) -> int:
    """Seeded pings, one row group per day in time order; returns the number of rows."""
    rng = np.random.default_rng(11)
    period = pd.Period(MONTH, "M")
    station_of_unit = rng.integers(0, len(stations), units)
    bounds = stations.geometry.bounds.to_numpy()
    per_shift = int(hours_per_day / len(SHIFTS) * 3600 // interval_s)
    unit_ids = np.array([f"U{u:04d}" for u in range(units)])
    station_ids = stations["station_id"].to_numpy()
    schema = pa.schema(
        [
            ("unit_id", pa.dictionary(pa.int32(), pa.string())),
            ("station_id", pa.dictionary(pa.int32(), pa.string())),
            ("recorded_at", pa.timestamp("ns")),
            ("lat", pa.float64()),
            ("lon", pa.float64()),
            ("status", pa.dictionary(pa.int32(), pa.string())),
            ("officers", pa.int8()),
        ]
    )
    total = 0
    with pq.ParquetWriter(path, schema) as writer:
        for day in range(period.days_in_month):
            parts = []
            for _, start_hour in SHIFTS:
                n = per_shift
                b = bounds[station_of_unit]
                x0 = rng.uniform(b[:, 0], b[:, 2])[:, None]
                y0 = rng.uniform(b[:, 1], b[:, 3])[:, None]
                moving = rng.random((units, n)) < 0.6  # stop and go
                heading = np.cumsum(rng.normal(0, 0.3, (units, n)), axis=1)
                step = 6.0 * interval_s * moving  # ≈ 22 km/h while moving
                x = x0 + np.cumsum(step * np.cos(heading), axis=1)
                y = y0 + np.cumsum(step * np.sin(heading), axis=1)
                x, y = _reflect(x, b[:, [0]], b[:, [2]]), _reflect(y, b[:, [1]], b[:, [3]])
                x += rng.normal(0, 5.0, x.shape)
                y += rng.normal(0, 5.0, y.shape)
                jump = rng.random(x.shape) < 1e-5
                x[jump] += 20_000.0
                seconds = (
                    start_hour * 3600 + interval_s * np.arange(n) + rng.integers(0, 5, (units, 1))
                )
                t = (period.start_time + pd.Timedelta(days=day)).value + seconds * 1_000_000_000
                status = np.where(rng.random((units, n)) < 0.08, 1, 0)
                keep = rng.random((units, n)) > 0.001  # lost pings
                unit = np.broadcast_to(np.arange(units)[:, None], (units, n))
                parts.append((unit[keep], t[keep], x[keep], y[keep], status[keep]))
            unit, t, x, y, status = (np.concatenate(a) for a in zip(*parts, strict=True))
            order = np.argsort(t, kind="stable")
            unit, t, x, y, status = unit[order], t[order], x[order], y[order], status[order]
            lon, lat = unproject(x, y, METRIC)
            table = pa.table(
                {
                    "unit_id": pa.DictionaryArray.from_arrays(
                        pa.array(unit, pa.int32()), pa.array(unit_ids)
                    ),
                    "station_id": pa.DictionaryArray.from_arrays(
                        pa.array(station_of_unit[unit], pa.int32()), pa.array(station_ids)
                    ),
                    "recorded_at": pa.array(t, pa.timestamp("ns")),
                    "lat": pa.array(np.round(lat, 7)),
                    "lon": pa.array(np.round(lon, 7)),
                    "status": pa.DictionaryArray.from_arrays(
                        pa.array(status, pa.int32()), pa.array(["patrol", "responding"])
                    ),
                    "officers": pa.array(np.full(len(t), 2, np.int8)),
                },
                schema=schema,
            )
            writer.write_table(table)
            total += len(t)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--interval-s", type=int, default=10)
    parser.add_argument("--hours-per-day", type=int, default=16)
    parser.add_argument("--work", type=Path, default=None, help="folder for the data (temp)")
    parser.add_argument("--out", type=Path, default=Path("bench_execution.json"))
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-execution-"))
    data = work / "data"
    start = time.perf_counter()
    stations, plan = write_bureau(data)
    plan_path = work / "allocation.csv"
    plan.to_csv(plan_path, index=False)
    pings = write_pings(
        data / "patrol_tracks.parquet", stations, args.units, args.interval_s, args.hours_per_day
    )
    generated_s = time.perf_counter() - start
    size_mb = (data / "patrol_tracks.parquet").stat().st_size / 1e6
    print(f"{pings:,} pings written ({size_mb:,.0f} MB Parquet) in {generated_s:.1f} s")

    command = [
        sys.executable,
        "-c",
        "from optimizer.cli import main; main()",
        "execution",
        "--data",
        str(data),
        "--month",
        MONTH,
        "--out",
        str(work / "out"),
        "--plan",
        str(plan_path),
    ]
    env = {**os.environ, "PATROLOPT_THREADS": os.environ.get("PATROLOPT_THREADS", "2")}
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    wall_s = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(done.stdout + done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"patrolopt execution failed with exit code {done.returncode}")
    execution = pd.read_csv(work / "out" / "execution.csv")
    result = {
        "pings": pings,
        "units": args.units,
        "interval_s": args.interval_s,
        "parquet_mb": round(size_mb, 1),
        "wall_s": round(wall_s, 2),
        "peak_mb": round(peak_mb, 1),
        "pings_per_s": round(pings / wall_s),
        "execution_rows": len(execution),
        "delivered_hours": round(float(execution["delivered_hours"].sum()), 1),
        "cores": len(os.sched_getaffinity(0)),
        "targets": {"wall_s": 60, "peak_mb": 4096},
    }
    print(
        f"patrolopt execution: {wall_s:.1f} s wall, {peak_mb:,.0f} MB peak "
        f"({result['pings_per_s']:,} pings/s; target ≤ 60 s, ≤ 4,096 MB)"
    )
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
