"""Pre-filled values the execution data give (SPEC §17 with §13): patrol coverage from the GPS
tracks against the plan the month carried out, and the share of calls answered within target
from the dispatch records — the automatic collection that replaces the ledgers. The month is
measured as `patrolopt execution` measures it, once per change of its files or its plan."""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd

from models.contracts import load_bureau
from models.errors import InputError
from models.quality import EXECUTION_METRICS
from optimizer.adoption import logged_adoption
from optimizer.execution import execution_stage, has_execution_data, plan_to_measure
from optimizer.manifest import PLAN_FILE
from optimizer.stages import spatial

EXECUTION_FILES = ("patrol_tracks", "calls", "stations", "config")
PREFILL_COLUMNS = ["station_id", "indicator_id", "prefilled"]


def _stamp(path: Path) -> tuple | None:
    return (path.name, path.stat().st_mtime_ns, path.stat().st_size) if path.exists() else None


def measured_prefill(data: Path, out: Path, month: str, indicators: pd.DataFrame) -> pd.DataFrame:
    """`station_id, indicator_id, prefilled` of the indicators whose `case_metric` the
    execution data measure (`patrol_coverage`, `response_within_target`), for `month`; none
    without such indicators, tracks or calls, or when those files cannot be read (the desk
    offers what it can measure; the run names the files' problems)."""
    metrics = indicators.get("case_metric", pd.Series("", index=indicators.index)).fillna("")
    wanted = tuple(
        (str(i), str(m))
        for i, m in zip(indicators["indicator_id"], metrics, strict=True)
        if m in EXECUTION_METRICS
    )
    if not wanted:
        return pd.DataFrame(columns=PREFILL_COLUMNS)
    files = tuple(
        _stamp(path) for path in sorted(Path(data).iterdir()) if path.stem in EXECUTION_FILES
    )
    scenario = logged_adoption(out, month).scenario
    plan = _stamp(Path(out) / month / scenario / PLAN_FILE)
    return _measured(str(data), str(out), month, wanted, files, scenario, plan).copy()


@functools.lru_cache(maxsize=8)
def _measured(
    data: str, out: str, month: str, wanted: tuple, _files: tuple, _scenario: str, _plan: tuple
) -> pd.DataFrame:
    try:
        bureau = load_bureau(Path(data), {"stations", "patrol_tracks", "calls"})
    except InputError:
        return pd.DataFrame(columns=PREFILL_COLUMNS)
    if not has_execution_data(bureau):
        return pd.DataFrame(columns=PREFILL_COLUMNS)
    plan, missions = plan_to_measure(Path(out), month, None, bureau.config)
    measured = execution_stage(bureau, month, spatial(bureau), plan, missions=missions).metrics
    rows = [
        (station, indicator, float(value))
        for indicator, metric in wanted
        for (station, _month), value in measured.get(metric, pd.Series(dtype=float)).items()
        if pd.notna(value)
    ]
    return pd.DataFrame(rows, columns=PREFILL_COLUMNS)
