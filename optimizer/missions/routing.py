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
shift. The search starts with a full local descent from a random solution, then runs
`missions.solver_iterations` more iterations (default 0: on St. Louis the descent alone
carried within 1 % of the dose of 20 iterations, in a quarter of the time) or
`missions.solver_seconds`, whichever ends first.

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
import pyvrp.search
import pyvrp.stop

from models.config import MissionsConfig
from optimizer.missions.travel import RoadNetwork, straight_seconds, whole_minutes

PRIZE_PER_SECOND = 10
# the local search's moves: PyVRP's defaults less those for loads, shipments, groups and
# reloading, and the two-node exchanges, which on St. Louis cost 35 % of the time for a
# dose within 0.1 % and 4 % more drive
OPERATORS = [
    pyvrp.search.Relocate1,
    pyvrp.search.Swap11,
    pyvrp.search.SwapTails,
    pyvrp.search.RemoveOptionalClient,
    pyvrp.search.InsertOptionalClient,
    pyvrp.search.ReplaceOptionalClient,
]
STOP_FIELDS = ["day", "shift", "unit_id", "stop", "cell_id", "arrive", "depart", "minutes"]
STOP_COLUMNS = [*STOP_FIELDS, "travel_min", "officers"]
ROUTE_COLUMNS = ["day", "shift", "unit_id", "officers", "stops", "patrol_min", "travel_min", "end"]


@dataclass(frozen=True)
class StationMonth:
    """One patrolling station's month of one shift: its visits (`day, shift, cell_id, minutes,
    early, late, risk`), its units per day (`day, shift, unit_id, officers, mode`), the
    shift's length (minutes), its house and the cells it visits in metres (`house`: x, y;
    `cells`: cell_id → x, y)."""

    station_id: str
    plan_month: str
    shift_min: int
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
    roads: RoadNetwork | None = None,
) -> RoutedMonth:
    """Every day of one station's month of one shift routed."""
    points = np.vstack([np.asarray(month.house, float), month.cells[["x", "y"]].to_numpy()])
    modes = sorted(set(month.units["mode"])) or ["car"]
    travel = {}
    for mode in modes:
        seconds = (
            roads.seconds(points, config.speed_kmh[mode])
            if roads is not None
            else straight_seconds(points, config.speed_kmh[mode], config.circuity)
        )
        travel[mode] = (np.rint(seconds).astype(np.int64), whole_minutes(seconds))
    visits = month.visits.sort_values(["day", "shift"], kind="stable", ignore_index=True)
    where = pd.Index(month.cells.index).get_indexer(visits["cell_id"]) + 1
    columns = {c: visits[c].to_numpy() for c in ("minutes", "early", "late", "risk", "cell_id")}
    units = month.units.sort_values(["day", "shift", "unit_id"], ignore_index=True)
    unit_groups = units.groupby(["day", "shift"], sort=False).indices
    stops: list[tuple] = []
    routes: list[tuple] = []
    for (day, shift), rows in visits.groupby(["day", "shift"], sort=True).indices.items():
        crew = unit_groups.get((day, shift))
        if crew is None:
            continue
        seed = zlib.crc32(f"{month.plan_month}|{month.station_id}|{day}|{shift}".encode())
        day_units = [
            (u, int(o), m)
            for u, o, m in zip(
                units["unit_id"].to_numpy()[crew],
                units["officers"].to_numpy()[crew],
                units["mode"].to_numpy()[crew],
                strict=True,
            )
        ]
        day_stops, day_routes = _solve(
            {c: v[rows] for c, v in columns.items()},
            where[rows],
            day_units,
            travel,
            month.shift_min,
            config,
            seed,
        )
        stops += [(day, shift, *stop) for stop in day_stops]
        routes += [(day, shift, *route) for route in day_routes]
    return RoutedMonth(
        month.station_id,
        pd.DataFrame(stops, columns=STOP_COLUMNS) if stops else empty_frame(STOP_COLUMNS),
        pd.DataFrame(routes, columns=ROUTE_COLUMNS) if routes else empty_frame(ROUTE_COLUMNS),
    )


def empty_frame(columns: list[str]) -> pd.DataFrame:
    """A frame of `columns` without rows."""
    return pd.DataFrame({c: [] for c in columns})


def _solve(
    visits: dict[str, np.ndarray],
    location: np.ndarray,
    units: list[tuple[str, int, str]],
    travel: dict[str, tuple[np.ndarray, np.ndarray]],
    length: int,
    config: MissionsConfig,
    seed: int,
) -> tuple[list[tuple], list[tuple]]:
    """One instance: its stops and routes as tuples of `STOP_COLUMNS` and `ROUTE_COLUMNS`
    after the day and shift; `visits` holds the instance's `minutes, early, late, risk,
    cell_id`, visit i is at `location[i]` among the station's (0 = the house), `units` are
    (unit_id, officers, mode) and `travel` the station's (seconds, whole minutes) per mode."""
    used = np.unique(np.r_[0, location])
    local = np.searchsorted(used, location)
    kinds = sorted({(mode, officers) for _, officers, mode in units})
    modes = sorted({mode for mode, _ in kinds})
    cost = [travel[m][0][np.ix_(used, used)] for m in modes]
    minutes = [travel[m][1][np.ix_(used, used)] for m in modes]
    risk = visits["risk"].astype(float)
    relative = np.maximum(risk / max(risk.mean(), 1e-12), 0.1) if risk.any() else np.ones(len(risk))
    on_scene = visits["minutes"].astype(np.int64)
    prize = np.rint(on_scene * 60 * PRIZE_PER_SECOND * relative).astype(np.int64)
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
            local, on_scene, visits["early"], visits["late"], prize, strict=True
        )
    ]
    names = {kind: sorted(u for u, o, m in units if (m, o) == kind) for kind in kinds}
    vehicle_types = [
        pyvrp.VehicleType(
            num_available=len(names[kind]),
            tw_early=0,
            tw_late=length,
            shift_duration=length,
            start_late=0,
            profile=modes.index(kind[0]),
        )
        for kind in kinds
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
    params = pyvrp.SolveParams(operators=OPERATORS)
    best = pyvrp.solve(
        data, stop=stop, seed=seed & 0x7FFFFFFF, collect_stats=False, params=params
    ).best
    stops, routes = [], []
    for route in best.routes() if best.is_feasible() else []:
        mode, officers = kinds[route.vehicle_type()]
        unit = names[(mode, officers)].pop(0)
        legs = minutes[modes.index(mode)]
        here, travelled, patrol, n = 0, 0, 0, 0
        for activity in route:
            if not activity.is_client():
                continue
            i, n = activity.idx, n + 1
            leg = int(legs[here, local[i]])
            stops.append(
                (unit, n, visits["cell_id"][i], activity.start_time, activity.end_time)
                + (int(on_scene[i]), leg, officers)
            )
            travelled, patrol, here = travelled + leg, patrol + int(on_scene[i]), local[i]
        back = int(legs[here, 0])
        routes.append((unit, officers, n, patrol, travelled + back, route.end_time()))
    return stops, routes
