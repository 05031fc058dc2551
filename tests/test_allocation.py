"""Allocation LP (SPEC §6): every rule checked from the written plan alone, the solution paths
agreeing, plain diagnoses of impossible plans, determinism."""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.config import AllocationConfig
from models.errors import InfeasiblePlan, SolverFailure
from optimizer.allocation import PATHS, PatrolAllocation
from optimizer.allocation.reference import solve_monolithic
from optimizer.highs import OPTIMAL

SHIFTS = ["day", "evening", "night"]


def allocate(risk, cells, stations, neighbours, config, previous=None, path=None, **options):
    """The model built from frames and solved by `path` (default: the model's choice)."""
    model = PatrolAllocation.from_frames(
        risk, cells, stations, neighbours, config, previous, **options
    )
    return model.solve(path)


def allocate_or_prove_infeasible(risk, cells, stations, neighbours, config, previous=None):
    """The plan, or None where there is none: then the PuLP reference model, written term by
    term apart from the fast paths, must find no plan either (a refusal is never taken on
    the product's word alone)."""
    try:
        return allocate(risk, cells, stations, neighbours, config, previous)
    except InfeasiblePlan as refused:
        model = PatrolAllocation.from_frames(risk, cells, stations, neighbours, config, previous)
        assert solve_monolithic(model.data).status != OPTIMAL, refused.diagnosis
        assert refused.diagnosis, "a refusal names its conflicting rules"
        return None


def bureau(n_stations: int, n_cells: int, seed: int, officers=(4, 20)):
    """A chain of stations (each the neighbour of the next), `n_cells` cells each."""
    rng = np.random.default_rng(seed)
    ids = [f"S{i}" for i in range(n_stations)]
    cells = pd.DataFrame(
        {
            "cell_id": [f"{s}_{c}" for s in ids for c in range(n_cells)],
            "station_id": [s for s in ids for _ in range(n_cells)],
        }
    )
    stations = pd.DataFrame({"station_id": ids, "officers": rng.integers(*officers, n_stations)})
    quiet = rng.random(len(cells) * 3) < 0.3
    risk = pd.DataFrame(
        {
            "cell_id": np.repeat(cells["cell_id"].to_numpy(), 3),
            "shift": SHIFTS * len(cells),
            "risk": np.where(quiet, 0.0, np.round(rng.gamma(0.6, 4.0, len(cells) * 3), 4)),
        }
    )
    pairs = [(ids[i], ids[i + 1]) for i in range(n_stations - 1)]
    neighbours = pd.DataFrame(
        pairs + [(b, a) for a, b in pairs], columns=["station_id", "neighbour_id"]
    )
    return risk, cells, stations, neighbours


def previous_from(result, rng, scale=(0.7, 1.3)) -> pd.DataFrame:
    """Last month's plan as written (tenths of an hour): this plan's hours scaled per cell."""
    plan = result.allocation_.groupby(["cell_id", "shift"], as_index=False)["hours"].sum()
    plan["hours"] = np.round(plan["hours"] * rng.uniform(*scale, len(plan)), 1)
    return plan


