"""The finished run folders a report reads (SPEC §9): one `Run` per folder, every table it
shows, the optional ones (balance, policy, evaluation, binding rules, execution, missions,
staffing) where present."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

from models.errors import InputError, Problem
from models.scenarios import BASELINE
from optimizer.i18n import BureauNames, texts
from optimizer.manifest import EXPERIMENT_FILE, OUTPUTS, SERVED

REQUIRED = [o.name for o in OUTPUTS.values() if o.report == "required"]
MISSIONS_SUMMARY = SERVED["missions_summary"].name
STAFFING_FILE = OUTPUTS["staffing.csv"].name


@dataclass
class Run:
    """One finished run folder as the report reads it. `stations` holds the jurisdictions
    (`station_id`, `name` when known, geometry) with the month's scores."""

    folder: Path
    label: str
    plan: dict
    allocation: pd.DataFrame
    duals: pd.DataFrame
    training: pd.DataFrame
    scores: pd.DataFrame
    quality: pd.DataFrame
    sensitivity: pd.DataFrame
    stations: gpd.GeoDataFrame
    balance: pd.DataFrame | None
    policy: pd.DataFrame | None
    evaluation: pd.DataFrame | None
    binding: pd.DataFrame | None
    names: BureauNames
    adherence: pd.DataFrame | None = None
    response: pd.DataFrame | None = None
    reserve: pd.DataFrame | None = None
    missions: pd.DataFrame | None = None  # missions_summary.csv: per station and shift
    missions_done: pd.DataFrame | None = None
    experiment: pd.DataFrame | None = None  # experiment.csv: the randomized dose experiment
    staffing: pd.DataFrame | None = None  # staffing.csv: officers per station recommended

    @property
    def station_names(self) -> pd.Series:
        """Station id → name (empty when the jurisdictions carry none)."""
        if "name" not in self.stations:
            return pd.Series(dtype=str)
        return self.stations.set_index("station_id")["name"].fillna("")


def _optional(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path, keep_default_na=False) if path.exists() else None


def _jurisdictions(folder: Path) -> gpd.GeoDataFrame:
    """`jurisdictions.geojson`, or for runs written before it the allocation cells merged per
    station."""
    if (folder / "jurisdictions.geojson").exists():
        frame = gpd.read_file(folder / "jurisdictions.geojson")
        return frame[[c for c in ("station_id", "name", "geometry") if c in frame.columns]]
    cells = gpd.read_file(folder / "allocation.geojson").drop_duplicates("cell_id")
    return cells[["station_id", "geometry"]].dissolve("station_id", as_index=False)


def load_runs(
    folders: Sequence[Path], plans: Sequence[dict] | None = None, lang: str | None = None
) -> list[Run]:
    """Every run folder's tables; an `InputError` names every missing file of every folder.
    `plans` stand in for the folders' plan.json (a run being written has none yet); with
    `lang`, labels name the baseline in that language (`run_labels`)."""
    required = REQUIRED if plans is None else [n for n in REQUIRED if n != "plan.json"]
    problems = [
        Problem(str(Path(folder) / name), 0, "", "missing: not a finished run folder")
        for folder in folders
        for name in required
        if not (Path(folder) / name).exists()
    ]
    if problems:
        raise InputError(problems)
    folders = [Path(folder) for folder in folders]
    if plans is None:
        plans = [json.loads((f / "plan.json").read_text(encoding="utf-8")) for f in folders]
    runs = []
    for folder, plan, label in zip(folders, plans, run_labels(plans, lang), strict=True):
        scores = pd.read_csv(folder / "scores.csv", keep_default_na=False)
        scores["veto"] = scores["veto"].astype(str).eq("True")
        allocation = pd.read_csv(folder / "allocation.csv", keep_default_na=False)
        allocation["hours"] = pd.to_numeric(allocation["hours"])
        stations = _jurisdictions(folder).merge(
            scores[["station_id", "grade"]], on="station_id", how="left"
        )
        runs.append(
            Run(
                folder=folder,
                label=label,
                plan=plan,
                allocation=allocation,
                duals=pd.read_csv(folder / "duals.csv"),
                training=pd.read_csv(folder / "training.csv", keep_default_na=False),
                scores=scores,
                quality=pd.read_csv(folder / "quality.csv", keep_default_na=False, dtype=str),
                sensitivity=pd.read_csv(folder / "rank_sensitivity.csv"),
                stations=stations,
                balance=_optional(folder / "patrol_balance.csv"),
                policy=_optional(folder / "policy.csv"),
                evaluation=_optional(folder / "evaluation.csv"),
                binding=_optional(folder / "binding.csv"),
                names=BureauNames.from_json(plan.get("names")),
                adherence=_optional(folder / "adherence.csv"),
                response=_optional(folder / "response.csv"),
                reserve=_optional(folder / "reserve.csv"),
                missions=_optional(folder / MISSIONS_SUMMARY),
                missions_done=_optional(folder / "missions_done.csv"),
                experiment=_optional(folder / EXPERIMENT_FILE),
                staffing=_optional(folder / STAFFING_FILE),
            )
        )
    return runs


def run_labels(plans: Sequence[dict], lang: str | None = None) -> list[str]:
    """A distinct column heading per run: its scenario (the baseline named in `lang` when
    given: "Baseline", not the folder's id), with the plan month when the runs are of several
    months, numbered when still repeated."""
    several_months = len({p["plan_month"] for p in plans}) > 1
    baseline = texts(lang, "compare")["baseline_name"] if lang else BASELINE
    names = [baseline if p["scenario"] == BASELINE else p["scenario"] for p in plans]
    labels = [
        f"{name} {p['plan_month']}" if several_months else name
        for name, p in zip(names, plans, strict=True)
    ]
    return [
        f"{label} ({labels[:i].count(label) + 1})" if labels[:i].count(label) else label
        for i, label in enumerate(labels)
    ]
