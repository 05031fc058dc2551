"""The fast solution paths of the allocation LP: `matrix` (the whole model in one HiGHS call),
`sifted` (with a previous plan: most pieces held at last month's state, freed by pricing) and
`decomposed` (without one: station-shift value functions and a master LP over aid). Each
returns a `Solution`; one that HiGHS did not solve to optimality carries its status and no
hours, and the caller decides what that means."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer import highs
from optimizer.allocation.frames import TOL, AllocationData
from optimizer.allocation.matrix import HOUR_ROWS, Rows, aid_rows, hour_pieces, matrix_model
from optimizer.highs import INFEASIBLE_STATUSES, OPTIMAL, LinearProgram

SIFTING_ROUNDS = 20  # pricing rounds before the sifted path hands over to the whole model


@dataclass(frozen=True)
class Solution:
    """Hours per unit and aid per arc (hours), budget duals per group (harm per hour), and
    HiGHS's status; hours, aid and duals are None unless the status is optimal."""

    status: str
    hours: np.ndarray | None = None
    aid: np.ndarray | None = None
    duals: np.ndarray | None = None


def _solution(data: AllocationData, pieces: np.ndarray, aid, duals, offsets) -> Solution:
    """Solution from optimal piece values: hours, aid and the budget duals."""
    first = offsets["budget"]
    budget_duals = np.abs(duals[first : first + len(data.groups)])
    return Solution(OPTIMAL, pieces.sum(axis=1), aid, budget_duals)


def solve_matrix(data: AllocationData) -> Solution:
    """The whole model in one HiGHS call from sparse arrays."""
    model = matrix_model(data)
    result = highs.solve(model.lp, data.config.time_limit_s)
    if result.status != OPTIMAL:
        return Solution(result.status)
    n_y = model.lp.matrix.shape[1] - len(data.arcs)
    pieces = result.values[:n_y].reshape(len(data.units), -1)
    return _solution(data, pieces, result.values[n_y:], result.duals, model.offsets)


def _aid_reach(data: AllocationData) -> tuple[np.ndarray, np.ndarray]:
    """The most hours each station-shift can lend (its aid cap and home share) and borrow
    (its neighbours' caps), per group."""
    n_groups = len(data.groups)
    cfg = data.config
    arcs = data.arcs
    can_lend = np.bincount(arcs["lender_group"], arcs["cap"], n_groups)
    lend_max = np.minimum(can_lend, min(cfg.max_aid_share, 1 - cfg.min_station_share) * data.budget)
    return lend_max, np.bincount(arcs["borrower_group"], arcs["cap"], n_groups)


