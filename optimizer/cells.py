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


def neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` for a CSV file: every formula-like text cell prefixed with `'`, which
    spreadsheets show as the text itself; other cells and the frame's dtypes unchanged."""
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if not text:
        return frame
    out = frame.copy()
    for column in text:
        out[column] = frame[column].map(lambda v: f"'{v}" if formula_like(v) else v)
    return out


def cells_as_text(sheet: Worksheet) -> None:
    """Every formula-like or error-code-like text cell of `sheet` stored as text (type `s`,
    with Excel's quote prefix so an edit keeps it text); the text itself is unchanged."""
    for row in sheet.iter_rows():
        for cell in row:
            if cell.data_type in ("f", "e") or formula_like(cell.value):
                cell.data_type = "s"
                cell.quotePrefix = True
