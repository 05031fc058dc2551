"""Cells safe to open in a spreadsheet (OWASP CSV injection): text that Excel, LibreOffice or
WPS would read as a formula — starting with `=`, `+`, `-`, `@`, a tab or a carriage return — is
kept as text. Numbers, and text that is only a number (`-5`, `+0.5`), stay as they are."""

from __future__ import annotations

import re

import pandas as pd
from openpyxl.worksheet.worksheet import Worksheet

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def formula_like(value: object) -> bool:
    """Whether `value` is text a spreadsheet would evaluate rather than show."""
    return (
        isinstance(value, str)
        and value.startswith(FORMULA_START)
        and NUMBER.fullmatch(value) is None
    )


def _formula_mask(values: pd.Series) -> pd.Series:
    """Which text values of `values` a spreadsheet would evaluate (whole column at once)."""
    text = values.astype("string")
    starts = text.str.startswith(FORMULA_START).fillna(False)
    number = text.str.fullmatch(NUMBER.pattern).fillna(False)
    return (starts & ~number).astype(bool)


def neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` for a CSV file: every formula-like text cell prefixed with `'`, which
    spreadsheets show as the text itself; other cells and the frame's dtypes unchanged.
    Column-wise (no Python per cell), so a schedule of millions of rows costs little."""
    changed = {}
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        if isinstance(values.dtype, pd.CategoricalDtype):
            categories = values.cat.categories.to_series()
            mask = _formula_mask(categories)
            if mask.any():
                renamed = categories.where(~mask, "'" + categories.astype(str))
                changed[column] = values.cat.rename_categories(list(renamed))
            continue
        mask = _formula_mask(values)
        if mask.any():
            changed[column] = values.where(~mask, "'" + values.astype(str))
    return frame.assign(**changed) if changed else frame


def cells_as_text(sheet: Worksheet) -> None:
    """Every formula-like or error-code-like text cell of `sheet` stored as text (type `s`,
    with Excel's quote prefix so an edit keeps it text); the text itself is unchanged."""
    for row in sheet.iter_rows():
        for cell in row:
            if cell.data_type in ("f", "e") or formula_like(cell.value):
                cell.data_type = "s"
                cell.quotePrefix = True
