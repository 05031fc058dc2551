"""The allocation's data as arrays, built from the input frames, and the output frames built
from a solution (`allocation.csv`, `duals.csv`)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from models.config import AllocationConfig

ALLOCATION_COLUMNS = [
    "station_id",
    "cell_id",
    "shift",
    "hours",
    "prev_hours",
    "risk",
    "lender_station_id",
]
DUAL_COLUMNS = [
    "station_id",
    "shift",
    "budget_hours",  # what the LP had: the officers' hours less the reserve and the drive
    "reserve_hours",
    "drive_hours",
    "used_hours",
    "dual",
]
TOL = 1e-9


@dataclass(frozen=True)
class AllocationData:
    """The LP's data as arrays, never changed once built. `units` (cell, station, shift, risk,
    prev_hours, floor) are sorted by station, shift and cell so that each station-shift `group`
    is contiguous; `groups` holds `station_id, shift, budget_hours, reserve_hours,
    drive_hours, unit_hours, patrol_budget` (the officers' hours, the response reserve and the
    missions' drive held back from them, the listed units' officer-hours capping them (inf
    without a list) and what is left for patrol, never below zero); `arcs` the aid arcs
    `lender, borrower, shift, lender_group, borrower_group, cap` (hours). `has_previous`: the
    stability terms are on."""

    units: pd.DataFrame
    group: np.ndarray
    groups: pd.DataFrame
    arcs: pd.DataFrame
    station_of_unit: np.ndarray
    stations: list[str]
    has_previous: bool
    config: AllocationConfig
    against_previous: bool = False

    @cached_property
    def budget(self) -> np.ndarray:
        """B_g: hours each station-shift may spend on patrol (and lend)."""
        return self.groups["patrol_budget"].to_numpy()

    def reserve_warnings(self) -> list[str]:
        """A sentence for each station-shift whose response reserve exceeds its budget: it
        gets no patrol hours, and the reserve is short of the units the calls need."""
        over = self.groups[self.groups["reserve_hours"] > self.groups["budget_hours"] + TOL]
        return [
            f"station {s} {h} shift: the response reserve needs {r:.1f} h, the budget is "
            f"{b:.1f} h; no patrol hours are left and {r - b:.1f} h of the reserve are not staffed"
            for s, h, b, r in over[
                ["station_id", "shift", "budget_hours", "reserve_hours"]
            ].itertuples(index=False)
        ]

    @cached_property
    def home_hours(self) -> np.ndarray:
        """Hours each station-shift keeps at home: min_station_share of its budget, at most
        what its cells take before saturation."""
        cfg = self.config
        capacity = np.bincount(self.group, minlength=len(self.groups)) * cfg.max_hours_cell
        return np.minimum(cfg.min_station_share * self.budget, capacity)

    @cached_property
    def previous_hours(self) -> np.ndarray:
        """Hours each station patrolled in last month's plan."""
        prev = self.units["prev_hours"].to_numpy()
        return np.bincount(self.station_of_unit, prev, len(self.stations))

    @cached_property
    def change_allowance(self) -> np.ndarray:
        """Hours each station may move against last month's plan (change_cap): max_change_share
        of its previous hours, plus the hours its response reserve now holds back (up to those
        previous hours) — a change forced by the calls, not a reshuffle the cap should forbid;
        unlimited (inf) for a station without any previous hours — new, or absent from that
        plan — which has nothing to keep stable."""
        last = self.previous_hours
        held = self.groups.groupby("station_id", sort=False)["reserve_hours"].sum()
        reserve = held.reindex(self.stations, fill_value=0.0).to_numpy(dtype=float)
        allowance = self.config.max_change_share * last + np.minimum(reserve, last)
        return np.where(last > 0, allowance, np.inf)

    @cached_property
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

    def group_names(self, rule: str) -> list[str]:
        """`rule[station,shift]` for every station-shift, in group order."""
        return [
            f"{rule}[{s},{h}]"
            for s, h in zip(self.groups["station_id"], self.groups["shift"], strict=True)
        ]

    def flows(self, hours: np.ndarray, aid: np.ndarray) -> tuple[np.ndarray, ...]:
        """Per station-shift: (own cells' hours, aid lent, aid received), hours."""
        n_groups = len(self.groups)
        return (
            np.bincount(self.group, hours, n_groups),
            np.bincount(self.arcs["lender_group"], aid, n_groups),
            np.bincount(self.arcs["borrower_group"], aid, n_groups),
        )


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


