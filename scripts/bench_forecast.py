"""Forecast benchmark on the real St. Louis (SLMPD) incidents.

    python scripts/bench_forecast.py [--source ../shared/data/stl-slmpd] [--out bench_forecast.json]

Twelve monthly origins in 2019, 250 m cells × shifts, all offences pooled (every incident counts
one): each candidate and `auto` (the selection procedure run on each origin's own past) forecast
the origin's month from the months before it. Prints mean hit rate, PAI and PEI* per model at
1 / 5 / 10 % of area and the proper scores (mean log score per incident, Poisson deviance),
`auto` against the best simple baseline: its mean PAI@5 % (it must stay within 0.03) and its
log-score gain with a standard error over the months, and the wall time of one month's
`patrolopt forecast` from the full history (load, grid, selection and forecast), with two
hindsight references that show the ceiling month-to-month noise leaves.
Writes the same figures to a JSON file.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from models.contracts import load_bureau
from models.forecast import BASELINES, backtest_months_table, history_counts, hit_metrics
from optimizer.stages import cases_upto, forecast_stage, spatial

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "stl-slmpd"
TABLES = {"cases", "stations", "offences"}


def prepare(source: Path, folder: Path) -> Path:
    """The St. Louis data folder, built by `scripts/prepare_stl.py`."""
    path = Path(__file__).resolve().parent / "prepare_stl.py"
    spec = importlib.util.spec_from_file_location("prepare_stl", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.prepare(source, folder)


def pooled_backtest(
    data: Path, last_month: str, n_months: int
) -> tuple[pd.DataFrame, float, dict[str, float]]:
    """Backtest over the `n_months` months up to `last_month` with all offences pooled.
    Returns (backtest table, wall seconds, hindsight references): mean PAI@5 % of ranking each
    evaluated month by the mean of the evaluated months themselves (`in_sample`, it sees the
    answer) and by the mean of the other evaluated months (`leave_one_out`, it sees the future
    but not the month itself). No forecast from the past alone can be expected to reach either;
    they show how much the month-to-month noise leaves to gain."""
    bureau = load_bureau(data, TABLES)
    cfg = bureau.config
    sp = spatial(bureau)
    cases = cases_upto(bureau, last_month, sp)
    months = [str(p) for p in pd.period_range(cases["month"].min(), last_month, freq="M")]
    counts = history_counts(cases.assign(harm=1.0), sp.cells, cfg.allocation.shifts, months)
    start = time.perf_counter()
    table = backtest_months_table(
        counts,
        months,
        sp.grid.raster(sp.cells),
        n_months,
        cfg.forecast.model_copy(update={"selection_coverage": 0.05}),
    )
    wall = time.perf_counter() - start
    evaluated = counts[-n_months:]
    total = evaluated.sum(axis=0)
    references = {
        "in_sample": [hit_metrics(total, month, 0.05)["pai"] for month in evaluated],
        "leave_one_out": [hit_metrics(total - month, month, 0.05)["pai"] for month in evaluated],
    }
    return table, wall, {name: float(np.mean(pai)) for name, pai in references.items()}


def paired_gain(table: pd.DataFrame, model: str, other: str, score: str) -> tuple[float, float]:
    """Mean over the evaluated months of `model`'s `score` minus `other`'s, and its standard
    error (the months paired: both forecast the same month)."""
    per_month = table[table["coverage"] == 0.05].pivot(index="month", columns="model", values=score)
    diff = (per_month[model] - per_month[other]).to_numpy()
    se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
    return float(diff.mean()), float(se)


def forecast_wall(data: Path, month: str) -> tuple[float, str]:
    """Wall seconds of one month's forecast from the full history, as `patrolopt forecast`
    does it: load, project, grid, select and forecast."""
    start = time.perf_counter()
    bureau = load_bureau(data, TABLES)
    sp = spatial(bureau)
    cases = cases_upto(bureau, month, sp)
    model = forecast_stage(bureau, month, sp, cases).model
    return time.perf_counter() - start, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SHARED)
    parser.add_argument("--out", type=Path, default=Path("bench_forecast.json"))
    parser.add_argument("--month", default="2019-12", help="last origin month")
    parser.add_argument("--months", type=int, default=12, help="monthly origins")
    args = parser.parse_args()
    if not (args.source / "incidents_2015_2019.csv.gz").exists():
        raise SystemExit(f"St. Louis data not found at {args.source}")
    with tempfile.TemporaryDirectory() as tmp:
        data = prepare(args.source, Path(tmp) / "stl")
        table, backtest_s, hindsight = pooled_backtest(data, args.month, args.months)
        wall_s, model = forecast_wall(data, args.month)
    scores = ["hit_rate", "pai", "pei_star", "log_score", "poisson_deviance"]
    summary = table.groupby(["model", "coverage"], sort=False)[scores].mean().reset_index()
    pai5 = summary[summary["coverage"] == 0.05].set_index("model")["pai"]
    best_baseline = pai5[list(BASELINES)].idxmax()
    gain = pai5["auto"] / pai5[best_baseline] - 1
    log_gain, log_gain_se = paired_gain(table, "auto", best_baseline, "log_score")
    auto_rows = table[table["model"] == "auto"].drop_duplicates("month")
    selected = dict(zip(auto_rows["month"], auto_rows["selected"], strict=True))
    print(summary.pivot(index="model", columns="coverage")[scores[:3]].round(3).to_string())
    proper = summary[summary["coverage"] == 0.05].set_index("model")[scores[3:]]
    print(proper.round(4).to_string())
    print(f"auto chose per month: {selected}")
    print(
        f"mean PAI@5%: auto {pai5['auto']:.3f}, best simple baseline {best_baseline} "
        f"{pai5[best_baseline]:.3f}, difference {pai5['auto'] - pai5[best_baseline]:+.3f} "
        f"({gain:+.1%}; target: not below −0.03)"
    )
    print(
        f"mean log score per incident: auto {proper.loc['auto', 'log_score']:.4f}, "
        f"{best_baseline} {proper.loc[best_baseline, 'log_score']:.4f}, gain {log_gain:+.4f} "
        f"± {log_gain_se:.4f} (standard error over the {args.months} months; "
        f"likelihood ratio ×{np.exp(log_gain):.3f} per incident)"
    )
    for name, pai in hindsight.items():
        print(
            f"hindsight reference ({name.replace('_', '-')}, sees evaluated months): PAI@5% "
            f"{pai:.3f}, {pai / pai5[best_baseline] - 1:+.1%} over {best_baseline}"
        )
    print(f"backtest of {args.months} origins: {backtest_s:.1f} s")
    print(f"one month's forecast from the full history: {wall_s:.1f} s ({model}; target ≤ 30 s)")
    result = {
        "data": "St. Louis SLMPD 2015-2019, all offences pooled, 250 m cells x 3 shifts",
        "origins": sorted(selected),
        "summary": summary.round(4).to_dict(orient="records"),
        "auto_selected": selected,
        "auto_pai5": round(float(pai5["auto"]), 4),
        "best_baseline": best_baseline,
        "best_baseline_pai5": round(float(pai5[best_baseline]), 4),
        "auto_gain_pai5": round(float(gain), 4),
        "auto_minus_best_baseline_pai5": round(float(pai5["auto"] - pai5[best_baseline]), 4),
        "auto_log_score_gain": round(log_gain, 5),
        "auto_log_score_gain_se": round(log_gain_se, 5),
        "hindsight_reference_pai5": {k: round(v, 4) for k, v in hindsight.items()},
        "backtest_s": round(backtest_s, 2),
        "forecast_wall_s": round(wall_s, 2),
        "forecast_model": model,
    }
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
