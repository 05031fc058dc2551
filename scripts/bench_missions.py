"""Benchmark: a plan month's missions (SPEC §16) made as `patrolopt run` makes them — how long
the routing takes, how much of the LP's hours the routes carry, how much of the units' time is
drive, how short the routes are against simpler orders of the same stops — with every route
re-checked here. Prints a table and writes the figures as JSON.

    python scripts/bench_missions.py --data DIR --month YYYY-MM [--previous-plan FILE]
                                     [--threads N] [--seed 0] [--out bench_missions.json]

The month after `--month` is planned by `optimizer.stages.planned_missions`, the run's own step,
after the steps it rests on (loading, the cases, the response reserve where tracks or calls
exist, the forecast); `--previous-plan` is `run`'s (the demo's is `demo-data/plan-2025-12.csv`),
without it the month is planned as a first month. The path is timed without being changed: the
spread that routes the station-shift pieces times each pass, a wrapper around
`optimizer.missions.routing._solve` each instance (one station, day and shift: one PyVRP solve),
and a wrapper around `optimizer.stages.allocation_stage` each LP, which tells the two passes of
`deliverable_plan` apart — the first from the start to the second LP, the second (only when the
first left a station-shift short) from there to the end. Times are wall seconds on the machine
as it is: its usable cores and load average are written beside them.

Figures: the placed share Σ mission_hours / Σ lp_hours of `missions_summary.csv` and the worst
station-shift's; the drive share, the routes' travel minutes / (the units of every day and shift
× the shift's minutes); each route's drive against the same stops on the same unit in a
nearest-neighbour order (from the station, always to the nearest stop left), in the same order
keeping `missions.revisit_gap_min` between two visits to a cell (plain nearest-neighbour puts a
cell's visits back to back, which the gap forbids; neither keeps the visits' own time windows)
and in a random order (seeded), all with the straight line × `missions.circuity` at the unit's
mode's speed between the cell centres and the station house in metres (ratios < 1: our routes
are shorter). Every route is re-checked with that travel model, apart from the solver and the
mission code (`route_violations`): arrivals after the previous departure plus the drive, back by
the shift's end counting the drive home, no unit in two routes at once, a cell's visits of a
shift the revisit gap apart. Broken rules are listed and the script exits 1 once the figures are
written. A data folder with a road network is refused: the model is the straight line.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd

from models.contracts import load_bureau, load_previous_plan
from models.months import next_month
from optimizer import stages
from optimizer.execution import execution_stage, has_execution_data
from optimizer.missions import routing
from optimizer.missions.stage import MissionResult, MissionSetup, mission_setup
from optimizer.run_checks import require_month
from optimizer.threads import limited_threads, usable_cores

ROUTE = ["station_id", "date", "shift", "unit_id"]
SLACK_MIN = 1e-6  # clock times are whole minutes, the modelled drive is not


# --- the run, instrumented -------------------------------------------------------------------


@dataclass
class Timeline:
    """What the instrumented step did, in perf_counter seconds: each LP and each routing pass
    as (start, end), one row per routing instance, and the solves of the piece being routed
    (visits, units, seconds) until they are named."""

    lps: list[tuple[float, float]] = field(default_factory=list)
    passes: list[tuple[float, float]] = field(default_factory=list)
    instances: list[dict] = field(default_factory=list)
    solves: list[tuple[int, int, float]] = field(default_factory=list)

    def timed_lp(self, allocate: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            result = allocate(*args, **kwargs)
            self.lps.append((start, time.perf_counter()))
            return result

        return wrapper

    def timed_solve(self, solve: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(visits, location, units, *rest):
            start = time.perf_counter()
            result = solve(visits, location, units, *rest)
            self.solves.append((len(location), len(units), time.perf_counter() - start))
            return result

        return wrapper

    def name_solves(self, piece: routing.StationMonth, dates: pd.DatetimeIndex) -> None:
        """The piece's solves as instances (`route_station` solves its days and shifts with
        visits and units in sorted order); their sizes must match, else the naming is wrong."""
        visits = piece.visits.groupby(["day", "shift"]).size()
        units = piece.units.groupby(["day", "shift"]).size()
        keys = sorted(visits.index.intersection(units.index))
        for (day, shift), (n_visits, n_units, seconds) in zip(keys, self.solves, strict=True):
            if (n_visits, n_units) != (visits[(day, shift)], units[(day, shift)]):
                raise AssertionError(f"{piece.station_id} day {day} {shift}: solves misnamed")
            self.instances.append(
                {
                    "pass": len(self.passes) + 1,
                    "station_id": piece.station_id,
                    "date": dates[day].strftime("%Y-%m-%d"),
                    "shift": shift,
                    "visits": n_visits,
                    "units": n_units,
                    "solve_s": seconds,
                }
            )
        self.solves.clear()


class TimedSpread:
    """The run's in-process spread, one piece after another, timing each routing pass and
    naming each instance of its pieces."""

    workers = 1

    def __init__(self, timeline: Timeline, dates: pd.DatetimeIndex) -> None:
        self.timeline, self.dates = timeline, dates

    def __call__(self, fn: Callable[..., Any], items, **shared: Any) -> list:
        start = time.perf_counter()
        results = []
        for piece in items:
            results.append(fn(piece, **shared))
            self.timeline.name_solves(piece, self.dates)
        self.timeline.passes.append((start, time.perf_counter()))
        return results


@dataclass(frozen=True)
class Planned:
    """The month planned with its missions, its mission setup, and how long each part took."""

    missions: MissionResult
    setup: MissionSetup
    shift_hours: dict[str, tuple[int, int]]
    timeline: Timeline
    started: float
    ended: float
    prepare_s: float


def planned_month(data: Path, month: str, previous_plan: Path | None) -> Planned:
    """The month after `month` planned with its missions by `stages.planned_missions`, timed."""
    start = time.perf_counter()
    bureau = load_bureau(data)
    require_month(bureau, month)
    shifts = bureau.config.allocation.shifts
    previous = load_previous_plan(previous_plan, shifts) if previous_plan else None
    sp = stages.spatial(bureau)
    cases = stages.cases_upto(bureau, month, sp)
    executed = execution_stage(bureau, month, sp, previous) if has_execution_data(bureau) else None
    reserve = executed.reserve if executed is not None else None
    risk = stages.forecast_stage(bureau, month, sp, cases).risk
    setup = mission_setup(bureau, next_month(month), sp, reserve)
    if setup.network is not None:
        raise SystemExit("a road network: the independent check models straight lines only")
    timeline = Timeline()
    spread = TimedSpread(timeline, setup.dates)
    lp = mock.patch.object(stages, "allocation_stage", timeline.timed_lp(stages.allocation_stage))
    solve = mock.patch.object(routing, "_solve", timeline.timed_solve(routing._solve))
    with lp, solve:
        started = time.perf_counter()
        _, missions = stages.planned_missions(
            bureau, month, sp, cases, risk, previous, reserve=reserve, spread=spread
        )
        ended = time.perf_counter()
    return Planned(
        missions=missions,
        setup=setup,
        shift_hours={h: tuple(bureau.config.allocation.shift_hours[h]) for h in shifts},
        timeline=timeline,
        started=started,
        ended=ended,
        prepare_s=started - start,
    )


# --- the routes in metres and their independent check -----------------------------------------


def stops_in_metres(missions: pd.DataFrame, setup: MissionSetup) -> pd.DataFrame:
    """`missions.csv` rows with the stop's cell centre (`x, y`) and its station house (`hx,
    hy`) in metres and the unit's minutes of drive per metre (`min_per_m`: circuity at its
    mode's speed)."""
    day = (pd.to_datetime(missions["date"]) - setup.dates[0]).dt.days
    keys = pd.MultiIndex.from_arrays(
        [missions["station_id"], missions["shift"], missions["unit_id"], day]
    )
    mode = setup.units.set_index(["station_id", "shift", "unit_id", "day"])["mode"]
    kmh = mode.reindex(keys).map(setup.config.speed_kmh).to_numpy(dtype=float)
    if np.isnan(kmh).any():
        raise AssertionError("a mission's unit is not among the units of its day and shift")
    cell = setup.cells.loc[missions["cell_id"], ["x", "y"]].to_numpy()
    house = setup.houses.loc[missions["station_id"], ["x", "y"]].to_numpy()
    return missions.assign(
        x=cell[:, 0],
        y=cell[:, 1],
        hx=house[:, 0],
        hy=house[:, 1],
        min_per_m=setup.config.circuity / (kmh * 1000 / 60),
    )


def route_violations(
    stops: pd.DataFrame, shift_hours: dict[str, tuple[int, int]], revisit_gap_min: float
) -> pd.DataFrame:
    """Every broken rule of the routes in `stops` (`missions.csv` rows with `x, y`, `hx, hy`,
    `min_per_m` of `stops_in_metres`; `shift_hours`: shift → [start, end) whole hours, a shift
    that crosses midnight starting on its `date`), one row each: `station_id, date, shift,
    unit_id, stop, rule, by_min` (how far off, minutes). The rules: stops numbered 1, 2, …; each
    arrival no earlier than the previous departure (the shift's start for the first stop) plus
    the drive from there; on scene for its `minutes`; `travel_min` no less than the drive; back
    at the station by the shift's end counting the drive home; a cell's visits of a date and
    shift `revisit_gap_min` apart (departure to the next arrival, whichever unit); no unit in
    two routes at once."""
    s = stops.sort_values([*ROUTE, "stop"], ignore_index=True)
    shift_start = s["shift"].map(lambda h: shift_hours[h][0] * 60)
    length = s["shift"].map(lambda h: ((shift_hours[h][1] - shift_hours[h][0]) % 24 or 24) * 60)
    start = pd.to_datetime(s["date"]) + pd.to_timedelta(shift_start, unit="min")
    arrive, depart = pd.to_datetime(s["arrive"]), pd.to_datetime(s["depart"])
    first = ~s.duplicated(ROUTE)
    last = ~s.duplicated(ROUTE, keep="last")
    from_x = np.where(first, s["hx"], s["x"].shift())
    from_y = np.where(first, s["hy"], s["y"].shift())
    leg = np.hypot(s["x"] - from_x, s["y"] - from_y) * s["min_per_m"]
    ready = depart.shift().where(~first, start)
    home = depart + pd.to_timedelta(
        np.hypot(s["x"] - s["hx"], s["y"] - s["hy"]) * s["min_per_m"], unit="min"
    )
    end = start + pd.to_timedelta(length, unit="min")

    def minutes(delta: pd.Series) -> pd.Series:
        return delta.dt.total_seconds() / 60

    visits = s.assign(arrive=arrive, depart=depart).sort_values(
        ["date", "shift", "cell_id", "arrive"]
    )
    before = visits.groupby(["date", "shift", "cell_id"])[["depart", "station_id"]].shift()
    too_soon = (revisit_gap_min - minutes(visits["arrive"] - before["depart"])).reindex(s.index)
    aid = (before["station_id"] != visits["station_id"]).reindex(s.index)
    checks = {
        "stops not numbered 1, 2, …": (s["stop"] - (s.groupby(ROUTE).cumcount() + 1)).abs(),
        "arrives before the drive from the previous stop ends": leg - minutes(arrive - ready),
        "on scene other than its minutes": (minutes(depart - arrive) - s["minutes"]).abs(),
        "travel_min below the drive": leg - s["travel_min"],
        "back after the shift's end": minutes(home - end).where(last, 0.0),
        "cell visited again within the revisit gap": too_soon.where(~aid),
        "cell visited within the revisit gap of another station's unit": too_soon.where(aid),
    }
    found = [
        s.loc[off > SLACK_MIN, [*ROUTE, "stop"]].assign(rule=rule, by_min=off[off > SLACK_MIN])
        for rule, off in checks.items()
    ]
    routes = s.assign(start=start, home=home).groupby(ROUTE, as_index=False, sort=False)
    routes = routes.agg(start=("start", "first"), home=("home", "last"))
    routes = routes.sort_values(["unit_id", "start"], ignore_index=True)
    overlap = minutes(routes.groupby("unit_id")["home"].shift() - routes["start"])
    twice = routes[overlap > SLACK_MIN]
    found.append(
        twice[ROUTE].assign(
            stop=0, rule="in two routes at once", by_min=overlap[overlap > SLACK_MIN]
        )
    )
    out = pd.concat(found, ignore_index=True)
    return out.astype({"stop": int}).sort_values([*ROUTE, "stop", "rule"], ignore_index=True)


def route_drive(xy: np.ndarray, house: np.ndarray, min_per_m: float) -> float:
    """Minutes driven from the house through the points `xy` (n × 2, metres) in order and back."""
    path = np.vstack([house, xy, house])
    return float(np.hypot(*np.diff(path, axis=0).T).sum() * min_per_m)


def nearest_first(
    xy: np.ndarray, house: np.ndarray, cells: np.ndarray, minutes: np.ndarray, pace: float, gap=0.0
) -> np.ndarray:
    """The order of a route's stops (`xy` metres, their `cells` and `minutes` on scene; `pace`
    minutes of drive per metre) from the house, always to the nearest one left that the unit
    may visit: a cell not again within `gap` minutes of leaving it (the revisit gap; 0 = plain
    nearest neighbour). When none may be visited yet, the one that may be soonest (it waits)."""
    left, here, now, order = list(range(len(xy))), house, 0.0, []
    free: dict = {}  # cell → the first minute the unit may arrive there again
    while left:
        drive = {i: float(np.hypot(*(xy[i] - here))) * pace for i in left}
        wait = {i: free.get(cells[i], -np.inf) - now - drive[i] for i in left}
        allowed = [i for i in left if wait[i] <= 0]
        pick = min(allowed, key=drive.get) if allowed else min(left, key=wait.get)
        now += drive[pick] + max(wait[pick], 0.0) + minutes[pick]
        free[cells[pick]] = now + gap
        order.append(pick)
        left.remove(pick)
        here = xy[pick]
    return np.array(order, dtype=int)


def order_drives(stops: pd.DataFrame, gap: float, rng: np.random.Generator) -> pd.DataFrame:
    """Per route of `stops` (as for `route_violations`): its drive in minutes (`ours`), and the
    drive of the same stops in nearest-neighbour order (`nearest`), in nearest-neighbour order
    keeping `gap` minutes between visits to a cell (`nearest_gap`) and in a random order
    (`shuffled`), all with the straight-line model; `repeats`: a cell visited twice."""
    rows = []
    for key, route in stops.sort_values([*ROUTE, "stop"]).groupby(ROUTE, sort=True):
        xy = route[["x", "y"]].to_numpy()
        house = route[["hx", "hy"]].to_numpy()[0]
        cells, minutes = route["cell_id"].to_numpy(), route["minutes"].to_numpy(dtype=float)
        pace = float(route["min_per_m"].iat[0])
        orders = [
            np.arange(len(xy)),
            nearest_first(xy, house, cells, minutes, pace),
            nearest_first(xy, house, cells, minutes, pace, gap),
            rng.permutation(len(xy)),
        ]
        drives = [route_drive(xy[order], house, pace) for order in orders]
        rows.append((*key, *drives, bool(route["cell_id"].duplicated().any())))
    columns = [*ROUTE, "ours", "nearest", "nearest_gap", "shuffled", "repeats"]
    return pd.DataFrame(rows, columns=columns)


# --- figures -------------------------------------------------------------------------------


def figures(planned: Planned, seed: int) -> dict:
    """The summary figures, the instances, the passes and the violations of a planned month."""
    setup, timeline, result = planned.setup, planned.timeline, planned.missions
    instances = pd.DataFrame(
        timeline.instances,
        columns=["pass", "station_id", "date", "shift", "visits", "units", "solve_s"],
    )
    bounds = [planned.started, *(lp[0] for lp in timeline.lps[1:2]), planned.ended]
    passes = []
    for i, (begin, end) in enumerate(zip(bounds[:-1], bounds[1:], strict=True), start=1):
        routed = timeline.passes[i - 1] if i <= len(timeline.passes) else (0.0, 0.0)
        solved = instances[instances["pass"] == i]
        passes.append(
            {
                "pass": i,
                "wall_s": end - begin,
                "lp_s": timeline.lps[i - 1][1] - timeline.lps[i - 1][0],
                "routing_wall_s": routed[1] - routed[0],
                "instances": len(solved),
                "solve_s": float(solved["solve_s"].sum()),
            }
        )
    summary = result.summary
    lp = summary[summary["lp_hours"] > 0]
    share = lp["mission_hours"] / lp["lp_hours"]
    worst = share.idxmin() if len(share) else None
    routes = result.routes
    length = setup.units["shift"].map(lambda h: setup.clocks[h].length_min)
    stops = stops_in_metres(result.missions, setup)
    gap = setup.config.revisit_gap_min
    drives = order_drives(stops, gap, np.random.default_rng(seed))
    violations = route_violations(stops, planned.shift_hours, gap)
    repeats, others = drives[drives["repeats"]], drives[~drives["repeats"]]
    times = instances["solve_s"]
    figured = {
        "instances": len(instances),
        "solve_median_s": float(times.median()),
        "solve_p90_s": float(times.quantile(0.9)),
        "solve_max_s": float(times.max()),
        "routing_s": float(times.sum()),
        "missions_step_s": planned.ended - planned.started,
        "prepare_s": planned.prepare_s,
        "placed_share": float(summary["mission_hours"].sum() / summary["lp_hours"].sum()),
        "worst_placed_share": float(share.min()) if worst is not None else 1.0,
        "worst_station_shift": (
            f"{lp.at[worst, 'station_id']} {lp.at[worst, 'shift']}" if worst is not None else ""
        ),
        "unplaced_hours": float(summary["unplaced_hours"].sum()),
        "routes": len(routes),
        "stops": len(result.missions),
        "drive_share": float(routes["travel_min"].sum() / length.sum()),
        "drive_vs_nearest": float(drives["ours"].sum() / drives["nearest"].sum()),
        "drive_vs_nearest_gap": float(drives["ours"].sum() / drives["nearest_gap"].sum()),
        "drive_vs_random": float(drives["ours"].sum() / drives["shuffled"].sum()),
        "routes_with_a_cell_twice": len(repeats),
        "their_drive_vs_nearest": float(repeats["ours"].sum() / repeats["nearest"].sum()),
        "other_drive_vs_nearest": float(others["ours"].sum() / others["nearest"].sum()),
        "routes_longer_than_nearest_gap": int(
            (drives["ours"] > drives["nearest_gap"] + 1e-9).sum()
        ),
        "violations": len(violations),
    }
    return {"summary": figured, "passes": passes, "instances": instances, "violations": violations}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--month", required=True, help="YYYY-MM: the month after it is planned")
    parser.add_argument("--previous-plan", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=None, help="default: the usable cores")
    parser.add_argument("--seed", type=int, default=0, help="of the random orders")
    parser.add_argument("--out", type=Path, default=Path("bench_missions.json"))
    args = parser.parse_args()
    load_before = os.getloadavg()
    with limited_threads(args.threads) as threads:
        planned = planned_month(args.data, args.month, args.previous_plan)
    found = figures(planned, args.seed)
    machine = {
        "usable_cores": usable_cores(),
        "threads": threads,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }
    instances = found["instances"]
    per_shift = instances.groupby("shift", sort=False).agg(
        instances=("solve_s", "size"),
        visits_median=("visits", "median"),
        units_median=("units", "median"),
        median_s=("solve_s", "median"),
        p90_s=("solve_s", lambda s: s.quantile(0.9)),
        max_s=("solve_s", "max"),
    )
    print(f"{args.data} {args.month}: the missions of {next_month(args.month)}")
    print(
        f"{machine['usable_cores']} usable cores, load average {load_before[0]:.2f} before"
        f" and {machine['load_average_after'][0]:.2f} after: wall seconds on this machine"
    )
    print(pd.DataFrame(found["passes"]).round(3).to_string(index=False))
    print(per_shift.round(4).to_string())
    print("slowest instances:")
    print(instances.nlargest(5, "solve_s").round(4).to_string(index=False))
    for name, value in found["summary"].items():
        print(f"  {name:28} {round(value, 4) if isinstance(value, float) else value}")
    if len(found["violations"]):
        print(found["violations"].head(20).to_string(index=False))
    args.out.write_text(
        json.dumps(
            {
                "data": str(args.data),
                "month": args.month,
                "plan_month": next_month(args.month),
                "versions": {name: version(name) for name in ("patrolopt", "pyvrp")},
                "machine": machine,
                "summary": found["summary"],
                "passes": found["passes"],
                "per_shift": per_shift.reset_index().to_dict("records"),
                "instances": instances.to_dict("records"),
                "violations": found["violations"].astype({"by_min": float}).to_dict("records"),
            },
            indent=1,
            default=str,
        ),
        encoding="utf-8",
    )
    print(f"written to {args.out}")
    if len(found["violations"]):
        raise SystemExit(f"{len(found['violations'])} broken route rules")


if __name__ == "__main__":
    main()
