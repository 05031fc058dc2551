r"""Officers per station (SPEC §19): the allocation LP of §6 with each station's officers as a
whole-number variable, solved with HiGHS (highspy, the model as sparse arrays like the matrix
path), exactly by branch and bound at city size, by its LP relaxation rounded with a repair step
at province size."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from models.config import AllocationConfig, StaffingConfig
from models.errors import InfeasiblePlan, SolverFailure
from optimizer import highs
from optimizer.allocation.frames import TOL, AllocationData, budgets
from optimizer.allocation.matrix import hour_pieces, matrix_model
from optimizer.allocation.paths import fill_order
from optimizer.highs import INFEASIBLE_STATUSES, OPTIMAL, LinearProgram

STAFFING_COLUMNS = [  # staffing.csv (SPEC §19)
    "station_id",
    "officers",
    "recommended",
    "change",
    "reserve_units",
    "patrol_hours_before",
    "patrol_hours_after",
    "harm_prevented_before",
    "harm_prevented_after",
    "reason",
]
EXACT_STATIONS = 300  # up to this many stations (a city's) the MIP is solved to optimality
EXACT, ROUNDED = "exact", "rounded"  # the two methods, as plan.json names them
BOUND_COLUMNS = [
    "station_id",
    "officers",
    "per_officer_hours",  # a month's patrol hours of one officer (all shifts)
    "move",
    "reserve_officers",
    "lower",
    "upper",
    "held_by",
]


def hours_per_officer(stations: pd.DataFrame, config: AllocationConfig) -> pd.DataFrame:
    """`station_id, shift, hours`: one officer's patrol hours in the month at each station and
    shift (its `patrol_hours_per_officer`, else the config's, × the shift's share)."""
    one = stations.assign(station_id=stations["station_id"].astype(str), officers=1.0)
    return budgets(one, config).rename(columns={"budget_hours": "hours"})


def station_bounds(
    stations: pd.DataFrame,
    reserve: pd.DataFrame | None,
    allocation: AllocationConfig,
    config: StaffingConfig,
) -> pd.DataFrame:
    """Per station (`stations`: `station_id, officers`, optionally `patrol_hours_per_officer`;
    rows in station id order): today's `officers`, the most it may move (`move` =
    ⌊max_move_share · officers⌋, whole officers), the officers its response reserve (`reserve`:
    `station_id, shift, reserve_hours`, or None) needs (`reserve_officers`: the fewest n with
    n · hours per officer · shift share ≥ the reserve's hours in every shift; inf where an
    officer has no hours in a shift that holds a reserve), and the range of the recommendation:

    - `upper` = officers + move;
    - `lower` = the largest of officers − move, min(min_officers, officers) — a station is never
      cut below `min_officers`, and one already below it never loses an officer (the bound
      cannot push it up past its move) — and min(reserve_officers, upper): the reserve is met
      first, as far as the station may grow.

    A station with fewer than 1 / max_move_share officers (10 at the default) may move none: a
    tenth of its officers is less than one officer. A station with no officers stays without
    (its cells are patrolled by aid alone). `held_by` names what sets `lower` where the station
    may not lose its full `move`: "reserve", "min_officers", else "" (the move bound)."""
    per = hours_per_officer(stations, allocation)
    if reserve is not None and len(reserve):
        held = reserve[["station_id", "shift", "reserve_hours"]].astype({"station_id": str})
        per = per.merge(held, on=["station_id", "shift"], how="left")
    else:
        per["reserve_hours"] = 0.0
    wanted = per["reserve_hours"].fillna(0.0).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        needed = np.where(wanted > TOL, np.ceil(wanted / per["hours"].to_numpy() - 1e-9), 0.0)
    per["needed"] = np.nan_to_num(needed, nan=np.inf, posinf=np.inf)
    ids = sorted(stations["station_id"].astype(str))
    by_station = per.groupby("station_id").agg(hours=("hours", "sum"), needed=("needed", "max"))
    by_station = by_station.reindex(ids)
    officers = (
        stations.assign(station_id=stations["station_id"].astype(str))
        .set_index("station_id")["officers"]
        .reindex(ids)
        .to_numpy(dtype=float)
    )
    move = np.floor(config.max_move_share * officers + 1e-9)
    reserve_officers = by_station["needed"].to_numpy()
    upper = np.floor(officers + move + 1e-9)
    by_move = np.ceil(officers - move - 1e-9)
    keep = np.minimum(config.min_officers, officers)
    by_reserve = np.minimum(reserve_officers, upper)
    lower = np.ceil(np.maximum.reduce([by_move, keep, by_reserve]) - 1e-9)
    held_by = np.where(
        lower <= by_move, "", np.where(by_reserve >= lower, "reserve", "min_officers")
    )
    return pd.DataFrame(
        {
            "station_id": ids,
            "officers": officers,
            "per_officer_hours": by_station["hours"].to_numpy(),
            "move": move.astype(np.int64),
            "reserve_officers": reserve_officers,
            "lower": lower.astype(np.int64),
            "upper": upper.astype(np.int64),
            "held_by": held_by,
        }
    )[BOUND_COLUMNS]


def _station_of_group(data: AllocationData) -> np.ndarray:
    codes = {s: i for i, s in enumerate(data.stations)}
    return data.groups["station_id"].map(codes).to_numpy(dtype=np.int64)


def bureau_total(bounds: pd.DataFrame, config: StaffingConfig) -> int:
    """The officers the recommendation shares out: `staffing.total`, else today's total."""
    return int(config.total) if config.total > 0 else int(round(bounds["officers"].sum()))


