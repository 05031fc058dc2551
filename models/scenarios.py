"""Scenario files (SPEC §10, §18): a config override with an optional `name` and `[deltas]`
(officers by station, harm by offence category, stability), checked against the bureau, and the
one rule for scenario names: the name is a folder of the month's, and `baseline` is the official
plan's."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError

from models.config import Config, StrictModel
from models.errors import InputError, Problem
from models.reading import read_toml
from models.toml_keys import key_line, validation_problems


class Deltas(StrictModel):
    """Scenario changes applied to the data rather than the config.

    `officers`: relative change of officers by station id (0.10 = +10 %, at least −1), `"*"` for
    all stations; `harm`: multiplier (≥ 0) of harm by offence category; `stability = false`
    ignores the previous plan. `load_scenario` checks the ids and categories against the bureau.
    """

    officers: dict[str, Annotated[float, Field(ge=-1)]] = {}
    harm: dict[str, Annotated[float, Field(ge=0)]] = {}
    stability: bool = True


BASELINE = "baseline"  # the official plan's scenario: what `run` writes without scenario files
SCENARIO_PATTERN = r"^[\w-]{1,64}$"  # a run's folder in its month's: letters of any script
SCENARIO_NAME_RULE = "1–64 letters, digits, _ or - (Chinese letters allowed), not baseline"


def scenario_name_problem(name: object) -> str | None:
    """Why `name` cannot name a scenario, if it cannot. Its folder must match SCENARIO_PATTERN
    (one folder inside the month's, never `.`, `..` or a path; the desk reads the same folders),
    and `baseline` is reserved in any case or width (NFKC): a scenario of that name would
    replace the official plan, on a case-insensitive disk too."""
    if not isinstance(name, str):
        return f"must be text ({SCENARIO_NAME_RULE}), not {type(name).__name__}"
    shown = repr(name) if len(name) <= 70 else repr(name[:60]) + f"… ({len(name)} characters)"
    if not re.fullmatch(SCENARIO_PATTERN, name):
        return f"{shown} cannot name a scenario: use {SCENARIO_NAME_RULE}"
    if unicodedata.normalize("NFKC", name).casefold() == BASELINE:
        return f"{shown} is the official plan's name: a scenario takes another"
    return None


def scenario_name(text: str, data: dict[str, Any], file: str) -> tuple[object, Problem | None]:
    """The name of the scenario file `file` (TOML `text`, values `data`) — its `name` key, else
    the file's stem — and the problem with it, if any: at the key's line, or row 0 for the stem."""
    if "name" in data:
        message = scenario_name_problem(data["name"])
        line = key_line(text, ("name",))[0]
        return data["name"], Problem(file, line, "name", message) if message else None
    name = Path(file).stem
    message = scenario_name_problem(name)
    if message:
        return name, Problem(file, 0, "name", f"no name key, and the file's stem {message}")
    return name, None


class Scenario(StrictModel):
    name: str
    config: Config
    deltas: Deltas = Deltas()


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _names(known: Collection[str], limit: int = 10) -> str:
    names = sorted(known)
    return ", ".join(names[:limit]) + (f", … ({len(names)} in all)" if len(names) > limit else "")


def _delta_problems(
    text: str,
    file: str,
    deltas: dict[str, Any],
    stations: Collection[str],
    categories: Collection[str],
) -> list[Problem]:
    """Deltas (as written) naming a station or offence category the bureau does not have."""
    problems = []
    for table, known, what, hint in (
        ("officers", {*stations}, "station", "; * for all stations"),
        ("harm", {*categories}, "offence category", ""),
    ):
        written = deltas.get(table)
        for name in written if isinstance(written, dict) else {}:
            if name not in known and not (table == "officers" and name == "*"):
                line, _ = key_line(text, ("deltas", table, name))
                problems.append(
                    Problem(
                        file,
                        line,
                        f"deltas.{table}.{name}",
                        f"unknown {what} {name!r} (known: {_names(known)}{hint})",
                    )
                )
    return problems


def load_scenario(
    path: Path, base: Config, stations: Collection[str], categories: Collection[str]
) -> Scenario:
    """A scenario TOML applied over `base`: config keys override, `[deltas]` kept apart and
    checked against the bureau's `stations` (ids) and offence `categories`."""
    text, data = read_toml(path)
    name, refused = scenario_name(text, data, path.name)
    problems = [refused] if refused else []
    data.pop("name", None)
    deltas = data.pop("deltas", {})
    config, parsed_deltas = base, Deltas()
    try:
        config = Config.model_validate(_merge(base.model_dump(), data))
    except ValidationError as exc:
        problems += validation_problems(text, path.name, exc)
    try:
        parsed_deltas = Deltas.model_validate(deltas)
    except ValidationError as exc:
        problems += validation_problems(text, path.name, exc, ("deltas",))
    if isinstance(deltas, dict):
        problems += _delta_problems(text, path.name, deltas, stations, categories)
    if problems:
        raise InputError(problems)
    return Scenario(name=str(name), config=config, deltas=parsed_deltas)


def load_scenarios(
    paths: Collection[Path], base: Config, stations: Collection[str], categories: Collection[str]
) -> list[Scenario]:
    """Every scenario file (see `load_scenario`), each name used once: two scenarios of one name
    would write one folder. Raises InputError with the problems of all files."""
    problems: list[Problem] = []
    scenarios: list[Scenario] = []
    first: dict[str, Path] = {}
    for path in paths:
        try:
            scenario = load_scenario(path, base, stations, categories)
        except InputError as exc:
            problems += exc.problems
            continue
        if scenario.name in first:
            text, _ = read_toml(path)
            problems.append(
                Problem(
                    path.name,
                    key_line(text, ("name",))[0] if "name" in text else 0,
                    "name",
                    f"scenario name {scenario.name!r} is also the name of {first[scenario.name]}",
                )
            )
            continue
        first[scenario.name] = path
        scenarios.append(scenario)
    if problems:
        raise InputError(problems)
    return scenarios
