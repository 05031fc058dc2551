"""The monthly bulletin (SPEC §17) that the assessment office circulates once a month
is closed and planned: grades and ranks by peer group with the change from last month, red-line
vetoes, stations last in their group, late, returned and missing reports, data-quality flags and
the training assigned. A station reads the same bulletin cut to its own rows.

The bulletin of assessed month M is read from the plan the bureau carries out for M+1
(`OUT/<M+1>/<scenario>/`, the adopted scenario, else the baseline; optimizer/adoption.py)
through the report's reader and labels (optimizer/report): `bulletin` gathers it into titled
sections of sentences and text tables, `bulletin_docx` writes it for circulation (python-docx,
the desk's `serve` extra) and `bulletin_html` as a page (jinja2, autoescaped, so markup in a
station's name reads as text)."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from markupsafe import Markup

from geo.legend import FONTS
from models.months import MONTH_PATTERN, next_month, previous_month
from models.scoring import GRADES
from optimizer.adoption import logged_adoption
from optimizer.assessment.desk import REVIEW_STATUSES
from optimizer.i18n import texts, vocabulary
from optimizer.manifest import OUTPUTS, PLAN_FILE
from optimizer.report.environment import environment
from optimizer.report.render import table
from optimizer.report.runs import Run, load_runs

REPORT_COLUMNS = ("department", "indicator_id", "station_id", "status")  # the desk's review items
NAMED_STATUSES = ("returned", "late", "missing")  # the ones a bulletin names, in this order
ROLLUPS, AWARDS, SCORES = (OUTPUTS[n].name for n in ("rollups.csv", "awards.csv", "scores.csv"))
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
TOTAL_RANK = ["station_id", "total", "rank"]  # what a change compares, as rollups.csv names it
EAST_ASIAN_FONT = "SimSun"  # Word's font for Chinese characters in the DOCX


class NoBulletin(LookupError):
    """The month has no finished plan to read a bulletin from, or the station none of its
    rows."""


@dataclass(frozen=True)
class Table:
    """A table as read: headings and rows of text (figures already rounded)."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Section:
    """One titled part of the bulletin: sentences, then a table (None when there is none)."""

    title: str
    sentences: tuple[str, ...] = ()
    table: Table | None = None


@dataclass(frozen=True)
class Bulletin:
    """The bulletin of assessed month `month` in `lang`, read from the plan for `plan_month`
    (`scenario`); `station` set when it is one station's own."""

    lang: str
    month: str
    plan_month: str
    scenario: str
    station: str | None
    title: str
    subtitle: str
    sections: tuple[Section, ...]


def bulletin(
    folder: Path, month: str, reports: pd.DataFrame, lang: str, station: str | None = None
) -> Bulletin:
    """The bulletin of assessed month `month` (YYYY-MM) from output folder `folder` (the one
    holding the plan months), in `lang`. `reports` are the desk's review items (`department,
    indicator_id, station_id, status`, status one of `REVIEW_STATUSES`); with `station`, only
    that station's rows. Raises `NoBulletin` when the month has no finished plan or the
    station no score in it, `ValueError` for a malformed month or `reports`."""
    if not isinstance(month, str) or not re.fullmatch(MONTH_PATTERN, month):
        raise ValueError(f"month {month!r} is not a month written YYYY-MM")
    t = texts(lang, "bulletin")
    items = review_items(reports)
    folder = Path(folder)
    plan_month = next_month(month)
    scenario = logged_adoption(folder, plan_month).scenario
    run_folder = folder / plan_month / scenario
    if not (run_folder / PLAN_FILE).is_file():
        raise NoBulletin(f"{month} has no finished plan ({plan_month}/{scenario})")
    run = load_runs([run_folder], lang=lang)[0]
    if station is not None and station not in set(run.scores["station_id"]):
        raise NoBulletin(f"station {station!r} has no assessment for {month}")
    change, basis = changes(run, folder, month, lang)
    scores = run.scores.merge(change, on="station_id", how="left")
    scores = scores.merge(_awards(run.folder), on="station_id", how="left")
    if station is not None:
        scores = scores[scores["station_id"] == station]
        items = items[items["station_id"] == station]
    view = _View(run, lang, station)
    sections = [
        Section(t["summary"], (*view.summary(scores), basis)),
        *view.grades(scores),
        view.vetoes(scores),
        view.last_places(scores),
        view.reports(items),
        view.quality(),
        view.training(),
    ]
    heading = t["title"].format(month=month)
    if station is not None:
        heading = t["station_title"].format(title=heading, station=view.label(station))
    subtitle = t["subtitle"].format(month=month, plan_month=plan_month, scenario=run.label)
    return Bulletin(lang, month, plan_month, scenario, station, heading, subtitle, tuple(sections))