def check_every_rule(result, risk, neighbours, config, previous=None) -> None:
    """SPEC §6 verified from `allocation.csv` and `duals.csv` as written."""
    tol = 1e-5
    alloc, duals = result.allocation_, result.duals_
    budget = duals.set_index(["station_id", "shift"])["budget_hours"]
    assert (alloc["hours"] >= 0).all()
    per_unit = alloc.groupby(["cell_id", "shift"])["hours"].sum()
    assert per_unit.max() <= config.max_hours_cell + tol  # saturation dose
    risky = risk.set_index(["cell_id", "shift"])["risk"].reindex(per_unit.index).fillna(0) > 0
    assert (per_unit[risky] >= config.min_hours_cell - tol).all()  # floors
    payer = alloc["lender_station_id"].where(alloc["lender_station_id"] != "", alloc["station_id"])
    spent = alloc.groupby([payer, alloc["shift"]])["hours"].sum()
    for key, hours in spent.items():
        assert hours <= budget[key] + tol, key  # budgets, aid included
    lent = alloc[alloc["lender_station_id"] != ""]
    pairs = set(map(tuple, neighbours[["station_id", "neighbour_id"]].to_numpy()))
    arcs = zip(lent["lender_station_id"], lent["station_id"], strict=True)
    assert all(arc in pairs for arc in arcs)  # aid only between neighbours
    away = lent.groupby(["lender_station_id", "shift"])["hours"].sum()
    for (lender, shift), hours in away.items():  # aid cap: all a lender sends in a shift
        assert hours <= config.max_aid_share * budget[(lender, shift)] + tol
    own = alloc[alloc["lender_station_id"] == ""].groupby(["station_id", "shift"])["hours"].sum()
    n_cells = alloc.drop_duplicates(["cell_id", "shift"]).groupby(["station_id", "shift"]).size()
    for key, hours in budget.items():  # its own officers at home, as far as its cells take them
        home = min(config.min_station_share * hours, n_cells.get(key, 0) * config.max_hours_cell)
        assert own.get(key, 0.0) >= home - tol, key
    if previous is not None:
        prev = previous.groupby(["cell_id", "shift"])["hours"].sum()
        moved = (per_unit - prev.reindex(per_unit.index).fillna(0)).abs()
        station = alloc.drop_duplicates(["cell_id"]).set_index("cell_id")["station_id"]
        moved_by_station = moved.groupby(station.reindex(moved.index.get_level_values(0)).values)
        prev_by_station = prev.groupby(station.reindex(prev.index.get_level_values(0)).values)
        for s, hours in moved_by_station.sum().items():
            last = prev_by_station.sum().get(s, 0)
            if last > 0:  # a station without hours last month has nothing to keep stable
                assert hours <= config.max_change_share * last + 1e-3


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("min_hours", [0.0, 2.0])
def test_paths_reach_the_same_optimum(seed, min_hours):
    risk, cells, stations, neighbours = bureau(5, 25, seed)
    config = AllocationConfig(min_hours_cell=min_hours, max_hours_cell=40)
    fresh = {p: allocate(risk, cells, stations, neighbours, config, path=p) for p in PATHS}
    reference = fresh["monolithic"].objective_
    for path, result in fresh.items():
        assert result.objective_ == pytest.approx(reference, rel=1e-6), path
        check_every_rule(result, risk, neighbours, config)
    previous = previous_from(fresh["decomposed"], np.random.default_rng(seed))
    stable = {
        p: allocate(risk, cells, stations, neighbours, config, previous, path=p)
        for p in ("sifted", "matrix", "monolithic")
    }
    for path in ("sifted", "matrix"):
        result = stable[path]
        assert result.objective_ == pytest.approx(stable["monolithic"].objective_, rel=1e-6), path
        check_every_rule(result, risk, neighbours, config, previous)
        assert result.hours_moved_ > 0


@pytest.mark.parametrize("seed", [0, 3])
def test_sifting_is_exact_from_a_wrong_guess(seed, monkeypatch):
    """Held at last month's state everywhere — wrong for most cells once risk has moved — the
    pricing rounds still free every piece that must change and reach the whole model's optimum
    without handing over to it."""
    import optimizer.allocation.paths as paths

    risk, cells, stations, neighbours = bureau(4, 30, seed)
    config = AllocationConfig(max_hours_cell=40, max_change_share=0.5)
    last = allocate(risk, cells, stations, neighbours, config)
    previous = last.allocation_.groupby(["cell_id", "shift"], as_index=False)["hours"].sum()
    shuffled = risk.assign(risk=np.random.default_rng(seed).permutation(risk["risk"].to_numpy()))
    reference = allocate(shuffled, cells, stations, neighbours, config, previous, "monolithic")

    def everything_held(data, pieces):
        _value, lower, upper, deviation = pieces
        return np.where(deviation < 0, upper, lower)

    def no_handover(data):
        raise AssertionError("sifting handed over to the whole model")

    monkeypatch.setattr(paths, "likely_settled", everything_held)
    monkeypatch.setattr(paths, "solve_matrix", no_handover)
    sifted = allocate(shuffled, cells, stations, neighbours, config, previous, "sifted")
    assert sifted.objective_ == pytest.approx(reference.objective_, rel=1e-6)
    assert sifted.hours_moved_ > 0
    check_every_rule(sifted, shuffled, neighbours, config, previous)


