"""The steps of the monthly cycle (SPEC §3), one function each. A step takes the loaded bureau
(and what earlier steps returned) and returns a small frozen result that knows its output files:
`result.write(folder)` writes them. `run` chains the steps (optimizer/cycle.py); each stage
command of the CLI is the same function plus its `write`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.crs import metric_crs, project, unproject
from geo.grid import Grid
from geo.jurisdictions import neighbours
from models import quality as q
from models.contracts import Bureau
from models.errors import InputError, Problem
from models.evaluation import evaluate_plan, patrol_balance
from models.forecast import backtest_months_table, forecast_risk, risk_history
from models.forecast_cache import ForecastCache
from models.forecast_mix import Forecast, reweight
from models.hotspots import find_hotspots
from models.months import next_month
from models.outlines import cell_less_problems, grid_cell_size
from models.policy import policy_shares, station_weights
from models.scenarios import Scenario
from models.scoring import (
    awards,
    indicator_scores,
    rank_sensitivity,
    redundant_pairs,
    rollups,
    score_months,
)
from models.shifts import shift_of
from models.spread import IN_PROCESS, Spread
from models.training import (
    Comparisons,
    comparisons,
    course_effectiveness,
    find_gaps,
    training_bonus,
    training_effects,
)
from optimizer.allocation import PatrolAllocation
from optimizer.execution import ExecutionResult
from optimizer.manifest import write_outputs
from optimizer.missions.stage import MissionResult, deliverable_plan, mission_setup
from optimizer.train import TrainingPlan, plan_training
from optimizer.workbook import write_training_xlsx


@dataclass(frozen=True)
class Spatial:
    """The bureau in metres: CRS, projected stations and their grid cells (`cell_id, ix, iy,
    x, y, station_id`, cell centres in metres), and the grid."""

    crs: object
    stations: gpd.GeoDataFrame
    cells: pd.DataFrame
    grid: Grid

    @property
    def area_m2(self) -> float:
        """Area of all jurisdictions together, square metres."""
        return float(self.stations.union_all().area)


def spatial(bureau: Bureau) -> Spatial:
    """Project the jurisdictions to the metric CRS (config, else the data's UTM zone) and lay
    the grid over them, of the config's cell size (checked against the jurisdictions' extent
    before the grid takes the memory)."""
    cfg = bureau.config
    bounds = bureau.stations.total_bounds
    crs = metric_crs(cfg.crs, [(bounds[0] + bounds[2]) / 2], [(bounds[1] + bounds[3]) / 2])
    size_m, too_fine = grid_cell_size(bureau.stations, cfg)
    if too_fine:
        raise InputError([Problem("config.toml", 0, "grid.cell_size_m", too_fine)])
    stations = bureau.stations.to_crs(crs)
    grid = Grid(size_m, crs)
    cells = grid.cells(stations)
    file = bureau.files["stations"].name if "stations" in bureau.files else "stations.geojson"
    problems = cell_less_problems(file, stations, set(cells["station_id"]), size_m)
    if problems:
        raise InputError(problems)
    return Spatial(crs, stations, cells, grid)


def cases_upto(bureau: Bureau, month: str, sp: Spatial) -> pd.DataFrame:
    """Cases up to the end of `month` with their metric `x`, `y`, `cell_id` and `shift`; later
    rows are ignored."""
    keep = (bureau.cases["month"] <= month).to_numpy()
    cases = bureau.cases if keep.all() else bureau.cases[keep]  # not copied when all are kept
    x, y = project(cases["lon"], cases["lat"], sp.crs)
    return cases.assign(
        x=x,
        y=y,
        cell_id=sp.grid.assign(x, y),
        shift=shift_of(cases["occurred_at"], bureau.config.allocation.shift_hours),
    ).reset_index(drop=True)


@dataclass(frozen=True)
class QualityResult:
    flags: pd.DataFrame

    def write(self, folder: Path) -> None:
        write_outputs(folder, {"quality.csv": self.flags})


def bureau_station_weights(bureau: Bureau, month: str) -> pd.DataFrame | None:
    """Weights per station for assessed month `month` (`station_weights`: its type's,
    overridden by its flexible ones that apply from `month` or earlier), computed once a run
    for quality and score; None without `weights.csv`."""
    if bureau.weights is None:
        return None
    flex = bureau.flex_weights
    if flex is not None and "from_month" in flex.columns:
        starts = flex["from_month"].fillna("").astype(str)
        flex = flex[starts.eq("") | (starts <= month)]
    return station_weights(bureau.weights, bureau.stations, flex)


def quality_stage(
    bureau: Bureau,
    month: str,
    cases: pd.DataFrame | None,
    weights: pd.DataFrame | None,
    executed: ExecutionResult | None = None,
) -> QualityResult:
    """All data-quality flags for `month` (`quality.csv`); `cases` from `cases_upto`, `weights`
    from `bureau_station_weights`, with the flags of the pings and the third-party check of
    execution metrics when `executed` holds them."""
    cfg = bureau.config
    measured = executed.metrics if executed is not None else {}
    parts = [executed.quality] if executed is not None else []
    if bureau.scores is not None and weights is not None:
        parts += [
            q.report_checks(bureau.scores, weights, month, cfg.scoring.report_deadline_day),
            q.jump_checks(bureau.scores[bureau.scores["month"] <= month], month),
        ]
        parts.append(
            q.case_metric_checks(bureau.scores, bureau.indicators, bureau.cases, month, measured)
        )
    if cases is not None:
        month_cases = cases[cases["month"] == month]
        parts += [
            q.duplicate_case_checks(
                month_cases, month_cases["x"].to_numpy(), month_cases["y"].to_numpy()
            ),
            q.station_mismatch_checks(month_cases),
        ]
    outside = bureau.outside_cases
    if outside is not None and len(outside):
        parts.append(q.outside_checks(outside[outside["month"] <= month]))
    parts.append(bureau.warnings)  # named warnings of loading (times converted, ...)
    out = (
        pd.concat([p for p in parts if len(p)], ignore_index=True)
        if any(len(p) for p in parts)
        else pd.DataFrame(columns=q.QUALITY_COLUMNS)
    )
    out["month"] = out["month"].replace("", month)
    flags = (
        out[q.QUALITY_COLUMNS]
        .astype(str)
        .sort_values(["check", "station_id", "indicator_id", "case_id"], ignore_index=True)
    )
    return QualityResult(flags)


@dataclass(frozen=True)
class ScoreResult:
    scores: pd.DataFrame
    month_scores: pd.DataFrame
    indicator_scores: pd.DataFrame
    all_indicator_scores: pd.DataFrame
    sensitivity: pd.DataFrame
    rollups: pd.DataFrame
    policy: pd.DataFrame
    pairs: pd.DataFrame
    awards: pd.DataFrame
    effects: pd.DataFrame
    comparisons: Comparisons  # the trainings measured, shared with the training stage

    def write(self, folder: Path) -> None:
        write_outputs(
            folder,
            {
                "scores.csv": self.month_scores,
                "indicator_scores.csv": self.indicator_scores,
                "rank_sensitivity.csv": self.sensitivity,
                "rollups.csv": self.rollups,
                "policy.csv": self.policy,
                "indicator_pairs.csv": self.pairs,
                "awards.csv": self.awards,
            },
        )


def score_stage(bureau: Bureau, month: str, weights: pd.DataFrame) -> ScoreResult:
    """Scores of every month up to `month` (streaks need history); outputs for `month`.
    `weights` from `bureau_station_weights`."""
    cfg = bureau.config.scoring
    values = bureau.scores[bureau.scores["month"] <= month]
    months = sorted(values["month"].unique())
    if month not in months:
        months.append(month)
    ind = indicator_scores(values, bureau.indicators, weights, bureau.stations, months, cfg.missing)
    compared = comparisons(ind, bureau.training_log, bureau.courses, month)
    effects = training_effects(compared) if bureau.courses is not None else pd.DataFrame()
    bonus = training_bonus(effects, weights, month, cfg.bonus_cap) if len(effects) else None
    scores = score_months(ind, bureau.indicators, cfg, bonus)
    month_scores = scores[scores["month"] == month].reset_index(drop=True)
    month_ind = ind[ind["month"] == month]
    return ScoreResult(
        scores=scores,
        month_scores=month_scores,
        indicator_scores=month_ind.drop(columns=["station_type", "missing"]).reset_index(drop=True),
        all_indicator_scores=ind,
        sensitivity=rank_sensitivity(month_ind, month_scores),
        rollups=rollups(scores, cfg),
        policy=policy_shares(bureau.weights, bureau.indicators),
        pairs=redundant_pairs(values),
        awards=awards(month_scores, cfg),
        effects=effects,
        comparisons=compared,
    )


@dataclass(frozen=True)
class HotspotResult:
    """Hotspot polygons in WGS84 (`hotspots.geojson`)."""

    hotspots: gpd.GeoDataFrame

    def write(self, folder: Path) -> None:
        write_outputs(folder, {"hotspots.geojson": self.hotspots})


def hotspot_stage(
    bureau: Bureau,
    month: str,
    sp: Spatial,
    cases: pd.DataFrame,
    spread: Spread = IN_PROCESS,
) -> HotspotResult:
    """Hotspots per offence category over the last `hotspots.months` months (SPEC §5), the
    categories clustered on `spread`."""
    found = find_hotspots(
        cases,
        cases["x"].to_numpy(),
        cases["y"].to_numpy(),
        month,
        bureau.config.hotspots,
        sp.crs,
        sp.area_m2,
        spread=spread,
    )
    return HotspotResult(found.to_crs("EPSG:4326"))


@dataclass(frozen=True)
class ForecastResult:
    """`risk.csv` for the month after the assessed one and the forecast model chosen;
    `forecast` is the same with each unit's category mix, which `models.forecast_mix.reweight`
    re-weights for a harm campaign."""

    risk: pd.DataFrame
    model: str
    forecast: Forecast | None = None

    def write(self, folder: Path) -> None:
        write_outputs(folder, {"risk.csv": self.risk})


def forecast_stage(
    bureau: Bureau,
    month: str,
    sp: Spatial,
    cases: pd.DataFrame,
    cache: ForecastCache | None = None,
    spread: Spread = IN_PROCESS,
) -> ForecastResult:
    """Harm-weighted, patrol-sensitive risk per cell and shift for M+1 (SPEC §5); `cache` keeps
    the backtest's forecasts for next month's run; the fits run on `spread`."""
    cfg = bureau.config
    forecast = forecast_risk(
        cases,
        sp.cells,
        sp.grid,
        cfg.allocation.shifts,
        month,
        cfg.forecast,
        cache,
        spread,
    )
    risk = forecast.risk.merge(sp.cells[["cell_id", "station_id", "x", "y"]], on="cell_id")
    lon, lat = unproject(risk["x"], risk["y"], sp.crs)
    risk["lat"], risk["lon"] = np.round(lat, 6), np.round(lon, 6)
    columns = ["cell_id", "shift", "risk", "station_id", "x", "y", "lat", "lon"]
    return ForecastResult(risk[columns], forecast.model, replace(forecast, risk=risk[columns]))


def campaign_forecast(result: ForecastResult, harm: dict[str, float]) -> ForecastResult:
    """The baseline's forecast as a harm campaign (`[deltas] harm`) sees it: each category's
    share of a cell's risk re-weighted by its multiplier, the model kept (a campaign changes
    what harm counts, not what the history says will happen)."""
    if not harm or result.forecast is None:
        return result
    weighted = reweight(result.forecast, harm)
    return ForecastResult(weighted.risk, result.model, weighted)


def forecast_warnings(forecast: ForecastResult, plan_month: str) -> pd.DataFrame:
    """A `no_risk` warning when the forecast puts no risk anywhere for M+1: the plan then
    rests on its floors and stability terms alone, not on where harm is expected."""
    if float(forecast.risk["risk"].sum()) > 0:
        return pd.DataFrame(columns=q.QUALITY_COLUMNS)
    message = (
        f"the forecast expects no patrol-sensitive harm anywhere in {plan_month}: "
        "patrol hours follow floors and last month's plan only"
    )
    row = dict.fromkeys(q.QUALITY_COLUMNS, "")
    row.update(check="no_risk", severity="warning", message=message)
    return pd.DataFrame([row])


@dataclass(frozen=True)
class AllocationResult:
    """The solved plan, its cells as WGS84 polygons, the allocation per cell and shift on
    them (`allocation.geojson`) and the per-station patrol balance."""

    plan: PatrolAllocation
    cells: gpd.GeoDataFrame
    geo: gpd.GeoDataFrame
    balance: pd.DataFrame
    experiment: pd.DataFrame  # the cells in the randomized dose experiment (may be empty)

    def write(self, folder: Path) -> None:
        write_outputs(
            folder,
            {
                "allocation.csv": self.plan.allocation_,
                "duals.csv": self.plan.duals_,
                "binding.csv": self.plan.binding_,
                "patrol_balance.csv": self.balance,
                "allocation.geojson": self.geo,
                **({"experiment.csv": self.experiment} if len(self.experiment) else {}),
            },
        )


def allocation_stage(
    bureau: Bureau,
    month: str,
    sp: Spatial,
    cases: pd.DataFrame,
    risk: pd.DataFrame,
    previous: pd.DataFrame | None,
    stability: bool = True,
    reserve: pd.DataFrame | None = None,
    drive: pd.DataFrame | None = None,
) -> AllocationResult:
    """Patrol hours for the month after `month` (SPEC §6) and everything written from them;
    `stability = False` plans without the stability terms but still against `previous`;
    `reserve` (`station_id, shift, reserve_hours`, SPEC §13) is held back from the budgets, as
    is `drive` (`station_id, shift, drive_hours, unit_hours`: what the missions need, §16).
    With `[evaluation] experiment_share`, a seeded share of cell pairs gets the randomized
    high or low dose (models/experiment.py)."""
    cfg = bureau.config
    plan = PatrolAllocation.from_frames(
        risk,
        sp.cells,
        bureau.stations,
        neighbours(sp.stations),
        cfg.allocation,
        previous,
        stability=stability,
        reserve=reserve,
        drive=drive,
    ).solve()
    experiment = plan.randomize(cfg.evaluation.experiment_share, next_month(month))
    cells = sp.grid.polygons(sp.cells).to_crs("EPSG:4326")
    per_cell = plan.allocation_.groupby(["cell_id", "shift"], as_index=False, sort=False).agg(
        hours=("hours", "sum"),
        prev_hours=("prev_hours", "first"),
        risk=("risk", "first"),
        station_id=("station_id", "first"),
    )
    recent = cases[(cases["month"] == month) & cases["patrol_sensitive"].fillna(False).astype(bool)]
    return AllocationResult(
        plan=plan,
        cells=cells,
        geo=cells[["cell_id", "geometry"]].merge(per_cell, on="cell_id"),
        balance=patrol_balance(plan.allocation_, sp.cells, recent, sp.grid.size_m),
        experiment=experiment,
    )


def planned_missions(
    bureau: Bureau,
    month: str,
    sp: Spatial,
    cases: pd.DataFrame,
    risk: pd.DataFrame,
    previous: pd.DataFrame | None,
    stability: bool = True,
    reserve: pd.DataFrame | None = None,
    spread: Spread = IN_PROCESS,
) -> tuple[AllocationResult, MissionResult]:
    """The plan for the month after `month` and its missions (SPEC §6, §16): the LP's budgets
    net of the drive the missions need (`optimizer/missions/stage.py`)."""
    return deliverable_plan(
        lambda drive: allocation_stage(
            bureau, month, sp, cases, risk, previous, stability, reserve, drive
        ),
        lambda allocated: allocated.plan.allocation_,
        mission_setup(bureau, next_month(month), sp, reserve),
        risk,
        sp.grid.size_m**2,
        spread,
    )


@dataclass(frozen=True)
class EvaluationResult:
    """The measured outcome of last month's plan (`evaluation.csv`)."""

    evaluation: pd.DataFrame

    def write(self, folder: Path) -> None:
        write_outputs(folder, {"evaluation.csv": self.evaluation})


