"""Start-up cost of the command line: CPU seconds of `patrolopt --help` and of importing what
`validate` needs, median of several runs (target: --help <= 0.3 s of CPU).

    python scripts/bench_startup.py [--runs 7] [--out bench_startup.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
from pathlib import Path

COMMANDS = {
    "patrolopt --help": ["-c", "from optimizer.cli import main; main(['--help'])"],
    "validate imports": ["-c", "import optimizer.cli, models.contracts"],
    "run imports": ["-c", "import optimizer.cli, optimizer.cycle"],
}


def cpu_seconds(args: list[str]) -> float:
    """User + system CPU of one child Python process running `args`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, *args], check=False, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("bench_startup.json"))
    args = parser.parse_args()
    figures = {}
    for name, command in COMMANDS.items():
        runs = [cpu_seconds(command) for _ in range(args.runs)]
        figures[name] = round(statistics.median(runs), 3)
        print(f"{name:20s} {figures[name]:.3f} s CPU (median of {args.runs})")
    args.out.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
