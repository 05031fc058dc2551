"""The commands that compare, decide, print and keep the record: compare, sheets, adopt,
audit verify, users add and serve."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from optimizer.cli.base import (
    DEFAULT_OUT,
    EXIT_INPUT,
    _anchor_option,
    _Command,
    _Commands,
    _run_out_option,
    _say,
)
from optimizer.serve.roles import ROLES


@click.command(cls=_Command)
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--out", type=click.Path(path_type=Path), default=Path("compare.html"))
@click.pass_context
def compare(ctx, runs, out) -> None:
    """Write a side-by-side report of finished run folders."""
    from optimizer.report import render_report

    out.write_text(render_report(list(runs), ctx.obj["lang"]), encoding="utf-8")
    click.echo(_say("comparison_written", out=out))


@click.command(cls=_Command)
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--station", default=None, help="only this station's sheets")
@click.option("--date", default=None, help="only this day's sheets, YYYY-MM-DD")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.pass_context
def sheets(ctx, run_dir: Path, station: str | None, date: str | None, out: Path) -> None:
    """Printable mission sheets of a run folder OUT/<M+1>/<scenario>, or of the plan a month
    carries out (OUT/<M+1>: the adopted scenario, else the baseline), into
    OUT/<station_id>/<date>.html."""
    from models.columns import MONTH
    from optimizer.adoption import logged_adoption
    from optimizer.sheets import write_sheets

    if MONTH.fullmatch(run_dir.name):  # a plan month: its adopted plan
        run_dir = run_dir / logged_adoption(run_dir.parent, run_dir.name).scenario
    elif MONTH.fullmatch(run_dir.parent.name):
        carried = logged_adoption(run_dir.parent.parent, run_dir.parent.name).scenario
        if carried != run_dir.name:
            click.echo(_say("not_adopted", run=run_dir, carried=carried), err=True)
    pages = write_sheets(run_dir, out, station=station, date=date, lang=ctx.obj["lang"])
    click.echo(_say("sheets_written", count=len(pages), out=out))


@click.command(cls=_Command)
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--db", default=None, help="SQLAlchemy URL (default sqlite:///OUT/plans.db)")
@click.option("--by", "user", default=None, help="who adopts it [default: the login name]")
@_anchor_option
def adopt(run_dir: Path, db: str | None, user: str | None, anchor: str | None) -> None:
    """Adopt a recorded run OUT/<M+1>/<scenario> as the plan the bureau carries out: what
    stations see, missions are printed from, next month builds on and execution is measured
    against (an audit entry)."""
    import getpass

    from optimizer.adoption import NotARecordedRun
    from optimizer.adoption import adopt as adopt_run
    from optimizer.manifest import default_store_url

    out, plan_month, scenario = run_dir.parent.parent, run_dir.parent.name, run_dir.name
    try:
        entry = adopt_run(
            out,
            db or default_store_url(out),
            plan_month,
            scenario,
            user or getpass.getuser(),
            anchor=anchor,
        )
    except NotARecordedRun as exc:
        raise click.BadParameter(str(exc), param_hint="'RUN_DIR'") from exc
    click.echo(_say("adopted", run=f"{plan_month}/{scenario}", seq=entry["seq"]))


@click.group(cls=_Commands)
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


@click.group(cls=_Commands)
def users() -> None:
    """Accounts of `patrolopt serve`."""


@users.command(name="add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--station", default="", help="the station a `station` user reads")
@click.option(
    "--department", default="", help="the department a `department` user reports for (SPEC §17)"
)
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
def users_add(
    name, role, station, department, users_file: Path | None, out: Path | None, data: Path | None
):
    """Add a user (or set its role and password), the password asked on a terminal, else read
    from one line of stdin; only its scrypt hash is stored."""
    from optimizer.serve import users as accounts

    users_file = users_file or accounts.users_file_of(out, DEFAULT_OUT)
    try:
        accounts.check_new_user(name, role, station, out or users_file.parent, data, department)
        if sys.stdin.isatty():
            password = click.prompt("password", hide_input=True, confirmation_prompt=True)
        else:
            password = sys.stdin.readline().rstrip("\r\n")
        accounts.check_new_password(password)
        new = accounts.add_user(users_file, name, role, station, password, department)
    except accounts.UserError as exc:
        click.echo(f"{users_file}: {exc}", err=True)
        sys.exit(EXIT_INPUT)
    click.echo(f"user {name} ({role}) {'added to' if new else 'updated in'} {users_file}")


@click.command(cls=_Command)
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


COMMANDS = (compare, sheets, adopt, audit, users, serve)
