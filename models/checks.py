"""Checks across the rows and tables of a bureau's folder (SPEC §3 step 1): duplicate keys,
references to unknown stations, offences, indicators and courses, dates after the moment of the
run, station types without usable weights, and the policy rules of §4. Each finds every
offending row, vectorised where tables grow large (cases, scores)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from models.errors import Problem
from models.execution import time_order_problems
from models.policy import flex_weight_problems, temporary_share_problems
from models.reading import Table


def text_cells(series: pd.Series) -> pd.Series:
    """Cells as text, text columns as they are."""
    kept = (pd.StringDtype, pd.CategoricalDtype)  # pings keep their text as category codes
    return series if isinstance(series.dtype, kept) else series.astype(str)


if TYPE_CHECKING:
    from models.contracts import Bureau

# references between tables: (table, column, referenced table, its key column, what it names)
REFERENCES = [
    ("cases", "offence", "offences", "offence", "offence"),
    ("cases", "station_id", "stations", "station_id", "station"),
    ("scores", "station_id", "stations", "station_id", "station"),
    ("scores", "indicator_id", "indicators", "indicator_id", "indicator"),
    ("weights", "indicator_id", "indicators", "indicator_id", "indicator"),
    ("training_log", "station_id", "stations", "station_id", "station"),
    ("training_log", "course_id", "courses", "course_id", "course"),
    ("flex_weights", "station_id", "stations", "station_id", "station"),
    ("flex_weights", "indicator_id", "indicators", "indicator_id", "indicator"),
    ("patrol_tracks", "station_id", "stations", "station_id", "station"),
    ("calls", "station_id", "stations", "station_id", "station"),
]
# date columns that may not lie after the moment of the run
DATED = [
    ("cases", "occurred_at"),
    ("cases", "reported_at"),
    ("scores", "month"),
    ("scores", "reported_at"),
    ("training_log", "month"),
    ("patrol_tracks", "recorded_at"),
    ("calls", "received_at"),
    ("calls", "dispatched_at"),
    ("calls", "arrived_at"),
    ("calls", "cleared_at"),
]
CASE_METRIC = re.compile(
    r"^(?:(?:count|solved_rate):(?P<category>.+)|mean_response|patrol_coverage"
    r"|response_within_target)$"
)


def row_problems(table: Table, mask: np.ndarray, column: str, message) -> list[Problem]:
    """A problem at every row where `mask` holds; `message(i)` for row position i."""
    return [
        Problem(table.file, int(i + table.first_row), column, message(i))
        for i in np.flatnonzero(mask)
    ]


def duplicates(table: Table, frame: pd.DataFrame, keys: tuple[str, ...]) -> list[Problem]:
    if not keys or not set(keys) <= set(frame.columns):
        return []
    codes = pd.DataFrame({k: pd.factorize(frame[k])[0] for k in keys})
    dup = codes.duplicated(keep="first").to_numpy()
    what = " + ".join(keys)
    return row_problems(
        table,
        dup,
        keys[-1],
        lambda i: f"duplicate {what} " + " + ".join(repr(v) for v in frame.iloc[i][list(keys)]),
    )


def _references(
    table: Table, frame: pd.DataFrame, column: str, known: set[str], what: str
) -> list[Problem]:
    if column not in frame.columns:
        return []
    values = text_cells(frame[column])
    bad = (values.ne("") & ~values.isin(known)).to_numpy(dtype=bool)
    return row_problems(table, bad, column, lambda i: f"unknown {what} {values.iloc[i]!r}")


def _future(table: Table, frame: pd.DataFrame, column: str, now: datetime) -> list[Problem]:
    if column not in frame.columns:
        return []
    col = frame[column]
    if pd.api.types.is_datetime64_any_dtype(col):
        mask = (col > pd.Timestamp(now)).fillna(False).to_numpy(dtype=bool)
    else:
        mask = (text_cells(col) > now.strftime("%Y-%m")).to_numpy(dtype=bool)
    return row_problems(table, mask, column, lambda i: "date lies after the moment of the run")


def policy_problems(bureau: Bureau, tables: dict[str, Table]) -> list[Problem]:
    """Policy errors: temporary weight above the cap per station type; flexible weights."""
    problems = []
    if bureau.weights is not None and bureau.indicators is not None:
        problems += temporary_share_problems(
            bureau.weights,
            bureau.indicators,
            bureau.config.scoring.max_temporary_share,
            tables["weights"].file,
            tables["weights"].first_row,
        )
    if bureau.flex_weights is not None and bureau.weights is not None and "flex_weights" in tables:
        problems += flex_weight_problems(
            bureau.flex_weights,
            bureau.weights,
            bureau.indicators,
            bureau.stations,
            bureau.config.scoring.max_flex_share,
            tables["flex_weights"].file,
            tables["flex_weights"].first_row,
        )
    return problems


def _case_metric_problem(text: str, categories: set[str] | None) -> str | None:
    """What is wrong with a `case_metric` cell, if anything; the category is checked against
    the offence `categories` when they are loaded."""
    if not text:
        return None
    match = CASE_METRIC.match(text)
    if not match:
        return (
            f"{text!r} is not count:<category>, solved_rate:<category>, mean_response, "
            "patrol_coverage or response_within_target"
        )
    category = match["category"]
    if category is None or categories is None or category in categories:
        return None
    return f"unknown offence category {category!r} (known: {', '.join(sorted(categories))})"


def _per_cell(table: Table, values: pd.Series, column: str, check) -> list[Problem]:
    """Problems of a small table's cells one by one (`check(text)` → message or None)."""
    problems = []
    for i, text in enumerate(values):
        for message in check(str(text)):
            problems.append(Problem(table.file, i + table.first_row, column, message))
    return problems