def build(
    risk: pd.DataFrame,
    cells: pd.DataFrame,
    stations: pd.DataFrame,
    neighbours: pd.DataFrame,
    config: AllocationConfig,
    previous: pd.DataFrame | None = None,
    stability: bool = True,
    reserve: pd.DataFrame | None = None,
    drive: pd.DataFrame | None = None,
) -> AllocationData:
    """Arrays of the LP for `risk` (`cell_id, shift, risk`) over jurisdiction `cells`
    (`cell_id, station_id`); `previous` (`cell_id, shift, hours`) fills `prev_hours` and, with
    `stability`, brings the stability terms; `reserve` (`station_id, shift, reserve_hours`)
    holds hours back from the budgets (0 where it has no row), as does `drive` (`station_id,
    shift, drive_hours, unit_hours`: the missions' drive, and the listed units' officer-hours
    as a ceiling where not NaN)."""
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
        # read at the written resolution (0.1 h), so a cell kept as it was is written as it was
        units["prev_hours"] = np.round(units["prev_hours"].fillna(0.0), 1)
    else:
        units["prev_hours"] = 0.0
    units["floor"] = np.where(units["risk"] > 0, config.min_hours_cell, 0.0)
    units["_h"] = units["shift"].map(shift_order)
    units = units.sort_values(["station_id", "_h", "cell_id"], ignore_index=True)

    groups = budgets(stations.assign(station_id=stations["station_id"].astype(str)), config)
    groups["_h"] = groups["shift"].map(shift_order)
    groups = groups.sort_values(["station_id", "_h"], ignore_index=True).drop(columns="_h")
    groups["reserve_hours"] = _hours_of(groups, reserve, "reserve_hours", "response reserve")
    groups["drive_hours"] = _hours_of(groups, drive, "drive_hours", "mission drive")
    groups["unit_hours"] = _hours_of(groups, drive, "unit_hours", "units' hours", missing=np.inf)
    officers = np.minimum(groups["budget_hours"] - groups["reserve_hours"], groups["unit_hours"])
    groups["patrol_budget"] = np.maximum(officers - groups["drive_hours"], 0.0)
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
    budget = groups["patrol_budget"].to_numpy()
    arcs["cap"] = config.max_aid_share * budget[arcs["lender_group"].to_numpy()]
    arcs = arcs.sort_values(["lender_group", "borrower_group"], ignore_index=True)
    station_codes = {s: i for i, s in enumerate(station_ids)}
    return AllocationData(
        units=units,
        group=group.to_numpy(dtype=np.int64),
        groups=groups,
        arcs=arcs,
        station_of_unit=units["station_id"].map(station_codes).to_numpy(dtype=np.int64),
        stations=station_ids,
        has_previous=has_previous and stability,
        config=config,
        against_previous=has_previous,
    )


def _hours_of(
    groups: pd.DataFrame,
    frame: pd.DataFrame | None,
    column: str,
    what: str,
    missing: float = 0.0,
) -> np.ndarray:
    """Hours per group from `frame` (`station_id, shift, <column>`), `missing` where it has no
    row (or NaN). A row for a station or shift the model does not plan, a repeated one or a
    negative number of hours is a caller's error (ValueError naming it)."""
    if frame is None or not len(frame):
        return np.full(len(groups), missing)
    rows = frame[["station_id", "shift", column]].astype({"station_id": str})
    key = pd.MultiIndex.from_frame(rows[["station_id", "shift"]])
    known = pd.MultiIndex.from_frame(groups[["station_id", "shift"]])
    hours = pd.to_numeric(rows[column], errors="coerce").fillna(missing)
    for bad, problem in (
        (~key.isin(known), "a station or shift the plan does not cover"),
        (key.duplicated(), "a station and shift given twice"),
        (~(hours >= 0), f"{column} must be a number of hours ≥ 0"),
    ):
        if bad.any():
            s, h = rows.loc[np.asarray(bad), ["station_id", "shift"]].iloc[0]
            raise ValueError(f"{what} for station {s} {h} shift: {problem}")
    return pd.Series(hours.to_numpy(), index=key).reindex(known, fill_value=missing).to_numpy()


def unit_benefit(hours: np.ndarray, risk: np.ndarray, config: AllocationConfig) -> np.ndarray:
    """risk · benefit(hours) per cell and shift: expected harm prevented (harm units)."""
    cap, bps = config.max_hours_cell, [0.0, *config.benefit_breakpoints]
    total = np.zeros_like(hours, dtype=float)
    for k, slope in enumerate(config.benefit_slopes):
        total += slope * np.clip(hours - bps[k] * cap, 0, (bps[k + 1] - bps[k]) * cap)
    return risk * total


