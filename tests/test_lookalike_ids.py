"""Look-alike ids (issue 22, defect 7): station, unit, indicator and course ids are compared
after Unicode NFKC normalisation. Two spellings of one id are refused at the first row of the
later one, naming the earlier; a reference spelled otherwise than the row it means is refused
too (it is not matched silently)."""

from __future__ import annotations

import json
import unicodedata
from datetime import datetime

import execution_bureau as eb
import pytest
from click.testing import CliRunner

from models.contracts import load_bureau
from models.errors import InputError
from optimizer.cli import main

TABLES = {"stations", "patrol_tracks", "calls"}
NOW = datetime(2026, 1, 5)
FULLWIDTH_S01 = "\uff3301"  # "Ｓ01"
NFC = unicodedata.normalize("NFC", "Sé11")
NFD = unicodedata.normalize("NFD", "Sé11")


def _problems(folder) -> list[str]:
    with pytest.raises(InputError) as caught:
        load_bureau(folder, TABLES, now=NOW)
    return [str(p) for p in caught.value.problems]


def _rename_station(folder, index: int, station_id: str) -> None:
    layer = json.loads((folder / "stations.geojson").read_text(encoding="utf-8"))
    layer["features"][index]["properties"]["station_id"] = station_id
    (folder / "stations.geojson").write_text(json.dumps(layer), encoding="utf-8")


def test_fullwidth_station_id_beside_its_ascii_twin_fails_validate(demo_copy):
    _rename_station(demo_copy, 1, FULLWIDTH_S01)  # feature 2 becomes "Ｓ01" beside "S01"
    result = CliRunner().invoke(main, ["validate", "--data", str(demo_copy)])
    assert result.exit_code == 2, result.output
    assert (
        "stations.geojson:2:station_id: 'Ｓ01' is 'S01' of row 1 spelled with other characters: "
        "ids are compared after Unicode NFKC normalisation; write one id one way"
    ) in result.output.splitlines()


def test_composed_and_decomposed_station_ids_collide(tmp_path):
    folder = eb.write_folder(tmp_path / "data")
    stations = eb.stations()
    stations["station_id"] = [NFC, NFD]
    (folder / "stations.geojson").write_text(stations.to_json(drop_id=True), encoding="utf-8")
    tracks, calls = eb.pings(), eb.calls()
    tracks["station_id"] = NFC
    calls["station_id"] = ""
    tracks.to_csv(folder / "patrol_tracks.csv", index=False)
    calls.to_csv(folder / "calls.csv", index=False)
    assert _problems(folder) == [
        f"stations.geojson:2:station_id: {NFD!r} is {NFC!r} of row 1 spelled with other "
        "characters: ids are compared after Unicode NFKC normalisation; write one id one way"
    ]


def test_unit_spelled_two_ways_is_named_at_its_first_ping(tmp_path):
    folder = eb.write_folder(tmp_path / "data")
    tracks = eb.pings()
    first_u1 = int((tracks["unit_id"] == "U1").to_numpy().argmax())
    later = tracks.index[tracks["unit_id"] == "U1"][1:]
    tracks.loc[later, "unit_id"] = "\uff351"  # "Ｕ1"
    tracks.to_csv(folder / "patrol_tracks.csv", index=False)
    assert _problems(folder) == [
        f"patrol_tracks.csv:{later[0] + 2}:unit_id: 'Ｕ1' is 'U1' of row {first_u1 + 2} spelled "
        "with other characters: ids are compared after Unicode NFKC normalisation; write one "
        "id one way"
    ]


def test_reference_spelled_otherwise_is_refused_naming_the_station(tmp_path):
    folder = eb.write_folder(tmp_path / "data")
    calls = eb.calls()
    calls.loc[1, "station_id"] = "\uff331"  # "Ｓ1" for S1
    calls.to_csv(folder / "calls.csv", index=False)
    assert _problems(folder) == [
        "calls.csv:3:station_id: unknown station 'Ｓ1': spelled with other characters than 'S1'"
    ]


def test_one_spelling_of_each_id_loads(tmp_path):
    folder = eb.write_folder(tmp_path / "data")
    stations = eb.stations()
    stations["station_id"] = [FULLWIDTH_S01, "S2"]
    (folder / "stations.geojson").write_text(stations.to_json(drop_id=True), encoding="utf-8")
    tracks, calls = eb.pings(), eb.calls()
    tracks["station_id"] = tracks["station_id"].replace("S1", FULLWIDTH_S01)
    calls["station_id"] = calls["station_id"].replace("S1", FULLWIDTH_S01)
    tracks.to_csv(folder / "patrol_tracks.csv", index=False)
    calls.to_csv(folder / "calls.csv", index=False)
    bureau = load_bureau(folder, TABLES, now=NOW)
    assert list(bureau.stations["station_id"]) == [FULLWIDTH_S01, "S2"]


def test_indicator_id_in_two_spellings_fails_validate(demo_copy):
    rows = (demo_copy / "indicators.csv").read_text(encoding="utf-8").splitlines()
    rows[2] = "\uff30" + rows[1].split(",", 1)[0][1:] + "," + rows[2].split(",", 1)[1]
    (demo_copy / "indicators.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", "--data", str(demo_copy)])
    assert result.exit_code == 2, result.output
    assert "indicators.csv:3:indicator_id: 'Ｐ01' is 'P01' of row 2 spelled" in result.output