def review_items(reports: pd.DataFrame) -> pd.DataFrame:
    """The desk's review items as text (`REPORT_COLUMNS`); a frame without columns is none.
    Raises `ValueError` naming missing columns or unknown statuses."""
    if reports.empty and len(reports.columns) == 0:
        return pd.DataFrame(columns=list(REPORT_COLUMNS), dtype=str)
    missing = [c for c in REPORT_COLUMNS if c not in reports.columns]
    if missing:
        raise ValueError(
            f"reports lack column(s) {', '.join(missing)}: expected {', '.join(REPORT_COLUMNS)}"
        )
    items = reports[list(REPORT_COLUMNS)].fillna("").astype(str)
    unknown = sorted(set(items["status"]) - set(REVIEW_STATUSES))
    if unknown:
        raise ValueError(
            f"reports: unknown status {', '.join(map(repr, unknown))}: "
            f"one of {', '.join(REVIEW_STATUSES)}"
        )
    return items.reset_index(drop=True)


def changes(run: Run, folder: Path, month: str, lang: str) -> tuple[pd.DataFrame, str]:
    """`station_id, total_change, rank_change` (text: points of total with bonus, places
    gained) and a sentence saying against what: the previous month's plan carried out
    (`OUT/<M>/<scenario>/scores.csv`) where present, else the quarter of `month` against the
    quarter before it (`rollups.csv`, quarter means), else nothing."""
    t = texts(lang, "bulletin")
    last = previous_month(month)
    path = Path(folder) / month / logged_adoption(folder, month).scenario / SCORES
    if path.is_file():
        ranked = ["station_id", "total_with_bonus", "rank"]
        before = pd.read_csv(path, dtype={"station_id": str}, usecols=ranked)[ranked]
        now, before = (f[ranked].set_axis(TOTAL_RANK, axis=1) for f in (run.scores, before))
        basis = t["against_month"].format(month=last)
    else:
        quarters = _quarters(run.folder / ROLLUPS, month)
        if quarters is None:
            return pd.DataFrame(columns=["station_id", "total_change", "rank_change"]), t[
                "no_change"
            ].format(month=last)
        now, before, (this, previous) = quarters
        basis = t["against_quarter"].format(month=last, quarter=this, previous=previous)
    both = now[TOTAL_RANK].merge(before[TOTAL_RANK], "left", "station_id", suffixes=("", "_0"))
    gained = both["rank_0"] - both["rank"]
    return (
        pd.DataFrame(
            {
                "station_id": both["station_id"],
                "total_change": (both["total"] - both["total_0"]).map(_signed_points),
                "rank_change": gained.map(_signed_places),
            }
        ),
        basis,
    )


def _quarters(path: Path, month: str) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, str]] | None:
    """The rollups of the quarter of `month` and of the quarter before it, and their names;
    None without `rollups.csv` or the earlier quarter."""
    if not path.is_file():
        return None
    rollups = pd.read_csv(path, dtype={"station_id": str, "period": str})
    quarter = pd.Period(month, "M").asfreq("Q")
    this, previous = (str(q).replace("Q", "-Q") for q in (quarter, quarter - 1))
    now, before = (rollups[rollups["period"] == p] for p in (this, previous))
    if now.empty or before.empty:
        return None
    return now, before, (this, previous)


def _signed_points(value: float) -> str:
    """A change of total to one decimal with its sign ("+1.5", "-0.3", "0.0"); "" unknown."""
    if pd.isna(value):
        return ""
    rounded = round(float(value), 1) + 0.0  # no "-0.0"
    return f"{rounded:+.1f}" if rounded else "0.0"


def _signed_places(value: float) -> str:
    """Places gained in rank with their sign ("+2", "-1", "0"); "" unknown."""
    return "" if pd.isna(value) else f"{int(value):+d}" if value else "0"


