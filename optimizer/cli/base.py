"""What every command of the command line shares: exit codes, its sentences in the chosen
language, the mapping of errors to exit codes, the command classes and common options."""

from __future__ import annotations

import re
import sys
import traceback
from pathlib import Path

import click

from models.errors import InfeasiblePlan, InputError, MonthOutsideData, SolverFailure, StoreError
from models.months import MONTH_PATTERN
from optimizer.cluster import ClusterUnavailable
from optimizer.i18n import texts

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
