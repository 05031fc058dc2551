"""What `run` checks before it writes anything (SPEC §3.1, §8, §10): the month against the
data, the scenario files, the previous plan each scenario builds on, and every scenario's grid.
All the problems of all of them are raised at once, so a planner fixes everything in one go."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from models.checks import patrol_risk_problems
from models.contracts import Bureau, load_experiment, load_previous_plan
from models.errors import InputError, MonthOutsideData, Problem
from models.months import next_month
from models.scenarios import BASELINE, Scenario, load_scenarios
from models.toml_keys import config_key_problem
from optimizer import stages
from optimizer.chain import sha256_file
from optimizer.manifest import EXPERIMENT_FILE, PLAN_FILE
from optimizer.plan_record import previous_plan_match
from optimizer.shared_steps import SharedSteps, step_reads
from optimizer.store import StoredPlan


@dataclass(frozen=True)
class ScenarioRun:
    """One scenario of a run, checked: the bureau as it sees it (its deltas applied once), the
    previous plan it builds on, and the files that define it (`scenario`, `previous_plan`),
    hashed with the plan's inputs."""

    scenario: Scenario
    bureau: Bureau
    previous: StoredPlan | None
    input_files: dict[str, Path]


def require_month(bureau: Bureau, month: str) -> None:
    """Refuse a month the loaded cases and indicator values say nothing about (before or after
    the data): its plan would rest on no data at all."""
    held = {
        what: frame["month"]
        for what, frame in (("cases", bureau.cases), ("indicator values", bureau.scores))
        if frame is not None
    }
    if any((months == month).any() for months in held.values()):
        return
    spans = "; ".join(
        f"{what} from {months.min()} to {months.max()}" if len(months) else f"no {what}"
        for what, months in held.items()
    )
    raise MonthOutsideData(f"the data holds no {' and no '.join(held)} for {month} ({spans})")


def checked_run(
    bureau: Bureau,
    month: str,
    data: Path,
    *,
    scenario_files: Sequence[Path],
    previous_plan: Path | None,
    stored_plan: StoredPlan | None,
    shared: SharedSteps,
) -> list[ScenarioRun]:
    """The scenarios of a `run` (the baseline alone without files), each with the previous plan
    it builds on — the same for all, as SPEC §18 compares like for like: `--previous-plan`,
    else `stored_plan`, the plan the month carries out as stored (the adopted scenario's, else
    the baseline's). Raises one `InputError` with every
    problem: cases without patrol risk, a scenario file, the previous plan's rows, a grid too
    fine for the jurisdictions or a station left without cells, and a previous plan on another
    grid or of another bureau."""
    problems = patrol_risk_problems(bureau.cases, bureau.files["cases"].name, month)
    scenarios, problems_of_files = _scenarios(bureau, scenario_files)
    problems += problems_of_files
    sources = dict(zip([s.name for s in scenarios], scenario_files, strict=False))
    given: dict[tuple[str, ...], StoredPlan] = {}  # --previous-plan, read once per set of shifts
    runs = []
    for scenario in scenarios:
        seen = stages.apply_deltas(bureau, scenario)
        source = sources.get(scenario.name, data / "config.toml")
        try:
            sp = shared.get(
                "spatial", step_reads(scenario)["spatial"], lambda b=seen: stages.spatial(b)
            )
        except InputError as exc:
            _add(problems, [_at_scenario_key(p, source) for p in exc.problems])
            continue
        previous = None
        if previous_plan is not None:
            shifts = tuple(scenario.config.allocation.shifts)
            try:
                if shifts not in given:
                    given[shifts] = _previous_plan_file(previous_plan, shifts)
                previous = given[shifts]
            except InputError as exc:
                _add(problems, exc.problems)
                continue
        else:
            previous = stored_plan
        _add(problems, _previous_plan_problems(previous, scenario, sp))
        files = {"scenario": sources.get(scenario.name), "previous_plan": previous_plan}
        runs.append(
            ScenarioRun(
                scenario, seen, previous, {k: Path(v) for k, v in files.items() if v is not None}
            )
        )
    if problems:
        raise InputError(problems)
    return runs


