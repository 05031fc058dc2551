"""Typed reading of the large execution tables (GPS pings, dispatch records; SPEC §13, §15).

A month of 10-second pings is tens of millions of rows: read as text cell by cell it would take
minutes and many gigabytes. These tables are read typed with pyarrow instead (CSV with the
declared column types, Parquet as stored), text columns dictionary-encoded; their cells are
then checked by `models.columns.coerce` like every other table's. A file pyarrow cannot read
with the declared types (a word in a number column, a time with a zone offset, another
encoding) returns None: the caller then reads it as text, which names every problem at its
file, row and column exactly as for other tables.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from models.reading import Table

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


def _numbers(array: pa.ChunkedArray) -> np.ndarray | pd.Series:
    """A number column as float64, or as text ('' for nulls) when it holds infinities or NaN,
    for the checks to name those cells as a CSV read as text would."""
    values = np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.float64)
    if np.isfinite(values[~np.asarray(array.is_null())]).all():
        return values
    return pc.fill_null(pc.cast(array, pa.string()), "").to_pandas()


def _times(array: pa.ChunkedArray) -> pd.Series:
    """A timestamp column in nanoseconds, its zone (if any) kept for the checks to convert."""
    return array.cast(pa.timestamp("ns", tz=array.type.tz)).to_pandas()


def read_typed(path: Path, columns: Sequence[Any]) -> Table | None:
    """A large table typed as `contracts.coerce` checks it (numbers as float64, times as
    datetime64, text as categoricals of trimmed values; unknown columns as text), or None when
    the file must be read as text to locate its problems."""
    read = _read_arrow(path, columns)
    if read is None:
        return None
    names, column, first_row = read
    if len(set(names)) != len(names):
        return None
    kinds = {col.name: col.kind for col in columns}
    out: dict[str, Any] = {}
    for name in names:
        kind, array = kinds.get(name, "text"), column(name)
        if kind == "text":
            out[name] = _text(array)
        elif kind in NUMERIC and (
            pa.types.is_integer(array.type) or pa.types.is_floating(array.type)
        ):
            out[name] = _numbers(array)
        elif kind == "datetime" and pa.types.is_timestamp(array.type):
            try:
                out[name] = _times(array)
            except pa.ArrowInvalid:  # beyond the years nanoseconds hold
                return None
        else:
            return None  # a column of another type; bool and month are not used by these tables
    return Table(path.name, path, pd.DataFrame(out, copy=False), first_row)