def test_the_budget_dual_is_the_value_of_one_more_hour():
    """A few more hours at S0, shared across shifts as configured, buy what its duals say."""
    risk, cells, stations, neighbours = bureau(3, 20, 4, officers=(2, 3))
    config = AllocationConfig(max_aid_share=0.0)
    base = allocate(risk, cells, stations, neighbours, config)
    dual = base.duals_.set_index(["station_id", "shift"])["dual"]
    extra = 0.1  # hours per month: well inside one benefit piece (15 h), far above rounding
    more = stations.assign(patrol_hours_per_officer=config.patrol_hours_per_officer)
    more.loc[0, "patrol_hours_per_officer"] += extra / more.loc[0, "officers"]
    gain = allocate(risk, cells, more, neighbours, config).objective_ - base.objective_
    predicted = sum(dual[("S0", h)] * share * extra for h, share in config.shift_share.items())
    assert predicted > 0
    assert gain == pytest.approx(predicted, rel=1e-3)


def test_floors_beyond_the_budget_are_diagnosed_by_station_and_shift():
    risk, cells, stations, neighbours = bureau(2, 30, 5, officers=(1, 2))
    config = AllocationConfig(min_hours_cell=20)
    with pytest.raises(InfeasiblePlan) as caught:
        allocate(risk, cells, stations, neighbours, config)
    text = "\n".join(caught.value.diagnosis)
    assert "station S0 day shift: floors need" in text and "short by" in text
    assert "(budget[S0,day])" in text  # the rule's constraint name, with its real ids


def test_a_stability_cap_that_cannot_hold_is_named():
    risk, cells, stations, neighbours = bureau(2, 20, 6)
    config = AllocationConfig(min_hours_cell=5, max_change_share=0.05)
    previous = risk[["cell_id", "shift"]].assign(hours=np.where(risk["risk"] > 0, 0.0, 10.0))
    with pytest.raises(InfeasiblePlan) as caught:
        allocate(risk, cells, stations, neighbours, config, previous)
    text = "\n".join(caught.value.diagnosis)
    assert "stability cap (max_change_share = 0.05)" in text
    assert "HiGHS" not in text


@st.composite
def instances(draw):
    n_stations = draw(st.integers(1, 4))
    n_cells = draw(st.integers(1, 8))
    seed = draw(st.integers(0, 10_000))
    config = AllocationConfig(
        max_hours_cell=draw(st.sampled_from([10.0, 30.0, 60.0])),
        min_hours_cell=draw(st.sampled_from([0.0, 0.5])),
        max_aid_share=draw(st.sampled_from([0.0, 0.1, 0.3])),
        min_station_share=draw(st.sampled_from([0.5, 0.8, 1.0])),
        max_change_share=draw(st.sampled_from([0.3, 1.0])),
    )
    return (*bureau(n_stations, n_cells, seed, officers=(1, 6)), config, seed)


@settings(max_examples=30, deadline=None)
@given(instances())
def test_no_rule_is_ever_broken(instance):
    risk, cells, stations, neighbours, config, seed = instance
    result = allocate_or_prove_infeasible(risk, cells, stations, neighbours, config)
    if result is None:
        return  # floors beyond the budget: diagnosed, tested above
    check_every_rule(result, risk, neighbours, config)
    previous = previous_from(result, np.random.default_rng(seed), scale=(0.9, 1.1))
    stable = allocate_or_prove_infeasible(risk, cells, stations, neighbours, config, previous)
    if stable is None:
        return
    check_every_rule(stable, risk, neighbours, config, previous)


@settings(max_examples=20, deadline=None)
@given(instances(), st.floats(1.05, 3.0))
def test_more_budget_never_lowers_the_objective(instance, factor):
    risk, cells, stations, neighbours, config, _seed = instance
    before = allocate_or_prove_infeasible(risk, cells, stations, neighbours, config)
    if before is None:
        return
    after = allocate(
        risk, cells, stations.assign(officers=stations["officers"] * factor), neighbours, config
    )
    assert after.objective_ >= before.objective_ - 1e-9


def test_same_input_gives_a_byte_identical_plan():
    risk, cells, stations, neighbours = bureau(4, 30, 9)
    config = AllocationConfig(min_hours_cell=1)
    texts = []
    for _ in range(2):
        result = allocate(risk, cells, stations, neighbours, config)
        buffer = io.StringIO()
        result.allocation_.to_csv(buffer, index=False)
        texts.append(buffer.getvalue())
    assert texts[0] == texts[1]


