"""The assessment desk's pages through the test client (SPEC §17): a department sees only its
own indicators, pre-filled, and submits them by form or file (problems beside their rows,
what was typed kept, nothing stored); the assessment office reviews, returns, closes (refused
with the missing values listed, then with a reason) and follows the run it queued, decides
appeals and flexible weights; a station sees its own results and appeals only. Every form
needs the page's CSRF token; markup typed is shown as text; headings come from the catalogue
in both languages and no raw id reaches the reader."""

from __future__ import annotations

import html
import re

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.errors import Problem
from models.months import month_after
from optimizer.demo import OWNERS
from optimizer.i18n import texts
from optimizer.serve.assessment_view import form_rows, open_months, problems_by_row, sent_rows
from tests.desk_helpers import RecordedJobs, csrf_of, desk_app, desk_settings, signed_in
from tests.serve_helpers import served_copy
from tests.test_assessment_desk import MONTH

EN = texts("en", "serve")["assessment"]
ZH = texts("zh", "serve")["assessment"]
RAW_IDS = ("changed_from_prefill", "third_party_mismatch", "None", "nan")  # ids, Python's none
ROW = re.compile(
    r'name="station\.(\d+)" value="([^"]*)"><input type="hidden" name="indicator\.\1" '
    r'value="([^"]*)"><input class="value" type="text" inputmode="decimal" name="value\.\1" '
    r'value="([^"]*)"'
)
MARKUP = "<b>two cases were recorded twice</b>"


@pytest.fixture
def desk(demo_copy, tmp_path):
    """The desk's app over the demo data without its last month; its run queue records the
    runs it is given. Returns the app, the queue, the data folder and the removed values."""
    removed = pd.read_csv(demo_copy / "scores.csv").query("month == @MONTH")
    jobs = RecordedJobs()
    return desk_app(desk_settings(demo_copy, tmp_path / "out"), jobs), jobs, demo_copy, removed


