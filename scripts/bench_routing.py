"""Benchmark: PyVRP against OR-Tools on the mission routing problem of SPEC §16, on instances
cut from real plans. Prints a table and writes the figures as JSON.

    python scripts/bench_routing.py --run DEMO_RUN --stations DEMO_STATIONS
                                    --run STL_RUN --stations STL_STATIONS
                                    [--per-plan 10] [--out bench_routing.json]

One instance is one station, day and shift of `schedule.csv`: every visit is an optional client
with its minutes as service time and a prize of its minutes × the cell's risk share; the units
are the station's patrol officer-hours that day and shift (`duals.csv`, budget less reserve, ÷
the month's days) ÷ the shift's 8 h ÷ 2 officers per unit, rounded up; each unit leaves the
station's representative point at the shift's start and is back by its end; travel is the
straight line × 1.3 at 30 km/h in whole seconds. Both solvers minimise the same integer cost:
drive seconds plus the prizes of the visits left out. Each plan gives its largest instance and
`--per-plan − 1` more drawn at random (seeded).

Per instance and variant: wall time (build + solve), CPU time over wall (1.0 = one thread),
share of visit minutes placed, drive share of the units' shift time, share of the risk-weighted
dose collected, and the drive against a nearest-neighbour and a random order of the same stops
on the same units. Every route is re-timed here, independently of the solver.

Needs OR-Tools beside patrolopt: `pip install ortools` (measured with pyvrp 0.14.1, the
product's routing solver, and ortools 9.15).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import geopandas as gpd  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyvrp  # noqa: E402
import pyvrp.stop  # noqa: E402
from ortools.constraint_solver import pywrapcp, routing_enums_pb2  # noqa: E402

SHIFT_S = 8 * 3600  # every shift of the plans benchmarked is 8 h
OFFICERS_PER_UNIT = 2
CIRCUITY = 1.3
SPEED_MS = 30 / 3.6
PRIZE_PER_SECOND = 10  # a visit of mean risk is worth 10 s of drive per second on scene


@dataclass
class Instance:
    """One station, day and shift: locations (0 = the station, then the distinct cells), a
    travel-time matrix over them in whole seconds, and per visit its location, seconds and
    integer prize."""

    name: str
    units: int
    travel: np.ndarray  # (locations, locations) int64 seconds
    xy: np.ndarray  # (locations, 2) metres
    location: np.ndarray  # per visit, index into the locations
    service: np.ndarray  # per visit, seconds
    prize: np.ndarray  # per visit, integer
    dose: np.ndarray  # per visit, minutes × risk share (sums to the instance's full dose)


def load_instances(run: Path, stations_path: Path, per_plan: int, seed: int) -> list[Instance]:
    """The largest instance of the plan and `per_plan - 1` more drawn at random."""
    schedule = pd.read_csv(run / "schedule.csv")
    risk = pd.read_csv(run / "risk.csv").set_index(["cell_id", "shift"])
    duals = pd.read_csv(run / "duals.csv").set_index(["station_id", "shift"])
    stations = gpd.read_file(stations_path)
    metric = stations.estimate_utm_crs()
    houses = stations.set_index("station_id").representative_point().to_crs(metric)
    cells = risk.reset_index().drop_duplicates("cell_id").set_index("cell_id")
    cell_xy = gpd.GeoSeries(gpd.points_from_xy(cells["lon"], cells["lat"]), crs=4326)
    cell_xy = cell_xy.to_crs(metric)
    cells["mx"], cells["my"] = cell_xy.x.to_numpy(), cell_xy.y.to_numpy()
    days = pd.Period(schedule["date"].iloc[0], "D").days_in_month

    sizes = schedule.groupby(["station_id", "date", "shift"]).size()
    largest = sizes.idxmax()
    others = sizes.drop(largest).sample(per_plan - 1, random_state=seed).index
    instances = []
    for key in [largest, *others]:
        station, date, shift = key
        visits = schedule[
            (schedule["station_id"] == station)
            & (schedule["date"] == date)
            & (schedule["shift"] == shift)
        ]
        row = duals.loc[(station, shift)]
        officer_hours = (row["budget_hours"] - row.get("reserve_hours", 0.0)) / days
        units = max(1, math.ceil(officer_hours / (SHIFT_S / 3600) / OFFICERS_PER_UNIT - 1e-9))
        house = houses[station]
        distinct = pd.Index(visits["cell_id"].unique())
        xy = np.vstack([[house.x, house.y], cells.loc[distinct, ["mx", "my"]].to_numpy()])
        metres = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
        travel = np.rint(metres * CIRCUITY / SPEED_MS).astype(np.int64)
        cell_risk = risk["risk"].reindex(list(zip(visits["cell_id"], visits["shift"], strict=True)))
        cell_risk = np.maximum(cell_risk.to_numpy(dtype=float), 0.0)
        share = cell_risk / max(risk_total(visits["cell_id"], cell_risk), 1e-12)
        minutes = visits["minutes"].to_numpy(dtype=np.int64)
        relative = cell_risk / max(cell_risk.mean(), 1e-12)
        prize = np.maximum(np.rint(minutes * 60 * PRIZE_PER_SECOND * relative), 1)
        instances.append(
            Instance(
                name=f"{station} {date} {shift}",
                units=units,
                travel=travel,
                xy=xy,
                location=1 + distinct.get_indexer(visits["cell_id"]),
                service=minutes * 60,
                prize=prize.astype(np.int64),
                dose=minutes * share,
            )
        )
    return instances


def risk_total(cell_ids: pd.Series, cell_risk: np.ndarray) -> float:
    """The summed risk of the instance's distinct cells (each cell once)."""
    return float(pd.Series(cell_risk, index=cell_ids.to_numpy()).groupby(level=0).first().sum())


