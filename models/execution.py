"""What patrols and dispatch did against the plan (SPEC §13): `execution.csv`, `adherence.csv`,
`response.csv`, the measured values of the `patrol_coverage` and `response_within_target`
case metrics, and the quality flags of the pings; where the plan's missions are known (SPEC
§16), each planned stop checked against the visits of its unit and the adherence of each unit.

Hours are officer-hours. A plan row belongs to the station whose officers patrol it (the lender
of mutual aid, else the cell's station); a track row to the unit's station; a unit's rows to
the station of its missions.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.crs import to_wgs84
from geo.jurisdictions import station_of_points
from models.errors import Problem, mask_problems
from models.quality import QUALITY_COLUMNS
from models.shifts import shift_of

ALL = "ALL"
EXECUTION_COLUMNS = ["station_id", "cell_id", "shift", "planned_hours", "delivered_hours", "visits"]
ADHERENCE_COLUMNS = [
    "station_id",
    "unit_id",  # empty on the station rows; a mission unit's own rows (SPEC §16)
    "shift",
    "planned_hours",
    "delivered_hours",
    "delivered_in_plan_hours",
    "adherence",
    "off_plan_share",
]
RESPONSE_COLUMNS = [
    "station_id",
    "shift",
    "priority",
    "calls",
    "median_min",
    "p90_min",
    "within_target_share",
    "unanswered",
]
STOP_COLUMNS = ["station_id", "date", "shift", "unit_id", "stop", "cell_id"]  # of a mission
COVERED_SHARE = 0.5  # a planned cell-shift is covered when it got half its planned hours
DIGITS = 6


def time_order_problems(calls: pd.DataFrame, file: str, first_row: int) -> list[Problem]:
    """Dispatch records whose times run backwards: arrival before the call was received, or
    the unit cleared before it was dispatched (a negative busy time)."""
    problems = []
    for later, earlier in (("arrived_at", "received_at"), ("cleared_at", "dispatched_at")):
        if later not in calls.columns or earlier not in calls.columns:
            continue
        backwards = (calls[later] < calls[earlier]).fillna(False).to_numpy(dtype=bool)
        problems += mask_problems(
            file,
            first_row,
            backwards,
            later,
            lambda i, later=later, earlier=earlier: (
                f"{later} {calls[later].iloc[i]:%Y-%m-%d %H:%M:%S} is before "
                f"{earlier} {calls[earlier].iloc[i]:%Y-%m-%d %H:%M:%S}"
            ),
        )
    return problems


def planned_hours(plan: pd.DataFrame) -> pd.DataFrame:
    """Planned hours per patrolling station, cell and shift from an `allocation.csv` frame
    (`station_id, cell_id, shift, hours`, optional `lender_station_id`)."""
    lender = plan.get("lender_station_id", pd.Series("", index=plan.index))
    lender = lender.fillna("").astype(str)
    station = plan["station_id"].astype(str).where(lender == "", lender)
    return (
        plan.assign(station_id=station, cell_id=plan["cell_id"].astype(str))
        .groupby(["station_id", "cell_id", "shift"], as_index=False, sort=False)["hours"]
        .sum()
        .rename(columns={"hours": "planned_hours"})
    )


def execution_table(
    plan: pd.DataFrame | None, dose: pd.DataFrame, shifts: list[str]
) -> pd.DataFrame:
    """`execution.csv`: one row per station, cell and shift of the plan or of the tracks,
    planned against delivered officer-hours and visits. Without a plan every delivered hour is
    off plan."""
    planned = (
        planned_hours(plan)
        if plan is not None
        else pd.DataFrame(columns=["station_id", "cell_id", "shift", "planned_hours"])
    )
    keys = ["station_id", "cell_id", "shift"]
    out = planned.merge(dose, on=keys, how="outer")
    out[["planned_hours", "delivered_hours"]] = (
        out[["planned_hours", "delivered_hours"]].astype(float).fillna(0.0)
    )
    out["visits"] = out["visits"].fillna(0).astype(np.int64)
    rank = {name: i for i, name in enumerate(shifts)}
    out = out.assign(_shift=out["shift"].map(rank)).sort_values(["station_id", "cell_id", "_shift"])
    for column in ("planned_hours", "delivered_hours"):
        out[column] = out[column].round(DIGITS)
    return out[EXECUTION_COLUMNS].reset_index(drop=True)


def _share(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """Ratio where the denominator is positive, else empty (NaN)."""
    return (numerator / denominator.where(denominator > 0)).round(DIGITS)


_SUMMED = ["planned_hours", "delivered_hours", "in_plan", "off_plan"]


def _summed(cells: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Planned and delivered hours of `cells` (one row per cell) summed over `keys` (all rows
    when none), with the hours delivered within plan (Σ min(delivered, planned)) and off plan
    (delivered in cells planned no hours)."""
    frame = cells.assign(
        in_plan=np.minimum(cells["delivered_hours"], cells["planned_hours"]),
        off_plan=cells["delivered_hours"].where(cells["planned_hours"] <= 0, 0.0),
    )
    if keys:
        return frame.groupby(keys, as_index=False)[_SUMMED].sum()
    return frame[_SUMMED].sum().to_frame().T


