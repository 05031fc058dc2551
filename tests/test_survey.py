"""The public survey (SPEC §17) through the test client and on its own: the QR code holds the
station's survey page, an answer is stored once per device and month, a flood from one address
is refused until the hour has passed, bad and oversize fields store nothing, markup stays
text, the day's tally joins the audit chain, the month's survey values need enough answers,
and bursts reach the month's `quality.csv`. The clock is the test's own: nothing sleeps."""

from __future__ import annotations

import html
import re
import stat
import struct
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import segno
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from models.config import timezone_of
from models.quality import QUALITY_COLUMNS
from optimizer.assessment.survey import (
    ADDRESS_BURST,
    ANSWERS_PER_HOUR,
    SECRET_FILE,
    TALLY,
    Answer,
    desk_secret,
    station_of_code,
    submit_answer,
    survey_bursts,
    survey_code,
    survey_values,
    tally_survey,
)
from optimizer.assessment.tables import SURVEY_ANSWERS
from optimizer.audit import read_log, stored_entries
from optimizer.cli import main
from optimizer.i18n import texts
from optimizer.manifest import default_store_url
from optimizer.migrations import upgrade_store
from optimizer.serve.app import create_app
from optimizer.serve.deps import Settings
from optimizer.serve.survey_pages import QR_BORDER, clock
from optimizer.serve.users import add_user
from optimizer.store import rows_digest, transaction

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 2, 3, 2, 0, tzinfo=UTC)  # 10:00 on 3 February in Shanghai
EN = texts("en", "survey")
STATIONS_GEOJSON = """{"type": "FeatureCollection", "features": [
{"type": "Feature", "properties": {"station_id": "S01", "name": "<b>North</b> station"},
 "geometry": {"type": "Polygon", "coordinates": [[[121.40, 31.20], [121.45, 31.20],
 [121.45, 31.25], [121.40, 31.25], [121.40, 31.20]]]}},
{"type": "Feature", "properties": {"station_id": "S02", "name": "East station"},
 "geometry": {"type": "Polygon", "coordinates": [[[121.45, 31.20], [121.50, 31.20],
 [121.50, 31.25], [121.45, 31.25], [121.45, 31.20]]]}}]}"""
INDICATORS_CSV = """indicator_id,name,name_zh,survey
public_satisfaction,Public satisfaction,群众满意度,true
response_time,Response time,出警时间,false
"""
CONFIG_TOML = 'timezone = "Asia/Shanghai"\n\n[assessment]\nsurvey_min_answers = 2\n'
PASSWORDS = {"assessor": "assess-pass", "leader": "lead-pass"}


class Clock:
    """The service's clock, moved by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def empty_store(out: Path) -> str:
    """The output folder's store with the desk's tables, as the store's upgrade makes them."""
    url = default_store_url(out)
    upgrade_store(url)
    return url


@pytest.fixture
def desk(tmp_path):
    """A bureau of two stations (S01's name holds markup), one survey indicator, Shanghai
    time; its output folder with an assessor and a leader; the store's URL."""
    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    out.mkdir()
    (data / "stations.geojson").write_text(STATIONS_GEOJSON, encoding="utf-8")
    (data / "indicators.csv").write_text(INDICATORS_CSV, encoding="utf-8")
    (data / "config.toml").write_text(CONFIG_TOML, encoding="utf-8")
    for role, password in PASSWORDS.items():
        add_user(out / "users.toml", role, role, "", password)
    return data, out, empty_store(out)


@pytest.fixture
def served(desk):
    """A browser on the desk (HTTPS, so the Secure cookies come back) and the clock it reads."""
    data, out, url = desk
    settings = Settings(out=out, db=url, users_file=out / "users.toml", data=data)
    app = create_app(settings)
    moment = Clock(NOW)
    app.dependency_overrides[clock] = moment
    with TestClient(app, base_url="https://testserver") as client:
        yield client, moment


def code_of(out: Path, station: str) -> str:
    return survey_code(desk_secret(out), station)


def stored(url: str) -> list[dict]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(SURVEY_ANSWERS))]
    engine.dispose()
    return rows


