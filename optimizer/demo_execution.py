"""The demo bureau's execution data (SPEC §13, §16): seeded GPS pings of the units of the
demo month's missions driving their routes, and dispatch records with response times.

The units are those of the missions (their ids): each leaves its station house at the shift's
start, stops at each stop from its arrival to its departure and drives between stops at street
speed, pinging every 2 minutes (coarse enough for the demo to stay quick: the benchmark runs
the 10-second scale) with GPS noise of a few metres, and drives home after its last stop. Each
station has its own habit: it skips some stops (the unit takes a break where it was, off
duty), reaches some late (held up by a call, which also costs it the stops it could not reach
meanwhile), cuts some short (then patrols off plan nearby) and trades some for patrol or a
call elsewhere, so between about 55 % and 95 % of its stops are visited. A few pings are lost
in blocks (gaps), a few jump kilometres away, a few arrive twice. Calls cover the last four
months so the response reserve has its three months of history; they come rarely enough that
one unit on call (of the missions' crew) answers each station-shift's calls.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.crs import project, unproject
from geo.jurisdictions import station_of_points
from models.config import load_config
from models.months import previous_month
from optimizer.demo import METRIC
from optimizer.missions.stage import metric_houses
from optimizer.missions.units import shift_clocks

EXECUTION_SEED = 20251201
PING_S = 120  # the longest gap that still counts (execution.max_gap_s)
STREET_SPEED_MS = 7.0  # about 25 km/h between stops
PARK_M = 80.0  # how far from its cell's centre a unit stops
ASIDE_M = (400.0, 700.0)  # how far off plan a unit patrols or answers a call
LATE_MIN = (35.0, 60.0)  # how late a held-up unit arrives
HOLD_MIN = 10.0  # after a late stop, the time to reach the next one
SHORT_SHARE = (0.4, 0.7)  # of its planned minutes, what a stop cut short lasts
SHORT_MIN = 6.0  # no stop is cut below this
ROUTE_SPAN_S = 2 * 86_400  # longer than any route: routes laid end to end on one time line
ON_TIME, SKIPPED, LATE, SHORT, ASIDE = range(5)
STATUSES = ["patrol", "responding", "off_duty"]
PATROL, RESPONDING, OFF_DUTY = range(len(STATUSES))
CALL_MONTHS = 4
PRIORITIES = (1, 2, 3)
PRIORITY_SHARE = (0.2, 0.5, 0.3)
TRAVEL_MEDIAN_MIN = {1: 7.0, 2: 12.0, 3: 20.0}
ROUTE_KEYS = ["date", "shift", "unit_id"]


def _stations(data: Path) -> gpd.GeoDataFrame:
    return gpd.read_file(data / "stations.geojson")


def _habits(rng, stations: list[str]) -> pd.DataFrame:
    """Each station's shares of its stops skipped, reached late, traded for patrol or a call
    elsewhere, and cut short."""
    n = len(stations)
    done = rng.uniform(0.68, 0.95, n)  # stops made where and when planned, some cut short
    miss = 1.0 - done
    skip = miss * rng.uniform(0.35, 0.6, n)
    late = miss * rng.uniform(0.08, 0.15, n)
    return pd.DataFrame(
        {
            "skip": skip,
            "late": late,
            "aside": miss - skip - late,
            "short": done * rng.uniform(0.05, 0.25, n),
        },
        index=stations,
    )


def _fates(
    rng, stops: pd.DataFrame, route: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What each stop's unit does (ON_TIME, SKIPPED, LATE, SHORT, ASIDE) by its station's
    habit, how late each would be (seconds) and whether it is `held`: planned while its unit
    is still held up by an earlier late stop, so missed too."""
    habit = _habits(rng, sorted(stops["station_id"].unique())).loc[stops["station_id"]]
    bounds = habit[["skip", "late", "aside", "short"]].cumsum(axis=1).to_numpy()
    fate = np.array([SKIPPED, LATE, ASIDE, SHORT, ON_TIME])[
        (rng.random(len(stops))[:, None] >= bounds).sum(axis=1)
    ]
    delay = rng.uniform(*LATE_MIN, len(stops)) * 60
    held_until = np.where(
        fate == LATE,
        stops["arrive_s"] + delay + (stops["minutes"] + HOLD_MIN) * 60,
        -np.inf,
    )
    earlier = pd.Series(held_until).groupby(route).shift(fill_value=-np.inf)
    held = stops["arrive_s"].to_numpy() < earlier.groupby(route).cummax().to_numpy()
    return fate, delay, held


