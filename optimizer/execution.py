"""The execution stage (SPEC §13): month M's pings and dispatch records measured against the
plan for M, before M+1 is planned. Used by `patrolopt execution` and by `run`.

Where the plan for M has missions (SPEC §16) and the tracks' units are theirs, each planned
stop is checked (`missions_done.csv`) and each unit's adherence measured. The missions are
those published with the plan being measured:

- a plan given as a file (`run --previous-plan`, `execution --plan`): `missions.csv`, else
  `missions.parquet`, in the same folder, as a run folder holds them beside its
  `allocation.csv`;
- a stored plan: those of its run folder `OUT/<M>/<scenario>/`, else the store's `missions`
  rows of that month and scenario.

Only the missions dated in M count. Without them the stage measures the plan as before."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from models.columns import Column, coerce, number_columns
from models.config import Config, timezone_of
from models.contracts import Bureau, load_previous_plan
from models.erlang import WINDOW_MONTHS, response_reserve
from models.errors import InputError
from models.execution import (
    adherence_table,
    execution_table,
    measured_metrics,
    missions_done,
    month_calls,
    response_table,
    track_quality,
    unit_cells,
    unseen_units,
)
from models.months import previous_month
from models.quality import QUALITY_COLUMNS
from models.reading import Table, read_table
from models.scenarios import BASELINE
from models.spread import IN_PROCESS, Spread
from models.tracks import TrackRules, measure_tracks
from optimizer.manifest import PLANS_DB, default_store_url, write_outputs
from optimizer.missions.columns import DONE_COLUMNS

EXECUTION_FILES = ("execution.csv", "adherence.csv", "response.csv")
MISSION_FILES = ("missions.csv", "missions.parquet")  # as a run folder holds them
PLANNED_STOPS = [  # the columns of the missions the check reads (SPEC §16 missions.csv)
    Column("station_id"),
    Column("date"),
    Column("shift"),
    Column("unit_id"),
    Column("stop", "integer", minimum=1),
    Column("cell_id"),
    Column("arrive", "datetime"),
    Column("minutes", "number", minimum=0),
    Column("officers", "integer", required=False, allow_empty=True, minimum=1),
]


@dataclass(frozen=True)
class PlannedMissions:
    """The missions of the plan being measured (`PLANNED_STOPS` typed, `arrive` a naive
    local datetime, `officers` filled with the crew size where empty) and `path`, the file
    beside a plan given as a file (recorded with the run's inputs, as that plan is); None for
    a stored plan's missions."""

    stops: pd.DataFrame
    path: Path | None = None

    def input_files(self) -> dict[str, Path]:
        """The file the missions were read from, by its role among a run's inputs."""
        return {"previous_missions": self.path} if self.path is not None else {}


@dataclass(frozen=True)
class ExecutionResult:
    """Month M as carried out: `execution`, `adherence` (None without tracks), `response`
    (None without calls), the `quality` flags of the pings, the `metrics` the third-party
    check compares reported values with, the patrol `dose` per station, cell and shift (and
    `dose_before`, that of month M−1 where the tracks reach back to it), the response
    `reserve` (units and hours per station and shift) for month M+1, and, where the tracks'
    units are those of the plan's missions, `missions_done`: each planned stop checked."""

    month: str
    execution: pd.DataFrame | None
    adherence: pd.DataFrame | None
    response: pd.DataFrame | None
    quality: pd.DataFrame
    metrics: dict[str, pd.Series] = field(default_factory=dict)
    dose: pd.DataFrame | None = None
    dose_before: pd.DataFrame | None = None
    reserve: pd.DataFrame | None = None
    missions_done: pd.DataFrame | None = None

    def files(self) -> dict[str, pd.DataFrame]:
        """The frames written for this stage, by file name."""
        frames = {
            "execution.csv": self.execution,
            "adherence.csv": self.adherence,
            "response.csv": self.response,
            "reserve.csv": self.reserve,
            "missions_done.csv": self.missions_done,
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
    missions: PlannedMissions | None = None,
) -> ExecutionResult:
    """Measure `month` from the bureau's pings and calls against `plan` (an allocation frame
    for that month, or None: then every delivered hour is off plan) and its `missions` (or
    None) on the grid of `sp` (`stages.Spatial`: metric `crs`, jurisdiction `cells`, `grid`);
    the pings are measured on `spread`."""
    cfg = bureau.config
    crs, cells, rules = sp.crs, sp.cells, track_rules(bureau, sp.grid.size_m)
    if plan is not None:  # a plan file without stations: each cell's own station
        holder = plan["cell_id"].astype(str).map(cells.set_index("cell_id")["station_id"])
        given = plan.get("station_id", pd.Series("", index=plan.index)).fillna("").astype(str)
        plan = plan.assign(station_id=given.where(given != "", holder.fillna("")))
    shifts = cfg.allocation.shifts
    execution = adherence = response = dose = dose_before = reserve = done = None
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
        stops = _month_stops(missions, month)
        units = None
        if stops is not None:
            tracked = _tracked_units(bureau.patrol_tracks, month)
            quality.append(unseen_units(stops, tracked, month))
            if stops["unit_id"].isin(tracked).any():
                on_time = cfg.missions.on_time_min
                done = missions_done(stops, delivered.visits, on_time)[DONE_COLUMNS]
                units = unit_cells(stops, delivered.unit_dose)
        adherence = adherence_table(execution, shifts, units)
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
        missions_done=done,
    )


def _month_stops(missions: PlannedMissions | None, month: str) -> pd.DataFrame | None:
    """The planned stops dated in `month` (a night shift keeps its start date), or None."""
    if missions is None:
        return None
    stops = missions.stops[missions.stops["date"].astype(str).str.startswith(f"{month}-")]
    return stops.reset_index(drop=True) if len(stops) else None


