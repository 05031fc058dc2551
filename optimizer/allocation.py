r"""Patrol allocation LP (SPEC §6).

For cells c, shifts h, stations s (cell c held by station s(c)) and benefit segments k:

    maximise   Σ_{c,h,k} risk[c,h]·slope_k·y[c,h,k]  −  λ·Σ_{c,h} (d⁺[c,h] + d⁻[c,h])
    where      x[c,h] = Σ_k y[c,h,k],   0 ≤ y[c,h,k] ≤ (b_k − b_{k−1})·cap           (saturation)
    budget[s,h]:     Σ_{c∈s} x[c,h] + Σ_t a[s→t,h] − Σ_t a[t→s,h] ≤ B[s,h]
    aid_cap:         0 ≤ a[s→t,h] ≤ max_aid_share·B[s,h]      for neighbours s, t only
    home_share[s,h]: Σ_t a[s→t,h] ≤ (1 − min_station_share)·B[s,h]
    aid_used[s,h]:   Σ_t a[t→s,h] ≤ Σ_{c∈s} x[c,h]              (aid received is patrolled)
    floor[c,h]:      x[c,h] ≥ min_hours_cell                    where risk[c,h] > 0
    stability[c,h]:  x[c,h] − x_prev[c,h] = d⁺ − d⁻              (previous plan only)
    change_cap[s]:   Σ_{c∈s,h} (d⁺ + d⁻) ≤ max_change_share·Σ_{c∈s,h} x_prev[c,h]

with B[s,h] = officers_s × patrol_hours_per_officer × shift_share_h (hours per month). Slopes
are non-increasing, so segments fill in order and Σ_k slope_k·y_k equals the concave benefit.
Solved by HiGHS through PuLP; the dual of budget[s,h] is the harm prevented by one more hour.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pulp

from models.config import AllocationConfig
from models.errors import InfeasiblePlan


@dataclass
class Allocation:
    """Solved plan: hours per cell and shift (with lender rows), duals, and summary figures."""

    allocation: pd.DataFrame
    duals: pd.DataFrame
    status: str
    objective: float
    harm_covered_share: float
    hours_moved: float


@contextmanager
def _solver_banner_silenced() -> Iterator[None]:
    """HiGHS prints a banner on file descriptor 1 when created, even with output off."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


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


def _diagnose(
    units: pd.DataFrame, budget: pd.DataFrame, aid_in_max: pd.Series, config: AllocationConfig
) -> list[str]:
    needs = units[units["risk"] > 0].groupby(["station_id", "shift"]).size() * config.min_hours_cell
    lines = []
    for (s, h), need in needs.items():
        have = budget.loc[(s, h)] + aid_in_max.get((s, h), 0.0)
        if need > have + 1e-6:
            lines.append(
                f"station {s} {h} shift: floors need {need:.0f} h, budget is "
                f"{budget.loc[(s, h)]:.0f} h (+{aid_in_max.get((s, h), 0.0):.0f} h aid "
                f"at most); short by {need - have:.0f} h"
            )
    return lines


