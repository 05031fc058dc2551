"""Broken and hostile data folders: every one is exit 2 with `file:row:column` problems, no
traceback and nothing written — whatever library the bad bytes reach (CSV parser, codec, GDAL,
GEOS, TOML)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from models.errors import InputError, Problem
from models.reading import located, problem_of
from optimizer.cli import main


def _refused(folder, tmp_path, command: str = "run") -> str:
    """Output of `command` on a spoiled folder, after checking it failed cleanly, wrote nothing."""
    out = tmp_path / "out"
    args = [command, "--data", str(folder)]
    if command == "run":
        args += ["--month", "2025-12", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert not out.exists()
    return result.output


def _features(folder) -> dict:
    return json.loads((folder / "stations.geojson").read_text(encoding="utf-8"))


def _write_features(folder, layer: dict) -> None:
    (folder / "stations.geojson").write_text(json.dumps(layer), encoding="utf-8")


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("table", ["cases", "offences"])
def test_random_bytes_in_a_table(seed, table, demo_copy, tmp_path):
    noise = np.random.default_rng(seed).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    (demo_copy / f"{table}.csv").write_bytes(noise)
    text = _refused(demo_copy, tmp_path, "validate")
    assert f"{table}.csv:" in text


def test_random_printable_bytes_are_a_parse_error_at_their_rows(demo_copy, tmp_path):
    rng = np.random.default_rng(5)
    alphabet = np.frombuffer(b'abc,;"x\n 1', dtype=np.uint8)
    (demo_copy / "offences.csv").write_bytes(rng.choice(alphabet, 3000).tobytes())
    text = _refused(demo_copy, tmp_path, "validate")
    assert "offences.csv:" in text


def test_header_only_cases(demo_copy, tmp_path):
    header = (demo_copy / "cases.csv").read_text(encoding="utf-8").splitlines()[0]
    (demo_copy / "cases.csv").write_text(header + "\n", encoding="utf-8")
    text = _refused(demo_copy, tmp_path)
    assert "cases.csv:2:(rows): the file has a header but no rows: cases needs at least one" in text


def test_empty_cases_file(demo_copy, tmp_path):
    (demo_copy / "cases.csv").write_bytes(b"")
    text = _refused(demo_copy, tmp_path)
    assert "cases.csv:1:(header): the file is empty" in text


def test_stations_without_features(demo_copy, tmp_path):
    layer = _features(demo_copy)
    layer["features"] = []
    _write_features(demo_copy, layer)
    text = _refused(demo_copy, tmp_path)
    assert "stations.geojson:1:(features): the layer has no features" in text


def test_nul_byte_in_a_csv(demo_copy, tmp_path):
    raw = (demo_copy / "offences.csv").read_bytes()
    lines = raw.split(b"\n")
    lines[3] = lines[3].replace(b",", b",\x00", 1)  # into the second column of line 4
    (demo_copy / "offences.csv").write_bytes(b"\n".join(lines))
    text = _refused(demo_copy, tmp_path, "validate")
    assert "offences.csv:4:category: NUL byte in the text" in text


def test_utf16_file_is_named(demo_copy, tmp_path):
    text = (demo_copy / "weights.csv").read_text(encoding="utf-8")
    (demo_copy / "weights.csv").write_bytes(text.encode("utf-16"))
    out = _refused(demo_copy, tmp_path, "validate")
    assert "weights.csv:1:(header): NUL byte in the text (a UTF-16 file?" in out


def test_column_repeated_with_spaces(demo_copy, tmp_path):
    lines = (demo_copy / "offences.csv").read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + ", category "] + [line + ",x" for line in lines[1:]]
    (demo_copy / "offences.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    text = _refused(demo_copy, tmp_path)
    position = lines[0].split(",").index("category") + 1
    assert (
        f"offences.csv:1:category: column 'category' appears twice in the header (columns "
        f"{position} and {len(lines[0].split(','))})"
    ) in text


def test_rows_with_the_wrong_number_of_fields(demo_copy, tmp_path):
    lines = (demo_copy / "offences.csv").read_text(encoding="utf-8").splitlines()
    lines[2] += ",extra,fields"
    lines[4] = lines[4].split(",")[0]
    (demo_copy / "offences.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    text = _refused(demo_copy, tmp_path, "validate")
    width = len(lines[0].split(","))
    assert f"offences.csv:3:(row): row has {width + 2} field(s), the header names {width}" in text
    assert f"offences.csv:5:(row): row has 1 field(s), the header names {width}" in text


def test_mixed_encodings_are_refused(demo_copy, tmp_path):
    lines = (demo_copy / "indicators.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    chinese = [i for i, line in enumerate(lines) if not line.isascii()]
    first, later = chinese[0], chinese[-1]
    raw = b"".join(
        line.encode("gb18030" if i == later else "utf-8") for i, line in enumerate(lines)
    )
    (demo_copy / "indicators.csv").write_bytes(raw)
    text = _refused(demo_copy, tmp_path, "validate")
    assert f"indicators.csv:{later + 1}:" in text
    assert f"line {first + 1} is UTF-8 text: the file mixes encodings" in text


def test_spike_in_a_jurisdiction_names_its_vertices(demo_copy, tmp_path):
    layer = _features(demo_copy)
    ring = layer["features"][1]["geometry"]["coordinates"][0]
    x, y = ring[1]
    ring[2:2] = [[x + 0.05, y], [x, y + 1e-4]]  # out and back across its own edge
    _write_features(demo_copy, layer)
    text = _refused(demo_copy, tmp_path)
    assert "stations.geojson:2:geometry: jurisdiction outline is not a valid polygon: " in text
    assert "where the edges between vertices" in text


def test_overlapping_jurisdictions(demo_copy, tmp_path):
    layer = _features(demo_copy)
    layer["features"][4]["geometry"] = layer["features"][2]["geometry"]
    _write_features(demo_copy, layer)
    text = _refused(demo_copy, tmp_path)
    s3, s5 = (layer["features"][k]["properties"]["station_id"] for k in (2, 4))
    assert (
        f"stations.geojson:5:geometry: jurisdiction of {s5} overlaps that of {s3} (row 3)" in text
    )


def test_vertex_typed_as_zero_is_named_before_any_grid(demo_copy, tmp_path):
    layer = _features(demo_copy)
    layer["features"][3]["geometry"]["coordinates"][0][2] = [0, 0]
    _write_features(demo_copy, layer)
    text = _refused(demo_copy, tmp_path)
    assert "stations.geojson:4:geometry: vertex 3 (0, 0) lies" in text


def test_vertex_beyond_wgs84_is_named(demo_copy, tmp_path):
    layer = _features(demo_copy)
    layer["features"][0]["geometry"]["coordinates"][0][1] = [1215000.5, 31.3]
    _write_features(demo_copy, layer)
    text = _refused(demo_copy, tmp_path)
    assert (
        "stations.geojson:1:geometry: vertex 2 (1.2150e+06, 31.3)" in text
        or ("stations.geojson:1:geometry: vertex 2 (1.215e+06, 31.3) is not a longitude/latitude")
        in text
    )


def test_grid_too_fine_is_refused_at_its_key(demo_copy, tmp_path):
    (demo_copy / "config.toml").write_text("# tiny cells\n[grid]\ncell_size_m = 0.5\n")
    text = _refused(demo_copy, tmp_path)
    assert "config.toml:3:grid.cell_size_m: 0.5 m cells over the jurisdictions'" in text
    assert "more than the 20,000,000 a plan can hold; use cells of at least" in text


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            "award_places = 1\nallocation.max_hours_cell = -5\n",
            "config.toml:2:allocation.max_hours_cell",
        ),
        (
            '[scoring]\naward_places = 4\n\n"allocation".max_hours_cell = 5\n',
            "config.toml:4:scoring.allocation: unknown key",
        ),
        ("[grid]\ncell_size_m = 250\n[allocation]\nshift_share.day = -1\n", "config.toml:4:"),
    ],
)
def test_dotted_toml_keys_at_their_own_line(config, expected, demo_copy, tmp_path):
    (demo_copy / "config.toml").write_text(config, encoding="utf-8")
    assert expected in _refused(demo_copy, tmp_path, "validate")


@pytest.mark.parametrize(
    "text",
    ["[grid\ncell_size_m = 1\n", 'a = "unterminated\n', "x = 1\nx = 2\n", "\x00 = 1\n"],
)
def test_broken_toml_is_located(text, demo_copy, tmp_path):
    (demo_copy / "config.toml").write_text(text, encoding="utf-8")
    out = _refused(demo_copy, tmp_path, "validate")
    assert "config.toml:" in out and ":0:" not in out


def test_unreadable_geometry_files(demo_copy, tmp_path):
    (demo_copy / "stations.geojson").write_text('{"type": "FeatureCollection", "features": [')
    assert "stations.geojson:" in _refused(demo_copy, tmp_path, "validate")
    (demo_copy / "stations.geojson").unlink()
    (demo_copy / "stations.gpkg").write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    assert "stations.gpkg:" in _refused(demo_copy, tmp_path, "validate")


def test_parquet_garbage_and_folders_in_place_of_files(demo_copy, tmp_path):
    (demo_copy / "offences.csv").unlink()
    (demo_copy / "offences.parquet").write_bytes(b"PAR1 but not really")
    (demo_copy / "weights.csv").unlink()
    (demo_copy / "weights.csv").mkdir()
    text = _refused(demo_copy, tmp_path, "validate")
    assert "offences.parquet:0:(file): cannot read" in text
    assert "weights.csv:0:(file): cannot read: is a folder, not a file" in text


def test_every_library_error_becomes_a_located_problem():
    """A reader that meets an error no locator knows still reports it against its file."""

    class Strange(Exception):
        pass

    with pytest.raises(InputError) as caught, located("calls.csv"):
        raise Strange("unexpected record at line 12")
    assert caught.value.problems == [
        Problem("calls.csv", 12, "(file)", "cannot read: unexpected record at line 12")
    ]
    assert problem_of(OSError(13, "Permission denied"), "a.csv") == Problem(
        "a.csv", 0, "(file)", "cannot read: Permission denied"
    )


def test_scenario_grid_too_fine_is_refused_at_its_key(demo_data, tmp_path):
    scenario = tmp_path / "fine.toml"
    scenario.write_text('name = "fine"\n\n[grid]\ncell_size_m = 0.2\n', encoding="utf-8")
    out = tmp_path / "out"
    args = ["run", "--data", str(demo_data), "--month", "2025-12", "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--scenario", str(scenario)])
    assert result.exit_code == 2, result.output
    assert "fine.toml:4:grid.cell_size_m: 0.2 m cells over the jurisdictions'" in result.output
    assert not out.exists()