def form_token_of(page) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def post(client, code, fields: dict, token: str | None = None, browser: bool = True):
    """An answer sent as a browser sends the page's form (with its Origin), or as a client
    that is no browser (`browser=False`: no Origin, no token unless given)."""
    data = {**fields, **({"csrf": token} if token else {})}
    headers = {"Origin": "https://testserver"} if browser else {}
    return client.post(f"/survey/{code}", data=data, headers=headers)


def test_station_codes_are_stable_secret_and_decode_to_their_station(tmp_path):
    secret = desk_secret(tmp_path)
    assert stat.S_IMODE((tmp_path / SECRET_FILE).stat().st_mode) == 0o600
    assert desk_secret(tmp_path) == secret  # made once: printed codes survive a restart
    codes = {s: survey_code(secret, s) for s in ("S01", "S02")}
    assert codes["S01"] != codes["S02"] and re.fullmatch(r"[a-z2-7]{16}", codes["S01"])
    assert station_of_code(secret, codes["S02"], ["S01", "S02"]) == "S02"
    assert station_of_code(secret, "aaaaaaaaaaaaaaaa", ["S01", "S02"]) is None
    (tmp_path / "other").mkdir()
    assert survey_code(desk_secret(tmp_path / "other"), "S01") != codes["S01"]


