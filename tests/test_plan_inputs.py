"""Inputs that used to give a silently wrong plan: times with a UTC offset, shifts that do not
cover the day, station types weighted zero, no patrol-sensitive offence, a station without grid
cells, a month without risk. Each is converted, refused (exit 2, located) or a named warning."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest
from click.testing import CliRunner

from models.columns import local_times
from models.config import timezone_of
from models.contracts import load_bureau
from optimizer.cli import main


def _refused(folder, tmp_path, command: str = "run") -> str:
    out = tmp_path / "out"
    args = [command, "--data", str(folder)]
    if command != "validate":
        args += ["--month", "2025-12", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert not out.exists()
    return result.output


def _edit_cases(folder, change) -> pd.DataFrame:
    cases = pd.read_csv(folder / "cases.csv", dtype=str, keep_default_na=False)
    change(cases)
    cases.to_csv(folder / "cases.csv", index=False)
    return cases


def test_times_with_an_offset_become_the_bureaus_local_time(demo_copy):
    (demo_copy / "config.toml").write_text('timezone = "Asia/Shanghai"\n', encoding="utf-8")

    def offsets(cases):
        cases.loc[0, "occurred_at"] = "2024-01-31T20:30:00Z"  # 04:30 on 1 February in Shanghai
        cases.loc[1, "occurred_at"] = "2024-01-01T09:00:00+08:00"
        cases.loc[2, "occurred_at"] = "2024-01-01T09:00:00-0500"
        cases.loc[3, "occurred_at"] = "2024-01-01T09:00"  # no offset: local already

    raw = _edit_cases(demo_copy, offsets)
    bureau = load_bureau(demo_copy, {"cases", "offences"}, now=datetime(2026, 6, 1))
    by_id = bureau.cases.set_index("case_id")
    expected = ["2024-02-01 04:30", "2024-01-01 09:00", "2024-01-01 22:00", "2024-01-01 09:00"]
    got = [
        by_id.loc[raw.loc[i, "case_id"], "occurred_at"].strftime("%Y-%m-%d %H:%M") for i in range(4)
    ]
    assert got == expected
    assert by_id.loc[raw.loc[0, "case_id"], "month"] == "2024-02"
    warning = bureau.warnings.set_index("check").loc["time_offset_converted"]
    assert warning["message"] == (
        "cases.csv occurred_at: 3 time(s) with a UTC offset converted to Asia/Shanghai"
    )
    assert warning["severity"] == "warning"


def test_parquet_cases_with_an_offset_give_the_same_warning(demo_copy):
    (demo_copy / "config.toml").write_text('timezone = "Asia/Shanghai"\n', encoding="utf-8")
    cases = pd.read_csv(demo_copy / "cases.csv", dtype=str, keep_default_na=False).head(3)
    cases = cases[["case_id", "occurred_at", "offence", "lat", "lon"]]
    cases["lat"], cases["lon"] = cases["lat"].astype(float), cases["lon"].astype(float)
    cases["occurred_at"] = pd.to_datetime(["2024-01-31T20:30:00Z"] * 3, utc=True)
    cases.to_parquet(demo_copy / "cases.parquet")
    (demo_copy / "cases.csv").unlink()
    bureau = load_bureau(demo_copy, {"cases", "offences"}, now=datetime(2026, 6, 1))
    assert (
        list(bureau.cases["occurred_at"].dt.strftime("%Y-%m-%d %H:%M")) == ["2024-02-01 04:30"] * 3
    )
    warning = bureau.warnings.set_index("check").loc["time_offset_converted"]
    assert warning["message"] == (
        "cases.parquet occurred_at: 3 time(s) with a UTC offset converted to Asia/Shanghai"
    )


def test_system_time_zone_is_the_default(monkeypatch):
    monkeypatch.setenv("TZ", "America/Chicago")
    times, offsets = local_times(
        pd.Series(["2019-07-01T12:00:00Z", "2019-07-01T12:00"]), timezone_of("")
    )
    assert list(times.dt.strftime("%H:%M")) == ["07:00", "12:00"] and offsets == 1


def test_naive_times_are_unchanged_and_warn_nothing(demo_data):
    bureau = load_bureau(demo_data, {"cases", "offences"}, now=datetime(2026, 6, 1))
    raw = pd.read_csv(demo_data / "cases.csv", dtype=str, keep_default_na=False)
    assert list(bureau.cases["occurred_at"].dt.strftime("%Y-%m-%dT%H:%M")[:50]) == list(
        raw["occurred_at"][:50]
    )
    assert bureau.warnings.empty


def test_unknown_time_zone_is_a_config_error(demo_copy, tmp_path):
    (demo_copy / "config.toml").write_text('# zone\ntimezone = "Asia/Shanghia"\n')
    text = _refused(demo_copy, tmp_path, "validate")
    assert "config.toml:2:timezone: unknown time zone 'Asia/Shanghia'" in text


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        (
            "{ day = [8, 16], evening = [16, 22], night = [0, 8] }",
            "the shifts leave hours 22–24 uncovered",
        ),
        (
            "{ day = [8, 16], evening = [16, 24], night = [22, 8] }",
            "shifts evening and night overlap in hours 22–24",
        ),
        (
            "{ day = [9, 17], evening = [18, 23], night = [23, 8] }",
            "the shifts leave hours 8–9, 17–18 uncovered",
        ),
    ],
)
def test_shifts_must_cover_the_day_once(hours, expected, demo_copy, tmp_path):
    (demo_copy / "config.toml").write_text(f"[allocation]\nshift_hours = {hours}\n")
    text = _refused(demo_copy, tmp_path, "validate")
    assert f"config.toml:2:allocation.shift_hours: {expected}" in text


def test_night_shift_wrapping_midnight_passes(demo_copy):
    (demo_copy / "config.toml").write_text(
        "[allocation]\nshift_hours = { day = [7, 15], evening = [15, 23], night = [23, 7] }\n"
    )
    result = CliRunner().invoke(main, ["validate", "--data", str(demo_copy)])
    assert result.exit_code == 0, result.output


def test_station_type_weighted_zero_is_refused(demo_copy, tmp_path):
    weights = pd.read_csv(demo_copy / "weights.csv")
    kind = weights["station_type"].iloc[0]
    weights.loc[weights["station_type"] == kind, "weight"] = 0
    weights.to_csv(demo_copy / "weights.csv", index=False)
    first = int(weights.index[weights["station_type"] == kind][0]) + 2
    text = _refused(demo_copy, tmp_path, "validate")
    assert f"weights.csv:{first}:weight: every weight of station type {kind!r} is 0" in text


def test_no_patrol_sensitive_offence_is_refused(demo_copy, tmp_path):
    offences = pd.read_csv(demo_copy / "offences.csv", dtype=str, keep_default_na=False)
    offences["patrol_sensitive"] = "false"
    offences.to_csv(demo_copy / "offences.csv", index=False)
    text = _refused(demo_copy, tmp_path)
    assert "offences.csv:2:patrol_sensitive: no offence is patrol-sensitive" in text


def test_station_without_grid_cells_is_refused(demo_copy, tmp_path):
    import json

    layer = json.loads((demo_copy / "stations.geojson").read_text(encoding="utf-8"))
    ring = layer["features"][6]["geometry"]["coordinates"][0]
    x, y = (sum(c) / len(ring) for c in zip(*ring, strict=True))  # inside its own area
    layer["features"][6]["geometry"]["coordinates"] = [
        [[x, y], [x + 0.0005, y], [x, y + 0.0005], [x, y]]  # ~50 m across: no 250 m cell centre
    ]
    (demo_copy / "stations.geojson").write_text(json.dumps(layer), encoding="utf-8")
    (demo_copy / "config.toml").write_text("max_outside_share = 1\n")
    sid = layer["features"][6]["properties"]["station_id"]
    text = _refused(demo_copy, tmp_path)
    assert f"stations.geojson:7:geometry: jurisdiction of {sid} (" in text
    assert "holds no centre of a 250 m grid cell" in text


def test_month_without_risk_is_refused(demo_copy, tmp_path):
    offences = pd.read_csv(demo_copy / "offences.csv", dtype=str, keep_default_na=False)
    offences["patrol_sensitive"] = "false"
    unused = offences.iloc[[0]].assign(offence="unrecorded", patrol_sensitive="true")
    pd.concat([offences, unused]).to_csv(demo_copy / "offences.csv", index=False)
    text = _refused(demo_copy, tmp_path)
    assert "cases.csv:0:occurred_at: no patrol-sensitive case up to 2025-12 gives any cell" in text