def baselines_given_plan(out: Path, month: str) -> Path | None:
    """The previous-plan file the recorded baseline of `month`'s plan (`OUT/<M+1>/baseline`)
    was planned from, while it still holds what it held then: a scenario run later without
    `--previous-plan` builds on the same plan as its baseline (SPEC §18). None when the
    baseline was planned from the store, from nothing, or the file has changed."""
    plan_file = Path(out) / next_month(month) / BASELINE / PLAN_FILE
    try:
        given = json.loads(plan_file.read_text(encoding="utf-8"))["other_inputs"]
        path, sha = Path(given["previous_plan"]["path"]), given["previous_plan"]["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return path if path.is_file() and sha256_file(path) == sha else None


def _add(problems: list[Problem], more: list[Problem]) -> None:
    """`more` added to `problems`, each once (scenarios sharing a grid share its problems)."""
    problems += [p for p in more if p not in problems]


def _scenarios(bureau: Bureau, files: Sequence[Path]) -> tuple[list[Scenario], list[Problem]]:
    if not files:
        return [Scenario(name=BASELINE, config=bureau.config)], []
    stations, categories = set(bureau.stations["station_id"]), set(bureau.offences["category"])
    try:
        return load_scenarios(files, bureau.config, stations, categories), []
    except InputError as exc:
        return [], exc.problems


def _at_scenario_key(problem: Problem, source: Path) -> Problem:
    """A grid problem, which the spatial step finds at `grid.cell_size_m`, located at that key
    in the file that set it (the scenario's, else config.toml)."""
    if problem.column != "grid.cell_size_m":
        return problem
    return config_key_problem(source, ("grid", "cell_size_m"), problem.message)


def _previous_plan_problems(
    previous: StoredPlan | None, scenario: Scenario, sp: stages.Spatial
) -> list[Problem]:
    """A previous plan made on another grid than the scenario's (its cell ids would name other
    ground), or none of whose cells lies on this bureau's grid (another bureau's plan)."""
    if previous is None:
        return []
    grid = sp.grid.record()
    if previous.grid is not None and grid != previous.grid:
        return [
            Problem(
                previous.source,
                0,
                "grid",
                f"made on a {previous.grid['size_m']:g} m grid in {previous.grid['crs']}, "
                f"but scenario {scenario.name} plans on a {grid['size_m']:g} m grid in "
                f"{grid['crs']}: its cells name other ground. Plan with the same "
                "[grid] cell_size_m and crs, or give --previous-plan a plan on this grid",
            )
        ]
    match = previous_plan_match(previous.allocation, sp.cells)
    if match["cells"] and match["unknown"] == match["cells"]:
        return [
            Problem(
                previous.source,
                0,
                "cell_id",
                f"none of its {match['cells']:,} cells lies on this bureau's "
                f"{grid['size_m']:g} m grid in {grid['crs']}: it is another bureau's plan, or "
                "one made on another grid. Give --previous-plan this bureau's last plan",
            )
        ]
    return []


def _previous_plan_file(path: Path, shifts: Sequence[str]) -> StoredPlan:
    """`--previous-plan`: the allocation file and, where they lie beside it, the grid its
    plan.json says it was made on and its randomized experiment (`experiment.csv`)."""
    allocation = load_previous_plan(path, shifts)
    experiment = load_experiment(Path(path).parent / EXPERIMENT_FILE)
    beside = Path(path).parent / "plan.json"
    grid = None
    if beside.exists():
        try:
            plan = json.loads(beside.read_text(encoding="utf-8"))
            grid = plan.get("grid") or {
                "size_m": float(plan["parameters"]["grid"]["cell_size_m"]),
                "crs": plan["models"]["crs"],
            }
        except (ValueError, KeyError, TypeError):
            grid = None  # not a plan.json of ours: the cells are matched by id alone
    return StoredPlan(allocation, grid, str(path), experiment=experiment)