def fill_order(
    piece_group: np.ndarray,
    piece_value: np.ndarray,
    piece_len: np.ndarray,
    chosen: np.ndarray,
    n_groups: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The `chosen` pieces (mask) in the order a station-shift fills them — by group, marginal
    value descending, ties by piece index — and the hours of its group filled before each.
    Returns (piece indices in that order, hours before each)."""
    index = np.flatnonzero(chosen)
    index = index[np.lexsort((index, -piece_value[index], piece_group[index]))]
    g, length = piece_group[index], piece_len[index]
    cum = np.cumsum(length)
    group_start = np.zeros(n_groups)
    first = np.r_[True, g[1:] != g[:-1]] if len(g) else np.zeros(0, bool)
    group_start[g[first]] = (cum - length)[first]
    return index, cum - length - group_start[g]


def likely_settled(data: AllocationData, pieces: tuple[np.ndarray, ...]) -> np.ndarray:
    """Pieces whose value is clear before solving, kept at last month's state: units × pieces,
    NaN where the LP must decide. A piece below last month's hours stays filled when, in its
    station-shift's order of marginal value, it lies within the hours the station-shift spends
    even after lending all it can; a piece above them stays empty when it lies beyond the hours
    it could spend even after borrowing all it can. Neither adds to the hours moved.
    `pieces` is `hour_pieces(data)`."""
    value, lower, upper, deviation = pieces
    n_units, n_pieces = value.shape
    n_groups = len(data.groups)
    budget = data.budget
    lend_max, borrow_max = _aid_reach(data)
    floors = np.bincount(data.group, lower.sum(axis=1), n_groups)
    piece_group = np.repeat(data.group, n_pieces)
    piece_len = (upper - lower).ravel()
    fixed = np.where(piece_len <= TOL, lower.ravel(), np.nan)  # nothing to decide
    index, start = fill_order(piece_group, value.ravel(), piece_len, np.isnan(fixed), n_groups)
    g, end = piece_group[index], start + piece_len[index]
    deviation = deviation.ravel()[index]
    keep = index[(deviation < 0) & (end <= budget[g] - lend_max[g] - floors[g])]
    fixed[keep] = upper.ravel()[keep]
    skip = index[(deviation > 0) & (start >= budget[g] + borrow_max[g] - floors[g])]
    fixed[skip] = lower.ravel()[skip]
    return fixed.reshape(n_units, n_pieces)


def solve_sifted(data: AllocationData) -> Solution:
    """Exact solution with the stability terms by sifting: most pieces keep last month's state
    (`likely_settled`), so the LP is solved over the rest with those held; each held piece is
    then priced with the LP's duals (its value less the duals of the rows it sits in) and any
    that should move is freed — added as a column, its held hours taken out of the row bounds
    — and the LP re-solved from its last basis. When no held piece prices out, the duals prove
    the whole model optimal. A restricted model that is infeasible, or rounds that do not
    settle, hand over to the whole model; one the solver stops on returns its status."""
    pieces = hour_pieces(data)
    n_units, n_pieces = pieces[0].shape
    model = matrix_model(data, fixed=likely_settled(data, pieces), pieces=pieces)
    offsets, held = model.offsets, model.held
    if model.lp.matrix.shape[1] == 0:
        return solve_matrix(data)
    row_lower, row_upper = model.lp.row_lower.copy(), model.lp.row_upper.copy()
    solver = highs.load(model.lp, data.config.time_limit_s)
    value, lower, upper, deviation = (a.ravel() for a in pieces)
    piece_group = np.repeat(data.group, n_pieces)
    rows = [offsets[name] + piece_group for name, _ in HOUR_ROWS]
    coefficients = [np.full_like(value, sign) for _, sign in HOUR_ROWS]
    if data.has_previous:
        rows.append(offsets["change_cap"] + np.repeat(data.station_of_unit, n_pieces))
        coefficients.append(deviation)
    rows, coefficients = np.stack(rows, axis=1), np.stack(coefficients, axis=1)
    free = np.flatnonzero(np.isnan(held))  # the piece behind each piece column
    piece_cols = np.arange(len(free))
    aid_cols = len(free) + np.arange(len(data.arcs))
    n_cols = model.lp.matrix.shape[1]
    movable = upper - lower > TOL
    for _ in range(SIFTING_ROUNDS):
        result = highs.run(solver)
        if result.status in INFEASIBLE_STATUSES:
            break  # held pieces can make the restricted model impossible
        if result.status != OPTIMAL:
            return Solution(result.status)
        values, duals = result.values, result.duals
        reduced = value - (duals[rows] * coefficients).sum(axis=1)
        wrong = np.flatnonzero(
            ~np.isnan(held)
            & movable
            & (
                ((held >= upper - TOL) & (reduced < -TOL))
                | ((held <= lower + TOL) & (reduced > TOL))
            )
        )
        if not len(wrong):
            filled = held.copy()
            filled[free] = values[piece_cols]
            return _solution(
                data, filled.reshape(n_units, n_pieces), values[aid_cols], duals, offsets
            )
        n_new, width = len(wrong), rows.shape[1]
        solver.addCols(
            n_new,
            value[wrong],
            lower[wrong],
            upper[wrong],
            n_new * width,
            np.arange(0, n_new * width, width, dtype=np.int32),
            rows[wrong].ravel().astype(np.int32),
            coefficients[wrong].ravel(),
        )
        shift = np.bincount(
            rows[wrong].ravel(), (coefficients[wrong] * held[wrong, None]).ravel(), len(row_upper)
        )
        changed = np.flatnonzero(shift)
        row_lower[changed] += shift[changed]
        row_upper[changed] += shift[changed]
        solver.changeRowsBounds(
            len(changed),
            changed.astype(np.int32),
            row_lower[changed],
            row_upper[changed],
        )
        free = np.concatenate([free, wrong])
        piece_cols = np.concatenate([piece_cols, n_cols + np.arange(n_new)])
        n_cols += n_new
        held[wrong] = np.nan
    return solve_matrix(data)


def solve_decomposed(data: AllocationData) -> Solution:
    """Exact solution without stability terms by station-shift value functions and a master LP
    over aid (see `PatrolAllocation`). Pieces are the free parts of the benefit segments
    (after floors) in order of marginal value risk·slope, ties by unit order."""
    if data.has_previous:
        raise ValueError("the decomposed path has no stability terms; use the matrix path")
    value, lower, upper = data.segment_bounds()
    n_units, n_seg = value.shape
    n_groups = len(data.groups)
    budget = data.budget
    arcs = data.arcs
    cap = arcs["cap"].to_numpy()
    lend_max, borrow_max = _aid_reach(data)
    floors = np.bincount(data.group, lower.sum(axis=1), n_groups)

    # free piece of every segment, sorted within its group by marginal value (desc)
    piece_group = np.repeat(data.group, n_seg)
    piece_value = value.ravel()
    piece_len = (upper - lower).ravel()
    # zero-value pieces too: the home rule may need hours spent where they prevent nothing
    index, start = fill_order(piece_group, piece_value, piece_len, piece_len > 0, n_groups)
    g_of, v_of, len_of = piece_group[index], piece_value[index], piece_len[index]
    first_of_group = np.r_[True, g_of[1:] != g_of[:-1]] if len(g_of) else np.zeros(0, bool)

    # spent in any optimum: up to the budget minus the most it can lend (after floors)
    sure = np.maximum(budget - lend_max - floors, 0.0)
    room = np.maximum(budget + borrow_max - floors, 0.0)
    lo_in = np.clip(sure[g_of] - start, 0.0, len_of)
    master_len = np.clip(room[g_of] - start, 0.0, len_of) - lo_in
    # the piece holding the room's end enters the master whole: the budget rows then price the
    # next hour (their duals) even where every reachable hour is spent
    past = start + len_of > room[g_of] + TOL
    first_past = past & (first_of_group | ~np.r_[False, past[:-1]])
    master_len[first_past] = len_of[first_past] - lo_in[first_past]
    in_master = master_len > TOL
    m_group, m_value, m_len = g_of[in_master], v_of[in_master], master_len[in_master]
    sure_used = np.bincount(g_of, lo_in, n_groups)

    rows = Rows()
    n_pieces = len(m_group)

    def hours_of_group(first: int, sign: float) -> None:
        rows.add(first + m_group, np.arange(n_pieces), sign)

    offsets = aid_rows(rows, data, n_pieces, hours_of_group)
    matrix, row_lower, row_upper = rows.matrix(n_pieces + len(arcs))
    fixed = floors + sure_used  # hours every optimum spends at home before the master
    for name, sign in HOUR_ROWS:
        row_lower[offsets[name] : offsets[name] + n_groups] -= sign * fixed
        row_upper[offsets[name] : offsets[name] + n_groups] -= sign * fixed
    master = LinearProgram(
        np.concatenate([m_value, np.zeros(len(arcs))]),
        np.zeros(n_pieces + len(arcs)),
        np.concatenate([m_len, cap]),
        matrix,
        row_lower,
        row_upper,
        maximise=True,
    )
    result = highs.solve(master, data.config.time_limit_s)
    if result.status != OPTIMAL:
        return Solution(result.status)
    values, duals = result.values, result.duals
    spent = sure_used + np.bincount(m_group, values[:n_pieces], n_groups)
    filled = np.clip(spent[g_of] - start, 0.0, len_of)
    hours = lower.sum(axis=1) + np.bincount(index // n_seg, filled, n_units)
    first = offsets["budget"]
    return Solution(OPTIMAL, hours, values[n_pieces:], np.abs(duals[first : first + n_groups]))
