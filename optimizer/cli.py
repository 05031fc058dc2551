"""The `patrolopt` command line. The only module that prints or chooses exit codes:
0 done, 1 internal error, 2 bad input, 3 infeasible plan."""

from __future__ import annotations

import re
import sys
import traceback
from pathlib import Path

import click

from models.errors import InfeasiblePlan, InputError, MonthOutsideData, SolverFailure, StoreError
from models.months import MONTH_PATTERN
from optimizer.cluster import ClusterUnavailable
from optimizer.i18n import LANGUAGES, texts
from optimizer.serve.roles import ROLES
from optimizer.threads import limited_threads

EXIT_INPUT, EXIT_INFEASIBLE, EXIT_INTERNAL = 2, 3, 1
DEFAULT_OUT = Path("plans")  # `run` and `audit verify` without --out: ./plans
FORECAST_TABLES = {"cases", "stations", "offences"}
EXECUTION_TABLES = {"stations", "patrol_tracks", "calls"}
SCORE_TABLES = {
    "stations",
    "indicators",
    "weights",
    "scores",
    "courses",
    "training_log",
    "flex_weights",
}


def _say(key: str, **values: object) -> str:
    """One of the command line's own sentences in the language chosen with `--lang`."""
    context = click.get_current_context(silent=True)
    lang = ((context.find_object(dict) if context else None) or {}).get("lang", "en")
    return texts(lang, "cli")[key].format(**values)


def _fail(exc: Exception) -> None:
    if isinstance(exc, click.ClickException):
        raise exc  # click prints it and exits 2 (a bad option value)
    if isinstance(exc, StoreError):
        click.echo(_say("store", error=exc), err=True)
        sys.exit(EXIT_INPUT)
    if isinstance(exc, ClusterUnavailable):
        raise click.BadParameter(str(exc), param_hint="'--workers' / '--scheduler'") from exc
    if isinstance(exc, MonthOutsideData):
        raise click.BadParameter(str(exc), param_hint="'--month'") from exc
    if isinstance(exc, InputError):
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        click.echo(_say("problems", count=exc.count), err=True)
        sys.exit(EXIT_INPUT)
    if isinstance(exc, InfeasiblePlan):
        click.echo(_say("infeasible"), err=True)
        for line in exc.diagnosis:
            click.echo(f"  {line}", err=True)
        sys.exit(EXIT_INFEASIBLE)
    if isinstance(exc, SolverFailure):  # neither a plan nor a proof that none exists
        click.echo(_say("solver_failure", error=exc), err=True)
        sys.exit(EXIT_INTERNAL)
    click.echo(_say("internal", error=exc), err=True)
    context = click.get_current_context(silent=True)
    if context is not None and (context.find_object(dict) or {}).get("debug"):
        traceback.print_exc()
    sys.exit(EXIT_INTERNAL)


def _month(ctx, param, value):
    if value is None:
        return value
    if not re.fullmatch(MONTH_PATTERN, value):
        raise click.BadParameter(f"expected YYYY-MM, got {value!r}")
    return value


_GLOBAL_OPTIONS = {"--lang": 1, "--threads": 1, "--debug": 0}  # option → values it takes


class _Command(click.Command):
    """A command whose errors become the product's exit codes (`_fail`): one place for every
    command, so none can forget a kind of error."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, click.ClickException):
            raise  # click's own: a usage error, --help, an interrupted prompt
        except Exception as exc:  # noqa: BLE001 - mapped to exit codes
            _fail(exc)


class _Commands(click.Group):
    """The command group, taking its own options (`--lang`, `--threads`, `--debug`) before
    the command or anywhere after it. Its commands and groups are of its own classes."""

    command_class = _Command
    group_class = type

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        hoisted, rest, i = [], [], 0
        while i < len(args):
            name = args[i].split("=", 1)[0]
            if args[i] == "--":
                rest += args[i:]
                break
            if name in _GLOBAL_OPTIONS:
                takes = 0 if "=" in args[i] else _GLOBAL_OPTIONS[name]
                hoisted += args[i : i + 1 + takes]
                i += 1 + takes
                continue
            rest.append(args[i])
            i += 1
        return super().parse_args(ctx, hoisted + rest)


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


def _anchor_option(f):
    return click.option(
        "--anchor",
        default=None,
        help="append-only place for each new chain head: a file, or a SQLAlchemy URL "
        "(table audit_anchor), best on another server",
    )(f)


def _previous_plan_option(f):
    return click.option(
        "--previous-plan",
        type=click.Path(path_type=Path, exists=True, dir_okay=False),
        default=None,
        help="last month's allocation.csv (cell_id, shift, hours required)",
    )(f)


def _spread_options(f):
    f = click.option(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run them on the Dask cluster at ADDRESS (tcp://host:8786) instead",
    )(f)
    return click.option(
        "--workers",
        type=click.IntRange(min=1),
        default=None,
        help="run the pieces of work that split (pings, hotspots, forecast fits) on a local "
        "Dask cluster of N processes (needs patrolopt[dask]; the results are the same)",
    )(f)


def _spread(workers: int | None, scheduler: str | None):
    """The spread `--workers` / `--scheduler` ask for (one process without either), sharing
    the run's `--threads`."""
    from optimizer.cluster import spread_for

    if workers and scheduler:
        raise click.UsageError(_say("workers_or_scheduler"))
    return spread_for(workers, scheduler, click.get_current_context().find_object(dict)["threads"])


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
    score_stage(bureau, month, bureau_station_weights(bureau)).write(out)
    click.echo(_say("scores_written", out=out))


