"""The monthly cycle (SPEC §3): `run_month` plans month M+1 for every scenario of a `run`;
`run_cycle` is one scenario's steps, top to bottom as the SPEC lists them. Steps that a
scenario does not change (its deltas and overrides leave their inputs alone) are computed once
per run and shared by every scenario (`optimizer/shared_steps.py`); what is checked before
anything is written lives in `optimizer/run_checks.py`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from models.config import timezone_of
from models.contracts import Bureau, load_bureau
from models.errors import InfeasiblePlan
from models.forecast_cache import ForecastCache
from models.memory import hand_back_memory
from models.months import next_month
from models.scenarios import BASELINE, Deltas
from models.spread import IN_PROCESS, Spread
from optimizer import stages
from optimizer.adoption import stored_adoption
from optimizer.assessment.survey import stored_bursts
from optimizer.chain import sha256_file
from optimizer.execution import execution_stage, has_execution_data, plan_missions
from optimizer.i18n import BureauNames
from optimizer.manifest import FORECAST_CACHE, default_store_url, write_outputs
from optimizer.plan_map import jurisdiction_layer, map_title, write_maps
from optimizer.plan_record import plan_record
from optimizer.publish import Staging, publish
from optimizer.report import render_report
from optimizer.run_checks import ScenarioRun, baselines_given_plan, checked_run, require_month
from optimizer.shared_steps import SharedSteps, step_reads
from optimizer.staffing import monthly_staffing
from optimizer.store import check_store, previous_allocation, store_exists

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RunResult:
    """A published plan: its folder, its plan.json, its audit entry and step timings (s)."""

    folder: Path
    plan: dict
    entry: dict
    timings: dict = field(default_factory=dict)


def run_cycle(
    original: Bureau,
    month: str,
    out: Path,
    run: ScenarioRun,
    *,
    store_url: str,
    shared: SharedSteps,
    lang: str = "en",
    progress: Progress = lambda step: None,
    anchor: str | None = None,
    on_wait: Progress | None = None,
    spread: Spread = IN_PROCESS,
) -> RunResult:
    """Every step of SPEC §3 for one checked scenario of `month` (`run`: its bureau with the
    deltas applied, its previous plan, the files beside the data folder that define it); the
    plan for M+1 is published to `out/<M+1>/<scenario>/` and the store at `store_url`, its
    chain head to `anchor` when given. `original` is the bureau as loaded. The steps that split
    into pieces (execution, hotspots, forecast) run them on `spread`."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    scenario, bureau = run.scenario, run.bureau

    def tick(step: str, following: str = "") -> None:
        """Time the step just done; announce the one that follows."""
        nonlocal clock
        now = time.perf_counter()
        timings[step] = round(now - clock, 3)
        clock = now
        progress(f"{scenario.name}: {step} done ({timings[step]:.1f} s)")
        if following:
            progress(f"{scenario.name}: {following} ...")

    reads = step_reads(scenario)
    previous = run.previous.allocation if run.previous is not None else None
    cfg = bureau.config
    plan_month = next_month(month)
    # 1. validate: done by loading the bureau and checking the run (optimizer/run_checks.py)
    progress(f"{scenario.name}: quality ...")
    sp = shared.get("spatial", reads["spatial"], lambda: stages.spatial(bureau))
    cases = shared.get("cases", reads["cases"], lambda: stages.cases_upto(bureau, month, sp))
    unweighted = stages.apply_deltas(original, scenario.model_copy(update={"deltas": Deltas()}))

    def unweighted_cases() -> pd.DataFrame:
        """The cases at their own harm, for the forecast a campaign re-weights."""
        no_campaign = {**reads["cases"], "harm": {}}
        return shared.get("cases", no_campaign, lambda: stages.cases_upto(unweighted, month, sp))

    planned = (  # §16: the missions published with that plan
        plan_missions(
            month,
            cfg.missions.officers_per_unit,
            plan_file=run.input_files.get("previous_plan"),
            out=Path(out),
            store_url=store_url,
            scenario=run.previous.scenario or BASELINE,
        )
        if previous is not None and bureau.patrol_tracks is not None
        else None
    )
    executed = (  # §13: the plan for M measured against what patrols and dispatch did
        execution_stage(bureau, month, sp, previous, spread, planned)
        if has_execution_data(bureau)
        else None
    )
    tick("execution")
    weights = stages.bureau_station_weights(bureau, month)
    quality = (
        stages.quality_stage(bureau, month, cases, weights, executed)
        if executed is not None
        else shared.get(
            "quality",
            reads["quality"],
            lambda: stages.quality_stage(bureau, month, cases, weights),
        )
    )
    surveyed = shared.get(  # §17: bursts of the public's survey answers of the month
        "survey",
        {"timezone": cfg.timezone},
        lambda: stored_bursts(store_url, month, timezone_of(cfg.timezone)),
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
    tick("forecast", "allocate and route")
    reserve = executed.reserve if executed is not None else None
    allocated, missions = stages.planned_missions(
        bureau,
        month,
        sp,
        cases,
        forecast.risk,
        previous,
        scenario.deltas.stability,
        reserve,
        spread,
    )
    evaluated = (
        stages.evaluation_stage(
            month,
            sp,
            cases,
            previous,
            executed,
            cfg.execution.min_visit_minutes,
            run.previous.experiment,
        )
        if previous is not None
        else None
    )
    tick("allocate and route", "staffing")
    staffed, unstaffed = monthly_staffing(  # §19: a recommendation beside the plan
        bureau,
        month,
        sp,
        forecast.risk,
        previous,
        allocated,
        stability=scenario.deltas.stability,
        reserve=reserve,
        lang=lang,
    )
    tick("staffing", "train")
    trained = stages.training_stage(bureau, month, scored, lang)
    tick("train", "write")
    hand_back_memory()

    names = BureauNames.from_tables(bureau.offences, bureau.stations)
    with Staging(Path(out) / plan_month / scenario.name) as staging:
        scored.write(staging.folder)
        warnings = [stages.forecast_warnings(forecast, plan_month), surveyed]
        flags = pd.concat([quality.flags, *(w for w in warnings if len(w))], ignore_index=True)
        write_outputs(staging.folder, {"quality.csv": flags, "risk.csv": forecast.risk})
        allocated.write(staging.folder)
        missions.write(staging.folder)
        if evaluated is not None:
            evaluated.write(staging.folder)
        if executed is not None:
            executed.write(staging.folder)
        trained.write(staging.folder)
        if staffed is not None:
            staffed.write(staging.folder)
        hotspots.write(staging.folder)
        jurisdictions = jurisdiction_layer(
            bureau.stations, scored.month_scores, allocated.plan.allocation_
        )
        write_outputs(staging.folder, {"jurisdictions.geojson": jurisdictions})
        write_maps(
            staging.folder,
            cfg,
            names=names,
            title=map_title(lang, plan_month, scenario.name),
            cells=allocated.cells,
            risk=forecast.risk,
            allocation=allocated.plan.allocation_,
            allocation_geo=allocated.geo,
            schedule=missions.schedule,
            hotspots=hotspots.hotspots,
            jurisdictions=jurisdictions,
            execution=executed.execution if executed is not None else None,
            lang=lang,
            routes=missions.routes,
            missions=missions.missions,
        )
        tick("write")
        plan = plan_record(
            month=month,
            plan_month=plan_month,
            scenario=scenario,
            inputs={p.name: sha256_file(p) for p in bureau.files.values()},
            other_inputs={
                role: {"path": str(path.resolve()), "sha256": sha256_file(path)}
                for role, path in {
                    **run.input_files,
                    **(planned.input_files() if planned is not None else {}),
                }.items()
            },
            sp=sp,
            forecast=forecast,
            allocated=allocated,
            previous=previous,
            names=names,
            timings=timings,
            staffing=staffed.record() if staffed is not None else {"warnings": unstaffed},
        )
        (staging.folder / "report.html").write_text(
            render_report([staging.folder], lang, plans=[plan]), encoding="utf-8"
        )
        plan = staging.seal(plan)
        entry = publish(
            staging, plan, store_url, Path(out), bureau.files, anchor, on_wait=on_wait or progress
        )
    return RunResult(staging.target, plan, entry, timings)


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
    *,
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
    Every scenario builds on the plan last month carries out (`--previous-plan`, else the
    stored plan of its adopted scenario, else the baseline's); an impossible scenario is
    diagnosed and the others are still planned. `on_wait` hears when another run holds the
    store's lock (default: `progress`). The work that splits into pieces runs on `spread`
    (one process, or Dask workers: the same plan). Raises `InputError` (bad input, nothing
    written)."""
    url = db or default_store_url(out)
    check_store(url, out)
    bureau = load_bureau(data)
    require_month(bureau, month)
    shared = SharedSteps()
    stored = (
        previous_allocation(url, month, stored_adoption(url, month).scenario)
        if store_exists(url)
        else None
    )
    if previous_plan is None and stored is None:
        previous_plan = baselines_given_plan(out, month)
        if previous_plan is not None:
            progress(f"building on {previous_plan}, the plan the baseline was planned from")
    runs = checked_run(
        bureau,
        month,
        Path(data),
        scenario_files=scenario_files,
        previous_plan=previous_plan,
        stored_plan=stored,
        shared=shared,
    )
    Path(out).mkdir(parents=True, exist_ok=True)
    results, impossible = [], []
    for run in runs:
        try:
            results.append(
                run_cycle(
                    bureau,
                    month,
                    out,
                    run,
                    store_url=url,
                    shared=shared,
                    lang=lang,
                    progress=progress,
                    anchor=anchor,
                    on_wait=on_wait or progress,
                    spread=spread,
                )
            )
        except InfeasiblePlan as exc:
            prefix = f"scenario {run.scenario.name}: " if len(runs) > 1 else ""
            impossible += [prefix + line for line in exc.diagnosis]
    return MonthResult(results, impossible)
