"""The leader's scenario form (SPEC §10, §14): the bureau's stations and offence categories to
choose from, and the form's answers as the scenario TOML that `POST /api/runs/{month}/scenarios`
takes — officer changes by station in %, harm campaigns by category as multipliers, stability
on or off, a name."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from models.reading import find_geometry, find_table, read_layer, read_table
from models.scenarios import scenario_name_problem
from optimizer.i18n import BureauNames

OFFICERS_FIELD = "officers."  # + station id: the officer change in %
HARM_FIELD = "harm."  # + category: the harm multiplier


@dataclass(frozen=True)
class Choices:
    """What the form offers: station id → name, category → its Chinese name (if the bureau
    gives one)."""

    stations: Mapping[str, str] = field(default_factory=dict)
    categories: Mapping[str, str] = field(default_factory=dict)

    def category_label(self, category: str, lang: str) -> str:
        return self.categories.get(category, category) if lang == "zh" else category


def bureau_choices(data: Path) -> Choices:
    """The stations (`stations` layer: `station_id`, `name`) and offence categories
    (`offences`: `category`, `category_zh`) of the bureau's data folder, read again when a
    file changes; none where a file is absent."""
    stations, offences = find_geometry(data), find_table(data, "offences")
    stamps = tuple(
        (str(path), path.stat().st_mtime_ns) if path else None for path in (stations, offences)
    )
    return _choices(stamps)


@functools.lru_cache(maxsize=4)
def _choices(stamps: tuple) -> Choices:
    stations, offences = (Path(stamp[0]) if stamp else None for stamp in stamps)
    names: dict[str, str] = {}
    if stations is not None:
        layer = read_layer(stations)[0].frame
        labels = layer["name"] if "name" in layer.columns else layer["station_id"]
        names = {str(s): str(n) for s, n in zip(layer["station_id"], labels, strict=True)}
    categories: dict[str, str] = {}
    if offences is not None:
        frame = read_table(offences).frame
        zh = BureauNames.from_tables(frame).category
        categories = {str(c): zh.get(str(c), str(c)) for c in sorted(set(frame["category"]))}
    return Choices(dict(sorted(names.items())), categories)


@dataclass(frozen=True)
class ScenarioAnswers:
    """The form as sent, kept to show it again beside its problems."""

    name: str
    officers: Mapping[str, str]
    harm: Mapping[str, str]
    stability: bool


def answers_of(form: Mapping[str, str], choices: Choices) -> ScenarioAnswers:
    """The form's fields for the bureau's stations and categories (other fields ignored)."""
    return ScenarioAnswers(
        name=str(form.get("name", "")).strip(),
        officers={s: str(form.get(OFFICERS_FIELD + s, "")).strip() for s in choices.stations},
        harm={c: str(form.get(HARM_FIELD + c, "")).strip() for c in choices.categories},
        stability=form.get("stability") is not None,
    )


def _number(text: str) -> float | None:
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def scenario_toml(answers: ScenarioAnswers) -> tuple[str, list[tuple[str, str]]]:
    """The scenario file of the answers, and the problems found: (problem key, what) pairs —
    `name` (its rule broken), `officers` (a change that is no number or below −100 %),
    `harm` (a multiplier that is no number or below 0). Blank fields change nothing."""
    problems: list[tuple[str, str]] = []
    if scenario_name_problem(answers.name):
        problems.append(("bad_name", answers.name))
    officers, harm = {}, {}
    for station, text in answers.officers.items():
        value = _number(text) if text else 0.0
        if value is None or value < -100:
            problems.append(("bad_officers", station))
        elif value:
            officers[station] = round(value / 100, 6)
    for category, text in answers.harm.items():
        value = _number(text) if text else 1.0
        if value is None or value < 0:
            problems.append(("bad_harm", category))
        elif value != 1.0:
            harm[category] = value
    lines = [f"name = {json.dumps(answers.name, ensure_ascii=False)}", "", "[deltas]"]
    for key, values in (("officers", officers), ("harm", harm)):
        if values:
            pairs = ", ".join(
                f"{json.dumps(k, ensure_ascii=False)} = {v!r}" for k, v in values.items()
            )
            lines.append(f"{key} = {{ {pairs} }}")
    lines.append(f"stability = {'true' if answers.stability else 'false'}")
    return "\n".join(lines) + "\n", problems
