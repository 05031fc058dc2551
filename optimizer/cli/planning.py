"""The commands that plan: validate, run, demo, the stage commands and execution, and the
command group itself (`main`) with its own options."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from models.errors import InfeasiblePlan
from optimizer.cli.base import (
    EXECUTION_TABLES,
    FORECAST_TABLES,
    SCORE_TABLES,
    _anchor_option,
    _Commands,
    _data_month_options,
    _previous_plan_option,
    _run_out_option,
    _say,
    _spread,
    _spread_options,
    _stage_options,
)
from optimizer.i18n import LANGUAGES
from optimizer.threads import limited_threads


@click.group(cls=_Commands)
@click.option("--lang", type=click.Choice(LANGUAGES), default="en", show_default=True)
@click.option("--debug", is_flag=True, help="print the traceback of an internal error")
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=None,
    envvar="PATROLOPT_THREADS",
    help="native threads (OpenMP, BLAS) the run may use [default: the usable cores]",
)
@click.pass_context
def main(ctx: click.Context, lang: str, debug: bool, threads: int | None) -> None:
    """patrolopt: monthly station assessment turned into next month's patrol and training plan."""
    ctx.obj = {"lang": lang, "debug": debug, "threads": ctx.with_resource(limited_threads(threads))}


@main.command()
@click.option("--data", type=click.Path(path_type=Path), required=True)
def validate(data: Path) -> None:
    """Check every file, column, value and reference of a data folder."""
    from models.contracts import load_bureau

    bureau = load_bureau(data)
    click.echo(_say("valid", data=data, cases=len(bureau.cases), stations=len(bureau.stations)))


def _run(
    data, month, out, db, scenarios, previous_plan, lang, anchor=None, workers=None, scheduler=None
) -> list:
    """`run_month` with progress on a terminal and its outcome told, on Dask given `workers`
    or `scheduler`; raises an impossible scenario's diagnosis after the others are written."""
    from optimizer.cycle import run_month

    show = sys.stderr.isatty()
    with _spread(workers, scheduler) as spread:
        done = run_month(
            data,
            month,
            out,
            db=db,
            scenario_files=scenarios,
            previous_plan=previous_plan,
            lang=lang,
            progress=(lambda s: click.echo(f"  {s}", err=True)) if show else (lambda s: None),
            anchor=anchor,
            on_wait=lambda message: click.echo(message, err=True),
            spread=spread,
        )
    for result in done.results:
        plan = result.plan
        click.echo(
            _say(
                "written", month=plan["plan_month"], scenario=plan["scenario"], folder=result.folder
            )
        )
        head = result.entry
        click.echo(_say("chain_head", seq=head["seq"], sha=head["entry_hash"]))
        match = plan.get("previous_plan")
        if match and match["unknown"]:
            hours = f"{match['unknown_hours']:,.0f}"
            click.echo(
                _say("off_grid", unknown=match["unknown"], cells=match["cells"], hours=hours),
                err=True,
            )
        for warning in plan.get("allocation_warnings", []):
            click.echo(_say("allocation_warning", warning=warning), err=True)
        for warning in plan.get("staffing", {}).get("warnings", []):
            click.echo(_say("staffing_warning", warning=warning), err=True)
    if done.impossible:
        raise InfeasiblePlan(done.impossible)
    return done.results


@main.command()
@_data_month_options
@_run_out_option("output folder: the plan goes to OUT/<M+1>/<scenario>/")
@click.option("--db", default=None, help="SQLAlchemy URL (default sqlite:///OUT/plans.db)")
@click.option(
    "--scenario",
    "scenarios",
    multiple=True,
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="scenario TOML file (config overrides, [deltas]); repeat for several",
)
@_previous_plan_option
@_anchor_option
@_spread_options
@click.pass_context
def run(ctx, data, month, out, db, scenarios, previous_plan, anchor, workers, scheduler) -> None:
    """Run the whole monthly cycle for MONTH and write the plan for the month after."""
    lang = ctx.obj["lang"]
    _run(data, month, out, db, scenarios, previous_plan, lang, anchor, workers, scheduler)


@main.command()
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("patrolopt-demo"), show_default=True
)
@click.option("--db", default=None)
@click.pass_context
def demo(ctx, out: Path, db: str | None) -> None:
    """Build the seeded demo bureau and run the cycle on its last month."""
    from optimizer.demo import demo_month, write_demo_bureau
    from optimizer.demo_execution import write_demo_execution

    month = demo_month()
    data = write_demo_bureau(out / "demo-data")
    click.echo(_say("demo_written", data=data))
    plan = write_demo_execution(data, month)
    click.echo(_say("tracks_written", month=month, data=data))
    results = _run(data, month, out, db, (), plan, ctx.obj["lang"])
    folder = results[0].folder
    click.echo(_say("open_pages", map=folder / "map.html", report=folder / "report.html"))


