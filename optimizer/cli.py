"""The `patrolopt` command line. The only module that prints or chooses exit codes:
0 done, 1 internal error, 2 bad input, 3 infeasible plan."""

from __future__ import annotations

import re
import sys
import traceback
from pathlib import Path

import click
import pandas as pd

from models.config import Scenario, load_scenario
from models.contracts import Bureau, load_bureau, load_previous_plan
from models.errors import InfeasiblePlan, InputError, Problem
from optimizer.threads import limited_threads

EXIT_INPUT, EXIT_INFEASIBLE, EXIT_INTERNAL = 2, 3, 1
DEFAULT_OUT = Path("plans")  # `run` and `audit verify` without --out: ./plans
FORECAST_TABLES = {"cases", "stations", "offences"}
SCORE_TABLES = {
    "stations",
    "indicators",
    "weights",
    "scores",
    "courses",
    "training_log",
    "flex_weights",
}


def _fail(exc: Exception) -> None:
    if isinstance(exc, click.ClickException):
        raise exc  # click prints it and exits 2 (a bad option value)
    if isinstance(exc, InputError):
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        click.echo(f"{len(exc.problems)} problem(s) in the input; nothing was written.", err=True)
        sys.exit(EXIT_INPUT)
    if isinstance(exc, InfeasiblePlan):
        click.echo("No feasible patrol plan:", err=True)
        for line in exc.diagnosis:
            click.echo(f"  {line}", err=True)
        sys.exit(EXIT_INFEASIBLE)
    click.echo(f"internal error: {exc}", err=True)
    if "--debug" in sys.argv:
        traceback.print_exc()
    sys.exit(EXIT_INTERNAL)


def _month(ctx, param, value):
    if value is None:
        return value
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
        raise click.BadParameter(f"expected YYYY-MM, got {value!r}")
    return value


@click.group()
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    envvar="PATROLOPT_THREADS",
    help="native threads (OpenMP, BLAS) the run may use [default: the usable cores]",
)
@click.pass_context
def main(ctx: click.Context, lang: str, threads: int | None) -> None:
    """patrolopt: monthly station assessment turned into next month's patrol and training plan."""
    ctx.obj = {"lang": lang, "threads": ctx.with_resource(limited_threads(threads))}


def _data_month_options(f):
    f = click.option("--month", required=True, callback=_month, help="YYYY-MM assessed")(f)
    return click.option("--data", type=click.Path(path_type=Path), required=True)(f)


def _stage_options(f):
    help_text = "folder the stage writes its files into"
    f = click.option("--out", type=click.Path(path_type=Path), required=True, help=help_text)(f)
    return _data_month_options(f)


def _run_out_option(help_text: str):
    """`--out` of `run` and `audit verify`, ./plans by default."""
    return click.option(
        "--out",
        type=click.Path(path_type=Path),
        default=DEFAULT_OUT,
        show_default=True,
        help=help_text,
    )


def _previous_plan_option(f):
    return click.option(
        "--previous-plan",
        type=click.Path(path_type=Path, exists=True, dir_okay=False),
        default=None,
        help="last month's allocation.csv (cell_id, shift, hours required)",
    )(f)


def _require_month(bureau: Bureau, month: str) -> None:
    """Refuse a month the loaded cases and indicator values say nothing about (before or after
    the data): its plan would rest on no data at all."""
    held = {
        what: frame["month"]
        for what, frame in (("cases", bureau.cases), ("indicator values", bureau.scores))
        if frame is not None
    }
    if any((months == month).any() for months in held.values()):
        return
    spans = "; ".join(
        f"{what} from {months.min()} to {months.max()}" if len(months) else f"no {what}"
        for what, months in held.items()
    )
    raise click.BadParameter(
        f"the data holds no {' and no '.join(held)} for {month} ({spans})",
        param_hint="'--month'",
    )


@main.command()
@click.option("--data", type=click.Path(path_type=Path), required=True)
def validate(data: Path) -> None:
    """Check every file, column, value and reference of a data folder."""
    try:
        bureau = load_bureau(data)
    except Exception as exc:  # noqa: BLE001 - mapped to exit codes
        _fail(exc)
    click.echo(f"{data}: valid ({len(bureau.cases)} cases, {len(bureau.stations)} stations)")


