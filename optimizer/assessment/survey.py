"""The public's evaluation of its station (SPEC §17): the station's survey code printed as a QR
code, the answers (one per device and month, a bounded rate per address, every field limited),
the day's tally in the audit chain, the month's values of the `survey` indicators and the bursts
`quality.csv` flags.

Codes, device cookies and form tokens are signed with one desk secret kept in the output folder
(`SECRET_FILE`, mode 0600, made once), so printed codes stay valid across restarts. Nothing that
names a person is stored: a device is the sha256 of a random cookie id, an address a salted
sha256 of the client's address. Times are stored as ISO 8601 text in UTC; an answer belongs to
the bureau's month (its time zone) in which it was given."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import math
import os
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import insert, inspect, select
from sqlalchemy.engine import Connection

from models.columns import TRUE_WORDS
from models.config import load_config, timezone_of
from models.quality import QUALITY_COLUMNS
from models.reading import find_table, read_table
from optimizer import store
from optimizer.assessment.tables import SURVEY_ANSWERS
from optimizer.audit import append_line, record_assessment, stored_entries

SECRET_FILE = ".survey-secret"  # in the output folder: signs codes, cookies and form tokens
SATISFACTION = range(1, 6)  # 1 very dissatisfied … 5 very satisfied
COMMENT_CHARS = 500  # the longest comment kept
ANSWERS_PER_HOUR = 10  # answers one address may give in any hour; more are refused (429)
FORM_LIFETIME = timedelta(hours=12)  # how long a survey page's form may be sent
ADDRESS_BURST = 5  # answers to one station in a month from one address that are flagged
MINUTES_BURST = (10, timedelta(minutes=10))  # that many answers to one station in that time
TALLY = "survey tally"  # the audit action of a day's answers
TALLY_USER = "public"
_CODE_BYTES = 10  # a code is 80 bits of its HMAC: 16 base32 letters


class AnswerRefused(ValueError):
    """An answer not stored: `status` 409 (this device answered this month), 429 (too many
    from its address: `retry_after` seconds), 413 (a field too long) or 422 (a bad field);
    `key` names the reason in the word catalogue's `survey` section."""

    def __init__(self, status: int, key: str, retry_after: int | None = None) -> None:
        super().__init__(key)
        self.status, self.key, self.retry_after = status, key, retry_after


def _sign(secret: bytes, purpose: str, *parts: str) -> bytes:
    message = "\0".join((purpose, *parts)).encode("utf-8")
    return hmac.new(secret, message, hashlib.sha256).digest()


def desk_secret(out: Path) -> bytes:
    """The desk's secret, from `out/.survey-secret`, made (32 random bytes, mode 0600) the first
    time: written aside and linked into place, so a reader never sees it half written and two
    desks starting at once agree on one."""
    path = Path(out) / SECRET_FILE
    if not path.exists():
        aside = path.with_name(f"{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        handle = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(handle, "w", encoding="ascii") as file:
            file.write(secrets.token_hex(32) + "\n")
        try:
            os.link(aside, path)
        except FileExistsError:
            pass  # another desk made it first: use its secret
        finally:
            aside.unlink()
    text = path.read_text(encoding="ascii").strip()
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) < 16:
        raise ValueError(f"{path}: not a survey secret (remove it to make a new one)")
    return secret


def survey_code(secret: bytes, station_id: str) -> str:
    """The station's survey code: 16 lower-case base32 letters of an HMAC of its id."""
    digest = _sign(secret, "station", station_id)[:_CODE_BYTES]
    return base64.b32encode(digest).decode("ascii").lower()


def station_of_code(secret: bytes, code: str, stations: Iterable[str]) -> str | None:
    """The station among `stations` whose survey code is `code`, None for none."""
    found = None
    for station in stations:  # every code compared, in constant time
        if hmac.compare_digest(survey_code(secret, station).encode(), code.encode("utf-8")):
            found = station
    return found


def new_device_cookie() -> str:
    """A random device id for the survey's cookie (signed by `device_cookie`)."""
    return secrets.token_urlsafe(18)


def device_cookie(secret: bytes, device_id: str) -> str:
    """The cookie value of a device id: the id and its signature."""
    return f"{device_id}.{_sign(secret, 'device', device_id).hex()[:32]}"


def device_of(secret: bytes, cookie: str | None) -> str | None:
    """The stored device of a cookie the desk signed: sha256 of its id; None for a missing or
    forged cookie."""
    device_id, _, _ = (cookie or "").partition(".")
    if not device_id or not hmac.compare_digest(device_cookie(secret, device_id), cookie or ""):
        return None
    return hashlib.sha256(device_id.encode("utf-8")).hexdigest()


