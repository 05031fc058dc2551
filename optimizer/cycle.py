"""The monthly cycle (SPEC §3): `run_month` plans month M+1 for every scenario of a `run`;
`run_cycle` is one scenario's steps, top to bottom as the SPEC lists them. Steps that a
scenario does not change (its deltas and overrides leave their inputs alone) are computed once
per run and shared by every scenario."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from geo.maps import write_geopackage
from models.checks import patrol_risk_problems
from models.config import Deltas, Scenario, config_key_problem, load_scenarios
from models.contracts import Bureau, load_bureau, load_previous_plan
from models.errors import InfeasiblePlan, InputError, MonthOutsideData, Problem
from models.forecast_cache import ForecastCache
from models.memory import hand_back_memory
from models.outlines import grid_size_message
from models.spread import IN_PROCESS, Spread
from optimizer import stages
from optimizer.chain import sha256_file
from optimizer.execution import execution_stage, has_execution_data
from optimizer.i18n import BureauNames
from optimizer.manifest import FORECAST_CACHE, default_store_url, write_outputs
from optimizer.plan_map import jurisdiction_layer, map_title, plan_map
from optimizer.publish import Staging, publish
from optimizer.report import render_report
from optimizer.stages import next_month
from optimizer.store import StoredPlan, check_store, previous_allocation

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RunResult:
    """A published plan: its folder, its plan.json, its audit entry and step timings (s)."""

    folder: Path
    plan: dict
    entry: dict
    timings: dict = field(default_factory=dict)


class _Shared:
    """Step results shared by the scenarios of one run, keyed by the step and the parts of the
    scenario that step reads."""

    def __init__(self) -> None:
        self._results: dict[str, object] = {}

    def get(self, step: str, reads: object, compute: Callable[[], object]) -> object:
        key = step + json.dumps(reads, sort_keys=True, default=str)
        if key not in self._results:
            self._results[key] = compute()
        return self._results[key]


def _reads(scenario: Scenario) -> dict[str, object]:
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


def run_cycle(
    bureau: Bureau,
    month: str,
    out: Path,
    scenario: Scenario,
    previous: pd.DataFrame | None = None,
    lang: str = "en",
    progress: Progress = lambda step: None,
    store_url: str | None = None,
    shared: _Shared | None = None,
    anchor: str | None = None,
    on_wait: Progress | None = None,
    input_files: dict[str, Path] | None = None,
    spread: Spread = IN_PROCESS,
) -> RunResult:
    """Every step of SPEC §3 for one scenario of `month`; the plan for M+1 is published to
    `out/<M+1>/<scenario>/` and the store (`store_url`, default `sqlite:///OUT/plans.db`),
    its chain head to `anchor` when given. `input_files` (the scenario file, `--previous-plan`)
    are hashed and kept with the inputs of the data folder. The steps that split into pieces
    (execution, hotspots, forecast) run them on `spread`."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def tick(step: str, following: str = "") -> None:
        """Time the step just done; announce the one that follows."""
        nonlocal clock
        now = time.perf_counter()
        timings[step] = round(now - clock, 3)
        clock = now
        progress(f"{scenario.name}: {step} done ({timings[step]:.1f} s)")
        if following:
            progress(f"{scenario.name}: {following} ...")

    shared = shared or _Shared()
    reads = _reads(scenario)
    inputs = {p.name: sha256_file(p) for p in bureau.files.values()}
    outside = {
        role: {"path": str(Path(path).resolve()), "sha256": sha256_file(path)}
        for role, path in (input_files or {}).items()
    }
    original, bureau = bureau, stages.apply_deltas(bureau, scenario)
    cfg = bureau.config
    plan_month = next_month(month)
    # 1. validate: done by loading the bureau
    progress(f"{scenario.name}: quality ...")
    sp = shared.get("spatial", reads["spatial"], lambda: stages.spatial(bureau))
    cases = shared.get("cases", reads["cases"], lambda: stages.cases_upto(bureau, month, sp))
    unweighted = stages.apply_deltas(original, scenario.model_copy(update={"deltas": Deltas()}))

    def unweighted_cases() -> pd.DataFrame:
        """The cases at their own harm, for the forecast a campaign re-weights."""
        no_campaign = {**reads["cases"], "harm": {}}
        return shared.get("cases", no_campaign, lambda: stages.cases_upto(unweighted, month, sp))

    executed = (  # §13: the plan for M measured against what patrols and dispatch did
        execution_stage(bureau, month, sp, previous, spread) if has_execution_data(bureau) else None
    )
    tick("execution")
    weights = stages.bureau_station_weights(bureau)
    quality = (
        stages.quality_stage(bureau, month, cases, weights, executed)
        if executed is not None
        else shared.get(
            "quality",
            reads["quality"],
            lambda: stages.quality_stage(bureau, month, cases, weights),
        )
    )
    tick("quality", "score")
    scored = shared.get("score", reads["score"], lambda: stages.score_stage(bureau, month, weights))
    tick("score", "hotspots")
    hotspots = shared.get(
        "hotspots",
        reads["hotspots"],
        lambda: stages.hotspot_stage(bureau, month, sp, cases, spread),
    )
    tick("hotspots", "forecast")
    hand_back_memory()  # before the forecast, the run's largest step
    cache = ForecastCache(Path(out) / FORECAST_CACHE)
    forecast = shared.get(  # the baseline's forecast; a harm campaign re-weights it
        "forecast",
        reads["forecast"],
        lambda: stages.forecast_stage(unweighted, month, sp, unweighted_cases(), cache, spread),
    )
    cache.prune()
    forecast = stages.campaign_forecast(forecast, scenario.deltas.harm)
    tick("forecast", "allocate")
    reserve = executed.reserve if executed is not None else None
    allocated = stages.allocation_stage(
        bureau, month, sp, cases, forecast.risk, previous, scenario.deltas.stability, reserve
    )
    evaluated = (
        stages.evaluation_stage(
            month, sp, cases, previous, executed, cfg.execution.min_visit_minutes
        )
        if previous is not None
        else None
    )
    tick("allocate", "train")
    trained = stages.training_stage(bureau, month, scored, lang)
    tick("train", "write")
    hand_back_memory()

    with Staging(Path(out) / plan_month / scenario.name) as staging:
        scored.write(staging.folder)
        flags = pd.concat(
            [quality.flags, stages.forecast_warnings(forecast, plan_month)], ignore_index=True
        )
        write_outputs(staging.folder, {"quality.csv": flags, "risk.csv": forecast.risk})
        allocated.write(staging.folder)
        if evaluated is not None:
            evaluated.write(staging.folder)
        if executed is not None:
            executed.write(staging.folder)
        trained.write(staging.folder)
        hotspots.write(staging.folder)
        jurisdictions = jurisdiction_layer(
            bureau.stations, scored.month_scores, allocated.plan.allocation_
        )
        write_outputs(staging.folder, {"jurisdictions.geojson": jurisdictions})
        layers = {
            "forecast": forecast,
            "allocated": allocated,
            "hotspots": hotspots.hotspots,
            "jurisdictions": jurisdictions,
            "execution": executed.execution if executed is not None else None,
        }
        _write_maps(staging.folder, bureau, scenario, plan_month, layers, lang)
        tick("write")
        plan = {
            "month": month,
            "plan_month": plan_month,
            "scenario": scenario.name,
            "inputs": inputs,
            **({"other_inputs": outside} if outside else {}),
            "parameters": cfg.model_dump(mode="json"),
            "deltas": scenario.deltas.model_dump(mode="json"),
            "models": {
                "forecast": forecast.model,
                "crs": sp.crs.to_string(),
                "hotspots": cfg.hotspots.method,
            },
            "solver": {
                "name": "HiGHS",
                "status": allocated.plan.status_,
                "path": allocated.plan.path_,
            },
            "grid": _grid_of(sp),
            "previous_plan": previous_plan_match(previous, sp.cells),
            "objective": allocated.plan.objective_,
            "harm_covered_share": allocated.plan.harm_covered_share_,
            "hours_moved": allocated.plan.hours_moved_,
            "allocation_warnings": allocated.plan.warnings_,
            "binding_constraints": allocated.plan.binding_["rule"]
            .value_counts(sort=False)
            .to_dict(),
            "names": BureauNames.from_tables(bureau.offences, bureau.stations).to_json(),
            "timings_s": timings,
        }
        (staging.folder / "report.html").write_text(
            render_report([staging.folder], lang, plans=[plan]), encoding="utf-8"
        )
        plan = staging.seal(plan)
        url = store_url or default_store_url(out)
        entry = publish(
            staging, plan, url, Path(out), bureau.files, anchor, on_wait=on_wait or progress
        )
    return RunResult(staging.target, plan, entry, timings)


