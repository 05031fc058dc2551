"""The allocation model as sparse arrays for HiGHS: the matrix and sifted paths solve it, the
diagnosis solves its elastic form (see `PatrolAllocation` for the formulation)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from optimizer.allocation.frames import AllocationData
from optimizer.highs import LinearProgram

ELASTIC_WEIGHT = 100.0  # cost of an hour short on a budget or home rule, against 1 on stability
HOUR_ROWS = (("budget", 1.0), ("aid_used", -1.0), ("home", 1.0))  # rows holding a group's hours


class Rows:
    """Sparse constraint rows collected as COO triplets with their bounds."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []
        self.n = 0

    def block(self, n_rows: int, lower, upper) -> int:
        """Reserve `n_rows` rows; returns the first row's index."""
        first = self.n
        self.lower.append(np.broadcast_to(np.asarray(lower, float), (n_rows,)).copy())
        self.upper.append(np.broadcast_to(np.asarray(upper, float), (n_rows,)).copy())
        self.n += n_rows
        return first

    def add(self, rows, cols, vals) -> None:
        self.rows.append(np.asarray(rows, np.int64))
        self.cols.append(np.asarray(cols, np.int64))
        self.vals.append(np.broadcast_to(np.asarray(vals, float), np.shape(rows)).copy())

    def matrix(self, n_cols: int) -> tuple[sp.csc_matrix, np.ndarray, np.ndarray]:
        coo = sp.coo_matrix(
            (np.concatenate(self.vals), (np.concatenate(self.rows), np.concatenate(self.cols))),
            shape=(self.n, n_cols),
        )
        return coo.tocsc(), np.concatenate(self.lower), np.concatenate(self.upper)


def aid_rows(rows: Rows, data: AllocationData, aid_col0: int, hours_of_group) -> dict[str, int]:
    """budget, aid_used, aid_cap and home rows for every group. `hours_of_group(first, sign)`
    adds the group's patrol hours with `sign` to the row block starting at `first`."""
    n_groups = len(data.groups)
    budget = data.budget
    arcs = data.arcs
    arc_cols = aid_col0 + np.arange(len(arcs))
    lender, borrower = arcs["lender_group"].to_numpy(), arcs["borrower_group"].to_numpy()
    first_budget = rows.block(n_groups, -np.inf, budget)
    hours_of_group(first_budget, 1.0)
    rows.add(first_budget + lender, arc_cols, 1.0)
    rows.add(first_budget + borrower, arc_cols, -1.0)
    first_used = rows.block(n_groups, -np.inf, 0.0)
    hours_of_group(first_used, -1.0)
    rows.add(first_used + borrower, arc_cols, 1.0)
    first_cap = rows.block(n_groups, -np.inf, data.config.max_aid_share * budget)
    rows.add(first_cap + lender, arc_cols, 1.0)
    first_home = rows.block(n_groups, data.home_hours, np.inf)
    hours_of_group(first_home, 1.0)
    rows.add(first_home + borrower, arc_cols, -1.0)
    return {
        "budget": first_budget,
        "aid_used": first_used,
        "aid_cap": first_cap,
        "home": first_home,
    }


def hour_pieces(data: AllocationData) -> tuple[np.ndarray, ...]:
    """Columns of the matrix model per unit: (value, lower, upper, deviation) arrays of shape
    units × pieces. Without a previous plan the pieces are the benefit segments. With one,
    each segment is split at last month's hours p: hours below p are worth risk·slope + λ and
    reduce the deviation |x − p| by one each, hours above p are worth risk·slope − λ and add
    one — so the L1 stability terms need no extra columns or rows. Pieces fill in order
    (values fall along each cell), so the deviation row is exact at an optimum."""
    value, lower, upper = data.segment_bounds()
    if not data.has_previous:
        return value, lower, upper, np.zeros_like(value)
    lam = data.config.stability_weight
    lengths = data.segment_lengths
    starts = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
    prev = data.units["prev_hours"].to_numpy()[:, None]
    below_len = np.clip(prev - starts[None, :], 0.0, lengths[None, :])
    above_len = upper - below_len
    below_lower = np.minimum(lower, below_len)
    return (
        np.concatenate([value + lam, value - lam], axis=1),
        np.concatenate([below_lower, lower - below_lower], axis=1),
        np.concatenate([below_len, above_len], axis=1),
        np.concatenate([-np.ones_like(value), np.ones_like(value)], axis=1),
    )


