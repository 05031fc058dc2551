"""A department's monthly indicator values as it submits them to the assessment desk (SPEC
§17), checked at the door as `scores.csv` is (SPEC §3.1): every problem named by file, row and
column, all at once. Beyond the file's own cells: only known stations, only indicators the
department owns (`owner` in indicators.csv), values that are numbers of 0 or more, each station
and indicator once; an override of a value pre-filled from the case data needs a reason (the
row's `note`). Also the pre-filled values themselves and the month's report deadline."""

from __future__ import annotations

import calendar
from datetime import date, datetime, tzinfo

import numpy as np
import pandas as pd

from models.checks import duplicates, reference_problems
from models.columns import Column, coerce
from models.errors import Problem, mask_problems
from models.quality import case_metric
from models.reading import Table

SUBMISSION_COLUMNS = (
    Column("station_id"),
    Column("indicator_id"),
    Column("value", "number", allow_empty=True),
    Column("note", required=False, allow_empty=True),
)
SUBMISSION_KEY = ("station_id", "indicator_id")
MAX_NOTE = 1000  # characters of a note
PREFILL_TOLERANCE = 1e-6  # relative: a value this close to its pre-filled one is not a change
CASE_METRICS = ("count:", "solved_rate:", "mean_response")  # metrics the case data recompute


def checked_submission(
    table: Table,
    stations: set[str],
    indicators: pd.DataFrame,
    department: str,
    prefilled: pd.DataFrame,
    timezone: tzinfo,
    month: str | None = None,
) -> tuple[pd.DataFrame, list[Problem]]:
    """The submission's rows typed (`station_id, indicator_id, value, note, prefilled`) and
    every problem with them. `prefilled` holds `station_id, indicator_id, prefilled` for the
    month (`prefilled_values`). A `month` column, where the file has one, must name `month`
    (a file of another month is not taken for this one)."""
    typed = coerce(table, list(SUBMISSION_COLUMNS), timezone)
    problems = list(typed.problems)
    frame = typed.frame
    if not set(SUBMISSION_KEY) <= set(frame.columns):
        return frame, problems
    if not len(frame):
        problems.append(Problem(table.file, 1, "(file)", "holds no rows"))
        return frame, problems
    for column in ("station_id", "indicator_id", "note"):
        if column in frame.columns:
            frame[column] = frame[column].fillna("").astype(str).str.strip()
    if "note" not in frame.columns:
        frame["note"] = ""
    if month is not None and "month" in frame.columns:
        months = frame["month"].fillna("").astype(str).str.strip()
        problems += mask_problems(
            table.file,
            table.first_row,
            (months.ne("") & months.ne(month)).to_numpy(),
            "month",
            lambda i: f"month {months.iloc[i]!r} is not the month submitted, {month}",
        )
    problems += duplicates(table, frame, SUBMISSION_KEY)
    problems += reference_problems(table, frame, "station_id", stations, "station")
    known = set(indicators["indicator_id"])
    problems += reference_problems(table, frame, "indicator_id", known, "indicator")
    owners = indicators.set_index("indicator_id")["owner"].fillna("").astype(str)
    owner = frame["indicator_id"].map(owners).fillna(department)
    problems += mask_problems(
        table.file,
        table.first_row,
        (owner != department).to_numpy(),
        "indicator_id",
        lambda i: (
            f"indicator {frame['indicator_id'].iloc[i]!r} is reported by department "
            f"{owner.iloc[i] or '(none)'!r}, not by {department!r}"
        ),
    )
    values = pd.to_numeric(frame["value"], errors="coerce")
    problems += mask_problems(
        table.file,
        table.first_row,
        (values < 0).to_numpy(),
        "value",
        lambda i: f"value {values.iloc[i]:g} out of range: indicator values are 0 or more",
    )
    problems += mask_problems(
        table.file,
        table.first_row,
        (frame["note"].str.len() > MAX_NOTE).to_numpy(),
        "note",
        f"longer than {MAX_NOTE} characters",
    )
    frame = frame.merge(prefilled, on=list(SUBMISSION_KEY), how="left")
    changed = changed_from_prefill(frame["value"], frame["prefilled"])
    problems += mask_problems(
        table.file,
        table.first_row,
        (changed & frame["note"].eq("") & (owner == department).to_numpy()).to_numpy(),
        "note",
        lambda i: (
            f"value {frame['value'].iloc[i]:g} overrides the pre-filled "
            f"{frame['prefilled'].iloc[i]:g} computed from the case data: give the reason in note"
        ),
    )
    return frame[["station_id", "indicator_id", "value", "note", "prefilled"]], problems


def changed_from_prefill(values: pd.Series, prefilled: pd.Series) -> pd.Series:
    """Whether each value differs from its pre-filled value (False where none was offered)."""
    values, prefilled = pd.to_numeric(values), pd.to_numeric(prefilled)
    off = ~np.isclose(values, prefilled, rtol=PREFILL_TOLERANCE, atol=PREFILL_TOLERANCE)
    return pd.Series(off & prefilled.notna().to_numpy(), index=values.index)


def prefilled_values(
    cases: pd.DataFrame, indicators: pd.DataFrame, stations: list[str], month: str
) -> pd.DataFrame:
    """`station_id, indicator_id, prefilled`: the month's values of the indicators whose
    `case_metric` the case data recompute (counts, clearance rates in percent, mean response
    in minutes), for every station — the values §3.2's third-party check holds reports to."""
    rows = []
    this = cases[cases["month"] == month]
    metrics = indicators.get("case_metric", pd.Series("", index=indicators.index)).fillna("")
    for indicator, metric in zip(indicators["indicator_id"], metrics, strict=True):
        if not str(metric).startswith(CASE_METRICS):
            continue
        if metric.startswith("solved_rate:") and "solved" not in this.columns:
            continue
        if metric == "mean_response" and "response_minutes" not in this.columns:
            continue
        values = case_metric(this, metric)
        for station in stations:
            value = values.get((station, month), 0.0 if metric.startswith("count:") else np.nan)
            if pd.notna(value):
                rows.append((station, indicator, float(value)))
    return pd.DataFrame(rows, columns=["station_id", "indicator_id", "prefilled"])


def report_deadline(month: str, day: int) -> date:
    """The last day on which month `month`'s values are on time: day `day` of the month (the
    month's last day when it is shorter)."""
    year, number = (int(part) for part in month.split("-"))
    return date(year, number, min(day, calendar.monthrange(year, number)[1]))


def is_late(month: str, day: int, submitted: datetime) -> bool:
    """Whether a submission at `submitted` (the bureau's local time) is after the deadline."""
    return submitted.date() > report_deadline(month, day)
