"""St. Louis real data: the prepared folder validates and forecasts on the real grid."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from click.testing import CliRunner

from optimizer.cli import main

SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "stl-slmpd"
pytestmark = pytest.mark.skipif(
    not (SOURCE / "incidents_2015_2019.csv.gz").exists(),
    reason=f"St. Louis data not found at {SOURCE} (../shared/data beside the repo)",
)


@pytest.fixture(scope="module")
def prepare_stl():
    path = Path(__file__).resolve().parents[1] / "scripts" / "prepare_stl.py"
    spec = importlib.util.spec_from_file_location("prepare_stl", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def stl_folder(prepare_stl, tmp_path_factory):
    return prepare_stl.prepare(SOURCE, tmp_path_factory.mktemp("stl") / "data")


def test_prepared_folder_validates(stl_folder):
    result = CliRunner().invoke(main, ["validate", "--data", str(stl_folder)])
    assert result.exit_code == 0, result.output
    offences = pd.read_csv(stl_folder / "offences.csv")
    assert not offences.set_index("offence").loc["Drug Abuse Violations", "patrol_sensitive"]


def test_forecast_on_real_grid(stl_folder, tmp_path):
    result = CliRunner().invoke(
        main, ["forecast", "--data", str(stl_folder), "--month", "2019-06", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    risk = pd.read_csv(tmp_path / "risk.csv")
    assert risk["cell_id"].str.fullmatch(r"-?\d+_-?\d+").all()
    assert set(risk["shift"]) == {"day", "evening", "night"}
    assert risk["risk"].sum() > 0 and risk["lat"].between(38.5, 38.8).all()


def test_every_ucr_class_is_mapped(prepare_stl, stl_folder):
    offences = pd.read_csv(stl_folder / "offences.csv")
    raw = pd.read_csv(SOURCE / "incidents_2015_2019.csv.gz", usecols=["ucr_class_name"])
    assert set(raw["ucr_class_name"]) <= set(prepare_stl.OFFENCE_MAP)
    assert set(raw["ucr_class_name"]) == set(offences["offence"])
    assert offences.set_index("offence").loc["Robbery", "patrol_sensitive"]


def test_hotspots_on_real_cases(stl_folder, tmp_path):
    result = CliRunner().invoke(
        main, ["hotspots", "--data", str(stl_folder), "--month", "2019-06", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    found = gpd.read_file(tmp_path / "hotspots.geojson")
    assert len(found) > 0 and found.geometry.is_valid.all()
    assert set(found["trend"]) <= {"new", "intensifying", "persistent", "diminishing", "sporadic"}
    assert "theft" in set(found["category"])
    assert found.total_bounds[1] > 38.4 and found.total_bounds[3] < 38.9


def test_the_lowest_ranked_station_with_gaps_gets_training_seats(stl_folder, tmp_path):
    """June 2019: District 4 is last of six, four months running, with zero scores; seats go
    by the severity of the gaps they answer, so it is trained, within every course's seats and
    each station's 8 training hours per officer."""
    for command in ("score", "train"):
        args = [command, "--data", str(stl_folder), "--month", "2019-06", "--out", str(tmp_path)]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
    scores = pd.read_csv(tmp_path / "scores.csv")
    training = pd.read_csv(tmp_path / "training.csv")
    demand = pd.read_excel(tmp_path / "training.xlsx", sheet_name="Seat demand")
    short = {s for cell in demand["Stations short"].dropna() for s in cell.split(", ") if s}
    with_gaps = set(training["station_id"]) | short
    lowest = scores[scores["station_id"].isin(with_gaps)].sort_values("rank").iloc[-1]
    assert lowest["station_id"] == "D4" and lowest["last_place_streak"] >= 4
    seats = training.groupby("station_id")["seats"].sum()
    assert seats.get("D4", 0) > 0
    courses = pd.read_csv(stl_folder / "courses.csv").set_index("course_id")
    used = training.groupby("course_id")["seats"].sum()
    assert (used <= courses.loc[used.index, "seats"]).all()
    stations = gpd.read_file(stl_folder / "stations.geojson").set_index("station_id")
    hours = (training["seats"] * training["course_id"].map(courses["hours"])).groupby(
        training["station_id"]
    )
    assert (hours.sum() <= stations.loc[hours.sum().index, "officers"] * 8).all()
