"""Validation on real malformed folders: every problem at once, file:row:column, exit 2."""

from __future__ import annotations

import pandas as pd
from click.testing import CliRunner

from optimizer.cli import main


def test_valid_demo_passes(demo_data):
    result = CliRunner().invoke(main, ["validate", "--data", str(demo_data)])
    assert result.exit_code == 0, result.output


def test_gb18030_and_bom_folders_pass(demo_copy):
    folder = demo_copy
    text = (folder / "indicators.csv").read_text(encoding="utf-8")
    (folder / "indicators.csv").write_bytes(text.encode("gb18030"))
    offences = (folder / "offences.csv").read_text(encoding="utf-8")
    (folder / "offences.csv").write_bytes(b"\xef\xbb\xbf" + offences.encode("utf-8"))
    result = CliRunner().invoke(main, ["validate", "--data", str(folder)])
    assert result.exit_code == 0, result.output


def test_planted_errors_are_all_listed(demo_copy):
    folder = demo_copy
    cases = (folder / "cases.csv").read_text(encoding="utf-8").splitlines()
    header = cases[0].split(",")
    row = cases[5].split(",")
    row[header.index("lat")] = "north"
    cases[5] = ",".join(row)
    row = cases[9].split(",")
    row[header.index("offence")] = "jaywalking"
    cases[9] = ",".join(row)
    (folder / "cases.csv").write_text("\n".join(cases) + "\n", encoding="utf-8")
    weights = pd.read_csv(folder / "weights.csv")
    weights["weight"] = weights["weight"].astype(str)
    weights.loc[2, "weight"] = "heavy"
    weights.to_csv(folder / "weights.csv", index=False)
    (folder / "config.toml").write_text("[grid]\ncell_size_m = 250\ncolour = 1\n")
    result = CliRunner().invoke(main, ["validate", "--data", str(folder)])
    assert result.exit_code == 2
    out = result.output
    assert "cases.csv:6:lat: not a number: 'north'" in out
    assert "cases.csv:10:offence: unknown offence 'jaywalking'" in out
    assert "weights.csv:4:weight: not a number: 'heavy'" in out
    assert "config.toml:3:grid.colour: unknown key" in out
    assert "Traceback" not in out


def test_misspelled_basemap_is_a_config_error(demo_copy):
    folder = demo_copy
    (folder / "config.toml").write_text('[map]\ntiles = "openstretmap"\n')
    result = CliRunner().invoke(main, ["validate", "--data", str(folder)])
    assert result.exit_code == 2, result.output
    assert "config.toml" in result.output and "map" in result.output
    assert "unknown tile provider 'openstretmap'" in result.output
    (folder / "config.toml").write_text(
        '[map]\ntiles = "https://tiles.example.org/{z}/{x}/{y}.png"\n'
    )
    assert CliRunner().invoke(main, ["validate", "--data", str(folder)]).exit_code == 0


def test_temporary_share_policy_names_type_and_share(demo_copy):
    folder = demo_copy
    weights = pd.read_csv(folder / "weights.csv")
    mask = (weights["indicator_id"] == "P04") & (weights["station_type"] == "regional")
    weights.loc[mask, "weight"] = 40
    weights.to_csv(folder / "weights.csv", index=False)
    result = CliRunner().invoke(main, ["validate", "--data", str(folder)])
    assert result.exit_code == 2
    line = int(weights.index[mask][0]) + 2
    assert f"weights.csv:{line}:weight: station type 'regional'" in result.output
    assert "temporary indicators carry 29.6%" in result.output


def test_run_on_bad_input_writes_no_plan(demo_copy, tmp_path):
    folder = demo_copy
    (folder / "offences.csv").write_text("offence,category\nx,y\n", encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["run", "--data", str(folder), "--month", "2025-12", "--out", str(out)]
    )
    assert result.exit_code == 2
    assert "offences.csv:1:harm_weight: required column is missing" in result.output
    assert not out.exists() or not any(out.rglob("plan.json"))
