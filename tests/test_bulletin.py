"""The monthly bulletin (SPEC §17) of the demo's assessed month 2025-12, read from its plan for
2026-01: every station with its grade in the DOCX, headings in both languages, a station's own
bulletin, markup in names as text, the desk's late and returned reports, the change from last
month, the adopted plan, and bad input refused by name."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import docx
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.assessment.bulletin import (
    NOT_XML,
    Bulletin,
    NoBulletin,
    Section,
    Table,
    bulletin,
    bulletin_docx,
    bulletin_html,
)
from optimizer.i18n import vocabulary

MONTH = "2025-12"  # the demo's assessed month; its plan is for 2026-01
NO_REPORTS = pd.DataFrame(columns=["department", "indicator_id", "station_id", "status"])
REPORTS = pd.DataFrame(
    [
        ("traffic", "P02", "S01", "late"),
        ("crime", "M01", "S02", "returned"),
        ("crime", "M02", "S07", "late"),
        ("crime", "M01", "S03", "submitted"),
        ("service", "S01", "S04", "missing"),
    ],
    columns=["department", "indicator_id", "station_id", "status"],
)
HOSTILE = "<script>alert(1)</script>"
BULKY = ("missions*", "schedule.*", "map.html", "report.html", "plan.gpkg", "risk.csv")


@pytest.fixture(scope="module")
def out(demo_run) -> Path:
    """The demo's output folder, read only."""
    return demo_run.parents[1]


def copied(demo_run: Path, out: Path, scenario: str = "baseline") -> Path:
    """The demo's plan for 2026-01 copied to `out/2026-01/<scenario>` (less the files a
    bulletin does not read), for a test to change."""
    folder = out / "2026-01" / scenario
    shutil.copytree(demo_run, folder, ignore=shutil.ignore_patterns(*BULKY))
    return folder


def scores_of(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "scores.csv", dtype={"station_id": str})


def names_of(folder: Path) -> dict[str, str]:
    layer = json.loads((folder / "jurisdictions.geojson").read_text(encoding="utf-8"))
    return {f["properties"]["station_id"]: f["properties"]["name"] for f in layer["features"]}


def section(b: Bulletin, title: str) -> Section:
    return next(s for s in b.sections if s.title.startswith(title))


def rows(s: Section) -> list[dict[str, str]]:
    assert s.table is not None, s.sentences
    return [dict(zip(s.table.headers, row, strict=True)) for row in s.table.rows]


def docx_rows(data: bytes) -> list[list[str]]:
    """Every table row of a DOCX, as the text of its cells."""
    document = docx.Document(io.BytesIO(data))
    return [[c.text for c in row.cells] for t in document.tables for row in t.rows]


def test_docx_names_every_station_with_its_name_and_grade(demo_run, out):
    b = bulletin(out, MONTH, NO_REPORTS, "en")
    data = bulletin_docx(b)
    document = docx.Document(io.BytesIO(data))
    assert document.paragraphs[0].text == "Assessment bulletin 2025-12"
    assert document.paragraphs[0].style.name == "Title"
    graded = {row[1]: row for row in docx_rows(data) if len(row) == 8 and row[0] != "Rank"}
    names = names_of(demo_run)
    scores = scores_of(demo_run)
    assert set(graded) == set(scores["station_id"]) == set(names)
    for r in scores.itertuples():
        rank, station, name, score, *_, grade, _places = graded[r.station_id]
        assert (rank, name, grade) == (str(r.rank), names[r.station_id], r.grade)
        assert score == f"{r.total_with_bonus:.1f}"


def test_headings_in_chinese_and_english(out):
    en, zh = (bulletin(out, MONTH, REPORTS, lang) for lang in ("en", "zh"))
    assert [s.title for s in en.sections] == [
        "Summary",
        "Grades and ranks: public security (3 stations)",
        "Grades and ranks: regional (9 stations)",
        "Red-line vetoes",
        "Last in the peer group",
        "Late, returned and missing reports",
        "Data-quality flags",
        "Training: 147 seats in 9 course(s)",
    ]
    assert [s.title for s in zh.sections] == [
        "概况",
        "等次与排名：治安派出所（3 个所）",
        "等次与排名：地区派出所（9 个所）",
        "一票否决",
        "组内末位",
        "迟报、退回与缺报",
        "数据质量问题",
        "培训：9 门课程共 147 个名额",
    ]
    assert zh.title == "2025-12 考核通报"
    assert zh.subtitle == "考核月份：2025-12 · 2026-01 方案：基准方案"
    assert en.sections[0].sentences[0] == (
        "12 stations assessed: 3 excellent, 4 good, 4 qualified, 1 unqualified."
    )
    assert zh.sections[0].sentences[0] == (
        "共考核 12 个派出所：优秀 3 个，良好 4 个，合格 4 个，不合格 1 个。"
    )
    assert zh.sections[1].table.headers == (
        "排名", "派出所", "名称", "得分", "得分变化", "名次变化", "等级", "表彰名额",
    )  # fmt: skip
    zh_docx = docx.Document(io.BytesIO(bulletin_docx(zh)))
    headings = [p.text for p in zh_docx.paragraphs if p.style.name == "Heading 1"]
    assert headings == [s.title for s in zh.sections]
    page = bulletin_html(zh)
    assert '<html lang="zh-CN">' in page and "<h2>等次与排名：地区派出所（9 个所）</h2>" in page