def _run_inputs(
    bureau: Bureau, scenarios: tuple[Path, ...], previous_plan: Path | None
) -> tuple[list[Scenario], dict[str, pd.DataFrame]]:
    """The scenarios to run (the baseline alone without files) and, given `--previous-plan`,
    that plan checked against each scenario's shifts: every problem of every file at once."""
    problems: list[Problem] = []
    runs = []
    stations, categories = set(bureau.stations["station_id"]), set(bureau.offences["category"])
    for path in scenarios:
        try:
            runs.append(load_scenario(path, bureau.config, stations, categories))
        except InputError as exc:
            problems += exc.problems
    if not scenarios:
        runs = [Scenario(name="baseline", config=bureau.config)]
    plans = {}
    if previous_plan is not None:
        by_shifts: dict[tuple[str, ...], pd.DataFrame] = {}  # read once per set of shifts
        for scenario in runs:
            shifts = tuple(scenario.config.allocation.shifts)
            try:
                if shifts not in by_shifts:
                    by_shifts[shifts] = load_previous_plan(previous_plan, shifts)
                plans[scenario.name] = by_shifts[shifts]
            except InputError as exc:
                problems += [p for p in exc.problems if p not in problems]
    if problems:
        raise InputError(problems)
    return runs, plans


def _run(
    data: Path,
    month: str,
    out: Path,
    db: str | None,
    scenarios: tuple[Path, ...],
    previous_plan: Path | None,
    lang: str,
) -> list:
    from optimizer.cycle import next_month, run_cycle, swap_into_place
    from optimizer.store import default_url, previous_allocation, save_run

    bureau = load_bureau(data)
    _require_month(bureau, month)
    runs, plans = _run_inputs(bureau, scenarios, previous_plan)
    url = db or default_url(out)
    out.mkdir(parents=True, exist_ok=True)
    results, impossible = [], []
    for scenario in runs:
        if previous_plan is not None:
            previous = plans[scenario.name]
        else:
            # a scenario without a plan of its own builds on last month's baseline plan
            previous = previous_allocation(url, month, scenario.name)
            if previous is None and scenario.name != "baseline":
                previous = previous_allocation(url, month, "baseline")
        show = sys.stderr.isatty()
        try:
            result = run_cycle(
                bureau,
                month,
                out,
                scenario,
                previous,
                lang,
                progress=(lambda s: click.echo(f"  {s} done", err=True))
                if show
                else (lambda s: None),
                publish=lambda staging, target, plan: save_run(
                    url, out, staging, target, plan, data, swap_into_place
                ),
            )
        except InfeasiblePlan as exc:  # the other scenarios still get their plans
            prefix = f"scenario {scenario.name}: " if len(runs) > 1 else ""
            impossible += [prefix + line for line in exc.diagnosis]
            continue
        results.append(result)
        click.echo(f"plan for {next_month(month)} ({scenario.name}) written to {result.folder}")
        match = result.plan.get("previous_plan")
        if match and match["unknown"]:
            click.echo(
                f"  note: {match['unknown']} of {match['cells']} cells of last month's plan "
                f"({match['unknown_hours']:,.0f} h) are not on this grid and were ignored "
                "(cell size or jurisdictions changed?)",
                err=True,
            )
    if impossible:
        raise InfeasiblePlan(impossible)
    return results


@main.command()
@_data_month_options
@_run_out_option("output folder: the plan goes to OUT/<M+1>/<scenario>/")
@click.option("--db", default=None, help="SQLAlchemy URL (default sqlite:///OUT/plans.db)")
@click.option("--scenario", "scenarios", multiple=True, type=click.Path(path_type=Path))
@_previous_plan_option
@click.pass_context
def run(ctx, data, month, out, db, scenarios, previous_plan) -> None:
    """Run the whole monthly cycle for MONTH and write the plan for the month after."""
    try:
        _run(data, month, out, db, scenarios, previous_plan, ctx.obj["lang"])
    except Exception as exc:  # noqa: BLE001
        _fail(exc)