def _busy(what: str) -> None:
    """Tell a person at a terminal what the command is doing; quiet when piped."""
    if sys.stderr.isatty():
        click.echo(f"  {what} ...", err=True)


def _stage(data, month, tables):
    """The bureau with the tables a stage reads, its grid and its cases up to `month`."""
    from models.contracts import load_bureau
    from optimizer.run_checks import require_month
    from optimizer.stages import cases_upto, spatial

    _busy(f"reading {data}")
    bureau = load_bureau(data, tables)
    require_month(bureau, month)
    sp = spatial(bureau) if bureau.cases is not None else None
    cases = cases_upto(bureau, month, sp) if sp is not None else None
    _busy(f"{click.get_current_context().info_name} {month}")
    return bureau, sp, cases


@main.command()
@_stage_options
def score(data, month, out) -> None:
    """Assessment scores of MONTH: scores.csv, indicator_scores.csv, rank_sensitivity.csv,
    rollups.csv, policy.csv, indicator_pairs.csv, awards.csv."""
    from optimizer.stages import bureau_station_weights, score_stage

    bureau, _sp, _cases = _stage(data, month, SCORE_TABLES)
    score_stage(bureau, month, bureau_station_weights(bureau, month)).write(out)
    click.echo(_say("scores_written", out=out))


@main.command()
@_stage_options
def quality(data, month, out) -> None:
    """Data-quality flags of MONTH: quality.csv."""
    from optimizer.stages import bureau_station_weights, quality_stage

    bureau, _sp, cases = _stage(data, month, FORECAST_TABLES | SCORE_TABLES)
    result = quality_stage(bureau, month, cases, bureau_station_weights(bureau, month))
    result.write(out)
    click.echo(_say("flags_written", count=len(result.flags), path=out / "quality.csv"))


@main.command()
@_stage_options
@_spread_options
def hotspots(data, month, out, workers, scheduler) -> None:
    """Hotspots of the last months up to MONTH: hotspots.geojson."""
    from optimizer.stages import hotspot_stage

    bureau, sp, cases = _stage(data, month, FORECAST_TABLES)
    with _spread(workers, scheduler) as spread:
        result = hotspot_stage(bureau, month, sp, cases, spread)
    result.write(out)
    click.echo(_say("hotspots_written", count=len(result.hotspots), path=out / "hotspots.geojson"))


@main.command()
@_stage_options
@_spread_options
def forecast(data, month, out, workers, scheduler) -> None:
    """Risk per cell and shift for the month after MONTH: risk.csv."""
    from optimizer.stages import forecast_stage

    bureau, sp, cases = _stage(data, month, FORECAST_TABLES)
    with _spread(workers, scheduler) as spread:
        result = forecast_stage(bureau, month, sp, cases, spread=spread)
    result.write(out)
    click.echo(_say("risk_written", model=result.model, path=out / "risk.csv"))


@main.command()
@_stage_options
@click.option("--months", default=12, show_default=True, help="months to forecast and score")
@_spread_options
def backtest(data, month, out, months, workers, scheduler) -> None:
    """Rolling-origin backtest of every forecast model and of `auto`: backtest.csv."""
    from optimizer.stages import backtest_stage

    bureau, sp, cases = _stage(data, month, FORECAST_TABLES)
    with _spread(workers, scheduler) as spread:
        result = backtest_stage(bureau, month, sp, cases, months, spread)
    result.write(out)
    summary = result.table.groupby(["model", "coverage"], sort=False)
    click.echo(summary[["hit_rate", "pai", "pei_star"]].mean().round(3).to_string())


@main.command(name="allocate")
@_stage_options
@_previous_plan_option
def allocate_cmd(data, month, out, previous_plan) -> None:
    """Patrol hours for the month after MONTH and their missions: allocation.csv,
    allocation.geojson, duals.csv, binding.csv, patrol_balance.csv, missions.csv,
    missions.geojson, missions_summary.csv, schedule.csv."""
    from optimizer.stages import forecast_stage, planned_missions

    bureau, sp, cases = _stage(data, month, FORECAST_TABLES)
    shifts = bureau.config.allocation.shifts
    from models.contracts import load_previous_plan

    prev = load_previous_plan(previous_plan, shifts) if previous_plan else None
    risk = forecast_stage(bureau, month, sp, cases).risk
    allocated, missions = planned_missions(bureau, month, sp, cases, risk, prev)
    allocated.write(out)
    missions.write(out)
    for warning in allocated.plan.warnings_:
        click.echo(_say("allocation_warning", warning=warning), err=True)
    click.echo(_say("allocation_written", out=out))