def benefit(hours: np.ndarray, risk: np.ndarray, config: AllocationConfig) -> float:
    """Σ risk · benefit(hours): expected harm prevented (harm units)."""
    return float(unit_benefit(hours, risk, config).sum())


TENTH_EPS = 1e-6  # tenths of an hour within this of a whole tenth are that tenth (solver noise)


@dataclass(frozen=True)
class Written:
    """The plan at the written resolution, in whole tenths of an hour: per unit its hours
    (`unit`), per arc the aid sent (`arc`), and the lender rows as (unit, arc, tenths)."""

    unit: np.ndarray
    arc: np.ndarray
    lent_unit: np.ndarray
    lent_arc: np.ndarray
    lent: np.ndarray

    def hours(self) -> np.ndarray:
        return self.unit / 10.0

    def aid(self) -> np.ndarray:
        return self.arc / 10.0


def written(data: AllocationData, hours: np.ndarray, aid: np.ndarray) -> Written:
    """The LP's hours (per unit) and aid (per arc) rounded to 0.1 h without breaking a rule
    the LP meets, where the rule's limit is itself a whole tenth (budgets, caps and floors
    from whole officers and the default shares are):

    - aid per arc and hours used per station-shift (own cells plus aid lent, less aid
      received) are rounded down — budgets and aid caps hold; hours not lent because of that
      rounding stay at home, so the home rule holds too;
    - each cell's hours are its LP hours rounded down or up by one tenth so that the cells of
      a station-shift add up to its rounded hours (largest remainder), never below the floor
      nor above the saturation dose, preferring the direction towards last month's hours so
      that rounding adds as little as it can to the hours moved: the stability cap holds to
      within 0.1 h per shift where the rounded sums leave no cell to round towards last
      month's hours (the cap is then off by less than one written tenth);
    - aid received is laid on the borrower's cells busiest first: each lender patrols whole
      cells where it can, instead of a sliver of every cell."""
    cfg = data.config
    n_groups = len(data.groups)
    lender = data.arcs["lender_group"].to_numpy()
    borrower = data.arcs["borrower_group"].to_numpy()
    arc = np.maximum(np.floor(aid * 10 + TENTH_EPS), 0).astype(np.int64)
    own, lent, received = data.flows(hours, aid)
    used = np.floor((own - received + lent) * 10 + TENTH_EPS).astype(np.int64)
    received_t = np.bincount(borrower, arc, n_groups).astype(np.int64)
    target = used - np.bincount(lender, arc, n_groups).astype(np.int64) + received_t
    floor = data.units["floor"].to_numpy()
    lo = np.where(floor > 0, np.ceil(floor * 10 - TENTH_EPS), 0).astype(np.int64)
    hi = np.int64(np.floor(cfg.max_hours_cell * 10 + TENTH_EPS))
    exact = hours * 10
    base = np.clip(np.floor(exact + TENTH_EPS).astype(np.int64), lo, hi)
    prev = np.round(data.units["prev_hours"].to_numpy() * 10).astype(np.int64)
    need = target - np.bincount(data.group, base, n_groups).astype(np.int64)
    remainder = exact - base
    up = (need[data.group] > 0) & (base < hi)
    down = (need[data.group] < 0) & (base > lo)
    unit = base.copy()
    # cells at the floor (going up) or the saturation dose (going down) move last, so the
    # rules that bind in the LP still bind in the written plan
    for mask, step, towards, order, held in (
        (up, 1, prev > base, -remainder, (base == lo) & (lo > 0)),
        (down, -1, prev < base, remainder, base == hi),
    ):
        index = np.flatnonzero(mask)
        keys = (index, order[index], ~towards[index], held[index], data.group[index])
        index = index[np.lexsort(keys)]
        g = data.group[index]
        first = np.r_[True, g[1:] != g[:-1]] if len(g) else np.zeros(0, bool)
        start = np.maximum.accumulate(np.where(first, np.arange(len(g)), 0))
        chosen = index[np.arange(len(g)) - start < np.abs(need[g])]
        unit[chosen] += step
    lent_unit, lent_arc, lent = _lay_aid(data, unit, arc)
    # aid as laid on cells (short of the rounded aid only where a borrower's cells are)
    laid = np.bincount(lent_arc, lent, len(arc)).astype(np.int64)
    return Written(unit, laid, lent_unit, lent_arc, lent)


