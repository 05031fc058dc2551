"""The output manifest: every file a plan folder holds, its columns (taken from the module that
makes them), whether the store keeps its rows, the desk serves it and the report reads it
(SPEC §6–§8, §14), and the output folder's own files and folders. One list read by the writer,
the store, the desk, the report loader and the tests, so a file's name and columns are declared
once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from models.erlang import RESERVE_COLUMNS
from models.evaluation import DOSE_COLUMNS, EVALUATION_COLUMNS
from models.execution import ADHERENCE_COLUMNS, EXECUTION_COLUMNS, RESPONSE_COLUMNS
from models.experiment import EXPERIMENT_COLUMNS, RANDOMIZED_COLUMNS
from models.forecast import BACKTEST_COLUMNS
from models.hotspots import HOTSPOT_COLUMNS
from models.quality import QUALITY_COLUMNS
from models.scoring import ASSESSMENT_COLUMNS, SCORE_COLUMNS
from optimizer.allocation.binding import BINDING_COLUMNS
from optimizer.allocation.frames import ALLOCATION_COLUMNS, DUAL_COLUMNS
from optimizer.allocation.staffing import STAFFING_COLUMNS
from optimizer.cells import neutralised
from optimizer.missions.columns import (
    DONE_COLUMNS,
    MISSION_COLUMNS,
    ROUTE_COLUMNS,
    SCHEDULE_COLUMNS,
    SUMMARY_COLUMNS,
)
from optimizer.train import TRAINING_COLUMNS

# The output folder's own files and folders, beside the plan months (SPEC §8, §14)
PLANS_DB = "plans.db"  # the default SQLite store: sqlite:///OUT/plans.db
AUDIT_FILE = "audit.jsonl"  # the plan log, one chained entry per published run
ACCESS_FILE = "access.jsonl"  # the desk's request log, chained like the plan log
INPUT_SNAPSHOTS = ".inputs"  # each recorded input's content, named by its sha256
FORECAST_CACHE = ".forecast-cache"  # the backtest's forecasts of earlier runs
USERS_FILE = "users.toml"  # the desk's accounts


def default_store_url(out: Path) -> str:
    """The store of an output folder when no `--db` is given: `sqlite:///OUT/plans.db`."""
    return f"sqlite:///{Path(out).resolve() / PLANS_DB}"


@dataclass(frozen=True)
class Output:
    """One file of a plan folder: `columns` of a table (properties of a GeoJSON layer, none for
    documents), `table`, the store table holding its rows ("" when not stored), `served`, the
    name the desk serves it under (`GET /api/runs/{month}/{scenario}/{served}`; "" when not
    served), `report`, whether the report needs it ("required") or shows it where present
    ("optional"), and `more_columns` where columns named after the bureau's shifts follow the
    declared ones."""

    name: str
    columns: tuple[str, ...] = ()
    table: str = ""
    more_columns: bool = False  # further columns follow the declared ones (one per shift)
    served: str = ""
    report: str = ""  # "required" | "optional" | ""


REQUIRED, OPTIONAL = "required", "optional"  # what the report makes of a file
OUTPUTS: dict[str, Output] = {
    o.name: o
    for o in (
        Output("scores.csv", tuple(SCORE_COLUMNS), "scores", served="scores", report=REQUIRED),
        Output(
            "indicator_scores.csv",
            ("station_id", "month", "indicator_id", "value", "score", "weight"),
        ),
        Output("quality.csv", tuple(QUALITY_COLUMNS), "quality", report=REQUIRED),
        Output("hotspots.geojson", tuple(HOTSPOT_COLUMNS), "hotspots", served="hotspots"),
        Output(
            "risk.csv",
            ("cell_id", "shift", "risk", "station_id", "x", "y", "lat", "lon"),
            "risk",
            served="risk",
        ),
        Output(
            "allocation.csv",
            tuple(ALLOCATION_COLUMNS),
            "allocation",
            served="allocation",
            report=REQUIRED,
        ),
        Output(
            "allocation.geojson",
            ("cell_id", "shift", "hours", "prev_hours", "risk", "station_id"),
            report=REQUIRED,
        ),
        Output("duals.csv", tuple(DUAL_COLUMNS), "duals", served="duals", report=REQUIRED),
        Output("binding.csv", tuple(BINDING_COLUMNS), report=OPTIONAL),
        Output("schedule.csv", tuple(SCHEDULE_COLUMNS), served="schedule"),
        Output("schedule.parquet", tuple(SCHEDULE_COLUMNS)),  # [output] schedule_format
        Output("missions.csv", tuple(MISSION_COLUMNS), "missions", served="missions"),
        Output("missions.parquet", tuple(MISSION_COLUMNS)),  # [output] schedule_format
        Output("missions.geojson", tuple(ROUTE_COLUMNS), served="routes"),
        Output("missions_routes.parquet", tuple(ROUTE_COLUMNS)),  # GeoParquet, schedule_format
        Output(
            "missions_summary.csv",
            tuple(SUMMARY_COLUMNS),
            "missions_summary",
            served="missions_summary",
            report=OPTIONAL,
        ),
        Output("missions_done.csv", tuple(DONE_COLUMNS), "missions_done", report=OPTIONAL),
        Output(
            "patrol_balance.csv",
            [
                "station_id",
                "area_km2",
                "cases",
                "harm_share",
                "hours",
                "hours_share",
                "hours_per_km2",
                "hours_per_case",
            ],
            report=OPTIONAL,
        ),
        Output(
            "evaluation.csv",
            (*EVALUATION_COLUMNS, *DOSE_COLUMNS, *RANDOMIZED_COLUMNS),
            "evaluation",
            served="evaluation",
            report=OPTIONAL,
        ),
        Output("experiment.csv", tuple(EXPERIMENT_COLUMNS), "experiment", report=OPTIONAL),
        Output("execution.csv", tuple(EXECUTION_COLUMNS), "execution"),
        Output(
            "adherence.csv",
            tuple(ADHERENCE_COLUMNS),
            "adherence",
            served="adherence",
            report=OPTIONAL,
        ),
        Output(
            "response.csv",
            tuple(RESPONSE_COLUMNS),
            "response",
            served="response",
            report=OPTIONAL,
        ),
        Output("reserve.csv", tuple(RESERVE_COLUMNS), "reserve", report=OPTIONAL),
        Output("staffing.csv", tuple(STAFFING_COLUMNS), served="staffing", report=OPTIONAL),
        Output(
            "training.csv",
            tuple(TRAINING_COLUMNS),
            "training",
            served="training",
            report=REQUIRED,
        ),
        Output("training.xlsx"),
        Output(
            "rank_sensitivity.csv",
            ("station_id", "rank", "rank_p05", "rank_p95"),
            report=REQUIRED,
        ),
        Output("rollups.csv", ("station_id", "period", "total", "grade", "rank", "last_two_years")),
        Output(
            "policy.csv",
            [
                "station_type",
                "temporary",
                "subjective",
                "public",
                "prevention",
                "major_case",
                "service",
                "compliance",
                "total_weight",
            ],
            report=OPTIONAL,
        ),
        Output("indicator_pairs.csv", ("indicator_a", "indicator_b", "rho", "n")),
        Output("awards.csv", ("station_id", "grade", "places")),
        Output(
            "jurisdictions.geojson",
            ("station_id", "name", *ASSESSMENT_COLUMNS[1:]),  # then hours per shift
            more_columns=True,
            report=OPTIONAL,
        ),
        Output("backtest.csv", tuple(BACKTEST_COLUMNS)),  # `patrolopt backtest` only
        Output("plan.gpkg"),
        Output("map.html"),
        Output("report.html"),
        Output("plan.json", report=REQUIRED),
    )
}
PLAN_FILE = OUTPUTS["plan.json"].name  # a run's manifest
EXPERIMENT_FILE = OUTPUTS["experiment.csv"].name  # a plan's randomized dose experiment
SERVED = {o.served: o for o in OUTPUTS.values() if o.served}  # the desk's table → file
STORED = {o.table: o for o in OUTPUTS.values() if o.table}
QUOTED = r'[,"\n\r]'  # text pandas quotes in a CSV cell, or Arrow refuses to write unquoted
ARROW_ROWS = 1 << 20  # rows handed to Arrow's CSV writer at a time


def write_output(folder: Path, name: str, frame: pd.DataFrame) -> Path:
    """Write one table of the manifest into `folder` in its file's format: CSV without the
    index and with formula-like text kept as text (optimizer/cells.py), Parquet likewise
    without the index, GeoJSON layers in WGS84 as they are given."""
    if name not in OUTPUTS:
        raise KeyError(f"{name} is not an output of a plan folder")
    path = Path(folder) / name
    if name.endswith(".geojson"):
        gpd.GeoDataFrame(frame).to_file(path, driver="GeoJSON")
    elif name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        _write_csv(path, neutralised(frame))  # no cell a spreadsheet would evaluate
    return path


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    """`frame` as CSV without the index, as pandas writes it. A frame of whole numbers and
    text that needs no quotes (the visit schedule: tens of millions of rows at province size)
    goes through Arrow's CSV writer, in slices of `ARROW_ROWS` rows, which writes it
    byte for byte as pandas does, several times faster; any other frame through pandas."""
    if not _arrow_writes_as_pandas(frame):
        frame.to_csv(path, index=False)
        return
    options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
    with open(path, "wb") as handle:
        handle.write(frame.iloc[:0].to_csv(index=False).encode("utf-8"))  # the header line
        schema = pa.Schema.from_pandas(frame.iloc[:0], preserve_index=False)
        with pa_csv.CSVWriter(handle, schema, write_options=options) as writer:
            for start in range(0, len(frame), ARROW_ROWS):
                part = frame.iloc[start : start + ARROW_ROWS]
                writer.write_table(pa.Table.from_pandas(part, schema, preserve_index=False))


def _arrow_writes_as_pandas(frame: pd.DataFrame) -> bool:
    """Whether Arrow's unquoted CSV writer gives pandas' bytes for `frame`: two or more
    columns under one row of distinct names (pandas quotes an empty cell standing alone), each
    of integers (NumPy) or text (strings or categoricals of strings) with no text that pandas
    would quote or Arrow refuses; floats and booleans are printed differently by the two."""
    columns = frame.columns
    if len(columns) < 2 or isinstance(columns, pd.MultiIndex) or not columns.is_unique:
        return False
    for column in columns:
        dtype = frame[column].dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "iu":
            continue
        if isinstance(dtype, pd.CategoricalDtype):
            text = pd.Series(dtype.categories, dtype=object)
            if pd.api.types.infer_dtype(text, skipna=True) not in ("string", "empty"):
                return False
        elif isinstance(dtype, pd.StringDtype):
            text = frame[column]
        else:
            return False
        if text.str.contains(QUOTED).any():
            return False
    return True


def write_outputs(folder: Path, frames: dict[str, pd.DataFrame]) -> list[Path]:
    """Every table of `frames` (file name → frame) written into `folder`, in the given order."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    return [write_output(folder, name, frame) for name, frame in frames.items()]
