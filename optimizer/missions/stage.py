"""The missions step of the monthly cycle (SPEC §16): before the LP, the drive its budgets hold
back; after it, every station's units routed through every day and shift of the plan month,
spread over the run's processes by station."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.crs import project, unproject
from geo.jurisdictions import station_houses
from models.config import MissionsConfig
from models.contracts import Bureau
from models.errors import InfeasiblePlan
from models.spread import IN_PROCESS, Spread
from optimizer.allocation import budgets
from optimizer.manifest import write_outputs
from optimizer.missions.drive import drive_estimate
from optimizer.missions.frames import missions_frame, routes_frame, schedule_frame, summary_frame
from optimizer.missions.routing import (
    ROUTE_COLUMNS,
    STOP_COLUMNS,
    RoutedMonth,
    StationMonth,
    empty_frame,
    route_station,
)
from optimizer.missions.travel import RoadNetwork
from optimizer.missions.units import (
    UNIT_COLUMNS,
    ShiftClock,
    crews,
    derived_units,
    shift_clocks,
    unit_hours,
    units_on,
)
from optimizer.missions.visits import month_visits

T = TypeVar("T")  # the plan deliverable_plan is given


@dataclass(frozen=True)
class MissionResult:
    """The plan month's missions, routes as lines, summary and visit schedule."""

    missions: pd.DataFrame
    routes: gpd.GeoDataFrame
    summary: pd.DataFrame
    schedule: pd.DataFrame
    file_format: str = "csv"  # or parquet ([output] schedule_format)

    def write(self, folder: Path) -> None:
        if self.file_format == "parquet":
            write_outputs(
                folder,
                {
                    "missions.parquet": self.missions,
                    "missions_routes.parquet": self.routes,
                    "schedule.parquet": self.schedule,
                },
            )
        else:
            write_outputs(
                folder,
                {
                    "missions.csv": self.missions,
                    "missions.geojson": self.routes,
                    "schedule.csv": self.schedule,
                },
            )
        write_outputs(folder, {"missions_summary.csv": self.summary})


def metric_houses(stations: gpd.GeoDataFrame, crs) -> pd.DataFrame:
    """Each station's house (`geo.jurisdictions.station_houses`) by station_id: lon, lat in
    WGS84 and x, y in metres of `crs`."""
    houses = station_houses(stations)
    x, y = project(houses["lon"].to_numpy(), houses["lat"].to_numpy(), crs)
    index = pd.Index(houses["station_id"].astype(str), name="station_id")
    return pd.DataFrame(
        {"lon": houses["lon"].to_numpy(), "lat": houses["lat"].to_numpy(), "x": x, "y": y},
        index=index,
    )


def _days(plan_month: str) -> pd.DatetimeIndex:
    period = pd.Period(plan_month, "M")
    return pd.date_range(period.start_time, periods=period.days_in_month, freq="D")


@dataclass(frozen=True)
class MissionSetup:
    """What the missions of a plan month rest on, known before the LP: the shifts' clocks,
    the month's dates, each station-shift's patrol (`station_id, shift, hours, unit_hours,
    units, officers, mode`: the officers' patrol hours after the reserve (capped by the listed
    units' officer-hours), the units of a day, their crew and main mode), the units of every
    day (`station_id, shift, unit_id, officers, mode, day`), the station houses and cells
    (metres and WGS84) and the road network if any."""

    plan_month: str
    config: MissionsConfig
    clocks: dict[str, ShiftClock]
    dates: pd.DatetimeIndex
    patrol: pd.DataFrame
    units: pd.DataFrame
    crew: pd.DataFrame
    houses: pd.DataFrame
    cells: pd.DataFrame  # index cell_id; x, y, lon, lat
    network: RoadNetwork | None
    file_format: str
    cell_cap_hours: float  # the LP's saturation dose per cell, shift and month