def _lay_aid(data: AllocationData, unit: np.ndarray, arc: np.ndarray) -> tuple[np.ndarray, ...]:
    """Aid received (tenths per arc) laid on each borrower's cells, busiest cells first (ties
    by unit order), arcs in their order: (unit, arc, tenths) of every lender row."""
    n_groups = len(data.groups)
    borrower = data.arcs["borrower_group"].to_numpy()
    received = np.bincount(borrower, arc, n_groups).astype(np.int64)
    cells = np.flatnonzero((unit > 0) & (received[data.group] > 0))
    cells = cells[np.lexsort((cells, -unit[cells], data.group[cells]))]
    g = data.group[cells]
    before = np.cumsum(unit[cells]) - unit[cells]
    group_start = np.zeros(n_groups, np.int64)
    first = np.r_[True, g[1:] != g[:-1]] if len(g) else np.zeros(0, bool)
    group_start[g[first]] = before[first]
    before -= group_start[g]
    cell_part = np.clip(received[g] - before, 0, unit[cells])
    laid = np.bincount(g, cell_part, n_groups).astype(np.int64)  # ≤ received
    arcs = np.flatnonzero(arc > 0)
    arcs = arcs[np.lexsort((arcs, borrower[arcs]))]
    b = borrower[arcs]
    arc_before = np.cumsum(arc[arcs]) - arc[arcs]
    arc_start = np.zeros(n_groups, np.int64)
    first = np.r_[True, b[1:] != b[:-1]] if len(b) else np.zeros(0, bool)
    arc_start[b[first]] = arc_before[first]
    arc_part = np.clip(laid[b] - (arc_before - arc_start[b]), 0, arc[arcs])
    # both sequences run group by group, one entry per tenth: pair them position by position
    units_line = np.repeat(cells, cell_part)
    arcs_line = np.repeat(arcs, arc_part)
    pairs, tenths = np.unique(units_line * len(arc) + arcs_line, return_counts=True)
    return pairs // len(arc), pairs % len(arc), tenths


def significant(values, digits: int = 4) -> np.ndarray:
    """`values` to `digits` significant digits (0 stays 0)."""
    values = np.asarray(values, float)
    magnitude = np.floor(np.log10(np.abs(np.where(values == 0, 1.0, values))))
    scale = 10.0 ** (digits - 1 - magnitude)
    return np.round(values * scale) / scale


def duals_frame(data: AllocationData, plan: Written, duals) -> pd.DataFrame:
    """`duals.csv`: the officers' budget, the response reserve held back from it, hours used
    (own patrols plus aid lent, less aid received; 0.1 h) and the dual — harm prevented by
    one more hour at that station and shift, to 4 significant digits."""
    own, lent, received = data.flows(plan.hours(), plan.aid())
    out = data.groups.copy()
    out["budget_hours"] = out["patrol_budget"].round(1)
    out["reserve_hours"] = out["reserve_hours"].round(1)
    out["drive_hours"] = out["drive_hours"].round(1)
    out["used_hours"] = np.round(own + lent - received, 1)
    out["dual"] = significant(duals)
    return out[DUAL_COLUMNS]


def allocation_frame(data: AllocationData, plan: Written) -> pd.DataFrame:
    """`allocation.csv` in 0.1 h: each cell's hours split into the holder's own hours and the
    lenders' hours (see `written`); the cell's `prev_hours` on its own row (0 on lender
    rows)."""
    units = data.units
    lent_by_unit = np.bincount(plan.lent_unit, plan.lent, len(units))
    keys = ["station_id", "cell_id", "shift", "risk"]
    own = units[keys].assign(
        hours=(plan.unit - lent_by_unit) / 10.0,
        prev_hours=units["prev_hours"].round(1),
        lender_station_id="",
    )
    lent = units.iloc[plan.lent_unit][keys].assign(
        hours=plan.lent / 10.0,
        prev_hours=0.0,
        lender_station_id=data.arcs["lender"].to_numpy()[plan.lent_arc],
    )
    out = pd.concat([own, lent], ignore_index=True)
    order = {h: i for i, h in enumerate(data.config.shifts)}
    out = out.assign(_o=out["shift"].map(order))
    out = out.sort_values(["station_id", "cell_id", "_o", "lender_station_id"], ignore_index=True)
    return out[ALLOCATION_COLUMNS]
