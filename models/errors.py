"""The named errors of patrolopt: bad input (exit 2), an infeasible plan (exit 3) and a solver
that stopped without an answer (exit 1)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

SHOWN_PER_COLUMN = 20  # problems listed per file and column; the rest are counted in one line


@dataclass(frozen=True)
class Problem:
    """One problem in the input, located as `file:row:column`.

    Row is the line in a CSV or TOML file (header = 1), the feature number (from 1) in GeoJSON or
    GeoPackage, the row number (from 1) in Parquet; 0 when the whole file is at fault.
    """

    file: str
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.row}:{self.column}: {self.message}"


@dataclass(frozen=True)
class Omitted(Problem):
    """The line standing for `count` further problems of one file and column, located at the
    first of them."""

    count: int = 0


def omitted(file: str, row: int, column: str, count: int) -> Omitted:
    """The line counting `count` problems of `file` and `column` not listed one by one."""
    return Omitted(
        file, row, column, f"… and {count:,} more problems in {file} column {column}", count
    )


def mask_problems(
    file: str, first_row: int, mask: np.ndarray, column: str, message: str | Callable[[int], str]
) -> list[Problem]:
    """A problem at every row position where `mask` holds (`message`, or `message(i)` for
    position i; row = i + `first_row`): the first `SHOWN_PER_COLUMN` listed, the rest counted
    in one `Omitted` line, so a file of garbage costs no more than a few bad cells."""
    at = np.flatnonzero(np.asarray(mask, dtype=bool))
    listed = [
        Problem(file, int(i + first_row), column, message(i) if callable(message) else message)
        for i in at[:SHOWN_PER_COLUMN]
    ]
    if len(at) > SHOWN_PER_COLUMN:
        listed.append(
            omitted(file, int(at[SHOWN_PER_COLUMN] + first_row), column, len(at) - SHOWN_PER_COLUMN)
        )
    return listed


def bounded(problems: list[Problem]) -> list[Problem]:
    """The problems with at most `SHOWN_PER_COLUMN` listed per file and column, in their
    order; the rest of a file and column (and the counts of its `Omitted` lines) summed in one
    `Omitted` line where the first of them stood."""
    shown: dict[tuple[str, str], int] = {}
    rest: dict[tuple[str, str], tuple[int, int]] = {}  # its place in the output, its row
    out: list[Problem | None] = []
    counts: dict[tuple[str, str], int] = {}
    for problem in problems:
        group = (problem.file, problem.column)
        listed = not isinstance(problem, Omitted)
        if listed and shown.get(group, 0) < SHOWN_PER_COLUMN:
            shown[group] = shown.get(group, 0) + 1
            out.append(problem)
            continue
        if group not in rest:
            rest[group] = (len(out), problem.row)
            out.append(None)
        counts[group] = counts.get(group, 0) + (1 if listed else problem.count)
    for (file, column), (position, row) in rest.items():
        out[position] = omitted(file, row, column, counts[(file, column)])
    return [p for p in out if p is not None]


class InputError(ValueError):
    """The input cannot be used; carries every problem found, not just the first (at most
    `SHOWN_PER_COLUMN` listed per file and column, the rest counted)."""

    def __init__(self, problems: list[Problem]):
        self.problems = bounded(list(problems))
        super().__init__("\n".join(str(p) for p in self.problems))

    @property
    def count(self) -> int:
        """How many problems were found, the counted ones included."""
        return sum(p.count if isinstance(p, Omitted) else 1 for p in self.problems)


class MonthOutsideData(ValueError):
    """A month the data folder holds no cases and no indicator values for (bad input, exit 2)."""


class StoreError(ValueError):
    """The plan store cannot be used as it is (an empty or foreign file, a lock never freed):
    bad input, exit 2."""


class InfeasiblePlan(RuntimeError):
    """No allocation satisfies every constraint; `diagnosis` lists the conflicts in plain words."""

    def __init__(self, diagnosis: list[str]):
        self.diagnosis = list(diagnosis)
        super().__init__("\n".join(self.diagnosis))


class SolverFailure(RuntimeError):
    """The solver stopped without an answer — a time limit, a numerical failure — so the plan
    is neither found nor proven impossible; `status` is the solver's own name for the outcome
    (HiGHS: "Time limit reached", "Solve error", …)."""

    def __init__(self, status: str, during: str = "the allocation"):
        self.status = status
        super().__init__(f"the solver stopped without an answer during {during} (HiGHS: {status})")
