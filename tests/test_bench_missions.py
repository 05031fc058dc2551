"""scripts/bench_missions.py: the independent route check finds each broken rule of a hand-made
pair of routes, and nothing in the unbroken pair; the nearest-neighbour orders it compares
against."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

SHIFT_HOURS = {"day": (8, 16), "night": (22, 6)}  # the night crosses midnight
PACE = 0.002  # minutes of drive per metre: 30 km/h, circuity 1
GAP = 90  # revisit gap, minutes
HOUSES = {"S1": (0.0, 0.0), "S2": (5000.0, 0.0)}
CELLS = {"c1": (1000.0, 0.0), "c2": (1000.0, 1500.0), "c3": (0.0, 2500.0)}
# (station, date, shift, unit, stop, cell, arrive, depart, minutes, travel_min)
ROUTES = [
    # 2 min to c1, 3 min to c2, 3.6 min home: back at 08:31, long before 16:00
    ("S1", "2026-01-05", "day", "U1", 1, "c1", "2026-01-05T08:02", "2026-01-05T08:12", 10, 2),
    ("S1", "2026-01-05", "day", "U1", 2, "c2", "2026-01-05T08:15", "2026-01-05T08:27", 12, 3),
    # 5 min to c3 and 5 min home each way; c3 again 7 h later; home at 05:55 of the next day
    ("S1", "2026-01-05", "night", "U2", 1, "c3", "2026-01-05T22:05", "2026-01-05T22:15", 10, 5),
    ("S1", "2026-01-05", "night", "U2", 2, "c3", "2026-01-06T05:40", "2026-01-06T05:50", 10, 0),
]


@pytest.fixture(scope="module")
def bench():
    path = Path(__file__).resolve().parents[1] / "scripts" / "bench_missions.py"
    spec = importlib.util.spec_from_file_location("bench_missions", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def stops(rows: list[tuple]) -> pd.DataFrame:
    """Rows of missions.csv with the metres and the pace the check reads."""
    frame = pd.DataFrame(
        rows,
        columns=[
            *("station_id", "date", "shift", "unit_id", "stop", "cell_id"),
            *("arrive", "depart", "minutes", "travel_min"),
        ],
    )
    cell = np.array([CELLS[c] for c in frame["cell_id"]])
    house = np.array([HOUSES[s] for s in frame["station_id"]])
    return frame.assign(x=cell[:, 0], y=cell[:, 1], hx=house[:, 0], hy=house[:, 1], min_per_m=PACE)


def broken(bench, rows: list[tuple]) -> list[tuple]:
    found = bench.route_violations(stops(rows), SHIFT_HOURS, GAP)
    return [(r.unit_id, r.stop, r.rule, round(r.by_min, 2)) for r in found.itertuples()]


def changed(row: int, **values) -> list[tuple]:
    """ROUTES with some fields of one row replaced."""
    fields = ["station_id", "date", "shift", "unit_id", "stop", "cell_id", "arrive", "depart"]
    fields += ["minutes", "travel_min"]
    rows = [list(r) for r in ROUTES]
    for name, value in values.items():
        rows[row][fields.index(name)] = value
    return [tuple(r) for r in rows]


def test_routes_that_keep_every_rule_pass(bench):
    assert broken(bench, ROUTES) == []


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (  # a minute early at c2: the drive from c1 takes 3
            changed(1, arrive="2026-01-05T08:14", depart="2026-01-05T08:26"),
            [("U1", 2, "arrives before the drive from the previous stop ends", 1.0)],
        ),
        (  # leaves c3 at 05:57, home at 06:02 of the next day
            changed(3, arrive="2026-01-06T05:47", depart="2026-01-06T05:57"),
            [("U2", 2, "back after the shift's end", 2.0)],
        ),
        (
            changed(1, depart="2026-01-05T08:28"),
            [("U1", 2, "on scene other than its minutes", 1.0)],
        ),
        (
            changed(0, travel_min=1),
            [("U1", 1, "travel_min below the drive", 1.0)],
        ),
        (
            changed(1, stop=3),
            [("U1", 3, "stops not numbered 1, 2, …", 1.0)],
        ),
        (  # back at c3 45 min after leaving it
            changed(3, arrive="2026-01-05T23:00", depart="2026-01-05T23:10"),
            [("U2", 2, "cell visited again within the revisit gap", 45.0)],
        ),
    ],
)
def test_each_broken_rule_is_found_where_it_is_broken(bench, rows, expected):
    assert broken(bench, rows) == expected


def test_a_unit_in_two_routes_at_once_and_a_cell_visited_by_two_stations(bench):
    # U1 also patrols for S2 that morning: 10 min to c1, there from 08:20, while its S1 route
    # lasts until 08:31 and its S1 visit left c1 at 08:12
    other = ("S2", "2026-01-05", "day", "U1", 1, "c1", "2026-01-05T08:20", "2026-01-05T08:30")
    assert broken(bench, [*ROUTES, (*other, 10, 10)]) == [
        ("U1", 0, "in two routes at once", 30.61),
        ("U1", 1, "cell visited within the revisit gap of another station's unit", 82.0),
    ]


def test_nearest_first_keeps_the_revisit_gap_when_given_one(bench):
    house = np.array([0.0, 0.0])
    xy = np.array([[100.0, 0.0], [100.0, 0.0], [1000.0, 0.0]])  # a cell twice, then one far
    cells, minutes = np.array(["a", "a", "b"]), np.array([10.0, 10.0, 10.0])
    assert list(bench.nearest_first(xy, house, cells, minutes, PACE)) == [0, 1, 2]
    assert list(bench.nearest_first(xy, house, cells, minutes, PACE, GAP)) == [0, 2, 1]
    # 100 m + 900 m + 900 m back to the second visit + 100 m home
    assert bench.route_drive(xy[[0, 2, 1]], house, PACE) == pytest.approx(2000 * PACE)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.floats(0, 5000), st.floats(0, 5000)), max_size=12),
    st.sampled_from([0.0, GAP]),
)
def test_nearest_first_orders_every_stop_once(bench, points, gap):
    cells = np.array([f"c{c}" for c, _, _ in points], dtype=object)
    xy = np.array([[x, y] for _, x, y in points], dtype=float).reshape(-1, 2)
    order = bench.nearest_first(xy, np.zeros(2), cells, np.full(len(xy), 12.0), PACE, gap)
    assert sorted(order) == list(range(len(points)))