def total_problems(bounds: pd.DataFrame, total: int, config: StaffingConfig) -> list[str]:
    """Why no staffing of `total` officers keeps every station within its bounds, in plain
    words with numbers that add up (empty when one does)."""
    low, high = int(bounds["lower"].sum()), int(bounds["upper"].sum())
    where = "staffing.total" if config.total > 0 else "today's total"
    if low > total:
        lines = [
            f"staffing: the stations need at least {low} officers, the total is {total} ({where})"
        ]
        for held, what in (
            ("reserve", "the response reserves need"),
            ("min_officers", f"min_officers = {config.min_officers} keeps"),
            ("", f"the move bound (max_move_share = {config.max_move_share:g}) keeps"),
        ):
            rows = bounds[bounds["held_by"] == held]
            if len(rows):
                lines.append(
                    f"{what} {int(rows['lower'].sum())} officers at {len(rows)} station(s) "
                    f"({_names(rows['station_id'])})"
                )
        return lines
    if high < total:
        return [
            f"staffing: the stations may hold at most {high} officers, the total is {total} "
            f"({where}): each gains at most max_move_share = {config.max_move_share:g} of its "
            "officers"
        ]
    return []


def shared_out(
    stations: pd.DataFrame,
    reserve: pd.DataFrame | None,
    allocation: AllocationConfig,
    config: StaffingConfig,
) -> tuple[pd.DataFrame, int]:
    """Each station's bounds (`station_bounds`) and the bureau's total; raises InfeasiblePlan
    with `total_problems` when the total cannot be shared out within them. Cheap: a command
    checks it before it forecasts and plans."""
    bounds = station_bounds(stations, reserve, allocation, config)
    total = bureau_total(bounds, config)
    problems = total_problems(bounds, total, config)
    if problems:
        raise InfeasiblePlan(problems)
    return bounds, total


def _names(ids: pd.Series, limit: int = 8) -> str:
    shown = list(ids[:limit])
    return ", ".join(shown) + (f", … ({len(ids)} in all)" if len(ids) > limit else "")


@dataclass(frozen=True)
class StaffingProgram:
    """The staffing model as a HiGHS program: the allocation LP's columns (hour pieces, aid),
    then one column per station (officers) and one per `crossing` station-shift (the binary
    that picks the home rule's arm); `constant` turns its objective into the plan's: the value
    of the pieces held out of it, less λ·Σ last month's hours with the stability terms."""

    lp: LinearProgram
    officer_cols: np.ndarray
    switch_cols: np.ndarray
    switch_station: np.ndarray  # the station of each crossing station-shift
    switch_line: np.ndarray  # its α·slope, α·offset and cap (home hours), one row each
    constant: float


