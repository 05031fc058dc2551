"""Reading a bureau's files, and the one place where low-level read errors become located
problems.

Every reader of a user's file runs its library calls inside `located(file)`: whatever the CSV
parser, a codec, Parquet, GDAL (pyogrio), GEOS (shapely) or the TOML parser raises becomes a
`file:row:column` problem (exit 2), so a new format cannot bring back a traceback. A locator per
exception family (`LOCATORS`) finds the row where the library says it; unknown exceptions are
still reported against the file.

CSV tables are read by Arrow with the column types the contract declares (numbers as float64,
everything else as text) and never decoded into one Python string: the encoding (UTF-8, UTF-8
with BOM, GB18030) is detected by streaming the file in line-aligned blocks, which also finds NUL
bytes and files that mix encodings at their line.
"""

from __future__ import annotations

import csv
import re
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from models.errors import InputError, Problem

BOM = b"\xef\xbb\xbf"
BLOCK_BYTES = 1 << 24  # the encoding scan reads 16 MB at a time
CSV_ENCODINGS = ("utf-8", "gb18030")
_ARROW_ENCODING = {"utf-8": "utf8", "gb18030": "gb18030"}
_ROW_IN_MESSAGE = re.compile(r"(?:line|row|Row #|feature)\s*(\d+)", re.IGNORECASE)


def _row_named(message: str) -> int:
    """The row or line a library's message names, 0 when it names none."""
    found = _ROW_IN_MESSAGE.search(message)
    return int(found.group(1)) if found else 0


def _toml_problem(exc: Exception, file: str) -> Problem:
    line = getattr(exc, "lineno", None) or _row_named(str(exc))
    return Problem(file, line, "(file)", f"not valid TOML: {exc}")


def _csv_module_problem(exc: Exception, file: str) -> Problem:
    return Problem(file, _row_named(str(exc)), "(file)", f"cannot read: {exc}")


def _os_problem(exc: Exception, file: str) -> Problem:
    reason = getattr(exc, "strerror", None) or str(exc)
    return Problem(file, 0, "(file)", f"cannot read: {reason}")


def _geometry_problem(exc: Exception, file: str) -> Problem:
    return Problem(file, _row_named(str(exc)), "geometry", f"cannot use the geometry: {exc}")


def _any_problem(exc: Exception, file: str) -> Problem:
    message = str(exc).strip() or type(exc).__name__
    return Problem(file, _row_named(message), "(file)", f"cannot read: {message}")


def _geos_errors() -> tuple[type[Exception], ...]:
    import shapely.errors

    return (shapely.errors.ShapelyError,)


# (exception types, locator) in order: the first entry whose types match locates the error.
LOCATORS: list[tuple[Callable[[], tuple[type[Exception], ...]], Callable]] = [
    (lambda: (tomllib.TOMLDecodeError,), _toml_problem),
    (lambda: (csv.Error,), _csv_module_problem),
    (lambda: (OSError,), _os_problem),
    (_geos_errors, _geometry_problem),
    (lambda: (Exception,), _any_problem),
]


def problem_of(exc: Exception, file: str) -> Problem:
    """The located problem for a low-level error raised while reading `file`."""
    for types, locate in LOCATORS:
        if isinstance(exc, types()):
            return locate(exc, file)
    return _any_problem(exc, file)


@contextmanager
def located(file: str) -> Iterator[None]:
    """Run a library's reading of `file`, turning whatever it raises into an InputError."""
    try:
        yield
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - every library error becomes a located problem
        raise InputError([problem_of(exc, file)]) from exc


def _fields(text: str) -> list[str]:
    """The CSV fields of one line, read leniently (stray quotes and line breaks allowed)."""
    try:
        return next(csv.reader([text.replace("\r", " ").replace("\n", " ")]), [])
    except csv.Error:
        return text.split(",")


def _column_at(header: bytes, prefix: bytes, encoding: str) -> str:
    """The CSV column (named by `header`) of the field that starts after `prefix` of its line;
    "(file)" when the header names none readable there."""
    names = _fields(header.decode(encoding, "replace"))
    index = max(len(_fields(prefix.decode(encoding, "replace"))), 1) - 1
    name = names[index].strip() if index < len(names) else ""
    readable = name.isprintable() and "\ufffd" not in name and len(name) <= 64
    return name if name and readable else "(file)"


@dataclass(frozen=True)
class _Failure:
    """Bytes an encoding cannot decode: their line (from 1), the file's header line, the line
    up to them and the whole line."""

    line: int
    header: bytes
    prefix: bytes
    bad: bytes
    text: bytes

    def column(self, encoding: str) -> str:
        return _column_at(self.header, self.prefix, encoding) if self.line > 1 else "(header)"


