"""Routes per station, day and shift (SPEC §16): which unit makes which visits, in what order
and when — a prize-collecting vehicle-routing problem with time windows, solved by PyVRP.

One instance is a station's visits of a day and shift (each an optional client at its cell,
its minutes on scene as service time, its revisit window, a prize of its minutes × the cell's
risk against the instance's mean) and the station's units of that day and shift (vehicle
types by mode and crew, each leaving the station house at the shift's start and back by its
end). The cost is the drive in seconds plus the prizes of the visits left out: a visit of mean
risk is worth `PRIZE_PER_SECOND` seconds of drive per second on scene, so a visit is left out
only when no unit can reach it within the shift. Clock times are whole minutes (travel
rounded up), so every time written adds up; each instance is seeded by month, station, day and
shift and stops after `missions.solver_iterations` iterations or `missions.solver_seconds`,
whichever comes first.

PyVRP was chosen over OR-Tools by `scripts/bench_routing.py` on instances cut from the demo's
and St. Louis' plans: the same or a better dose in every time budget, a solution on every
instance (OR-Tools found none on the largest in 0.2 s), and a few milliseconds per small
instance, which a province's 186,000 station-day-shifts need."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyvrp
import pyvrp.stop

from models.config import MissionsConfig
from optimizer.missions.travel import RoadNetwork, straight_seconds, whole_minutes

PRIZE_PER_SECOND = 10
STOP_FIELDS = ["day", "shift", "unit_id", "stop", "cell_id", "arrive", "depart", "minutes"]
STOP_COLUMNS = [*STOP_FIELDS, "travel_min", "officers"]
ROUTE_COLUMNS = ["day", "shift", "unit_id", "officers", "stops", "patrol_min", "travel_min", "end"]


@dataclass(frozen=True)
class StationMonth:
    """One patrolling station's month: its visits (`day, shift, cell_id, minutes, early,
    late, risk`), its units per day (`day, shift, unit_id, officers, mode`), its house and the
    cells it visits in metres (`house`: x, y; `cells`: cell_id → x, y)."""

    station_id: str
    plan_month: str
    visits: pd.DataFrame
    units: pd.DataFrame
    house: tuple[float, float]
    cells: pd.DataFrame  # index cell_id; x, y


@dataclass(frozen=True)
class RoutedMonth:
    """A station's month of routes: one row per stop (`STOP_COLUMNS`: `travel_min` the drive
    before it, `officers` the unit's crew; times in minutes from the shift's start) and one
    per route (`ROUTE_COLUMNS`: `end` its return to the station, minutes from the shift's
    start)."""

    station_id: str
    stops: pd.DataFrame
    routes: pd.DataFrame


def route_station(
    month: StationMonth,
    *,
    config: MissionsConfig,
    lengths: dict[str, int],
    roads: RoadNetwork | None = None,
) -> RoutedMonth:
    """Every day and shift of one station's month routed; `lengths` are the shifts' minutes."""
    points = np.vstack([np.asarray(month.house, float), month.cells[["x", "y"]].to_numpy()])
    location = pd.Series(np.arange(1, len(month.cells) + 1), index=month.cells.index)
    modes = sorted(set(month.units["mode"])) or ["car"]
    seconds = {
        mode: (
            roads.seconds(points, config.speed_kmh[mode])
            if roads is not None
            else straight_seconds(points, config.speed_kmh[mode], config.circuity)
        )
        for mode in modes
    }
    stops: list[pd.DataFrame] = []
    routes: list[pd.DataFrame] = []
    units_by = {key: frame for key, frame in month.units.groupby(["day", "shift"], sort=False)}
    for (day, shift), visits in month.visits.groupby(["day", "shift"], sort=True):
        units = units_by.get((day, shift))
        if units is None or not len(units):
            continue
        seed = zlib.crc32(f"{month.plan_month}|{month.station_id}|{day}|{shift}".encode())
        day_stops, day_routes = _solve(
            visits.reset_index(drop=True),
            units.reset_index(drop=True),
            location.loc[visits["cell_id"]].to_numpy(),
            seconds,
            lengths[shift],
            config,
            seed,
        )
        stops.append(day_stops.assign(day=day, shift=shift))
        routes.append(day_routes.assign(day=day, shift=shift))
    return RoutedMonth(
        month.station_id,
        pd.concat(stops, ignore_index=True) if stops else empty_frame(STOP_COLUMNS),
        pd.concat(routes, ignore_index=True) if routes else empty_frame(ROUTE_COLUMNS),
    )


def empty_frame(columns: list[str]) -> pd.DataFrame:
    """A frame of `columns` without rows."""
    return pd.DataFrame({c: [] for c in columns})


def _solve(
    visits: pd.DataFrame,
    units: pd.DataFrame,
    location: np.ndarray,
    seconds: dict[str, np.ndarray],
    length: int,
    config: MissionsConfig,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One instance: its stops and routes (see `RoutedMonth`), the location of visit i being
    `location[i]` among the station's (0 = the house)."""
    used = np.unique(np.r_[0, location])
    local = np.searchsorted(used, location)
    kinds = units.groupby(["mode", "officers"], sort=True).size()
    modes = sorted(set(kinds.index.get_level_values(0)))
    cost = [np.rint(seconds[m][np.ix_(used, used)]).astype(np.int64) for m in modes]
    minutes = [whole_minutes(seconds[m][np.ix_(used, used)]) for m in modes]
    risk = visits["risk"].to_numpy(dtype=float)
    relative = np.maximum(risk / max(risk.mean(), 1e-12), 0.1) if risk.any() else np.ones(len(risk))
    prize = np.rint(visits["minutes"].to_numpy() * 60 * PRIZE_PER_SECOND * relative)
    clients = [
        pyvrp.Client(
            location=int(loc),
            service_duration=int(m),
            tw_early=int(e),
            tw_late=int(late),
            prize=int(p),
            required=False,
        )
        for loc, m, e, late, p in zip(
            local,
            visits["minutes"].to_numpy(),
            visits["early"].to_numpy(),
            visits["late"].to_numpy(),
            prize,
            strict=True,
        )
    ]
    vehicle_types = [
        pyvrp.VehicleType(
            num_available=int(count),
            tw_early=0,
            tw_late=length,
            shift_duration=length,
            start_late=0,
            profile=modes.index(mode),
        )
        for (mode, _officers), count in kinds.items()
    ]
    data = pyvrp.ProblemData(
        [pyvrp.Location(x=0, y=0) for _ in used],
        clients,
        [pyvrp.Depot(location=0, tw_early=0, tw_late=length)],
        vehicle_types,
        cost,
        minutes,
    )
    stop = pyvrp.stop.MultipleCriteria(
        [
            pyvrp.stop.MaxIterations(config.solver_iterations),
            pyvrp.stop.MaxRuntime(config.solver_seconds),
        ]
    )
    best = pyvrp.solve(data, stop=stop, seed=seed & 0x7FFFFFFF, collect_stats=False).best
    names = {
        kind: list(group["unit_id"])
        for kind, group in units.sort_values("unit_id").groupby(["mode", "officers"], sort=True)
    }
    kind_of = list(kinds.index)
    stops, routes = [], []
    for route in best.routes() if best.is_feasible() else []:
        kind = kind_of[route.vehicle_type()]
        unit = names[kind].pop(0)
        profile = minutes[modes.index(kind[0])]
        here, travelled, n = 0, 0, 0
        for activity in route:
            if not activity.is_client():
                continue
            i = activity.idx
            n += 1
            leg = int(profile[here, local[i]])
            stops.append(
                (unit, n, visits["cell_id"].iat[i], activity.start_time, activity.end_time)
                + (int(visits["minutes"].iat[i]), leg, kind[1])
            )
            travelled += leg
            here = local[i]
        back = int(profile[here, 0])
        patrol = int(sum(s[5] for s in stops[len(stops) - n :]))
        routes.append((unit, kind[1], n, patrol, travelled + back, route.end_time()))
    stop_frame = pd.DataFrame(stops, columns=[*STOP_FIELDS[2:], "travel_min", "officers"])
    route_frame = pd.DataFrame(routes, columns=ROUTE_COLUMNS[2:])
    return stop_frame, route_frame