def _aside(rng, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points a few hundred metres off `x, y`, each in its own direction."""
    r, angle = rng.uniform(*ASIDE_M, len(x)), rng.uniform(0, 2 * np.pi, len(x))
    return x + r * np.cos(angle), y + r * np.sin(angle)


def _stops(rng, missions: pd.DataFrame, houses: pd.DataFrame, clocks: dict, start) -> pd.DataFrame:
    """The stops the units make, in route order (`route`, `x, y` where the unit stops,
    `a, d` its arrival and departure in seconds after `start`, `status` while there, `short`
    and the off-plan point `idle_x, idle_y` it patrols after a stop cut short, `late`,
    `after_skip` when stops it skipped lie before it), with each route's `start_s` and station
    house `hx, hy`."""
    missions = missions.sort_values([*ROUTE_KEYS, "stop"], kind="stable", ignore_index=True)
    route = missions.groupby(ROUTE_KEYS, sort=False).ngroup().to_numpy()
    shift_start = missions["shift"].map(lambda h: clocks[h].start_min).to_numpy()
    day = pd.to_datetime(missions["date"])
    stops = pd.DataFrame(
        {
            "route": route,
            "station_id": missions["station_id"].astype(str),
            "unit_id": missions["unit_id"].astype(str),
            "officers": missions["officers"].to_numpy(),
            "minutes": missions["minutes"].to_numpy(dtype=float),
            "start_s": ((day - start).dt.total_seconds() + shift_start * 60).to_numpy(),
            "arrive_s": (pd.to_datetime(missions["arrive"]) - start).dt.total_seconds(),
            "depart_s": (pd.to_datetime(missions["depart"]) - start).dt.total_seconds(),
        }
    )
    fate, delay, held = _fates(rng, stops, route)
    x, y = project(missions["lon"].to_numpy(), missions["lat"].to_numpy(), METRIC)
    x, y = x + rng.uniform(-PARK_M, PARK_M, len(x)), y + rng.uniform(-PARK_M, PARK_M, len(y))
    aside_x, aside_y = _aside(rng, x, y)
    idle_x, idle_y = _aside(rng, x, y)
    n = len(stops)
    early = rng.uniform(-120, 120, n)
    cut = np.maximum(SHORT_MIN, stops["minutes"] * rng.uniform(*SHORT_SHARE, n)) * 60
    a = stops["arrive_s"] + np.select([fate == LATE], [delay], early)
    d = np.select(
        [fate == LATE, fate == SHORT], [a + stops["minutes"] * 60, a + cut], stops["depart_s"]
    )
    house = houses.loc[stops["station_id"], ["x", "y"]].to_numpy()
    stops = stops.assign(
        x=np.where(fate == ASIDE, aside_x, x),
        y=np.where(fate == ASIDE, aside_y, y),
        a=a,
        d=d,
        status=np.where((fate == ASIDE) & (rng.random(n) < 0.5), RESPONDING, PATROL),
        short=fate == SHORT,
        late=fate == LATE,
        idle_x=idle_x,
        idle_y=idle_y,
        hx=house[:, 0],
        hy=house[:, 1],
        skipped=pd.Series(fate == SKIPPED).groupby(route).cumsum().to_numpy(),
    )
    stops = stops[(fate != SKIPPED) & ~held].reset_index(drop=True)
    earlier = stops.groupby("route")["skipped"].shift(fill_value=0)
    return stops.assign(after_skip=stops.pop("skipped") > earlier)


def _waypoints(stops: pd.DataFrame) -> pd.DataFrame:
    """Each route's time line (`route, t, x, y, status`, the status holding until the next
    point): the house at the shift's start; for each stop, where the unit waits after the one
    before (there, patrolling or, when it skipped the stops between, on a break; on a call
    before a late stop; at the off-plan point after a stop cut short), when it leaves to
    arrive on time, its arrival and departure; home after the last."""
    col = {c: stops[c].to_numpy() for c in stops.columns}
    route = col["route"]
    first = np.r_[True, route[1:] != route[:-1]]
    last = np.r_[route[1:] != route[:-1], True]

    def before(values: np.ndarray, at_start: np.ndarray) -> np.ndarray:
        """Each stop's value of the stop before it in its route, `at_start` on first stops."""
        return np.where(first, at_start, np.r_[at_start[:1], values[:-1]])

    prev_x, prev_y = before(col["x"], col["hx"]), before(col["y"], col["hy"])
    after_short = before(col["short"], np.zeros(len(route), dtype=bool))
    wait_x = np.where(after_short, before(col["idle_x"], col["hx"]), prev_x)
    wait_y = np.where(after_short, before(col["idle_y"], col["hy"]), prev_y)
    t_wait = before(col["d"], col["start_s"]) + np.hypot(wait_x - prev_x, wait_y - prev_y) / (
        STREET_SPEED_MS
    )
    drive = np.hypot(col["x"] - wait_x, col["y"] - wait_y) / STREET_SPEED_MS
    t_leave = np.maximum(t_wait, col["a"] - drive)
    t_arrive = np.maximum(col["a"], t_leave + drive)
    t_depart = np.maximum(col["d"], t_arrive + 60)
    home = np.hypot(col["hx"] - col["x"], col["hy"] - col["y"]) / STREET_SPEED_MS
    patrol = np.full(len(route), PATROL)
    waiting = np.select(
        [col["late"], after_short, col["after_skip"]], [RESPONDING, PATROL, OFF_DUTY], PATROL
    )
    rank = np.arange(len(route)) * 4
    points = [  # rank, time, x, y, status, which stops
        (rank, col["start_s"], col["hx"], col["hy"], patrol, first),
        (rank + 1, t_wait, wait_x, wait_y, waiting, None),
        (rank + 2, t_leave, wait_x, wait_y, patrol, None),
        (rank + 3, t_arrive, col["x"], col["y"], col["status"], None),
        (rank + 4, t_depart, col["x"], col["y"], patrol, None),
        (rank + 5, t_depart + home, col["hx"], col["hy"], patrol, last),
    ]
    names = ("rank", "t", "x", "y", "status")
    frame = pd.concat(
        [
            pd.DataFrame(dict(zip(names, values, strict=True)))
            .assign(route=route)
            .iloc[slice(None) if which is None else np.flatnonzero(which)]
            for *values, which in points
        ],
        ignore_index=True,
    ).sort_values(["route", "rank"], ignore_index=True)
    frame["t"] = frame.groupby("route")["t"].cummax()  # a unit running late stays in order
    return frame