def _failure(block: bytes, start: int, end: int, header: bytes, lines_before: int = 0) -> _Failure:
    """The failure at byte `start` of a block of whole lines that follows `lines_before`."""
    line_start = block.rfind(b"\n", 0, start) + 1
    line_end = block.find(b"\n", start)
    return _Failure(
        line=lines_before + block.count(b"\n", 0, start) + 1,
        header=header,
        prefix=block[line_start:start],
        bad=block[start:end],
        text=block[line_start : len(block) if line_end < 0 else line_end],
    )


def _undecodable(file: str, failures: dict[str, _Failure], bom: bool, table: bool) -> Problem:
    """The problem for a text no encoding decodes, at the failure of the encoding that read
    furthest, naming every encoding tried."""
    encoding, worst = max(failures.items(), key=lambda f: f[1].line)
    attempts = " and ".join(
        f"{name.upper()} (fails on line {fail.line})" for name, fail in failures.items()
    )
    after = " after a UTF-8 byte order mark" if bom else ""
    column = worst.column(encoding) if table else "(file)"
    message = f"cannot decode bytes {worst.bad!r}{after}; tried {attempts}"
    return Problem(file, worst.line, column, message)


def decode(raw: bytes, file: str, encodings: tuple[str, ...], table: bool = False) -> str:
    """Text of a small file: UTF-8 after a UTF-8 BOM, else the first of `encodings` that
    decodes it; InputError at the first undecodable line otherwise (naming every encoding
    tried; for a `table` the column is the header name of the field holding the bad bytes)."""
    bom = raw.startswith(BOM)
    body, tried = (raw[len(BOM) :], ("utf-8",)) if bom else (raw, encodings)
    failures = {}
    for encoding in tried:
        try:
            return body.decode(encoding)
        except UnicodeDecodeError as exc:
            failures[encoding] = _failure(body, exc.start, exc.end, body.split(b"\n", 1)[0])
    raise InputError([_undecodable(file, failures, bom, table)])


def _blocks(path: Path) -> Iterator[bytes]:
    """The file in blocks of whole lines (the last one may lack its newline)."""
    rest = b""
    with open(path, "rb") as stream:
        while chunk := stream.read(BLOCK_BYTES):
            chunk = rest + chunk
            cut = chunk.rfind(b"\n") + 1
            if cut == 0:
                rest = chunk
                continue
            rest = chunk[cut:]
            yield chunk[:cut]
    if rest:
        yield rest


@dataclass
class _Scan:
    """What one streaming pass over a CSV file in one encoding found."""

    bom: bool = False
    header: bytes = b""
    failure: _Failure | None = None
    text_line: int = 0  # first line holding text beyond ASCII that decoded


def _scan(path: Path, file: str, encoding: str) -> _Scan:
    """Decode the file block by block in `encoding` (its output discarded) up to the first
    undecodable bytes; InputError at the line of a NUL byte."""
    found = _Scan()
    lines = 0
    for number, block in enumerate(_blocks(path)):
        if number == 0:
            found.bom = block.startswith(BOM)
            block = block[len(BOM) :] if found.bom else block
            found.header = block.split(b"\n", 1)[0].rstrip(b"\r")
        nul = block.find(b"\x00")
        if nul >= 0:
            where = _failure(block, nul, nul + 1, found.header, lines)
            start = block[2:66]  # past a UTF-16 byte order mark
            utf16 = len(start) > 2 and (set(start[0::2]) == {0} or set(start[1::2]) == {0})
            hint = " (a UTF-16 file? save it as UTF-8 or GB18030)" if utf16 else ""
            raise InputError(
                [Problem(file, where.line, where.column("utf-8"), f"NUL byte in the text{hint}")]
            )
        try:
            block.decode(encoding)
        except UnicodeDecodeError as exc:
            found.failure = _failure(block, exc.start, exc.end, found.header, lines)
            decoded = block[: block.rfind(b"\n", 0, exc.start) + 1]
            if not found.text_line and not decoded.isascii():
                found.text_line = lines + _first_non_ascii_line(decoded)
            return found
        if not found.text_line and not block.isascii():
            found.text_line = lines + _first_non_ascii_line(block)
        lines += block.count(b"\n")
    return found


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def csv_encoding(path: Path, file: str) -> str:
    """The encoding of a CSV file: UTF-8 (a BOM allowed), else GB18030, each checked by one
    streaming pass. InputError at the line of a NUL byte, of bytes no encoding decodes, or of a
    GB18030 line in a file whose earlier lines are UTF-8 text (mixed encodings garble names)."""
    utf8 = _scan(path, file, "utf-8")
    failure = utf8.failure
    if failure is None:
        return "utf-8"
    if utf8.text_line and _decodes(failure.text, "gb18030"):
        message = (
            f"bytes {failure.bad!r} are not UTF-8, but line {utf8.text_line} is UTF-8 text: the "
            "file mixes encodings; save it in one encoding (UTF-8 or GB18030)"
        )
        raise InputError([Problem(file, failure.line, failure.column("utf-8"), message)])
    failures = {"utf-8": failure}
    if not utf8.bom:
        gb = _scan(path, file, "gb18030")
        if gb.failure is None:
            return "gb18030"
        failures["gb18030"] = gb.failure
    raise InputError([_undecodable(file, failures, utf8.bom, True)])


