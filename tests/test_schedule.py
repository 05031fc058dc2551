"""Visit schedule (SPEC §6): Koper-dose visits that never exceed the hours allocated."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.schedule import SCHEDULE_COLUMNS, visit_schedule


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


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 60, allow_nan=False), min_size=1, max_size=12))
def test_visits_never_exceed_the_hours_of_their_row(hours):
    plan = allocation(hours, ["" if i % 3 else "S2" for i in range(len(hours))])
    schedule = visit_schedule(plan, "2026-02")
    assert list(schedule.columns) == SCHEDULE_COLUMNS
    assert schedule["minutes"].between(10, 16).all()
    patrol = plan["lender_station_id"].where(plan["lender_station_id"] != "", plan["station_id"])
    allowed = plan.groupby([patrol, plan["cell_id"], plan["shift"]])["hours"].sum() * 60
    used = schedule.groupby(["station_id", "cell_id", "shift"])["minutes"].sum()
    assert (used <= allowed.reindex(used.index) + 1e-6).all()
    # only the minutes too few for one more visit are left unscheduled
    assert (allowed - used.reindex(allowed.index, fill_value=0) < 16 + 1e-6).all()


def test_lenders_patrol_their_visits_spread_over_the_month():
    plan = allocation([30.0, 0.0, 6.0, 0.0], ["", "", "S2", ""])
    schedule = visit_schedule(plan, "2026-02")
    assert set(schedule.loc[schedule["cell_id"] == "c1", "station_id"]) == {"S2"}
    own = schedule[schedule["station_id"] == "S1"]
    assert own["date"].nunique() == 28  # 30 h of ~13-minute visits reach every day
    per_day = own.groupby("date")["visit"].max()
    assert per_day.between(4, 6).all()
    assert visit_schedule(plan, "2026-02").equals(schedule)  # seeded by month
    march = visit_schedule(plan, "2026-03")
    assert not np.array_equal(march["minutes"].to_numpy()[:50], schedule["minutes"].to_numpy()[:50])


def test_the_schedule_is_written_as_parquet_with_the_same_rows(tmp_path):
    from models.config import Config
    from optimizer.manifest import write_output

    plan = allocation([30.0, 4.0, 6.0, 12.5], ["", "", "S2", ""])
    schedule = visit_schedule(plan, "2026-02")
    csv = pd.read_csv(write_output(tmp_path, "schedule.csv", schedule))
    parquet = pd.read_parquet(write_output(tmp_path, "schedule.parquet", schedule))
    assert list(parquet.columns) == SCHEDULE_COLUMNS
    pd.testing.assert_frame_equal(parquet.astype(csv.dtypes.to_dict()), csv)
    assert (csv["minutes"] == csv["minutes"].round()).all()  # whole minutes, written as such
    assert Config.model_validate({"output": {"schedule_format": "parquet"}})
    with pytest.raises(ValueError, match="schedule_format"):
        Config.model_validate({"output": {"schedule_format": "xlsx"}})


def test_a_month_of_many_visits_is_built_without_python_per_visit():
    """2,000 rows of 60 h give about 550,000 visits: ids are categoricals (each stored once)
    and every row's minutes stay within its hours."""
    n = 2000
    plan = pd.DataFrame(
        {
            "station_id": [f"S{i % 40:02d}" for i in range(n)],
            "cell_id": [f"{i}_0" for i in range(n)],
            "shift": ["day", "evening", "night", "day"] * (n // 4),
            "hours": 60.0,
            "prev_hours": 0.0,
            "risk": 1.0,
            "lender_station_id": "",
        }
    )
    schedule = visit_schedule(plan, "2026-03")
    assert len(schedule) > 500_000
    for column in ("station_id", "date", "shift", "cell_id"):
        assert isinstance(schedule[column].dtype, pd.CategoricalDtype), column
    assert schedule.groupby("cell_id", observed=True)["minutes"].sum().max() <= 60 * 60
    assert schedule["visit"].min() == 1


def schedule_visit_by_visit(plan: pd.DataFrame, plan_month: str) -> list[tuple]:
    """The schedule's rules read one visit at a time in Python: rows by patrolling station,
    shift and cell draw their visit lengths in turn, then every kept visit its random order
    number; visits sorted by station, day, shift and that number, numbered per slot."""
    period = pd.Period(plan_month, "M")
    rng = np.random.default_rng(period.year * 100 + period.month)
    rows = sorted(
        (lender or station, shift, cell, hours)
        for station, shift, cell, hours, lender in plan[
            ["station_id", "shift", "cell_id", "hours", "lender_station_id"]
        ].itertuples(index=False)
        if hours > 0
    )
    budgets = [int(np.floor(hours * 60 + 1e-6)) for *_, hours in rows]
    lengths = iter(rng.integers(10, 17, size=sum(b // 10 for b in budgets)).tolist())
    first_days = rng.integers(0, period.days_in_month, size=len(rows)).tolist()
    visits = []
    for (patrol, shift, cell, _), budget, first in zip(rows, budgets, first_days, strict=True):
        drawn = [next(lengths) for _ in range(budget // 10)]
        kept = [m for i, m in enumerate(drawn) if sum(drawn[: i + 1]) <= budget]
        visits += [(patrol, shift, cell, rank, len(kept), first, m) for rank, m in enumerate(kept)]
    order = rng.random(len(visits)).tolist()
    shifts = sorted({v[1] for v in visits})
    days = period.days_in_month
    keyed = sorted(
        (patrol, (rank * days // n + first) % days, shifts.index(shift), order[i], i, cell, m)
        for i, (patrol, shift, cell, rank, n, first, m) in enumerate(visits)
    )
    out, slot, number = [], None, 0
    for patrol, day, shift, _, _, cell, m in keyed:
        number = number + 1 if (patrol, day, shift) == slot else 1
        slot = (patrol, day, shift)
        out.append((patrol, f"{plan_month}-{day + 1:02d}", shifts[shift], number, cell, m))
    return out


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(0, 40, allow_nan=False), min_size=1, max_size=16),
    st.lists(st.sampled_from(["", "S2", "S3"]), min_size=16, max_size=16),
    st.sampled_from(["2026-02", "2026-07"]),
)
def test_the_schedule_follows_its_rules_visit_by_visit(hours, lenders, month):
    plan = allocation(hours, lenders[: len(hours)])
    plan["station_id"] = ["S1" if i % 4 else "S4" for i in range(len(hours))]
    plan["lender_station_id"] = plan["lender_station_id"].where(
        plan["lender_station_id"] != plan["station_id"], ""
    )
    schedule = visit_schedule(plan, month)
    got = list(schedule.astype({c: str for c in ("station_id", "date", "shift", "cell_id")})
               .itertuples(index=False, name=None))  # fmt: skip
    assert got == schedule_visit_by_visit(plan, month)


def test_no_day_takes_every_cells_first_visit():
    """Eighty cells of a station, each visited six to nine times in a 28-day month: a cell's
    visits fall on different days (daily counts 0 or 1), and no day carries half as much again
    as the month's mean of about 21 (every cell's first visit on the 1st would make it 80)."""
    hours = [1.5 + (i % 4) * 0.5 for i in range(80)]  # 6 to 9 visits of 10-16 minutes
    plan = allocation(hours, [""] * 80)
    plan["cell_id"] = [f"c{i}" for i in range(80)]
    plan["shift"] = "day"
    schedule = visit_schedule(plan, "2026-02")
    per_cell_day = schedule.groupby(["cell_id", "date"], observed=True).size()
    assert per_cell_day.max() == 1
    per_day = (
        schedule.groupby("date", observed=True)
        .size()
        .reindex([f"2026-02-{d:02d}" for d in range(1, 29)], fill_value=0)
    )
    assert per_day.max() < 1.5 * per_day.mean()
