"""The assessment desk's month over the API (SPEC §17): the demo's last month of indicator values
taken out of `scores.csv`, submitted again by its departments, reviewed, returned, closed into
`scores.csv`; appeals and flexible weights decided by the assessment office."""

from __future__ import annotations

import io
import json

import docx
import geopandas as gpd
import openpyxl
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, insert, text

from optimizer.assessment.tables import SURVEY_ANSWERS
from optimizer.audit import verify
from optimizer.demo import OWNERS
from optimizer.manifest import default_store_url
from optimizer.serve.app import create_app
from optimizer.serve.deps import Settings
from optimizer.serve.users import add_user
from tests.serve_helpers import served_copy

MONTH = "2025-12"  # the demo's last assessed month
PASSWORD = "desk-pass-1234"
USERS = {  # name: (role, station, department)
    "office": ("assessor", "", ""),
    "command": ("department", "", "command"),
    "investigation": ("department", "", "investigation"),
    "legal": ("department", "", "legal"),
    "patrol": ("department", "", "patrol"),
    "political": ("department", "", "political"),
    "s01": ("station", "S01", ""),
    "chief": ("leader", "", ""),
}


@pytest.fixture
def desk(demo_run, demo_copy, tmp_path):
    """The desk over a copy of the demo data whose last month's values are removed: a client
    per user (no run is queued: the service has no job queue), the removed values, the paths.
    The output folder holds the demo's plan for the month after, which the bulletin reads."""
    scores = pd.read_csv(demo_copy / "scores.csv")
    removed = scores[scores["month"] == MONTH]
    scores[scores["month"] != MONTH].to_csv(demo_copy / "scores.csv", index=False)
    out = served_copy(demo_run, tmp_path)  # the demo's plan of the month after, and its store
    url = default_store_url(out)  # the service's start upgrades it to hold the desk's tables
    for name, (role, station, department) in USERS.items():
        add_user(out / "users.toml", name, role, station, PASSWORD, department)
    settings = Settings(out=out, db=url, users_file=out / "users.toml", data=demo_copy)
    app = create_app(settings)
    app.state.service.jobs.close()
    app.state.service.jobs = None

    def client(name: str) -> TestClient:
        c = TestClient(app)
        token = c.post("/api/token", data={"username": name, "password": PASSWORD}).json()
        c.headers["Authorization"] = f"Bearer {token['access_token']}"
        return c

    return client, removed, demo_copy, out


def _rows(values: pd.DataFrame, department: str, prefilled: dict) -> list[dict]:
    """The department's rows of `values`, with a note where a value overrides its pre-fill."""
    mine = values[values["indicator_id"].map(OWNERS) == department]
    rows = []
    for r in mine.itertuples():
        row = {"station_id": r.station_id, "indicator_id": r.indicator_id, "value": r.value}
        offered = prefilled.get((r.station_id, r.indicator_id))
        if offered is not None and abs(offered - r.value) > 1e-6:
            row["note"] = "counted from the station ledger"
        rows.append(row)
    return rows


def _prefilled(client) -> dict:
    items = client("office").get(f"/api/assessment/{MONTH}").json()["items"]
    return {
        (i["station_id"], i["indicator_id"]): i["prefilled"]
        for i in items
        if i["prefilled"] is not None
    }


