"""The monthly cycle (SPEC §3): validate, quality, score, hotspots, forecast, allocate, train,
write, render. Each stage is a function of the loaded bureau; `run_cycle` chains them and writes
the plan for M+1 through a staging folder renamed at the end."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.crs import metric_crs, project, unproject
from geo.grid import assign_cells, cell_polygons, jurisdiction_cells
from geo.jurisdictions import neighbours
from geo.maps import LABELS, jurisdiction_layer, offence_names, plan_map, write_geopackage
from models import quality as q
from models.config import Scenario
from models.contracts import Bureau
from models.evaluation import evaluate_plan
from models.forecast import forecast_risk
from models.hotspots import find_hotspots
from models.policy import policy_shares, station_weights
from models.scoring import (
    awards,
    indicator_scores,
    rank_sensitivity,
    redundant_pairs,
    rollups,
    score_months,
)
from models.shifts import shift_of
from models.training import course_effectiveness, find_gaps, training_bonus, training_effects
from optimizer.allocation import Allocation, allocate, patrol_balance
from optimizer.report import render_report
from optimizer.schedule import visit_schedule
from optimizer.store import sha256_file
from optimizer.train import assign_seats, seat_demand, write_training_xlsx


def next_month(month: str) -> str:
    return str(pd.Period(month, "M") + 1)


@dataclass
class Spatial:
    """The bureau in metres: CRS, projected stations, jurisdiction cells, case coordinates."""

    crs: object
    stations: gpd.GeoDataFrame
    cells: pd.DataFrame
    x: np.ndarray
    y: np.ndarray


def spatial(bureau: Bureau) -> Spatial:
    cfg = bureau.config
    cases = bureau.cases
    bounds = bureau.stations.total_bounds
    crs = metric_crs(cfg.crs, [(bounds[0] + bounds[2]) / 2], [(bounds[1] + bounds[3]) / 2])
    stations = bureau.stations.to_crs(crs)
    cells = jurisdiction_cells(stations, cfg.grid.cell_size_m)
    x, y = project(cases["lon"], cases["lat"], crs)
    return Spatial(crs, stations, cells, x, y)


def cases_upto(
    bureau: Bureau, month: str, sp: Spatial
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Cases up to the end of `month` with cell and shift; later rows are ignored."""
    keep = (bureau.cases["month"] <= month).to_numpy()
    cases = bureau.cases[keep].copy()
    x, y = sp.x[keep], sp.y[keep]
    cases["cell_id"] = assign_cells(x, y, bureau.config.grid.cell_size_m)
    cases["shift"] = shift_of(cases["occurred_at"], bureau.config.allocation.shift_hours)
    return cases.reset_index(drop=True), x, y


@dataclass
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


def score_stage(bureau: Bureau, month: str) -> ScoreResult:
    """Scores of every month up to `month` (streaks need history); outputs for `month`."""
    cfg = bureau.config.scoring
    weights = station_weights(bureau.weights, bureau.stations, bureau.flex_weights)
    values = bureau.scores[bureau.scores["month"] <= month]
    months = sorted(values["month"].unique())
    if month not in months:
        months.append(month)
    ind = indicator_scores(values, bureau.indicators, weights, bureau.stations, months, cfg.missing)
    effects = (
        training_effects(ind, bureau.training_log, bureau.courses, month)
        if bureau.courses is not None
        else pd.DataFrame()
    )
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
    )