def test_a_station_reads_only_its_own_rows(demo_run, out):
    names = names_of(demo_run)
    b = bulletin(out, MONTH, REPORTS, "zh", station="S07")
    assert b.title == f"2025-12 考核通报：S07 {names['S07']}"
    assert b.sections[0].sentences[0] == (
        f"S07 {names['S07']}：不合格，得分 74.8，在治安派出所组 3 个所中排名第 3。"
    )
    for s in b.sections:
        if s.table is not None:
            assert {r["派出所"] for r in rows(s)} == {"S07"}, s.title
    others = [name for station, name in names.items() if station != "S07"]
    page, data = bulletin_html(b), bulletin_docx(b)
    text = "\n".join("\t".join(row) for row in docx_rows(data))
    assert names["S07"] in page and names["S07"] in text
    assert not [n for n in others if n in page or n in text]
    assert rows(section(b, "迟报")) == [
        {"报送部门": "crime", "指标": "M02", "派出所": "S07", "名称": names["S07"], "状态": "迟报"}
    ]


def test_late_returned_and_missing_reports_appear_and_submitted_do_not(demo_run, out):
    names = names_of(demo_run)
    reports = section(bulletin(out, MONTH, REPORTS, "en"), "Late, returned")
    assert reports.sentences == ("1 returned, 2 late, 1 missing.",)
    assert [(r["Station"], r["Name"], r["Indicator"], r["Status"]) for r in rows(reports)] == [
        ("S02", names["S02"], "M01", "returned"),
        ("S07", names["S07"], "M02", "late"),
        ("S01", names["S01"], "P02", "late"),
        ("S04", names["S04"], "S01", "missing"),
    ]  # returned first, then late, then missing; by department, indicator and station
    page = bulletin_html(bulletin(out, MONTH, REPORTS, "zh"))
    assert page.count("<td>迟报</td>") == 2 and page.count("<td>退回</td>") == 1
    none = section(bulletin(out, MONTH, NO_REPORTS, "en"), "Late, returned")
    assert none.table is None and none.sentences == ("0 returned, 0 late, 0 missing.", "none")


def test_markup_and_control_characters_in_a_name_are_text(demo_run, tmp_path):
    folder = copied(demo_run, tmp_path)
    layer = json.loads((folder / "jurisdictions.geojson").read_text(encoding="utf-8"))
    layer["features"][0]["properties"]["name"] = HOSTILE + "\x0b"
    station = layer["features"][0]["properties"]["station_id"]
    (folder / "jurisdictions.geojson").write_text(json.dumps(layer), encoding="utf-8")
    b = bulletin(tmp_path, MONTH, NO_REPORTS, "en", station=station)
    page = bulletin_html(b)
    assert "<script" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3  # title, heading, cells
    cells = [cell for row in docx_rows(bulletin_docx(b)) for cell in row]
    assert HOSTILE in cells  # the vertical tab, which XML cannot hold, left out


def test_changes_against_the_previous_months_plan_carried_out(demo_run, tmp_path):
    copied(demo_run, tmp_path)
    before = scores_of(demo_run).assign(month="2025-11").set_index("station_id")
    assert before.loc[["S08", "S02", "S04"], "rank"].tolist() == [1, 2, 3]  # regional, now
    before.loc["S08", "total_with_bonus"] += 3.6
    before.loc["S08", "rank"] = 2
    before.loc["S02", "rank"] = 1
    previous = tmp_path / "2025-12" / "baseline"
    previous.mkdir(parents=True)
    before.reset_index().to_csv(previous / "scores.csv", index=False)
    b = bulletin(tmp_path, MONTH, NO_REPORTS, "en")
    assert b.sections[0].sentences[1] == "Changes are against the assessment of 2025-11."
    regional = {r["Station"]: r for r in rows(section(b, "Grades and ranks: regional"))}
    assert (regional["S08"]["Score change"], regional["S08"]["Places gained"]) == ("-3.6", "+1")
    assert (regional["S02"]["Score change"], regional["S02"]["Places gained"]) == ("0.0", "-1")
    assert (regional["S04"]["Score change"], regional["S04"]["Places gained"]) == ("0.0", "0")