def evaluation_stage(
    month: str,
    sp: Spatial,
    cases: pd.DataFrame,
    previous: pd.DataFrame,
    executed: ExecutionResult | None,
    min_visit_minutes: float,
    experiment: pd.DataFrame | None = None,
) -> EvaluationResult:
    """Crime change where last month's plan added hours against comparable cells (SPEC §8);
    where tracks exist, where the patrols delivered more hours, with the dose response (§13);
    with last month's randomized `experiment`, its estimate beside."""
    dose = executed.dose if executed is not None else None
    before = executed.dose_before if executed is not None else None
    return EvaluationResult(
        evaluate_plan(
            previous,
            sp.cells,
            cases,
            month,
            dose,
            before,
            min_visit_minutes=min_visit_minutes,
            experiment=experiment,
        )
    )


@dataclass(frozen=True)
class TrainingResult:
    """Seats per station and course (`training.csv`) and the plan behind them (the workbook)."""

    training: pd.DataFrame
    plan: TrainingPlan

    def write(self, folder: Path) -> None:
        write_outputs(folder, {"training.csv": self.training})
        write_training_xlsx(self.plan, Path(folder) / "training.xlsx")


def training_stage(bureau: Bureau, month: str, scored: ScoreResult, lang: str) -> TrainingResult:
    """Courses for the skill gaps of `month` under seat and hour caps (SPEC §7)."""
    cfg = bureau.config.training
    gaps = find_gaps(scored.all_indicator_scores, month, cfg.gap_score)
    effects = course_effectiveness(scored.comparisons)
    plan = plan_training(
        gaps,
        bureau.courses,
        bureau.stations,
        bureau.indicators,
        cfg.gap_score,
        cfg.max_training_hours_per_officer,
        effects,
        lang,
    )
    return TrainingResult(plan.training, plan)


