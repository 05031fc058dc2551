"""The demo bureau's execution data (SPEC §13): seeded GPS pings of units that follow the plan
for the demo month with realistic adherence, and dispatch records with response times.

Each station carries out a share of its planned hours (between about 55 % and 95 %, its own
habit) as visits of 16 minutes to the planned cells, plus some patrolling of cells the
plan left empty. A unit drives from visit to visit at street speed, pinging every 2 minutes
(coarse enough for the demo to stay quick: the benchmark runs the 10-second scale) with GPS
noise of a few metres; a few pings are lost in blocks (gaps), a few jump kilometres away, a few
arrive twice, and some visits are answered calls (`responding`). Calls cover the last four
months so the response reserve has its three months of history.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.crs import unproject
from geo.jurisdictions import station_of_points
from models.execution import planned_hours
from models.months import previous_month
from optimizer.demo import METRIC

EXECUTION_SEED = 20251201
PING_S = 120  # the longest gap that still counts (execution.max_gap_s)
VISIT_PINGS = 9  # 8 intervals of 2 minutes: a 16-minute visit (the Koper dose)
UNIT_VISITS = 22  # visits one unit makes in an 8-hour shift, with the drives between
OFFICERS_PER_UNIT = 1
STREET_SPEED_MS = 7.0  # about 25 km/h between visits
SHIFT_START = {"day": 8, "evening": 16, "night": 0}
CALL_MONTHS = 4
PRIORITIES = (1, 2, 3)
PRIORITY_SHARE = (0.2, 0.5, 0.3)
TRAVEL_MEDIAN_MIN = {1: 7.0, 2: 12.0, 3: 20.0}


def _stations(data: Path) -> gpd.GeoDataFrame:
    return gpd.read_file(data / "stations.geojson")


def _visits(rng, plan: pd.DataFrame, cells: pd.DataFrame, days: int) -> pd.DataFrame:
    """Visits (station, cell, shift, day) drawn from the planned hours at each station's
    adherence, plus off-plan visits to the station's unplanned cells."""
    planned = planned_hours(plan)
    planned = planned[planned["planned_hours"] > 0]
    stations = sorted(planned["station_id"].unique())
    habit = dict(zip(stations, rng.uniform(0.55, 0.95, len(stations)), strict=True))
    per_visit = OFFICERS_PER_UNIT * (VISIT_PINGS - 1) * PING_S / 3600  # officer-hours a visit
    expected = planned["planned_hours"] * planned["station_id"].map(habit) / per_visit
    counts = rng.poisson(expected.to_numpy())
    visits = planned.loc[planned.index.repeat(counts), ["station_id", "cell_id", "shift"]]
    empty = cells.merge(
        planned[["cell_id", "shift"]], on=["cell_id", "shift"], how="left", indicator=True
    )
    empty = empty[empty["_merge"] == "left_only"]
    off = []
    for station, group in visits.groupby("station_id"):
        pool = empty[empty["station_id"] == station]
        n = int(len(group) * rng.uniform(0.04, 0.12))
        if len(pool) and n:
            off.append(
                pool.sample(n, replace=True, random_state=rng)[["station_id", "cell_id", "shift"]]
            )
    visits = pd.concat([visits, *off], ignore_index=True)
    visits["day"] = rng.integers(0, days, len(visits))
    return visits.sample(frac=1.0, random_state=rng).reset_index(drop=True)


def _routes(rng, visits: pd.DataFrame, start: pd.Timestamp) -> pd.DataFrame:
    """Pings of units doing `visits` (ordered by `route`, one route per unit and day; `unit`,
    `station_id`, `offset_s` of the route's start, `x`, `y`, `responding`) one after another:
    a ping every `PING_S` seconds, `VISIT_PINGS` in a visit's cell, and between two visits the
    straight drive at street speed, one ping per step."""
    first = visits["route"].ne(visits["route"].shift()).to_numpy()
    x, y = visits["x"].to_numpy(), visits["y"].to_numpy()
    leg = np.hypot(x - np.roll(x, 1), y - np.roll(y, 1))
    steps = np.where(first, 0, np.ceil(leg / (STREET_SPEED_MS * PING_S))).astype(np.int64)
    travel = np.maximum(steps - 1, 0)
    count = travel + VISIT_PINGS
    row = np.repeat(np.arange(len(visits)), count)
    j = np.arange(len(row)) - np.repeat(np.cumsum(count) - count, count)
    driving = j < travel[row]
    frac = np.where(driving, (j + 1) / np.maximum(steps[row], 1), 1.0)
    px = np.roll(x, 1)[row] + frac * (x[row] - np.roll(x, 1)[row])
    py = np.roll(y, 1)[row] + frac * (y[row] - np.roll(y, 1)[row])
    route = np.cumsum(first) - 1
    visit_start = np.cumsum(count) - count  # index of each visit's first ping
    tick = np.arange(len(row)) - visit_start[first][route[row]]
    offset = visits["offset_s"].to_numpy()[row] + PING_S * tick
    responding = (~driving & visits["responding"].to_numpy()[row]).astype(np.int8)
    units = pd.Categorical(visits["unit"])
    stations = pd.Categorical(visits["station_id"])
    return pd.DataFrame(
        {
            "unit_id": pd.Categorical.from_codes(units.codes[row], units.categories),
            "station_id": pd.Categorical.from_codes(stations.codes[row], stations.categories),
            "recorded_at": start + pd.to_timedelta(offset, unit="s"),
            "x": px,
            "y": py,
            "status": pd.Categorical.from_codes(responding, ["patrol", "responding"]),
        }
    )


