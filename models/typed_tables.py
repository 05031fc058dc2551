"""Typed reading of the large execution tables (GPS pings, dispatch records; SPEC §13, §15).

A month of 10-second pings is tens of millions of rows: read as text cell by cell it would take
minutes and many gigabytes. These tables are read typed with pyarrow instead (CSV with the
declared column types, Parquet as stored), text columns dictionary-encoded, and every value
check runs on whole columns. A file pyarrow cannot read with the declared types (a word in a
number column, a time with a zone offset, another encoding) returns None: the caller then reads
it as text, which names every problem at its file, row and column exactly as for other tables.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from datetime import tzinfo
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from models.errors import Problem

NUMERIC = ("number", "integer")


def _csv_header(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle), [])


def _read_arrow(
    path: Path, columns: Sequence[Any]
) -> tuple[list[str], Callable[[str], pa.ChunkedArray], int] | None:
    """The file's column names (stripped), a function handing each column once as an arrow
    array with the declared types, and the row number of its first row (CSV: 2, the header
    being 1; Parquet: 1); None where the types do not hold. Parquet columns are read one at a
    time, so a column's arrow buffers are gone before the next is read."""
    kinds = {col.name: col.kind for col in columns}
    try:
        if path.suffix == ".parquet":
            parquet = pq.ParquetFile(path)
            original = {str(n).strip(): n for n in parquet.schema_arrow.names}
            names = [str(n).strip() for n in parquet.schema_arrow.names]
            return names, lambda n: parquet.read(columns=[original[n]]).column(0), 1
        header = _csv_header(path)
        types = {}
        for name in header:
            kind = kinds.get(name.strip(), "text")
            types[name] = (
                pa.float64()
                if kind in NUMERIC
                else pa.timestamp("ns")
                if kind == "datetime"
                else pa.string()
            )
        options = pacsv.ConvertOptions(
            column_types=types, strings_can_be_null=False, null_values=[""]
        )
        table = pacsv.read_csv(path, convert_options=options)
    except (pa.ArrowInvalid, UnicodeDecodeError, StopIteration, ValueError, OSError):
        return None
    names = [str(n).strip() for n in table.column_names]
    arrays = dict(zip(names, table.columns, strict=False))
    return names, arrays.pop, 2


def _text(array: pa.ChunkedArray) -> pd.Series:
    """A text column as a pandas categorical of whitespace-trimmed values, nulls as ''.
    Dictionary columns (as Parquet writers store repeated text) keep their codes."""
    if pa.types.is_dictionary(array.type):
        cat = array.to_pandas()
        codes = cat.cat.codes.to_numpy()
        labels = np.asarray(cat.cat.categories, dtype=object)
    else:
        if not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
            array = array.cast(pa.string())
        encoded = array.combine_chunks().dictionary_encode()
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
        labels = encoded.dictionary.to_numpy(zero_copy_only=False)
    labels = np.array([str(v).strip() for v in labels] + [""], dtype=object)  # last: null
    codes = np.where(codes < 0, len(labels) - 1, codes)
    categories, remap = np.unique(labels.astype(str), return_inverse=True)
    codes = remap.astype(np.int32)[codes]
    return pd.Series(pd.Categorical.from_codes(codes, categories=categories))


def read_typed(
    path: Path, columns: Sequence[Any], timezone: tzinfo | None = None
) -> tuple[pd.DataFrame, int, list[Problem]] | None:
    """Typed frame, row number of its first row and value problems of a large table, like
    `contracts.coerce` gives them (numbers as float64, times as datetime64, text as
    categoricals; unknown columns as text), or None when the file must be read as text to
    locate its problems."""
    read = _read_arrow(path, columns)
    if read is None:
        return None
    names, column, first_row = read
    if len(set(names)) != len(names):
        return None
    problems: list[Problem] = []
    out: dict[str, Any] = {}
    declared = {col.name: col for col in columns}

    def report(mask: np.ndarray, column: str, message) -> None:
        for i in np.flatnonzero(mask):
            text = message(i) if callable(message) else message
            problems.append(Problem(path.name, int(i + first_row), column, text))

    for name in names:
        col = declared.get(name)
        array = column(name)
        if col is None or col.kind == "text":
            out[name] = _text(array)
            continue
        if col.kind in NUMERIC:
            if not (pa.types.is_integer(array.type) or pa.types.is_floating(array.type)):
                return None
            values = np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)
            empty = np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        elif col.kind == "datetime":
            if not pa.types.is_timestamp(array.type):
                return None
            series = array.to_pandas()
            if getattr(series.dt, "tz", None) is not None:  # to the bureau's local time
                series = series.dt.tz_convert(timezone).dt.tz_localize(None)
            values = series.astype("datetime64[ns]").reset_index(drop=True)
            empty = values.isna().to_numpy()
        else:
            return None  # bool and month columns are not used by these tables
        out[name] = values
        if not col.allow_empty:
            report(empty, name, "empty value")
        if col.kind not in NUMERIC:
            continue
        finite = np.isfinite(values)
        report(~empty & ~finite, name, lambda i, v=values: f"not a number: {str(v[i])!r}")
        if col.kind == "integer":
            report(
                finite & (np.round(values) != values),
                name,
                lambda i, v=values: f"not a whole number: {v[i]:g}",
            )
        if col.minimum is not None:
            report(
                finite & (values < col.minimum),
                name,
                lambda i, v=values, m=col.minimum: f"{v[i]:g} is below the minimum {m:g}",
            )
        if col.maximum is not None:
            report(
                finite & (values > col.maximum),
                name,
                lambda i, v=values, m=col.maximum: f"{v[i]:g} is above the maximum {m:g}",
            )
    for col in columns:
        if col.name not in out:
            if col.required:
                problems.append(Problem(path.name, 1, col.name, "required column is missing"))
            continue
        if col.kind != "text":
            continue
        values = out[col.name]
        if not col.allow_empty:
            report((values == "").to_numpy(), col.name, "empty value")
        if col.choices is not None:
            allowed = ", ".join(col.choices)
            bad = (values != "") & ~values.isin(col.choices)
            report(
                bad.to_numpy(),
                col.name,
                lambda i, v=values, a=allowed: f"{v.iloc[i]!r} is not one of {a}",
            )
    return pd.DataFrame(out, copy=False), first_row, problems