def mission_setup(
    bureau: Bureau, plan_month: str, sp, reserve: pd.DataFrame | None
) -> MissionSetup:
    """The plan month's `MissionSetup` from the bureau, its metric layout `sp` and the
    response reserve (`station_id, shift, reserve_hours`, or None)."""
    cfg = bureau.config
    crew_size = cfg.missions.officers_per_unit
    clocks = shift_clocks(cfg.allocation)
    dates = _days(plan_month)
    keys = ["station_id", "shift"]
    stations = bureau.stations.assign(station_id=bureau.stations["station_id"].astype(str))
    patrol = budgets(stations, cfg.allocation).rename(columns={"budget_hours": "hours"})
    if reserve is not None and len(reserve):
        held = reserve[[*keys, "reserve_hours"]].astype({"station_id": str})
        patrol = patrol.merge(held, on=keys, how="left")
        patrol["hours"] -= patrol["reserve_hours"].fillna(0.0)
    patrol = patrol[[*keys, "hours"]].assign(hours=lambda f: f["hours"].clip(lower=0.0))
    listed = bureau.units[UNIT_COLUMNS] if bureau.units is not None else None
    crew = crews(listed, crew_size)
    if listed is not None:
        per_day = pd.concat(
            [units_on(listed, date).assign(day=i) for i, date in enumerate(dates)],
            ignore_index=True,
        )
        patrol = patrol.merge(unit_hours(listed, dates, clocks), on=keys, how="left")
        patrol["unit_hours"] = patrol["unit_hours"].fillna(0.0)
        patrol["hours"] = np.minimum(patrol["hours"], patrol["unit_hours"])
        mode = listed.groupby(keys)["mode"].agg(lambda m: m.mode().iat[0]).rename("mode")
        patrol = patrol.merge(mode.reset_index(), on=keys, how="left")
    else:
        derived = derived_units(patrol, len(dates), clocks, crew_size)
        per_day = derived.merge(pd.DataFrame({"day": np.arange(len(dates))}), how="cross")
        patrol["unit_hours"] = np.nan
    count = per_day.groupby(keys).size().rename("units") / len(dates)
    patrol = patrol.merge(count.reset_index(), on=keys, how="left")
    patrol = patrol.merge(crew, on=keys, how="left")
    patrol["units"] = patrol["units"].fillna(0.0)
    patrol["officers"] = patrol["officers"].fillna(crew_size)
    patrol["mode"] = patrol["mode"].fillna("car") if "mode" in patrol else "car"
    cells = sp.cells.set_index("cell_id")[["x", "y"]]
    lon, lat = unproject(cells["x"].to_numpy(), cells["y"].to_numpy(), sp.crs)
    roads = bureau.roads
    return MissionSetup(
        plan_month=plan_month,
        config=cfg.missions,
        clocks=clocks,
        dates=dates,
        patrol=patrol,
        units=per_day,
        crew=crew,
        houses=metric_houses(bureau.stations, sp.crs),
        cells=cells.assign(lon=lon, lat=lat),
        network=RoadNetwork.from_frame(roads, sp.crs) if roads is not None else None,
        file_format=cfg.output.schedule_format,
        cell_cap_hours=cfg.allocation.max_hours_cell,
    )


def mission_drive(setup: MissionSetup, risk: pd.DataFrame, cell_area_m2: float) -> pd.DataFrame:
    """`station_id, shift, drive_hours, unit_hours` for the LP (SPEC §16): the drive the
    missions of each station-shift will need, and the listed units' officer-hours (NaN
    without `units.csv`)."""
    cells = setup.cells.reset_index()
    cells = cells.merge(risk[["cell_id", "station_id"]].drop_duplicates("cell_id"), on="cell_id")
    drive = drive_estimate(
        setup.patrol,
        cells,
        risk,
        setup.houses,
        cell_area_m2,
        len(setup.dates),
        setup.clocks,
        setup.config,
        setup.cell_cap_hours,
    )
    return drive.merge(
        setup.patrol[["station_id", "shift", "unit_hours"]], on=["station_id", "shift"]
    )


Routed = dict[
    tuple[str, str], tuple[pd.DataFrame, RoutedMonth]
]  # (station, shift) → visits, routes


