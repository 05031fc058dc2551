r"""Patrol allocation LP (SPEC §6).

For units u = (cell c, shift h) held by station s(c), station-shifts g = (s, h), benefit segments
k and aid arcs a = (lender → borrower, shift) between neighbouring stations:

    maximise   Σ_{u,k} risk_u·slope_k·y[u,k]  −  λ·Σ_u (d⁺_u + d⁻_u)
    where      x_u = Σ_k y[u,k],   0 ≤ y[u,k] ≤ (b_k − b_{k−1})·cap               (saturation)
    budget[g]:      Σ_{u∈g} x_u + Σ_{a out of g} aid_a − Σ_{a into g} aid_a ≤ B_g
    aid_cap[g]:     Σ_{a out of g} aid_a ≤ max_aid_share·B_g,  aid_a ≥ 0
    home[g]:        Σ_{u∈g} x_u − Σ_{a into g} aid_a ≥ min(min_station_share·B_g, n_g·cap)
    aid_used[g]:    Σ_{a into g} aid_a ≤ Σ_{u∈g} x_u              (aid received is patrolled)
    floor[u]:       x_u ≥ min_hours_cell                         where risk_u > 0
    stability[u]:   x_u − x_prev_u = d⁺_u − d⁻_u,  d± ≥ 0          (previous plan only)
    change_cap[s]:  Σ_{u∈s} (d⁺_u + d⁻_u) ≤ max_change_share·Σ_{u∈s} x_prev_u   (Σ x_prev > 0)

with B_g = officers_s × patrol_hours_per_officer × shift_share_h (hours per month), cap =
max_hours_cell, n_g the cells of g and b the benefit breakpoints. `home` keeps a station's own
officers at home for at least its share of the budget — as far as its cells can take hours
before saturation, so more officers alone never make a plan impossible. Slopes are non-increasing,
so segments fill in order and Σ_k slope_k·y[u,k] is the concave benefit; floors therefore become
lower bounds on the first segments. The dual of budget[g] is the harm prevented by one more
hour at g.

Four solution paths give the same optimum (tests and `scripts/bench_allocation.py` compare):

- `decomposed` (no previous plan): for a fixed number of hours a station-shift spends, its best
  use is greedy — segments by marginal value risk·slope — so its value is a concave
  piecewise-linear function of those hours. Hours up to the budget minus the most it can lend are
  spent in any optimum, so only the pieces between that and the budget plus the most it can
  borrow enter a small master LP over aid. Its solution is expanded back to cells greedily.
- `sifted` (with a previous plan): most cells keep last month's hours, so the matrix model is
  solved with those pieces held at last month's state; the held pieces are priced with its duals
  and any that should move is freed and the model solved again, until the duals prove the
  whole model optimal.
- `matrix`: the whole model built as sparse arrays and handed to HiGHS (highspy) directly.
- `monolithic`: the same model written term by term in PuLP, the readable reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
import pandas as pd
import pulp
import scipy.sparse as sp

from models.config import AllocationConfig
from models.errors import InfeasiblePlan
from optimizer.highs import banner_silenced

ALLOCATION_COLUMNS = [
    "station_id",
    "cell_id",
    "shift",
    "hours",
    "prev_hours",
    "risk",
    "lender_station_id",
]
DUAL_COLUMNS = ["station_id", "shift", "budget_hours", "used_hours", "dual"]
PATHS = ("decomposed", "sifted", "matrix", "monolithic")
_TOL = 1e-9
ELASTIC_WEIGHT = 100.0  # cost of an hour short on a budget or home rule, against 1 on stability
HOUR_ROWS = (("budget", 1.0), ("aid_used", -1.0), ("home", 1.0))  # rows holding a group's hours


@dataclass
class Allocation:
    """Solved plan: hours per cell and shift (with lender rows), duals, the rules that bind, and
    summary figures (objective and hours moved in hours / harm units; harm covered as a share)."""

    allocation: pd.DataFrame
    duals: pd.DataFrame
    binding: pd.DataFrame
    status: str
    objective: float
    harm_covered_share: float
    hours_moved: float
    path: str


@dataclass
class Problem:
    """The LP's data as arrays. `units` (cell, station, shift, risk, prev_hours, floor) are sorted
    by station, shift and cell so that each station-shift `group` is contiguous; `groups` holds
    `station_id, shift, budget_hours`; `arcs` the aid arcs `lender, borrower, shift,
    lender_group, borrower_group, cap` (hours). `has_previous`: the stability terms are on."""

    units: pd.DataFrame
    group: np.ndarray
    groups: pd.DataFrame
    arcs: pd.DataFrame
    station_of_unit: np.ndarray
    stations: list[str]
    has_previous: bool
    config: AllocationConfig

    @property
    def home_hours(self) -> np.ndarray:
        """Hours each station-shift keeps at home: min_station_share of its budget, at most
        what its cells take before saturation."""
        cfg = self.config
        capacity = np.bincount(self.group, minlength=len(self.groups)) * cfg.max_hours_cell
        budget = self.groups["budget_hours"].to_numpy()
        return np.minimum(cfg.min_station_share * budget, capacity)

    @property
    def previous_hours(self) -> np.ndarray:
        """Hours each station patrolled in last month's plan."""
        prev = self.units["prev_hours"].to_numpy()
        return np.bincount(self.station_of_unit, prev, len(self.stations))

    @property
    def change_allowance(self) -> np.ndarray:
        """Hours each station may move against last month's plan (change_cap): max_change_share
        of its previous hours; unlimited (inf) for a station without any — new, or absent from
        that plan — which has nothing to keep stable."""
        last = self.previous_hours
        return np.where(last > 0, self.config.max_change_share * last, np.inf)

    @property
    def segment_lengths(self) -> np.ndarray:
        """Hours of each benefit segment (k), summing to max_hours_cell."""
        bps = np.array([0.0, *self.config.benefit_breakpoints])
        return np.diff(bps) * self.config.max_hours_cell

    def segment_bounds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(value, lower, upper) of y[u,k] as (units × segments) arrays: value risk·slope
        (harm per hour); floors fill the first segments as lower bounds."""
        lengths = self.segment_lengths
        starts = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
        floor = self.units["floor"].to_numpy()[:, None]
        lower = np.clip(floor - starts[None, :], 0.0, lengths[None, :])
        upper = np.broadcast_to(lengths, lower.shape).copy()
        value = self.units["risk"].to_numpy()[:, None] * np.array(self.config.benefit_slopes)
        return value, lower, upper


@dataclass
class Solution:
    """Hours per unit and aid per arc (hours), budget duals per group, objective, status."""

    hours: np.ndarray
    aid: np.ndarray
    duals: np.ndarray
    objective: float
    status: str


def budgets(stations: pd.DataFrame, config: AllocationConfig) -> pd.DataFrame:
    """`station_id, shift, budget_hours` = officers × hours per officer × shift share."""
    per_officer = stations.get("patrol_hours_per_officer")
    hours = (
        per_officer.fillna(config.patrol_hours_per_officer)
        if per_officer is not None
        else config.patrol_hours_per_officer
    )
    base = stations["officers"].to_numpy(dtype=float) * np.asarray(hours, dtype=float)
    rows = [
        (s, h, b * share)
        for s, b in zip(stations["station_id"], base, strict=True)
        for h, share in config.shift_share.items()
    ]
    return pd.DataFrame(rows, columns=["station_id", "shift", "budget_hours"])


def build_problem(
    risk: pd.DataFrame,
    cells: pd.DataFrame,
    stations: pd.DataFrame,
    neighbours: pd.DataFrame,
    config: AllocationConfig,
    previous: pd.DataFrame | None = None,
    stability: bool = True,
) -> Problem:
    """Arrays of the LP for `risk` (`cell_id, shift, risk`) over jurisdiction `cells`
    (`cell_id, station_id`); `previous` (`cell_id, shift, hours`) fills `prev_hours` and, with
    `stability`, brings the stability terms."""
    shifts = config.shifts
    shift_order = {h: i for i, h in enumerate(shifts)}
    station_ids = sorted(stations["station_id"].astype(str))
    units = cells[["cell_id", "station_id"]].merge(pd.DataFrame({"shift": shifts}), how="cross")
    units = units.merge(risk[["cell_id", "shift", "risk"]], on=["cell_id", "shift"], how="left")
    units["risk"] = units["risk"].fillna(0.0).clip(lower=0.0)
    has_previous = previous is not None and len(previous) > 0
    if has_previous:
        prev = previous.groupby(["cell_id", "shift"], as_index=False)["hours"].sum()
        units = units.merge(prev.rename(columns={"hours": "prev_hours"}), how="left")
        units["prev_hours"] = units["prev_hours"].fillna(0.0)
    else:
        units["prev_hours"] = 0.0
    units["floor"] = np.where(units["risk"] > 0, config.min_hours_cell, 0.0)
    units["_h"] = units["shift"].map(shift_order)
    units = units.sort_values(["station_id", "_h", "cell_id"], ignore_index=True)

    groups = budgets(stations.assign(station_id=stations["station_id"].astype(str)), config)
    groups["_h"] = groups["shift"].map(shift_order)
    groups = groups.sort_values(["station_id", "_h"], ignore_index=True).drop(columns="_h")
    group_index = pd.Series(
        np.arange(len(groups)), index=pd.MultiIndex.from_frame(groups[["station_id", "shift"]])
    )
    group = group_index.reindex(pd.MultiIndex.from_frame(units[["station_id", "shift"]]))
    units = units.drop(columns="_h")

    pairs = neighbours[["station_id", "neighbour_id"]].astype(str).drop_duplicates()
    pairs = pairs[pairs["station_id"] != pairs["neighbour_id"]]
    pairs = pairs[pairs["station_id"].isin(station_ids) & pairs["neighbour_id"].isin(station_ids)]
    arcs = pairs.rename(columns={"station_id": "lender", "neighbour_id": "borrower"}).merge(
        pd.DataFrame({"shift": shifts}), how="cross"
    )
    arcs["lender_group"] = group_index.reindex(
        pd.MultiIndex.from_frame(arcs[["lender", "shift"]])
    ).to_numpy()
    arcs["borrower_group"] = group_index.reindex(
        pd.MultiIndex.from_frame(arcs[["borrower", "shift"]])
    ).to_numpy()
    budget = groups["budget_hours"].to_numpy()
    arcs["cap"] = config.max_aid_share * budget[arcs["lender_group"].to_numpy()]
    arcs = arcs.sort_values(["lender_group", "borrower_group"], ignore_index=True)
    station_codes = {s: i for i, s in enumerate(station_ids)}
    return Problem(
        units=units,
        group=group.to_numpy(dtype=np.int64),
        groups=groups,
        arcs=arcs,
        station_of_unit=units["station_id"].map(station_codes).to_numpy(dtype=np.int64),
        stations=station_ids,
        has_previous=has_previous and stability,
        config=config,
    )


def _highs_model(
    cost, lower, upper, matrix: sp.csc_matrix, row_lower, row_upper, maximise, time_limit
) -> highspy.Highs:
    """An LP loaded into a quiet HiGHS instance, not yet run."""
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = matrix.shape[1], matrix.shape[0]
    lp.col_cost_ = np.asarray(cost, float)
    lp.col_lower_ = np.asarray(lower, float)
    lp.col_upper_ = np.asarray(upper, float)
    lp.row_lower_ = np.asarray(row_lower, float)
    lp.row_upper_ = np.asarray(row_upper, float)
    lp.sense_ = highspy.ObjSense.kMaximize if maximise else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data.astype(float)
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = lp.num_col_, lp.num_row_
    with banner_silenced():
        highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("time_limit", float(time_limit))
    highs.passModel(lp)
    return highs


def _highs_run(highs: highspy.Highs) -> tuple[str, np.ndarray, np.ndarray, float]:
    """Run (or, after a change to the model, re-run from the last basis). Returns (status
    name, column values, row duals, objective)."""
    with banner_silenced():
        highs.run()
    status = highs.modelStatusToString(highs.getModelStatus())
    solution = highs.getSolution()
    return (
        status,
        np.array(solution.col_value),
        np.array(solution.row_dual),
        highs.getInfo().objective_function_value,
    )


def _highs_solve(
    cost, lower, upper, matrix: sp.csc_matrix, row_lower, row_upper, maximise, time_limit
):
    """Solve an LP with HiGHS. Returns (status name, column values, row duals, objective).
    A model without columns is decided here: HiGHS calls it empty, not optimal."""
    if matrix.shape[1] == 0:
        feasible = bool(
            np.all(np.asarray(row_lower) <= _TOL) and np.all(np.asarray(row_upper) >= -_TOL)
        )
        return (
            ("Optimal" if feasible else "Infeasible"),
            np.zeros(0),
            np.zeros(matrix.shape[0]),
            0.0,
        )
    return _highs_run(
        _highs_model(cost, lower, upper, matrix, row_lower, row_upper, maximise, time_limit)
    )


class _Rows:
    """Sparse constraint rows collected as COO triplets with their bounds and names."""

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


def _aid_rows(rows: _Rows, problem: Problem, aid_col0: int, hours_of_group) -> dict[str, int]:
    """budget, aid_used, aid_cap and home rows for every group. `hours_of_group(first, sign)`
    adds the group's patrol hours with `sign` to the row block starting at `first`."""
    n_groups = len(problem.groups)
    budget = problem.groups["budget_hours"].to_numpy()
    arcs = problem.arcs
    arc_cols = aid_col0 + np.arange(len(arcs))
    lender, borrower = arcs["lender_group"].to_numpy(), arcs["borrower_group"].to_numpy()
    first_budget = rows.block(n_groups, -np.inf, budget)
    hours_of_group(first_budget, 1.0)
    rows.add(first_budget + lender, arc_cols, 1.0)
    rows.add(first_budget + borrower, arc_cols, -1.0)
    first_used = rows.block(n_groups, -np.inf, 0.0)
    hours_of_group(first_used, -1.0)
    rows.add(first_used + borrower, arc_cols, 1.0)
    first_cap = rows.block(n_groups, -np.inf, problem.config.max_aid_share * budget)
    rows.add(first_cap + lender, arc_cols, 1.0)
    first_home = rows.block(n_groups, problem.home_hours, np.inf)
    hours_of_group(first_home, 1.0)
    rows.add(first_home + borrower, arc_cols, -1.0)
    return {
        "budget": first_budget,
        "aid_used": first_used,
        "aid_cap": first_cap,
        "home": first_home,
    }


