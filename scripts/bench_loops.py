"""Benchmark: how the per-run loops grow with size. Times each at doubling sizes on seeded
synthetic data and fits the exponent b of CPU time ≈ a·sizeᵇ (1 = linear; CPU rather than wall
time, which other work on a shared server inflates). Prints the figures and writes them as JSON.

    python scripts/bench_loops.py [--scale 1.0] [--out bench_loops.json]

- training comparisons (score's bonus and train's course effects): stations, 10 indicators,
  24 months, one training per station on average;
- duplicate cases: one month of cases in one 20 km square (density grows with size);
- jump checks: station × indicator × month rows (40 indicators, 24 months);
- neighbours: Voronoi jurisdictions;
- station of points: points in 500 Voronoi jurisdictions.
Target: every exponent ≤ 1.2.
"""

from __future__ import annotations

import argparse
import json
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.jurisdictions import neighbours, station_of_points
from models import quality
from models.training import comparisons, course_effectiveness, training_effects

MONTHS = [str(p) for p in pd.period_range("2023-01", periods=24, freq="M")]


def training_inputs(stations: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    ids = [f"S{i:05d}" for i in range(stations)]
    indicators = [f"I{k:02d}" for k in range(10)]
    n = stations * len(indicators) * len(MONTHS)
    ind = pd.DataFrame(
        {
            "station_id": np.repeat(ids, len(indicators) * len(MONTHS)),
            "month": np.tile(np.repeat(MONTHS, len(indicators)), stations),
            "station_type": np.repeat(
                np.array(["a", "b", "c"])[np.arange(stations) % 3], n // stations
            ),
            "indicator_id": np.tile(indicators, stations * len(MONTHS)),
            "score": rng.uniform(30, 100, n),
            "weight": 1.0,
            "missing": rng.random(n) < 0.02,
        }
    )
    courses = pd.DataFrame(
        {
            "course_id": [f"K{c}" for c in range(6)],
            "addresses": [f"I{2 * c:02d};I{2 * c + 1:02d}" for c in range(5)] + ["I00"],
        }
    )
    log = pd.DataFrame(
        {
            "station_id": rng.choice(ids, stations),
            "course_id": rng.choice(courses["course_id"], stations),
            "month": rng.choice(MONTHS, stations),
        }
    )
    return ind, log, courses, MONTHS[-1]


def case_inputs(cases: int, seed: int = 2):
    """One month of cases (the quality step checks the month assessed) of 7 offences in one
    20 km square: the density grows with the size, as it does from a city to a province."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2025-06-01").value
    span = pd.Timestamp("2025-07-01").value - start
    frame = pd.DataFrame(
        {
            "case_id": np.arange(cases).astype(str),
            "offence": rng.choice([f"O{k}" for k in range(7)], cases),
            "occurred_at": pd.to_datetime(start + rng.integers(0, span, cases)),
            "jurisdiction_id": "A",
        }
    )
    return frame, rng.uniform(0, 20_000, cases), rng.uniform(0, 20_000, cases)


def score_rows(stations: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = stations * 40 * len(MONTHS)
    return pd.DataFrame(
        {
            "station_id": np.repeat(np.arange(stations).astype(str), 40 * len(MONTHS)),
            "indicator_id": np.tile(np.repeat(np.arange(40).astype(str), len(MONTHS)), stations),
            "month": np.tile(MONTHS, stations * 40),
            "value": rng.gamma(4.0, 20.0, n),
        }
    )


def tiles(stations: int, seed: int = 4) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    side = 2_000.0 * np.sqrt(stations)
    seeds = shapely.multipoints(rng.uniform(0, side, (stations, 2)))
    frame = shapely.box(0, 0, side, side)
    parts = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=frame))
    geometry = shapely.intersection(parts, frame)
    ids = [f"S{i:05d}" for i in range(len(geometry))]
    return gpd.GeoDataFrame({"station_id": ids}, geometry=geometry, crs="EPSG:32651")


def point_inputs(points: int, seed: int = 5):
    stations = tiles(500)
    rng = np.random.default_rng(seed)
    side = stations.total_bounds[2]
    return stations, rng.uniform(0, side, points), rng.uniform(0, side, points)


def did(ind, log, courses, month) -> None:
    """What a run computes from training: the comparisons once, the bonus's effects and the
    course effects from them."""
    compared = comparisons(ind, log, courses, month)
    training_effects(compared)
    course_effectiveness(compared)


# loop: (size unit, sizes, inputs of a size, the loop)
CASES = {
    "training_comparisons": ("stations", [250, 500, 1000], training_inputs, did),
    "duplicate_case_checks": (
        "cases",
        [100_000, 200_000, 400_000],
        case_inputs,
        quality.duplicate_case_checks,
    ),
    "jump_checks": (
        "stations",
        [250, 500, 1000],
        lambda n: (score_rows(n), MONTHS[-1]),
        quality.jump_checks,
    ),
    "neighbours": ("stations", [500, 1000, 2000], lambda n: (tiles(n),), neighbours),
    "station_of_points": (
        "points",
        [500_000, 1_000_000, 2_000_000],
        point_inputs,
        station_of_points,
    ),
}


def exponent(sizes: list[int], seconds: list[float]) -> float:
    """Slope of log(time) on log(size), least squares."""
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def measure(inputs, run, sizes: list[int]) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of `run` on the inputs of each size (building them not counted)."""
    wall, cpu = [], []
    for size in sizes:
        args = inputs(size)
        t0, c0 = time.perf_counter(), time.process_time()
        run(*args)
        wall.append(round(time.perf_counter() - t0, 3))
        cpu.append(round(time.process_time() - c0, 3))
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every size")
    parser.add_argument("--only", default="", help="comma-separated loop names")
    parser.add_argument("--out", default="bench_loops.json")
    args = parser.parse_args()
    figures = {}
    for name, (unit, sizes, inputs, run) in CASES.items():
        if args.only and name not in args.only.split(","):
            continue
        sizes = [max(int(s * args.scale), 2) for s in sizes]
        wall, cpu = measure(inputs, run, sizes)
        figures[name] = {
            unit: sizes,
            "wall_s": wall,
            "cpu_s": cpu,
            "exponent": round(exponent(sizes, cpu), 2),
        }
        print(name, json.dumps(figures[name]), flush=True)
    figures["target_exponent"] = 1.2
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(figures, handle, indent=2)


if __name__ == "__main__":
    main()