def test_binding_rules_are_tight_and_complete():
    risk, cells, stations, neighbours = bureau(4, 25, 6)
    config = AllocationConfig(max_hours_cell=40, min_hours_cell=1.0)
    first = allocate(risk, cells, stations, neighbours, config)
    previous = previous_from(first, np.random.default_rng(6), scale=(0.2, 1.8))
    result = allocate(risk, cells, stations, neighbours, config, previous)
    binding = result.binding_
    hours_rules = binding[binding["unit"] == "hours"]
    assert set(binding["rule"]) >= {"budget", "change_cap"}
    assert np.allclose(hours_rules["value"], hours_rules["limit"], atol=2e-3)
    duals = result.duals_
    spent = duals[duals["used_hours"] >= duals["budget_hours"] - 1e-3]
    budget_rows = binding[binding["rule"] == "budget"]
    assert set(zip(spent["station_id"], spent["shift"], strict=True)) == set(
        zip(budget_rows["station_id"], budget_rows["shift"], strict=True)
    )
    per_unit = result.allocation_.groupby(["cell_id", "shift"])["hours"].sum()
    saturated = binding.loc[binding["rule"] == "saturation", "value"].sum()
    assert saturated == (per_unit >= config.max_hours_cell - 1e-3).sum()


def test_without_stability_last_month_is_still_the_reference():
    """`stability = false` drops the penalty and cap but hours moved and prev_hours still
    compare with last month's plan; prev_hours sit on each cell's own row only."""
    risk, cells, stations, neighbours = bureau(3, 20, 7)
    config = AllocationConfig(max_change_share=0.05)
    first = allocate(risk, cells, stations, neighbours, config)
    shuffled = risk.assign(risk=np.random.default_rng(7).permutation(risk["risk"].to_numpy()))
    previous = first.allocation_.groupby(["cell_id", "shift"], as_index=False)["hours"].sum()
    capped = allocate(shuffled, cells, stations, neighbours, config, previous)
    free = allocate(shuffled, cells, stations, neighbours, config, previous, stability=False)
    assert free.hours_moved_ > capped.hours_moved_ > 0
    assert free.objective_ >= capped.objective_
    assert "change_cap" not in set(free.binding_["rule"])
    for result in (capped, free):
        alloc = result.allocation_
        assert (alloc.loc[alloc["lender_station_id"] != "", "prev_hours"] == 0).all()
        prev = alloc.groupby(["cell_id", "shift"])["prev_hours"].sum()
        expected = previous.set_index(["cell_id", "shift"])["hours"].reindex(prev.index)
        assert np.allclose(prev, expected.fillna(0.0))


def test_a_station_missing_from_last_months_plan_is_planned_in_full():
    """A new station (no hours last month) is held by no stability cap: its officers patrol at
    home; the others stay within their caps."""
    risk, cells, stations, neighbours = bureau(3, 20, 8)
    config = AllocationConfig()
    first = allocate(risk, cells, stations, neighbours, config)
    previous = first.allocation_.groupby(["cell_id", "shift"], as_index=False)["hours"].sum()
    previous = previous[~previous["cell_id"].str.startswith("S2_")]
    for path in ("sifted", "monolithic"):
        result = allocate(risk, cells, stations, neighbours, config, previous, path)
        check_every_rule(result, risk, neighbours, config, previous)
        own = result.allocation_[result.allocation_["lender_station_id"] == ""]
        new_station = own.loc[own["station_id"] == "S2", "hours"].sum()
        budget = result.duals_.loc[result.duals_["station_id"] == "S2", "budget_hours"].sum()
        assert new_station >= config.min_station_share * budget - 1e-3, path
        capped = result.binding_.loc[result.binding_["rule"] == "change_cap", "station_id"]
        assert "S2" not in set(capped)


def test_a_conflict_the_stability_cap_could_resolve_is_blamed_on_it():
    """S0's officers treble after last month's plan: its home rule needs far more hours than
    the stability cap lets it add. The diagnosis names the cap with numbers that add up."""
    risk, cells, stations, neighbours = bureau(2, 40, 9, officers=(10, 11))
    config = AllocationConfig(max_change_share=0.1, max_aid_share=0.0)
    first = allocate(risk, cells, stations, neighbours, config)
    previous = first.allocation_.groupby(["cell_id", "shift"], as_index=False)["hours"].sum()
    more = stations.assign(officers=np.where(stations["station_id"] == "S0", 30, 10))
    with pytest.raises(InfeasiblePlan) as caught:
        allocate(risk, cells, more, neighbours, config, previous)
    (line,) = caught.value.diagnosis
    assert line.startswith("station S0: floors, budgets and the home rule force")
    forced, allowed, short = (float(v) for v in re.findall(r"(\d+) h", line))
    assert forced - allowed == pytest.approx(short, abs=1)