@dataclass(frozen=True)
class MatrixModel:
    """The model as a HiGHS linear program, the first row of each rule's block (`budget`,
    `aid_used`, `aid_cap`, `home`, `change_cap`, and `<rule>_shortfall` columns when elastic),
    and the held piece values flattened (NaN at the free pieces)."""

    lp: LinearProgram
    offsets: dict[str, int]
    held: np.ndarray


def matrix_model(
    data: AllocationData,
    elastic: bool = False,
    fixed: np.ndarray | None = None,
    pieces: tuple[np.ndarray, ...] | None = None,
) -> MatrixModel:
    """The model as HiGHS arrays. Columns: the free hour pieces (`hour_pieces`, unit-major),
    aid, then (elastic) shortfall columns on the budget, home and change_cap rows. `fixed` (units ×
    pieces, NaN where free; None = all free) holds pieces kept at a value: they become
    constants in the row bounds; `pieces` is `hour_pieces(data)` when already at hand.
    Elastic: the objective becomes 'minimise total shortfall' — how far the hard rules are
    apart. The objective omits constants (held pieces, −λ·Σ x_prev)."""
    value, lower, upper, deviation = pieces or hour_pieces(data)
    n_units, n_pieces = value.shape
    n_groups, n_stations = len(data.groups), len(data.stations)
    fixed_flat = np.full(n_units * n_pieces, np.nan) if fixed is None else fixed.ravel()
    free = np.flatnonzero(np.isnan(fixed_flat))
    kept = np.flatnonzero(~np.isnan(fixed_flat))
    n_free, n_arcs = len(free), len(data.arcs)
    free_group = data.group[free // n_pieces]
    kept_hours = np.bincount(data.group[kept // n_pieces], fixed_flat[kept], n_groups)
    rows = Rows()

    def hours_of_group(first: int, sign: float) -> None:
        rows.add(first + free_group, np.arange(n_free), sign)

    offsets = aid_rows(rows, data, n_free, hours_of_group)
    cost = [value.ravel()[free], np.zeros(n_arcs)]
    col_lower = [lower.ravel()[free], np.zeros(n_arcs)]
    col_upper = [upper.ravel()[free], data.arcs["cap"].to_numpy()]
    n_cols = n_free + n_arcs
    if data.has_previous:
        kept_deviation = np.bincount(
            data.station_of_unit[kept // n_pieces],
            deviation.ravel()[kept] * fixed_flat[kept],
            n_stations,
        )
        # Σ|x − p| = Σ p − Σ below + Σ above ≤ allowance
        allowed = data.change_allowance - data.previous_hours - kept_deviation
        offsets["change_cap"] = rows.block(n_stations, -np.inf, allowed)
        rows.add(
            offsets["change_cap"] + data.station_of_unit[free // n_pieces],
            np.arange(n_free),
            deviation.ravel()[free],
        )
    if elastic:
        # stretching the stability cap costs least: where it alone resolves a conflict, the
        # diagnosis names it rather than a budget or home rule it would leave intact
        cost = [np.zeros(n_cols)]
        for name, count, sign, weight in [
            ("budget", n_groups, -1.0, ELASTIC_WEIGHT),
            ("home", n_groups, 1.0, ELASTIC_WEIGHT),
        ] + ([("change_cap", n_stations, -1.0, 1.0)] if data.has_previous else []):
            offsets[f"{name}_shortfall"] = n_cols
            rows.add(offsets[name] + np.arange(count), n_cols + np.arange(count), sign)
            cost.append(np.full(count, weight))
            col_lower.append(np.zeros(count))
            col_upper.append(np.full(count, np.inf))
            n_cols += count
    matrix, row_lower, row_upper = rows.matrix(n_cols)
    for name, sign in HOUR_ROWS:
        block = slice(offsets[name], offsets[name] + n_groups)
        row_lower[block] -= sign * kept_hours
        row_upper[block] -= sign * kept_hours
    lp = LinearProgram(
        np.concatenate(cost),
        np.concatenate(col_lower),
        np.concatenate(col_upper),
        matrix,
        row_lower,
        row_upper,
        maximise=not elastic,
    )
    return MatrixModel(lp, offsets, fixed_flat)
