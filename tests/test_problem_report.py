"""The problem report is bounded (issue 22, defect 8): at most `SHOWN_PER_COLUMN` problems per
file and column, then one line counting the rest; a file most of whose first rows are wrong is
not checked further. A 1,000,000-row garbage cases.csv used to print five million lines."""

from __future__ import annotations

from click.testing import CliRunner

from models.errors import SHOWN_PER_COLUMN, InputError, Problem
from optimizer.cli import main

GARBAGE_ROWS = 20_000


def _garbage_cases(folder) -> None:
    lines = ["case_id,occurred_at,offence,lat,lon"]
    lines += [f"g{i},soon,jaywalking,north,east" for i in range(GARBAGE_ROWS)]
    (folder / "cases.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_garbage_cases_give_a_short_report(demo_copy):
    _garbage_cases(demo_copy)
    result = CliRunner().invoke(main, ["validate", "--data", str(demo_copy)])
    assert result.exit_code == 2
    lines = result.output.splitlines()
    lat = [line for line in lines if line.startswith("cases.csv:") and ":lat:" in line]
    assert lat[:2] == [
        "cases.csv:2:lat: not a number: 'north'",
        "cases.csv:3:lat: not a number: 'north'",
    ]
    assert lat[SHOWN_PER_COLUMN:] == [
        "cases.csv:22:lat: … and 19,980 more problems in cases.csv column lat"
    ]
    assert (
        "cases.csv:2:(rows): most of the first 100 rows are wrong: is this the right file? Its "
        "keys, references and dates were not checked"
    ) in lines
    assert not any(":offence: unknown offence" in line for line in lines)
    assert len(lines) == 3 * (SHOWN_PER_COLUMN + 1) + 2  # occurred_at, lat, lon; note; total
    assert lines[-1] == "60001 problem(s) in the input; nothing was written."


def test_counted_lines_add_up_when_problems_are_gathered_again():
    many = [Problem("cases.csv", row, "lat", "not a number: 'x'") for row in range(2, 52)]
    first = InputError(many + [Problem("cases.csv", 2, "lon", "empty value")])
    again = InputError([*first.problems, Problem("cases.csv", 60, "lat", "empty value")])
    assert [str(p) for p in again.problems[SHOWN_PER_COLUMN:]] == [
        "cases.csv:22:lat: … and 31 more problems in cases.csv column lat",
        "cases.csv:2:lon: empty value",
    ]
    assert (first.count, again.count) == (51, 52)
