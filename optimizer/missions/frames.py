"""The mission outputs (SPEC §16) from the routed months of every station: `missions.csv`,
the routes as lines (`missions.geojson`), `missions_summary.csv`, and the visit schedule of
SPEC §6 as the same visits without units and times."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from optimizer.missions.columns import (
    MISSION_COLUMNS,
    ROUTE_COLUMNS,
    SCHEDULE_COLUMNS,
    SUMMARY_COLUMNS,
)
from optimizer.missions.units import ShiftClock


def clock_text(dates: pd.Series, start_min: pd.Series, offset_min: pd.Series) -> pd.Series:
    """Local `YYYY-MM-DDTHH:MM` of `offset_min` minutes after a shift's start on `dates`."""
    stamp = pd.to_datetime(dates) + pd.to_timedelta(start_min + offset_min, unit="min")
    return stamp.dt.strftime("%Y-%m-%dT%H:%M")


def missions_frame(
    stops: pd.DataFrame,
    plan_month: str,
    clocks: dict[str, ShiftClock],
    cell_lonlat: pd.DataFrame,
) -> pd.DataFrame:
    """`missions.csv` from the stops of every station (`station_id, day, shift, unit_id,
    stop, cell_id, arrive, depart, minutes, travel_min, officers`, times in minutes from the
    shift's start) and the cells' centres (`cell_lonlat`: index cell_id; lon, lat)."""
    if not len(stops):
        return pd.DataFrame(columns=MISSION_COLUMNS)
    stops = stops.sort_values(["station_id", "day", "shift", "unit_id", "stop"], ignore_index=True)
    dates = pd.Series(_dates(plan_month)).iloc[stops["day"].to_numpy()].reset_index(drop=True)
    start = stops["shift"].map(lambda h: clocks[h].start_min)
    centre = cell_lonlat.loc[stops["cell_id"]]
    out = stops.assign(
        date=dates.to_numpy(),
        lat=np.round(centre["lat"].to_numpy(), 6),
        lon=np.round(centre["lon"].to_numpy(), 6),
        arrive=clock_text(dates, start, stops["arrive"]),
        depart=clock_text(dates, start, stops["depart"]),
    )
    return out[MISSION_COLUMNS]


def routes_frame(
    routes: pd.DataFrame,
    stops: pd.DataFrame,
    plan_month: str,
    houses: pd.DataFrame,
    cell_lonlat: pd.DataFrame,
) -> gpd.GeoDataFrame:
    """`missions.geojson`: one LineString per unit, date and shift — station house → stops in
    order → station house — in WGS84 (`houses`: index station_id; lon, lat)."""
    if not len(routes):
        return gpd.GeoDataFrame(columns=ROUTE_COLUMNS, geometry=[], crs="EPSG:4326")
    key = ["station_id", "day", "shift", "unit_id"]
    routes = routes.sort_values(key, ignore_index=True)
    stops = stops.sort_values([*key, "stop"], ignore_index=True)
    route_of = pd.MultiIndex.from_frame(routes[key])
    stop_route = route_of.get_indexer(pd.MultiIndex.from_frame(stops[key]))
    house = houses.loc[routes["station_id"], ["lon", "lat"]].to_numpy()
    cell = cell_lonlat.loc[stops["cell_id"], ["lon", "lat"]].to_numpy()
    # each route's points: its house, its stops, its house again
    points = np.vstack([house, cell, house])
    owner = np.r_[np.arange(len(routes)), stop_route, np.arange(len(routes))]
    rank = np.r_[np.zeros(len(routes)), stops["stop"].to_numpy(), np.full(len(routes), 1e9)]
    order = np.lexsort((rank, owner))
    lines = shapely.linestrings(points[order], indices=owner[order])
    dates = pd.Series(_dates(plan_month)).iloc[routes["day"].to_numpy()].to_numpy()
    frame = routes.assign(date=dates)[ROUTE_COLUMNS]
    return gpd.GeoDataFrame(frame, geometry=lines, crs="EPSG:4326")


def summary_frame(
    allocation: pd.DataFrame, stops: pd.DataFrame, routes: pd.DataFrame
) -> pd.DataFrame:
    """`missions_summary.csv` per patrolling station and shift: units with a route, the LP's
    officer-hours for the station's officers, the officer-hours on scene and driving in the
    missions, the LP hours no route carries (never negative) and the longest route (minutes,
    station to station)."""
    lender = allocation["lender_station_id"].fillna("").astype(str)
    lp = allocation.assign(
        station_id=lender.where(lender != "", allocation["station_id"].astype(str))
    )
    lp = lp.groupby(["station_id", "shift"], as_index=False)["hours"].sum()
    lp = lp.rename(columns={"hours": "lp_hours"})
    keys = ["station_id", "shift"]
    if len(routes):
        crew = routes.set_index(["station_id", "day", "shift", "unit_id"])["officers"]
        on_scene = (
            stops["minutes"]
            * crew.reindex(
                pd.MultiIndex.from_frame(stops[["station_id", "day", "shift", "unit_id"]])
            ).to_numpy()
        )
        placed = stops[keys].assign(mission_hours=on_scene / 60)
        placed = placed.groupby(keys, as_index=False)["mission_hours"].sum()
        driven = routes.assign(
            travel_hours=routes["travel_min"] * routes["officers"] / 60,
            units=routes["unit_id"],
            longest_route_min=routes["end"],
        ).groupby(keys, as_index=False)
        driven = driven.agg(
            units=("units", "nunique"),
            travel_hours=("travel_hours", "sum"),
            longest_route_min=("longest_route_min", "max"),
        )
        lp = lp.merge(placed, on=keys, how="outer").merge(driven, on=keys, how="outer")
    for column in ("lp_hours", "mission_hours", "travel_hours", "units", "longest_route_min"):
        lp[column] = lp[column].fillna(0) if column in lp else 0
    lp["unplaced_hours"] = np.maximum(lp["lp_hours"] - lp["mission_hours"], 0.0)
    for column in ("lp_hours", "mission_hours", "travel_hours", "unplaced_hours"):
        lp[column] = lp[column].round(1)
    lp = lp.astype({"units": int, "longest_route_min": int})
    return lp.sort_values(keys, ignore_index=True)[SUMMARY_COLUMNS]


def schedule_frame(missions: pd.DataFrame) -> pd.DataFrame:
    """`schedule.csv` (SPEC §6): the missions' visits without units and times, numbered per
    station, date and shift in the order of their arrival."""
    visits = missions.sort_values(["station_id", "date", "shift", "arrive", "unit_id"])
    visits = visits.reset_index(drop=True)
    visits["visit"] = visits.groupby(["station_id", "date", "shift"]).cumcount() + 1
    return visits[SCHEDULE_COLUMNS]


def _dates(plan_month: str) -> list[str]:
    days = pd.Period(plan_month, "M").days_in_month
    return [f"{plan_month}-{d:02d}" for d in range(1, days + 1)]
