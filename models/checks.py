"""Checks across the rows and tables of a bureau's folder (SPEC §3 step 1): duplicate keys,
ids spelled two ways, references to unknown stations, offences, indicators and courses, dates
after the moment of the run, station types without usable weights, and the policy rules of §4.
References and dated columns are read from the table declarations (`models.tables.TABLES`).
Each finds every offending row, vectorised where tables grow large (cases, scores); the typed
tables are passed by name (`frames`), with the tables as read (`raw`) to locate rows."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

import numpy as np
import pandas as pd

from models.config import ScoringConfig
from models.errors import Problem, mask_problems
from models.execution import time_order_problems
from models.policy import flex_weight_problems, temporary_share_problems
from models.reading import Table
from models.tables import TABLES


def text_cells(series: pd.Series) -> pd.Series:
    """Cells as text, text columns as they are."""
    kept = (pd.StringDtype, pd.CategoricalDtype)  # pings keep their text as category codes
    return series if isinstance(series.dtype, kept) else series.astype(str)


CASE_METRIC = re.compile(
    r"^(?:(?:count|solved_rate):(?P<category>.+)|mean_response|patrol_coverage"
    r"|response_within_target)$"
)


def duplicates(table: Table, frame: pd.DataFrame, keys: tuple[str, ...]) -> list[Problem]:
    if not keys or not set(keys) <= set(frame.columns):
        return []
    codes = pd.DataFrame({k: pd.factorize(frame[k])[0] for k in keys})
    dup = codes.duplicated(keep="first").to_numpy()
    what = " + ".join(keys)
    return mask_problems(
        table.file,
        table.first_row,
        dup,
        keys[-1],
        lambda i: f"duplicate {what} " + " + ".join(repr(v) for v in frame.iloc[i][list(keys)]),
    )


def spelling(text: str) -> str:
    """An id as compared: Unicode NFKC, so a fullwidth "Ｓ01" or a decomposed "é" is the same
    id as "S01" or "é"."""
    return unicodedata.normalize("NFKC", text)


def spelling_problems(table: Table, frame: pd.DataFrame, column: str) -> list[Problem]:
    """Ids written in two spellings that are one id after NFKC normalisation, at the first row
    of the later spelling, naming the earlier one and its row."""
    if column not in frame.columns:
        return []
    codes, spellings = pd.factorize(text_cells(frame[column]))  # in order of first appearance
    first_rows = np.unique(codes[codes >= 0], return_index=True)[1] + table.first_row
    seen: dict[str, int] = {}
    problems = []
    for code, written in enumerate(spellings):
        same = seen.setdefault(spelling(str(written)), code)
        if same != code and written != "":
            problems.append(
                Problem(
                    table.file,
                    int(first_rows[code]),
                    column,
                    f"{written!r} is {spellings[same]!r} of row {first_rows[same]} spelled with "
                    "other characters: ids are compared after Unicode NFKC normalisation; write "
                    "one id one way",
                )
            )
    return problems


def reference_problems(
    table: Table, frame: pd.DataFrame, column: str, known: set[str], what: str
) -> list[Problem]:
    """Cells naming no row of the referenced table. A cell that names one only after NFKC
    normalisation is refused too, naming the spelling the table uses."""
    if column not in frame.columns:
        return []
    values = text_cells(frame[column])
    bad = (values.ne("") & ~values.isin(known)).to_numpy(dtype=bool)
    if not bad.any():
        return []
    written = {spelling(k): k for k in known}

    def message(i: int) -> str:
        value = values.iloc[i]
        twin = written.get(spelling(value))
        if twin is None:
            return f"unknown {what} {value!r}"
        return f"unknown {what} {value!r}: spelled with other characters than {twin!r}"

    return mask_problems(table.file, table.first_row, bad, column, message)


def _future(table: Table, frame: pd.DataFrame, column: str, now: datetime) -> list[Problem]:
    if column not in frame.columns:
        return []
    col = frame[column]
    if pd.api.types.is_datetime64_any_dtype(col):
        mask = (col > pd.Timestamp(now)).fillna(False).to_numpy(dtype=bool)
    else:
        mask = (text_cells(col) > now.strftime("%Y-%m")).to_numpy(dtype=bool)
    return mask_problems(
        table.file, table.first_row, mask, column, "date lies after the moment of the run"
    )


def policy_problems(
    frames: dict[str, pd.DataFrame], tables: dict[str, Table], scoring: ScoringConfig
) -> list[Problem]:
    """Policy errors: temporary weight above the cap per station type; flexible weights."""
    problems = []
    weights, indicators = frames.get("weights"), frames.get("indicators")
    if weights is not None and indicators is not None:
        problems += temporary_share_problems(
            weights,
            indicators,
            scoring.max_temporary_share,
            tables["weights"].file,
            tables["weights"].first_row,
        )
    if frames.get("flex_weights") is not None and weights is not None and "flex_weights" in tables:
        problems += flex_weight_problems(
            frames["flex_weights"],
            weights,
            indicators,
            frames.get("stations"),
            scoring.max_flex_share,
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


def cross_references(
    frames: dict[str, pd.DataFrame], raw: dict[str, Table], now: datetime
) -> list[Problem]:
    """Problems between rows and tables of the typed `frames` (by table name), located in the
    tables as read (`raw`): references, case metrics, station types, dates after `now`."""
    problems: list[Problem] = []
    for name, spec in TABLES.items():
        source = frames.get(name)
        for col in spec.columns:
            if col.refers_to is None or source is None or name not in raw:
                continue
            target = TABLES[col.refers_to]
            known = frames.get(col.refers_to)
            if known is None or target.key[0] not in known.columns:
                continue
            problems += reference_problems(
                raw[name], source, col.name, set(known[target.key[0]]), target.noun
            )
    if frames.get("courses") is not None and frames.get("indicators") is not None:
        ids = set(frames["indicators"]["indicator_id"])
        problems += _per_cell(
            raw["courses"],
            frames["courses"]["addresses"],
            "addresses",
            lambda text: [
                f"unknown indicator {ref!r}"
                for ref in (p.strip() for p in text.split(";"))
                if ref and ref not in ids
            ],
        )
    if frames.get("indicators") is not None and "case_metric" in frames["indicators"].columns:
        categories = (
            set(frames["offences"]["category"]) if frames.get("offences") is not None else None
        )
        problems += _per_cell(
            raw["indicators"],
            frames["indicators"]["case_metric"],
            "case_metric",
            lambda text: [m for m in [_case_metric_problem(text, categories)] if m],
        )
    weights, stations = frames.get("weights"), frames.get("stations")
    if weights is not None and stations is not None and len(stations):
        problems += _station_type_problems(weights, stations, raw)
    offences = frames.get("offences")
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
    for name, spec in TABLES.items():
        if frames.get(name) is None or name not in raw:
            continue
        for col in spec.columns:
            if col.dated:
                problems += _future(raw[name], frames[name], col.name, now)
    if frames.get("calls") is not None and "calls" in raw:
        problems += time_order_problems(frames["calls"], raw["calls"].file, raw["calls"].first_row)
    return problems


def _station_type_problems(
    weights: pd.DataFrame, stations: pd.DataFrame, raw: dict[str, Table]
) -> list[Problem]:
    """Station types without weights, and types whose weights are all zero (their stations
    would drop out of the assessment)."""
    problems = []
    totals = weights.groupby("station_type")["weight"].sum()
    read = raw["stations"]
    for i, kind in enumerate(stations["station_type"]):
        if kind and kind not in totals.index:
            problems.append(
                Problem(
                    read.file,
                    i + read.first_row,
                    "station_type",
                    f"station type {kind!r} has no weights in weights.csv",
                )
            )
    used = set(stations["station_type"])
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
