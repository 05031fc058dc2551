"""`patrolopt users add` refuses a station the bureau does not have (known from --data, else from
the latest recorded run under OUT) and a short or common password: exit 2, nothing written."""

from __future__ import annotations

from click.testing import CliRunner

from optimizer.cli import main
from optimizer.serve.users import common_passwords, read_users


def add(*args: str, password: str = "patrol-desk-2026"):
    return CliRunner().invoke(main, ["users", "add", *args], input=f"{password}\n")


def test_a_station_not_in_the_latest_recorded_run_is_refused(demo_run, tmp_path):
    out, users = demo_run.parents[1], tmp_path / "users.toml"
    refused = add("chen", "--role", "station", "--station", "S99", "--out", str(out),
                  "--users", str(users))  # fmt: skip
    assert refused.exit_code == 2
    assert "--station S99: not a station of the bureau" in refused.output
    assert f"the latest recorded run's {demo_run / 'scores.csv'}" in refused.output
    assert "S01, S02," in refused.output and not users.exists()
    done = add("chen", "--role", "station", "--station", "S02", "--out", str(out),
               "--users", str(users))  # fmt: skip
    assert done.exit_code == 0, done.output
    assert read_users(users)["chen"][0].station == "S02"


def test_a_given_data_folder_names_the_stations(demo_data, tmp_path):
    users = tmp_path / "users.toml"
    refused = add("chen", "--role", "station", "--station", "s01", "--data", str(demo_data),
                  "--users", str(users))  # fmt: skip
    assert refused.exit_code == 2 and not users.exists()
    assert f"stations read from {demo_data / 'stations.geojson'}" in refused.output
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = add("chen", "--role", "station", "--station", "S01", "--data", str(empty),
                  "--users", str(users))  # fmt: skip
    assert missing.exit_code == 2 and "no stations.geojson or stations.gpkg" in missing.output
    done = add("chen", "--role", "station", "--station", "S01", "--data", str(demo_data),
               "--users", str(users))  # fmt: skip
    assert done.exit_code == 0, done.output


def test_before_any_run_every_station_is_accepted(tmp_path):
    users = tmp_path / "users.toml"
    done = add("chen", "--role", "station", "--station", "S07", "--users", str(users))
    assert done.exit_code == 0, done.output


def test_short_and_common_passwords_are_refused(tmp_path):
    users = tmp_path / "users.toml"
    for password, message in (
        ("x", "the password has 1 characters: use at least 10"),
        ("nine-char", "the password has 9 characters: use at least 10"),
        ("1234567890", "on the list of the most common passwords"),
        ("QwertyUiop", "on the list of the most common passwords"),  # any case
        ("Woaini1314", "on the list of the most common passwords"),
    ):
        refused = add("lee", "--role", "leader", "--users", str(users), password=password)
        assert refused.exit_code == 2, password
        assert message in refused.output, refused.output
    assert not users.exists()
    assert add("lee", "--role", "leader", "--users", str(users)).exit_code == 0


def test_the_common_password_list_holds_a_few_hundred_lower_case_entries():
    words = common_passwords()
    assert 300 <= len(words) <= 2000
    assert {"password", "123456", "qwertyuiop", "1q2w3e4r5t", "woaini1314"} <= words
    assert all(w == w.casefold() and w.strip() == w and not w.startswith("#") for w in words)