def _hour_pieces(problem: Problem) -> tuple[np.ndarray, ...]:
    """Columns of the matrix model per unit: (value, lower, upper, deviation) arrays of shape
    units × pieces. Without a previous plan the pieces are the benefit segments. With one,
    each segment is split at last month's hours p: hours below p are worth risk·slope + λ and
    reduce the deviation |x − p| by one each, hours above p are worth risk·slope − λ and add
    one — so the L1 stability terms need no extra columns or rows. Pieces fill in order
    (values fall along each cell), so the deviation row is exact at an optimum."""
    value, lower, upper = problem.segment_bounds()
    if not problem.has_previous:
        return value, lower, upper, np.zeros_like(value)
    lam = problem.config.stability_weight
    lengths = problem.segment_lengths
    starts = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
    prev = problem.units["prev_hours"].to_numpy()[:, None]
    below_len = np.clip(prev - starts[None, :], 0.0, lengths[None, :])
    above_len = upper - below_len
    below_lower = np.minimum(lower, below_len)
    return (
        np.concatenate([value + lam, value - lam], axis=1),
        np.concatenate([below_lower, lower - below_lower], axis=1),
        np.concatenate([below_len, above_len], axis=1),
        np.concatenate([-np.ones_like(value), np.ones_like(value)], axis=1),
    )