def address_digest(secret: bytes, address: str) -> str:
    """The stored form of a client address: its sha256 salted with the desk secret."""
    return _sign(secret, "address", address).hex()


def form_token(secret: bytes, code: str, device: str, now: datetime) -> str:
    """The token of a survey page's form: the time it was given and a signature binding it to
    the survey and the device, so no other site can send the form for a visitor."""
    issued = str(int(now.timestamp()))
    return f"{issued}.{_sign(secret, 'form', code, device, issued).hex()}"


def form_token_ok(secret: bytes, token: str, code: str, device: str, now: datetime) -> bool:
    """Whether `token` is the desk's for this survey and device and younger than
    `FORM_LIFETIME`."""
    issued, _, signature = token.partition(".")
    if not issued.isdigit() or len(issued) > 12:
        return False
    expected = _sign(secret, "form", code, device, issued).hex()
    age = now.timestamp() - int(issued)
    return hmac.compare_digest(expected, signature) and 0 <= age <= FORM_LIFETIME.total_seconds()


@dataclass(frozen=True)
class Answer:
    """One answer as stored: the station, satisfaction 1–5, an optional comment and the
    hashed device and address it came from."""

    station_id: str
    satisfaction: int
    comment: str | None
    device: str
    address: str


def checked_fields(satisfaction: str | None, comment: str | None) -> tuple[int, str | None]:
    """The form's satisfaction (an integer 1–5: else 422) and comment (at most
    `COMMENT_CHARS` characters: else 413; control characters other than line breaks and tabs
    dropped, blank → None)."""
    text = (satisfaction or "").strip()
    if not (text.isascii() and text.isdigit() and int(text) in SATISFACTION):
        raise AnswerRefused(422, "bad_satisfaction")
    kept = "".join(
        c for c in (comment or "") if c in "\n\t" or not unicodedata.category(c).startswith("C")
    ).strip()
    if len(kept) > COMMENT_CHARS:
        raise AnswerRefused(413, "comment_too_long")
    return int(text), kept or None


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _day_start(day: date, timezone: tzinfo) -> datetime:
    return datetime.combine(day, time(), timezone)


def answer_month(now: datetime, timezone: tzinfo) -> str:
    """The month an answer given at `now` belongs to: the bureau's current month."""
    return now.astimezone(timezone).strftime("%Y-%m")


def has_answered(conn: Connection, device: str, month: str) -> bool:
    """Whether `device` has answered in `month` (no answers table: not yet)."""
    if not _has_answers(conn):
        return False
    found = select(SURVEY_ANSWERS.c.id).where(
        SURVEY_ANSWERS.c.device == device, SURVEY_ANSWERS.c.month == month
    )
    return conn.execute(found.limit(1)).first() is not None


def answered_this_month(url: str, device: str, now: datetime, timezone: tzinfo) -> bool:
    """Whether `device` has answered in the bureau's month of `now` (the store at `url`)."""
    if not store.store_exists(url):
        return False
    engine = store.open_engine(url)
    try:
        with engine.connect() as conn:
            return has_answered(conn, device, answer_month(now, timezone))
    finally:
        engine.dispose()


def record_answer(conn: Connection, answer: Answer, now: datetime, timezone: tzinfo) -> list[dict]:
    """In the caller's transaction: `answer` stored under the bureau's month of `now`, unless
    its device answered this month (409) or its address gave `ANSWERS_PER_HOUR` answers in the
    past hour (429). The first answer of a day tallies the days before it (`tally_survey`);
    returns the audit entries of those tallies."""
    month = answer_month(now, timezone)
    if has_answered(conn, answer.device, month):
        raise AnswerRefused(409, "already_answered")
    table = SURVEY_ANSWERS.c
    hour_ago = _stamp(now - timedelta(hours=1))
    recent = conn.execute(
        select(table.answered_at)
        .where(table.address == answer.address, table.answered_at > hour_ago)
        .order_by(table.answered_at)
    ).scalars()
    recent = list(recent)
    if len(recent) >= ANSWERS_PER_HOUR:
        frees = datetime.fromisoformat(recent[-ANSWERS_PER_HOUR]) + timedelta(hours=1)
        wait = max(1, math.ceil((frees - now).total_seconds()))
        raise AnswerRefused(429, "too_many", retry_after=wait)
    today = _day_start(now.astimezone(timezone).date(), timezone)
    first_today = not conn.execute(
        select(table.id).where(table.answered_at >= _stamp(today)).limit(1)
    ).first()
    conn.execute(
        insert(SURVEY_ANSWERS),
        [{**asdict(answer), "month": month, "answered_at": _stamp(now)}],
    )
    return tally_survey(conn, now, timezone) if first_today else []