def png_pixels(data: bytes) -> list[list[bool]]:
    """The dark pixels of a 1-bit greyscale PNG, not interlaced (as segno writes them)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert (depth, colour, interlace) == (1, 0, 0)
    raw, stride = zlib.decompress(idat), (width + 7) // 8 + 1
    rows, above = [], bytes(stride - 1)
    for y in range(height):
        kind, line = raw[y * stride], raw[y * stride + 1 : (y + 1) * stride]
        assert kind in (0, 2)  # none, or "up": each byte added to the one above it
        if kind == 2:
            line = bytes((a + b) & 0xFF for a, b in zip(line, above, strict=True))
        above = line
        rows.append(above)
    return [[not (row[x // 8] >> (7 - x % 8)) & 1 for x in range(width)] for row in rows]


def png_modules(data: bytes, size: int) -> list[list[bool]]:
    """The QR modules of a PNG of `size` modules and the border: each module's centre pixel."""
    pixels = png_pixels(data)
    scale = len(pixels) // (size + 2 * QR_BORDER)
    centre = [(QR_BORDER + i) * scale + scale // 2 for i in range(size)]
    return [[pixels[y][x] for x in centre] for y in centre]


def svg_modules(text: str, size: int) -> list[list[bool]]:
    """The QR modules of segno's SVG: its path draws each run of dark modules of a row as a
    horizontal line through the row's middle (`M`/`m` moves, `h` draws)."""
    path = re.search(r' d="([^"]+)"', text).group(1)
    dark, x, y = set(), 0.0, 0.0
    for command, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", path):
        if command == "M":
            x, y = float(a), float(b)
        elif command == "m":
            x, y = x + float(a), y + float(b)
        else:
            dark |= {(int(y), int(x) + i) for i in range(int(float(a)))}
            x += float(a)
    return [[(QR_BORDER + r, QR_BORDER + c) in dark for c in range(size)] for r in range(size)]


def test_the_qr_code_holds_the_survey_pages_url_and_is_for_the_assessment_office(desk, served):
    _, out, _ = desk
    client, _ = served
    token = client.post("/api/token", data={"username": "assessor", "password": "assess-pass"})
    assessor = {"Authorization": f"Bearer {token.json()['access_token']}"}
    url = f"https://testserver/survey/{code_of(out, 'S01')}"
    expected = [[bool(v) for v in row] for row in segno.make(url, error="m").matrix]
    path = "/api/stations/S01/survey-qr"
    png = client.get(path, params={"format": "png"}, headers=assessor)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png_modules(png.content, len(expected)) == expected
    svg = client.get(path, headers=assessor)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert svg_modules(svg.text, len(expected)) == expected
    page = client.get(url)  # the page the code opens
    assert page.status_code == 200 and "North" in page.text
    leader = client.post("/api/token", data={"username": "leader", "password": "lead-pass"})
    as_leader = {"Authorization": f"Bearer {leader.json()['access_token']}"}
    assert client.get(path, headers=as_leader).status_code == 403
    assert client.get(path).status_code == 401
    assert client.get("/api/stations/S09/survey-qr", headers=assessor).status_code == 404
    assert client.get(path, params={"format": "gif"}, headers=assessor).status_code == 422


def test_an_answer_is_stored_once_per_device_and_month(desk, served):
    _, out, url = desk
    client, moment = served
    code = code_of(out, "S01")
    page = client.get(f"/survey/{code}", params={"lang": "zh"})
    assert "群众满意度" in page.text  # the indicator it counts toward, in Chinese
    cookie = page.headers["set-cookie"]
    assert all(part in cookie for part in ("HttpOnly", "SameSite=lax", "Secure", "Path=/survey"))
    fields = {"satisfaction": "4", "comment": " quick help ", "lang": "zh"}
    done = post(client, code, fields, form_token_of(page))
    assert done.status_code == 200 and texts("zh", "survey")["thanks"] in done.text
    [row] = stored(url)
    assert (row["station_id"], row["month"], row["satisfaction"]) == ("S01", "2026-02", 4)
    assert row["comment"] == "quick help" and row["answered_at"] == "2026-02-03T02:00:00+00:00"
    assert re.fullmatch(r"[0-9a-f]{64}", row["device"]) and "testclient" not in row["address"]
    again = client.get(f"/survey/{code}")
    assert EN["already_answered"] in html.unescape(again.text)
    moment.now += timedelta(hours=1)
    assert post(client, code, {"satisfaction": "5"}, form_token_of(page)).status_code == 409
    moment.now += timedelta(days=1)  # nor another station's survey from the same device
    other = post(client, code_of(out, "S02"), {"satisfaction": "5"}, browser=False)
    assert other.status_code == 409 and len(stored(url)) == 1
    moment.now = datetime(2026, 2, 28, 16, 0, tzinfo=UTC)  # 1 March in Shanghai: a new month
    fresh = client.get(f"/survey/{code}")
    assert post(client, code, {"satisfaction": "3"}, form_token_of(fresh)).status_code == 200
    assert [r["month"] for r in stored(url)] == ["2026-02", "2026-03"]


def test_a_flood_from_one_address_is_refused_until_the_hour_has_passed(desk, served):
    _, out, url = desk
    client, moment = served
    code = code_of(out, "S02")
    for minute in range(ANSWERS_PER_HOUR):  # each from a new device: the cookie thrown away
        moment.now = NOW + timedelta(minutes=minute)
        client.cookies.clear()
        assert post(client, code, {"satisfaction": "5"}, browser=False).status_code == 200
    moment.now = NOW + timedelta(minutes=10)
    client.cookies.clear()
    flood = post(client, code, {"satisfaction": "5"}, browser=False)
    assert flood.status_code == 429 and flood.headers["retry-after"] == str(50 * 60)
    assert len(stored(url)) == ANSWERS_PER_HOUR
    moment.now = NOW + timedelta(minutes=60)  # the first answer is an hour old
    client.cookies.clear()
    assert post(client, code, {"satisfaction": "5"}, browser=False).status_code == 200


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"satisfaction": "6"}, 422),
        ({"satisfaction": "0"}, 422),
        ({"satisfaction": "3.5"}, 422),
        ({"satisfaction": "٣"}, 422),  # a digit, but not 1–5 as the form gives it
        ({"comment": "fine"}, 422),
        ({"satisfaction": "4", "comment": "x" * 501}, 413),
        ({"satisfaction": "4", "comment": "x" * 20_000}, 413),  # beyond the form's size
    ],
)
def test_bad_and_oversize_fields_store_nothing(desk, served, fields, status):
    _, out, url = desk
    client, _ = served
    code = code_of(out, "S01")
    token = form_token_of(client.get(f"/survey/{code}"))
    assert post(client, code, fields, token).status_code == status
    assert stored(url) == []