@main.command()
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("patrolopt-demo"), show_default=True
)
@click.option("--db", default=None)
@click.pass_context
def demo(ctx, out: Path, db: str | None) -> None:
    """Build the seeded demo bureau and run the cycle on its last month."""
    from optimizer.demo import demo_month, write_demo_bureau

    try:
        data = write_demo_bureau(out / "demo-data")
        click.echo(f"demo bureau written to {data}")
        results = _run(data, demo_month(), out, db, (), None, ctx.obj["lang"])
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    click.echo(f"open {results[0].folder / 'map.html'} and {results[0].folder / 'report.html'}")


def _stage(data, month, tables):
    from optimizer.cycle import cases_upto, spatial

    bureau = load_bureau(data, tables)
    _require_month(bureau, month)
    sp = spatial(bureau) if bureau.cases is not None else None
    cases = cases_upto(bureau, month, sp) if sp is not None else None
    return bureau, sp, cases


@main.command()
@_stage_options
def score(data, month, out) -> None:
    """Assessment scores of MONTH: scores.csv, indicator_scores.csv, rank_sensitivity.csv."""
    from optimizer.cycle import score_stage

    try:
        bureau = load_bureau(data, SCORE_TABLES)
        _require_month(bureau, month)
        result = score_stage(bureau, month)
        out.mkdir(parents=True, exist_ok=True)
        result.month_scores.to_csv(out / "scores.csv", index=False)
        result.indicator_scores.to_csv(out / "indicator_scores.csv", index=False)
        result.sensitivity.to_csv(out / "rank_sensitivity.csv", index=False)
        result.rollups.to_csv(out / "rollups.csv", index=False)
        result.policy.to_csv(out / "policy.csv", index=False)
        result.pairs.to_csv(out / "indicator_pairs.csv", index=False)
        result.awards.to_csv(out / "awards.csv", index=False)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    click.echo(f"scores written to {out}")


@main.command()
@_stage_options
def quality(data, month, out) -> None:
    """Data-quality flags of MONTH: quality.csv."""
    from optimizer.cycle import quality_stage, spatial

    try:
        bureau = load_bureau(data, FORECAST_TABLES | SCORE_TABLES)
        _require_month(bureau, month)
        frame = quality_stage(bureau, month, spatial(bureau))
        out.mkdir(parents=True, exist_ok=True)
        frame.to_csv(out / "quality.csv", index=False)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    click.echo(f"{len(frame)} flags written to {out / 'quality.csv'}")


@main.command()
@_stage_options
def hotspots(data, month, out) -> None:
    """Hotspots of the last months up to MONTH: hotspots.geojson."""
    from models.hotspots import find_hotspots

    try:
        bureau, sp, (cases, x, y) = _stage(data, month, FORECAST_TABLES)
        found = find_hotspots(
            cases, x, y, month, bureau.config.hotspots, sp.crs, float(sp.stations.union_all().area)
        )
        out.mkdir(parents=True, exist_ok=True)
        found.to_crs("EPSG:4326").to_file(out / "hotspots.geojson", driver="GeoJSON")
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    click.echo(f"{len(found)} hotspots written to {out / 'hotspots.geojson'}")


@main.command()
@_stage_options
def forecast(data, month, out) -> None:
    """Risk per cell and shift for the month after MONTH: risk.csv."""
    from optimizer.cycle import risk_stage

    try:
        bureau, sp, (cases, _x, _y) = _stage(data, month, FORECAST_TABLES)
        risk, model = risk_stage(bureau, month, sp, cases)
        out.mkdir(parents=True, exist_ok=True)
        risk.to_csv(out / "risk.csv", index=False)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    click.echo(f"risk ({model}) written to {out / 'risk.csv'}")


@main.command()
@_stage_options
@click.option("--months", default=12, show_default=True, help="months to forecast and score")
def backtest(data, month, out, months) -> None:
    """Rolling-origin backtest of every forecast model and of `auto`: backtest.csv."""
    from models.forecast import Grid, backtest_months_table, risk_history

    try:
        bureau, sp, (cases, _x, _y) = _stage(data, month, FORECAST_TABLES)
        cfg = bureau.config
        counts, labels = risk_history(cases, sp.cells, cfg.allocation.shifts, month)
        table = backtest_months_table(
            counts,
            labels,
            Grid.from_cells(sp.cells, cfg.grid.cell_size_m),
            months,
            cfg.forecast.backtest_months,
            cfg.forecast.selection_coverage,
        )
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / "backtest.csv", index=False)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    summary = table.groupby(["model", "coverage"], sort=False)[["hit_rate", "pai", "pei_star"]]
    click.echo(summary.mean().round(3).to_string())


