"""The desk's writes to the data folder's `scores.csv` (SPEC §17): a closed month's rows, or
one value an upheld appeal corrects. The file is rewritten whole through a temporary file and
an atomic rename, so a reader sees the old file or the new one, never half of either; rows of
other months keep their text exactly as it was."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from models.tables import TABLES
from optimizer.store import rows_digest

SCORES_FILE = "scores.csv"
SCORES_COLUMNS = [column.name for column in TABLES["scores"].columns]  # as SPEC §2 lists them


def _number_text(value) -> str:
    return "" if value is None or pd.isna(value) else f"{float(value):.10g}"


def _current(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame(columns=SCORES_COLUMNS)
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def month_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` (station_id, month, indicator_id, value, reported_at, source) as the file's
    text, in station and indicator order."""
    text = pd.DataFrame({"station_id": rows["station_id"].astype(str)})
    text["month"] = rows["month"].astype(str)
    text["indicator_id"] = rows["indicator_id"].astype(str)
    text["value"] = [_number_text(v) for v in rows["value"]]
    text["reported_at"] = rows["reported_at"].astype(str)
    text["source"] = rows["source"].astype(str)
    return text.sort_values(["station_id", "indicator_id"]).reset_index(drop=True)


def replace_file(path: Path, frame: pd.DataFrame) -> None:
    """Write `frame` as CSV to `path` through a temporary file and an atomic rename."""
    handle, staging = tempfile.mkstemp(prefix=".scores-", suffix=".csv", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            frame.to_csv(out, index=False, lineterminator="\n")
        if path.exists():
            os.chmod(staging, path.stat().st_mode & 0o777)
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise


def write_month(data: Path, month: str, rows: pd.DataFrame) -> None:
    """Replace `month`'s rows of `data/scores.csv` with `rows` (`month_rows`); columns the
    file has beyond SCORES_COLUMNS are left empty in them."""
    path = Path(data) / SCORES_FILE
    current = _current(path)
    columns = list(current.columns) if len(current.columns) else list(SCORES_COLUMNS)
    columns += [c for c in SCORES_COLUMNS if c not in columns]
    kept = current[current["month"] != month] if "month" in current.columns else current
    written = rows.reindex(columns=columns, fill_value="")
    replace_file(path, pd.concat([kept.reindex(columns=columns, fill_value=""), written]))


def amend_value(
    data: Path, month: str, station: str, indicator: str, value: float, when: str, source: str
) -> float | None:
    """Set one value of `scores.csv` (an upheld appeal's correction); the value it replaced
    (None where there was none)."""
    path = Path(data) / SCORES_FILE
    current = _current(path)
    for column in SCORES_COLUMNS:
        if column not in current.columns:
            current[column] = ""
    at = (
        (current["station_id"] == station)
        & (current["month"] == month)
        & (current["indicator_id"] == indicator)
    )
    previous = pd.to_numeric(current.loc[at, "value"], errors="coerce").dropna()
    row = {"station_id": station, "month": month, "indicator_id": indicator}
    row |= {"value": _number_text(value), "reported_at": when, "source": source}
    if at.any():
        for column, text in row.items():
            current.loc[at, column] = text
    else:
        current = pd.concat([current, pd.DataFrame([row])], ignore_index=True).fillna("")
    replace_file(path, current)
    return float(previous.iloc[0]) if len(previous) else None


def month_digest(rows: pd.DataFrame) -> str:
    """sha256 of a month's rows (`month_rows`, order-free), for the audit entry of a close."""
    return rows_digest(rows.astype(str).to_dict("records"))
