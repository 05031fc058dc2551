"""Tamper evidence and crash safety of published plans (SPEC §8): what `audit verify` catches,
what only an anchor catches, damaged logs and stores reported as bad input, and a kill at every
step of publishing repaired by the next publication."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from optimizer import audit
from optimizer.chain import sha256_file
from optimizer.cli import main
from optimizer.publish import Staging, publish

PLAN = Path("2026-01") / "baseline"


@pytest.fixture
def out(demo_run, tmp_path) -> Path:
    """A private copy of the demo's output folder (plans, store, log)."""
    copy = tmp_path / "out"
    shutil.copytree(demo_run.parents[1], copy, ignore=shutil.ignore_patterns("demo-data"))
    return copy


def _url(out: Path) -> str:
    return f"sqlite:///{out / 'plans.db'}"


def _verify(out: Path, *extra: str):
    return CliRunner().invoke(
        main, ["audit", "verify", "--out", str(out), "--db", _url(out), *extra]
    )


def _rechain(out: Path, edit) -> None:
    """Rewrite the log as a forger with write access to folder and store would: `edit` each
    entry, then recompute every hash and link, in both audit.jsonl and audit_log."""
    entries, _ = audit.read_log(out / audit.AUDIT_FILE)
    previous = ""
    for entry in entries:
        edit(entry)
        entry["prev_hash"] = previous
        entry["entry_hash"] = previous = audit.AUDIT.entry_hash(entry)
    lines = [json.dumps(e, ensure_ascii=False, sort_keys=True) for e in entries]
    (out / audit.AUDIT_FILE).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    with sqlite3.connect(out / "plans.db") as db:
        db.execute("DELETE FROM audit_log")
        for e in entries:
            db.execute(
                "INSERT INTO audit_log (seq, recorded_at, plan_month, scenario, folder, data_dir, "
                "files, rows, prev_hash, entry_hash) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    e["seq"],
                    e["recorded_at"],
                    e["plan_month"],
                    e["scenario"],
                    e["folder"],
                    e["data_dir"],
                    json.dumps(e["files"], sort_keys=True),
                    json.dumps(e["rows"], sort_keys=True),
                    e["prev_hash"],
                    e["entry_hash"],
                ),
            )


def test_an_untouched_trail_verifies_and_a_moved_data_folder_is_a_note(out, demo_data, tmp_path):
    assert _verify(out).exit_code == 0
    entries, _ = audit.read_log(out / audit.AUDIT_FILE)
    moved = tmp_path / "moved-data"
    shutil.copytree(demo_data, moved)
    (moved / "courses.csv").write_text(
        (moved / "courses.csv").read_text(encoding="utf-8") + "\n", encoding="utf-8"
    )

    def point_at_copy(entry):
        entry["data_dir"] = str(moved)

    _rechain(out, point_at_copy)  # the same chain, recorded against the copy
    result = _verify(out)
    assert result.exit_code == 0, result.output
    assert "courses.csv has changed since the plan" in result.output


def test_edited_store_rows_are_caught_while_the_files_stay(out):
    with sqlite3.connect(out / "plans.db") as db:
        db.execute("UPDATE allocation SET hours = '999' WHERE rowid = 1")
    result = _verify(out)
    assert result.exit_code == 2
    assert "the store's allocation rows no longer match" in result.output


def test_a_file_dropped_into_a_plan_folder_is_reported(out):
    (out / PLAN / "extra.csv").write_text("a\n1\n", encoding="utf-8")
    result = _verify(out)
    assert result.exit_code == 2 and "extra.csv is listed by no audit entry" in result.output


@pytest.mark.parametrize("damage", ["not json at all\n", '{"seq": 2, "plan_month"\n'])
def test_a_damaged_log_is_reported_never_a_crash(out, damage):
    lines = len((out / audit.AUDIT_FILE).read_text(encoding="utf-8").splitlines())
    with open(out / audit.AUDIT_FILE, "a", encoding="utf-8") as handle:
        handle.write(damage)
    result = _verify(out)
    assert result.exit_code == 2, result.output
    assert f"{audit.AUDIT_FILE}:{lines + 1}: not a whole audit entry" in result.output