def adherence_table(
    execution: pd.DataFrame, shifts: list[str], units: pd.DataFrame | None = None
) -> pd.DataFrame:
    """`adherence.csv` per station and shift, per station over all shifts, per shift over all
    stations and overall (`ALL`), then, given `units` (`unit_cells`), per mission unit and
    shift: delivered_in_plan = Σ min(delivered, planned) over cells, adherence =
    delivered_in_plan / planned, off_plan_share = share of delivered hours in cells the plan
    (the unit's missions) gave no hours. `unit_id` is empty on the station rows."""
    parts = []
    for keys in (["station_id", "shift"], ["station_id"], ["shift"], []):
        grouped = _summed(execution, keys)
        for key in ("station_id", "shift"):
            if key not in keys:
                grouped[key] = ALL
        parts.append(grouped.assign(unit_id=""))
    if units is not None and len(units):
        parts.append(_summed(units, ["station_id", "unit_id", "shift"]))
    out = pd.concat(parts, ignore_index=True)
    out["delivered_in_plan_hours"] = out.pop("in_plan")
    out["adherence"] = _share(out["delivered_in_plan_hours"], out["planned_hours"])
    out["off_plan_share"] = _share(out.pop("off_plan"), out["delivered_hours"])
    for column in ("planned_hours", "delivered_hours", "delivered_in_plan_hours"):
        out[column] = out[column].astype(float).round(DIGITS)
    rank = {name: i for i, name in enumerate([*shifts, ALL])}
    out = out.assign(
        _station=out["station_id"] == ALL,
        _unit=out["unit_id"] != "",
        _shift=out["shift"].map(rank),
    ).sort_values(["_station", "station_id", "_unit", "unit_id", "_shift"], kind="stable")
    return out[ADHERENCE_COLUMNS].reset_index(drop=True)


def unit_cells(missions: pd.DataFrame, unit_dose: pd.DataFrame) -> pd.DataFrame:
    """Per mission unit, shift and cell (`station_id, unit_id, shift, cell_id`, the station
    of its missions): `planned_hours` = Σ minutes × officers / 60 of its stops there, and
    `delivered_hours` = the unit's patrol officer-hours there (`unit_dose`: models/tracks.py),
    for the shifts the unit has missions in (its pings in other shifts are not its plan's)."""
    keys = ["unit_id", "shift", "cell_id"]
    planned = missions.assign(planned_hours=missions["minutes"] * missions["officers"] / 60.0)
    planned = planned.groupby(["station_id", *keys], as_index=False)["planned_hours"].sum()
    pairs = planned[["station_id", "unit_id", "shift"]].drop_duplicates()
    delivered = unit_dose.groupby(keys, as_index=False)["delivered_hours"].sum()
    delivered = delivered.merge(pairs, on=["unit_id", "shift"])
    cells = planned.merge(delivered, on=["station_id", *keys], how="outer")
    cells[["planned_hours", "delivered_hours"]] = cells[
        ["planned_hours", "delivered_hours"]
    ].fillna(0.0)
    return cells