def _write_maps(
    folder: Path,
    bureau: Bureau,
    scenario: Scenario,
    plan_month: str,
    layers: dict[str, object],
    lang: str,
) -> None:
    """`plan.gpkg` for GIS desks and the planners' `map.html`."""
    cfg = bureau.config
    forecast, allocated = layers["forecast"], layers["allocated"]
    cells, alloc_geo = allocated.cells, allocated.geo
    risk_geo = cells[["cell_id", "geometry"]].merge(
        forecast.risk[["cell_id", "shift", "risk", "station_id"]], on="cell_id"
    )
    write_geopackage(
        {
            "allocation": alloc_geo,
            "hotspots": layers["hotspots"],
            "risk": risk_geo,
            "jurisdictions": layers["jurisdictions"],
        },
        folder / "plan.gpkg",
    )
    plan_map(
        layers["jurisdictions"],
        cells[["cell_id", "geometry"]],
        forecast.risk,
        allocated.plan.allocation_,
        layers["hotspots"],
        allocated.schedule,
        cfg.map.tiles,
        cfg.map.attribution,
        lang,
        title=map_title(lang, plan_month, scenario.name),
        names=BureauNames.from_tables(bureau.offences, bureau.stations),
        tiles_datum=cfg.map.tiles_datum,
        execution=layers["execution"],
    ).save(str(folder / "map.html"))


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