def budget_lines(
    data: AllocationData, stations: pd.DataFrame, bounds: pd.DataFrame
) -> pd.DataFrame:
    """Each station-shift's patrol budget as a line in its station's officers n on [lower,
    upper]: B(n) = slope · n − offset, at most `ceiling` (hours in the month), and
    `per_officer`, the patrol hours one more officer adds.

    Today, B = min(officers' hours − reserve, units' hours) − drive (SPEC §6, §13, §16). The
    missions' drive grows with the hours patrolled, so it is held as today's share δ of them
    (the bureau's mean for the shift where a station-shift has no patrol hours today):
    B(n) = (1 − δ) · min(n · hours per officer · share − reserve, units' hours). `lower`
    meets the reserve wherever the station may move at all, so the line never runs below zero
    on the range; a station that may not move keeps today's budget (slope 0)."""
    g = data.groups
    station = _station_of_group(data)
    per = (
        hours_per_officer(stations, data.config)
        .set_index(["station_id", "shift"])["hours"]
        .reindex(pd.MultiIndex.from_frame(g[["station_id", "shift"]]))
        .to_numpy()
    )
    reserve, uh = g["reserve_hours"].to_numpy(), g["unit_hours"].to_numpy()
    hours = np.minimum(g["budget_hours"].to_numpy() - reserve, uh)
    drive = g["drive_hours"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(hours > TOL, drive / hours, np.nan)
    mean = pd.Series(share).groupby(g["shift"].to_numpy()).transform("mean").fillna(0.0)
    keep = 1.0 - np.clip(np.where(np.isnan(share), mean, share), 0.0, 1.0)
    lower, upper = bounds["lower"].to_numpy()[station], bounds["upper"].to_numpy()[station]
    fixed = lower == upper
    today = bounds["officers"].to_numpy()[station]
    at_lower = np.where(
        lower == today, data.budget, np.maximum(keep * np.minimum(lower * per - reserve, uh), 0.0)
    )
    return pd.DataFrame(
        {
            "per_officer": keep * per,  # patrol hours one more officer adds
            "slope": np.where(fixed, 0.0, keep * per),
            "offset": np.where(fixed, -at_lower, keep * reserve),
            "ceiling": np.where(fixed, np.inf, keep * uh),
            "lower": lower,
            "upper": upper,
        }
    )


def settled_pieces(
    data: AllocationData, line: pd.DataFrame, pieces: tuple[np.ndarray, ...]
) -> np.ndarray:
    """Hour pieces (`matrix.hour_pieces`, units × pieces) whose value no staffing within the
    bounds changes, at that value; NaN where the program must decide. In each station-shift's
    order of marginal value, a piece that lowers the hours moved (or every piece, without a
    previous plan) is full when it ends within the hours spent at home with the fewest
    officers after lending all it could with the most; a piece that adds to the hours moved
    (or every piece) is empty when it starts beyond the hours it could spend with the most
    officers and all it could borrow. Moving hours from a later piece of the order to an
    earlier one never loses value nor adds to the hours moved, so some optimum has them so
    (the argument of the decomposed and sifted paths, over the range of budgets)."""
    value, lower, upper, deviation = pieces
    n_groups = len(data.groups)
    slope, offset, ceiling = (line[c].to_numpy() for c in ("slope", "offset", "ceiling"))
    fewest = np.minimum(np.maximum(slope * line["lower"].to_numpy() - offset, 0.0), ceiling)
    most = np.minimum(slope * line["upper"].to_numpy() - offset, ceiling)
    lender = data.arcs["lender_group"].to_numpy()
    borrower = data.arcs["borrower_group"].to_numpy()
    lends = np.bincount(lender, minlength=n_groups) > 0
    lend_max = np.where(lends, data.config.max_aid_share * most, 0.0)
    borrow_max = np.bincount(borrower, data.config.max_aid_share * most[lender], n_groups)
    floors = np.bincount(data.group, lower.sum(axis=1), n_groups)
    piece_group = np.repeat(data.group, value.shape[1])
    piece_len = (upper - lower).ravel()
    fixed = np.where(piece_len <= TOL, lower.ravel(), np.nan)
    index, start = fill_order(piece_group, value.ravel(), piece_len, np.isnan(fixed), n_groups)
    g, end, dev = piece_group[index], start + piece_len[index], deviation.ravel()[index]
    keep = index[(dev <= 0) & (end <= fewest[g] - lend_max[g] - floors[g] + TOL)]
    fixed[keep] = upper.ravel()[keep]
    skip = index[(dev >= 0) & (start >= most[g] + borrow_max[g] - floors[g] - TOL)]
    fixed[skip] = lower.ravel()[skip]
    return fixed.reshape(value.shape)


def officer_worth(
    data: AllocationData, stations: pd.DataFrame, bounds: pd.DataFrame, duals: np.ndarray
) -> pd.Series:
    """Harm one more officer would prevent in the month at each station with today's
    officers: over its shifts, the budget's dual (`duals`, harm per hour, in group order) ×
    the patrol hours the officer adds (`budget_lines`); by station id."""
    line = budget_lines(data, stations, bounds)
    worth = np.bincount(
        _station_of_group(data), duals * line["per_officer"].to_numpy(), len(data.stations)
    )
    return pd.Series(worth, index=pd.Index(data.stations, name="station_id"))


def staffing_program(
    data: AllocationData, stations: pd.DataFrame, bounds: pd.DataFrame, total: int
) -> StaffingProgram:
    r"""The allocation LP (`matrix.matrix_model`, see `PatrolAllocation`) with officers n_s as
    variables, lower_s ≤ n_s ≤ upper_s, Σ_s n_s = `total`, and each station-shift's budget
    B_g(n) = slope_g·n_s − offset_g ≤ ceiling_g (`budget_lines`) in its rules:

    - ``budget[s,h]``: Σ x + aid out − aid in − slope·n ≤ −offset (and ≤ ceiling);
    - ``aid_cap[s,h]``: aid out − φ·slope·n ≤ −φ·offset (and ≤ φ·ceiling); each arc's own cap
      φ·B of its lender follows from it, so arcs lose their column bound;
    - ``home[s,h]``: Σ x − aid in ≥ min(α·B_g(n), C_g), C_g = min(cells · cap, α·ceiling):
      linear where α·B stays below C_g on the range, C_g where it stays above, and where it
      crosses, a binary z_g: Σ x − aid in − α·slope·n + M·z ≥ −α·offset and
      Σ x − aid in − C_g·z ≥ 0 (M = α·B_g(upper)).

    φ = `max_aid_share`, α = `min_station_share`. Every other rule and the objective are the
    LP's own. Pieces whose value no staffing changes (`settled_pieces`) are held at it: their
    hours leave the row bounds and their value the objective (`constant`), which keeps a
    province's program small."""
    cfg = data.config
    line = budget_lines(data, stations, bounds)
    pieces = hour_pieces(data)
    fixed = settled_pieces(data, line, pieces).ravel()
    model = matrix_model(data, fixed=fixed.reshape(pieces[0].shape), pieces=pieces)
    lp, offsets = model.lp, model.offsets
    n_groups, n_stations = len(data.groups), len(data.stations)
    n_arcs = len(data.arcs)
    n_x = lp.matrix.shape[1] - n_arcs
    held = np.flatnonzero(~np.isnan(fixed))
    piece_group = data.group[held // pieces[0].shape[1]]
    kept = np.bincount(piece_group, fixed[held], n_groups)  # hours of held pieces
    held_value = float(pieces[0].ravel()[held] @ fixed[held])
    station = _station_of_group(data)
    slope, offset, ceiling = (line[c].to_numpy() for c in ("slope", "offset", "ceiling"))
    alpha, phi = cfg.min_station_share, cfg.max_aid_share
    cells = np.bincount(data.group, minlength=n_groups) * cfg.max_hours_cell
    home_cap = np.minimum(cells, alpha * ceiling)
    at_low = alpha * (slope * line["lower"].to_numpy() - offset)
    at_high = alpha * (slope * line["upper"].to_numpy() - offset)
    linear = at_high <= home_cap + TOL
    flat = ~linear & (at_low >= home_cap - TOL)
    crossing = np.flatnonzero(~linear & ~flat)
    n_z = len(crossing)
    officer_cols = n_x + n_arcs + np.arange(n_stations)
    switch_cols = n_x + n_arcs + n_stations + np.arange(n_z)
    groups = np.arange(n_groups)

    row_lower, row_upper = lp.row_lower.copy(), lp.row_upper.copy()
    row_upper[offsets["budget"] + groups] = -offset - kept
    row_upper[offsets["aid_cap"] + groups] = -phi * offset
    home = offsets["home"] + groups
    row_lower[home] = np.where(linear, -alpha * offset, home_cap) - kept
    extra_r = [offsets["budget"] + groups, offsets["aid_cap"] + groups, home[linear]]
    extra_c = [officer_cols[station]] * 2 + [officer_cols[station[linear]]]
    extra_v = [-slope, -phi * slope, -alpha * slope[linear]]
    row_lower[home[crossing]] = -alpha * offset[crossing] - kept[crossing]
    extra_r += [home[crossing], home[crossing]]
    extra_c += [officer_cols[station[crossing]], switch_cols]
    extra_v += [-alpha * slope[crossing], at_high[crossing]]
    n_cols = n_x + n_arcs + n_stations + n_z
    top = sp.hstack(
        [
            lp.matrix,
            sp.coo_matrix(
                (
                    np.concatenate(extra_v),
                    (np.concatenate(extra_r), np.concatenate(extra_c) - lp.matrix.shape[1]),
                ),
                shape=(lp.matrix.shape[0], n_stations + n_z),
            ),
        ]
    )
    # copies of rows with a constant bound beside their line: the units' ceiling, the home
    # rule's second arm
    capped = np.flatnonzero(np.isfinite(ceiling))
    rows_csr = lp.matrix.tocsr()
    copies = [
        rows_csr[offsets["budget"] + capped],
        rows_csr[offsets["aid_cap"] + capped],
        rows_csr[home[crossing]],
    ]
    copy = sp.vstack(copies) if sum(c.shape[0] for c in copies) else None
    copy_lower = np.concatenate([np.full(2 * len(capped), -np.inf), -kept[crossing]])
    copy_upper = np.concatenate(
        [ceiling[capped] - kept[capped], phi * ceiling[capped], np.full(n_z, np.inf)]
    )
    blocks = [top]
    lower_parts, upper_parts = [row_lower], [row_upper]
    if copy is not None:
        switch = sp.coo_matrix(
            (-home_cap[crossing], (2 * len(capped) + np.arange(n_z), n_stations + np.arange(n_z))),
            shape=(copy.shape[0], n_stations + n_z),
        )
        blocks.append(sp.hstack([copy, switch]))
        lower_parts.append(copy_lower)
        upper_parts.append(copy_upper)
    total_row = sp.coo_matrix(
        (np.ones(n_stations), (np.zeros(n_stations), officer_cols)), shape=(1, n_cols)
    )
    blocks.append(total_row)
    lower_parts.append(np.array([float(total)]))
    upper_parts.append(np.array([float(total)]))
    col_upper = lp.upper.copy()
    col_upper[n_x:] = np.inf  # aid: capped by the aid_cap rows
    program = LinearProgram(
        np.concatenate([lp.cost, np.zeros(n_stations + n_z)]),
        np.concatenate([lp.lower, bounds["lower"].to_numpy(float), np.zeros(n_z)]),
        np.concatenate([col_upper, bounds["upper"].to_numpy(float), np.ones(n_z)]),
        sp.vstack(blocks).tocsc(),
        np.concatenate(lower_parts),
        np.concatenate(upper_parts),
        maximise=True,
    )
    moved = cfg.stability_weight * float(data.units["prev_hours"].sum())
    constant = held_value - (moved if data.has_previous else 0.0)
    switch_line = np.column_stack(
        [alpha * slope[crossing], alpha * offset[crossing], home_cap[crossing]]
    )
    return StaffingProgram(
        program, officer_cols, switch_cols, station[crossing], switch_line, constant
    )


@dataclass(frozen=True)
class Staffing:
    """A recommendation: officers per station (`recommended`, by station id), the `method`
    that found it, the plan's objective with those officers as the model holds it
    (`objective`, harm units, the drive as today's share), the best `bound` any staffing could
    reach (the MIP's dual bound; the LP relaxation's optimum for `rounded`), their relative
    `gap`, and HiGHS's `status`."""

    bounds: pd.DataFrame
    total: int
    recommended: pd.Series
    method: str
    objective: float
    bound: float
    gap: float
    status: str


def recommend(
    data: AllocationData,
    stations: pd.DataFrame,
    config: StaffingConfig,
    method: str | None = None,
) -> Staffing:
    """Officers per station for the plan `data` was built for (`stations`: `station_id,
    officers`, optionally `patrol_hours_per_officer`), by `method`: `exact` (branch and bound
    to optimality: HiGHS's MIP with no gap allowed) or `rounded` (the LP relaxation, officers
    rounded down and the total made up by the largest fractions within the bounds, then the
    allocation solved at those counts; its gap to the relaxation is stated); default `exact`
    up to EXACT_STATIONS stations. Raises InfeasiblePlan when the total cannot be shared
    within the bounds (`total_problems`) or no staffing lets the allocation keep its rules,
    SolverFailure when HiGHS stops without an answer."""
    reserve = data.groups[["station_id", "shift", "reserve_hours"]]
    bounds, total = shared_out(stations, reserve, data.config, config)
    method = method or (EXACT if len(data.stations) <= EXACT_STATIONS else ROUNDED)
    program = staffing_program(data, stations, bounds, total)
    solve = _solve_exact if method == EXACT else _solve_rounded
    officers, objective, bound, status = solve(program, data.config.time_limit_s, bounds)
    gap = (bound - objective) / max(abs(bound), TOL)
    return Staffing(
        bounds=bounds,
        total=total,
        recommended=pd.Series(officers, index=pd.Index(data.stations, name="station_id")),
        method=method,
        objective=objective,
        bound=bound,
        gap=max(gap, 0.0),
        status=status,
    )


NO_STAFFING = (
    "staffing: no staffing within the bounds lets the allocation keep its rules (floors, the "
    "home rule, the stability cap) with every station's officers"
)


def _checked(status: str, during: str) -> None:
    if status in INFEASIBLE_STATUSES:
        raise InfeasiblePlan([NO_STAFFING])
    if status != OPTIMAL:
        raise SolverFailure(status, during)


def _solve_exact(
    program: StaffingProgram, time_limit_s: float, bounds: pd.DataFrame
) -> tuple[np.ndarray, float, float, str]:
    """Branch and bound to a zero gap; the incumbent and its stated gap where the time limit
    stops it first."""
    import highspy

    solver = highs.load(program.lp, time_limit_s)
    whole = np.concatenate([program.officer_cols, program.switch_cols]).astype(np.int32)
    solver.changeColsIntegrality(
        len(whole), whole, np.full(len(whole), highspy.HighsVarType.kInteger)
    )
    solver.setOptionValue("mip_rel_gap", 0.0)
    solver.setOptionValue("mip_abs_gap", 1e-9)
    result = highs.run(solver)
    info = solver.getInfo()
    found = result.status == OPTIMAL or (
        result.status not in INFEASIBLE_STATUSES and info.primal_solution_status == 2
    )
    if not found:
        _checked(result.status, "the staffing recommendation")
    officers = np.round(result.values[program.officer_cols]).astype(np.int64)
    objective = info.objective_function_value + program.constant
    bound = info.mip_dual_bound + program.constant
    return officers, objective, max(bound, objective), result.status


def _solve_rounded(
    program: StaffingProgram, time_limit_s: float, bounds: pd.DataFrame
) -> tuple[np.ndarray, float, float, str]:
    """The LP relaxation, its officers rounded to whole officers keeping the total and the
    bounds (`round_to_total`), and the program solved again from its basis with the officers
    (and the home rule's switches) fixed there."""
    solver = highs.load(program.lp, time_limit_s)
    relaxed = highs.run(solver)
    _checked(relaxed.status, "the staffing relaxation")
    bound = float(program.lp.cost @ relaxed.values) + program.constant
    officers = round_to_total(
        relaxed.values[program.officer_cols],
        bounds["lower"].to_numpy(),
        bounds["upper"].to_numpy(),
        int(round(program.lp.row_lower[-1])),
    )
    switches = _switches(program, officers)
    cols = np.concatenate([program.officer_cols, program.switch_cols]).astype(np.int32)
    values = np.concatenate([officers, switches]).astype(float)
    solver.changeColsBounds(len(cols), cols, values, values)
    fixed = highs.run(solver)
    _checked(fixed.status, "the staffing at rounded officers")
    objective = float(program.lp.cost @ fixed.values) + program.constant
    return officers, objective, bound, fixed.status


def _switches(program: StaffingProgram, officers: np.ndarray) -> np.ndarray:
    """The home rule's arm at fixed officers: 1 where the cells' cap is the lesser."""
    home_line = (
        program.switch_line[:, 0] * officers[program.switch_station] - program.switch_line[:, 1]
    )
    return (home_line > program.switch_line[:, 2] + TOL).astype(float)


def round_to_total(
    relaxed: np.ndarray, lower: np.ndarray, upper: np.ndarray, total: int
) -> np.ndarray:
    """Whole officers from the relaxation's: each rounded down (within [lower, upper]), then
    one more to the stations with the largest fractions (ties by station order) until they
    add up to `total`, never past `upper`."""
    base = np.clip(np.floor(relaxed + 1e-6), lower, upper).astype(np.int64)
    short = total - int(base.sum())
    if short > 0:
        room = np.flatnonzero(base < upper)
        order = room[np.lexsort((room, -(relaxed[room] - base[room])))]
        base[order[:short]] += 1
    elif short < 0:
        room = np.flatnonzero(base > lower)
        order = room[np.lexsort((room, relaxed[room] - base[room]))]
        base[order[:-short]] -= 1
    return base