def missions_done(missions: pd.DataFrame, visits: pd.DataFrame, on_time_min: float) -> pd.DataFrame:
    """Each planned stop of `missions` (`STOP_COLUMNS` and `arrive`, a naive local datetime),
    in their order, checked against the tracks' `visits` (models/tracks.py VISIT_COLUMNS):
    `visited` when a visit of that unit in that cell arrived within ± `on_time_min` minutes
    of the planned arrival, `arrived_at` its arrival (local `YYYY-MM-DDTHH:MM`, empty when not
    visited) and `minutes_on_scene` its length (0 when not). A visit serves one stop at most:
    the stop whose planned arrival is nearest; a stop it does not serve takes the nearest
    visit left."""
    stops = pd.DataFrame(
        {
            "unit_id": missions["unit_id"].astype(str).to_numpy(),
            "cell_id": missions["cell_id"].astype(str).to_numpy(),
            "arrive": pd.to_datetime(missions["arrive"]).to_numpy().astype("datetime64[ns]"),
            "row": np.arange(len(missions)),
        }
    )
    seen = visits[visits["unit_id"].isin(stops["unit_id"].unique())]
    free = pd.DataFrame(
        {
            "unit_id": seen["unit_id"].astype(str).to_numpy(),
            "cell_id": seen["cell_id"].astype(str).to_numpy(),
            "arrived": pd.to_datetime(seen["arrived"]).to_numpy().astype("datetime64[ns]"),
            "minutes": seen["minutes"].to_numpy(dtype=float),
            "visit": np.arange(len(seen)),
        }
    ).sort_values("arrived", kind="stable")
    served = []
    waiting = stops.sort_values("arrive", kind="stable")
    while len(waiting) and len(free):
        nearest = pd.merge_asof(
            waiting,
            free,
            left_on="arrive",
            right_on="arrived",
            by=["unit_id", "cell_id"],
            direction="nearest",
            tolerance=pd.Timedelta(minutes=on_time_min),
        ).dropna(subset=["visit"])
        if not len(nearest):
            break
        nearest["off"] = (nearest["arrived"] - nearest["arrive"]).abs()
        kept = nearest.sort_values(["off", "row"], kind="stable").drop_duplicates("visit")
        served.append(kept[["row", "arrived", "minutes"]])
        waiting = waiting[~waiting["row"].isin(kept["row"])]
        free = free[~free["visit"].isin(kept["visit"])]
    found = (
        pd.concat(served).set_index("row").reindex(np.arange(len(missions)))
        if served
        else pd.DataFrame(index=np.arange(len(missions)), columns=["arrived", "minutes"])
    )
    arrived = pd.to_datetime(found["arrived"])
    out = missions[STOP_COLUMNS].reset_index(drop=True)
    out["visited"] = arrived.notna().to_numpy()
    out["arrived_at"] = arrived.dt.strftime("%Y-%m-%dT%H:%M").fillna("").to_numpy()
    out["minutes_on_scene"] = found["minutes"].astype(float).fillna(0.0).round(2).to_numpy()
    return out


