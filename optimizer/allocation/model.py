r"""The patrol allocation model (SPEC §6) as a class: built from frames, solved by one of four
exact paths, results as trailing-underscore attributes."""

from __future__ import annotations

import numpy as np
import pandas as pd

import optimizer.allocation.frames as frames
from models.config import AllocationConfig
from models.errors import InfeasiblePlan, SolverFailure
from models.experiment import assign_experiment
from optimizer.allocation.binding import binding_rules
from optimizer.allocation.diagnosis import diagnose
from optimizer.allocation.paths import solve_decomposed, solve_matrix, solve_sifted
from optimizer.allocation.reference import solve_monolithic
from optimizer.highs import INFEASIBLE_STATUSES, OPTIMAL

SOLVERS = {
    "decomposed": solve_decomposed,
    "sifted": solve_sifted,
    "matrix": solve_matrix,
    "monolithic": solve_monolithic,
}
PATHS = tuple(SOLVERS)


class PatrolAllocation:
    r"""Patrol hours per cell and shift for the month planned.

    Symbols: units u = (cell c, shift h) held by station s(u); station-shifts g = (s, h) with
    n_g cells; benefit segments k with breakpoints b_k (fractions of the saturation dose,
    b_0 = 0, last = 1) and slopes σ_k (share of risk prevented per hour, non-increasing);
    aid arcs a = (lender → borrower, h) between neighbouring stations. Data: risk_u (expected
    harm-weighted incidents in the month), x_prev_u (last month's hours), cap =
    `max_hours_cell`, f = `min_hours_cell`, λ = `stability_weight` (harm per hour moved),
    B_g = officers_s × `patrol_hours_per_officer` × `shift_share`_h less the response reserve
    of (s, h), at least 0 (hours in the month).
    Variables: y[u,k] (hours of u in segment k), x_u = Σ_k y[u,k], aid_a, d⁺_u, d⁻_u (hours).

    .. math::

        \max \; \sum_{u,k} risk_u\,σ_k\,y_{uk} \;-\; λ \sum_u (d^+_u + d^-_u)

    subject to, with constraint names as in the PuLP reference model and the diagnosis:

    - saturation ``y[c,h,k]``: 0 ≤ y_{uk} ≤ (b_k − b_{k−1})·cap
    - ``budget[s,h]``: Σ_{u∈g} x_u + Σ_{a out of g} aid_a − Σ_{a into g} aid_a ≤ B_g
    - ``aid_cap[s,h]``: Σ_{a out of g} aid_a ≤ `max_aid_share`·B_g, aid_a ≥ 0
      (variables ``aid[S01->S02,h]``: neighbours only)
    - ``home[s,h]``: Σ_{u∈g} x_u − Σ_{a into g} aid_a ≥ min(`min_station_share`·B_g, n_g·cap)
    - ``aid_used[s,h]``: Σ_{a into g} aid_a ≤ Σ_{u∈g} x_u (aid received is patrolled)
    - floor: x_u ≥ f where risk_u > 0 (lower bounds on the first segments)
    - ``stability[c,h]``: x_u − x_prev_u = d⁺_u − d⁻_u, d± ≥ 0 (previous plan only)
    - ``change_cap[s]``: Σ_{u∈s} (d⁺_u + d⁻_u) ≤ `max_change_share`·Σ_{u∈s} x_prev_u
      (stations with Σ x_prev > 0)

    `home` keeps a station's own officers at home for at least its share of the budget — as
    far as its cells can take hours before saturation, so more officers alone never make a
    plan impossible. Slopes are non-increasing, so segments fill in order and Σ_k σ_k·y[u,k]
    is the concave benefit. The dual of budget[s,h] is the harm prevented by one more hour at
    that station and shift.

    Four solution paths reach the same optimum (tests and `scripts/bench_allocation.py`
    compare them):

    - ``decomposed`` (no stability terms): for a fixed number of hours a station-shift spends,
      its best use is greedy — segments by marginal value risk·σ — so its value is a concave
      piecewise-linear function of those hours. Hours up to the budget minus the most it can
      lend are spent in any optimum, so only the pieces between that and the budget plus the
      most it can borrow enter a small master LP over aid; its solution is expanded back to
      cells greedily.
    - ``sifted`` (stability terms): most cells keep last month's hours, so the matrix model is
      solved with those pieces held at last month's state; the held pieces are priced with
      its duals and any that should move is freed and the model solved again, until the duals
      prove the whole model optimal.
    - ``matrix``: the whole model as sparse arrays handed to HiGHS (highspy) directly; the L1
      stability terms become pieces split at x_prev (no d± columns).
    - ``monolithic``: the model written term by term in PuLP, the readable reference.

    Hours are written in tenths of an hour (`frames.written` says how the rounding keeps
    every rule). Build with `from_frames`, then `solve(path)`; it returns the model with
    `allocation_` (`allocation.csv`), `duals_` (`duals.csv`), `binding_` (`binding.csv`),
    `objective_` (the LP objective, harm units), `harm_covered_share_`, `hours_moved_` (hours
    against last month's plan; None without one), `status_`, `path_` and `warnings_`
    (sentences a planner should read, e.g. a response reserve beyond a budget). The built
    data are never changed by a solve.
    """

    def __init__(self, data: frames.AllocationData):
        self.data = data

    @classmethod
    def from_frames(
        cls,
        risk: pd.DataFrame,
        cells: pd.DataFrame,
        stations: pd.DataFrame,
        neighbours: pd.DataFrame,
        config: AllocationConfig,
        previous: pd.DataFrame | None = None,
        *,
        stability: bool = True,
        reserve: pd.DataFrame | None = None,
        drive: pd.DataFrame | None = None,
    ) -> PatrolAllocation:
        """The model for `risk` (`cell_id, shift, risk`) over jurisdiction `cells`
        (`cell_id, station_id`), `stations` (`station_id, officers` and optionally
        `patrol_hours_per_officer`) and `neighbours` (`station_id, neighbour_id`).
        `previous` (`cell_id, shift, hours`) is last month's plan: hours moved are counted
        against it and, with `stability`, it brings the stability penalty and cap.

        `reserve` (`station_id, shift, reserve_hours`; other columns ignored) is the response
        reserve (SPEC §13): hours held back from each station-shift's budget before the LP,
        so B_g = max(budget − reserve, 0). A reserve beyond the budget leaves that
        station-shift no patrol hours and is named in `warnings_`; the plan is still made
        (its floors, if any, must then come from aid, or the diagnosis names them).

        `drive` (`station_id, shift, drive_hours, unit_hours`) is what the missions need
        (SPEC §16): the drive held back too, and the listed units' officer-hours (NaN = no
        list) as a ceiling, so B_g = max(min(budget − reserve, unit hours) − drive, 0)."""
        data = frames.build(
            risk, cells, stations, neighbours, config, previous, stability, reserve, drive
        )
        return cls(data)

    @property
    def default_path(self) -> str:
        """`sifted` with the stability terms, else `decomposed`."""
        return "sifted" if self.data.has_previous else "decomposed"

    def solve(self, path: str | None = None) -> PatrolAllocation:
        """Solve by `path` (one of PATHS; default `default_path`) and set the results.
        Raises InfeasiblePlan with a plain diagnosis when no plan satisfies the rules, and
        SolverFailure with HiGHS's status when the solver stops without an answer (a time
        limit, a numerical failure): that proves nothing about the plan."""
        data = self.data
        path = path or self.default_path
        solution = SOLVERS[path](data)
        if solution.status in INFEASIBLE_STATUSES:
            raise InfeasiblePlan(diagnose(data))
        if solution.status != OPTIMAL:
            raise SolverFailure(solution.status)
        cfg = data.config
        risk = data.units["risk"].to_numpy()
        prev = data.units["prev_hours"].to_numpy()
        self.path_ = path  # set with the results, never on a model that failed
        self.status_ = solution.status
        self.warnings_ = data.reserve_warnings()
        self.objective_ = frames.benefit(solution.hours, risk, cfg) - (
            cfg.stability_weight * np.abs(solution.hours - prev).sum() if data.has_previous else 0.0
        )
        hours = np.clip(solution.hours, 0.0, cfg.max_hours_cell)
        plan = frames.written(data, hours, solution.aid)
        total_risk = risk.sum()
        covered = frames.benefit(plan.hours(), risk, cfg)
        self.harm_covered_share_ = covered / total_risk if total_risk > 0 else 0.0
        moved = np.abs(plan.hours() - prev).sum()
        self.hours_moved_ = round(float(moved), 1) if data.against_previous else None
        self.allocation_ = frames.allocation_frame(data, plan)
        self.duals_ = frames.duals_frame(data, plan, solution.duals)
        self.binding_ = binding_rules(data, hours, solution.aid)
        return self

    def randomize(self, share: float, plan_month: str) -> pd.DataFrame:
        """Put a seeded `share` of each station's cell pairs in the randomized dose experiment
        (`models.experiment`; stations' stability caps kept when the plan has them): the
        solved plan's `allocation_` becomes the hours as published, and `objective_`,
        `harm_covered_share_` and `hours_moved_` describe those hours — the experiment's cost
        shows. Returns the experiment's cells (`EXPERIMENT_COLUMNS`, empty without any)."""
        data, cfg = self.data, self.data.config
        experiment = assign_experiment(
            self.allocation_,
            share,
            plan_month,
            floor_hours=cfg.min_hours_cell,
            cap_hours=cfg.max_hours_cell,
            max_change_share=cfg.max_change_share if data.has_previous else None,
        )
        if experiment.cells.empty:
            return experiment.cells
        self.allocation_ = experiment.allocation
        per_unit = experiment.allocation.groupby(["cell_id", "shift"])["hours"].sum()
        keys = pd.MultiIndex.from_frame(data.units[["cell_id", "shift"]])
        hours = per_unit.reindex(keys, fill_value=0.0).to_numpy()
        risk, prev = data.units["risk"].to_numpy(), data.units["prev_hours"].to_numpy()
        total_risk = risk.sum()
        covered = frames.benefit(hours, risk, cfg)
        moved = np.abs(hours - prev).sum()
        self.harm_covered_share_ = covered / total_risk if total_risk > 0 else 0.0
        self.objective_ = covered - (cfg.stability_weight * moved if data.has_previous else 0.0)
        self.hours_moved_ = round(float(moved), 1) if data.against_previous else None
        return experiment.cells
