"""A month's visits (SPEC §16): Koper-dose visits within the hours allocated, spread evenly over
the days, each with an arrival window that keeps a cell's visits of a shift apart."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from models.config import AllocationConfig
from optimizer.missions.units import shift_clocks
from optimizer.missions.visits import VISIT_COLUMNS, month_visits

CLOCKS = shift_clocks(AllocationConfig())
NO_CREWS = pd.DataFrame({"station_id": [], "shift": [], "officers": []}).astype(
    {"station_id": str, "shift": str, "officers": float}
)


def allocation(hours: list[float], lenders: list[str]) -> pd.DataFrame:
    n = len(hours)
    return pd.DataFrame(
        {
            "station_id": ["S1"] * n,
            "cell_id": [f"c{i // 2}" for i in range(n)],
            "shift": ["day" if i % 2 == 0 else "night" for i in range(n)],
            "hours": hours,
            "prev_hours": 0.0,
            "risk": 1.0,
            "lender_station_id": lenders,
        }
    )


def visits_of(plan: pd.DataFrame, month: str = "2026-02", gap: float = 90, crew: int = 1):
    return month_visits(plan, month, NO_CREWS, CLOCKS, gap, crew)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0, 29, allow_nan=False), min_size=1, max_size=12),
    st.sampled_from([1, 2]),
)
def test_visits_never_exceed_the_hours_of_their_row(hours, crew):
    """A crew of two delivers two officer-minutes a minute: a row's minutes on scene are at
    most its hours × 60 ÷ crew, and only what cannot make one more visit is left out (below
    the 4 visits a day of 16 minutes a shift holds, see the last test)."""
    plan = allocation(hours, ["" if i % 3 else "S2" for i in range(len(hours))])
    visits = visits_of(plan, crew=crew)
    assert list(visits.columns) == VISIT_COLUMNS
    assert visits["minutes"].between(10, 16).all()
    patrol = plan["lender_station_id"].where(plan["lender_station_id"] != "", plan["station_id"])
    allowed = plan.groupby([patrol, plan["cell_id"], plan["shift"]])["hours"].sum() * 60 / crew
    used = visits.groupby(["station_id", "cell_id", "shift"])["minutes"].sum()
    assert (used <= allowed.reindex(used.index) + 1e-6).all()
    assert (allowed - used.reindex(allowed.index, fill_value=0) < 16 + 1e-6).all()


def test_lenders_patrol_their_visits_and_the_month_seeds_the_draw():
    plan = allocation([30.0, 0.0, 6.0, 0.0], ["", "", "S2", ""])
    visits = visits_of(plan)
    assert set(visits.loc[visits["cell_id"] == "c1", "station_id"]) == {"S2"}
    assert visits_of(plan).equals(visits)
    march = visits_of(plan, "2026-03")
    assert not march["early"].head(40).equals(visits["early"].head(40))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0.2, 60, allow_nan=False), min_size=1, max_size=10))
def test_a_cells_daily_visits_differ_by_at_most_one_and_keep_the_gap(hours):
    """Each cell's visit count per day is ⌊n/days⌋ or ⌈n/days⌉; the windows of a cell's visits
    of one day and shift leave 90 minutes between one visit's end and the next arrival, and
    every visit fits its 8-hour shift."""
    plan = allocation(hours, [""] * len(hours))
    visits = visits_of(plan)
    counts = (
        visits.groupby(["cell_id", "shift", "day"])
        .size()
        .unstack(fill_value=0)
        .reindex(columns=range(28), fill_value=0)
    )
    assert (counts.max(axis=1) - counts.min(axis=1) <= 1).all()
    assert (visits["early"] >= 0).all() and (visits["early"] <= visits["late"]).all()
    assert (visits["late"] + visits["minutes"] <= 480).all()
    for _, day in visits.groupby(["cell_id", "shift", "day"]):
        day = day.sort_values("early")
        latest_end = (day["late"] + day["minutes"]).to_numpy()[:-1]
        assert (day["early"].to_numpy()[1:] - latest_end >= 90).all()


def test_no_day_takes_every_cells_first_visit():
    """Eighty cells of a station, each visited six to nine times in a 28-day month: a cell's
    visits fall on different days, and no day carries half as much again as the month's mean
    of about 21 (every cell's first visit on the 1st would make it 80)."""
    hours = [1.5 + (i % 4) * 0.5 for i in range(80)]
    plan = allocation(hours, [""] * 80)
    plan["cell_id"] = [f"c{i}" for i in range(80)]
    plan["shift"] = "day"
    visits = visits_of(plan)
    assert visits.groupby(["cell_id", "day"]).size().max() == 1
    per_day = visits.groupby("day").size().reindex(range(28), fill_value=0)
    assert per_day.max() < 1.5 * per_day.mean()


def test_a_cell_sees_no_more_visits_a_shift_than_the_gap_allows():
    """60 officer-hours on foot (crew 1) would be 8 visits a day; an 8-hour shift with a
    90-minute gap holds 4 of 16 minutes (4 × 106 ≤ 480): the rest is left for the summary."""
    plan = allocation([60.0], [""])
    visits = visits_of(plan, crew=1)
    assert visits.groupby("day").size().max() == 4
    assert visits["minutes"].sum() == 4 * 28 * 16