def month_calls(
    calls: pd.DataFrame,
    month: str,
    stations: gpd.GeoDataFrame,
    shift_hours: dict[str, tuple[int, int]],
    coordinates: str = "wgs84",
    months: int = 1,
) -> pd.DataFrame:
    """The calls received in `month` (and the `months` − 1 before it) with their `station_id`
    (the one recorded, else the jurisdiction holding the point in WGS84 `stations`, '' where
    none does), `shift` of receipt, `priority` (default 1), `response_min` (arrived −
    received, NaN when unanswered) and `busy_min` (dispatched → cleared, NaN when either is
    missing)."""
    period = pd.Period(month, "M")
    received = calls["received_at"].dt.to_period("M")
    calls = calls[((received <= period) & (received > period - months)).to_numpy()]
    lon, lat = to_wgs84(calls["lon"].to_numpy(float), calls["lat"].to_numpy(float), coordinates)
    held = station_of_points(stations, lon, lat)
    recorded = (
        calls["station_id"].astype(str).to_numpy()
        if "station_id" in calls.columns
        else np.full(len(calls), "", dtype=object)
    )
    station = np.where(recorded != "", recorded, np.where(held == None, "", held))  # noqa: E711
    priority = (
        calls["priority"].fillna(1).astype(np.int64).to_numpy()
        if "priority" in calls.columns
        else np.ones(len(calls), dtype=np.int64)
    )

    def minutes(later: str, earlier: str) -> np.ndarray:
        if later not in calls.columns or earlier not in calls.columns:
            return np.full(len(calls), np.nan)
        return ((calls[later] - calls[earlier]).dt.total_seconds() / 60.0).to_numpy()

    return pd.DataFrame(
        {
            "call_id": calls["call_id"].astype(str).to_numpy(),
            "station_id": station.astype(str),
            "shift": shift_of(calls["received_at"], shift_hours),
            "priority": priority,
            "received_at": calls["received_at"].to_numpy(),
            "response_min": minutes("arrived_at", "received_at"),
            "busy_min": minutes("cleared_at", "dispatched_at"),
        }
    )


def response_table(
    calls: pd.DataFrame, targets: dict[int, float], shifts: list[str]
) -> pd.DataFrame:
    """`response.csv` per station, shift and priority, with `ALL` over any of them:
    answered `calls`, median and 90th percentile of response minutes (linear interpolation),
    share answered within the priority's target, and `unanswered` calls (no arrival) apart.
    Calls that no station holds count in the `ALL` station rows only."""
    frame = calls.assign(
        answered=calls["response_min"].notna(),
        within=calls["response_min"] <= calls["priority"].map(targets),
        has_target=calls["priority"].map(targets).notna(),
    )
    frame["station_id"] = frame["station_id"].astype(str)
    frame["shift"] = frame["shift"].astype(str)
    frame["priority"] = frame["priority"].astype(str)
    frame["one"] = 1
    levels = ("station_id", "shift", "priority")
    parts = []
    for mask in range(8):
        keys = [level for bit, level in enumerate(levels) if not mask & (1 << bit)]
        data = frame if "station_id" not in keys else frame[frame["station_id"] != ""]
        by = [data[k] for k in keys] if keys else [data["one"]]
        answered = data[data["answered"]]
        answered_by = [answered[k] for k in keys] if keys else [answered["one"]]
        minutes = answered["response_min"].groupby(answered_by)
        targeted = answered[answered["has_target"]]
        targeted_by = [targeted[k] for k in keys] if keys else [targeted["one"]]
        part = pd.DataFrame(
            {
                "calls": data["answered"].groupby(by).sum(),
                "median_min": minutes.median().round(4),
                "p90_min": minutes.quantile(0.9).round(4),
                "within_target_share": targeted["within"]
                .astype(float)
                .groupby(targeted_by)
                .mean()
                .round(DIGITS),
                "unanswered": (~data["answered"]).groupby(by).sum(),
            }
        )
        part.index.names = keys or ["one"]
        part = part.reset_index().drop(columns="one", errors="ignore")
        parts.append(part.assign(**{level: ALL for level in levels if level not in keys}))
    rows = pd.concat([p for p in parts if len(p)], ignore_index=True) if len(frame) else []
    out = pd.DataFrame(rows).reindex(columns=RESPONSE_COLUMNS)
    if out.empty:
        out = pd.DataFrame(
            [{**dict.fromkeys(levels, ALL), "calls": 0, "unanswered": 0}], columns=RESPONSE_COLUMNS
        )
    shift_rank = {name: i for i, name in enumerate([*shifts, ALL])}
    prio = pd.to_numeric(out["priority"], errors="coerce").fillna(np.inf)
    out = out.assign(
        _station=out["station_id"] == ALL, _shift=out["shift"].map(shift_rank), _prio=prio
    ).sort_values(["_station", "station_id", "_shift", "_prio"])
    return out[RESPONSE_COLUMNS].reset_index(drop=True)