def submit_answer(url: str, out: Path, answer: Answer, now: datetime, timezone: tzinfo) -> None:
    """`record_answer` in one transaction of the store at `url`, the tallies it recorded then
    appended to `out/audit.jsonl`. Raises `AnswerRefused` (nothing stored)."""
    with store.transaction(url) as conn:
        entries = record_answer(conn, answer, now, timezone)
    for entry in entries:
        append_line(out, entry)


def tally_survey(conn: Connection, now: datetime, timezone: tzinfo) -> list[dict]:
    """In the caller's transaction: an audit entry ("survey tally", user "public") for each
    day before today (the bureau's days) with answers and no tally yet, after the last day
    tallied, holding the sha256 of that day's answers and their number. Returns the entries."""
    if not _has_answers(conn):
        return []
    days = [e["detail"]["day"] for e in stored_entries(conn) if e.get("action") == TALLY]
    table = SURVEY_ANSWERS.c
    today = now.astimezone(timezone).date()
    query = select(SURVEY_ANSWERS).where(table.answered_at < _stamp(_day_start(today, timezone)))
    if days:
        after = date.fromisoformat(max(days)) + timedelta(days=1)
        query = query.where(table.answered_at >= _stamp(_day_start(after, timezone)))
    by_day: dict[str, list[dict]] = {}
    for row in conn.execute(query.order_by(table.id)):
        answered = datetime.fromisoformat(row.answered_at).astimezone(timezone)
        by_day.setdefault(answered.date().isoformat(), []).append(dict(row._mapping))
    return [
        record_assessment(
            conn,
            day[:7],
            TALLY,
            TALLY_USER,
            {"survey": store.rows_digest(rows)},
            {"day": day, "answers": len(rows)},
        )
        for day, rows in sorted(by_day.items())
    ]


def _has_answers(conn: Connection) -> bool:
    return inspect(conn).has_table(SURVEY_ANSWERS.name)


def month_answers(conn: Connection, month: str) -> pd.DataFrame:
    """The answers of `month`: `station_id, month, satisfaction, address, answered_at` (none
    for a store without answers)."""
    table = SURVEY_ANSWERS.c
    columns = [table.station_id, table.month, table.satisfaction, table.address, table.answered_at]
    if not _has_answers(conn):
        return pd.DataFrame(columns=[c.name for c in columns])
    rows = conn.execute(select(*columns).where(table.month == month).order_by(table.id))
    return pd.DataFrame(rows.all(), columns=[c.name for c in columns])


def survey_indicators(indicators: pd.DataFrame) -> pd.DataFrame:
    """The indicators with `survey` true (typed booleans, or the words of `indicators.csv`)."""
    if "survey" not in indicators.columns:
        return indicators.iloc[:0]
    flags = indicators["survey"]
    if pd.api.types.is_bool_dtype(flags.dtype):
        chosen = flags.fillna(False).astype(bool)
    else:
        chosen = flags.fillna("").astype(str).str.strip().str.lower().isin(TRUE_WORDS)
    return indicators[chosen.to_numpy()]


def survey_values(
    conn: Connection,
    month: str,
    indicators: pd.DataFrame,
    stations: list[str],
    min_answers: int,
) -> pd.DataFrame:
    """The month's values of the `survey` indicators: for each of `stations` with at least
    `min_answers` answers in `month`, every such indicator takes the mean satisfaction scaled
    to points of 100 (mean × 20, to 0.01). Rows `station_id, indicator_id, value, answers`
    (answers: how many the mean is of); stations with fewer answers have none."""
    columns = ["station_id", "indicator_id", "value", "answers"]
    ids = survey_indicators(indicators)["indicator_id"].astype(str).tolist()
    answers = month_answers(conn, month)
    answers = answers[answers["station_id"].isin(stations)]
    if not ids or answers.empty:
        return pd.DataFrame(columns=columns)
    per_station = answers.groupby("station_id")["satisfaction"].agg(["mean", "count"])
    enough = per_station[per_station["count"] >= min_answers]
    rows = [
        (station, indicator, round(float(row["mean"]) * 20, 2), int(row["count"]))
        for station, row in enough.iterrows()
        for indicator in ids
    ]
    return pd.DataFrame(rows, columns=columns)