@main.command(name="allocate")
@_stage_options
@_previous_plan_option
def allocate_cmd(data, month, out, previous_plan) -> None:
    """Patrol hours for the month after MONTH: allocation.csv, allocation.geojson, duals.csv,
    binding.csv, schedule.csv, patrol_balance.csv."""
    from optimizer.cycle import allocation_stage, risk_stage

    try:
        bureau, sp, (cases, _x, _y) = _stage(data, month, FORECAST_TABLES)
        shifts = bureau.config.allocation.shifts
        prev = load_previous_plan(previous_plan, shifts) if previous_plan else None
        risk, _model = risk_stage(bureau, month, sp, cases)
        result = allocation_stage(bureau, month, sp, cases, risk, prev)
        out.mkdir(parents=True, exist_ok=True)
        result.plan.allocation.to_csv(out / "allocation.csv", index=False)
        result.plan.duals.to_csv(out / "duals.csv", index=False)
        result.plan.binding.to_csv(out / "binding.csv", index=False)
        result.schedule.to_csv(out / "schedule.csv", index=False)
        result.balance.to_csv(out / "patrol_balance.csv", index=False)
        result.geo.to_file(out / "allocation.geojson", driver="GeoJSON")
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    click.echo(f"allocation written to {out}")


@main.command()
@_stage_options
@click.pass_context
def train(ctx, data, month, out) -> None:
    """Training recommendations from the gaps of MONTH: training.csv, training.xlsx."""
    from models.training import course_effectiveness, find_gaps
    from optimizer.cycle import score_stage
    from optimizer.train import assign_seats, seat_demand, write_training_xlsx

    try:
        bureau = load_bureau(data, SCORE_TABLES)
        _require_month(bureau, month)
        scored = score_stage(bureau, month)
        cfg = bureau.config.training
        gaps = find_gaps(scored.all_indicator_scores, month, cfg.gap_score)
        eff = course_effectiveness(
            scored.all_indicator_scores, bureau.training_log, bureau.courses, month
        )
        training = assign_seats(
            gaps,
            bureau.courses,
            bureau.stations,
            bureau.indicators,
            cfg.gap_score,
            cfg.max_training_hours_per_officer,
            eff,
            ctx.obj["lang"],
        )
        out.mkdir(parents=True, exist_ok=True)
        training.to_csv(out / "training.csv", index=False)
        demand = seat_demand(gaps, bureau.courses, bureau.stations, training, eff)
        write_training_xlsx(training, out / "training.xlsx", demand)
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    click.echo(f"{int(training['seats'].sum()) if len(training) else 0} seats written to {out}")


@main.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--out", type=click.Path(path_type=Path), default=Path("compare.html"))
@click.pass_context
def compare(ctx, runs, out) -> None:
    """Write a side-by-side report of finished run folders."""
    from optimizer.report import render_report

    try:
        out.write_text(render_report(list(runs), ctx.obj["lang"]), encoding="utf-8")
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    click.echo(f"comparison written to {out}")


@main.group()
def audit() -> None:
    """Tamper evidence of stored plans."""


@audit.command(name="verify")
@_run_out_option("the output folder of `run` (default ./plans, or . when it holds audit.jsonl)")
@click.option("--db", default=None, help="SQLAlchemy URL (default sqlite:///OUT/plans.db)")
def audit_verify(out: Path, db: str | None) -> None:
    """Recompute the audit trail; exit 0 only when every entry and file still matches."""
    from optimizer.store import AUDIT_FILE, default_url, verify

    if out == DEFAULT_OUT and not out.exists() and Path(AUDIT_FILE).exists():
        out = Path(".")  # run from inside an output folder
    try:
        problems = verify(out, db or default_url(out))
    except Exception as exc:  # noqa: BLE001
        _fail(exc)
    if problems:
        for line in problems:
            click.echo(line, err=True)
        click.echo(f"audit failed: {len(problems)} mismatch(es), the first listed first", err=True)
        sys.exit(EXIT_INPUT)
    click.echo(f"audit trail of {out} verified")