def measured_metrics(
    execution: pd.DataFrame | None, response: pd.DataFrame | None, month: str
) -> dict[str, pd.Series]:
    """Percent values per (station, month) that the execution data gives for the case metrics
    `patrol_coverage` (planned cell-shifts that got ≥ 50 % of their planned hours) and
    `response_within_target` (answered calls within their priority's target)."""
    out: dict[str, pd.Series] = {}
    if execution is not None:
        planned = execution[execution["planned_hours"] > 0]
        covered = planned["delivered_hours"] >= COVERED_SHARE * planned["planned_hours"] - 1e-9
        share = 100.0 * covered.groupby(planned["station_id"]).mean()
        out["patrol_coverage"] = share.set_axis(
            pd.MultiIndex.from_arrays([share.index, [month] * len(share)])
        )
    if response is not None:
        rows = response[
            (response["station_id"] != ALL)
            & (response["shift"] == ALL)
            & (response["priority"] == ALL)
        ]
        share = 100.0 * rows.set_index("station_id")["within_target_share"].dropna()
        out["response_within_target"] = share.set_axis(
            pd.MultiIndex.from_arrays([share.index, [month] * len(share)])
        )
    return out


def _flag(station: str, month: str, check: str, message: str) -> dict:
    """One warning row of `quality.csv`."""
    return {
        "station_id": station,
        "month": month,
        "indicator_id": "",
        "case_id": "",
        "check": check,
        "severity": "warning",
        "message": message,
    }


def track_quality(
    summary: pd.DataFrame, dose: pd.DataFrame, grid_cells: set[str], month: str
) -> pd.DataFrame:
    """Quality flags of a month of pings (`quality.csv` rows): exact duplicates dropped, gaps
    beyond `max_gap_s` and GPS jumps that counted nowhere, units whose pings were all off duty,
    and patrol hours delivered in cells outside every jurisdiction's grid."""
    rows = []

    def add(station: str, check: str, message: str) -> None:
        rows.append(_flag(station, month, check, message))

    for r in summary.itertuples(index=False):
        if r.duplicates:
            add(r.station_id, "duplicate_ping", f"{r.duplicates} exact duplicate pings dropped")
        if r.gaps:
            add(
                r.station_id,
                "track_gap",
                f"{r.gaps} gaps between pings longer than allowed ({r.gap_hours:.2f} h counted "
                "nowhere)",
            )
        if r.jumps:
            add(r.station_id, "track_jump", f"{r.jumps} GPS jumps faster than allowed ignored")
        for unit in filter(None, str(r.off_duty_units).split(";")):
            add(r.station_id, "unit_off_duty", f"unit {unit} was off duty in every ping of {month}")
    outside = dose[~dose["cell_id"].isin(grid_cells)]
    for station, group in outside.groupby("station_id", sort=True):
        add(
            station,
            "track_outside_grid",
            f"{group['delivered_hours'].sum():.2f} patrol hours in {group['cell_id'].nunique()} "
            "cells outside every jurisdiction",
        )
    return pd.DataFrame(rows, columns=QUALITY_COLUMNS)


UNSEEN_LISTED = 5  # unit ids named in a flag; the rest are counted


def unseen_units(stops: pd.DataFrame, tracked: set[str], month: str) -> pd.DataFrame:
    """Quality flags (`quality.csv` rows), one per station, of mission units that sent no
    ping in `month`: their stops count as not visited, which may be a tracker left off or
    units named otherwise in the tracks than in the missions."""
    rows = []
    silent = stops[~stops["unit_id"].astype(str).isin(tracked)]
    for station, group in silent.groupby("station_id", sort=True):
        units = sorted(group["unit_id"].astype(str).unique())
        named = ", ".join(units[:UNSEEN_LISTED]) + (" …" if len(units) > UNSEEN_LISTED else "")
        rows.append(
            _flag(
                str(station),
                month,
                "mission_unit_untracked",
                f"{len(units)} mission units sent no ping in {month} ({named}): their "
                f"{len(group)} stops count as not visited",
            )
        )
    return pd.DataFrame(rows, columns=QUALITY_COLUMNS)
