"""HiGHS, quiet and from arrays.

The solver prints a banner on file descriptor 1 when it starts, even with its output switched
off; the CLI's own output must stay clean (it may be piped into other tools). The allocation
paths hand HiGHS sparse arrays directly (no modelling layer) and read back the model status by
name, so a caller can tell an infeasible model from one the solver could not finish.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

OPTIMAL = "Optimal"
INFEASIBLE = "Infeasible"
# statuses that prove a bounded model has no solution; any other non-optimal status (a time
# limit, a numerical failure) proves nothing
INFEASIBLE_STATUSES = frozenset({INFEASIBLE, "Primal infeasible or unbounded"})
_TOL = 1e-9


@contextmanager
def banner_silenced() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null while the block runs."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


@dataclass(frozen=True)
class LinearProgram:
    """min or max cost·x subject to row_lower ≤ matrix·x ≤ row_upper, lower ≤ x ≤ upper."""

    cost: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    matrix: sp.csc_matrix
    row_lower: np.ndarray
    row_upper: np.ndarray
    maximise: bool


@dataclass(frozen=True)
class HighsResult:
    """HiGHS's model status by name, column values and row duals."""

    status: str
    values: np.ndarray
    duals: np.ndarray


def load(lp: LinearProgram, time_limit_s: float):
    """`lp` loaded into a quiet HiGHS instance with a time limit (seconds), not yet run."""
    import highspy

    model = highspy.HighsLp()
    matrix = lp.matrix
    model.num_col_, model.num_row_ = matrix.shape[1], matrix.shape[0]
    model.col_cost_ = np.asarray(lp.cost, float)
    model.col_lower_ = np.asarray(lp.lower, float)
    model.col_upper_ = np.asarray(lp.upper, float)
    model.row_lower_ = np.asarray(lp.row_lower, float)
    model.row_upper_ = np.asarray(lp.row_upper, float)
    model.sense_ = highspy.ObjSense.kMaximize if lp.maximise else highspy.ObjSense.kMinimize
    model.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    model.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    model.a_matrix_.index_ = matrix.indices.astype(np.int32)
    model.a_matrix_.value_ = matrix.data.astype(float)
    model.a_matrix_.num_col_, model.a_matrix_.num_row_ = model.num_col_, model.num_row_
    with banner_silenced():
        highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("time_limit", float(time_limit_s))
    highs.passModel(model)
    return highs


def run(highs) -> HighsResult:
    """Run (or, after a change to the model, re-run from the last basis)."""
    with banner_silenced():
        highs.run()
    solution = highs.getSolution()
    return HighsResult(
        highs.modelStatusToString(highs.getModelStatus()),
        np.array(solution.col_value),
        np.array(solution.row_dual),
    )


def solve(lp: LinearProgram, time_limit_s: float) -> HighsResult:
    """Solve `lp`. A model without columns is decided here: HiGHS calls it empty, not
    optimal."""
    if lp.matrix.shape[1] == 0:
        feasible = bool(np.all(lp.row_lower <= _TOL) and np.all(lp.row_upper >= -_TOL))
        return HighsResult(
            OPTIMAL if feasible else INFEASIBLE, np.zeros(0), np.zeros(lp.matrix.shape[0])
        )
    return run(load(lp, time_limit_s))
