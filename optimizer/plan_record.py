"""`plan.json` (SPEC §8): what a published plan was made from and how — its inputs with their
sha256, the parameters and deltas, the models and solver chosen, the grid, the previous plan it
built on, the plan's key figures and the steps' timings."""

from __future__ import annotations

import pandas as pd

from models.scenarios import Scenario
from optimizer.i18n import BureauNames
from optimizer.stages import AllocationResult, ForecastResult, Spatial


def plan_record(
    *,
    month: str,
    plan_month: str,
    scenario: Scenario,
    inputs: dict[str, str],
    other_inputs: dict[str, dict],
    sp: Spatial,
    forecast: ForecastResult,
    allocated: AllocationResult,
    previous: pd.DataFrame | None,
    names: BureauNames,
    timings: dict[str, float],
    staffing: dict | None = None,
) -> dict:
    """The manifest of one scenario's plan for `plan_month`, planned from `month`; `inputs`
    are the data folder's files by name with their sha256, `other_inputs` the files given
    beside it (scenario, previous plan) with their path; `timings` in seconds; `staffing` the
    staffing recommendation's figures (`StaffingResult.record`, SPEC §19)."""
    cfg, plan = scenario.config, allocated.plan
    return {
        "month": month,
        "plan_month": plan_month,
        "scenario": scenario.name,
        "inputs": inputs,
        **({"other_inputs": other_inputs} if other_inputs else {}),
        "parameters": cfg.model_dump(mode="json"),
        "deltas": scenario.deltas.model_dump(mode="json"),
        "models": {
            "forecast": forecast.model,
            "crs": sp.crs.to_string(),
            "hotspots": cfg.hotspots.method,
        },
        "solver": {"name": "HiGHS", "status": plan.status_, "path": plan.path_},
        "grid": sp.grid.record(),
        "previous_plan": previous_plan_match(previous, sp.cells),
        "objective": plan.objective_,
        "harm_covered_share": plan.harm_covered_share_,
        "hours_moved": plan.hours_moved_,
        "experiment": {
            "share": cfg.evaluation.experiment_share,
            "pairs": int(allocated.experiment["pair"].nunique()),
        },
        "allocation_warnings": plan.warnings_,
        "binding_constraints": plan.binding_["rule"].value_counts(sort=False).to_dict(),
        **({"staffing": staffing} if staffing is not None else {}),
        "names": names.to_json(),
        "timings_s": timings,
    }


def previous_plan_match(previous: pd.DataFrame | None, cells: pd.DataFrame) -> dict | None:
    """How much of last month's plan lies on this month's grid: `cells` it names, `unknown`
    among them (a changed cell size or jurisdiction map leaves them unmatched, and their hours
    count neither for stability nor for hours moved) and their `unknown_hours`."""
    if previous is None:
        return None
    named = previous.groupby("cell_id")["hours"].sum()
    unknown = named[~named.index.isin(cells["cell_id"])]
    return {
        "cells": int(len(named)),
        "unknown": int(len(unknown)),
        "unknown_hours": round(float(unknown.sum()), 3),
    }
