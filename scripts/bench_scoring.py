"""Benchmark: scoring 2,000 stations × 40 indicators × 36 months, rank sensitivity (1,000
draws) for the last month, and the redundant indicator pairs over all months. Prints the figures
and writes them as JSON.

    python scripts/bench_scoring.py [--stations 2000] [--indicators 40] [--months 36]
                                    [--out bench_scoring.json]
Targets: scoring all months < 5 s, rank sensitivity < 10 s, redundant pairs < 5 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from models.config import ScoringConfig
from models.scoring import indicator_scores, rank_sensitivity, redundant_pairs, score_months


def synthetic(stations: int, indicators: int, months: int, seed: int = 7):
    rng = np.random.default_rng(seed)
    types = np.where(np.arange(stations) % 3 == 0, "public_security", "regional")
    st = pd.DataFrame({"station_id": [f"S{i:05d}" for i in range(stations)], "station_type": types})
    methods = np.array(["target", "peer_minmax", "peer_percentile"])[np.arange(indicators) % 3]
    ind = pd.DataFrame(
        {
            "indicator_id": [f"I{i:03d}" for i in range(indicators)],
            "quadrant": np.array(["prevention", "major_case", "service", "compliance"])[
                np.arange(indicators) % 4
            ],
            "direction": np.where(np.arange(indicators) % 2 == 0, "higher", "lower"),
            "target": np.where(methods == "target", 80.0, np.nan),
            "method": methods,
            "redline": np.arange(indicators) == indicators - 1,
        }
    )
    weights = st[["station_id"]].merge(
        pd.DataFrame(
            {"indicator_id": ind["indicator_id"], "weight": rng.uniform(1, 5, indicators)}
        ),
        how="cross",
    )
    month_list = [str(p) for p in pd.period_range("2023-01", periods=months, freq="M")]
    n = stations * indicators * months
    scores = pd.DataFrame(
        {
            "station_id": np.repeat(st["station_id"].to_numpy(), indicators * months),
            "month": np.tile(np.repeat(month_list, indicators), stations),
            "indicator_id": np.tile(ind["indicator_id"].to_numpy(), stations * months),
            "value": rng.gamma(4.0, 20.0, n),
        }
    )
    red = (scores["indicator_id"] == ind["indicator_id"].iloc[-1]).to_numpy()
    scores.loc[red, "value"] = (rng.random(red.sum()) < 0.01).astype(float)
    return st, ind, weights, scores, month_list


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=2000)
    parser.add_argument("--indicators", type=int, default=40)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--out", default="bench_scoring.json")
    args = parser.parse_args()
    st, ind, weights, scores, months = synthetic(args.stations, args.indicators, args.months)
    t0 = time.perf_counter()
    frame = indicator_scores(scores, ind, weights, st, months)
    result = score_months(frame, ind, ScoringConfig())
    scoring_s = time.perf_counter() - t0
    last = months[-1]
    t1 = time.perf_counter()
    rank_sensitivity(
        frame[frame["month"] == last], result[result["month"] == last], draws=args.draws
    )
    sensitivity_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    redundant_pairs(scores)
    pairs_s = time.perf_counter() - t2
    figures = {
        "stations": args.stations,
        "indicators": args.indicators,
        "months": args.months,
        "rows": len(scores),
        "scoring_s": round(scoring_s, 3),
        "rank_sensitivity_draws": args.draws,
        "rank_sensitivity_s": round(sensitivity_s, 3),
        "redundant_pairs_s": round(pairs_s, 3),
        "targets": {"scoring_s": 5.0, "rank_sensitivity_s": 10.0, "redundant_pairs_s": 5.0},
    }
    print(json.dumps(figures, indent=2))
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(figures, handle, indent=2)


if __name__ == "__main__":
    main()