def test_a_solve_leaves_the_built_data_unchanged():
    risk, cells, stations, neighbours = bureau(3, 10, 11)
    model = PatrolAllocation.from_frames(risk, cells, stations, neighbours, AllocationConfig())
    data = model.data
    before = [data.units.copy(), data.groups.copy(), data.arcs.copy(), data.group.copy()]
    for path in ("decomposed", "matrix", "monolithic"):
        assert model.solve(path) is model
        pd.testing.assert_frame_equal(data.units, before[0])
        pd.testing.assert_frame_equal(data.groups, before[1])
        pd.testing.assert_frame_equal(data.arcs, before[2])
        assert np.array_equal(data.group, before[3])
        assert model.data is data


def test_the_reference_model_names_rules_and_variables_by_real_ids():
    from optimizer.allocation.reference import reference_model

    risk, cells, stations, neighbours = bureau(2, 4, 12)
    config = AllocationConfig()
    previous = risk[["cell_id", "shift"]].assign(hours=5.0)
    model = PatrolAllocation.from_frames(risk, cells, stations, neighbours, config, previous)
    ref = reference_model(model.data)
    assert {"budget[S0,night]", "aid_cap[S1,day]", "aid_used[S0,evening]", "home[S1,night]"} <= set(
        ref.constraints
    )
    assert {"change_cap[S0]", "stability[S1_3,night]"} <= set(ref.constraints)
    names = {v.name for v in ref.model.variables()}
    # PuLP spells `[`, `]`, `-` and `>` as `_`: aid[S0->S1,day] and y[S0_2,evening,1]
    assert {"aid_S0__S1,day_", "y_S0_2,evening,1_"} <= names


def test_a_response_reserve_lowers_the_usable_budget_by_exactly_its_hours():
    """S0's day shift holds r hours back for calls: the plan spends r fewer hours there (its
    budget binds either way), and duals.csv shows the reserve beside the budget the LP had
    (SPEC §16: the officers' hours less the reserve)."""
    risk, cells, stations, neighbours = bureau(2, 30, 13, officers=(2, 3))
    config = AllocationConfig(max_aid_share=0.0)
    base = allocate(risk, cells, stations, neighbours, config)
    reserve = pd.DataFrame({"station_id": ["S0"], "shift": ["day"], "reserve_hours": [7.5]})
    held = allocate(risk, cells, stations, neighbours, config, reserve=reserve)
    before = base.duals_.set_index(["station_id", "shift"])
    after = held.duals_.set_index(["station_id", "shift"])
    assert before.loc[("S0", "day"), "used_hours"] == pytest.approx(
        before.loc[("S0", "day"), "budget_hours"]
    )
    assert after.loc[("S0", "day"), "used_hours"] == pytest.approx(
        before.loc[("S0", "day"), "used_hours"] - 7.5
    )
    assert after.loc[("S0", "day"), "reserve_hours"] == 7.5
    assert (after.drop(("S0", "day"))["reserve_hours"] == 0).all()
    assert (
        after.loc[("S0", "day"), "budget_hours"] == before.loc[("S0", "day"), "budget_hours"] - 7.5
    )
    assert after.drop(("S0", "day"))["budget_hours"].equals(
        before.drop(("S0", "day"))["budget_hours"]
    )
    assert (before["reserve_hours"] == 0).all()
    assert held.warnings_ == []


def test_a_reserve_beyond_the_budget_leaves_no_patrol_hours_and_says_so():
    risk, cells, stations, neighbours = bureau(2, 10, 14, officers=(2, 3))
    config = AllocationConfig(max_aid_share=0.0)
    budget = allocate(risk, cells, stations, neighbours, config).duals_
    day = budget.set_index(["station_id", "shift"]).loc[("S1", "day"), "budget_hours"]
    reserve = pd.DataFrame({"station_id": ["S1"], "shift": ["day"], "reserve_hours": [day + 5]})
    held = allocate(risk, cells, stations, neighbours, config, reserve=reserve)
    alloc = held.allocation_
    assert alloc.loc[(alloc["station_id"] == "S1") & (alloc["shift"] == "day"), "hours"].sum() == 0
    (warning,) = held.warnings_
    assert warning.startswith("station S1 day shift: the response reserve needs")
    assert "5.0 h of the reserve are not staffed" in warning
    with pytest.raises(ValueError, match="station S9 day shift"):
        allocate(risk, cells, stations, neighbours, config, reserve=reserve.assign(station_id="S9"))