def visible(page) -> str:
    """The text a reader sees: the page without its tags and stylesheet, references read,
    each run of white space one space."""
    body = re.sub(r"<style.*?</style>", " ", page.text, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def form_of(page, values: dict, notes: dict | None = None, lang: str = "en") -> dict:
    """The values form of a department's page with `values` typed over what it shows (by
    station and indicator) and `notes`."""
    data = {"csrf": csrf_of(page), "lang": lang}
    for n, station, indicator, shown in ROW.findall(page.text):
        data |= {f"station.{n}": station, f"indicator.{n}": indicator}
        data[f"value.{n}"] = values.get((station, indicator), html.unescape(shown))
        data[f"note.{n}"] = (notes or {}).get((station, indicator), "")
    return data


def removed_of(removed: pd.DataFrame, department: str) -> dict:
    mine = removed[removed["indicator_id"].map(OWNERS) == department]
    return {(r.station_id, r.indicator_id): f"{r.value:g}" for r in mine.itertuples()}


def submit_all(app, removed: pd.DataFrame, department: str) -> None:
    """The department's removed values sent through its form, a note where one overrides
    its pre-filled value."""
    client = signed_in(app, department)
    page = client.get(f"/assessment/submit/{MONTH}")
    values = removed_of(removed, department)
    shown = {(s, i): v for _, s, i, v in ROW.findall(page.text)}
    notes = {k: "counted from the ledger" for k, v in values.items() if shown[k] not in ("", v)}
    sent = client.post(f"/assessment/submit/{MONTH}", data=form_of(page, values, notes))
    assert sent.status_code == 200 and EN["done"]["submitted"] in sent.text, visible(sent)


def test_the_home_page_leads_each_desk_role_to_its_pages(desk):
    app, *_ = desk
    for name, target in [
        ("command", "/assessment/submit"),
        ("office", "/assessment/office"),
        ("s01", "/assessment/station"),
    ]:
        client = signed_in(app, name)
        home = client.get("/?lang=zh")  # a station's home lists its plans, the others' none
        assert f'href="/assessment?lang=zh" class="assessment">{ZH["nav"]}' in home.text
        desk_page = client.get("/assessment?lang=zh")
        assert desk_page.url.path == target and desk_page.url.params["lang"] == "zh", name
        assert (home.url.path == target) == (name != "s01"), name
    assert signed_in(app, "chief").get("/assessment").url.path == "/assessment/office"
    assert signed_in(app, "command").get("/assessment/office").status_code == 403


def test_leadership_reads_the_offices_pages_without_their_forms(desk):
    app, jobs, data, removed = desk
    submit_all(app, removed, "political")
    chief = signed_in(app, "chief")
    review = chief.get(f"/assessment/office/{MONTH}")
    assert review.status_code == 200 and 'data-department="political"' in review.text
    assert "<form" not in review.text.split("</nav>", 1)[-1]  # none below the menu
    assert "survey-qr" not in chief.get("/assessment/office").text
    office_page = signed_in(app, "office").get(f"/assessment/office/{MONTH}")
    refused = chief.post(
        f"/assessment/office/{MONTH}/close",
        data={"csrf": csrf_of(review), "reason": "leadership wants it closed"},
    )
    assert refused.status_code == 403 and 'id="close"' in office_page.text
    assert not jobs.jobs and MONTH not in (data / "scores.csv").read_text()


def test_a_department_sees_only_its_own_indicators_prefilled(desk):
    app, *_ = desk
    page = signed_in(app, "command").get(f"/assessment/submit/{MONTH}")
    rows = ROW.findall(page.text)
    assert {i for _, _, i, _ in rows} == {i for i, d in OWNERS.items() if d == "command"}
    shown = {(s, i): v for _, s, i, v in rows}
    assert shown[("S01", "P01")] == "31"  # burglaries of S01 in the month, from the cases
    assert shown[("S01", "P04")] == ""  # reported by hand: nothing to pre-fill
    assert "2025-12-27" in page.text and EN["deadline_passed"] in page.text
    months = signed_in(app, "command").get("/assessment/submit")
    assert f'href="/assessment/submit/{MONTH}?lang=en"' in months.text
    assert "/assessment/submit/2025-11" not in months.text  # in scores.csv already


def test_an_override_without_its_reason_is_shown_beside_its_row_and_nothing_stored(desk):
    app, _, _, removed = desk
    client = signed_in(app, "command")
    page = client.get(f"/assessment/submit/{MONTH}")
    typed = form_of(page, {("S01", "P01"): "12", ("S02", "P04"): "lots"})
    n = len(ROW.findall(page.text))  # one row more, crafted: not on the page
    typed |= {f"station.{n}": "S99", f"indicator.{n}": "M01", f"value.{n}": "1"}
    refused = client.post(f"/assessment/submit/{MONTH}", data=typed)
    assert refused.status_code == 422
    problems = visible(refused)
    assert "S99 M01: station_id: unknown station 'S99'" in problems
    assert "S99 M01: indicator_id: indicator 'M01' is reported by department" in problems
    row = re.search(r'<tr class="item[^"]*refused" data-station="S01" data-indicator="P01">'
                    r".*?</tr>", refused.text, flags=re.S).group(0)  # fmt: skip
    assert "overrides the pre-filled 31" in html.unescape(row)
    assert 'name="value.0" value="12"' in refused.text  # what was typed is kept
    other = re.search(r'data-station="S02" data-indicator="P04">.*?</tr>', refused.text, re.S)
    assert "not a number: &#39;lots&#39;" in other.group(0)
    office = signed_in(app, "office").get(f"/assessment/office/{MONTH}")
    assert EN["no_submissions"] in office.text


def test_a_department_submits_by_form_and_its_note_is_shown_as_text(desk):
    app, _, _, removed = desk
    client = signed_in(app, "command")
    page = client.get(f"/assessment/submit/{MONTH}")
    sent = client.post(
        f"/assessment/submit/{MONTH}",
        data=form_of(page, {("S01", "P01"): "12"}, {("S01", "P01"): MARKUP}),
        follow_redirects=False,
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/assessment/submit/{MONTH}?lang=en&done=submitted"
    after = client.get(sent.headers["location"])
    assert MARKUP not in after.text and html.escape(MARKUP, quote=True) in after.text
    row = re.search(r'data-station="S01" data-indicator="P01">.*?</tr>', after.text, re.S)
    assert EN["statuses"]["late"] in row.group(0)  # after the 27th
    assert EN["flags"]["changed_from_prefill"] in row.group(0)
    untouched = re.search(r'data-station="S01" data-indicator="P04">.*?</tr>', after.text, re.S)
    assert EN["statuses"]["missing"] in untouched.group(0)  # left blank: not sent


def test_an_upload_names_its_problems_by_file_row_and_column(desk):
    app, *_ = desk
    client = signed_in(app, "political")
    page = client.get(f"/assessment/submit/{MONTH}")
    bad = "station_id,indicator_id,value\nS01,L01,90\nS02,L01,ninety\n"
    refused = client.post(
        f"/assessment/submit/{MONTH}/upload",
        data={"csrf": csrf_of(page), "lang": "en"},
        files={"file": ("l01.csv", bad, "text/csv")},
    )
    assert refused.status_code == 422
    assert "l01.csv:3:value: not a number: 'ninety'" in visible(refused)
    good = "station_id,indicator_id,value\nS01,L01,90\n"
    sent = client.post(
        f"/assessment/submit/{MONTH}/upload",
        data={"csrf": csrf_of(page), "lang": "en"},
        files={"file": ("l01.csv", good, "text/csv")},
    )
    assert sent.status_code == 200 and EN["done"]["submitted"] in sent.text
    empty = client.post(
        f"/assessment/submit/{MONTH}/upload",
        data={"csrf": csrf_of(page)},
        files={"file": ("", b"")},
    )
    assert empty.status_code == 422 and EN["no_file"] in empty.text


def test_every_form_needs_the_pages_token_from_this_origin(desk):
    app, *_ = desk
    posts = {
        "command": f"/assessment/submit/{MONTH}",
        "office": f"/assessment/office/{MONTH}/close",
        "s01": "/assessment/station/flex",
    }
    for name, path in posts.items():
        client = signed_in(app, name)
        token = csrf_of(client.get("/assessment", follow_redirects=True))
        fields = {"station.0": "S01", "indicator.0": "P04", "value.0": "1", "reason": "r"}
        fields |= {"indicator.0": "S03", "weight.0": "6"} if name == "s01" else {}
        assert client.post(path, data=fields).status_code == 403, name
        assert client.post(path, data={**fields, "csrf": "guessed"}).status_code == 403, name
        cross = client.post(
            path, data={**fields, "csrf": token}, headers={"Origin": "https://evil.example"}
        )
        assert cross.status_code == 403, name
    office = signed_in(app, "office")
    assert office.get(f"/assessment/office/{MONTH}").text.count(EN["statuses"]["missing"]) > 1
    assert EN["no_submissions"] in office.get(f"/assessment/office/{MONTH}").text
    assert EN["no_flex"] in office.get("/assessment/office").text


def test_the_office_reviews_returns_and_closes_the_month(desk):
    app, jobs, data, removed = desk
    submit_all(app, removed, "political")
    office = signed_in(app, "office")
    review = office.get(f"/assessment/office/{MONTH}?lang=zh")
    counts = re.search(r'<tr data-department="political">.*?</tr>', review.text).group(0)
    assert [int(n) for n in re.findall(r'class="num">(\d+)<', counts)] == [0, 12, 0, 0]
    shown = visible(review)
    assert ZH["statuses"]["late"] in shown and ZH["statuses"]["missing"] in shown
    assert not any(raw in shown for raw in RAW_IDS + ("missing", "late", "submitted"))
    submission = re.search(r'data-submission="([0-9a-f]{32})"', review.text).group(1)
    comment = "<script>alert(1)</script> S02 looks copied"
    returned = office.post(
        f"/assessment/office/{MONTH}/return/{submission}",
        data={"csrf": csrf_of(review), "lang": "zh", "comment": comment},
    )
    assert returned.status_code == 200 and ZH["done"]["returned"] in returned.text
    department = signed_in(app, "political").get(f"/assessment/submit/{MONTH}")
    assert comment not in department.text and html.escape(comment) in department.text
    assert EN["statuses"]["returned"] in department.text

    refused = office.post(
        f"/assessment/office/{MONTH}/close", data={"csrf": csrf_of(review), "lang": "zh"}
    )
    assert refused.status_code == 409 and ZH["close_refused"] in refused.text
    missing = re.search(r'class="problems missing">.*?</table>', refused.text, re.S).group(0)
    assert "L01" in missing and "investigation" in missing
    assert not (data / "scores.csv").read_text().count(MONTH)

    closed = office.post(
        f"/assessment/office/{MONTH}/close",
        data={"csrf": csrf_of(review), "lang": "zh", "reason": "<i>late survey</i>"},
        follow_redirects=False,
    )
    assert closed.status_code == 303
    (job,) = jobs.jobs.values()
    assert job.plan_month == "2026-01"
    page = office.get(closed.headers["location"])
    assert ZH["job_queued"].format(job=job.id) in page.text
    assert f'href="/assessment/jobs/{job.id}?lang=zh"' in page.text
    assert "&lt;i&gt;late survey&lt;/i&gt;" in page.text
    assert f'href="/api/assessment/{MONTH}/bulletin?format=docx"' in page.text
    follow = office.get(f"/assessment/jobs/{job.id}?lang=zh")
    assert texts("zh", "serve")["desk"]["job_states"]["queued"] in follow.text
    assert '<meta http-equiv="refresh"' in follow.text
    assert office.get(f"/assessment/jobs/{'0' * 32}").status_code == 404
    assert ZH["month_states"]["closed"] in page.text and 'id="close"' not in page.text


def _closed(app, removed) -> None:
    submit_all(app, removed, "political")
    office = signed_in(app, "office")
    page = office.get(f"/assessment/office/{MONTH}")
    done = office.post(
        f"/assessment/office/{MONTH}/close",
        data={"csrf": csrf_of(page), "reason": "the other departments report next week"},
    )
    assert done.status_code == 200, visible(done)


def _appeal(app, station: str, reason: str, attachment=None):
    client = signed_in(app, station)
    page = client.get(f"/assessment/station/{MONTH}")
    return client.post(
        f"/assessment/station/{MONTH}/appeal",
        data={"csrf": csrf_of(page), "lang": "en", "indicator_id": "L01", "reason": reason},
        files={"attachment": attachment or ("", b"")},
    )


def test_a_station_appeals_and_sees_only_its_own_appeals_and_results(desk):
    app, _, data, removed = desk
    assert signed_in(app, "s01").get(f"/assessment/station/{MONTH}").status_code == 404
    _closed(app, removed)
    station = signed_in(app, "s01")
    home = station.get("/assessment/station")
    assert f'href="/assessment/station/{MONTH}?lang=en"' in home.text
    results = station.get(f"/assessment/station/{MONTH}")
    l01 = removed.query("station_id == 'S01' and indicator_id == 'L01'")["value"].iloc[0]
    assert re.search(rf'data-indicator="L01">.*?>{l01:g}</td>', results.text, re.S)
    assert 'data-indicator="P01"' not in results.text  # its department never sent it
    wrong = _appeal(app, "s01", "see the notes", ("notes.txt", b"plain text", "text/plain"))
    assert wrong.status_code == 415 and "a PDF, PNG or JPEG" in wrong.text
    assert ">see the notes</textarea>" in wrong.text  # what was typed is kept
    filed = _appeal(app, "s01", MARKUP, ("minutes.pdf", b"%PDF-1.4 minutes", "application/pdf"))
    assert filed.status_code == 200 and EN["done"]["appealed"] in filed.text
    assert _appeal(app, "s02", "our open day was missed").status_code == 200
    own = visible(station.get(f"/assessment/station/{MONTH}"))
    assert MARKUP in own and "our open day" not in own
    assert EN["appeal_states"]["pending"] in own

    office = signed_in(app, "office")
    review = office.get(f"/assessment/office/{MONTH}")
    assert html.escape(MARKUP) in review.text and "minutes.pdf" in review.text
    appeal = re.search(r'data-appeal="([0-9a-f]{32})"><td>S01', review.text).group(1)
    path = f"/assessment/office/{MONTH}/appeals/{appeal}/decide"
    token = csrf_of(review)
    no_value = office.post(path, data={"csrf": token, "decision": "upheld", "reason": "ok"})
    assert no_value.status_code == 422 and EN["bad_value"] in no_value.text
    decided = office.post(
        path, data={"csrf": token, "decision": "upheld", "value": "84.5", "reason": "counted"}
    )
    assert decided.status_code == 200 and EN["done"]["decided"] in decided.text
    scores = pd.read_csv(data / "scores.csv").set_index(["station_id", "month", "indicator_id"])
    assert scores.loc[("S01", MONTH, "L01"), "value"] == 84.5
    after = visible(station.get(f"/assessment/station/{MONTH}"))
    assert EN["value_change"].format(before=f"{l01:g}", after="84.5") in after
    assert EN["appeal_states"]["upheld"] in after and "counted" in after


def test_a_flexible_weight_application_is_checked_then_decided(desk):
    app, _, data, _ = desk
    station = signed_in(app, "s01")
    page = station.get("/assessment/station?lang=zh")
    choices = dict(re.findall(r'name="indicator\.(\d+)" value="([^"]+)"', page.text))
    at = {indicator: n for n, indicator in choices.items()}
    token = csrf_of(page)
    base = {"csrf": token, "lang": "zh", **{f"indicator.{n}": i for n, i in choices.items()}}
    refused = station.post("/assessment/station/flex", data={**base, f"weight.{at['P01']}": "60"})
    assert refused.status_code == 422 and "P01" in visible(refused)
    assert f'name="weight.{at["P01"]}" value="60"' in refused.text
    bad = station.post("/assessment/station/flex", data={**base, f"weight.{at['S03']}": "x"})
    assert bad.status_code == 422 and ZH["bad_weight"].format(indicator="S03") in bad.text
    sent = station.post("/assessment/station/flex", data={**base, f"weight.{at['S03']}": "6"})
    assert sent.status_code == 200 and ZH["done"]["applied"] in sent.text
    assert ZH["flex_states"]["pending"] in sent.text

    office = signed_in(app, "office")
    listed = office.get("/assessment/office")
    application = re.search(r'data-application="([0-9a-f]{32})"', listed.text).group(1)
    decided = office.post(
        f"/assessment/office/flex/{application}/decide",
        data={"csrf": csrf_of(listed), "decision": "approved", "reason": "community focus"},
    )
    assert decided.status_code == 200 and EN["flex_states"]["approved"] in decided.text
    flex = pd.read_csv(data / "flex_weights.csv", dtype=str)
    assert flex[["station_id", "indicator_id", "weight"]].values.tolist() == [["S01", "S03", "6"]]
    assert ZH["flex_states"]["approved"] in station.get("/assessment/station?lang=zh").text


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_each_pages_headings_come_from_the_catalogue(desk, lang):
    app, *_ = desk
    words = texts(lang, "serve")["assessment"]
    pages = {
        "command": [
            ("/assessment/submit", words["months_title"]),
            (f"/assessment/submit/{MONTH}", words["month_title"].format(month=MONTH)),
        ],
        "office": [
            ("/assessment/office", words["office_title"]),
            (f"/assessment/office/{MONTH}", words["review_title"].format(month=MONTH)),
        ],
        "s01": [("/assessment/station", words["results_title"])],
    }
    for name, shown in pages.items():
        client = signed_in(app, name)
        for path, title in shown:
            page = client.get(f"{path}?lang={lang}")
            assert page.status_code == 200, path
            assert f"<h1>{html.escape(title)}</h1>" in page.text, path
            text = visible(page)
            assert not any(raw in text for raw in RAW_IDS), path
            role = texts(lang, "serve")["roles"][app_role(name)]
            assert role in text, path


def app_role(name: str) -> str:
    return {"command": "department", "office": "assessor", "s01": "station"}[name]


def test_a_desk_without_the_data_folder_says_why(desk):
    app, *_ = desk
    app.state.service.settings.data = None
    page = signed_in(app, "command").get("/assessment/submit")
    assert page.status_code == 409
    assert texts("en", "serve")["desk"]["assessment_no_data"] in visible(page)


def test_the_values_form_reads_its_rows_and_places_problems_by_row():
    fields = {
        **{"station.0": "S01", "indicator.0": "P01", "value.0": " 12 ", "note.0": "ledger"},
        **{"station.1": "S02", "indicator.1": "P01", "value.1": "", "note.1": ""},
        **{"station.2": "S03", "indicator.2": "P01", "value.2": "7"},
        "station.4": "S09",  # after a gap: not part of the form
    }
    rows = form_rows(fields)
    assert [(r["station_id"], r["value"], r["note"]) for r in rows] == [
        ("S01", "12", "ledger"),
        ("S02", "", ""),
        ("S03", "7", ""),
    ]
    sent = sent_rows(rows)
    assert [r["station_id"] for r in sent] == ["S01", "S03"]
    problems = [Problem("rows", 2, "value", "too big"), Problem("rows", 0, "(file)", "empty")]
    by_row, others = problems_by_row(problems, sent)
    assert by_row == {("S03", "P01"): ["value: too big"]}
    assert others == ["rows:0:(file): empty"]


MONTHS = [month_after("2023-01", n) for n in range(41)]


@given(
    st.sets(st.sampled_from(MONTHS), max_size=30),
    st.sets(st.sampled_from(MONTHS), max_size=10),
    st.sampled_from(MONTHS),
)
def test_open_months_run_from_the_files_last_month_to_now_less_the_closed(recorded, closed, now):
    before = recorded - closed  # months scores.csv holds from before the desk
    listed = open_months(now, recorded, closed)
    starts = (lambda m: m > max(before)) if before else (lambda m: m == now)
    assert listed == [m for m in MONTHS if starts(m) and m <= now and m not in closed]


def test_a_station_reads_its_grade_and_rank_from_the_plan_of_the_month_after(
    demo_run, demo_copy, tmp_path
):
    out = served_copy(demo_run, tmp_path)  # holds the plan of 2026-01, which assessed MONTH
    removed = pd.read_csv(demo_copy / "scores.csv").query("month == @MONTH")
    app = desk_app(desk_settings(demo_copy, out))
    _closed(app, removed)
    page = signed_in(app, "s01").get(f"/assessment/station/{MONTH}?lang=zh")
    scores = pd.read_csv(demo_run / "scores.csv", dtype=str).query("station_id == 'S01'")
    grade, rank, size = scores[["grade", "rank", "group_size"]].iloc[0]
    standing = visible(page)
    assert f"{ZH['grade']}: {texts('zh', 'terms')[grade]}" in standing
    assert texts("zh", "serve")["desk"]["rank_of"].format(rank=rank, size=size) in standing
