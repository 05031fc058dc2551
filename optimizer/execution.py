"""The execution stage (SPEC §13): month M's pings and dispatch records measured against the
plan for M, before M+1 is planned. Used by `patrolopt execution` and by `run`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from models.contracts import Bureau
from models.erlang import WINDOW_MONTHS, response_reserve
from models.execution import (
    adherence_table,
    execution_table,
    measured_metrics,
    month_calls,
    response_table,
    track_quality,
)
from models.months import previous_month
from models.quality import QUALITY_COLUMNS
from models.scenarios import BASELINE
from models.spread import IN_PROCESS, Spread
from models.tracks import TrackRules, measure_tracks
from optimizer.manifest import PLANS_DB, default_store_url, write_outputs

EXECUTION_FILES = ("execution.csv", "adherence.csv", "response.csv")


@dataclass(frozen=True)
class ExecutionResult:
    """Month M as carried out: `execution`, `adherence` (None without tracks), `response`
    (None without calls), the `quality` flags of the pings, the `metrics` the third-party
    check compares reported values with, the patrol `dose` per station, cell and shift (and
    `dose_before`, that of month M−1 where the tracks reach back to it), and the response
    `reserve` (units and hours per station and shift) for month M+1."""

    month: str
    execution: pd.DataFrame | None
    adherence: pd.DataFrame | None
    response: pd.DataFrame | None
    quality: pd.DataFrame
    metrics: dict[str, pd.Series] = field(default_factory=dict)
    dose: pd.DataFrame | None = None
    dose_before: pd.DataFrame | None = None
    reserve: pd.DataFrame | None = None

    def files(self) -> dict[str, pd.DataFrame]:
        """The frames written for this stage, by file name."""
        frames = {
            "execution.csv": self.execution,
            "adherence.csv": self.adherence,
            "response.csv": self.response,
            "reserve.csv": self.reserve,
        }
        return {name: frame for name, frame in frames.items() if frame is not None}

    def write(self, folder: Path) -> None:
        write_outputs(folder, self.files())


def has_execution_data(bureau: Bureau) -> bool:
    return bureau.patrol_tracks is not None or bureau.calls is not None


def track_rules(bureau: Bureau, cell_size_m: float) -> TrackRules:
    cfg = bureau.config
    return TrackRules(
        max_gap_s=cfg.execution.max_gap_s,
        max_speed_kmh=cfg.execution.max_speed_kmh,
        min_visit_minutes=cfg.execution.min_visit_minutes,
        cell_size_m=cell_size_m,
        shift_hours=dict(cfg.allocation.shift_hours),
    )


def execution_stage(
    bureau: Bureau,
    month: str,
    sp,
    plan: pd.DataFrame | None,
    spread: Spread = IN_PROCESS,
) -> ExecutionResult:
    """Measure `month` from the bureau's pings and calls against `plan` (an allocation frame
    for that month, or None: then every delivered hour is off plan) on the grid of `sp`
    (`stages.Spatial`: metric `crs`, jurisdiction `cells`, `grid`); the pings are measured
    on `spread`."""
    cfg = bureau.config
    crs, cells, rules = sp.crs, sp.cells, track_rules(bureau, sp.grid.size_m)
    if plan is not None:  # a plan file without stations: each cell's own station
        holder = plan["cell_id"].astype(str).map(cells.set_index("cell_id")["station_id"])
        given = plan.get("station_id", pd.Series("", index=plan.index)).fillna("").astype(str)
        plan = plan.assign(station_id=given.where(given != "", holder.fillna("")))
    shifts = cfg.allocation.shifts
    execution = adherence = response = dose = dose_before = reserve = None
    officers = pd.Series(dtype=float)
    quality = [pd.DataFrame(columns=QUALITY_COLUMNS)]
    if bureau.patrol_tracks is not None:
        delivered = measure_tracks(bureau.patrol_tracks, month, crs, cfg.coordinates, rules, spread)
        dose = delivered.dose
        officers = delivered.summary.set_index("station_id")["officers_per_unit"]
        before = pd.Period(previous_month(month), "M")
        times = bureau.patrol_tracks["recorded_at"]
        if ((times >= before.start_time) & (times < before.end_time)).any():
            dose_before = measure_tracks(
                bureau.patrol_tracks, str(before), crs, cfg.coordinates, rules, spread
            ).dose
        execution = execution_table(plan, dose, shifts)
        adherence = adherence_table(execution, shifts)
        quality.append(track_quality(delivered.summary, dose, set(cells["cell_id"]), month))
    if bureau.calls is not None:
        recent = month_calls(
            bureau.calls,
            month,
            bureau.stations,
            dict(cfg.allocation.shift_hours),
            cfg.coordinates,
            WINDOW_MONTHS,
        )
        this_month = recent["received_at"].dt.to_period("M") == pd.Period(month, "M")
        response = response_table(
            recent[this_month.to_numpy()], cfg.execution.response_target_min, shifts
        )
        reserve = response_reserve(
            recent,
            month,
            dict(cfg.allocation.shift_hours),
            officers,
            cfg.execution.default_busy_min,
            cfg.execution.response_wait_min,
            cfg.execution.max_wait_probability,
        )
    found = [q for q in quality if len(q)]
    flags = pd.concat(found, ignore_index=True) if found else quality[0]
    return ExecutionResult(
        month=month,
        execution=execution,
        adherence=adherence,
        response=response,
        quality=flags.reindex(columns=QUALITY_COLUMNS).fillna(""),
        metrics=measured_metrics(execution, response, month),
        dose=dose,
        dose_before=dose_before,
        reserve=reserve,
    )


def stored_plan(out: Path, month: str, scenario: str = BASELINE) -> pd.DataFrame | None:
    """The plan for `month` as `run` left it: `OUT/<month>/<scenario>/allocation.csv`, else
    the plan store in `OUT/plans.db` (never created here), else None."""
    path = Path(out) / month / scenario / "allocation.csv"
    if path.exists():
        frame = pd.read_csv(path, dtype={"station_id": str, "cell_id": str, "shift": str})
        frame["lender_station_id"] = frame.get("lender_station_id", "")
        frame["lender_station_id"] = frame["lender_station_id"].fillna("").astype(str)
        return frame
    if (Path(out) / PLANS_DB).exists():
        from optimizer.store import previous_allocation

        stored = previous_allocation(default_store_url(out), month, scenario)
        return stored.allocation if stored is not None else None
    return None