def test_forms_from_elsewhere_expired_or_unknown_are_refused(desk, served):
    _, out, url = desk
    client, moment = served
    code = code_of(out, "S01")
    token = form_token_of(client.get(f"/survey/{code}"))
    answer = {"satisfaction": "5"}
    cross = client.post(
        f"/survey/{code}", data={**answer, "csrf": token}, headers={"Origin": "https://evil.test"}
    )
    assert cross.status_code == 403
    assert post(client, code, answer).status_code == 403  # a browser without the page's token
    assert post(client, code, answer, token[:-2] + "00").status_code == 403
    assert post(client, code_of(out, "S02"), answer, token).status_code == 403  # another survey
    moment.now += timedelta(hours=13)
    assert post(client, code, answer, token).status_code == 403  # expired
    assert client.get("/survey/aaaaaaaaaaaaaaaa").status_code == 404
    assert post(client, "aaaaaaaaaaaaaaaa", answer, browser=False).status_code == 404
    upload = client.post(f"/survey/{code}", data=answer, files={"photo": ("a.png", b"x")})
    assert upload.status_code == 422
    assert stored(url) == []


def test_markup_is_shown_as_text_and_stored_as_written(desk, served):
    _, out, url = desk
    client, _ = served
    code = code_of(out, "S01")
    page = client.get(f"/survey/{code}")
    assert "&lt;b&gt;North&lt;/b&gt;" in page.text and "<b>North" not in page.text
    markup = "<script>alert(1)</script>"
    again = post(client, code, {"comment": markup}, form_token_of(page))  # no satisfaction
    assert again.status_code == 422 and EN["bad_satisfaction"] in again.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in again.text and markup not in again.text
    assert post(client, code, {"satisfaction": "2", "comment": markup}, form_token_of(again))
    assert [r["comment"] for r in stored(url)] == [markup]


def give(url: str, out: Path, station: str, satisfaction: int, at: datetime, n: int) -> None:
    """Answer number `n`, from a device and address of its own."""
    answer = Answer(station, satisfaction, None, f"device-{n}", f"address-{n}")
    submit_answer(url, out, answer, at, SHANGHAI)


def test_the_days_answers_are_tallied_in_the_audit_chain_once(tmp_path):
    url = empty_store(tmp_path)
    first_day = [
        datetime(2026, 1, 31, 17, 0, tzinfo=UTC),  # 1 February, 01:00 in Shanghai
        datetime(2026, 2, 1, 9, 0, tzinfo=UTC),
    ]
    for n, at in enumerate(first_day):
        give(url, tmp_path, "S01", 4, at, n)
    give(url, tmp_path, "S02", 5, datetime(2026, 2, 2, 3, 0, tzinfo=UTC), 2)
    give(url, tmp_path, "S01", 3, datetime(2026, 2, 3, 1, 0, tzinfo=UTC), 3)  # tallies two days
    give(url, tmp_path, "S01", 3, datetime(2026, 2, 3, 2, 0, tzinfo=UTC), 4)  # nothing new
    with transaction(url) as conn:
        entries = stored_entries(conn)
        answers = [dict(r._mapping) for r in conn.execute(select(SURVEY_ANSWERS))]
        assert tally_survey(conn, NOW, SHANGHAI) == []
    assert [(e["action"], e["user"], e["detail"]) for e in entries] == [
        (TALLY, "public", {"day": "2026-02-01", "answers": 2}),
        (TALLY, "public", {"day": "2026-02-02", "answers": 1}),
    ]
    assert [e["plan_month"] for e in entries] == ["2026-02", "2026-02"]
    assert {a["month"] for a in answers} == {"2026-02"}
    assert entries[0]["files"] == {"assessment/survey": rows_digest(answers[:2])}
    assert [e["seq"] for e in read_log(tmp_path / "audit.jsonl")[0]] == [1, 2]
    with transaction(url) as conn:  # the close tallies what is left
        [entry] = tally_survey(conn, datetime(2026, 2, 4, 0, 0, tzinfo=UTC), SHANGHAI)
    assert entry["detail"] == {"day": "2026-02-03", "answers": 2}