def require_month(bureau: Bureau, month: str) -> None:
    """Refuse a month the loaded cases and indicator values say nothing about (before or after
    the data): its plan would rest on no data at all."""
    held = {
        what: frame["month"]
        for what, frame in (("cases", bureau.cases), ("indicator values", bureau.scores))
        if frame is not None
    }
    if any((months == month).any() for months in held.values()):
        return
    spans = "; ".join(
        f"{what} from {months.min()} to {months.max()}" if len(months) else f"no {what}"
        for what, months in held.items()
    )
    raise MonthOutsideData(f"the data holds no {' and no '.join(held)} for {month} ({spans})")


def _grid_of(sp: stages.Spatial) -> dict:
    return sp.grid.record()


def _check_inputs(
    bureau: Bureau,
    month: str,
    runs: list[Scenario],
    sources: dict[str, Path],
    data: Path,
    shared: _Shared,
) -> None:
    """Refuse, before anything is written, what would make a scenario's plan silently wrong or
    its grid too large: cases without patrol risk, a grid too fine for the jurisdictions, a
    station left without grid cells (each scenario's grid is laid here, and kept)."""
    problems = patrol_risk_problems(bureau.cases, bureau.files["cases"].name, month)
    for scenario in runs:
        source = sources.get(scenario.name, data / "config.toml")
        too_fine = grid_size_message(bureau.stations, scenario.config.grid.cell_size_m)
        if too_fine:
            problems.append(config_key_problem(source, ("grid", "cell_size_m"), too_fine))
            continue
        seen = stages.apply_deltas(bureau, scenario)
        try:
            shared.get("spatial", _reads(scenario)["spatial"], lambda b=seen: stages.spatial(b))
        except InputError as exc:
            problems += [p for p in exc.problems if p not in problems]
    if problems:
        raise InputError(problems)


def _check_grids(
    bureau: Bureau, planned: list[tuple[Scenario, StoredPlan | None]], shared: _Shared
) -> None:
    """Refuse, before any work, a previous plan made on another grid than the scenario's: its
    cell ids would name other ground."""
    problems = []
    for scenario, previous in planned:
        if previous is None or previous.grid is None:
            continue
        seen = stages.apply_deltas(bureau, scenario)
        grid = _grid_of(
            shared.get("spatial", _reads(scenario)["spatial"], lambda b=seen: stages.spatial(b))
        )
        if grid != previous.grid:
            problems.append(
                Problem(
                    previous.source,
                    0,
                    "grid",
                    f"made on a {previous.grid['size_m']:g} m grid in {previous.grid['crs']}, "
                    f"but scenario {scenario.name} plans on a {grid['size_m']:g} m grid in "
                    f"{grid['crs']}: its cells name other ground. Plan with the same "
                    "[grid] cell_size_m and crs, or give --previous-plan a plan on this grid",
                )
            )
    if problems:
        raise InputError(problems)