@main.command(name="staffing")
@_stage_options
@_previous_plan_option
@_spread_options
@click.pass_context
def staffing_cmd(ctx, data, month, out, previous_plan, workers, scheduler) -> None:
    """Officers per station for the month after MONTH, beside the plan today's officers get
    (SPEC §19): staffing.csv. A recommendation: nothing else is written."""
    from models.contracts import ALL_TABLES, load_previous_plan
    from models.months import next_month
    from optimizer.allocation.staffing import shared_out
    from optimizer.execution import execution_stage, has_execution_data
    from optimizer.staffing import staffing_stage
    from optimizer.stages import forecast_stage, planned_missions

    bureau, sp, cases = _stage(data, month, ALL_TABLES)
    cfg = bureau.config
    prev = load_previous_plan(previous_plan, cfg.allocation.shifts) if previous_plan else None
    with _spread(workers, scheduler) as spread:
        executed = (
            execution_stage(bureau, month, sp, prev, spread) if has_execution_data(bureau) else None
        )
        reserve = executed.reserve if executed is not None else None
        shared_out(bureau.stations, reserve, cfg.allocation, cfg.staffing)  # before the forecast
        risk = forecast_stage(bureau, month, sp, cases, spread=spread).risk
        allocated, _ = planned_missions(bureau, month, sp, cases, risk, prev, True, reserve, spread)
        result = staffing_stage(
            bureau,
            month,
            sp,
            risk,
            prev,
            allocated,
            reserve=reserve,
            lang=ctx.obj["lang"],
        )
    result.write(out)
    for warning in result.warnings:
        click.echo(_say("staffing_warning", warning=warning), err=True)
    click.echo(
        _say(
            "staffing_written",
            month=next_month(month),
            path=out / "staffing.csv",
            moved=int(result.table["change"].clip(lower=0).sum()),
            method=result.staffing.method,
            gap=f"{result.staffing.gap:.2%}",
            before=f"{result.harm_before:,.2f}",
            after=f"{result.harm_after:,.2f}",
        )
    )


@main.command()
@_stage_options
@click.pass_context
def train(ctx, data, month, out) -> None:
    """Training recommendations from the gaps of MONTH: training.csv, training.xlsx."""
    from optimizer.stages import bureau_station_weights, score_stage, training_stage

    bureau, _sp, _cases = _stage(data, month, SCORE_TABLES)
    scored = score_stage(bureau, month, bureau_station_weights(bureau, month))
    result = training_stage(bureau, month, scored, ctx.obj["lang"])
    result.write(out)
    seats = int(result.training["seats"].sum()) if len(result.training) else 0
    click.echo(_say("seats_written", seats=seats, out=out))


@main.command()
@_stage_options
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="the plan for MONTH (an allocation.csv) [default: the stored plan in --out]",
)
@_spread_options
def execution(data, month, out, plan_file, workers, scheduler) -> None:
    """MONTH as patrols and dispatch carried it out, against the plan for MONTH:
    execution.csv, adherence.csv, response.csv, quality.csv."""
    from models.contracts import load_bureau
    from optimizer.execution import execution_stage, has_execution_data, plan_to_measure
    from optimizer.manifest import write_outputs
    from optimizer.stages import spatial

    _busy(f"reading {data}")
    bureau = load_bureau(data, EXECUTION_TABLES)
    if not has_execution_data(bureau):
        raise click.BadParameter(_say("execution_none", data=data), param_hint="'--data'")
    plan, missions = plan_to_measure(out, month, plan_file, bureau.config)
    _busy("measuring pings and calls")
    with _spread(workers, scheduler) as spread:
        result = execution_stage(bureau, month, spatial(bureau), plan, spread, missions)
    result.write(out)
    write_outputs(out, {"quality.csv": result.quality})
    if plan is None:
        click.echo(_say("no_plan", month=month, out=out), err=True)
    if result.adherence is not None:
        overall = result.adherence.iloc[-1]
        click.echo(
            _say(
                "delivered",
                month=month,
                delivered=f"{overall['delivered_hours']:,.1f}",
                planned=f"{overall['planned_hours']:,.1f}",
                adherence="–"
                if overall["adherence"] != overall["adherence"]
                else f"{overall['adherence']:.1%}",
            )
        )
    if result.response is not None:
        overall = result.response.iloc[-1]
        calls, unanswered = int(overall["calls"]), int(overall["unanswered"])
        click.echo(_say("calls_answered", month=month, calls=calls, unanswered=unanswered))
    click.echo(_say("execution_written", out=out))