def cross_references(bureau: Bureau, raw: dict[str, Table], now: datetime) -> list[Problem]:
    problems: list[Problem] = []
    for name, column, target, key, what in REFERENCES:
        source, known = getattr(bureau, name), getattr(bureau, target)
        if source is None or known is None or name not in raw or key not in known.columns:
            continue
        problems += _references(raw[name], source, column, set(known[key]), what)
    if bureau.courses is not None and bureau.indicators is not None:
        ids = set(bureau.indicators["indicator_id"])
        problems += _per_cell(
            raw["courses"],
            bureau.courses["addresses"],
            "addresses",
            lambda text: [
                f"unknown indicator {ref!r}"
                for ref in (p.strip() for p in text.split(";"))
                if ref and ref not in ids
            ],
        )
    if bureau.indicators is not None and "case_metric" in bureau.indicators.columns:
        categories = set(bureau.offences["category"]) if bureau.offences is not None else None
        problems += _per_cell(
            raw["indicators"],
            bureau.indicators["case_metric"],
            "case_metric",
            lambda text: [m for m in [_case_metric_problem(text, categories)] if m],
        )
    if bureau.weights is not None and bureau.stations is not None and len(bureau.stations):
        problems += _station_type_problems(bureau, raw)
    offences = bureau.offences
    if offences is not None and len(offences) and "patrol_sensitive" in offences.columns:
        sensitive = offences["patrol_sensitive"].fillna(False).astype(bool)
        if not sensitive.any():
            problems.append(
                Problem(
                    raw["offences"].file,
                    raw["offences"].first_row,
                    "patrol_sensitive",
                    "no offence is patrol-sensitive: patrol risk would be 0 in every cell and "
                    "the patrol plan arbitrary",
                )
            )
    for name, column in DATED:
        if getattr(bureau, name) is not None and name in raw:
            problems += _future(raw[name], getattr(bureau, name), column, now)
    if bureau.calls is not None and "calls" in raw:
        problems += time_order_problems(bureau.calls, raw["calls"].file, raw["calls"].first_row)
    return problems


def _station_type_problems(bureau: Bureau, raw: dict[str, Table]) -> list[Problem]:
    """Station types without weights, and types whose weights are all zero (their stations
    would drop out of the assessment)."""
    problems = []
    weights = bureau.weights
    totals = weights.groupby("station_type")["weight"].sum()
    stations = raw["stations"]
    for i, kind in enumerate(bureau.stations["station_type"]):
        if kind and kind not in totals.index:
            problems.append(
                Problem(
                    stations.file,
                    i + stations.first_row,
                    "station_type",
                    f"station type {kind!r} has no weights in weights.csv",
                )
            )
    used = set(bureau.stations["station_type"])
    for kind, total in totals.items():
        if kind in used and not total > 0:
            row = int(np.flatnonzero((weights["station_type"] == kind).to_numpy())[0])
            problems.append(
                Problem(
                    raw["weights"].file,
                    row + raw["weights"].first_row,
                    "weight",
                    f"every weight of station type {kind!r} is 0: its stations would get no score",
                )
            )
    return problems


def no_risk_problem(cases_file: str, month: str) -> Problem:
    """The problem of a forecast that gives no cell any risk: the allocation would spread
    patrol hours without reason (no patrol-sensitive cases in the months it learns from)."""
    return Problem(
        cases_file,
        0,
        "occurred_at",
        f"no patrol-sensitive case up to {month} gives any cell a risk for the month after: a "
        "patrol plan would place its hours without reason; check --month and the offences' "
        "patrol_sensitive",
    )


def patrol_risk_problems(cases: pd.DataFrame, cases_file: str, month: str) -> list[Problem]:
    """`no_risk_problem` when no patrol-sensitive case occurred up to `month`."""
    held = cases["patrol_sensitive"].fillna(False).to_numpy(dtype=bool)
    held &= (cases["month"] <= month).to_numpy(dtype=bool)
    return [] if held.any() else [no_risk_problem(cases_file, month)]