def _previous_plan_file(path: Path, shifts: Sequence[str]) -> StoredPlan:
    """`--previous-plan`: the allocation file and, where its plan.json lies beside it, the
    grid it was made on."""
    allocation = load_previous_plan(path, shifts)
    beside = Path(path).parent / "plan.json"
    grid = None
    if beside.exists():
        try:
            plan = json.loads(beside.read_text(encoding="utf-8"))
            grid = plan.get("grid") or {
                "size_m": float(plan["parameters"]["grid"]["cell_size_m"]),
                "crs": plan["models"]["crs"],
            }
        except (ValueError, KeyError, TypeError):
            grid = None  # not a plan.json of ours: the cells are matched by id alone
    return StoredPlan(allocation, grid, str(path))


def scenarios_of_run(
    bureau: Bureau, scenario_files: Sequence[Path], previous_plan: Path | None
) -> tuple[list[Scenario], dict[str, StoredPlan]]:
    """The scenarios to run (the baseline alone without files) and, given `--previous-plan`,
    that plan checked against each scenario's shifts: every problem of every file at once."""
    problems: list[Problem] = []
    runs = []
    stations, categories = set(bureau.stations["station_id"]), set(bureau.offences["category"])
    try:
        runs = load_scenarios(scenario_files, bureau.config, stations, categories)
    except InputError as exc:
        problems += exc.problems
    if not scenario_files:
        runs = [Scenario(name="baseline", config=bureau.config)]
    plans = {}
    if previous_plan is not None:
        by_shifts: dict[tuple[str, ...], StoredPlan] = {}  # read once per set of shifts
        for scenario in runs:
            shifts = tuple(scenario.config.allocation.shifts)
            try:
                if shifts not in by_shifts:
                    by_shifts[shifts] = _previous_plan_file(previous_plan, shifts)
                plans[scenario.name] = by_shifts[shifts]
            except InputError as exc:
                problems += [p for p in exc.problems if p not in problems]
    if problems:
        raise InputError(problems)
    return runs, plans


@dataclass(frozen=True)
class MonthResult:
    """The scenarios of one `run` that got their plans, and the diagnoses of those that could
    not (each line prefixed by its scenario when the run has several)."""

    results: list[RunResult]
    impossible: list[str]


def run_month(
    data: Path,
    month: str,
    out: Path,
    db: str | None = None,
    scenario_files: Sequence[Path] = (),
    previous_plan: Path | None = None,
    lang: str = "en",
    progress: Progress = lambda step: None,
    anchor: str | None = None,
    on_wait: Progress | None = None,
    spread: Spread = IN_PROCESS,
) -> MonthResult:
    """`patrolopt run`: load and validate the data folder, then plan M+1 for every scenario.
    Each scenario without a plan of its own builds on last month's stored plan of the same
    scenario, else the baseline's; an impossible scenario is diagnosed and the others are
    still planned. `on_wait` hears when another run holds the store's lock (default:
    `progress`). The work that splits into pieces runs on `spread` (one process, or Dask
    workers: the same plan). Raises `InputError` (bad input, nothing written)."""
    url = db or default_store_url(out)
    check_store(url, out)
    bureau = load_bureau(data)
    require_month(bureau, month)
    runs, plans = scenarios_of_run(bureau, scenario_files, previous_plan)
    sources = dict(zip([s.name for s in runs], scenario_files, strict=False))
    shared = _Shared()
    _check_inputs(bureau, month, runs, sources, Path(data), shared)
    Path(out).mkdir(parents=True, exist_ok=True)
    planned = []
    for scenario in runs:
        previous = plans.get(scenario.name)
        if previous is None and previous_plan is None:
            previous = previous_allocation(url, month, scenario.name)
            if previous is None and scenario.name != "baseline":
                previous = previous_allocation(url, month, "baseline")
        planned.append((scenario, previous))
    _check_grids(bureau, planned, shared)
    results, impossible = [], []
    for scenario, previous in planned:
        allocation = previous.allocation if previous is not None else None
        try:
            results.append(
                run_cycle(
                    bureau,
                    month,
                    out,
                    scenario,
                    allocation,
                    lang,
                    progress,
                    url,
                    shared,
                    anchor,
                    on_wait or progress,
                    {
                        role: Path(path)
                        for role, path in (
                            ("scenario", sources.get(scenario.name)),
                            ("previous_plan", previous_plan),
                        )
                        if path is not None
                    },
                    spread,
                )
            )
        except InfeasiblePlan as exc:
            prefix = f"scenario {scenario.name}: " if len(runs) > 1 else ""
            impossible += [prefix + line for line in exc.diagnosis]
    return MonthResult(results, impossible)