def test_a_rechained_log_passes_alone_and_fails_against_the_anchor(out, tmp_path):
    anchor = tmp_path / "anchor.jsonl"
    entries, _ = audit.read_log(out / audit.AUDIT_FILE)
    audit.anchor_head(str(anchor), entries[-1], out)
    assert _verify(out, "--anchor", str(anchor)).exit_code == 0
    plan_file = out / PLAN / "allocation.csv"
    plan_file.write_text(plan_file.read_text(encoding="utf-8") + "\n", encoding="utf-8")

    def forge(entry):
        if entry["folder"] == PLAN.as_posix():
            entry["files"]["outputs/allocation.csv"] = sha256_file(plan_file)

    _rechain(out, forge)
    assert _verify(out).exit_code == 0  # what the chain alone cannot prove
    result = _verify(out, "--anchor", str(anchor))
    assert result.exit_code == 2 and "re-chained" in result.output


def test_a_truncated_or_rolled_back_log_fails_against_the_anchor(out, demo_data, tmp_path):
    anchor = f"sqlite:///{tmp_path / 'anchor.db'}"  # a table in another database
    earlier = tmp_path / "earlier"
    shutil.copytree(out, earlier)  # the folder as it was before the next run
    heads = len(audit.read_log(out / audit.AUDIT_FILE)[0])
    args = ["run", "--data", str(demo_data), "--month", "2025-12", "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--db", _url(out), "--anchor", anchor])
    assert result.exit_code == 0, result.output
    assert f"audit chain head: entry {heads + 1}" in result.output
    assert _verify(out, "--anchor", anchor).exit_code == 0
    rolled = _verify(earlier, "--anchor", anchor)
    assert rolled.exit_code == 2 and "no longer in the log" in rolled.output


def test_a_broken_store_file_is_bad_input(demo_data, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "plans.db").write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    args = ["run", "--data", str(demo_data), "--month", "2025-12", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "store:" in result.output and sorted(p.name for p in out.iterdir()) == ["plans.db"]


def test_an_emptied_store_beside_a_log_is_bad_input(out, demo_data):
    (out / "plans.db").write_bytes(b"")  # the store lost, the folder's log still there
    args = ["run", "--data", str(demo_data), "--month", "2025-12", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "holds no audit log" in result.output


def test_a_foreign_or_lost_store_is_bad_input(out, demo_data, tmp_path):
    foreign = tmp_path / "other.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE invoices (id INTEGER)")
    args = ["run", "--data", str(demo_data), "--month", "2025-12", "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--db", f"sqlite:///{foreign}"])
    assert result.exit_code == 2 and "not a patrolopt store" in result.output
    (out / "plans.db").unlink()  # the log continues a chain the store no longer has
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "holds no audit log" in result.output


CRASH = """
import os, sys
from pathlib import Path
import optimizer.publish as pub
from optimizer import audit, store
from tests.test_audit import inputs_of, stage_new_plan

out, data, where, when = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
module, name = where.split(".")
owner = {"publish": pub, "store": store, "audit": audit}[module]
original = getattr(owner, name)

def crash(*args, **kwargs):
    if when == "after":
        original(*args, **kwargs)
    os._exit(9)

setattr(owner, name, crash)
staging, plan = stage_new_plan(out, float(sys.argv[5]))
pub.publish(staging, plan, f"sqlite:///{out / 'plans.db'}", out, inputs_of(data))
"""


def inputs_of(data: Path) -> dict[str, Path]:
    return {p.name: p for p in sorted(data.iterdir()) if p.is_file()}


def stage_new_plan(out: Path, objective: float) -> tuple[Staging, dict]:
    """A new plan for the demo's month, sealed in a staging folder: the current one with
    another `objective` (plan.json) and report."""
    target = out / PLAN
    staging = Staging(target).__enter__()
    for path in target.iterdir():
        if path.name != "plan.json":
            shutil.copyfile(path, staging.folder / path.name)
    (staging.folder / "report.html").write_text("<html>new</html>", encoding="utf-8")
    plan = json.loads((target / "plan.json").read_text(encoding="utf-8"))
    plan.pop("outputs")
    plan["objective"] = objective
    return staging, staging.seal(plan)


def _objective(out: Path) -> float:
    return json.loads((out / PLAN / "plan.json").read_text(encoding="utf-8"))["objective"]