def quality_stage(bureau: Bureau, month: str, sp: Spatial) -> pd.DataFrame:
    """All data-quality flags for `month` (`quality.csv`)."""
    cfg = bureau.config
    parts = []
    if bureau.scores is not None and bureau.weights is not None:
        weights = station_weights(bureau.weights, bureau.stations, bureau.flex_weights)
        parts += [
            q.report_checks(bureau.scores, weights, month, cfg.scoring.report_deadline_day),
            q.jump_checks(bureau.scores[bureau.scores["month"] <= month], month),
        ]
        parts.append(q.case_metric_checks(bureau.scores, bureau.indicators, bureau.cases, month))
    in_month = (bureau.cases["month"] == month).to_numpy()
    month_cases = bureau.cases[in_month]
    parts += [
        q.duplicate_case_checks(month_cases, sp.x[in_month], sp.y[in_month]),
        q.station_mismatch_checks(month_cases),
    ]
    outside = bureau.outside_cases
    if len(outside):
        parts.append(q.outside_checks(outside[outside["month"] <= month]))
    out = (
        pd.concat([p for p in parts if len(p)], ignore_index=True)
        if any(len(p) for p in parts)
        else pd.DataFrame(columns=q.QUALITY_COLUMNS)
    )
    out["month"] = out["month"].replace("", month)
    return (
        out[q.QUALITY_COLUMNS]
        .astype(str)
        .sort_values(["check", "station_id", "indicator_id", "case_id"], ignore_index=True)
    )


def apply_deltas(bureau: Bureau, scenario: Scenario) -> Bureau:
    """A copy of the bureau with the scenario's officer and harm changes applied."""
    stations = bureau.stations.copy()
    change = (
        stations["station_id"]
        .map(scenario.deltas.officers)
        .fillna(scenario.deltas.officers.get("*", 0.0))
    )
    stations["officers"] = stations["officers"] * (1 + change)
    cases = bureau.cases.copy()
    cases["harm"] = cases["harm"] * cases["category"].map(scenario.deltas.harm).fillna(1.0)
    return Bureau(
        **{**bureau.__dict__, "stations": stations, "cases": cases, "config": scenario.config}
    )


def risk_stage(
    bureau: Bureau, month: str, sp: Spatial, cases: pd.DataFrame
) -> tuple[pd.DataFrame, str]:
    """`risk.csv` for the month after `month` (SPEC §5) and the forecast model chosen."""
    cfg = bureau.config
    risk, model = forecast_risk(
        cases,
        sp.cells,
        cfg.grid.cell_size_m,
        cfg.allocation.shifts,
        month,
        cfg.forecast.backtest_months,
        cfg.forecast.selection_coverage,
    )
    risk = risk.merge(sp.cells[["cell_id", "station_id", "x", "y"]], on="cell_id")
    lon, lat = unproject(risk["x"], risk["y"], sp.crs)
    risk["lat"], risk["lon"] = np.round(lat, 6), np.round(lon, 6)
    return risk[["cell_id", "shift", "risk", "station_id", "x", "y", "lat", "lon"]], model


@dataclass
class AllocationResult:
    """The allocation stage's outputs: the solved plan, its visit schedule, its cells as
    WGS84 polygons (`allocation.geojson`) and the per-station patrol balance."""

    plan: Allocation
    schedule: pd.DataFrame
    cells: gpd.GeoDataFrame
    geo: gpd.GeoDataFrame
    balance: pd.DataFrame


def allocation_stage(
    bureau: Bureau,
    month: str,
    sp: Spatial,
    cases: pd.DataFrame,
    risk: pd.DataFrame,
    previous: pd.DataFrame | None,
    stability: bool = True,
) -> AllocationResult:
    """Patrol hours for the month after `month` (SPEC §6) and everything written from them;
    `stability = False` plans without the stability terms but still against `previous`."""
    cfg = bureau.config
    plan = allocate(
        risk,
        sp.cells,
        bureau.stations,
        neighbours(sp.stations),
        cfg.allocation,
        previous,
        stability=stability,
    )
    cells = cell_polygons(sp.cells, cfg.grid.cell_size_m, sp.crs).to_crs("EPSG:4326")
    per_cell = plan.allocation.groupby(["cell_id", "shift"], as_index=False, sort=False).agg(
        hours=("hours", "sum"),
        prev_hours=("prev_hours", "first"),
        risk=("risk", "first"),
        station_id=("station_id", "first"),
    )
    recent = cases[(cases["month"] == month) & cases["patrol_sensitive"].fillna(False).astype(bool)]
    return AllocationResult(
        plan=plan,
        schedule=visit_schedule(plan.allocation, next_month(month)),
        cells=cells,
        geo=cells[["cell_id", "geometry"]].merge(per_cell, on="cell_id"),
        balance=patrol_balance(plan.allocation, sp.cells, recent, cfg.grid.cell_size_m),
    )