def _tracked_units(tracks: pd.DataFrame, month: str) -> set[str]:
    """The units with a ping recorded in `month`, through the unit column's codes (tens of
    millions of pings, a few hundred units)."""
    period = pd.Period(month, "M")
    times = tracks["recorded_at"].to_numpy()
    inside = (times >= period.start_time.to_datetime64()) & (
        times < (period + 1).start_time.to_datetime64()
    )
    units = tracks["unit_id"]
    units = units if isinstance(units.dtype, pd.CategoricalDtype) else units.astype("category")
    codes = np.unique(units.cat.codes.to_numpy()[inside])
    return set(units.cat.categories[codes[codes >= 0]].astype(str))


def plan_to_measure(
    out: Path, month: str, plan_file: Path | None, config: Config
) -> tuple[pd.DataFrame | None, PlannedMissions | None]:
    """`patrolopt execution`'s plan for `month` and its missions: `plan_file` (an
    `allocation.csv`), else the plan the month carried out as stored in `out` (the adopted
    scenario's, else the baseline's; SPEC §18); (None, None) without one."""
    shifts = config.allocation.shifts
    crew, store_url = config.missions.officers_per_unit, default_store_url(out)
    if plan_file:
        plan, scenario = load_previous_plan(plan_file, shifts), BASELINE
    else:
        scenario = _carried_out(out, month)
        plan = stored_plan(out, month, scenario)
    if plan is None:
        return None, None
    missions = plan_missions(
        month, crew, plan_file=plan_file, out=out, store_url=store_url, scenario=scenario
    )
    return plan, missions


def _carried_out(out: Path, month: str) -> str:
    """The scenario of `month` the bureau carried out: the adopted one in `out`'s store (never
    created here), else the baseline."""
    if not (Path(out) / PLANS_DB).exists():
        return BASELINE
    from optimizer.adoption import stored_adoption

    return stored_adoption(default_store_url(out), month).scenario


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


def _typed_stops(table: Table, officers_per_unit: int) -> pd.DataFrame:
    """Missions rows typed by `PLANNED_STOPS`, every problem raised at once as `InputError`
    (file:row:column); empty `officers` are a crew of `officers_per_unit`."""
    typed = coerce(table, PLANNED_STOPS, timezone_of(""))
    if typed.problems:
        raise InputError(typed.problems)
    frame = typed.frame
    officers = frame["officers"] if "officers" in frame else pd.Series(np.nan, index=frame.index)
    return frame.assign(
        stop=frame["stop"].astype(np.int64),
        officers=officers.fillna(officers_per_unit).astype(np.int64),
    )


def plan_missions(
    month: str,
    officers_per_unit: int,
    *,
    plan_file: Path | None,
    out: Path,
    store_url: str,
    scenario: str = BASELINE,
) -> PlannedMissions | None:
    """The missions of the plan for `month` being measured: beside `plan_file` when the plan
    was given as a file, else those of the stored plan of `scenario` (the one the month
    carried out). None when there are none."""
    if plan_file is not None:
        return _missions_beside(plan_file, officers_per_unit)
    return _stored_missions(out, store_url, month, scenario, officers_per_unit)


def _missions_beside(plan_file: Path, officers_per_unit: int) -> PlannedMissions | None:
    """The missions published with a plan given as a file: `missions.csv`, else
    `missions.parquet`, in its folder; None when there are none. Raises InputError when the
    file is not a missions table."""
    folder = Path(plan_file).parent
    for name in MISSION_FILES:
        path = folder / name
        if path.is_file():
            table = read_table(path, number_columns(PLANNED_STOPS))
            return PlannedMissions(_typed_stops(table, officers_per_unit), path)
    return None


def _stored_missions(
    out: Path, store_url: str, month: str, scenario: str, officers_per_unit: int
) -> PlannedMissions | None:
    """The missions of the stored plan of `month` and `scenario`: beside its `allocation.csv`
    in `OUT/<month>/<scenario>/`, else the store's `missions` rows of that month and
    scenario. None when that plan has no missions, or there is no plan."""
    folder = Path(out) / month / scenario
    if (folder / "allocation.csv").is_file():
        found = _missions_beside(folder / "allocation.csv", officers_per_unit)
        return PlannedMissions(found.stops) if found is not None else None
    held, rows = _store_rows(store_url, month, scenario)
    if not held or rows is None:
        return None
    source = f"the missions for {month} ({scenario}) in the store"
    return PlannedMissions(_typed_stops(Table(source, Path(), rows, 1), officers_per_unit))


def _store_rows(url: str, month: str, scenario: str) -> tuple[bool, pd.DataFrame | None]:
    """Whether the store at `url` (never created here) holds a plan for `month` and
    `scenario`, and its `missions` rows as text (None when it has none)."""
    from sqlalchemy import inspect, text

    from optimizer.store import open_engine, store_exists

    if not store_exists(url):
        return False, None
    key = {"m": month, "s": scenario}
    where = "WHERE plan_month = :m AND scenario = :s"
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            if "allocation" not in tables:
                return False, None
            if conn.execute(text(f"SELECT 1 FROM allocation {where} LIMIT 1"), key).first() is None:
                return False, None
            if "missions" not in tables:
                return True, None
            rows = pd.read_sql(text(f"SELECT * FROM missions {where}"), conn, params=key)
    finally:
        engine.dispose()
    rows = rows.drop(columns=["plan_month", "scenario"])
    return True, rows if len(rows) else None