def test_a_solver_that_stops_is_a_failure_not_an_infeasible_plan():
    """A time limit too short for any path ends in SolverFailure with HiGHS's status."""
    risk, cells, stations, neighbours = bureau(4, 40, 15)
    config = AllocationConfig(time_limit_s=1e-9)
    previous = risk[["cell_id", "shift"]].assign(hours=3.0)
    for path, prev in [(p, None) for p in ("decomposed", "matrix", "monolithic")] + [
        ("sifted", previous)
    ]:
        with pytest.raises(SolverFailure) as caught:
            allocate(risk, cells, stations, neighbours, config, prev, path)
        assert caught.value.status == "Time limit reached", path
        assert "Time limit reached" in str(caught.value)


def test_a_numerical_failure_while_diagnosing_is_a_failure_too(monkeypatch):
    """Floors beyond the budget (infeasible) whose elastic diagnosis HiGHS cannot finish:
    the status is passed on, never a diagnosis of infeasibility."""
    from optimizer import highs

    risk, cells, stations, neighbours = bureau(2, 30, 5, officers=(1, 2))
    config = AllocationConfig(min_hours_cell=20)
    outcomes = iter(["Infeasible", "Solve error"])  # the matrix path, then the diagnosis

    def stopping(lp, time_limit_s):
        return highs.HighsResult(next(outcomes), np.zeros(0), np.zeros(0))

    monkeypatch.setattr(highs, "solve", stopping)
    with pytest.raises(SolverFailure) as caught:
        allocate(risk, cells, stations, neighbours, config, path="matrix")
    assert "diagnosis" in str(caught.value)
    assert caught.value.status == "Solve error"


def test_the_cli_maps_a_solver_failure_to_exit_1_with_its_status(capsys):
    from optimizer.cli.base import _fail

    with pytest.raises(SystemExit) as caught:
        _fail(SolverFailure("Time limit reached"))
    assert caught.value.code == 1
    err = capsys.readouterr().err
    assert "HiGHS: Time limit reached" in err
    assert "feasible" not in err


def test_the_diagnosis_never_prints_negative_aid_received():
    """S0 lends to S1 in the elastic solution: aid received and lent are named apart, each
    a non-negative number of hours."""
    risk, cells, stations, neighbours = bureau(2, 30, 5, officers=(1, 2))
    with pytest.raises(InfeasiblePlan) as caught:
        allocate(risk, cells, stations, neighbours, AllocationConfig(min_hours_cell=20))
    text = "\n".join(caught.value.diagnosis)
    assert "h aid received" in text
    assert not re.search(r"-\d+ h aid received", text)
    assert not re.search(r"\+\d+ h aid received", text)


@settings(max_examples=30, deadline=None)
@given(instances())
def test_written_hours_are_tenths_that_keep_every_rule(instance):
    """Hours in allocation.csv and duals.csv are whole tenths of an hour, and no budget,
    aid cap, floor, home rule or saturation dose is broken by the rounding (check_every_rule
    reads the written figures, with a tolerance of float noise only; the stability cap, which
    the rounding keeps to within 0.1 h per shift, against that bound)."""
    risk, cells, stations, neighbours, config, seed = instance
    first = allocate_or_prove_infeasible(risk, cells, stations, neighbours, config)
    if first is None:
        return
    previous = previous_from(first, np.random.default_rng(seed), scale=(0.5, 1.5))
    stable = allocate_or_prove_infeasible(risk, cells, stations, neighbours, config, previous)
    if stable is None:
        return
    assert first.hours_moved_ is None  # no previous plan: nothing was moved
    for result in (first, stable):
        for figures in (result.allocation_["hours"], result.duals_["used_hours"]):
            assert np.allclose(figures * 10, np.round(figures * 10), atol=1e-6)
        check_every_rule(result, risk, neighbours, config)
    hours = stable.allocation_.groupby(["cell_id", "shift"])["hours"].sum()
    last = previous.groupby(["cell_id", "shift"])["hours"].sum().reindex(hours.index).fillna(0)
    moved = (hours - last).abs()
    assert stable.hours_moved_ == pytest.approx(moved.sum(), abs=0.05)
    station = hours.index.get_level_values("cell_id").str.split("_").str[0]
    for s, moved_hours in moved.groupby(station).sum().items():
        held = last[station == s].sum()
        if held > 0:  # the stability cap, to within one written tenth per shift
            assert moved_hours <= config.max_change_share * held + 0.1 * len(SHIFTS) + 1e-6
