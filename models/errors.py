"""The named errors of patrolopt: bad input (exit 2), an infeasible plan (exit 3) and a solver
that stopped without an answer (exit 1)."""

from __future__ import annotations

from dataclasses import dataclass


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


class InputError(ValueError):
    """The input cannot be used; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


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