def apply_deltas(bureau: Bureau, scenario: Scenario) -> Bureau:
    """The bureau as the scenario sees it: its config, officers changed by `deltas.officers`
    and cases' harm by `deltas.harm`. Only the tables a delta changes are copied."""
    changes: dict[str, object] = {"config": scenario.config}
    officers, harm = scenario.deltas.officers, scenario.deltas.harm
    if officers:
        change = bureau.stations["station_id"].map(officers).fillna(officers.get("*", 0.0))
        changes["stations"] = bureau.stations.assign(
            officers=bureau.stations["officers"] * (1 + change)
        )
    if harm and bureau.cases is not None:
        factor = bureau.cases["category"].map(harm).fillna(1.0)
        changes["cases"] = bureau.cases.assign(harm=bureau.cases["harm"] * factor)
    return Bureau(**{**bureau.__dict__, **changes})


@dataclass(frozen=True)
class BacktestResult:
    """Hit rate, PAI and PEI* per forecast model, origin month and coverage (`backtest.csv`)."""

    table: pd.DataFrame

    def write(self, folder: Path) -> None:
        write_outputs(folder, {"backtest.csv": self.table})


def backtest_stage(
    bureau: Bureau,
    month: str,
    sp: Spatial,
    cases: pd.DataFrame,
    months: int,
    spread: Spread = IN_PROCESS,
) -> BacktestResult:
    """Rolling-origin backtest of every forecast model and of `auto` over the last `months`,
    the fits on `spread`."""
    cfg = bureau.config
    counts, labels = risk_history(cases, sp.cells, cfg.allocation.shifts, month)
    table = backtest_months_table(
        counts,
        labels,
        sp.grid.raster(sp.cells),
        months,
        cfg.forecast,
        spread=spread,
    )
    return BacktestResult(table)
