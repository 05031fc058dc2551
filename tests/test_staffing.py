"""The staffing model (SPEC §19): officers per station as whole numbers of the allocation LP —
an answer worked out by hand, the best staffing found by trying every one on small bureaus,
the rules it keeps, the impossible total explained."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.config import AllocationConfig, StaffingConfig
from models.errors import InfeasiblePlan
from optimizer.allocation import PatrolAllocation
from optimizer.allocation.staffing import EXACT, ROUNDED, recommend, round_to_total, shared_out

ONE_SHIFT = AllocationConfig(
    shift_share={"day": 1.0},
    shift_hours={"day": (0, 24)},
    patrol_hours_per_officer=10,
)
NO_NEIGHBOURS = pd.DataFrame(columns=["station_id", "neighbour_id"])


def two_stations(reserve_b: float = 0.0):
    """Station A: 40 cells of risk 1; station B: 40 cells without risk; 20 officers each,
    one 24-hour shift, 10 patrol hours per officer, no aid. A's 200 hours fill the first
    benefit segment of its cells (15 h each, 600 h in all) at 0.01 of the risk per hour."""
    cells = pd.DataFrame(
        {
            "cell_id": [f"{s}{i}" for s in "AB" for i in range(40)],
            "station_id": [s for s in "AB" for _ in range(40)],
        }
    )
    risk = cells[["cell_id"]].assign(shift="day", risk=np.where(cells["station_id"] == "A", 1, 0))
    stations = pd.DataFrame({"station_id": ["A", "B"], "officers": [20, 20]})
    reserve = pd.DataFrame({"station_id": ["B"], "shift": ["day"], "reserve_hours": [reserve_b]})
    return risk, cells, stations, reserve


def today(risk, cells, stations, config, reserve=None, previous=None, neighbours=NO_NEIGHBOURS):
    return PatrolAllocation.from_frames(
        risk, cells, stations, neighbours, config, previous, reserve=reserve
    ).solve("matrix")


def test_the_risky_station_gains_what_the_move_bound_allows():
    risk, cells, stations, reserve = two_stations()
    plan = today(risk, cells, stations, ONE_SHIFT, reserve)
    assert plan.objective_ == pytest.approx(200 * 0.01)  # 20 officers × 10 h at 0.01 harm / h
    staffing = recommend(plan.data, stations, StaffingConfig())
    assert staffing.recommended.to_dict() == {"A": 22, "B": 18}  # ⌊10 % of 20⌋ = 2 move
    assert staffing.objective == pytest.approx(220 * 0.01)
    assert (staffing.method, staffing.gap) == (EXACT, 0.0)


def test_the_response_reserve_is_met_first():
    # B's reserve of 190 h needs 19 officers of 10 h: B gives one officer, not two
    risk, cells, stations, reserve = two_stations(reserve_b=190.0)
    plan = today(risk, cells, stations, ONE_SHIFT, reserve)
    staffing = recommend(plan.data, stations, StaffingConfig())
    assert staffing.recommended.to_dict() == {"A": 21, "B": 19}
    bounds = staffing.bounds.set_index("station_id")
    assert bounds.loc["B", ["reserve_officers", "lower", "held_by"]].tolist() == [19, 19, "reserve"]


def test_a_total_the_reserves_cannot_share_is_explained_in_numbers_that_add_up():
    risk, cells, stations, reserve = two_stations(reserve_b=190.0)
    plan = today(risk, cells, stations, ONE_SHIFT, reserve)
    with pytest.raises(InfeasiblePlan) as caught:
        recommend(plan.data, stations, StaffingConfig(total=30, min_officers=12))
    assert caught.value.diagnosis == [
        "staffing: the stations need at least 37 officers, the total is 30 (staffing.total)",
        "the response reserves need 19 officers at 1 station(s) (B)",
        "the move bound (max_move_share = 0.1) keeps 18 officers at 1 station(s) (A)",
    ]
    with pytest.raises(InfeasiblePlan) as caught:
        recommend(plan.data, stations, StaffingConfig(total=50))
    assert caught.value.diagnosis == [
        "staffing: the stations may hold at most 44 officers, the total is 50 "
        "(staffing.total): each gains at most max_move_share = 0.1 of its officers"
    ]


def test_more_officers_go_where_they_prevent_most():
    # a scenario's total: 4 more officers, all to A (B's cells hold no risk)
    risk, cells, stations, reserve = two_stations()
    plan = today(risk, cells, stations, ONE_SHIFT, reserve)
    staffing = recommend(plan.data, stations, StaffingConfig(total=42, max_move_share=0.2))
    assert staffing.recommended.to_dict() == {"A": 24, "B": 18}


def test_small_and_empty_stations_keep_their_officers():
    # 9 officers: a tenth is less than one; none: nothing moves; 1 (below min_officers)
    # never loses its one
    risk, cells, _, _ = two_stations()
    cells = pd.concat([cells, pd.DataFrame({"cell_id": ["C0", "D0"], "station_id": ["C", "D"]})])
    stations = pd.DataFrame({"station_id": ["A", "B", "C", "D"], "officers": [20, 9, 0, 1]})
    plan = today(risk, cells, stations, ONE_SHIFT)
    staffing = recommend(plan.data, stations, StaffingConfig(max_move_share=0.5))
    bounds = staffing.bounds.set_index("station_id")
    assert bounds["move"].tolist() == [10, 4, 0, 0]
    assert bounds["lower"].tolist() == [10, 5, 0, 1]
    assert staffing.recommended.to_dict() == {"A": 24, "B": 5, "C": 0, "D": 1}


def test_rounding_keeps_the_total_and_the_bounds():
    relaxed = np.array([3.4, 5.5, 2.1, 7.0])
    assert round_to_total(relaxed, np.array([3, 4, 2, 6]), np.array([4, 6, 3, 8]), 18).tolist() == [
        3,
        6,
        2,
        7,
    ]
    assert round_to_total(relaxed, np.array([3, 4, 2, 6]), np.array([4, 6, 3, 8]), 19).tolist() == [
        4,
        6,
        2,
        7,
    ]


@st.composite
def bureaus(draw):
    """2–3 stations in a chain, 1–4 cells each, three shifts; officers, reserves, the
    saturation dose, hours per officer, aid, home share and a previous plan drawn."""
    n_stations = draw(st.integers(2, 3))
    n_cells = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    ids = [f"S{i}" for i in range(n_stations)]
    cells = pd.DataFrame(
        {
            "cell_id": [f"{s}_{c}" for s in ids for c in range(n_cells)],
            "station_id": [s for s in ids for _ in range(n_cells)],
        }
    )
    shifts = ["day", "evening", "night"]
    risk = cells[["cell_id"]].merge(pd.DataFrame({"shift": shifts}), how="cross")
    quiet = rng.random(len(risk)) < 0.3
    risk["risk"] = np.where(quiet, 0.0, np.round(rng.gamma(0.8, 4.0, len(risk)), 3))
    officers = draw(
        st.lists(st.sampled_from([9, 12, 4, 7, 1, 0]), min_size=n_stations, max_size=n_stations)
    )
    stations = pd.DataFrame({"station_id": ids, "officers": officers})
    config = AllocationConfig(
        max_hours_cell=draw(st.sampled_from([10.0, 30.0])),
        patrol_hours_per_officer=draw(st.sampled_from([5.0, 20.0, 60.0])),
        max_aid_share=draw(st.sampled_from([0.0, 0.1, 0.3])),
        min_station_share=draw(st.sampled_from([0.5, 0.8])),
        max_change_share=1.0,
    )
    reserve = pd.DataFrame(
        {
            "station_id": np.repeat(ids, 3),
            "shift": shifts * n_stations,
            # the hours of 0, 2 or 5 officers
            "reserve_hours": rng.choice([0, 0, 2, 5], 3 * n_stations)
            * config.patrol_hours_per_officer
            * np.tile([config.shift_share[h] for h in shifts], n_stations),
        }
    )
    pairs = [(ids[i], ids[i + 1]) for i in range(n_stations - 1)]
    neighbours = pd.DataFrame(
        pairs + [(b, a) for a, b in pairs], columns=["station_id", "neighbour_id"]
    )
    previous = None
    if draw(st.booleans()):
        previous = risk[["cell_id", "shift"]].assign(
            hours=np.round(rng.uniform(0, 8, len(risk)), 1)
        )
    staffing = StaffingConfig(
        max_move_share=draw(st.sampled_from([0.5, 0.34])),
        min_officers=draw(st.sampled_from([0, 2])),
    )
    return risk, cells, stations, neighbours, config, reserve, previous, staffing


def plan_with(officers, bureau) -> PatrolAllocation | None:
    """The plan with `officers` (by station), or None where the rules allow none."""
    risk, cells, stations, neighbours, config, reserve, previous, _ = bureau
    moved = stations.assign(officers=stations["station_id"].map(officers))
    try:
        return today(risk, cells, moved, config, reserve, previous, neighbours)
    except InfeasiblePlan:
        return None


@settings(max_examples=40, deadline=None, derandomize=True)
@given(bureaus())
def test_the_recommendation_is_the_best_whole_staffing(bureau):
    """Every staffing within the bounds that keeps the total, planned one by one: none beats
    the exact recommendation, whose claimed objective is that of the plan it makes, and it
    refuses only where none has a plan; the rounded relaxation never beats it and its
    stated bound holds both."""
    risk, cells, stations, neighbours, config, reserve, previous, rules = bureau
    base = plan_with(stations.set_index("station_id")["officers"], bureau)
    if base is None:
        return  # floors beyond today's budgets: no plan to staff
    try:
        bounds, total = shared_out(stations, reserve, config, rules)
    except InfeasiblePlan:
        return  # a total the bounds cannot share: tested by hand above
    ids = bounds["station_id"].tolist()
    best = -np.inf
    for counts in itertools.product(
        *(range(lo, hi + 1) for lo, hi in zip(bounds["lower"], bounds["upper"], strict=True))
    ):
        if sum(counts) == total:
            plan = plan_with(dict(zip(ids, counts, strict=True)), bureau)
            best = max(best, plan.objective_ if plan is not None else -np.inf)
    if best == -np.inf:
        with pytest.raises(InfeasiblePlan):
            recommend(base.data, stations, rules, EXACT)
        return
    exact = recommend(base.data, stations, rules, EXACT)
    assert exact.objective == pytest.approx(best, rel=1e-6, abs=1e-6)
    made = plan_with(exact.recommended.to_dict(), bureau)
    assert made.objective_ == pytest.approx(exact.objective, rel=1e-6, abs=1e-6)
    rounded = recommend(base.data, stations, rules, ROUNDED)
    assert rounded.objective <= exact.objective + 1e-6
    assert rounded.bound >= exact.objective - 1e-6


@settings(max_examples=40, deadline=None, derandomize=True)
@given(bureaus(), st.integers(-3, 3))
def test_the_total_moves_and_reserve_hold_and_today_is_never_beaten(bureau, extra):
    risk, cells, stations, neighbours, config, reserve, previous, rules = bureau
    base = plan_with(stations.set_index("station_id")["officers"], bureau)
    if base is None:
        return
    total = int(stations["officers"].sum()) + extra
    asked = rules.model_copy(update={"total": total}) if total > 0 else rules
    try:
        staffing = recommend(base.data, stations, asked)
    except InfeasiblePlan as refused:
        assert refused.diagnosis[0].startswith("staffing: ")
        return
    n = staffing.recommended.reindex(stations["station_id"]).to_numpy()
    today_n = stations["officers"].to_numpy()
    assert n.sum() == staffing.total
    assert (np.abs(n - today_n) <= np.floor(rules.max_move_share * today_n + 1e-9)).all()
    assert (n >= np.minimum(rules.min_officers, today_n)).all()
    per_officer = config.patrol_hours_per_officer * reserve["shift"].map(config.shift_share)
    officers = reserve["station_id"].map(staffing.recommended)
    bounds = staffing.bounds.set_index("station_id")
    reachable = reserve["station_id"].map(bounds["reserve_officers"] <= bounds["upper"])
    held = officers * per_officer >= reserve["reserve_hours"] - 1e-9
    assert held[reachable].all()
    if extra == 0 and (bounds["lower"] <= today_n).all():
        assert staffing.objective >= base.objective_ - 1e-6


def test_each_station_is_told_why_in_plain_words():
    from optimizer.staffing import reasons

    bounds = pd.DataFrame(
        {
            "officers": [20.0, 0.0, 9.0, 30.0],
            "move": [2, 0, 0, 3],
            "reserve_officers": [0.0, 3.0, 0.0, 34.0],
            "lower": [18, 0, 9, 33],
            "upper": [22, 0, 9, 33],
            "held_by": ["", "reserve", "", "reserve"],
        },
        index=pd.Index(["A", "B", "C", "D"], name="station_id"),
    )
    table = pd.DataFrame(
        {"change": [2, 0, 0, 3], "recommended": [22, 0, 9, 33], "reserve_units": [0, 1, 0, 3]}
    )
    harm = pd.Series([40.0, 5.0, 9.0, 30.0], index=bounds.index)  # 84 harm, 59 officers
    worth = pd.Series([0.5, 0.0, 0.2, 0.3], index=bounds.index)
    assert reasons(table, bounds, harm, worth) == [
        "forecast harm per officer 1.4× the bureau's; one more officer prevents 0.5 harm a month "
        "here, 0.3 at the median station; gains 2 (as many as the move bound allows)",
        "no officers today, so none to move; aid alone patrols here; one more officer prevents 0 "
        "harm a month here, 0.3 at the median station; the response reserve holds 1 unit(s) (the "
        "hours of 3 officers, more than the move bound lets it reach); unchanged",
        "forecast harm per officer 0.7× the bureau's; one more officer prevents 0.2 harm a month "
        "here, 0.3 at the median station; unchanged: max_move_share of 9 officers is less than "
        "one officer",
        "forecast harm per officer 0.7× the bureau's; one more officer prevents 0.3 harm a month "
        "here, 0.3 at the median station; the response reserve holds 3 unit(s) (the hours of 34 "
        "officers, more than the move bound lets it reach); gains 3 to meet its response reserve "
        "first",
    ]


def test_a_run_publishes_its_plan_when_todays_total_cannot_be_shared(monkeypatch):
    """With today's total, reserves beyond what the move bound allows leave the month without
    a recommendation and the diagnosis in its place; a total a scenario asks for must be
    answered: its impossibility is the scenario's."""
    from types import SimpleNamespace

    import optimizer.staffing as stage
    from models.config import Config

    def impossible(*args, **kwargs):
        raise InfeasiblePlan(
            ["staffing: the stations need at least 528 officers, the total is 500"]
        )

    monkeypatch.setattr(stage, "staffing_stage", impossible)
    today = SimpleNamespace(config=Config())
    assert stage.monthly_staffing(today, "2025-12", None, None, None, None) == (
        None,
        ["staffing: the stations need at least 528 officers, the total is 500"],
    )
    asked = SimpleNamespace(config=Config(staffing=StaffingConfig(total=500)))
    with pytest.raises(InfeasiblePlan):
        stage.monthly_staffing(asked, "2025-12", None, None, None, None)