def _pings(rng, waypoints: pd.DataFrame) -> pd.DataFrame:
    """A ping every `PING_S` seconds along each route's time line, from the shift's start (a
    few seconds after it, each route its own phase) to the return home: `route`, `t`
    (seconds after the month's start), `x`, `y`, `status`."""
    span = waypoints.groupby("route")["t"].agg(["first", "last"])
    begin = span["first"].to_numpy() + rng.uniform(0, PING_S / 2, len(span))
    count = np.floor((span["last"].to_numpy() - begin) / PING_S).astype(np.int64) + 1
    route = np.repeat(span.index.to_numpy(), count)
    tick = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    t = np.repeat(begin, count) + PING_S * tick
    # routes laid end to end on one time line, so one interpolation serves them all
    line = waypoints["route"].to_numpy() * ROUTE_SPAN_S + (
        waypoints["t"].to_numpy() - span["first"].reindex(waypoints["route"]).to_numpy()
    )
    at = route * ROUTE_SPAN_S + (t - np.repeat(span["first"].to_numpy(), count))
    status = waypoints["status"].to_numpy()[np.searchsorted(line, at, side="right") - 1]
    return pd.DataFrame(
        {
            "route": route,
            "t": t,
            "x": np.interp(at, line, waypoints["x"].to_numpy()),
            "y": np.interp(at, line, waypoints["y"].to_numpy()),
            "status": status,
        }
    )


def demo_tracks(
    missions: pd.DataFrame,
    houses: pd.DataFrame,
    clocks: dict,
    month: str,
    seed: int = EXECUTION_SEED,
) -> pd.DataFrame:
    """A month of pings of the units of `missions` (a `missions.csv` frame for `month`)
    driving their routes by their stations' habits; `houses` are the station houses (index
    station_id; x, y in metres in the demo's UTM zone), `clocks` the shifts' `ShiftClock`s."""
    rng = np.random.default_rng(seed)
    start = pd.Period(month, "M").start_time
    stops = _stops(rng, missions, houses, clocks, start)
    pings = _pings(rng, _waypoints(stops))
    of_route = stops.drop_duplicates("route").set_index("route")
    route = pings.pop("route").to_numpy()
    n = len(pings)
    pings[["x", "y"]] += rng.normal(0, 6.0, (n, 2))  # GPS noise
    jump = rng.random(n) < 0.0005
    pings.loc[jump, "x"] += rng.choice([-1, 1], jump.sum()) * rng.uniform(5000, 10000, jump.sum())
    lost = rng.random(n) < 0.002  # a lost block of five pings: a gap beyond max_gap_s
    lost = np.convolve(lost, np.ones(5), mode="same") > 0
    lon, lat = unproject(pings["x"].to_numpy(), pings["y"].to_numpy(), METRIC)
    units = pd.Categorical(of_route.loc[route, "unit_id"])
    frame = pd.DataFrame(
        {
            "unit_id": units,
            "station_id": pd.Categorical(of_route.loc[route, "station_id"]),
            "recorded_at": start + pd.to_timedelta(np.round(pings["t"].to_numpy()), unit="s"),
            "lat": np.round(lat, 7),
            "lon": np.round(lon, 7),
            "status": pd.Categorical.from_codes(pings["status"].to_numpy(), STATUSES),
            "officers": of_route.loc[route, "officers"].to_numpy(),
        }
    )[~lost]
    twice = frame.sample(frac=0.001, random_state=rng)
    return pd.concat([frame, twice]).sort_values("recorded_at", kind="stable", ignore_index=True)