@dataclass
class RunResult:
    folder: Path
    plan: dict
    timings: dict = field(default_factory=dict)


_RENAME_EXCHANGE = 2  # renameat2 flag: swap two paths atomically (Linux ≥ 3.15)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directory entries in one step; False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    result = renameat2(
        at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), ctypes.c_uint(_RENAME_EXCHANGE)
    )
    return result == 0


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


def clear_abandoned(folder: Path) -> None:
    """Remove the dot folders (`.<scenario>.staging-<pid>`, `.<scenario>.old-<pid>`) that runs
    killed before their end left in `folder`; those of runs still going are kept."""
    for path in folder.glob(".*-*"):
        kind, _, pid = path.name.rpartition("-")
        if not (path.is_dir() and pid.isdigit() and kind.endswith((".staging", ".old"))):
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            pass  # a live process of another user


def swap_into_place(staging: Path, target: Path) -> None:
    """Replace `target` by `staging` so that at every instant the target path holds the old
    complete plan or the new one: an atomic exchange where the system has it, else two renames
    with the old plan kept in a dot folder until the new one is in place."""
    if not target.exists():
        os.replace(staging, target)
    elif _exchange(staging, target):
        shutil.rmtree(staging, ignore_errors=True)  # now holds the old plan
    else:
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)


