"""One scenario run of `patrolopt serve` in a process of its own (`python -m
optimizer.serve.worker PARENT_PID DATA MONTH OUT DB SCENARIO LANG`): `run_month`, exactly as
`patrolopt run --scenario` calls it, so the plan lands in the output folder and the store as a
run writes it. It dies with the service (a kernel parent-death signal): a killed service leaves
at most a staging dot folder, which the next run clears, and no partial plan. Writes JSON lines
to standard output: `{"progress": step}` while running, then `{"state", "message"}`."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys
from pathlib import Path

from models.errors import InputError, MonthOutsideData
from optimizer.cycle import run_month
from optimizer.serve.jobs import NO_SCENARIO

_PR_SET_PDEATHSIG = 1


def die_with(parent: int) -> None:
    """Ask the kernel to kill this process when its parent ends; end now if it already has."""
    with contextlib.suppress(OSError, AttributeError):  # elsewhere the service ends it on exit
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def tell(**fields) -> None:
    print(json.dumps(fields, ensure_ascii=False), flush=True)


def run_job(data: Path, month: str, out: Path, db: str, scenario: Path | None, lang: str) -> dict:
    """The job's outcome (the month's own run when `scenario` is None): done (the plan's
    folder), infeasible (the diagnosis) or failed (the
    input errors, or an internal error)."""
    try:
        done = run_month(
            data,
            month,
            out,
            db=db,
            scenario_files=(scenario,) if scenario is not None else (),
            lang=lang,
            progress=lambda s: tell(progress=s),
        )
    except InputError as exc:
        return {"state": "failed", "message": "\n".join(str(p) for p in exc.problems)}
    except MonthOutsideData as exc:
        return {"state": "failed", "message": str(exc)}
    except Exception as exc:  # noqa: BLE001 - reported to the job's reader
        return {"state": "failed", "message": f"internal error: {exc}"}
    if done.impossible:
        return {"state": "infeasible", "message": "\n".join(done.impossible)}
    plan = done.results[0].plan
    return {
        "state": "done",
        "message": f"plan for {plan['plan_month']} ({plan['scenario']}) written to "
        f"{done.results[0].folder}",
    }


def main(argv: list[str]) -> None:
    parent, data, month, out, db, scenario, lang = argv
    die_with(int(parent))
    file = None if scenario == NO_SCENARIO else Path(scenario)
    tell(**run_job(Path(data), month, Path(out), db, file, lang))


if __name__ == "__main__":
    main(sys.argv[1:])
