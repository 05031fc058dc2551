"""The allocation LP written term by term in PuLP and solved by HiGHS: the readable reference
the faster paths are checked against. Variables and constraints are named after the rules and
the real ids, as in `PatrolAllocation`'s formulation: `y[cell,shift,k]`,
`aid[S01->S02,day]`, `budget[S07,night]`, `change_cap[S07]`, … (PuLP writes `[`, `]`, `-`,
`>` and spaces as `_` in LP files)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from optimizer.allocation.frames import AllocationData
from optimizer.allocation.paths import Solution
from optimizer.highs import OPTIMAL, banner_silenced


@dataclass(frozen=True)
class ReferenceModel:
    """The PuLP model, its hours per unit and aid per arc as expressions, and its
    constraints by readable name (`budget[S07,night]`)."""

    model: object
    hours: list
    aid: list
    constraints: dict[str, object]


def reference_model(data: AllocationData) -> ReferenceModel:
    """The model in PuLP, not yet solved."""
    import pulp

    cfg = data.config
    value, lower, upper = data.segment_bounds()
    n_units, n_seg = value.shape
    units = data.units
    unit_names = [f"{c},{h}" for c, h in zip(units["cell_id"], units["shift"], strict=True)]
    model = pulp.LpProblem("patrol_allocation", pulp.LpMaximize)
    constraints: dict[str, object] = {}

    def add(constraint, name: str) -> None:
        model.addConstraint(constraint, name)
        constraints[name] = constraint

    x_terms, objective = [], []
    for u in range(n_units):
        segs = [
            pulp.LpVariable(f"y[{unit_names[u]},{k}]", lower[u, k], upper[u, k])
            for k in range(n_seg)
        ]
        objective += [value[u, k] * segs[k] for k in range(n_seg)]
        x_terms.append(pulp.lpSum(segs))
    arcs = data.arcs
    aid = [
        pulp.LpVariable(f"aid[{a}->{b},{h}]", 0, c)
        for a, b, h, c in arcs[["lender", "borrower", "shift", "cap"]].itertuples(index=False)
    ]
    dev = []
    if data.has_previous:
        prev = units["prev_hours"].to_numpy()
        for u in range(n_units):
            up = pulp.LpVariable(f"moved_up[{unit_names[u]}]", 0)
            down = pulp.LpVariable(f"moved_down[{unit_names[u]}]", 0)
            add(x_terms[u] - up + down == prev[u], f"stability[{unit_names[u]}]")
            dev.append(up + down)
            objective.append(-cfg.stability_weight * (up + down))
    model += pulp.lpSum(objective)
    members = pd.Series(np.arange(n_units)).groupby(data.group).apply(list)
    lender = arcs["lender_group"].to_numpy()
    borrower = arcs["borrower_group"].to_numpy()
    home = data.home_hours
    budget = data.budget
    for g, (s, h) in enumerate(data.groups[["station_id", "shift"]].itertuples(index=False)):
        b = budget[g]
        own = pulp.lpSum(x_terms[u] for u in members.get(g, []))
        out_aid = [aid[i] for i in np.flatnonzero(lender == g)]
        in_aid = [aid[i] for i in np.flatnonzero(borrower == g)]
        add(own + pulp.lpSum(out_aid) - pulp.lpSum(in_aid) <= b, f"budget[{s},{h}]")
        if in_aid:
            add(pulp.lpSum(in_aid) <= own, f"aid_used[{s},{h}]")
        if out_aid:
            add(pulp.lpSum(out_aid) <= cfg.max_aid_share * b, f"aid_cap[{s},{h}]")
        add(own - pulp.lpSum(in_aid) >= home[g], f"home[{s},{h}]")
    if data.has_previous:
        by_station = pd.Series(np.arange(n_units)).groupby(data.station_of_unit)
        allowance = data.change_allowance
        for s, idx in by_station:
            if np.isfinite(allowance[s]):
                add(
                    pulp.lpSum(dev[i] for i in idx) <= allowance[s],
                    f"change_cap[{data.stations[s]}]",
                )
    return ReferenceModel(model, x_terms, aid, constraints)


def solve_monolithic(data: AllocationData) -> Solution:
    """Solve the reference model; the status is HiGHS's own name for its outcome."""
    import pulp

    ref = reference_model(data)
    with banner_silenced():
        ref.model.solve(pulp.HiGHS(msg=False, timeLimit=data.config.time_limit_s))
    solver = ref.model.solverModel
    status = solver.modelStatusToString(solver.getModelStatus())
    if status != OPTIMAL:
        return Solution(status)
    budget = [ref.constraints[name] for name in data.group_names("budget")]
    return Solution(
        OPTIMAL,
        np.array([pulp.value(t) or 0.0 for t in ref.hours]),
        np.array([v.value() or 0.0 for v in ref.aid]),
        np.array([abs(c.pi or 0.0) for c in budget]),
    )