def run_cycle(
    bureau: Bureau,
    month: str,
    out: Path,
    scenario: Scenario,
    previous: pd.DataFrame | None = None,
    lang: str = "en",
    progress=lambda step: None,
    publish: Callable[[Path, Path, dict], None] | None = None,
) -> RunResult:
    """Run every stage for `month` and write the plan for M+1 to `out/<M+1>/<scenario>/`.

    The files are written to a dot folder first; `publish(staging, target, plan)` puts them in
    place (default: an atomic swap) — the CLI's publish also stores the run, under the store's
    lock, so that folder, store and audit log change together."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def tick(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = round(now - clock, 3)
        clock = now
        progress(step)

    inputs = {p.name: sha256_file(p) for p in bureau.files.values()}
    bureau = apply_deltas(bureau, scenario)
    cfg = bureau.config
    plan_month = next_month(month)
    sp = spatial(bureau)
    cases, cx, cy = cases_upto(bureau, month, sp)
    quality = quality_stage(bureau, month, sp)
    tick("quality")
    scored = score_stage(bureau, month)
    tick("score")
    area = float(sp.stations.union_all().area)
    hotspots = find_hotspots(cases, cx, cy, month, cfg.hotspots, sp.crs, area)
    tick("hotspots")
    risk, model = risk_stage(bureau, month, sp, cases)
    tick("forecast")
    allocated = allocation_stage(
        bureau, month, sp, cases, risk, previous, scenario.deltas.stability
    )
    result = allocated.plan
    tick("allocate")
    gaps = find_gaps(scored.all_indicator_scores, month, cfg.training.gap_score)
    effects = course_effectiveness(
        scored.all_indicator_scores, bureau.training_log, bureau.courses, month
    )
    training = assign_seats(
        gaps,
        bureau.courses,
        bureau.stations,
        bureau.indicators,
        cfg.training.gap_score,
        cfg.training.max_training_hours_per_officer,
        effects,
        lang,
    )
    demand = seat_demand(gaps, bureau.courses, bureau.stations, training, effects)
    tick("train")

    target = Path(out) / plan_month / scenario.name
    target.parent.mkdir(parents=True, exist_ok=True)
    clear_abandoned(target.parent)
    staging = target.parent / f".{scenario.name}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        frames = {
            "scores.csv": scored.month_scores,
            "indicator_scores.csv": scored.indicator_scores,
            "quality.csv": quality,
            "risk.csv": risk,
            "allocation.csv": result.allocation,
            "duals.csv": result.duals,
            "binding.csv": result.binding,
            "schedule.csv": allocated.schedule,
            "patrol_balance.csv": allocated.balance,
            **(
                {"evaluation.csv": evaluate_plan(previous, sp.cells, cases, month)}
                if previous is not None
                else {}
            ),
            "training.csv": training,
            "rank_sensitivity.csv": scored.sensitivity,
            "rollups.csv": scored.rollups,
            "policy.csv": scored.policy,
            "indicator_pairs.csv": scored.pairs,
            "awards.csv": scored.awards,
        }
        for name, frame in frames.items():
            frame.to_csv(staging / name, index=False)
        write_training_xlsx(training, staging / "training.xlsx", demand)
        hotspots_geo = hotspots.to_crs("EPSG:4326")
        hotspots_geo.to_file(staging / "hotspots.geojson", driver="GeoJSON")
        cells, alloc_geo = allocated.cells, allocated.geo
        alloc_geo.to_file(staging / "allocation.geojson", driver="GeoJSON")
        jurisdictions = jurisdiction_layer(bureau.stations, scored.month_scores, result.allocation)
        jurisdictions.to_file(staging / "jurisdictions.geojson", driver="GeoJSON")
        risk_geo = cells[["cell_id", "geometry"]].merge(
            risk[["cell_id", "shift", "risk", "station_id"]], on="cell_id"
        )
        write_geopackage(
            {
                "allocation": alloc_geo,
                "hotspots": hotspots_geo,
                "risk": risk_geo,
                "jurisdictions": jurisdictions,
            },
            staging / "plan.gpkg",
        )
        plan_map(
            jurisdictions,
            cells[["cell_id", "geometry"]],
            risk,
            alloc_geo.drop(columns="geometry"),
            hotspots_geo,
            allocated.schedule,
            cfg.map.tiles,
            cfg.map.attribution,
            lang,
            title=LABELS[lang]["title"].format(month=plan_month, scenario=scenario.name),
            names=offence_names(bureau.offences),
            tiles_datum=cfg.map.tiles_datum,
        ).save(str(staging / "map.html"))
        tick("write")
        plan = {
            "month": month,
            "plan_month": plan_month,
            "scenario": scenario.name,
            "inputs": inputs,
            "parameters": cfg.model_dump(mode="json"),
            "deltas": scenario.deltas.model_dump(mode="json"),
            "models": {
                "forecast": model,
                "crs": sp.crs.to_string(),
                "hotspots": cfg.hotspots.method,
            },
            "solver": {"name": "HiGHS", "status": result.status, "path": result.path},
            "previous_plan": previous_plan_match(previous, sp.cells),
            "objective": result.objective,
            "harm_covered_share": result.harm_covered_share,
            "hours_moved": result.hours_moved,
            "binding_constraints": result.binding["rule"].value_counts(sort=False).to_dict(),
            "timings_s": timings,
        }
        (staging / "plan.json").write_text(
            json.dumps(plan, indent=2, ensure_ascii=False), encoding="utf-8"
        )
        (staging / "report.html").write_text(render_report([staging], lang), encoding="utf-8")
        plan["outputs"] = {p.name: sha256_file(p) for p in sorted(staging.iterdir())}
        (staging / "plan.json").write_text(
            json.dumps(plan, indent=2, ensure_ascii=False), encoding="utf-8"
        )
        (publish or (lambda staged, final, _plan: swap_into_place(staged, final)))(
            staging, target, plan
        )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return RunResult(target, plan, timings)