def route_plan(
    setup: MissionSetup,
    allocation: pd.DataFrame,
    risk: pd.DataFrame,
    spread: Spread = IN_PROCESS,
    earlier: Routed | None = None,
) -> tuple[MissionResult, Routed]:
    """Every station's missions for the plan month from `allocation.csv` rows and the
    forecast's `risk` (`cell_id, shift, risk`); a station-shift whose visits are those of
    `earlier` keeps its routes."""
    mcfg = setup.config
    visits = month_visits(
        allocation,
        setup.plan_month,
        setup.crew,
        setup.clocks,
        mcfg.revisit_gap_min,
        mcfg.officers_per_unit,
    )
    visits = visits.merge(risk[["cell_id", "shift", "risk"]], on=["cell_id", "shift"], how="left")
    visits["risk"] = visits["risk"].fillna(0.0)
    earlier = earlier or {}
    routed: Routed = {}
    pieces = []
    for (station, shift), group in visits.groupby(["station_id", "shift"], sort=True):
        group = group.drop(columns="station_id").reset_index(drop=True)
        kept = earlier.get((station, shift))
        if kept is not None and kept[0].equals(group):
            routed[(station, shift)] = kept
            continue
        units = setup.units
        pieces.append(
            StationMonth(
                station_id=station,
                plan_month=setup.plan_month,
                shift_min=setup.clocks[shift].length_min,
                visits=group,
                units=units[(units["station_id"] == station) & (units["shift"] == shift)],
                house=(float(setup.houses.at[station, "x"]), float(setup.houses.at[station, "y"])),
                cells=setup.cells.loc[sorted(group["cell_id"].unique()), ["x", "y"]],
            )
        )
    done = spread(route_station, pieces, config=mcfg, roads=setup.network)
    for piece, result in zip(pieces, done, strict=True):
        routed[(piece.station_id, piece.visits["shift"].iat[0])] = (piece.visits, result)
    parts = [routed[key][1] for key in sorted(routed)]
    stops = pd.concat(
        [r.stops.assign(station_id=r.station_id) for r in parts]
        or [empty_frame([*STOP_COLUMNS, "station_id"])],
        ignore_index=True,
    )
    routes = pd.concat(
        [r.routes.assign(station_id=r.station_id) for r in parts]
        or [empty_frame([*ROUTE_COLUMNS, "station_id"])],
        ignore_index=True,
    )
    lonlat = setup.cells[["lon", "lat"]]
    missions = missions_frame(stops, setup.plan_month, setup.clocks, lonlat)
    result = MissionResult(
        missions=missions,
        routes=routes_frame(routes, stops, setup.plan_month, setup.houses, lonlat),
        summary=summary_frame(allocation, stops, routes),
        schedule=schedule_frame(missions),
        file_format=setup.file_format,
    )
    return result, routed


SHORT_SHARE = 0.02  # a station-shift whose missions miss more of its LP hours is planned again
SHORT_MARGIN = 1.2  # the hours it missed, held back once more with this margin


def deliverable_plan(
    plan: Callable[[pd.DataFrame], T],
    allocation_of: Callable[[T], pd.DataFrame],
    setup: MissionSetup,
    risk: pd.DataFrame,
    cell_area_m2: float,
    spread: Spread = IN_PROCESS,
) -> tuple[T, MissionResult]:
    """The plan and its missions, the LP's budgets net of the drive (SPEC §16): `plan(drive)`
    solves the LP with `drive` (`station_id, shift, drive_hours, unit_hours`) held back. The
    drive is first estimated; where the missions then leave more than `SHORT_SHARE` of a
    station-shift's LP hours unplaced (the drive and the revisit windows took more than the
    estimate), those hours are held back too and the plan made again, its station-shifts
    routed anew where their visits changed. A second plan the rules do not allow keeps the
    first."""
    drive = mission_drive(setup, risk, cell_area_m2)
    solved = plan(drive)
    missions, routed = route_plan(setup, allocation_of(solved), risk, spread)
    summary = missions.summary
    short = summary[summary["unplaced_hours"] > SHORT_SHARE * summary["lp_hours"] + 0.05]
    if not len(short):
        return solved, missions
    extra = short.set_index(["station_id", "shift"])["unplaced_hours"] * SHORT_MARGIN
    more = drive.set_index(["station_id", "shift"])
    more["drive_hours"] = more["drive_hours"].add(extra, fill_value=0.0)
    try:
        again = plan(more.reset_index())
    except InfeasiblePlan:
        return solved, missions
    missions, _ = route_plan(setup, allocation_of(again), risk, spread, routed)
    return again, missions
