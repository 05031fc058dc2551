"""Typed columns of an input table and the problems of their cells (SPEC §2).

A column arrives typed when the file types it (numbers of a CSV read as float64, Parquet's own
types) and is checked with vectorised masks; text columns are parsed with vectorised string
operations. The text a file wrote is looked at only to quote the cells that are wrong, so a clerk
sees the value they typed at its file, row and column.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import tzinfo
from importlib.resources import files

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from models.errors import Problem, mask_problems
from models.months import MONTH_PATTERN
from models.reading import Table

_WORDS = tomllib.loads((files("models") / "boolean_words.toml").read_text("utf-8"))
TRUE_WORDS, FALSE_WORDS = set(_WORDS["true"]), set(_WORDS["false"])
BOOLEAN_WORDS = ", ".join(  # as problems name them: true/false, 1/0, yes/no, and the Chinese pair
    f"{t}/{f}" for t, f in zip(_WORDS["true"][:4], _WORDS["false"][:4], strict=True)
)
SAMPLE_ROWS = 100  # a table more than half of whose first rows are wrong is not checked further
MONTH = re.compile(MONTH_PATTERN)
UTC_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})$"
ISO_WEEKDAYS = tuple("1234567")  # Monday = 1 … Sunday = 7


@dataclass(frozen=True)
class Column:
    """One column of a table: its kind (`text`, `number`, `integer`, `bool`, `month`,
    `datetime`, `weekdays`), whether the file must have it, whether a cell may be empty, and its
    range (`minimum`, `maximum` included; `above` excluded: a speed above 0).

    `refers_to` names the table whose key a cell must name (a case's station); `dated` columns
    may not lie after the moment of the run; an `identifier`'s spellings are compared after
    Unicode NFKC normalisation, so "Ｓ01" cannot stand beside "S01" as another id.
    """

    name: str
    kind: str = "text"
    required: bool = True
    allow_empty: bool = False
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    refers_to: str | None = None
    dated: bool = False
    identifier: bool = False


@dataclass(frozen=True)
class Coerced:
    """A typed table, the problems of its cells, how many date-times of each column carried a
    UTC offset and were converted to the bureau's local time, and whether the table looks like
    garbage (more than half of its first `SAMPLE_ROWS` rows wrong, it having that many)."""

    frame: pd.DataFrame
    problems: list[Problem]
    converted: dict[str, int]
    garbage: bool = False


def number_columns(columns: list[Column]) -> set[str]:
    """Names of the columns a reader may type as numbers."""
    return {c.name for c in columns if c.kind in ("number", "integer")}


def stripped(series: pd.Series) -> pd.Series:
    """Cells as text without surrounding spaces (text columns are not copied to convert; a
    categorical of millions of pings keeps its codes and trims its few categories)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        categories = series.cat.categories.astype(str).str.strip()
        if categories.is_unique:
            return series.cat.rename_categories(categories)
    text = series if isinstance(series.dtype, pd.StringDtype) else series.astype(str)
    return text.str.strip()


class _Cells:
    """Problems of one table, named by cell."""

    def __init__(self, table: Table):
        self.table = table
        self.problems: list[Problem] = []
        self.sample_wrong = np.zeros(min(len(table.frame), SAMPLE_ROWS), dtype=bool)

    def report(self, mask, column: str, message) -> None:
        """A problem at every row where `mask` holds; `message(i)` for row position i."""
        self.sample_wrong |= np.asarray(mask, dtype=bool)[: len(self.sample_wrong)]
        self.problems += mask_problems(self.table.file, self.table.first_row, mask, column, message)


def _is_number(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
        series.dtype
    )


def _numbers(cells: _Cells, col: Column, series: pd.Series) -> np.ndarray:
    table = cells.table
    if _is_number(series):
        number = series.to_numpy(dtype=float)
        empty = np.isnan(number)
        text = None
    else:
        text = stripped(series)
        empty = text.eq("").to_numpy()
        parsed = pd.to_numeric(text.str.replace(",", "", regex=False), errors="coerce")
        number = parsed.to_numpy(dtype=float)
        bad = ~empty & ~np.isfinite(number)
        cells.report(bad, col.name, lambda i: f"not a number: {text.iloc[i]!r}")
    if not col.allow_empty:
        cells.report(empty, col.name, "empty value")
    ok = np.isfinite(number)
    if col.kind == "integer":
        frac = ok & (np.round(number) != number)
        if frac.any():
            text = stripped(table.text(col.name)) if text is None else text
            cells.report(frac, col.name, lambda i: f"not a whole number: {text.iloc[i]!r}")
    if col.minimum is not None:
        low = ok & (number < col.minimum)
        cells.report(low, col.name, lambda i: f"{number[i]:g} is below the minimum {col.minimum:g}")
    if col.maximum is not None:
        high = ok & (number > col.maximum)
        cells.report(
            high, col.name, lambda i: f"{number[i]:g} is above the maximum {col.maximum:g}"
        )
    if col.above is not None:
        low = ok & (number <= col.above)
        cells.report(low, col.name, lambda i: f"{number[i]:g} is not above {col.above:g}")
    return number


def _booleans(cells: _Cells, col: Column, series: pd.Series) -> pd.arrays.BooleanArray:
    if pd.api.types.is_bool_dtype(series.dtype):
        empty = series.isna().to_numpy()
        values = series.fillna(False).to_numpy(dtype=bool)
    else:
        text = stripped(series)
        empty = text.eq("").to_numpy()
        lower = text.str.lower()
        values = lower.isin(TRUE_WORDS).to_numpy()
        bad = ~empty & ~values & ~lower.isin(FALSE_WORDS).to_numpy()
        cells.report(
            bad,
            col.name,
            lambda i: f"not a boolean ({BOOLEAN_WORDS}): {text.iloc[i]!r}",
        )
    if not col.allow_empty:
        cells.report(empty, col.name, "empty value")
    return pd.arrays.BooleanArray(values & ~empty, empty)


def _arrow_times(text: pd.Series) -> pd.Series | None:
    """ISO 8601 times without offsets parsed by Arrow in one pass (empty cells as NaT), or None
    when some cell is not one: then pandas parses them cell by cell to say which."""
    cells = pa.array(text)
    try:
        blanks = pc.equal(cells, "")
        ts = pc.cast(pc.if_else(blanks, pa.scalar(None, cells.type), cells), pa.timestamp("us"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return pd.Series(ts.to_numpy(zero_copy_only=False), index=text.index)


def local_times(text: pd.Series, timezone: tzinfo) -> tuple[pd.Series, int]:
    """ISO 8601 date-times as the bureau's local wall-clock time (NaT where unparseable or
    empty): a time with a UTC offset (`Z`, `+08:00`) is converted to `timezone`, a time without
    one is taken as local already. Returns the times and how many carried an offset."""
    fast = _arrow_times(text)
    if fast is not None:
        return fast, 0
    offset = text.str.contains(UTC_OFFSET, regex=True).to_numpy()
    naive = pd.to_datetime(text.where(~offset, ""), format="ISO8601", errors="coerce")
    if offset.any():
        aware = pd.to_datetime(text[offset], format="ISO8601", errors="coerce", utc=True)
        naive[offset] = aware.dt.tz_convert(timezone).dt.tz_localize(None).astype(naive.dtype)
    return naive, int(offset.sum())


def _times(
    cells: _Cells, col: Column, series: pd.Series, timezone: tzinfo
) -> tuple[pd.Series, int]:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        empty = series.isna().to_numpy()
        converted = 0
        if getattr(series.dt, "tz", None) is not None:
            series = series.dt.tz_convert(timezone).dt.tz_localize(None)
            converted = int((~empty).sum())
        parsed = series
    else:
        text = stripped(series)
        empty = text.eq("").to_numpy()
        parsed, converted = local_times(text, timezone)
        bad = ~empty & parsed.isna().to_numpy()
        cells.report(bad, col.name, lambda i: f"not an ISO 8601 date-time: {text.iloc[i]!r}")
    if not col.allow_empty:
        cells.report(empty, col.name, "empty value")
    return parsed, converted


def weekday_list(text: str) -> str | None:
    """ISO weekdays written as `5;1;3` (spaces and repeats allowed, empty parts skipped) as
    their distinct digits sorted and joined by ';' ("1;3;5"); None when a part is not a weekday
    1–7 or none is named."""
    days = {part.strip() for part in text.split(";")} - {""}
    if not days or not days <= set(ISO_WEEKDAYS):
        return None
    return ";".join(sorted(days))


def _weekdays(cells: _Cells, col: Column, text: pd.Series, empty: np.ndarray) -> pd.Series:
    """Weekday lists normalised by `weekday_list`, parsed once per distinct spelling; '' where
    empty or wrong."""
    codes, spellings = pd.factorize(text)
    normal = np.array([weekday_list(s) for s in spellings] + [None], dtype=object)[codes]
    bad = ~empty & pd.isna(normal)
    cells.report(
        bad,
        col.name,
        lambda i: f"{text.iloc[i]!r} is not ISO weekdays 1–7 (Monday = 1) joined by ';'",
    )
    return pd.Series(np.where(pd.isna(normal), "", normal), index=text.index, dtype="str")


def _text(cells: _Cells, col: Column, series: pd.Series) -> pd.Series:
    text = stripped(series)
    empty = text.eq("").to_numpy()
    if not col.allow_empty:
        cells.report(empty, col.name, "empty value")
    if col.kind == "month":
        bad = ~empty & ~text.str.match(MONTH).to_numpy(dtype=bool)
        cells.report(bad, col.name, lambda i: f"not a month YYYY-MM: {text.iloc[i]!r}")
        return text.where(~bad, "")
    if col.kind == "weekdays":
        return _weekdays(cells, col, text, empty)
    if col.choices is not None:
        bad = ~empty & ~text.isin(col.choices).to_numpy()
        allowed = ", ".join(col.choices)
        cells.report(bad, col.name, lambda i: f"{text.iloc[i]!r} is not one of {allowed}")
    return text


def coerce(table: Table, columns: list[Column], timezone: tzinfo) -> Coerced:
    """Typed copy of a table and every problem with its cells.

    Unknown columns pass through unchanged. Rows with a bad cell stay in the frame (with NaN or
    NaT) so later checks can still see them; the caller fails on any problem anyway.
    """
    cells = _Cells(table)
    typed = dict(table.frame.items())
    converted: dict[str, int] = {}
    for col in columns:
        if col.name not in typed:
            if col.required:
                cells.problems.append(
                    Problem(table.file, 1, col.name, "required column is missing")
                )
            continue
        series = typed[col.name]
        if col.kind in ("number", "integer"):
            typed[col.name] = pd.Series(_numbers(cells, col, series), index=series.index)
        elif col.kind == "bool":
            typed[col.name] = pd.Series(_booleans(cells, col, series), index=series.index)
        elif col.kind == "datetime":
            typed[col.name], count = _times(cells, col, series, timezone)
            if count:
                converted[col.name] = count
        else:
            typed[col.name] = _text(cells, col, series)
    frame = pd.DataFrame(typed, index=table.frame.index, copy=False)
    wrong = cells.sample_wrong
    garbage = len(wrong) == SAMPLE_ROWS and wrong.sum() > SAMPLE_ROWS / 2
    return Coerced(frame, cells.problems, converted, garbage)
