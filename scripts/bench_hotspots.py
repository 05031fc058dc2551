"""Benchmark: `find_hotspots` on a seeded synthetic set of 1,000,000 cases of one category over
3 months, a few dense Gaussian clusters on a uniform background across 20 km × 20 km. Prints
the figures and writes them as JSON.

    python scripts/bench_hotspots.py [--points 1000000] [--out bench_hotspots.json]

Wall time is `time.perf_counter` around one call. Memory is measured two ways: the process's
peak resident set size (`resource.getrusage(RUSAGE_SELF).ru_maxrss`, read after the timed call;
it also counts the interpreter, the libraries, the input and building it), and the peak of
memory allocated during a second, untimed call as traced by `tracemalloc` (the call's own
working memory, numpy buffers included, above its input). Targets: ≤ 5 s wall, ≤ 2 GB peak on
2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import tracemalloc

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from models.config import HotspotConfig
from models.hotspots import choose_method, find_hotspots

SIDE_M = 20_000.0
ORIGIN_M = (500_000.0, 2_480_000.0)  # metres in UTM 50N, so coordinates look like real ones
MONTHS = ["2025-10", "2025-11", "2025-12"]
CLUSTERS = 6
CLUSTER_SHARE = 0.2  # of all points, spread over the clusters
OFFENCES = np.array(["bicycle_theft", "pickpocketing", "shoplifting", "vehicle_theft"])
SHIFTS = np.array(["day", "evening", "night"])


def synthetic(points: int, seed: int = 11) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, list]:
    """Cases (`month, category, offence, harm, shift, occurred_at`), their metric x, y (m) and
    the planted cluster centres (m)."""
    rng = np.random.default_rng(seed)
    centres = np.asarray(ORIGIN_M) + rng.uniform(0.1, 0.9, (CLUSTERS, 2)) * SIDE_M
    sigmas = rng.uniform(80.0, 250.0, CLUSTERS)
    per_cluster = rng.multinomial(int(points * CLUSTER_SHARE), np.full(CLUSTERS, 1 / CLUSTERS))
    xy = np.vstack(
        [rng.normal(c, s, (k, 2)) for c, s, k in zip(centres, sigmas, per_cluster, strict=True)]
        + [np.asarray(ORIGIN_M) + rng.uniform(0, SIDE_M, (points - per_cluster.sum(), 2))]
    )
    start = pd.Timestamp(f"{MONTHS[0]}-01").value
    end = pd.Timestamp(MONTHS[-1]) + pd.offsets.MonthBegin(1)
    occurred = pd.to_datetime(np.sort(rng.integers(start, end.value, points)))
    hours = occurred.hour.to_numpy()
    cases = pd.DataFrame(
        {
            "month": occurred.strftime("%Y-%m"),
            "category": "theft",
            "offence": OFFENCES[rng.integers(0, len(OFFENCES), points)],
            "harm": rng.choice([1.0, 2.0, 3.0], points, p=[0.7, 0.2, 0.1]),
            "shift": SHIFTS[np.select([hours >= 16, hours >= 8], [1, 0], 2)],
            "occurred_at": occurred,
        }
    )
    return cases, xy[:, 0], xy[:, 1], centres.tolist()


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MB (ru_maxrss is KiB on Linux, B on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--out", default="bench_hotspots.json")
    args = parser.parse_args()
    cases, x, y, centres = synthetic(args.points)

    def run():
        return find_hotspots(
            cases, x, y, MONTHS[-1], HotspotConfig(), CRS.from_epsg(32650), SIDE_M**2
        )

    t0 = time.perf_counter()
    found = run()
    wall_s = time.perf_counter() - t0
    rss_mb = peak_rss_mb()
    tracemalloc.start()
    run()
    traced_peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    # distance from each planted centre to the nearest hotspot centroid
    centroids = shapely.get_coordinates(found.geometry.centroid)
    errors = np.hypot(*(np.asarray(centres)[:, None, :] - centroids[None, :, :]).T).min(axis=0)
    figures = {
        "points": args.points,
        "planted_clusters": len(centres),
        "hotspots": len(found),
        "method": choose_method(args.points, "auto"),
        "wall_s": round(wall_s, 3),
        "max_centre_error_m": round(float(errors.max()), 1),
        "peak_rss_mb": round(rss_mb, 1),
        "peak_rss_measure": "resource.getrusage(RUSAGE_SELF).ru_maxrss, whole process",
        "traced_peak_mb": round(traced_peak_mb, 1),
        "traced_peak_measure": "tracemalloc peak during a second call of find_hotspots",
        "cores": len(os.sched_getaffinity(0)),
        "targets": {"wall_s": 5.0, "peak_rss_mb": 2048.0},
        "top_hotspots": found.drop(columns="geometry").head(len(centres)).to_dict("records"),
    }
    print(json.dumps(figures, indent=2))
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(figures, handle, indent=2)


if __name__ == "__main__":
    main()
