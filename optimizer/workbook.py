"""`training.xlsx` for training departments (SPEC §7): what each station is to take and why,
who takes each course, seats asked for against seats offered, and why every seat asked for
and not given was not — headers and yes/no in the plan's language, station names beside their
ids, every text cell stored as text (`optimizer.cells`), and no write timestamps, so the same
plan gives the same bytes."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pandas as pd
from openpyxl.styles import Alignment
from openpyxl.worksheet.worksheet import Worksheet

from optimizer.cells import cells_as_text
from optimizer.i18n import texts
from optimizer.train import TrainingPlan, seat_demand, unmet_seats

MAX_WIDTH = 80  # characters; longer cells (reasons) wrap
FIXED_TIME = "2000-01-01T00:00:00Z"  # core properties' created / modified
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _named(frame: pd.DataFrame, names: pd.Series) -> pd.DataFrame:
    """`frame` with the station's name right after `station_id`."""
    out = frame.drop(columns="name", errors="ignore")
    out.insert(out.columns.get_loc("station_id") + 1, "name", out["station_id"].map(names))
    out["name"] = out["name"].fillna("")
    return out


def _by_course(plan: TrainingPlan) -> pd.DataFrame:
    """Per course given seats: stations, seats, summed priority and which stations take how
    many seats (most first)."""
    training = plan.training[plan.training["seats"] > 0]
    columns = ["course_id", "title", "stations", "seats", "priority", "trained"]
    if training.empty:
        return pd.DataFrame(columns=columns)
    label = training["station_id"] + (" " + training["station_id"].map(plan.names)).str.rstrip()
    entry = training.assign(entry=label + " (" + training["seats"].astype(str) + ")")
    entry = entry.sort_values(["course_id", "seats", "station_id"], ascending=[True, False, True])
    by_course = entry.groupby(["course_id", "title"], as_index=False, sort=True).agg(
        stations=("station_id", "nunique"),
        seats=("seats", "sum"),
        priority=("priority", "sum"),
        trained=("entry", ", ".join),
    )
    by_course["priority"] = by_course["priority"].round(2)
    return by_course[columns]


def training_sheets(plan: TrainingPlan) -> list[tuple[str, pd.DataFrame, dict[str, object]]]:
    """(sheet id, table, totals row) of the workbook, with raw column ids; `by_station` holds
    every row of `training.csv`, stations without a seat included."""
    training = plan.training
    by_station = _named(
        training.sort_values(
            ["station_id", "priority", "course_id"], ascending=[True, False, True]
        ),
        plan.names,
    )
    by_course = _by_course(plan)
    demand = seat_demand(plan)
    unmet = unmet_seats(plan)
    seats = int(training["seats"].sum())
    return [
        ("by_station", by_station, {"station_id": "total", "seats": seats}),
        (
            "by_course",
            by_course,
            {
                "course_id": "total",
                "stations": int(training["station_id"].nunique()),
                "seats": seats,
            },
        ),
        (
            "demand",
            demand,
            {"course_id": "total"}
            | {c: int(demand[c].sum()) for c in ("seats_offered", "requested", "given", "unmet")},
        ),
        (
            "unmet",
            unmet,
            {"station_id": "total"} | {c: int(unmet[c].sum()) for c in ("need", "given", "short")},
        ),
    ]


def write_training_xlsx(plan: TrainingPlan, path: Path | str) -> None:
    """`training.xlsx`: `by_station` (every recommendation, by station then priority),
    `by_course` (which stations take each course), `demand` (seats asked for against seats
    offered per course) and `unmet` (each station and course short of its need, and why),
    each ending in a totals row outside the filter; frozen header row, autofilter on the data,
    fitted column widths; sheet names and headers in `plan.lang`, numbers shown for reading
    (thousands separators, fractions to one decimal)."""
    words = texts(plan.lang, "workbook")
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for sheet, frame, totals in training_sheets(plan):
            shown = frame.copy()
            for column in ("course_full",):
                if column in shown:
                    shown[column] = shown[column].map(lambda v: words["yes" if v else "no"])
            shown.columns = [words.get(c, c) for c in shown.columns]
            title = words[f"sheet_{sheet}"]
            shown.to_excel(writer, sheet_name=title, index=False)
            ws = writer.sheets[title]
            last = len(frame) + 1
            ws.auto_filter.ref = f"A1:{ws.cell(1, frame.shape[1]).column_letter}{last}"
            ws.freeze_panes = "A2"
            for name, value in totals.items():
                ws.cell(last + 1, frame.columns.get_loc(name) + 1, words.get(value, value))
            cells_as_text(ws)
            _number_formats(ws, frame)
            for column in ws.columns:
                width = max(_display_width(c.value) for c in column) + 2
                ws.column_dimensions[column[0].column_letter].width = min(max(8, width), MAX_WIDTH)
                if width > MAX_WIDTH:
                    for cell in column[1:]:
                        cell.alignment = Alignment(wrap_text=True, vertical="top")
    _without_timestamps(Path(path))


def _number_formats(ws: Worksheet, frame: pd.DataFrame) -> None:
    """Whole numbers with thousands separators, fractions (priorities, scores, hours) to one
    decimal; the stored values keep their precision."""
    for i, column in enumerate(frame.columns, start=1):
        values = frame[column]
        if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
            continue
        whole = pd.api.types.is_integer_dtype(values)
        for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
            if isinstance(cell.value, int | float):
                cell.number_format = "#,##0" if whole else "#,##0.0"


def _without_timestamps(path: Path) -> None:
    """The workbook rewritten with fixed times in its document properties and zip entries."""
    with zipfile.ZipFile(path) as archive:
        entries = [(info.filename, archive.read(info)) for info in archive.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            if name == "docProps/core.xml":
                data = re.sub(
                    rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:)",
                    rb"\g<1>" + FIXED_TIME.encode() + rb"\g<3>",
                    data,
                )
            archive.writestr(zipfile.ZipInfo(name, ZIP_TIME), data, zipfile.ZIP_DEFLATED)


def _display_width(value: object) -> int:
    """Characters a cell needs, counting CJK characters double."""
    text = "" if value is None else str(value)
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
