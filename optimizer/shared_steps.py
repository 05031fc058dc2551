"""Steps shared by the scenarios of one `run` (SPEC §3, §10): a step a scenario's deltas and
overrides leave alone is computed once and handed to every scenario that reads it alike."""

from __future__ import annotations

import json
from collections.abc import Callable

from models.scenarios import Scenario


class SharedSteps:
    """Step results shared by the scenarios of one run, keyed by the step and the parts of the
    scenario that step reads (`step_reads`)."""

    def __init__(self) -> None:
        self._results: dict[str, object] = {}

    def get(self, step: str, reads: object, compute: Callable[[], object]) -> object:
        key = step + json.dumps(reads, sort_keys=True, default=str)
        if key not in self._results:
            self._results[key] = compute()
        return self._results[key]


def step_reads(scenario: Scenario) -> dict[str, object]:
    """What each shared step reads of a scenario: config sections and deltas."""
    cfg = scenario.config
    cases = {
        "crs": cfg.crs,
        "grid": cfg.grid.model_dump(),
        "shifts": cfg.allocation.shift_hours,
        "harm": scenario.deltas.harm,
    }
    return {
        "spatial": {"crs": cfg.crs, "grid": cfg.grid.model_dump()},
        "cases": cases,
        "quality": {**cases, "scoring": cfg.scoring.model_dump()},
        "score": {"scoring": cfg.scoring.model_dump()},
        "hotspots": {**cases, "hotspots": cfg.hotspots.model_dump()},
        "forecast": {
            **cases,
            "harm": {},  # a harm campaign re-weights the baseline's forecast by category
            "forecast": cfg.forecast.model_dump(),
            "order": cfg.allocation.shifts,
        },
    }