def test_survey_values_need_enough_answers(tmp_path):
    url = empty_store(tmp_path)
    answers = [("S01", 5), ("S01", 4), ("S01", 4), ("S02", 5), ("S02", 5), ("S03", 1)] + [
        ("S03", 1)
    ] * 2
    for n, (station, satisfaction) in enumerate(answers):
        give(url, tmp_path, station, satisfaction, NOW + timedelta(minutes=n), n)
    give(url, tmp_path, "S02", 5, datetime(2026, 1, 20, tzinfo=UTC), 99)  # January's
    indicators = pd.DataFrame(
        {
            "indicator_id": ["public_satisfaction", "service_rating", "response_time"],
            "survey": pd.array([True, True, pd.NA], dtype="boolean"),
        }
    )
    engine = create_engine(url)
    with engine.connect() as conn:
        values = survey_values(conn, "2026-02", indicators, ["S01", "S02"], min_answers=3)
        fewer = survey_values(conn, "2026-02", indicators, ["S01", "S02"], min_answers=2)
        worded = indicators.assign(survey=["yes", "no", ""])
        one = survey_values(conn, "2026-02", worded, ["S01"], min_answers=3)
    engine.dispose()
    expected = pd.DataFrame(
        {
            "station_id": ["S01", "S01"],
            "indicator_id": ["public_satisfaction", "service_rating"],
            "value": [86.67, 86.67],  # mean 13/3 × 20
            "answers": [3, 3],
        }
    )
    pd.testing.assert_frame_equal(values, expected)
    assert fewer[fewer["station_id"] == "S02"]["value"].tolist() == [100.0, 100.0]
    assert one["indicator_id"].tolist() == ["public_satisfaction"]


def answer_rows(station: str, times: list[str], addresses: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "station_id": station,
            "month": "2026-02",
            "address": addresses,
            "answered_at": times,
        }
    )


def test_bursts_from_one_address_or_within_minutes_are_flagged():
    one_address = answer_rows(
        "S01", [f"2026-02-{d:02d}T04:00:00+00:00" for d in range(1, 6)], ["a"] * ADDRESS_BURST
    )
    few = answer_rows("S01", ["2026-02-07T04:00:00+00:00"] * 4, ["b"] * 4)
    start = datetime(2026, 2, 3, 2, 0, tzinfo=UTC)
    minutes = answer_rows(
        "S02",
        [(start + timedelta(seconds=50 * i)).isoformat() for i in range(10)],
        [f"c{i}" for i in range(10)],
    )
    spread = answer_rows(  # nine within minutes, then one more a quarter of an hour later
        "S02",
        [f"2026-02-10T02:0{i}:00+00:00" for i in range(9)] + ["2026-02-10T02:20:00+00:00"],
        [f"d{i}" for i in range(10)],
    )
    answers = pd.concat([one_address, few, minutes, spread], ignore_index=True)
    flags = survey_bursts(answers, timezone=SHANGHAI)
    assert list(flags.columns) == QUALITY_COLUMNS
    assert flags[["station_id", "month", "check", "severity"]].values.tolist() == [
        ["S01", "2026-02", "survey_address_burst", "warning"],
        ["S02", "2026-02", "survey_minutes_burst", "warning"],
    ]
    assert flags["message"].tolist() == [
        "5 survey answers for S01 in 2026-02 came from one address",
        "10 survey answers for S02 between 2026-02-03 10:00 and 10:07",
    ]
    assert survey_bursts(answers.iloc[:0]).empty


def test_the_months_run_adds_survey_bursts_to_quality_csv(demo_data, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    url = empty_store(out)
    zone = timezone_of("")  # the demo bureau's: the system's
    for n in range(ADDRESS_BURST):  # one address, five devices, 3 December
        answer = Answer("S01", 5, None, f"device-{n}", "one address")
        submit_answer(url, out, answer, datetime(2025, 12, 3, 12, n, tzinfo=UTC), zone)
    answer = Answer("S02", 4, None, "device-x", "another address")
    submit_answer(url, out, answer, datetime(2025, 12, 5, 12, 0, tzinfo=UTC), zone)
    args = ["run", "--data", str(demo_data), "--month", "2025-12", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    quality = pd.read_csv(out / "2026-01" / "baseline" / "quality.csv", dtype=str)
    burst = quality[quality["check"] == "survey_address_burst"]
    assert burst[["station_id", "month"]].values.tolist() == [["S01", "2025-12"]]
    verified = CliRunner().invoke(main, ["audit", "verify", "--out", str(out)])
    assert verified.exit_code == 0, verified.output