@main.command()
@_stage_options
def quality(data, month, out) -> None:
    """Data-quality flags of MONTH: quality.csv."""
    from optimizer.stages import bureau_station_weights, quality_stage

    bureau, _sp, cases = _stage(data, month, FORECAST_TABLES | SCORE_TABLES)
    result = quality_stage(bureau, month, cases, bureau_station_weights(bureau))
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


@main.command()
@_stage_options
@click.pass_context
def train(ctx, data, month, out) -> None:
    """Training recommendations from the gaps of MONTH: training.csv, training.xlsx."""
    from optimizer.stages import bureau_station_weights, score_stage, training_stage

    bureau, _sp, _cases = _stage(data, month, SCORE_TABLES)
    scored = score_stage(bureau, month, bureau_station_weights(bureau))
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


@main.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--out", type=click.Path(path_type=Path), default=Path("compare.html"))
@click.pass_context
def compare(ctx, runs, out) -> None:
    """Write a side-by-side report of finished run folders."""
    from optimizer.report import render_report

    out.write_text(render_report(list(runs), ctx.obj["lang"]), encoding="utf-8")
    click.echo(_say("comparison_written", out=out))


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--station", default=None, help="only this station's sheets")
@click.option("--date", default=None, help="only this day's sheets, YYYY-MM-DD")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.pass_context
def sheets(ctx, run_dir: Path, station: str | None, date: str | None, out: Path) -> None:
    """Printable mission sheets of a run folder: OUT/<station_id>/<date>.html."""
    from optimizer.sheets import write_sheets

    pages = write_sheets(run_dir, out, station=station, date=date, lang=ctx.obj["lang"])
    click.echo(_say("sheets_written", count=len(pages), out=out))


@main.group()
def audit() -> None:
    """Tamper evidence of stored plans."""


@audit.command(name="verify")
@_run_out_option("the output folder of `run` (default ./plans, or . when it holds audit.jsonl)")
@click.option("--db", default=None, help="SQLAlchemy URL (default sqlite:///OUT/plans.db)")
@_anchor_option
def audit_verify(out: Path, db: str | None, anchor: str | None) -> None:
    """Recompute the audit trail; exit 0 only when every entry, file and stored row still
    matches (and, given --anchor, every chain head anchored since)."""
    from optimizer.audit import verify
    from optimizer.manifest import AUDIT_FILE, default_store_url

    if out == DEFAULT_OUT and not out.exists() and Path(AUDIT_FILE).exists():
        out = Path(".")  # run from inside an output folder
    found = verify(out, db or default_store_url(out), anchor)
    for note in found.notes:
        click.echo(_say("note", note=note), err=True)
    if found.problems:
        for line in found.problems:
            click.echo(line, err=True)
        count = len(found.problems)
        click.echo(_say("audit_failed", count=count), err=True)
        sys.exit(EXIT_INPUT)
    click.echo(_say("audit_ok", out=out))


@main.group()
def users() -> None:
    """Accounts of `patrolopt serve`."""


@users.command(name="add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--station", default="", help="the station a `station` user reads")
@click.option(
    "--users",
    "users_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="users file [default: OUT/users.toml]",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="output folder served [default: . inside an output folder, else ./plans]",
)
@click.option(
    "--data", type=click.Path(path_type=Path, file_okay=False), help="bureau data naming stations"
)
def users_add(name, role, station, users_file: Path | None, out: Path | None, data: Path | None):
    """Add a user (or set its role and password), the password asked on a terminal, else read
    from one line of stdin; only its scrypt hash is stored."""
    from optimizer.serve import users as accounts

    users_file = users_file or accounts.users_file_of(out, DEFAULT_OUT)
    try:
        accounts.check_new_user(name, role, station, out or users_file.parent, data)
        if sys.stdin.isatty():
            password = click.prompt("password", hide_input=True, confirmation_prompt=True)
        else:
            password = sys.stdin.readline().rstrip("\r\n")
        accounts.check_new_password(password)
        new = accounts.add_user(users_file, name, role, station, password)
    except accounts.UserError as exc:
        click.echo(f"{users_file}: {exc}", err=True)
        sys.exit(EXIT_INPUT)
    click.echo(f"user {name} ({role}) {'added to' if new else 'updated in'} {users_file}")


@main.command()
@click.option("--out", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True)
@click.option("--data", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--db", default=None, help="SQLAlchemy URL (default sqlite:///OUT/plans.db)")
@click.option("--users", "users_file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--forwarded-allow-ips",
    default="",
    help="addresses of the reverse proxy whose X-Forwarded-For names the client, "
    "comma-separated [default: none, the header is ignored]",
)
@click.pass_context
def serve(
    ctx, out: Path, data: Path | None, db: str | None, users_file, host, port, forwarded_allow_ips
) -> None:
    """Serve the plans of OUT to planners, trainers, leaders and stations (users from
    OUT/users.toml unless --users)."""
    try:
        from optimizer.serve.main import serve_forever
    except ImportError as exc:
        click.echo(f"patrolopt serve needs the serve extra (pip install 'patrolopt[serve]'): {exc}")
        sys.exit(EXIT_INPUT)
    serve_forever(out, data, db, users_file, host, port, ctx.obj["lang"], forwarded_allow_ips)
