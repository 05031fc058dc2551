"""The same inputs and config give byte-identical plan files: every file of every plan folder,
and plan.json but for its step timings and the paths of inputs outside the data folder."""

from __future__ import annotations

import json

from click.testing import CliRunner

from optimizer.chain import sha256_file
from optimizer.cli import main


def _plan_files(out) -> dict[str, str]:
    digests = {}
    for folder in sorted(p for p in out.glob("*/*") if p.is_dir() and p.parent.name[:2] == "20"):
        for path in sorted(folder.iterdir()):
            name = f"{folder.parent.name}/{folder.name}/{path.name}"
            if path.name == "plan.json":
                plan = json.loads(path.read_text(encoding="utf-8"))
                plan.pop("timings_s")
                for source in plan.get("other_inputs", {}).values():
                    source.pop("path")  # where the demo's folder lies, not what it holds
                digests[name] = json.dumps(plan, sort_keys=True)
            else:
                digests[name] = sha256_file(path)
    return digests


def test_two_runs_of_the_demo_write_the_same_files(demo_run, tmp_path):
    again = tmp_path / "again"
    result = CliRunner().invoke(main, ["demo", "--out", str(again)])
    assert result.exit_code == 0, result.output
    first, second = _plan_files(demo_run.parents[1]), _plan_files(again)
    assert first.keys() == second.keys() and len(first) >= 20
    differ = [name for name in first if first[name] != second[name]]
    assert differ == []
