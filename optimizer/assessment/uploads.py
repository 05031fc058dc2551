"""A department's submission as the desk receives it (SPEC §17): a CSV or XLSX upload, or JSON
rows, turned into a `models.reading.Table` so it is checked exactly as `scores.csv` is, every
problem named by file, row and column. CSV goes through the data folder's own reader; XLSX
through openpyxl (its first sheet, header in row 1); JSON rows are file `rows`, numbered from 1."""

from __future__ import annotations

import io
import re
import tempfile
import zipfile
from pathlib import Path

import pandas as pd

from models.errors import InputError, Problem
from models.reading import Table, read_table

MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # a month's values of a province fit in far less
MAX_ROWS = 200_000  # rows of one submission
XLSX_MAGIC = b"PK\x03\x04"


def _safe_name(name: str, suffix: str) -> str:
    """The upload's base name, kept to letters, digits, dot, dash and underscore (the name
    problems are reported under), ending in `suffix`."""
    base = re.sub(r"[^\w.\-]", "_", Path(name or "").name)[:80].strip("._") or "upload"
    return base if base.lower().endswith(suffix) else f"{base}{suffix}"


def uploaded_table(name: str, body: bytes) -> tuple[Table, str]:
    """The uploaded file as a Table and its kind (`csv` or `xlsx`, told by its bytes, not its
    name); InputError naming the file when it is neither or cannot be read."""
    if body.startswith(XLSX_MAGIC):
        file = _safe_name(name, ".xlsx")
        return _xlsx_table(file, body), "xlsx"
    file = _safe_name(name, ".csv")
    if b"\x00" in body[:4096]:
        raise InputError([Problem(file, 0, "(file)", "neither a CSV nor an XLSX file")])
    with tempfile.TemporaryDirectory(prefix="patrolopt-upload-") as folder:
        path = Path(folder) / file
        path.write_bytes(body)
        table = read_table(path, {"value"})
        table.text_of = None if table.text_of is None else _kept(table)
    return table, "csv"


def _kept(table: Table):
    """The text of each column read now, while the file still exists."""
    texts = {column: table.text_of(column) for column in table.frame.columns}
    return texts.__getitem__


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _xlsx_table(file: str, body: bytes) -> Table:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(body), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InputError([Problem(file, 0, "(file)", f"cannot read the workbook: {exc}")]) from None
    sheet = book.worksheets[0]
    rows = sheet.iter_rows(values_only=True, max_row=MAX_ROWS + 1)
    header = [_cell_text(v).strip() for v in next(rows, ())]
    while header and not header[-1]:
        header.pop()
    if not header:
        raise InputError([Problem(file, 1, "(header)", "the first sheet has no header row")])
    cells = [[_cell_text(v) for v in row[: len(header)]] for row in rows]
    book.close()
    cells = [row + [""] * (len(header) - len(row)) for row in cells if any(row)]
    if len(set(header)) < len(header) or "" in header:
        raise InputError([Problem(file, 1, "(header)", "empty or repeated column names")])
    return Table(file, Path(file), pd.DataFrame(cells, columns=header, dtype=object), 2)


def rows_table(rows: list[dict]) -> Table:
    """JSON rows as a Table named `rows` (row numbers from 1); every value as text, so a value
    that is not a number is named as a CSV's would be."""
    if len(rows) > MAX_ROWS:
        raise InputError([Problem("rows", 0, "(file)", f"more than {MAX_ROWS:,} rows")])
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    cells = [[_cell_text(row.get(column)) for column in columns] for row in rows]
    return Table("rows", Path("rows"), pd.DataFrame(cells, columns=columns, dtype=object), 1)