def _complete(folder: Path) -> bool:
    plan = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
    return all(sha256_file(folder / n) == h for n, h in plan["outputs"].items())


STEPS = [
    ("store.store_rows", "before"),  # nothing recorded yet
    ("publish.to_pending", "before"),  # rows and entry recorded, not committed
    ("publish.to_pending", "after"),  # the pending folder named, not committed
    ("publish.finish", "before"),  # committed, not in place
    ("publish.swap_into_place", "after"),  # in place, not in audit.jsonl
    ("publish.finish", "after"),  # everything done but the anchor
]


@pytest.mark.parametrize(("where", "when"), STEPS)
def test_a_kill_at_any_step_of_publishing_is_repaired_by_the_next(out, demo_data, where, when):
    old = _objective(out)
    entries_before = len(audit.read_log(out / audit.AUDIT_FILE)[0])
    root = Path(__file__).resolve().parents[1]
    script = CRASH.replace("from tests.test_audit", "from test_audit")
    args = [str(out), str(demo_data), where, when, str(old + 1.0)]
    command = [sys.executable, "-c", script, *args]
    env_path = f"{root / 'tests'}:{root}"
    done = subprocess.run(command, env={"PYTHONPATH": env_path, "PATH": ""}, check=False)
    assert done.returncode == 9
    visible = [p for p in (out / PLAN).parent.iterdir() if not p.name.startswith(".")]
    assert visible == [out / PLAN] and _complete(out / PLAN)  # old or new, always whole
    committed = (where, when) not in STEPS[:3]
    if not committed:
        assert _objective(out) == old
    staging, plan = stage_new_plan(out, old + 2.0)  # the next publication
    publish(staging, plan, _url(out), out, inputs_of(demo_data))
    assert _objective(out) == old + 2.0
    assert not [p for p in (out / PLAN).parent.iterdir() if p.name.startswith(".")]
    result = _verify(out)
    assert result.exit_code == 0, result.output
    entries, _ = audit.read_log(out / audit.AUDIT_FILE)
    assert len(entries) == entries_before + (2 if committed else 1)


@pytest.mark.parametrize(
    ("column", "value"), [("objective", "0"), ("status", "'FORGED'"), ("grid_size_m", "1")]
)
def test_an_edited_runs_row_is_caught(out, column, value):
    with sqlite3.connect(out / "plans.db") as db:
        db.execute(f"UPDATE runs SET {column} = {value} WHERE scenario = 'baseline'")
    result = _verify(out)
    assert result.exit_code == 2
    assert "the store's runs rows no longer match their recorded sha256" in result.output


def test_entries_recorded_before_runs_rows_were_digested_still_verify(out):
    def as_before(entry):
        del entry["rows"]["runs"]

    _rechain(out, as_before)
    result = _verify(out)
    assert result.exit_code == 0, result.output


def test_stored_rows_of_a_plan_no_entry_records_are_named(out):
    with sqlite3.connect(out / "plans.db") as db:
        db.execute(
            "INSERT INTO runs (plan_month, scenario, status) VALUES ('2026-03', 'ghost', 'x')"
        )
        db.execute(
            "INSERT INTO allocation (station_id, cell_id, hours, plan_month, scenario) "
            "VALUES ('S01', 'c1', '8', '2026-03', 'ghost')"
        )
    result = _verify(out)
    assert result.exit_code == 2
    for table in ("runs", "allocation"):
        assert (
            f"the store's {table} table holds rows of 2026-03/ghost, which no audit entry records"
        ) in result.output


def test_an_input_folder_named_with_unicode_line_breaks_verifies(out, demo_data, tmp_path):
    """JSON leaves U+0085, U+2028 and U+2029 raw in `audit.jsonl`: the log is split at b"\\n"
    only, so such an entry stays one entry."""
    moved = tmp_path / "data\u0085\u2028\u2029"
    shutil.copytree(demo_data, moved)

    def point_at_copy(entry):
        entry["data_dir"] = str(moved)

    _rechain(out, point_at_copy)
    assert "\u2028" in (out / audit.AUDIT_FILE).read_text(encoding="utf-8")
    entries, problems = audit.read_log(out / audit.AUDIT_FILE)
    assert problems == [] and {e["data_dir"] for e in entries} == {str(moved)}
    result = _verify(out)
    assert result.exit_code == 0, result.output
