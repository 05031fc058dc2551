"""Benchmark: loading a large `cases.csv` (read, type, check references and dates, derive month,
category and harm) with `models.contracts.load_bureau`. Prints wall time, CPU time and peak
memory and writes them as JSON.

    python scripts/bench_loading.py [--rows 5000000] [--dir DIR] [--code CHECKOUT]
                                    [--out bench_loading.json]

The cases are synthetic and seeded: 24 months, 40 offences, 2,000 station ids, a Chinese offence
name in every tenth row's offence table. Each measurement runs in a fresh process so its peak
resident memory is its own. `--code` measures the loader of another checkout of patrolopt (for
example the integration branch before a change) against the same file.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

OFFENCES = 40
STATIONS = 2000


def write_bureau(folder: Path, rows: int, seed: int = 11) -> Path:
    """A data folder holding `cases.csv` with `rows` seeded cases and its `offences.csv`."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    offences = [f"O{i:02d}" for i in range(OFFENCES)]
    lines = ["offence,category,harm_weight,patrol_sensitive,preventable,major,name_zh"]
    for i, code in enumerate(offences):
        name = "入室盗窃" if i % 10 == 0 else ""
        lines.append(f"{code},cat{i % 6},{1 + i % 5},{'true' if i % 4 else 'false'},yes,0,{name}")
    (folder / "offences.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    path = folder / "cases.csv"
    start = np.datetime64("2024-01-01T00:00:00", "s")
    seconds = rng.integers(0, 730 * 86400, rows)
    chunk = 1_000_000
    with pacsv.CSVWriter(
        path,
        pa.schema(
            [
                ("case_id", pa.string()),
                ("occurred_at", pa.string()),
                ("offence", pa.string()),
                ("lat", pa.float64()),
                ("lon", pa.float64()),
                ("station_id", pa.string()),
                ("solved", pa.string()),
                ("response_minutes", pa.float64()),
            ]
        ),
        write_options=pacsv.WriteOptions(quoting_style="none"),
    ) as writer:
        for lo in range(0, rows, chunk):
            n = min(chunk, rows - lo)
            times = (start + seconds[lo : lo + n]).astype(str)
            batch = pa.record_batch(
                [
                    pa.array(np.char.add("C", np.arange(lo, lo + n).astype(str))),
                    pa.array(times.astype(object)),
                    pa.array(np.array(offences)[rng.integers(0, OFFENCES, n)]),
                    pa.array(np.round(rng.uniform(30.0, 31.0, n), 6)),
                    pa.array(np.round(rng.uniform(120.0, 121.5, n), 6)),
                    pa.array(np.char.add("S", rng.integers(0, STATIONS, n).astype(str))),
                    pa.array(np.where(rng.random(n) < 0.3, "true", "false")),
                    pa.array(np.round(rng.gamma(2.0, 6.0, n), 1)),
                ],
                names=[
                    "case_id",
                    "occurred_at",
                    "offence",
                    "lat",
                    "lon",
                    "station_id",
                    "solved",
                    "response_minutes",
                ],
            )
            writer.write_batch(batch)
    return folder


def measure_here(folder: Path) -> dict:
    """Load the folder's cases and offences once in this process: wall s, CPU s, peak MB."""
    from models.contracts import load_bureau

    wall, cpu = time.perf_counter(), time.process_time()
    bureau = load_bureau(folder, {"cases", "offences"})
    figures = {
        "rows": len(bureau.cases),
        "wall_s": round(time.perf_counter() - wall, 2),
        "cpu_s": round(time.process_time() - cpu, 2),
        "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    return figures


def measure(folder: Path, code: Path | None) -> dict:
    """`measure_here` in a fresh process, with `code` first on the import path if given."""
    env = dict(os.environ)
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(code), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, __file__, "--measure", str(folder)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--dir", type=Path, default=Path("bench-loading-data"))
    parser.add_argument("--code", type=Path, default=None, help="checkout whose loader to measure")
    parser.add_argument("--out", type=Path, default=Path("bench_loading.json"))
    parser.add_argument("--measure", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure_here(args.measure)))
        return
    cases = args.dir / "cases.csv"
    marker = args.dir / "rows.txt"  # the size of the data folder written last
    if not cases.exists() or not marker.exists() or marker.read_text() != str(args.rows):
        write_bureau(args.dir, args.rows)
        marker.write_text(str(args.rows))
    figures = {
        "file_mb": round(cases.stat().st_size / 2**20),
        "code": str(args.code or "installed patrolopt"),
        **measure(args.dir, args.code),
    }
    print(
        f"{figures['rows']:,} cases ({figures['file_mb']} MB) loaded by {figures['code']}: "
        f"{figures['wall_s']} s wall, {figures['cpu_s']} s CPU, peak {figures['peak_mb']} MB"
    )
    args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
