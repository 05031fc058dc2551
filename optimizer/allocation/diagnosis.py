"""Why no plan exists, in plain words (SPEC §6: 'a plain diagnosis naming the conflicting
constraints and by how much')."""

from __future__ import annotations

import numpy as np

from models.errors import SolverFailure
from optimizer import highs
from optimizer.allocation.frames import TOL, AllocationData
from optimizer.allocation.matrix import matrix_model
from optimizer.highs import OPTIMAL


def diagnose(data: AllocationData) -> list[str]:
    """The elastic model finds the least shortfall on the budget, home and stability-cap rows
    with every other rule kept, and each row it has to stretch is named with the hours needed,
    the hours available and its constraint name (`budget[S07,night]`). Raises SolverFailure
    when HiGHS stops without solving the elastic model."""
    cfg = data.config
    _, lower, _ = data.segment_bounds()
    floors = np.bincount(data.group, lower.sum(axis=1), len(data.groups))
    lines = [
        f"cell {c} {h} shift: floor {cfg.min_hours_cell:g} h exceeds the saturation dose "
        f"max_hours_cell = {cfg.max_hours_cell:g} h"
        for c, h in data.units.loc[
            data.units["floor"] > cfg.max_hours_cell + TOL, ["cell_id", "shift"]
        ].itertuples(index=False)
    ]
    if lines:
        return lines
    model = matrix_model(data, elastic=True)
    result = highs.solve(model.lp, cfg.time_limit_s)
    if result.status != OPTIMAL:  # the elastic model always has a solution
        raise SolverFailure(result.status, "the diagnosis of an infeasible plan")
    values, offsets = result.values, model.offsets
    n_groups = len(data.groups)
    arcs = data.arcs
    n_y = offsets["budget_shortfall"] - len(arcs)
    aid = values[n_y : n_y + len(arcs)]
    received = np.bincount(arcs["borrower_group"], aid, n_groups)
    lent = np.bincount(arcs["lender_group"], aid, n_groups)
    in_max = np.bincount(arcs["borrower_group"], arcs["cap"], n_groups)
    first = offsets["budget_shortfall"]
    budget_short = values[first : first + n_groups]
    budget_names = data.group_names("budget")
    for g in np.flatnonzero(budget_short > 1e-6):
        s, h, r = data.groups.iloc[g][["station_id", "shift", "reserve_hours"]]
        b = data.budget[g]
        need = b + received[g] - lent[g] + budget_short[g]
        aid_text = f"{received[g]:.0f} h aid received, {in_max[g]:.0f} h at most" + (
            f"; {lent[g]:.0f} h lent" if lent[g] > 0.5 else ""
        )
        after = f" after a response reserve of {r:.0f} h" if r > 0 else ""
        stability = data.has_previous and need > floors[g] + 0.5
        lines.append(
            f"station {s} {h} shift: {'floors and the stability cap' if stability else 'floors'}"
            f" need {need:.0f} h, budget is {b:.0f} h{after} ({aid_text}); short by "
            f"{budget_short[g]:.0f} h ({budget_names[g]})"
        )
    first = offsets["home_shortfall"]
    home_short = values[first : first + n_groups]
    home_names = data.group_names("home")
    for g in np.flatnonzero(home_short > 1e-6):
        s, h = data.groups.iloc[g][["station_id", "shift"]]
        lines.append(
            f"station {s} {h} shift: min_station_share = {cfg.min_station_share:g} keeps "
            f"{data.home_hours[g]:.0f} h of its own officers at home; short by "
            f"{home_short[g]:.0f} h ({home_names[g]})"
        )
    if data.has_previous:
        first = offsets["change_cap_shortfall"]
        cap_short = values[first : first + len(data.stations)]
        allowed = data.change_allowance
        for s in np.flatnonzero(cap_short > 1e-6):
            station = data.stations[s]
            lines.append(
                f"station {station}: floors, budgets and the home rule force "
                f"{allowed[s] + cap_short[s]:.0f} h of change against last month's plan, the "
                f"stability cap (max_change_share = {cfg.max_change_share:g}) allows "
                f"{allowed[s]:.0f} h; short by {cap_short[s]:.0f} h (change_cap[{station}])"
            )
    return lines or ["the allocation model is infeasible, but no single rule is short"]