def demo_tracks(
    plan: pd.DataFrame, risk: pd.DataFrame, month: str, seed: int = EXECUTION_SEED
) -> pd.DataFrame:
    """A month of pings following `plan` (an allocation for `month`); `risk` gives the cell
    centres (`cell_id, shift, station_id, x, y`, metres in the demo's UTM zone)."""
    rng = np.random.default_rng(seed)
    period = pd.Period(month, "M")
    cells = risk[["cell_id", "shift", "station_id"]].drop_duplicates()
    centre = risk.drop_duplicates("cell_id").set_index("cell_id")[["x", "y"]]
    visits = _visits(rng, plan, cells, period.days_in_month)
    visits[["x", "y"]] = centre.loc[visits["cell_id"]].to_numpy() + rng.uniform(
        -90, 90, (len(visits), 2)
    )
    visits = visits.sort_values(["station_id", "shift", "day"], kind="stable", ignore_index=True)
    keys = ["station_id", "shift", "day"]
    number = visits.groupby(keys).cumcount() // UNIT_VISITS + 1
    visits["unit"] = (
        visits["station_id"]
        + "-"
        + visits["shift"].str[0].str.upper()
        + number.map("{:02d}".format)
    )
    hour = visits["shift"].map(SHIFT_START).fillna(0)
    visits["offset_s"] = (visits["day"] * 24 + hour) * 3600 + rng.uniform(
        0, 600, len(visits)
    ).round()
    visits["responding"] = rng.random(len(visits)) < 0.05
    visits = visits.sort_values(
        ["station_id", "shift", "day", "unit"], kind="stable", ignore_index=True
    )
    route = visits.groupby(["unit", "day"], sort=False).ngroup()
    visits = visits.assign(route=route).sort_values("route", kind="stable", ignore_index=True)
    visits["offset_s"] = visits.groupby("route")["offset_s"].transform("first")
    pings = _routes(rng, visits, period.start_time)
    n = len(pings)
    pings[["x", "y"]] += rng.normal(0, 6.0, (n, 2))  # GPS noise
    jump = rng.random(n) < 0.0005
    pings.loc[jump, "x"] += rng.choice([-1, 1], jump.sum()) * rng.uniform(5000, 10000, jump.sum())
    lost = rng.random(n) < 0.002  # a lost block of five pings: a gap beyond max_gap_s
    lost = np.convolve(lost, np.ones(5), mode="same") > 0
    pings = pings[~lost]
    lon, lat = unproject(pings["x"].to_numpy(), pings["y"].to_numpy(), METRIC)
    pings = pings.assign(lat=np.round(lat, 7), lon=np.round(lon, 7), officers=OFFICERS_PER_UNIT)
    pings = pings.drop(columns=["x", "y"])
    twice = pings.sample(frac=0.001, random_state=rng)
    pings = pd.concat([pings, twice]).sort_values("recorded_at", kind="stable", ignore_index=True)
    return pings[["unit_id", "station_id", "recorded_at", "lat", "lon", "status", "officers"]]


def demo_calls(data: Path, last_month: str, seed: int = EXECUTION_SEED) -> pd.DataFrame:
    """Dispatch records of the `CALL_MONTHS` months up to `last_month`: calls at case
    locations of each station, priority 1–3, response times by priority and station."""
    rng = np.random.default_rng(seed + 1)
    stations = _stations(data)
    cases = pd.read_csv(data / "cases.csv", usecols=["lat", "lon"])
    start = (pd.Period(last_month, "M") - (CALL_MONTHS - 1)).start_time
    hours = int((pd.Period(last_month, "M").end_time - start).total_seconds() // 3600) + 1
    rate = dict(zip(stations["station_id"], rng.uniform(0.05, 0.2, len(stations)), strict=True))
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
    made by running the month before in a scratch folder (kept as `plan-<month>.csv` in the
    data folder, the plan the units followed) and the pings of units following it
    (`patrol_tracks.parquet`). Returns the plan's path, `run`'s `--previous-plan` for `month`."""
    from optimizer.cycle import run_month  # the cycle is needed only to make the demo

    data = Path(data)
    demo_calls(data, month).to_csv(data / "calls.csv", index=False)
    before = previous_month(month)
    with tempfile.TemporaryDirectory(prefix="patrolopt-demo-") as scratch:
        folder = run_month(data, before, Path(scratch)).results[0].folder
        plan = pd.read_csv(folder / "allocation.csv", keep_default_na=False)
        risk = pd.read_csv(folder / "risk.csv")
    path = data / f"plan-{month}.csv"
    plan.to_csv(path, index=False)
    demo_tracks(plan, risk, month).to_parquet(data / "patrol_tracks.parquet", index=False)
    return path