def _first_non_ascii_line(block: bytes) -> int:
    """Line (from 1) of the first byte beyond ASCII in a block of lines."""
    first = re.search(rb"[\x80-\xff]", block)
    return block.count(b"\n", 0, first.start()) + 1 if first else 0


@dataclass
class Table:
    """A table as read: typed columns where the file types them (numbers in a CSV as float64,
    everything Parquet types), text otherwise; its file name; the row number of its first row.

    `text(column)` gives a column as the file wrote it, read again only to name a problem.
    """

    file: str
    path: Path
    frame: pd.DataFrame
    first_row: int
    text_of: Callable[[str], pd.Series] | None = field(default=None, repr=False)

    def text(self, column: str) -> pd.Series:
        """The column as text (nulls as ''), as the file wrote it where the file is text."""
        if self.text_of is not None:
            return self.text_of(column)
        return as_text(self.frame[[column]])[column]


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells of a typed frame (Parquet, GeoJSON properties) as text, nulls as ''."""
    out = {}
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_string_dtype(col.dtype) and not pd.api.types.is_object_dtype(col.dtype):
            out[name] = col.fillna("")
            continue
        text = col.astype(object).map(lambda v: "" if v is None or v is pd.NaT else str(v))
        text[col.isna().to_numpy()] = ""
        out[name] = text.astype(str)
    return pd.DataFrame(out, index=frame.index)


def _parse_options(handler=None) -> pacsv.ParseOptions:
    return pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=handler)


def _header(path: Path, file: str, encoding: str) -> list[str]:
    """The column names the CSV header writes, unstripped; InputError for an empty file."""
    options = pacsv.ReadOptions(encoding=_ARROW_ENCODING[encoding], block_size=1 << 20)
    try:
        with located(file):
            parse = _parse_options(lambda row: "skip")  # rows are checked when read in full
            reader = pacsv.open_csv(path, read_options=options, parse_options=parse)
            names = reader.schema.names
            reader.close()
    except InputError as exc:
        if "Empty CSV file" in str(exc):
            raise InputError(
                [
                    Problem(
                        file,
                        1,
                        "(header)",
                        "the file is empty: it needs a header naming its columns",
                    )
                ]
            ) from None
        raise
    return names


def header_problems(file: str, names: list[str]) -> list[Problem]:
    """Header names that are empty, or that repeat once surrounding spaces are stripped."""
    problems = []
    seen: dict[str, int] = {}
    for position, raw in enumerate(names, start=1):
        name = raw.strip()
        if not name:
            problems.append(Problem(file, 1, f"(column {position})", "column has no name"))
        elif name in seen:
            problems.append(
                Problem(
                    file,
                    1,
                    name,
                    f"column {name!r} appears twice in the header (columns {seen[name]} and "
                    f"{position}); spaces around a name do not make it another column",
                )
            )
        else:
            seen[name] = position
    return problems


def _read_csv(
    path: Path, file: str, encoding: str, types: dict[str, pa.DataType], columns: list[str] | None
) -> pa.Table:
    """Arrow read with `types` by column name; rows with the wrong number of fields are all
    reported at their lines."""
    read = pacsv.ReadOptions(encoding=_ARROW_ENCODING[encoding])
    convert = pacsv.ConvertOptions(
        column_types=types,
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
        null_values=[""],
        include_columns=columns,
    )
    try:
        with located(file):
            return pacsv.read_csv(path, read, _parse_options(), convert)
    except InputError as exc:
        if "CSV parse error" not in str(exc):
            raise
    bad: list[Problem] = []

    def skip(row) -> str:
        fields = len(_fields(row.text))
        bad.append(
            Problem(
                file,
                row.number or 0,
                "(row)",
                f"row has {fields} field(s), the header names {row.expected_columns}",
            )
        )
        return "skip"

    read = pacsv.ReadOptions(encoding=_ARROW_ENCODING[encoding], use_threads=False)
    with located(file):
        pacsv.read_csv(path, read, _parse_options(skip), convert)
    raise InputError(bad or [Problem(file, 0, "(file)", "cannot read: malformed CSV")])


def read_csv_table(path: Path, numbers: set[str] = frozenset()) -> Table:
    """A CSV table, every column text except the `numbers`, read as float64 where every cell
    is a plain number (else as text, for the checks to name the cells that are not)."""
    file = path.name
    encoding = csv_encoding(path, file)
    names = _header(path, file, encoding)
    problems = header_problems(file, names)
    if problems:
        raise InputError(problems)
    text_types = {name: pa.string() for name in names}
    typed = {name: pa.float64() if name.strip() in numbers else pa.string() for name in names}
    try:
        arrow = _read_csv(path, file, encoding, typed, None)
    except InputError as exc:
        if "CSV conversion error" not in str(exc):
            raise
        arrow = _read_csv(path, file, encoding, text_types, None)
    raw_name = {name.strip(): name for name in names}
    for name in names:
        column = arrow.column(name)
        if pa.types.is_floating(column.type) and pc.any(pc.invert(pc.is_finite(column))).as_py():
            arrow = arrow.set_column(
                arrow.schema.get_field_index(name),
                name,
                _read_csv(path, file, encoding, {name: pa.string()}, [name]).column(0),
            )
    frame = arrow.to_pandas()
    frame.columns = [name.strip() for name in names]

    def text_of(column: str) -> pd.Series:
        if pd.api.types.is_string_dtype(frame[column].dtype):
            return frame[column]
        raw = raw_name[column]
        column_arrow = _read_csv(path, file, encoding, {raw: pa.string()}, [raw])
        return column_arrow.column(0).to_pandas()

    return Table(file, path, frame, 2, text_of)


def read_parquet_table(path: Path) -> Table:
    """A Parquet table, typed as the file types it (row numbers from 1)."""
    import pyarrow.parquet as pq

    with located(path.name):
        frame = pq.read_table(path).to_pandas()
    problems = header_problems(path.name, [str(c) for c in frame.columns])
    if problems:
        raise InputError(problems)
    frame.columns = [str(c).strip() for c in frame.columns]
    return Table(path.name, path, frame.reset_index(drop=True), 1)


def read_table(path: Path, numbers: set[str] = frozenset()) -> Table:
    """A CSV or Parquet table (see `read_csv_table` for `numbers`); InputError if unreadable."""
    if path.is_dir():
        raise InputError([Problem(path.name, 0, "(file)", "cannot read: is a folder, not a file")])
    if path.suffix == ".parquet":
        return read_parquet_table(path)
    return read_csv_table(path, numbers)


def find_table(data_dir: Path, stem: str) -> Path | None:
    """`<stem>.csv`, else `<stem>.parquet`, in the data folder."""
    for suffix in (".csv", ".parquet"):
        path = data_dir / f"{stem}{suffix}"
        if path.exists():
            return path
    return None


def find_geometry(data_dir: Path, stem: str = "stations") -> Path | None:
    """`<stem>.geojson`, else `<stem>.gpkg`."""
    for suffix in (".geojson", ".gpkg"):
        path = data_dir / f"{stem}{suffix}"
        if path.exists():
            return path
    return None


def _booleans_as_read(layer: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The layer with its boolean fields as True/False/None: GDAL hands a boolean field with
    empty values as floats 1.0/0.0/NaN, which no boolean word spells."""
    import pyogrio

    info = pyogrio.read_info(path)
    for name, kind in zip(info["fields"], info["dtypes"], strict=True):
        if kind == "bool" and pd.api.types.is_float_dtype(layer[name].dtype):
            layer[name] = layer[name].map({1.0: True, 0.0: False}).astype(object)
    return layer