def allocate(
    risk: pd.DataFrame,
    cells: pd.DataFrame,
    stations: pd.DataFrame,
    neighbours: pd.DataFrame,
    config: AllocationConfig,
    previous: pd.DataFrame | None = None,
) -> Allocation:
    """Solve the LP for `risk` (`cell_id, shift, risk`) over jurisdiction `cells`.

    `previous` (`cell_id, shift, hours`) turns on the stability penalty and cap. Raises
    InfeasiblePlan with a plain diagnosis when no plan satisfies the constraints.
    """
    shifts = config.shifts
    units = cells[["cell_id", "station_id"]].merge(pd.DataFrame({"shift": shifts}), how="cross")
    units = units.merge(risk[["cell_id", "shift", "risk"]], on=["cell_id", "shift"], how="left")
    units["risk"] = units["risk"].fillna(0.0)
    prev = None
    if previous is not None and len(previous):
        p = previous.groupby(["cell_id", "shift"])["hours"].sum()
        units["prev_hours"] = [
            p.get((c, h), 0.0) for c, h in zip(units["cell_id"], units["shift"], strict=True)
        ]
        prev = units["prev_hours"].to_numpy()
    else:
        units["prev_hours"] = 0.0
    budget = budgets(stations, config).set_index(["station_id", "shift"])["budget_hours"]
    pairs = neighbours[["station_id", "neighbour_id"]].itertuples(index=False)
    pairs = [(a, b) for a, b in pairs]
    aid_in_max = pd.Series(
        {
            (b, h): sum(config.max_aid_share * budget[(a, h)] for a, bb in pairs if bb == b)
            for b in stations["station_id"]
            for h in shifts
        },
        dtype=float,
    )
    diagnosis = _diagnose(units, budget, aid_in_max, config)
    if diagnosis:
        raise InfeasiblePlan(diagnosis)

    cap = config.max_hours_cell
    bps = [0.0, *config.benefit_breakpoints]
    model = pulp.LpProblem("patrol_allocation", pulp.LpMaximize)
    x_terms, objective = [], []
    for i, r in enumerate(units["risk"].to_numpy()):
        segs = []
        for k, slope in enumerate(config.benefit_slopes):
            y = pulp.LpVariable(f"y_{i}_{k}", 0, (bps[k + 1] - bps[k]) * cap)
            segs.append(y)
            objective.append((r * slope) * y)
        x_terms.append(pulp.lpSum(segs))
    aid = {}
    for a, b in pairs:
        for h in shifts:
            aid[(a, b, h)] = pulp.LpVariable(
                f"aid_{a}_{b}_{h}", 0, config.max_aid_share * budget[(a, h)]
            )
    dev = []
    if prev is not None:
        for i in range(len(units)):
            up, down = pulp.LpVariable(f"dp_{i}", 0), pulp.LpVariable(f"dm_{i}", 0)
            model += (x_terms[i] - up + down == prev[i], f"stability_{i}")
            dev.append(up + down)
            objective.append(-config.stability_weight * (up + down))
    model += pulp.lpSum(objective)
    by_station_shift = units.groupby(["station_id", "shift"]).indices
    for (s, h), idx in sorted(by_station_shift.items()):
        out_aid = [v for (a, _b, hh), v in aid.items() if a == s and hh == h]
        in_aid = [v for (_a, b, hh), v in aid.items() if b == s and hh == h]
        model += (
            pulp.lpSum(x_terms[i] for i in idx) + pulp.lpSum(out_aid) - pulp.lpSum(in_aid)
            <= budget[(s, h)],
            f"budget_{s}_{h}",
        )
        if in_aid:
            model += (
                pulp.lpSum(in_aid) <= pulp.lpSum(x_terms[i] for i in idx),
                f"aid_used_{s}_{h}",
            )
        if out_aid:
            model += (
                pulp.lpSum(out_aid) <= (1 - config.min_station_share) * budget[(s, h)],
                f"home_share_{s}_{h}",
            )
    if config.min_hours_cell > 0:
        for i in np.flatnonzero(units["risk"].to_numpy() > 0):
            model += (x_terms[i] >= config.min_hours_cell, f"floor_{i}")
    if prev is not None:
        for s, idx in units.groupby("station_id").indices.items():
            model += (
                pulp.lpSum(dev[i] for i in idx) <= config.max_change_share * prev[idx].sum(),
                f"change_cap_{s}",
            )
    with _solver_banner_silenced():
        model.solve(pulp.HiGHS(msg=False, timeLimit=config.time_limit_s))
    status = pulp.LpStatus[model.status]
    if status != "Optimal":
        raise InfeasiblePlan(
            [
                f"the allocation model is {status.lower()}: floors, stability cap "
                "or budgets cannot all hold; relax min_hours_cell or "
                "max_change_share"
            ]
        )
    hours = np.array([max(pulp.value(t) or 0.0, 0.0) for t in x_terms])
    units["hours"] = np.round(hours, 6)
    rows = _with_lenders(units, aid, shifts)
    used = units.groupby(["station_id", "shift"])["hours"].sum()
    duals = pd.DataFrame(
        [
            {
                "station_id": s,
                "shift": h,
                "budget_hours": budget[(s, h)],
                "used_hours": float(
                    used.get((s, h), 0.0)
                    + sum(v.value() or 0 for (a, _b, hh), v in aid.items() if a == s and hh == h)
                    - sum(v.value() or 0 for (_a, b, hh), v in aid.items() if b == s and hh == h)
                ),
                # HiGHS reports duals of a maximisation with the minimisation sign
                "dual": abs(float(model.constraints[f"budget_{s}_{h}"].pi or 0.0)),
            }
            for s, h in sorted(by_station_shift)
        ]
    )
    benefit = _benefit(units["hours"].to_numpy(), units["risk"].to_numpy(), config)
    total_risk = units["risk"].sum()
    return Allocation(
        allocation=rows,
        duals=duals,
        status=status,
        objective=float(pulp.value(model.objective)),
        harm_covered_share=float(benefit / total_risk) if total_risk > 0 else 0.0,
        hours_moved=float(np.abs(units["hours"] - units["prev_hours"]).sum())
        if prev is not None
        else 0.0,
    )


def _benefit(hours: np.ndarray, risk: np.ndarray, config: AllocationConfig) -> float:
    """Σ risk · benefit(hours): expected harm prevented (harm units)."""
    cap, bps = config.max_hours_cell, [0.0, *config.benefit_breakpoints]
    total = np.zeros_like(hours)
    for k, slope in enumerate(config.benefit_slopes):
        total += slope * np.clip(hours - bps[k] * cap, 0, (bps[k + 1] - bps[k]) * cap)
    return float((risk * total).sum())


def _with_lenders(units: pd.DataFrame, aid: dict, shifts: list[str]) -> pd.DataFrame:
    """Split each cell's hours into the holder's own hours and lenders' hours, in proportion
    to the aid each lender sent to the holder in that shift."""
    own = units.copy()
    own["lender_station_id"] = ""
    lent_rows = []
    totals = own.groupby(["station_id", "shift"])["hours"].sum()
    for (lender, borrower, h), var in sorted(aid.items()):
        amount = var.value() or 0.0
        if amount <= 1e-9 or totals.get((borrower, h), 0) <= 0:
            continue
        mask = (own["station_id"] == borrower) & (own["shift"] == h)
        share = amount / totals[(borrower, h)]
        part = own[mask & (own["hours"] > 0)].copy()
        part["hours"] = np.round(part["hours"] * share, 6)
        part["lender_station_id"] = lender
        lent_rows.append(part)
    if lent_rows:
        lent = pd.concat(lent_rows)
        taken = lent.groupby(lent.index)["hours"].sum()
        own.loc[taken.index, "hours"] = np.round(own.loc[taken.index, "hours"] - taken, 6)
    out = pd.concat([own, *lent_rows], ignore_index=True)
    cols = ["station_id", "cell_id", "shift", "hours", "prev_hours", "risk", "lender_station_id"]
    order = {h: i for i, h in enumerate(shifts)}
    out = out.assign(_o=out["shift"].map(order))
    return out.sort_values(["station_id", "cell_id", "_o", "lender_station_id"], ignore_index=True)[
        cols
    ]
