"""The output manifest is the one list of a plan folder's files and columns: the demo's plan
matches it file by file, plan.json records every other file's sha256 once, and the store holds
its tables in the manifest's columns."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, inspect

from optimizer.chain import sha256_file
from optimizer.manifest import OUTPUTS, STORED


def _columns(path) -> list[str]:
    if path.suffix == ".geojson":
        return [c for c in gpd.read_file(path).columns if c != "geometry"]
    return list(pd.read_csv(path, nrows=0).columns)


def test_every_file_of_the_plan_is_in_the_manifest_with_its_columns(demo_run):
    written = {p.name for p in demo_run.iterdir()}
    assert written <= set(OUTPUTS), written - set(OUTPUTS)
    # a first month has no evaluation; the schedule and the missions are written in one
    # format, CSV by default; the experiment only with [evaluation] experiment_share
    parquet = {"schedule.parquet", "missions.parquet", "missions_routes.parquet"}
    assert written >= set(OUTPUTS) - {"evaluation.csv", "backtest.csv", "experiment.csv", *parquet}
    for name in written:
        output = OUTPUTS[name]
        if not output.columns:
            continue
        columns = _columns(demo_run / name)
        declared = list(output.columns)
        if output.more_columns:
            assert columns[: len(declared)] == declared, name
        else:
            assert columns == declared, name


def test_plan_json_holds_every_other_file_hash_once(demo_run):
    plan = json.loads((demo_run / "plan.json").read_text(encoding="utf-8"))
    assert "plan.json" not in plan["outputs"]
    others = {p.name for p in demo_run.iterdir()} - {"plan.json"}
    assert set(plan["outputs"]) == others
    for name, digest in plan["outputs"].items():
        assert sha256_file(demo_run / name) == digest, name
    entry = json.loads((demo_run.parents[1] / "audit.jsonl").read_text().splitlines()[-1])
    assert entry["files"]["outputs/plan.json"] == sha256_file(demo_run / "plan.json")


def test_store_tables_follow_the_manifest(demo_run):
    engine = create_engine(f"sqlite:///{demo_run.parents[1] / 'plans.db'}")
    try:
        tables = inspect(engine)
        for table, output in STORED.items():
            columns = [c["name"] for c in tables.get_columns(table)]
            extra = ["geometry_wkt"] if table == "hotspots" else []
            assert columns == [*output.columns, *extra, "plan_month", "scenario"], table
    finally:
        engine.dispose()


def test_csv_cells_a_spreadsheet_would_evaluate_are_written_as_text(tmp_path):
    from optimizer.manifest import write_output

    frame = pd.DataFrame(
        {
            "station_id": ['=HYPERLINK("http://x")', "+cmd", "-2+3", "@SUM(A1)", "S01", "-5"],
            "month": pd.Categorical(["=1+1", "2026-01", "2026-01", "2026-01", "2026-01", "\tx"]),
            "indicator_id": ["", "I1", "I2", "I3", "I4", "I5"],
            "case_id": ["", "", "", "", "", ""],
            "check": ["ok"] * 6,
            "severity": ["warning"] * 6,
            "message": ["m"] * 6,
        }
    )
    path = write_output(tmp_path, "quality.csv", frame)
    back = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert back["station_id"].tolist() == [
        '\'=HYPERLINK("http://x")',
        "'+cmd",
        "'-2+3",
        "'@SUM(A1)",
        "S01",
        "-5",
    ]
    assert back["month"].tolist()[0] == "'=1+1" and back["month"].tolist()[5] == "'\tx"


TEXT = st.text(alphabet=list("ab=+-@\t\r\n,\"' é中1."), max_size=6)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(TEXT, TEXT, st.integers(-(2**40), 2**40)), min_size=0, max_size=8),
    st.booleans(),
    st.booleans(),
)
def test_csv_files_are_written_byte_for_byte_as_pandas_writes_them(tmp_path_factory, rows, cat, na):
    """Frames of whole numbers and text take Arrow's CSV writer where no text needs quotes,
    pandas otherwise: either way the bytes are pandas' own."""
    from optimizer.cells import neutralised
    from optimizer.manifest import write_output

    frame = pd.DataFrame(rows, columns=["station_id", "cell_id", "visit"]).astype(
        {"station_id": "str", "cell_id": "str", "visit": "int64"}
    )
    if na and len(frame):
        frame.loc[0, "station_id"] = None
    if cat:
        frame["cell_id"] = pd.Categorical(frame["cell_id"])
    folder = tmp_path_factory.mktemp("csv")
    path = write_output(folder, "schedule.csv", frame)
    assert path.read_bytes() == neutralised(frame).to_csv(index=False).encode("utf-8")


def test_arrow_writes_whole_numbers_and_plain_text_and_pandas_the_rest():
    from optimizer.manifest import _arrow_writes_as_pandas

    plain = pd.DataFrame({"station_id": ["S01", "中"], "visit": [1, 2]})
    assert _arrow_writes_as_pandas(plain)
    assert not _arrow_writes_as_pandas(plain.assign(station_id=["S01", "a,b"]))  # quoted
    assert not _arrow_writes_as_pandas(plain.assign(station_id=["S01", 'say "x"']))
    assert not _arrow_writes_as_pandas(plain.assign(station_id=["S01", "two\nlines"]))
    assert not _arrow_writes_as_pandas(plain.assign(visit=[1.5, 2.0]))  # floats print apart
    assert not _arrow_writes_as_pandas(plain[["visit"]])  # one column: pandas quotes empties