# --- PyVRP ---------------------------------------------------------------------------------


def pyvrp_data(inst: Instance) -> pyvrp.ProblemData:
    """Locations shared by all visits to a cell (the matrix is cells, not visits, square)."""
    locations = [pyvrp.Location(x=float(x), y=float(y)) for x, y in inst.xy]
    clients = [
        pyvrp.Client(
            location=int(loc),
            service_duration=int(s),
            prize=int(p),
            required=False,
            tw_early=0,
            tw_late=SHIFT_S,
        )
        for loc, s, p in zip(inst.location, inst.service, inst.prize, strict=True)
    ]
    depot = pyvrp.Depot(location=0, tw_early=0, tw_late=SHIFT_S)
    vehicles = pyvrp.VehicleType(
        num_available=inst.units, tw_early=0, tw_late=SHIFT_S, shift_duration=SHIFT_S
    )
    return pyvrp.ProblemData(locations, clients, [depot], [vehicles], [inst.travel], [inst.travel])


def solve_pyvrp(inst: Instance, stop: pyvrp.stop.StoppingCriterion, seed: int) -> list[list[int]]:
    """Routes as lists of visit indices: a route is its scheduled activities (depot, clients,
    depot), a client's `idx` counted among the clients from 0."""
    result = pyvrp.solve(pyvrp_data(inst), stop=stop, seed=seed, collect_stats=False)
    if not result.best.is_feasible():
        return []
    return [[a.idx for a in route if a.is_client()] for route in result.best.routes()]


# --- OR-Tools ------------------------------------------------------------------------------


def solve_ortools(
    inst: Instance, seconds: float, first: str, first_only: bool = False
) -> list[list[int]]:
    """One node per visit (node 0 the station); arc cost = travel, a `time` dimension of
    travel + service at the node left, each visit a disjunction penalised by its prize.
    `first` names the first-solution strategy; guided local search follows unless
    `first_only`."""
    nodes = np.concatenate([[0], inst.location])
    travel = inst.travel[np.ix_(nodes, nodes)]
    service = np.concatenate([[0], inst.service])
    manager = pywrapcp.RoutingIndexManager(len(nodes), inst.units, 0)
    model = pywrapcp.RoutingModel(manager)
    cost = model.RegisterTransitMatrix(travel.tolist())
    model.SetArcCostEvaluatorOfAllVehicles(cost)
    busy = model.RegisterTransitMatrix((travel + service[:, None]).tolist())
    model.AddDimension(busy, 0, SHIFT_S, True, "time")
    for node, prize in enumerate(inst.prize, start=1):
        model.AddDisjunction([manager.NodeToIndex(node)], int(prize))
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = getattr(routing_enums_pb2.FirstSolutionStrategy, first)
    if first_only:
        params.solution_limit = 1
    else:
        params.local_search_metaheuristic = (
            routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        )
    params.time_limit.FromMilliseconds(int(seconds * 1000))
    solution = model.SolveWithParameters(params)
    if solution is None:
        return []
    routes = []
    for vehicle in range(inst.units):
        index, route = solution.Value(model.NextVar(model.Start(vehicle))), []
        while not model.IsEnd(index):
            route.append(manager.IndexToNode(index) - 1)
            index = solution.Value(model.NextVar(index))
        if route:
            routes.append(route)
    return routes


# --- independent check and figures -----------------------------------------------------------


def route_drive(inst: Instance, stops: list[int]) -> int:
    """Seconds driven: station → stops in order → station."""
    path = np.concatenate([[0], inst.location[stops], [0]])
    return int(inst.travel[path[:-1], path[1:]].sum())


def nearest_neighbour(inst: Instance, stops: list[int]) -> list[int]:
    """The same stops from the station, always to the nearest one left."""
    left, here, order = list(stops), 0, []
    while left:
        best = min(range(len(left)), key=lambda i: inst.travel[here, inst.location[left[i]]])
        order.append(left.pop(best))
        here = inst.location[order[-1]]
    return order