def read_layer(path: Path):
    """A layer of features (jurisdictions, roads): properties as text (feature number from 1)
    and its geometry."""
    import warnings

    import geopandas as gpd

    if path.is_dir():
        raise InputError([Problem(path.name, 0, "(file)", "cannot read: is a folder, not a file")])
    with located(path.name), warnings.catch_warnings():
        # a property GDAL cannot parse is checked later, by row
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        layer = _booleans_as_read(gpd.read_file(path), path)
    names = [str(c) for c in layer.columns if c != "geometry"]
    problems = header_problems(path.name, names)
    if problems:
        raise InputError(problems)
    props = as_text(pd.DataFrame(layer.drop(columns="geometry")))
    props.columns = [c.strip() for c in names]
    return Table(path.name, path, props.reset_index(drop=True), 1), layer.geometry


def read_toml(path: Path) -> tuple[str, dict]:
    """Text and values of a TOML file (UTF-8); InputError at the line of a syntax error. One
    that tomllib meets only at the end of the text (an unclosed array, string, inline table or
    header: "at end of document") is placed at the file's last written line, not at row 0."""
    with located(path.name):
        raw = path.read_bytes()
    text = decode(raw, path.name, ("utf-8",))
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise InputError([Problem(path.name, line, "(file)", "NUL byte in the text")])
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        problem = _toml_problem(exc, path.name)
        if problem.row == 0:
            problem = replace(problem, row=max(len(text.rstrip().splitlines()), 1))
        raise InputError([problem]) from exc
