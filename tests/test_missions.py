"""Missions (SPEC §16): routes a unit can drive, checked here independently of the solver on
a hand-made station and on the demo's plan."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from models.config import MissionsConfig
from optimizer.missions.frames import summary_frame
from optimizer.missions.routing import StationMonth, route_station

STRAIGHT = MissionsConfig(circuity=1.0, speed_kmh={"car": 30.0, "bike": 12.0, "foot": 4.5})


def station_month(visits: list[tuple], units: list[tuple], shift_min: int = 480) -> StationMonth:
    """A station house at (0, 0) and cells 1 km apart along the x axis: at 30 km/h a cell is
    2 minutes from the next."""
    cells = pd.DataFrame({"x": [1000.0, 2000.0, 3000.0], "y": 0.0}, index=["c1", "c2", "c3"])
    return StationMonth(
        station_id="S1",
        plan_month="2026-03",
        shift_min=shift_min,
        visits=pd.DataFrame(
            visits, columns=["day", "shift", "cell_id", "minutes", "early", "late", "risk"]
        ),
        units=pd.DataFrame(units, columns=["day", "shift", "unit_id", "officers", "mode"]),
        house=(0.0, 0.0),
        cells=cells,
    )


def test_one_unit_drives_out_visits_in_order_and_comes_back():
    """c1 and c2 of 13 minutes each: out 2 min, c1 02–15, 2 min on, c2 17–30, 4 min home."""
    month = station_month(
        [(0, "day", "c2", 13, 0, 467, 1.0), (0, "day", "c1", 13, 0, 467, 1.0)],
        [(0, "day", "S1-day-1", 2, "car")],
    )
    routed = route_station(month, config=STRAIGHT)
    stops = routed.stops[["cell_id", "arrive", "depart", "minutes", "travel_min"]]
    assert stops.values.tolist() == [["c1", 2, 15, 13, 2], ["c2", 17, 30, 13, 2]]
    route = routed.routes.iloc[0]
    assert (route["stops"], route["patrol_min"], route["travel_min"], route["end"]) == (
        2,
        26,
        8,
        34,
    )


def test_a_window_makes_the_unit_wait_and_the_gap_holds():
    """Two visits of c1 in one shift, the second not before minute 120: the unit waits."""
    month = station_month(
        [(0, "day", "c1", 13, 0, 17, 1.0), (0, "day", "c1", 13, 120, 400, 1.0)],
        [(0, "day", "S1-day-1", 2, "car")],
    )
    stops = route_station(month, config=STRAIGHT).stops
    assert stops[["arrive", "depart"]].values.tolist() == [[2, 15], [120, 133]]


def test_what_no_unit_can_reach_in_its_shift_is_left_out_and_counted():
    """A 60-minute shift: c3 is 6 minutes out and 6 back, so one unit carries three visits of
    16 minutes there (6 + 48 + 6 = 60) and not a fourth; the summary states the rest."""
    visits = [(0, "day", "c3", 16, 0, 44, 1.0)] * 4
    month = station_month(visits, [(0, "day", "S1-day-1", 1, "car")], shift_min=60)
    routed = route_station(month, config=STRAIGHT)
    assert routed.stops[["arrive", "depart"]].values.tolist() == [[6, 22], [22, 38], [38, 54]]
    assert routed.routes["end"].tolist() == [60]
    allocation = pd.DataFrame(
        {"station_id": ["S1"], "shift": ["day"], "hours": [1.1], "lender_station_id": [""]}
    )
    summary = summary_frame(
        allocation, routed.stops.assign(station_id="S1"), routed.routes.assign(station_id="S1")
    )
    row = summary.iloc[0]
    assert (row["lp_hours"], row["mission_hours"], row["unplaced_hours"]) == (1.1, 0.8, 0.3)


def test_a_station_with_hours_and_no_units_has_them_all_unplaced():
    allocation = pd.DataFrame(
        {"station_id": ["S1", "S2"], "shift": ["day", "day"], "hours": [5.0, 3.0]}
    ).assign(lender_station_id="")
    empty = pd.DataFrame(
        columns=["station_id", "day", "shift", "unit_id", "stop", "minutes", "officers"]
    )
    routes = pd.DataFrame(
        columns=["station_id", "day", "shift", "unit_id", "officers", "travel_min", "end"]
    )
    summary = summary_frame(allocation, empty, routes)
    assert summary[["station_id", "units", "unplaced_hours"]].values.tolist() == [
        ["S1", 0, 5.0],
        ["S2", 0, 3.0],
    ]


def test_the_same_month_routes_the_same_and_days_differ():
    visits = [
        (day, "day", cell, 13, 0, 467, risk)
        for day in (0, 1)
        for cell, risk in (("c1", 1.0), ("c2", 2.0), ("c3", 0.5), ("c1", 1.0))
    ]
    units = [(day, "day", f"S1-day-{n}", 2, "car") for day in (0, 1) for n in (1, 2)]
    month = station_month(visits, units)
    first = route_station(month, config=STRAIGHT)
    again = route_station(month, config=STRAIGHT)
    pd.testing.assert_frame_equal(first.stops, again.stops)


# --- the demo's plan, checked route by route ---------------------------------------------------


def _minutes(text: pd.Series) -> pd.Series:
    """Minutes since 1970 of local `YYYY-MM-DD[THH:MM]` text."""
    return (pd.to_datetime(text) - pd.Timestamp("1970-01-01")) // pd.Timedelta(minutes=1)


def test_every_demo_route_fits_its_shift_and_adds_up(demo_run):
    missions = pd.read_csv(demo_run / "missions.csv")
    routes = gpd.read_file(demo_run / "missions.geojson")
    routes["date"] = pd.to_datetime(routes["date"]).dt.strftime("%Y-%m-%d")  # read as dates
    starts = {"day": 8 * 60, "evening": 16 * 60, "night": 0}
    missions["start"] = _minutes(missions["date"]) + missions["shift"].map(starts)
    missions["arrive_min"] = _minutes(missions["arrive"])
    missions["depart_min"] = _minutes(missions["depart"])
    key = ["station_id", "date", "shift", "unit_id"]
    missions = missions.sort_values([*key, "stop"])
    assert (missions["depart_min"] - missions["arrive_min"] == missions["minutes"]).all()
    previous = missions.groupby(key)["depart_min"].shift().fillna(missions["start"])
    assert (missions["arrive_min"] >= previous + missions["travel_min"]).all()  # one place
    last = missions.groupby(key).last()
    drive = missions.groupby(key)["travel_min"].sum()
    back = routes.set_index(key)["travel_min"] - drive.reindex(routes.set_index(key).index)
    assert (back >= 0).all()
    assert (last["depart_min"] + back.reindex(last.index) <= last["start"] + 480).all()
    assert missions.groupby("unit_id")["station_id"].nunique().max() == 1


def test_demo_missions_carry_the_plan_and_keep_cells_apart(demo_run):
    missions = pd.read_csv(demo_run / "missions.csv")
    summary = pd.read_csv(demo_run / "missions_summary.csv")
    placed = (missions["minutes"] * missions["officers"]).sum() / 60
    assert abs(placed - summary["mission_hours"].sum()) < 0.05 * len(summary)  # rows in 0.1 h
    assert summary["mission_hours"].sum() >= 0.95 * summary["lp_hours"].sum()
    allocation = pd.read_csv(demo_run / "allocation.csv")
    assert abs(summary["lp_hours"].sum() - allocation["hours"].sum()) < 0.05 * len(summary)
    visits = missions.sort_values(["cell_id", "date", "shift", "arrive"])
    visits = visits.assign(arrive=_minutes(visits["arrive"]), depart=_minutes(visits["depart"]))
    before = visits.groupby(["cell_id", "date", "shift"])["depart"].shift()
    assert ((visits["arrive"] - before).dropna() >= 90).all()
    schedule = pd.read_csv(demo_run / "schedule.csv")
    assert len(schedule) == len(missions)
    assert schedule["minutes"].sum() == missions["minutes"].sum()


def test_demo_routes_change_from_day_to_day(demo_run):
    missions = pd.read_csv(demo_run / "missions.csv")
    one = missions[(missions["station_id"] == missions["station_id"].iloc[0])]
    one = one[one["shift"] == "day"]
    orders = one.groupby("date")["cell_id"].agg(tuple)
    assert orders.nunique() == len(orders)


def test_a_bureaus_own_units_drive_on_their_weekdays(demo_copy, tmp_path):
    """units.csv: S01's day shift has a car of two every day and a foot patrol of one on
    weekdays only; the missions use exactly those units, the foot patrol never on a weekend,
    and the LP's S01 day budget is no more than their officer-hours less the drive."""
    from click.testing import CliRunner

    from optimizer.cli import main

    stations = gpd.read_file(demo_copy / "stations.geojson")
    rows = [
        (f"{s}-{h}-car", s, h, 2, "car", "")
        for s in stations["station_id"]
        for h in ("day", "evening", "night")
    ]
    rows.append(("S01-day-foot", "S01", "day", 1, "foot", "1;2;3;4;5"))
    units = pd.DataFrame(
        rows, columns=["unit_id", "station_id", "shift", "officers", "mode", "weekdays"]
    )
    units.to_csv(demo_copy / "units.csv", index=False)
    out = tmp_path / "out"
    ran = CliRunner().invoke(
        main, ["run", "--data", str(demo_copy), "--month", "2025-12", "--out", str(out)]
    )
    assert ran.exit_code == 0, ran.output
    run = out / "2026-01" / "baseline"
    missions = pd.read_csv(run / "missions.csv")
    assert set(missions["unit_id"]) <= set(units["unit_id"])
    foot = missions[missions["unit_id"] == "S01-day-foot"]
    assert len(foot) and (pd.to_datetime(foot["date"]).dt.dayofweek < 5).all()
    assert (foot["officers"] == 1).all()
    duals = pd.read_csv(run / "duals.csv").set_index(["station_id", "shift"])
    weekdays = (pd.date_range("2026-01-01", "2026-01-31").dayofweek < 5).sum()
    listed = 2 * 8 * 31 + 1 * 8 * weekdays  # officer-hours of S01's day units in January
    s01 = duals.loc[("S01", "day")]
    assert s01["budget_hours"] <= listed - s01["drive_hours"] + 0.1


def test_a_config_setting_one_modes_speed_keeps_the_others():
    assert MissionsConfig(speed_kmh={"foot": 5.0}).speed_kmh == {
        "car": 30.0,
        "bike": 12.0,
        "foot": 5.0,
    }