def _matrix_model(
    problem: Problem,
    elastic: bool = False,
    fixed: np.ndarray | None = None,
    pieces: tuple[np.ndarray, ...] | None = None,
):
    """The model as HiGHS arrays. Columns: the free hour pieces (`_hour_pieces`, unit-major),
    aid, then (elastic) shortfall columns on the budget, home and change_cap rows. `fixed` (units ×
    pieces, NaN where free; None = all free) holds pieces kept at a value: they become
    constants in the row bounds; `pieces` is `_hour_pieces(problem)` when already at hand.
    Elastic: the objective becomes 'minimise total shortfall' — how far the hard rules are
    apart. The objective omits constants (held pieces, −λ·Σ x_prev). Returns (arrays, row
    offsets, flattened held values with NaN at the free pieces)."""
    value, lower, upper, deviation = pieces or _hour_pieces(problem)
    n_units, n_pieces = value.shape
    n_groups, n_stations = len(problem.groups), len(problem.stations)
    fixed_flat = np.full(n_units * n_pieces, np.nan) if fixed is None else fixed.ravel()
    free = np.flatnonzero(np.isnan(fixed_flat))
    kept = np.flatnonzero(~np.isnan(fixed_flat))
    n_free, n_arcs = len(free), len(problem.arcs)
    free_group = problem.group[free // n_pieces]
    kept_hours = np.bincount(problem.group[kept // n_pieces], fixed_flat[kept], n_groups)
    rows = _Rows()

    def hours_of_group(first: int, sign: float) -> None:
        rows.add(first + free_group, np.arange(n_free), sign)

    offsets = _aid_rows(rows, problem, n_free, hours_of_group)
    cost = [value.ravel()[free], np.zeros(n_arcs)]
    col_lower = [lower.ravel()[free], np.zeros(n_arcs)]
    col_upper = [upper.ravel()[free], problem.arcs["cap"].to_numpy()]
    n_cols = n_free + n_arcs
    if problem.has_previous:
        kept_deviation = np.bincount(
            problem.station_of_unit[kept // n_pieces],
            deviation.ravel()[kept] * fixed_flat[kept],
            n_stations,
        )
        # Σ|x − p| = Σ p − Σ below + Σ above ≤ allowance
        allowed = problem.change_allowance - problem.previous_hours - kept_deviation
        offsets["change_cap"] = rows.block(n_stations, -np.inf, allowed)
        rows.add(
            offsets["change_cap"] + problem.station_of_unit[free // n_pieces],
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
        ] + ([("change_cap", n_stations, -1.0, 1.0)] if problem.has_previous else []):
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
    arrays = (
        np.concatenate(cost),
        np.concatenate(col_lower),
        np.concatenate(col_upper),
        matrix,
        row_lower,
        row_upper,
    )
    return arrays, offsets, fixed_flat


def _stable_solution(problem: Problem, pieces: np.ndarray, aid, duals, offsets) -> Solution:
    """Solution from optimal piece values: hours, aid, budget duals and the objective (benefit
    less λ per hour moved)."""
    hours = pieces.sum(axis=1)
    objective = _benefit(hours, problem.units["risk"].to_numpy(), problem.config)
    if problem.has_previous:
        moved = np.abs(hours - problem.units["prev_hours"].to_numpy()).sum()
        objective -= problem.config.stability_weight * moved
    first = offsets["budget"]
    budget_duals = np.abs(duals[first : first + len(problem.groups)])
    return Solution(hours, aid, budget_duals, float(objective), "Optimal")


def solve_matrix(problem: Problem) -> Solution:
    """The whole model in one HiGHS call from sparse arrays."""
    (cost, lower, upper, matrix, rl, ru), offsets, _ = _matrix_model(problem)
    status, values, duals, _ = _highs_solve(
        cost, lower, upper, matrix, rl, ru, True, problem.config.time_limit_s
    )
    if status != "Optimal":
        raise InfeasiblePlan(diagnose(problem))
    n_y = matrix.shape[1] - len(problem.arcs)
    pieces = values[:n_y].reshape(len(problem.units), -1)
    return _stable_solution(problem, pieces, values[n_y:], duals, offsets)


SIFTING_ROUNDS = 20  # pricing rounds before the sifted path hands over to the whole model


def _aid_reach(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """The most hours each station-shift can lend (its aid cap and home share) and borrow
    (its neighbours' caps), per group."""
    n_groups = len(problem.groups)
    cfg = problem.config
    budget = problem.groups["budget_hours"].to_numpy()
    arcs = problem.arcs
    can_lend = np.bincount(arcs["lender_group"], arcs["cap"], n_groups)
    lend_max = np.minimum(can_lend, min(cfg.max_aid_share, 1 - cfg.min_station_share) * budget)
    return lend_max, np.bincount(arcs["borrower_group"], arcs["cap"], n_groups)


def _fill_order(
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


def _likely_settled(problem: Problem, pieces: tuple[np.ndarray, ...]) -> np.ndarray:
    """Pieces whose value is clear before solving, kept at last month's state: units × pieces,
    NaN where the LP must decide. A piece below last month's hours stays filled when, in its
    station-shift's order of marginal value, it lies within the hours the station-shift spends
    even after lending all it can; a piece above them stays empty when it lies beyond the hours
    it could spend even after borrowing all it can. Neither adds to the hours moved.
    `pieces` is `_hour_pieces(problem)`."""
    value, lower, upper, deviation = pieces
    n_units, n_pieces = value.shape
    n_groups = len(problem.groups)
    budget = problem.groups["budget_hours"].to_numpy()
    lend_max, borrow_max = _aid_reach(problem)
    floors = np.bincount(problem.group, lower.sum(axis=1), n_groups)
    piece_group = np.repeat(problem.group, n_pieces)
    piece_len = (upper - lower).ravel()
    fixed = np.where(piece_len <= _TOL, lower.ravel(), np.nan)  # nothing to decide
    index, start = _fill_order(piece_group, value.ravel(), piece_len, np.isnan(fixed), n_groups)
    g, end = piece_group[index], start + piece_len[index]
    deviation = deviation.ravel()[index]
    keep = index[(deviation < 0) & (end <= budget[g] - lend_max[g] - floors[g])]
    fixed[keep] = upper.ravel()[keep]
    skip = index[(deviation > 0) & (start >= budget[g] + borrow_max[g] - floors[g])]
    fixed[skip] = lower.ravel()[skip]
    return fixed.reshape(n_units, n_pieces)


def solve_sifted(problem: Problem) -> Solution:
    """Exact solution with the stability terms by sifting: most pieces keep last month's state
    (`_likely_settled`), so the LP is solved over the rest with those held; each held piece is
    then priced with the LP's duals (its value less the duals of the rows it sits in) and any
    that should move is freed — added as a column, its held hours taken out of the row bounds
    — and the LP re-solved from its last basis. When no held piece prices out, the duals prove
    the whole model optimal. A restricted model that is infeasible, or rounds that do not
    settle, hand over to the whole model."""
    pieces = _hour_pieces(problem)
    n_units, n_pieces = pieces[0].shape
    arrays, offsets, held = _matrix_model(
        problem, fixed=_likely_settled(problem, pieces), pieces=pieces
    )
    _, _, _, matrix, row_lower, row_upper = arrays
    if matrix.shape[1] == 0:
        return solve_matrix(problem)
    highs = _highs_model(*arrays, True, problem.config.time_limit_s)
    value, lower, upper, deviation = (a.ravel() for a in pieces)
    piece_group = np.repeat(problem.group, n_pieces)
    rows = [offsets[name] + piece_group for name, _ in HOUR_ROWS]
    coefficients = [np.full_like(value, sign) for _, sign in HOUR_ROWS]
    if problem.has_previous:
        rows.append(offsets["change_cap"] + np.repeat(problem.station_of_unit, n_pieces))
        coefficients.append(deviation)
    rows, coefficients = np.stack(rows, axis=1), np.stack(coefficients, axis=1)
    free = np.flatnonzero(np.isnan(held))  # the piece behind each piece column
    piece_cols = np.arange(len(free))
    aid_cols = len(free) + np.arange(len(problem.arcs))
    n_cols = matrix.shape[1]
    movable = upper - lower > _TOL
    for _ in range(SIFTING_ROUNDS):
        status, values, duals, _ = _highs_run(highs)
        if status != "Optimal":
            break
        reduced = value - (duals[rows] * coefficients).sum(axis=1)
        wrong = np.flatnonzero(
            ~np.isnan(held)
            & movable
            & (
                ((held >= upper - _TOL) & (reduced < -_TOL))
                | ((held <= lower + _TOL) & (reduced > _TOL))
            )
        )
        if not len(wrong):
            filled = held.copy()
            filled[free] = values[piece_cols]
            return _stable_solution(
                problem, filled.reshape(n_units, n_pieces), values[aid_cols], duals, offsets
            )
        n_new, width = len(wrong), rows.shape[1]
        highs.addCols(
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
        highs.changeRowsBounds(
            len(changed),
            changed.astype(np.int32),
            row_lower[changed],
            row_upper[changed],
        )
        free = np.concatenate([free, wrong])
        piece_cols = np.concatenate([piece_cols, n_cols + np.arange(n_new)])
        n_cols += n_new
        held[wrong] = np.nan
    return solve_matrix(problem)


def diagnose(problem: Problem) -> list[str]:
    """Why no plan exists, in plain words: the elastic model finds the least shortfall on the
    budget, home and stability-cap rows with every other rule kept, and each row it has to stretch
    is named with the hours needed and the hours available."""
    cfg = problem.config
    _, lower, _ = problem.segment_bounds()
    floors = np.bincount(problem.group, lower.sum(axis=1), len(problem.groups))
    lines = [
        f"cell {c} {h} shift: floor {cfg.min_hours_cell:g} h exceeds the saturation dose "
        f"max_hours_cell = {cfg.max_hours_cell:g} h"
        for c, h in problem.units.loc[
            problem.units["floor"] > cfg.max_hours_cell + _TOL, ["cell_id", "shift"]
        ].itertuples(index=False)
    ]
    if lines:
        return lines
    (cost, lo, up, matrix, rl, ru), offsets, _ = _matrix_model(problem, elastic=True)
    status, values, _, _ = _highs_solve(cost, lo, up, matrix, rl, ru, False, cfg.time_limit_s)
    if status != "Optimal":
        return [f"the allocation model could not be solved (HiGHS: {status})"]
    n_groups = len(problem.groups)
    arcs = problem.arcs
    n_y = offsets["budget_shortfall"] - len(arcs)
    aid = values[n_y : n_y + len(arcs)]
    net_aid = np.bincount(arcs["borrower_group"], aid, n_groups) - np.bincount(
        arcs["lender_group"], aid, n_groups
    )
    in_max = np.bincount(arcs["borrower_group"], arcs["cap"], n_groups)
    first = offsets["budget_shortfall"]
    budget_short = values[first : first + n_groups]
    for g in np.flatnonzero(budget_short > 1e-6):
        s, h, b = problem.groups.iloc[g][["station_id", "shift", "budget_hours"]]
        need = b + net_aid[g] + budget_short[g]
        stability = problem.has_previous and need > floors[g] + 0.5
        lines.append(
            f"station {s} {h} shift: {'floors and the stability cap' if stability else 'floors'}"
            f" need {need:.0f} h, budget is {b:.0f} h ({net_aid[g]:+.0f} h aid received, "
            f"{in_max[g]:.0f} h at most); short by {budget_short[g]:.0f} h"
        )
    first = offsets["home_shortfall"]
    home_short = values[first : first + n_groups]
    for g in np.flatnonzero(home_short > 1e-6):
        s, h = problem.groups.iloc[g][["station_id", "shift"]]
        lines.append(
            f"station {s} {h} shift: min_station_share = {cfg.min_station_share:g} keeps "
            f"{problem.home_hours[g]:.0f} h of its own officers at home; short by "
            f"{home_short[g]:.0f} h"
        )
    if problem.has_previous:
        first = offsets["change_cap_shortfall"]
        cap_short = values[first : first + len(problem.stations)]
        allowed = problem.change_allowance
        for s in np.flatnonzero(cap_short > 1e-6):
            lines.append(
                f"station {problem.stations[s]}: floors, budgets and the home rule force "
                f"{allowed[s] + cap_short[s]:.0f} h of change against last month's plan, the "
                f"stability cap (max_change_share = {cfg.max_change_share:g}) allows "
                f"{allowed[s]:.0f} h; short by {cap_short[s]:.0f} h"
            )
    return lines or ["the allocation model is infeasible, but no single rule is short"]


def solve_decomposed(problem: Problem) -> Solution:
    """Exact solution without stability terms by station-shift value functions and a master LP
    over aid (see the module docstring). Pieces are the free parts of the benefit segments
    (after floors) in order of marginal value risk·slope, ties by unit order."""
    if problem.has_previous:
        raise ValueError("the decomposed path has no stability terms; use the matrix path")
    value, lower, upper = problem.segment_bounds()
    n_units, n_seg = value.shape
    n_groups = len(problem.groups)
    budget = problem.groups["budget_hours"].to_numpy()
    arcs = problem.arcs
    cap = arcs["cap"].to_numpy()
    lend_max, borrow_max = _aid_reach(problem)
    floors = np.bincount(problem.group, lower.sum(axis=1), n_groups)

    # free piece of every segment, sorted within its group by marginal value (desc)
    piece_group = np.repeat(problem.group, n_seg)
    piece_value = value.ravel()
    piece_len = (upper - lower).ravel()
    # zero-value pieces too: the home rule may need hours spent where they prevent nothing
    index, start = _fill_order(piece_group, piece_value, piece_len, piece_len > 0, n_groups)
    g_of, v_of, len_of = piece_group[index], piece_value[index], piece_len[index]
    first_of_group = np.r_[True, g_of[1:] != g_of[:-1]] if len(g_of) else np.zeros(0, bool)

    # spent in any optimum: up to the budget minus the most it can lend (after floors)
    sure = np.maximum(budget - lend_max - floors, 0.0)
    room = np.maximum(budget + borrow_max - floors, 0.0)
    lo_in = np.clip(sure[g_of] - start, 0.0, len_of)
    master_len = np.clip(room[g_of] - start, 0.0, len_of) - lo_in
    # the piece holding the room's end enters the master whole: the budget rows then price the
    # next hour (their duals) even where every reachable hour is spent
    past = start + len_of > room[g_of] + _TOL
    first_past = past & (first_of_group | ~np.r_[False, past[:-1]])
    master_len[first_past] = len_of[first_past] - lo_in[first_past]
    in_master = master_len > _TOL
    m_group, m_value, m_len = g_of[in_master], v_of[in_master], master_len[in_master]
    sure_used = np.bincount(g_of, lo_in, n_groups)

    rows = _Rows()
    n_pieces = len(m_group)

    def hours_of_group(first: int, sign: float) -> None:
        rows.add(first + m_group, np.arange(n_pieces), sign)

    offsets = _aid_rows(rows, problem, n_pieces, hours_of_group)
    matrix, row_lower, row_upper = rows.matrix(n_pieces + len(arcs))
    fixed = floors + sure_used  # hours every optimum spends at home before the master
    for name, sign in HOUR_ROWS:
        row_lower[offsets[name] : offsets[name] + n_groups] -= sign * fixed
        row_upper[offsets[name] : offsets[name] + n_groups] -= sign * fixed
    status, values, duals, _ = _highs_solve(
        np.concatenate([m_value, np.zeros(len(arcs))]),
        np.zeros(n_pieces + len(arcs)),
        np.concatenate([m_len, cap]),
        matrix,
        row_lower,
        row_upper,
        True,
        problem.config.time_limit_s,
    )
    if status != "Optimal":
        raise InfeasiblePlan(diagnose(problem))
    spent = sure_used + np.bincount(m_group, values[:n_pieces], n_groups)
    filled = np.clip(spent[g_of] - start, 0.0, len_of)
    hours = lower.sum(axis=1) + np.bincount(index // n_seg, filled, n_units)
    first = offsets["budget"]
    objective = float(_benefit(hours, problem.units["risk"].to_numpy(), problem.config))
    return Solution(
        hours, values[n_pieces:], np.abs(duals[first : first + n_groups]), objective, status
    )


def solve_monolithic(problem: Problem) -> Solution:
    """The model written term by term in PuLP and solved by HiGHS: the readable reference the
    faster paths are checked against."""
    cfg = problem.config
    value, lower, upper = problem.segment_bounds()
    n_units, n_seg = value.shape
    model = pulp.LpProblem("patrol_allocation", pulp.LpMaximize)
    x_terms, objective = [], []
    for u in range(n_units):
        segs = [pulp.LpVariable(f"y_{u}_{k}", lower[u, k], upper[u, k]) for k in range(n_seg)]
        objective += [value[u, k] * segs[k] for k in range(n_seg)]
        x_terms.append(pulp.lpSum(segs))
    aid = [pulp.LpVariable(f"aid_{i}", 0, c) for i, c in enumerate(problem.arcs["cap"].to_numpy())]
    dev = []
    if problem.has_previous:
        prev = problem.units["prev_hours"].to_numpy()
        for u in range(n_units):
            up, down = pulp.LpVariable(f"dp_{u}", 0), pulp.LpVariable(f"dm_{u}", 0)
            model += (x_terms[u] - up + down == prev[u], f"stability_{u}")
            dev.append(up + down)
            objective.append(-cfg.stability_weight * (up + down))
    model += pulp.lpSum(objective)
    members = pd.Series(np.arange(n_units)).groupby(problem.group).apply(list)
    lender = problem.arcs["lender_group"].to_numpy()
    borrower = problem.arcs["borrower_group"].to_numpy()
    for g, b in enumerate(problem.groups["budget_hours"].to_numpy()):
        own = pulp.lpSum(x_terms[u] for u in members.get(g, []))
        out_aid = [aid[i] for i in np.flatnonzero(lender == g)]
        in_aid = [aid[i] for i in np.flatnonzero(borrower == g)]
        model += (own + pulp.lpSum(out_aid) - pulp.lpSum(in_aid) <= b, f"budget_{g}")
        if in_aid:
            model += (pulp.lpSum(in_aid) <= own, f"aid_used_{g}")
        if out_aid:
            model += (pulp.lpSum(out_aid) <= cfg.max_aid_share * b, f"aid_cap_{g}")
        model += (own - pulp.lpSum(in_aid) >= problem.home_hours[g], f"home_{g}")
    if problem.has_previous:
        by_station = pd.Series(np.arange(n_units)).groupby(problem.station_of_unit)
        allowance = problem.change_allowance
        for s, idx in by_station:
            if np.isfinite(allowance[s]):
                model += (pulp.lpSum(dev[i] for i in idx) <= allowance[s], f"change_cap_{s}")
    with banner_silenced():
        model.solve(pulp.HiGHS(msg=False, timeLimit=cfg.time_limit_s))
    status = pulp.LpStatus[model.status]
    if status != "Optimal":
        raise InfeasiblePlan(diagnose(problem))
    hours = np.array([pulp.value(t) or 0.0 for t in x_terms])
    duals = np.array(
        [abs(model.constraints[f"budget_{g}"].pi or 0.0) for g in range(len(problem.groups))]
    )
    return Solution(
        hours,
        np.array([v.value() or 0.0 for v in aid]),
        duals,
        float(pulp.value(model.objective)),
        status,
    )


SOLVERS = {
    "decomposed": solve_decomposed,
    "sifted": solve_sifted,
    "matrix": solve_matrix,
    "monolithic": solve_monolithic,
}


def allocate(
    risk: pd.DataFrame,
    cells: pd.DataFrame,
    stations: pd.DataFrame,
    neighbours: pd.DataFrame,
    config: AllocationConfig,
    previous: pd.DataFrame | None = None,
    path: str | None = None,
    stability: bool = True,
) -> Allocation:
    """Solve the LP for `risk` (`cell_id, shift, risk`) over jurisdiction `cells`.

    `previous` (`cell_id, shift, hours`) is last month's plan: hours are moved against it, and
    with `stability` it turns on the stability penalty and cap. `path` picks the solution path
    (default: `decomposed` without stability terms, else `sifted`). Raises InfeasiblePlan with
    a plain diagnosis when no plan satisfies the constraints.
    """
    problem = build_problem(risk, cells, stations, neighbours, config, previous, stability)
    path = path or ("sifted" if problem.has_previous else "decomposed")
    solution = SOLVERS[path](problem)
    units = problem.units
    units["hours"] = _round_down(np.clip(solution.hours, 0.0, config.max_hours_cell))
    risk_values = units["risk"].to_numpy()
    benefit = _benefit(units["hours"].to_numpy(), risk_values, config)
    total_risk = risk_values.sum()
    moved = np.abs(units["hours"] - units["prev_hours"]).sum()
    return Allocation(
        allocation=_with_lenders(problem, solution.aid),
        duals=_duals(problem, solution),
        binding=binding_rules(problem, solution.aid),
        status=solution.status,
        objective=float(benefit - (config.stability_weight * moved if problem.has_previous else 0)),
        harm_covered_share=float(benefit / total_risk) if total_risk > 0 else 0.0,
        hours_moved=float(moved),
        path=path,
    )


BINDING_COLUMNS = ["rule", "station_id", "shift", "value", "limit", "unit"]


def binding_rules(problem: Problem, aid: np.ndarray, tol: float = 1e-3) -> pd.DataFrame:
    """The rules the plan runs up against (SPEC §6 'binding constraints'), one row per station
    and shift (`shift` empty for the per-station stability cap) with the plan's `value` against
    the rule's `limit` in `unit`: `budget` (every hour spent), `aid_cap` (lends all it may),
    `home` (keeps no more at home than it must), `change_cap` (moves all it may) in hours;
    `saturation` and `floor` (cells at the dose cap or held at the floor) in cells. Needs
    `problem.units["hours"]` filled in."""
    cfg = problem.config
    groups, arcs, units = problem.groups, problem.arcs, problem.units
    n_groups = len(groups)
    hours = units["hours"].to_numpy()
    own = np.bincount(problem.group, hours, n_groups)
    lent = np.bincount(arcs["lender_group"], aid, n_groups)
    received = np.bincount(arcs["borrower_group"], aid, n_groups)
    budget = groups["budget_hours"].to_numpy()
    at_cap = (hours >= cfg.max_hours_cell - tol).astype(float)
    at_floor = ((units["floor"] > 0) & (hours <= units["floor"] + tol)).astype(float)
    per_group = {
        "budget": (own + lent - received, budget, own + lent - received >= budget - tol),
        "aid_cap": (lent, cfg.max_aid_share * budget, lent >= cfg.max_aid_share * budget - tol),
        "home": (own - received, problem.home_hours, own - received <= problem.home_hours + tol),
        "saturation": (np.bincount(problem.group, at_cap, n_groups), None, None),
        "floor": (np.bincount(problem.group, at_floor, n_groups), None, None),
    }
    frames = []
    for rule, (value, limit, binds) in per_group.items():
        binds = value > 0 if binds is None else binds & (limit > 0)
        frame = groups.loc[binds, ["station_id", "shift"]].assign(
            rule=rule,
            value=value[binds],
            limit=np.nan if limit is None else limit[binds],
            unit="cells" if limit is None else "hours",
        )
        frames.append(frame)
    if problem.has_previous:
        prev = units["prev_hours"].to_numpy()
        n_stations = len(problem.stations)
        moved = np.bincount(problem.station_of_unit, np.abs(hours - prev), n_stations)
        allowed = problem.change_allowance
        binds = moved >= allowed - tol
        frames.append(
            pd.DataFrame(
                {
                    "rule": "change_cap",
                    "station_id": np.array(problem.stations)[binds],
                    "shift": "",
                    "value": moved[binds],
                    "limit": allowed[binds],
                    "unit": "hours",
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)[BINDING_COLUMNS]
    return out.round({"value": 3, "limit": 3})


def _duals(problem: Problem, solution: Solution) -> pd.DataFrame:
    """`duals.csv`: budget, hours used from it (own patrols plus aid lent, less aid received)
    and the dual — harm prevented by one more hour at that station and shift."""
    n_groups = len(problem.groups)
    arcs = problem.arcs
    own = np.bincount(problem.group, problem.units["hours"].to_numpy(), n_groups)
    lent = np.bincount(arcs["lender_group"], solution.aid, n_groups)
    received = np.bincount(arcs["borrower_group"], solution.aid, n_groups)
    out = problem.groups.copy()
    out["used_hours"] = np.round(own + lent - received, 6)
    out["dual"] = np.round(solution.duals, 9)
    return out[DUAL_COLUMNS]


def _benefit(hours: np.ndarray, risk: np.ndarray, config: AllocationConfig) -> float:
    """Σ risk · benefit(hours): expected harm prevented (harm units)."""
    cap, bps = config.max_hours_cell, [0.0, *config.benefit_breakpoints]
    total = np.zeros_like(hours)
    for k, slope in enumerate(config.benefit_slopes):
        total += slope * np.clip(hours - bps[k] * cap, 0, (bps[k + 1] - bps[k]) * cap)
    return float((risk * total).sum())


def _round_down(hours) -> np.ndarray:
    """Hours to the micro-hour below (within 1e-9 h of solver noise), so sums of written
    figures never exceed a budget or cap that the solution meets."""
    return np.floor(np.asarray(hours, float) * 1e6 + 1e-3) / 1e6


def _with_lenders(problem: Problem, aid: np.ndarray) -> pd.DataFrame:
    """`allocation.csv`: each cell's hours split into the holder's own hours and lenders'
    hours, in proportion to the aid each lender sent to the holder in that shift; the cell's
    `prev_hours` on its own row (0 on lender rows)."""
    units = problem.units
    hours = units["hours"].to_numpy()
    n_groups = len(problem.groups)
    total = np.bincount(problem.group, hours, n_groups)
    arcs = problem.arcs.assign(amount=aid)
    arcs = arcs[(arcs["amount"] > _TOL) & (total[arcs["borrower_group"]] > 0)]
    arcs = arcs.assign(_a=np.arange(len(arcs)), _micro=_round_down(arcs["amount"]) * 1e6)
    share = arcs["amount"].to_numpy() / total[arcs["borrower_group"].to_numpy()]
    own = units[ALLOCATION_COLUMNS[:-1]].assign(lender_station_id="")
    lent = (
        units.assign(_g=problem.group, _u=np.arange(len(units)))
        .loc[hours > 0, [*ALLOCATION_COLUMNS[:-1], "_g", "_u"]]
        .merge(
            pd.DataFrame(
                {
                    "_g": arcs["borrower_group"],
                    "lender_station_id": arcs["lender"],
                    "_s": share,
                    "_a": arcs["_a"],
                    "_micro": arcs["_micro"],
                }
            ),
            on="_g",
        )
    )
    # each arc's aid split over the borrower's cells in whole micro-hours that add up to the
    # aid exactly (largest remainder), so no budget is overdrawn by rounding
    exact = lent["hours"].to_numpy() * 1e6 * lent.pop("_s").to_numpy()
    parts = np.floor(exact)
    lent = lent.assign(_frac=exact - parts, _parts=parts)
    lent = lent.sort_values(["_a", "_frac", "_u"], ascending=[True, False, True])
    rank = lent.groupby("_a").cumcount().to_numpy()
    short = (lent["_micro"] - lent.groupby("_a")["_parts"].transform("sum")).round().to_numpy()
    lent["hours"] = (lent["_parts"] + (rank < short)) / 1e6
    # last month's hours are the cell's, on its own row only, so they add up per cell
    lent = lent.drop(columns=["_a", "_micro", "_frac", "_parts"]).assign(prev_hours=0.0)
    lent_by_unit = np.bincount(lent["_u"], lent["hours"], len(units))
    own["hours"] = np.round(np.clip(hours - lent_by_unit, 0.0, None), 6)
    out = pd.concat([own, lent.drop(columns=["_g", "_u"])], ignore_index=True)
    order = {h: i for i, h in enumerate(problem.config.shifts)}
    out = out.assign(_o=out["shift"].map(order))
    out = out.sort_values(["station_id", "cell_id", "_o", "lender_station_id"], ignore_index=True)
    return out[ALLOCATION_COLUMNS]


def patrol_balance(
    allocation: pd.DataFrame, cells: pd.DataFrame, cases: pd.DataFrame, cell_size_m: float
) -> pd.DataFrame:
    """Over-policing guard, per station: patrol hours against area, recent cases and forecast
    harm. `cases` are the patrol-sensitive cases of the month assessed (`cell_id`). Returns
    `station_id, area_km2, cases, harm_share, hours, hours_share, hours_per_km2,
    hours_per_case`: a station whose hours share runs far ahead of its harm share is patrolled
    beyond what its risk explains."""
    station_of_cell = cells.set_index("cell_id")["station_id"]
    area = cells.groupby("station_id").size() * (cell_size_m / 1000.0) ** 2
    own = allocation[allocation["lender_station_id"] == ""]
    harm = own.groupby("station_id")["risk"].sum()
    hours = allocation.groupby("station_id")["hours"].sum()
    counts = cases["cell_id"].map(station_of_cell).value_counts()
    out = pd.DataFrame({"area_km2": area}).rename_axis("station_id")
    out["cases"] = counts.reindex(out.index, fill_value=0).astype(int)
    out["harm_share"] = harm.reindex(out.index, fill_value=0) / max(harm.sum(), _TOL)
    out["hours"] = hours.reindex(out.index, fill_value=0)
    out["hours_share"] = out["hours"] / max(out["hours"].sum(), _TOL)
    out["hours_per_km2"] = out["hours"] / out["area_km2"]
    out["hours_per_case"] = out["hours"] / out["cases"].where(out["cases"] > 0)
    return out.reset_index().round(4)