def _flag(station: str, month: str, check: str, message: str) -> dict:
    return dict(
        zip(QUALITY_COLUMNS, (station, month, "", "", check, "warning", message), strict=True)
    )


def _minute_bursts(times: np.ndarray) -> list[tuple[int, int]]:
    """(first, past-last) positions of the runs of sorted `times` (seconds) in which some
    `MINUTES_BURST` answers came within its window; overlapping windows make one run."""
    count, window = MINUTES_BURST[0], MINUTES_BURST[1].total_seconds()
    ends = np.searchsorted(times, times + window, side="left")
    runs: list[tuple[int, int]] = []
    for start in np.flatnonzero(ends - np.arange(len(times)) >= count):
        if runs and start < runs[-1][1]:
            runs[-1] = (runs[-1][0], max(runs[-1][1], int(ends[start])))
        else:
            runs.append((int(start), int(ends[start])))
    return runs


def survey_bursts(answers: pd.DataFrame, *, timezone: tzinfo = UTC) -> pd.DataFrame:
    """Quality flags (`quality.csv` rows) on a month's `answers` (`station_id, month, address,
    answered_at`): `survey_address_burst` where one address gave a station `ADDRESS_BURST` or
    more answers in the month, `survey_minutes_burst` for each run of answers to a station
    of which `MINUTES_BURST` came within minutes (times shown in `timezone`)."""
    flags = []
    per_address = answers.groupby(["station_id", "month", "address"]).size()
    for (station, month, _), count in per_address[per_address >= ADDRESS_BURST].items():
        flags.append(
            _flag(
                station,
                month,
                "survey_address_burst",
                f"{count} survey answers for {station} in {month} came from one address",
            )
        )
    for (station, month), group in answers.groupby(["station_id", "month"]):
        when = pd.to_datetime(group["answered_at"], utc=True).sort_values()
        seconds = (when - pd.Timestamp(0, tz=UTC)).dt.total_seconds().to_numpy()
        for first, last in _minute_bursts(seconds):
            start, end = (when.iloc[i].tz_convert(timezone) for i in (first, last - 1))
            until = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%Y-%m-%d %H:%M}"
            flags.append(
                _flag(
                    station,
                    month,
                    "survey_minutes_burst",
                    f"{last - first} survey answers for {station} between "
                    f"{start:%Y-%m-%d %H:%M} and {until}",
                )
            )
    return pd.DataFrame(flags, columns=QUALITY_COLUMNS)


def stored_bursts(url: str, month: str, timezone: tzinfo) -> pd.DataFrame:
    """`survey_bursts` of the answers of `month` in the store at `url` (none without a store
    or answers): the month's run adds them to `quality.csv`."""
    if not store.store_exists(url):
        return pd.DataFrame(columns=QUALITY_COLUMNS)
    engine = store.open_engine(url)
    try:
        with engine.connect() as conn:
            answers = month_answers(conn, month)
    finally:
        engine.dispose()
    return survey_bursts(answers, timezone=timezone)


@dataclass(frozen=True)
class SurveySetup:
    """What the survey reads of the bureau's data folder: its `survey` indicators
    (`indicator_id`, `name`, `name_zh` where given), its time zone and the answers a station
    needs in a month before they value those indicators."""

    indicators: pd.DataFrame
    timezone: tzinfo
    min_answers: int


def survey_setup(data: Path) -> SurveySetup:
    """The survey's part of `data`, read again only when `indicators` or `config.toml`
    changes. Raises `InputError` for a broken file."""
    paths = (find_table(data, "indicators"), data / "config.toml")
    stamps = tuple(
        (str(p), p.stat().st_mtime_ns) if p is not None and p.exists() else None for p in paths
    )
    return _setup(stamps)


@functools.lru_cache(maxsize=4)
def _setup(stamps: tuple) -> SurveySetup:
    indicators_file, config_file = (Path(s[0]) if s else None for s in stamps)
    config = load_config(config_file)
    frame = (
        read_table(indicators_file).frame
        if indicators_file is not None
        else pd.DataFrame(columns=["indicator_id", "name"])
    )
    chosen = survey_indicators(frame)
    kept = [c for c in ("indicator_id", "name", "name_zh") if c in chosen.columns]
    return SurveySetup(
        chosen[kept].reset_index(drop=True),
        timezone_of(config.timezone),
        config.assessment.survey_min_answers,
    )
