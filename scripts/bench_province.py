"""Benchmark: `patrolopt run` on a data folder (a province from scripts/make_province.py), wall
time, CPU time and peak memory per stage, with one process and with `--workers N`. Prints the
figures and writes them as JSON.

    python scripts/bench_province.py --data DIR --month 2025-12 [--workers 1,2]
                                     [--work DIR] [--timeout 3600] [--out bench_province.json]

`patrolopt run` runs as a child process whose stderr is a terminal, so that it reports each
stage as it finishes ("  [scenario: ]<stage> done"); the first interval also holds start-up and
reading and validating the data folder (`load + quality`), the last writing the plan and the
store. The process and its children (Dask workers) are sampled every 0.1 s from /proc: CPU is
user + system time of the processes of the tree (the run's total from getrusage once it has
ended), memory the largest resident set of the tree seen during the stage (the sum over its
processes). The stage wall times can be checked against `timings_s` in the plan.json
written. The figures file is rewritten after every stage, so a run stopped by `--timeout` still
leaves the stages it finished. Targets (SPEC §15, 2 cores): ≤ 600 s wall, ≤ 6 GB peak.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import re
import resource
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
DONE = re.compile(r"^\s+(?:[^\s:]+: )?(\S+) done\b")  # "  [scenario: ]<stage> done[ (s)]"


def _stat(pid: int) -> tuple[float, int] | None:
    """(CPU seconds of `pid` itself, resident bytes) from /proc. Its reaped children are left
    out: they are sampled as processes of the tree while they live (counting them again
    through their parent would count Dask workers twice)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    utime, stime = (int(v) for v in fields[11:13])
    return (utime + stime) / TICK, int(fields[21]) * PAGE


def _children_cpu() -> float:
    """CPU seconds of every process this benchmark has waited for, and of their waited-for
    descendants (the whole `patrolopt run` tree once it has ended)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _tree(root: int) -> list[int]:
    """`root` and every descendant process."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parent = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def sample(root: int, cpu_seen: dict[int, float]) -> tuple[float, int]:
    """CPU seconds used so far by the tree (processes that ended keep their last figure) and
    its resident bytes now."""
    rss = 0
    for pid in _tree(root):
        got = _stat(pid)
        if got is not None:
            cpu_seen[pid] = max(cpu_seen.get(pid, 0.0), got[0])
            rss += got[1]
    return sum(cpu_seen.values()), rss


def run_once(
    data: Path, month: str, out: Path, workers: int, timeout: float, report=lambda run: None
) -> dict:
    """One `patrolopt run`, measured stage by stage; `report(partial figures)` after each
    stage; stopped (with its children) after `timeout` seconds."""
    shutil.rmtree(out, ignore_errors=True)
    exe = Path(sys.executable).with_name("patrolopt")
    command = [str(exe), "run", "--data", str(data), "--month", month, "--out", str(out)]
    if workers > 1:
        command += ["--workers", str(workers)]
    leader, follower = pty.openpty()
    cpu_before = _children_cpu()
    start = time.perf_counter()
    child = subprocess.Popen(
        command, stderr=follower, stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    os.close(follower)
    cpu_seen: dict[int, float] = {}
    stages: list[dict] = []
    lines: list[str] = []
    buffer, clock, cpu_at, peak = "", start, 0.0, 0

    def close(name: str, cpu: float) -> None:
        nonlocal clock, cpu_at, peak
        now = time.perf_counter()
        stages.append(
            {
                "stage": name,
                "wall_s": round(now - clock, 2),
                "cpu_s": round(cpu - cpu_at, 2),
                "peak_rss_mb": round(peak / 2**20),
            }
        )
        clock, cpu_at, peak = now, cpu, 0
        report({"workers": workers, "running": True, "stages": stages})

    cpu, timed_out = 0.0, False
    while True:
        ready, _, _ = select.select([leader], [], [], 0.1)
        cpu, rss = sample(child.pid, cpu_seen)
        peak = max(peak, rss)
        chunk = ""
        if ready:
            try:
                chunk = os.read(leader, 4096).decode(errors="replace")
            except OSError:  # the child closed its terminal
                chunk = ""
            buffer += chunk
            *complete, buffer = buffer.replace("\r", "").split("\n")
            for line in complete:
                lines.append(line)
                match = DONE.match(line)
                if match:  # the stage reported has just ended
                    close(match.group(1) if stages else f"load + {match.group(1)}", cpu)
        if not chunk and child.poll() is not None:
            break
        if time.perf_counter() - start > timeout:
            timed_out = True
            os.killpg(child.pid, signal.SIGTERM)
            break
    child.wait()
    total_cpu = _children_cpu() - cpu_before  # exact, also for processes too short to sample
    close("stopped by --timeout" if timed_out else "write and finish", max(cpu, total_cpu))
    now = time.perf_counter()
    plans = sorted(out.glob("*/*/plan.json"))
    recorded = json.loads(plans[0].read_text()).get("timings_s", {}) if plans else {}
    return {
        "workers": workers,
        "exit_code": child.returncode,
        "timed_out": timed_out,
        "wall_s": round(now - start, 2),
        "cpu_s": round(max(total_cpu, sum(cpu_seen.values())), 2),
        "peak_rss_mb": max(s["peak_rss_mb"] for s in stages),
        "stages": stages,
        "plan_json_timings_s": recorded,
        "stdout": child.stdout.read()[-2000:] if child.stdout else "",
        "stderr_tail": [line for line in lines if not DONE.match(line)][-20:],
    }


def has_workers_option() -> bool:
    exe = Path(sys.executable).with_name("patrolopt")
    shown = subprocess.run([str(exe), "run", "--help"], capture_output=True, text=True).stdout
    return "--workers" in shown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--month", required=True)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--work", type=Path, default=Path("bench_province_runs"))
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    parser.add_argument("--out", default="bench_province.json")
    args = parser.parse_args()
    figures = {
        "data": str(args.data),
        "month": args.month,
        "runs": [],
        "targets": {"wall_s": 600, "peak_rss_mb": 6144},
    }

    def save(runs: list) -> None:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump({**figures, "runs": runs}, handle, indent=2)

    for workers in (int(w) for w in args.workers.split(",")):
        if workers > 1 and not has_workers_option():
            figures["runs"].append({"workers": workers, "skipped": "run has no --workers"})
            continue
        done = list(figures["runs"])
        result = run_once(
            args.data, args.month, args.work / f"workers-{workers}", workers, args.timeout,
            lambda partial, done=done: save([*done, partial]),
        )  # fmt: skip
        figures["runs"].append(result)
        save(figures["runs"])
        print(json.dumps({k: v for k, v in result.items() if k != "stdout"}, indent=2))
    save(figures["runs"])


if __name__ == "__main__":
    main()