def test_without_the_previous_month_the_quarters_compare(demo_run, out):
    rollups = pd.read_csv(demo_run / "rollups.csv", dtype={"station_id": str})
    quarter = rollups.set_index(["station_id", "period"])
    b = bulletin(out, MONTH, NO_REPORTS, "en")
    assert b.sections[0].sentences[1] == (
        "No assessment of 2025-11 is in this output folder: changes compare the quarter "
        "2025-Q4 with 2025-Q3 (means of their months)."
    )
    s09 = next(r for r in rows(b.sections[1]) if r["Station"] == "S09")
    change = quarter.loc[("S09", "2025-Q4"), "total"] - quarter.loc[("S09", "2025-Q3"), "total"]
    gained = quarter.loc[("S09", "2025-Q3"), "rank"] - quarter.loc[("S09", "2025-Q4"), "rank"]
    assert s09["Score change"] == f"{change:+.1f}"
    assert s09["Places gained"] == (f"{gained:+d}" if gained else "0")


def test_the_plan_carried_out_is_the_adopted_one(demo_run, tmp_path):
    adopted = copied(demo_run, tmp_path, "campaign")
    scores = scores_of(adopted)
    scores.loc[scores["station_id"] == "S01", "grade"] = "excellent"
    scores.to_csv(adopted / "scores.csv", index=False)
    plan = json.loads((adopted / "plan.json").read_text(encoding="utf-8"))
    (adopted / "plan.json").write_text(json.dumps({**plan, "scenario": "campaign"}), "utf-8")
    entry = {
        "recorded_at": "2026-01-02T08:00:00Z", "plan_month": "2026-01", "scenario": "campaign",
        "folder": "2026-01/campaign", "data_dir": "", "files": {}, "action": "adopt",
        "user": "chief", "seq": 1, "prev_hash": "", "entry_hash": "",
    }  # fmt: skip
    (tmp_path / "audit.jsonl").write_text(json.dumps(entry) + "\n", encoding="utf-8")
    b = bulletin(tmp_path, MONTH, NO_REPORTS, "en", station="S01")
    assert (b.scenario, b.subtitle) == (
        "campaign",
        "Month assessed: 2025-12 · plan for 2026-01: campaign",
    )
    assert rows(section(b, "Grades and ranks"))[0]["Grade"] == "excellent"


def test_bad_input_is_refused_by_name(out, tmp_path):
    with pytest.raises(ValueError, match="'2025-13' is not a month written YYYY-MM"):
        bulletin(out, "2025-13", NO_REPORTS, "en")
    with pytest.raises(NoBulletin, match=r"2025-11 has no finished plan \(2025-12/baseline\)"):
        bulletin(out, "2025-11", NO_REPORTS, "en")
    with pytest.raises(NoBulletin, match="station 'S99' has no assessment for 2025-12"):
        bulletin(out, MONTH, NO_REPORTS, "en", station="S99")
    with pytest.raises(ValueError, match="reports lack column.s. status"):
        bulletin(out, MONTH, REPORTS.drop(columns="status"), "en")
    with pytest.raises(ValueError, match="unknown status 'lost'"):
        bulletin(out, MONTH, REPORTS.assign(status="lost"), "en")
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        bulletin(out, MONTH, NO_REPORTS, "fr")
    assert bulletin(out, MONTH, pd.DataFrame(), "en").month == MONTH  # no review items at all


def test_every_product_word_of_the_bulletin_is_translated(out):
    """No grade, status or check falls back to its English code in the Chinese bulletin."""
    zh = bulletin(out, MONTH, REPORTS, "zh")
    en_words = {vocabulary("en").term(g) for g in ("excellent", "good", "qualified")}
    cells = {cell for s in zh.sections if s.table for row in s.table.rows for cell in row}
    assert not cells & (en_words | {"late", "returned", "missing", "error", "warning"})


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40))
def test_any_text_makes_a_document_that_keeps_what_xml_can_hold(text):
    b = Bulletin(
        "en", MONTH, "2026-01", "baseline", None, text, text,
        (Section(text, (text,), Table((text,), ((text,),))),),
    )  # fmt: skip
    document = docx.Document(io.BytesIO(bulletin_docx(b)))
    kept = NOT_XML.sub("", text)
    assert document.tables[0].rows[1].cells[0].text == kept.replace("\r", "\n")
    assert document.core_properties.title == kept