def _awards(folder: Path) -> pd.DataFrame:
    """`station_id, places`: commendation places (`awards.csv`; none for a run without it)."""
    path = folder / AWARDS
    if not path.is_file():
        return pd.DataFrame({"station_id": pd.Series(dtype=str), "places": pd.Series(dtype=int)})
    return pd.read_csv(path, dtype={"station_id": str})[["station_id", "places"]]


class _View:
    """The sections of one run's bulletin in one language, cut to `station` when given."""

    def __init__(self, run: Run, lang: str, station: str | None) -> None:
        self.run, self.lang, self.station = run, lang, station
        self.t, self.report = texts(lang, "bulletin"), texts(lang, "report")
        self.words = vocabulary(lang, run.names)
        self.names = run.station_names

    def label(self, station: str) -> str:
        """A station as a reader names it: its id and name."""
        return f"{station} {self.names.get(station, '')}".strip()

    def own(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`frame`'s rows of the station read for (all rows for the bureau)."""
        if self.station is None:
            return frame
        return frame[frame["station_id"].astype(str) == self.station]

    def section(self, title: str, frame: pd.DataFrame, sentences: tuple[str, ...] = ()) -> Section:
        """A titled table of `frame` (codes in words, station names after their ids, figures
        to one decimal; headings of the bulletin's own columns from its catalogue), "none"
        where it has no row."""
        if frame.empty:
            return Section(title, (*sentences, self.report["none"]))
        named = frame.rename(columns=self.t["columns"])
        cells = table(named, self.lang, self.names, len(named), 1, self.run.names)
        return Section(title, sentences, Table(tuple(cells["headers"]), _rows(cells["rows"])))

    def summary(self, scores: pd.DataFrame) -> tuple[str, ...]:
        """The bureau's grades counted, or the station's result in a sentence."""
        if self.station is not None:
            r = scores.iloc[0]
            return (
                self.t["station_result"].format(
                    station=self.label(self.station),
                    grade=self.words.term(r["grade"]),
                    score=f"{r['total_with_bonus']:.1f}",
                    rank=int(r["rank"]),
                    size=int(r["group_size"]),
                    group=self.words.term(r["station_type"], "station_type"),
                ),
            )
        counts = scores["grade"].value_counts()
        grades = self.t["list_separator"].join(
            self.t["grade_count"].format(n=int(counts[g]), grade=self.words.term(g))
            for g in GRADES
            if g in counts
        )
        return (self.t["assessed"].format(n=len(scores), grades=grades),)

    def grades(self, scores: pd.DataFrame) -> list[Section]:
        """One table per peer group (station type), best rank first."""
        columns = [
            "rank", "station_id", "total_with_bonus", "total_change", "rank_change", "grade",
            "places",
        ]  # fmt: skip
        out = []
        for kind, group in scores.groupby("station_type", sort=True):
            title = self.t["group"].format(
                group=self.words.term(kind, "station_type"), n=int(group["group_size"].iloc[0])
            )
            rows = group.sort_values(["rank", "station_id"])[columns]
            places = rows["places"].fillna(0).astype(int)  # none for a run without awards.csv
            out.append(self.section(title, rows.assign(places=places)))
        return out

    def vetoes(self, scores: pd.DataFrame) -> Section:
        """Stations graded unqualified by a red-line indicator whatever their score."""
        vetoed = scores[scores["veto"]].sort_values("station_id")
        columns = ["station_id", "station_type", "total_with_bonus", "grade"]
        return self.section(self.report["vetoes"], vetoed[columns], (self.t["vetoes_explained"],))

    def last_places(self, scores: pd.DataFrame) -> Section:
        """Stations last in their group this month, the longest streak first, flagged from
        `last_place_months` months on; and stations last two years running (`rollups.csv`)."""
        months = int(self.run.plan["parameters"]["scoring"]["last_place_months"])
        two_years = _last_two_years(self.run.folder / ROLLUPS)
        shown = scores[
            (scores["last_place_streak"] > 0) | scores["station_id"].isin(two_years)
        ].sort_values(["last_place_streak", "station_id"], ascending=[False, True])
        flags = [
            self.t["list_separator"].join(
                [
                    *([self.report["streak"].format(n=streak)] if streak >= months else []),
                    *([self.t["two_years"]] if station in two_years else []),
                ]
            )
            for station, streak in zip(shown["station_id"], shown["last_place_streak"], strict=True)
        ]
        frame = shown[["station_id", "station_type", "last_place_streak"]].assign(flag=flags)
        explained = self.t["last_explained"].format(n=months)
        return self.section(self.t["last_places"], frame, (explained,))

    def reports(self, items: pd.DataFrame) -> Section:
        """Returned, late and missing reports by department, indicator and station."""
        order = {s: i for i, s in enumerate(NAMED_STATUSES)}
        named = items[items["status"].isin(NAMED_STATUSES)]
        named = named.assign(order=named["status"].map(order)).sort_values(
            ["order", "department", "indicator_id", "station_id"]
        )
        counts = named["status"].value_counts()
        sentence = self.t["reports_count"].format(
            **{s: int(counts.get(s, 0)) for s in NAMED_STATUSES}
        )
        frame = named[["department", "indicator_id", "station_id", "status"]].assign(
            status=named["status"].map(self.t["status"])
        )
        return self.section(self.t["reports"], frame, (sentence,))

    def quality(self) -> Section:
        """The month's data-quality flags, errors first."""
        flags = self.own(self.run.quality)
        flags = flags.assign(
            order=(flags["severity"] != "error").astype(int),
            severity=flags["severity"].map(lambda s: self.t["severity"].get(s, s)),
        ).sort_values(["order", "station_id", "check", "indicator_id"])
        columns = ["station_id", "indicator_id", "check", "severity", "message"]
        return self.section(self.report["quality"], flags[columns])

    def training(self) -> Section:
        """Training seats assigned for the plan month, by station and course."""
        training = self.own(self.run.training)
        seated = training[training["seats"] > 0].sort_values(["station_id", "course_id"])
        title = self.report["training"].format(
            seats=int(seated["seats"].sum()), courses=seated["course_id"].nunique()
        )
        columns = ["station_id", "course_id", "title", "seats"]
        return self.section(title, seated[columns])


def _last_two_years(path: Path) -> set[str]:
    """Stations `rollups.csv` flags last in their group two years running, in its latest
    year (none without the file)."""
    if not path.is_file():
        return set()
    rollups = pd.read_csv(path, dtype={"station_id": str, "period": str}, keep_default_na=False)
    years = rollups[rollups["period"].str.fullmatch(r"\d{4}")]
    latest = years[years["period"] == years["period"].max()]
    return set(latest.loc[latest["last_two_years"].astype(str) == "True", "station_id"])


def _rows(rows: list[list[str]]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(row) for row in rows)


def bulletin_html(b: Bulletin) -> str:
    """The bulletin as one self-contained page (no script, no remote file), printable; every
    text of the bulletin escaped (the font list, a constant, goes into the style sheet as
    written: entities mean nothing there)."""
    return (
        environment()
        .get_template("bulletin.html.j2")
        .render(lang="zh-CN" if b.lang == "zh" else "en", b=b, fonts=Markup(FONTS))
    )


def bulletin_docx(b: Bulletin) -> bytes:
    """The bulletin as a Word document for circulation: the title as the document's heading,
    then per section its heading, sentences and a table with a bold heading row. Text that
    XML cannot hold (control characters) is left out."""
    import docx  # the desk's `serve` extra: the main install does without it
    from docx.oxml.ns import qn

    document = docx.Document()
    for name in ("Normal", "Title", "Heading 1"):
        fonts = document.styles[name].element.get_or_add_rPr().get_or_add_rFonts()
        fonts.set(qn("w:eastAsia"), EAST_ASIAN_FONT)
    document.core_properties.title = _xml(b.title)[:255]  # the most a document title holds
    document.core_properties.language = "zh-CN" if b.lang == "zh" else "en"
    document.add_heading(_xml(b.title), level=0)
    document.add_paragraph(_xml(b.subtitle))
    for section in b.sections:
        document.add_heading(_xml(section.title), level=1)
        for sentence in section.sentences:
            document.add_paragraph(_xml(sentence))
        if section.table is not None:
            _docx_table(document, section.table)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _docx_table(document: object, t: Table) -> None:
    """`t` appended to `document` as a grid: headings in bold, then its rows."""
    grid = document.add_table(rows=1, cols=len(t.headers))
    grid.style = "Table Grid"
    for cell, heading in zip(grid.rows[0].cells, t.headers, strict=True):
        cell.paragraphs[0].add_run(_xml(heading)).bold = True
    for row in t.rows:
        for cell, text in zip(grid.add_row().cells, row, strict=True):
            cell.text = _xml(text)


def _xml(text: str) -> str:
    return NOT_XML.sub("", str(text))