def test_a_month_submitted_by_its_departments_closes_into_scores(desk):
    client, removed, data, out = desk
    prefilled = _prefilled(client)
    assert prefilled[("S01", "P01")] == 31.0  # burglaries of S01 in the month, from the cases
    for department in ("command", "investigation", "legal"):
        rows = _rows(removed, department, prefilled)
        answer = client(department).post(
            f"/api/assessment/{MONTH}/submissions", json={"rows": rows}
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["rows"] == len(rows) and answer.json()["late"] is True
    refused = client("office").post(f"/api/assessment/{MONTH}/close", json={})
    assert refused.status_code == 409
    missing = {(m["department"], m["indicator_id"]) for m in refused.json()["missing"]}
    assert {d for d, _ in missing} == {"patrol", "political"}
    for department in ("patrol", "political"):
        rows = _rows(removed, department, prefilled)
        answer = client(department).post(
            f"/api/assessment/{MONTH}/submissions", json={"rows": rows}
        )
        assert answer.status_code == 201, answer.text
    review = client("office").get(f"/api/assessment/{MONTH}").json()
    assert review["state"] == "open" and review["deadline"] == "2025-12-27"
    assert {i["status"] for i in review["items"]} == {"late"}
    closed = client("office").post(f"/api/assessment/{MONTH}/close", json={})
    assert closed.status_code == 202, closed.text
    scores = pd.read_csv(data / "scores.csv")
    written = scores[scores["month"] == MONTH].merge(
        removed, on=["station_id", "month", "indicator_id"], suffixes=("", "_was")
    )
    assert len(written) == len(removed) == (scores["month"] == MONTH).sum()
    assert (written["value"] - written["value_was"]).abs().max() < 1e-9
    assert set(written["source"]) == {f"desk:{d}" for d in set(OWNERS.values())}
    assert client("office").get(f"/api/assessment/{MONTH}").json()["state"] == "closed"
    again = client("command").post(
        f"/api/assessment/{MONTH}/submissions",
        json={"rows": [{"station_id": "S01", "indicator_id": "P01", "value": 31}]},
    )
    assert again.status_code == 409
    entries = map(json.loads, (out / "audit.jsonl").read_text().splitlines())
    actions = [e["action"] for e in entries if e["scenario"] == "assessment"]
    assert actions == ["submit"] * 5 + ["close"]
    assert not verify(out, default_store_url(out)).problems
    engine = create_engine(default_store_url(out))
    with engine.begin() as conn:  # a value changed behind the desk's back
        conn.execute(text("UPDATE assessment_values SET value = 1 WHERE indicator_id = 'P01'"))
    engine.dispose()
    problems = verify(out, default_store_url(out)).problems
    assert len(problems) == 1 and "stored values no longer match" in problems[0]


def test_a_bad_submission_names_each_row_and_stores_nothing(desk):
    client, *_ = desk
    rows = [
        {"station_id": "S01", "indicator_id": "L01", "value": 91.5},
        {"station_id": "S99", "indicator_id": "L01", "value": 80},
        {"station_id": "S02", "indicator_id": "M01", "value": 3},
        {"station_id": "S03", "indicator_id": "L01", "value": "lots"},
        {"station_id": "S04", "indicator_id": "L01", "value": -2},
    ]
    answer = client("political").post(f"/api/assessment/{MONTH}/submissions", json={"rows": rows})
    assert answer.status_code == 422
    assert answer.json()["detail"] == [
        "rows:4:value: not a number: 'lots'",
        "rows:2:station_id: unknown station 'S99'",
        "rows:3:indicator_id: indicator 'M01' is reported by department 'investigation', "
        "not by 'political'",
        "rows:5:value: value -2 out of range: indicator values are 0 or more",
    ]
    items = client("office").get(f"/api/assessment/{MONTH}").json()["items"]
    assert {i["status"] for i in items} == {"missing"}


def test_an_override_of_a_prefilled_value_needs_its_reason(desk):
    client, *_ = desk
    row = {"station_id": "S01", "indicator_id": "P01", "value": 12}
    answer = client("command").post(f"/api/assessment/{MONTH}/submissions", json={"rows": [row]})
    assert answer.status_code == 422
    assert "overrides the pre-filled 31" in answer.json()["detail"][0]
    row["note"] = "<b>two cases were recorded twice</b>"
    answer = client("command").post(f"/api/assessment/{MONTH}/submissions", json={"rows": [row]})
    assert answer.status_code == 201
    item = next(
        i
        for i in client("office").get(f"/api/assessment/{MONTH}").json()["items"]
        if (i["station_id"], i["indicator_id"]) == ("S01", "P01")
    )
    assert item["value"] == 12 and item["prefilled"] == 31
    assert item["flags"] == ["changed_from_prefill", "third_party_mismatch"]
    assert item["note"] == row["note"]  # stored as sent; pages escape it


def test_csv_and_xlsx_uploads_are_checked_as_files(desk):
    client, *_ = desk
    bad = "station_id,indicator_id,value\nS01,L01,90\nS02,L01,ninety\n"
    answer = client("political").post(
        f"/api/assessment/{MONTH}/submissions", files={"file": ("l01.csv", bad, "text/csv")}
    )
    assert answer.status_code == 422
    assert answer.json()["detail"] == ["l01.csv:3:value: not a number: 'ninety'"]
    other_month = "station_id,month,indicator_id,value\nS01,2025-12,L01,90\nS02,2025-11,L01,80\n"
    answer = client("political").post(
        f"/api/assessment/{MONTH}/submissions", files={"file": ("l01.csv", other_month)}
    )
    assert answer.json()["detail"] == [
        "l01.csv:3:month: month '2025-11' is not the month submitted, 2025-12"
    ]
    book = openpyxl.Workbook()
    book.active.append(["station_id", "indicator_id", "value"])
    book.active.append(["S01", "L01", 90])
    body = io.BytesIO()
    book.save(body)
    answer = client("political").post(
        f"/api/assessment/{MONTH}/submissions", files={"file": ("l01.xlsx", body.getvalue())}
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["rows"] == 1
    garbage = client("political").post(
        f"/api/assessment/{MONTH}/submissions", files={"file": ("x.csv", b"\x00\x01\x02")}
    )
    assert garbage.status_code == 422


def test_roles_and_months_the_desk_refuses(desk):
    client, *_ = desk
    rows = {"rows": [{"station_id": "S01", "indicator_id": "L01", "value": 90}]}
    assert client("office").post(f"/api/assessment/{MONTH}/submissions", json=rows).status_code == (
        403
    )
    assert client("s01").get(f"/api/assessment/{MONTH}").status_code == 403
    future = client("political").post("/api/assessment/2999-01/submissions", json=rows)
    assert future.status_code == 409 and "has not begun" in future.json()["detail"]
    for method in ("get", "options"):
        other = client("office").request(method.upper(), "/api/assessment/flex")
        assert (other.status_code, other.headers["allow"]) == (405, "POST")
    other = client("office").request("OPTIONS", f"/api/assessment/{MONTH}/appeals")
    assert (other.status_code, other.headers["allow"]) == (405, "GET, POST")
    mine = client("political").get(f"/api/assessment/{MONTH}").json()["items"]
    assert {i["department"] for i in mine} == {"political"}


def test_a_returned_submission_counts_as_missing(desk):
    client, *_ = desk
    rows = {"rows": [{"station_id": s, "indicator_id": "L01", "value": 90} for s in ("S01", "S02")]}
    sent = client("political").post(f"/api/assessment/{MONTH}/submissions", json=rows).json()
    path = f"/api/assessment/{MONTH}/submissions/{sent['id']}/return"
    assert client("office").post(path, json={"comment": ""}).status_code == 422
    assert client("office").post(path, json={"comment": "S02 looks copied"}).status_code == 200
    assert client("office").post(path, json={"comment": "again"}).status_code == 409
    items = client("office").get(f"/api/assessment/{MONTH}").json()["items"]
    states = {i["station_id"]: i["status"] for i in items if i["indicator_id"] == "L01"}
    assert states["S01"] == states["S02"] == "returned"
    refused = client("office").post(f"/api/assessment/{MONTH}/close", json={}).json()
    assert {"department": "political", "station_id": "S01", "indicator_id": "L01"} in [
        {k: m[k] for k in ("department", "station_id", "indicator_id")} for m in refused["missing"]
    ]


def _closed_with_reason(client) -> None:
    rows = {"rows": [{"station_id": "S01", "indicator_id": "L01", "value": 70}]}
    client("political").post(f"/api/assessment/{MONTH}/submissions", json=rows)
    reason = {"reason": "the survey office reports late this month"}
    assert client("office").post(f"/api/assessment/{MONTH}/close", json=reason).status_code == 202


def test_an_upheld_appeal_corrects_the_value_and_a_rejected_one_does_not(desk):
    client, _, data, out = desk
    early = client("s01").post(
        f"/api/assessment/{MONTH}/appeals", data={"indicator_id": "L01", "reason": "why"}
    )
    assert early.status_code == 409  # the month is not closed yet
    _closed_with_reason(client)
    pdf = ("minutes.pdf", b"%PDF-1.4 the council's minutes", "application/pdf")
    filed = client("s01").post(
        f"/api/assessment/{MONTH}/appeals",
        data={"indicator_id": "L01", "reason": "the survey missed our open day"},
        files={"attachment": pdf},
    )
    assert filed.status_code == 201, filed.text
    appeal = filed.json()["id"]
    attachment = client("office").get(f"/api/assessment/{MONTH}/appeals/{appeal}/attachment")
    assert attachment.content == pdf[1] and attachment.headers["content-type"] == pdf[2]
    assert (
        client("command").get(f"/api/assessment/{MONTH}/appeals/{appeal}/attachment").status_code
        == 403
    )
    decided = client("office").post(
        f"/api/assessment/{MONTH}/appeals/{appeal}/decide",
        json={"decision": "upheld", "value": 84.5, "reason": "the open day's forms counted"},
    )
    assert decided.status_code == 200, decided.text
    scores = pd.read_csv(data / "scores.csv").set_index(["station_id", "month", "indicator_id"])
    assert scores.loc[("S01", MONTH, "L01"), "value"] == 84.5
    listed = client("s01").get(f"/api/assessment/{MONTH}/appeals").json()
    assert [(a["state"], a["value"], a["previous_value"]) for a in listed] == [
        ("upheld", 84.5, 70.0)
    ]
    second = client("office").post(
        f"/api/assessment/{MONTH}/appeals/{appeal}/decide",
        json={"decision": "rejected", "reason": "changed my mind"},
    )
    assert second.status_code == 409
    assert not verify(out, default_store_url(out)).problems


@pytest.mark.parametrize(
    ("attachment", "status"),
    [
        (("notes.txt", b"plain text", "text/plain"), 415),
        (("big.pdf", b"%PDF-" + b"0" * (5 * 1024 * 1024), "application/pdf"), 413),
    ],
)
def test_an_appeal_with_a_wrong_attachment_is_refused(desk, attachment, status):
    client, *_ = desk
    _closed_with_reason(client)
    answer = client("s01").post(
        f"/api/assessment/{MONTH}/appeals",
        data={"indicator_id": "L01", "reason": "see the attachment"},
        files={"attachment": attachment},
    )
    assert answer.status_code == status
    assert client("office").get(f"/api/assessment/{MONTH}/appeals").json() == []


def test_flexible_weights_are_checked_when_filed_and_written_when_approved(desk):
    client, _, data, _ = desk
    refused = client("s01").post(
        "/api/assessment/flex", json={"rows": [{"indicator_id": "P01", "weight": 60}]}
    )
    assert refused.status_code == 422
    pool = client("s01").post(
        "/api/assessment/flex", json={"rows": [{"indicator_id": "S03", "weight": 6}]}
    )
    assert pool.status_code == 201, pool.text
    decided = client("office").post(
        f"/api/assessment/flex/{pool.json()['id']}/decide",
        json={"decision": "approved", "reason": "community policing focus"},
    )
    assert decided.status_code == 200
    flex = pd.read_csv(data / "flex_weights.csv", dtype=str)
    assert flex[["station_id", "indicator_id", "weight"]].values.tolist() == [["S01", "S03", "6"]]
    assert flex["from_month"].iloc[0] > MONTH


def test_the_bulletin_names_every_station_and_a_station_reads_its_own(desk):
    client, *_ = desk
    _closed_with_reason(client)
    answer = client("office").get(f"/api/assessment/{MONTH}/bulletin?format=docx")
    assert answer.status_code == 200, answer.text
    text = "\n".join(
        cell.text
        for table in docx.Document(io.BytesIO(answer.content)).tables
        for row in table.rows
        for cell in row.cells
    )
    stations = gpd.read_file(desk[2] / "stations.geojson")
    assert all(name in text for name in stations["name"])
    own = client("s01").get(f"/api/assessment/{MONTH}/bulletin?format=html&lang=en")
    assert own.status_code == 200 and "sandbox" in own.headers["content-security-policy"]
    names = dict(zip(stations["station_id"], stations["name"], strict=True))
    assert names["S01"] in own.text and names["S02"] not in own.text
    assert client("command").get(f"/api/assessment/{MONTH}/bulletin").status_code == 403
    assert client("office").get("/api/assessment/2025-06/bulletin").status_code == 404


def test_a_survey_indicator_takes_the_publics_mean_once_there_are_enough_answers(desk):
    client, _, data, out = desk
    engine = create_engine(default_store_url(out))
    answers = [  # 20 answers for S01 (the demo's minimum), 19 for S03
        {
            "station_id": station,
            "month": MONTH,
            "satisfaction": 4 if i % 2 else 5,
            "device": f"{station}-{i}",
            "address": f"address-{i}",
            "answered_at": f"2025-12-{1 + i:02d}T10:00:00+00:00",
        }
        for station, count in (("S01", 20), ("S03", 19))
        for i in range(count)
    ]
    with engine.begin() as conn:
        conn.execute(insert(SURVEY_ANSWERS), answers)
    engine.dispose()
    items = client("office").get(f"/api/assessment/{MONTH}").json()["items"]
    surveyed = {i["station_id"]: i for i in items if i["indicator_id"] == "S02"}
    assert (surveyed["S01"]["value"], surveyed["S01"]["flags"]) == (90.0, ["survey"])
    assert surveyed["S01"]["status"] == "submitted" and surveyed["S03"]["status"] == "missing"
    _closed_with_reason(client)
    scores = pd.read_csv(data / "scores.csv").set_index(["station_id", "month", "indicator_id"])
    assert scores.loc[("S01", MONTH, "S02"), ["value", "source"]].tolist() == [90.0, "survey"]
    assert ("S03", MONTH, "S02") not in scores.index
    entries = [json.loads(line) for line in (out / "audit.jsonl").read_text().splitlines()]
    tallies = [e["detail"]["answers"] for e in entries if e.get("action") == "survey tally"]
    assert sum(tallies) == 39