def figures(inst: Instance, routes: list[list[int]], rng: np.random.Generator) -> dict:
    """Placed minutes, drive, dose, and the drive of other orders of the same stops; raises
    when a route runs past its shift, a visit is made twice or there are more routes than
    units."""
    placed = [v for route in routes for v in route]
    if len(placed) != len(set(placed)) or len(routes) > inst.units:
        raise AssertionError(f"{inst.name}: a visit made twice or too many routes")
    drive = nn = shuffled = 0
    for route in routes:
        d = route_drive(inst, route)
        if d + int(inst.service[route].sum()) > SHIFT_S:
            raise AssertionError(f"{inst.name}: a route runs past the end of its shift")
        drive += d
        nn += route_drive(inst, nearest_neighbour(inst, route))
        shuffled += route_drive(inst, list(rng.permutation(route)))
    unit_time = inst.units * SHIFT_S
    return {
        "placed_share": float(inst.service[placed].sum() / inst.service.sum()),
        "dose_share": float(inst.dose[placed].sum() / inst.dose.sum()),
        "drive_share": drive / unit_time,
        "objective": int(drive + inst.prize.sum() - inst.prize[placed].sum()),
        "drive_vs_nn": drive / nn if nn else 1.0,
        "drive_vs_random": drive / shuffled if shuffled else 1.0,
    }


INSERTION = "PARALLEL_CHEAPEST_INSERTION"  # prize-aware; cheapest arc is not
VARIANTS = {
    "pyvrp 1s": lambda inst: solve_pyvrp(inst, pyvrp.stop.MaxRuntime(1.0), seed=1),
    "pyvrp 0.2s": lambda inst: solve_pyvrp(inst, pyvrp.stop.MaxRuntime(0.2), seed=1),
    "pyvrp 0.2s seed 2": lambda inst: solve_pyvrp(inst, pyvrp.stop.MaxRuntime(0.2), seed=2),
    "pyvrp 1 iter": lambda inst: solve_pyvrp(inst, pyvrp.stop.MaxIterations(1), seed=1),
    "pyvrp 30 iters": lambda inst: solve_pyvrp(inst, pyvrp.stop.MaxIterations(30), seed=1),
    "ortools 1s": lambda inst: solve_ortools(inst, 1.0, INSERTION),
    "ortools 0.2s": lambda inst: solve_ortools(inst, 0.2, INSERTION),
    "ortools 1s cheapest arc": lambda inst: solve_ortools(inst, 1.0, "PATH_CHEAPEST_ARC"),
    "ortools first insertion": lambda inst: solve_ortools(inst, 9.0, INSERTION, True),
    "ortools first cheapest arc": lambda inst: solve_ortools(inst, 9.0, "PATH_CHEAPEST_ARC", True),
}
REPEATED = ("pyvrp 30 iters", "ortools first insertion", "ortools first cheapest arc")


def measure(inst: Instance, name: str) -> dict:
    """One variant on one instance: its figures, wall and CPU seconds."""
    wall, cpu = time.perf_counter(), time.process_time()
    routes = VARIANTS[name](inst)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    row = {"instance": inst.name, "variant": name, "visits": len(inst.service)}
    row |= {"units": inst.units, "wall_s": wall, "cpu_per_wall": cpu / wall}
    row |= figures(inst, routes, np.random.default_rng(0))
    row["routes"] = routes
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, action="append", required=True)
    parser.add_argument("--stations", type=Path, action="append", required=True)
    parser.add_argument("--per-plan", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("bench_routing.json"))
    args = parser.parse_args()
    rows = []
    for run, stations in zip(args.run, args.stations, strict=True):
        for inst in load_instances(run, stations, args.per_plan, seed=7):
            for name in VARIANTS:
                row = measure(inst, name)
                if name in REPEATED:  # same seed again: the same routes?
                    row["repeat_same"] = measure(inst, name)["routes"] == row["routes"]
                rows.append(row)
                print(
                    f"{inst.name:28} {row['visits']:4d} v {inst.units:3d} u  {name:24}"
                    f" {row['wall_s']:7.3f} s  cpu/wall {row['cpu_per_wall']:4.2f}"
                    f"  placed {row['placed_share']:.3f}  dose {row['dose_share']:.3f}"
                    f"  drive {row['drive_share']:.3f}  vs NN {row['drive_vs_nn']:.2f}"
                    f"  vs random {row['drive_vs_random']:.2f}",
                    flush=True,
                )
    table = pd.DataFrame(rows).drop(columns="routes")
    summary = table.groupby("variant", sort=False).agg(
        wall_median_s=("wall_s", "median"),
        wall_max_s=("wall_s", "max"),
        cpu_per_wall=("cpu_per_wall", "median"),
        placed=("placed_share", "mean"),
        dose=("dose_share", "mean"),
        drive=("drive_share", "mean"),
        vs_nn=("drive_vs_nn", "mean"),
        vs_random=("drive_vs_random", "mean"),
    )
    print(summary.round(4).to_string())
    args.out.write_text(
        json.dumps(
            {
                "versions": {name: version(name) for name in ("pyvrp", "ortools")},
                "summary": summary.reset_index().to_dict("records"),
                "rows": table.to_dict("records"),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