def demo_calls(data: Path, last_month: str, seed: int = EXECUTION_SEED) -> pd.DataFrame:
    """Dispatch records of the `CALL_MONTHS` months up to `last_month`: calls at case
    locations of each station, priority 1–3, response times by priority and station."""
    rng = np.random.default_rng(seed + 1)
    stations = _stations(data)
    cases = pd.read_csv(data / "cases.csv", usecols=["lat", "lon"])
    start = (pd.Period(last_month, "M") - (CALL_MONTHS - 1)).start_time
    hours = int((pd.Period(last_month, "M").end_time - start).total_seconds() // 3600) + 1
    rate = dict(zip(stations["station_id"], rng.uniform(0.03, 0.1, len(stations)), strict=True))
    speed = dict(zip(stations["station_id"], rng.uniform(0.7, 1.5, len(stations)), strict=True))
    where = station_of_points(stations, cases["lon"], cases["lat"])
    frames = []
    for station in stations["station_id"]:
        n = rng.poisson(rate[station] * hours)
        spots = cases[where == station].sample(n, replace=True, random_state=rng)
        received = start + pd.to_timedelta(np.sort(rng.uniform(0, hours * 3600, n)), unit="s")
        priority = rng.choice(PRIORITIES, n, p=PRIORITY_SHARE)
        median = np.vectorize(TRAVEL_MEDIAN_MIN.get)(priority) * speed[station]
        dispatched = received + pd.to_timedelta(rng.exponential(1.5, n), unit="m")
        arrived = dispatched + pd.to_timedelta(rng.lognormal(np.log(median), 0.45), unit="m")
        cleared = arrived + pd.to_timedelta(rng.exponential(30.0, n) + 5.0, unit="m")
        unanswered = rng.random(n) < 0.02
        fmt = "%Y-%m-%dT%H:%M:%S"
        frames.append(
            pd.DataFrame(
                {
                    "received_at": received.strftime(fmt),
                    "lat": spots["lat"].to_numpy(),
                    "lon": spots["lon"].to_numpy(),
                    "station_id": station,
                    "priority": priority,
                    "dispatched_at": dispatched.strftime(fmt),
                    "arrived_at": np.where(unanswered, "", arrived.strftime(fmt)),
                    "cleared_at": np.where(unanswered, "", cleared.strftime(fmt)),
                }
            )
        )
    calls = pd.concat(frames).sort_values("received_at", ignore_index=True)
    calls.insert(0, "call_id", [f"CAD{i:07d}" for i in range(len(calls))])
    return calls


def write_demo_execution(data: Path, month: str) -> Path:
    """The demo's last month as carried out: its calls (`calls.csv`), the plan for `month`
    made by running the month before in a scratch folder (kept in the data folder as
    `plan-<month>.csv`, the plan the units followed, with its `missions.csv` beside it) and
    the pings of the missions' units driving them (`patrol_tracks.parquet`). Returns the
    plan's path, `run`'s `--previous-plan` for `month`."""
    from optimizer.cycle import run_month  # the cycle is needed only to make the demo

    data = Path(data)
    demo_calls(data, month).to_csv(data / "calls.csv", index=False)
    before = previous_month(month)
    with tempfile.TemporaryDirectory(prefix="patrolopt-demo-") as scratch:
        folder = run_month(data, before, Path(scratch)).results[0].folder
        plan = pd.read_csv(folder / "allocation.csv", keep_default_na=False)
        shutil.copyfile(folder / "missions.csv", data / "missions.csv")
    path = data / f"plan-{month}.csv"
    plan.to_csv(path, index=False)
    missions = pd.read_csv(data / "missions.csv", dtype={"date": str, "unit_id": str})
    houses = metric_houses(_stations(data), METRIC)
    clocks = shift_clocks(load_config(data / "config.toml").allocation)
    tracks = demo_tracks(missions, houses, clocks, month)
    tracks.to_parquet(data / "patrol_tracks.parquet", index=False)
    return path
