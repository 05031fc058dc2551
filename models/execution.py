"""What patrols and dispatch did against the plan (SPEC §13): `execution.csv`, `adherence.csv`,
`response.csv`, the measured values of the `patrol_coverage` and `response_within_target`
case metrics, and the quality flags of the pings.

Hours are officer-hours. A plan row belongs to the station whose officers patrol it (the lender
of mutual aid, else the cell's station); a track row to the unit's station.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.crs import to_wgs84
from geo.jurisdictions import station_of_points
from models.errors import Problem, mask_problems
from models.shifts import shift_of

ALL = "ALL"
EXECUTION_COLUMNS = ["station_id", "cell_id", "shift", "planned_hours", "delivered_hours", "visits"]
ADHERENCE_COLUMNS = [
    "station_id",
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


def adherence_table(execution: pd.DataFrame, shifts: list[str]) -> pd.DataFrame:
    """`adherence.csv` per station and shift, per station over all shifts, per shift over all
    stations and overall (`ALL`): delivered_in_plan = Σ min(delivered, planned) over cells,
    adherence = delivered_in_plan / planned, off_plan_share = share of delivered hours in
    cells the plan gave no hours."""
    frame = execution.assign(
        in_plan=np.minimum(execution["delivered_hours"], execution["planned_hours"]),
        off_plan=execution["delivered_hours"].where(execution["planned_hours"] <= 0, 0.0),
    )
    parts = []
    for keys in (["station_id", "shift"], ["station_id"], ["shift"], []):
        if keys:
            grouped = frame.groupby(keys, as_index=False)[
                ["planned_hours", "delivered_hours", "in_plan", "off_plan"]
            ].sum()
        else:
            grouped = frame[["planned_hours", "delivered_hours", "in_plan", "off_plan"]].sum()
            grouped = grouped.to_frame().T
        for key in ("station_id", "shift"):
            if key not in keys:
                grouped[key] = ALL
        parts.append(grouped)
    out = pd.concat(parts, ignore_index=True)
    out["delivered_in_plan_hours"] = out.pop("in_plan")
    out["adherence"] = _share(out["delivered_in_plan_hours"], out["planned_hours"])
    out["off_plan_share"] = _share(out.pop("off_plan"), out["delivered_hours"])
    for column in ("planned_hours", "delivered_hours", "delivered_in_plan_hours"):
        out[column] = out[column].astype(float).round(DIGITS)
    rank = {name: i for i, name in enumerate([*shifts, ALL])}
    out = out.assign(_station=out["station_id"] == ALL, _shift=out["shift"].map(rank)).sort_values(
        ["_station", "station_id", "_shift"]
    )
    return out[ADHERENCE_COLUMNS].reset_index(drop=True)


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


def track_quality(
    summary: pd.DataFrame, dose: pd.DataFrame, grid_cells: set[str], month: str
) -> pd.DataFrame:
    """Quality flags of a month of pings (`quality.csv` rows): exact duplicates dropped, gaps
    beyond `max_gap_s` and GPS jumps that counted nowhere, units whose pings were all off duty,
    and patrol hours delivered in cells outside every jurisdiction's grid."""
    rows = []

    def add(station: str, check: str, message: str) -> None:
        rows.append(
            {
                "station_id": station,
                "month": month,
                "indicator_id": "",
                "case_id": "",
                "check": check,
                "severity": "warning",
                "message": message,
            }
        )

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
    return pd.DataFrame(
        rows,
        columns=["station_id", "month", "indicator_id", "case_id", "check", "severity", "message"],
    )
