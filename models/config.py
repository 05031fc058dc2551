"""`config.toml`: every tunable with its documented default (SPEC §12).

Unknown keys are errors, so a typo never passes silently. A scenario file (SPEC §10) is the same
schema plus `name` and a `[deltas]` table.
"""

from __future__ import annotations

import os
import re
import tomllib
import unicodedata
from collections.abc import Collection
from dataclasses import replace
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from models.errors import InputError, Problem
from models.reading import read_toml


class KeyedValueError(ValueError):
    """A value error of a table that concerns some of its keys: reported at the first of `keys`
    the file writes, so the line points at what the user typed rather than the table header."""

    def __init__(self, message: str, keys: tuple[str, ...]):
        super().__init__(message)
        self.keys = keys


class _Strict(BaseModel):
    """Every table of the configuration: unknown keys are errors, and no number is infinite or
    NaN (TOML writes `inf` and `nan`, which no tunable means: an infinite cap or a NaN slope
    would pass every range and give a wrong plan). Each field declares its range beside it."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


Score = Annotated[float, Field(ge=0, le=100)]  # an assessment score, points of 100
NonNegative = Annotated[float, Field(ge=0)]
Share = Annotated[float, Field(ge=0, le=1)]
HOURS_IN_MONTH = 744  # 31 days: no one patrols or trains more hours than a month has


class GridConfig(_Strict):
    cell_size_m: float = Field(250.0, gt=0)


class ScoringConfig(_Strict):
    missing: Literal["zero", "exclude"] = "zero"
    grade_mode: Literal["thresholds", "quota"] = "thresholds"
    grade_thresholds: dict[str, Score] = {"excellent": 90, "good": 80, "qualified": 60}
    quadrant_targets: dict[str, NonNegative] = {
        "prevention": 30,
        "major_case": 40,
        "service": 20,
        "compliance": 10,
    }
    max_temporary_share: Share = 0.20
    max_subjective_share: Share = 0.30
    last_place_months: int = Field(3, ge=1)
    max_flex_share: Share = 0.20
    award_places: int = Field(0, ge=0)
    award_weight: dict[str, NonNegative] = {
        "excellent": 3,
        "good": 2,
        "qualified": 1,
        "unqualified": 0,
    }
    bonus_cap: float = Field(5.0, ge=0)
    report_deadline_day: int = Field(27, ge=1, le=31)

    @field_validator("grade_thresholds")
    @classmethod
    def _grades(cls, value: dict[str, float]) -> dict[str, float]:
        if set(value) != {"excellent", "good", "qualified"}:
            raise ValueError("needs exactly the keys excellent, good, qualified")
        if not value["excellent"] >= value["good"] >= value["qualified"]:
            raise ValueError("thresholds must satisfy excellent >= good >= qualified")
        return value

    @field_validator("quadrant_targets")
    @classmethod
    def _quadrants(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - {"prevention", "major_case", "service", "compliance"}
        if unknown:
            raise ValueError(f"unknown quadrant(s) {sorted(unknown)}")
        return value


class HotspotConfig(_Strict):
    months: int = Field(3, ge=1)
    method: Literal["auto", "dbscan", "hdbscan", "grid"] = "auto"
    eps_m: float = Field(200.0, gt=0)
    min_samples: int = Field(8, ge=2)


class ForecastConfig(_Strict):
    """How `auto` selects a model (SPEC §5), and the candidates' own parameters (defaults: the
    values the backtests on the demo, St. Louis and a province were judged with)."""

    backtest_months: int = Field(6, ge=1)
    selection_coverage: float = Field(0.05, gt=0, le=1)
    rolling_months: int = Field(3, ge=1)  # the rolling mean's window
    ewma_alpha: float = Field(0.3, gt=0, le=1)  # weight of the latest month
    kernel_bandwidth_m: float = Field(150.0, gt=0)  # σ of the kernel-smoothed surface
    kernel_months: int = Field(12, ge=1)  # months the kernel surface averages
    near_repeat_m: float = Field(250.0, gt=0)  # σ of self-exciting (near-repeat) triggering
    self_exciting_lags: int = Field(6, ge=1)  # months of past counts that can trigger more
    self_exciting_decays: list[Annotated[float, Field(gt=0, le=1)]] = Field(
        [0.2, 0.4, 0.6, 0.8], min_length=1
    )  # candidate month-on-month decays of triggering, the likeliest chosen
    training_months: int = Field(12, ge=1)  # target months the fitted models learn from
    # The learned model trains on at most this many unit-months (cell × shift × month), a seeded
    # sample beyond: a city's 12 months are far fewer (St. Louis: 93,000), a 2,000-station
    # province's 4.7 M. On that province the sample fits 2.3× faster and scores alike: log score
    # −0.0003 and +0.0001 per incident, Poisson deviance +0.001 and 0.000 at two origins.
    training_rows: int = Field(2_000_000, ge=1)
    learned_iterations: int = Field(100, ge=1)  # boosting rounds of the learned model
    learned_learning_rate: float = Field(0.1, gt=0, le=1)
    learned_max_leaf_nodes: int = Field(15, ge=2)
    learned_min_samples_leaf: int = Field(50, ge=1)
    mix_months: int = Field(12, ge=1)  # months of cases whose category mix splits the risk


SHARE_TOLERANCE = 1e-6  # |Σ shift_share − 1| allowed


class AllocationConfig(_Strict):
    shift_share: dict[str, Share] = {"day": 0.40, "evening": 0.35, "night": 0.25}
    shift_hours: dict[str, tuple[int, int]] = {"day": (8, 16), "evening": (16, 24), "night": (0, 8)}
    patrol_hours_per_officer: float = Field(60.0, ge=0, le=HOURS_IN_MONTH)
    min_hours_cell: float = Field(0.0, ge=0)
    max_hours_cell: float = Field(60.0, gt=0)
    benefit_breakpoints: list[Share] = [0.25, 0.5, 1.0]
    benefit_slopes: list[NonNegative] = [0.010, 0.005, 0.002]
    stability_weight: float = Field(0.0005, ge=0)
    max_change_share: float = Field(0.30, ge=0)  # of last month's hours; 2 moves them all
    max_aid_share: Share = 0.10
    min_station_share: Share = 0.80
    time_limit_s: float = Field(120.0, gt=0)

    @field_validator("shift_share")
    @classmethod
    def _shares(cls, value: dict[str, float]) -> dict[str, float]:
        total = sum(value.values())
        if abs(total - 1.0) > SHARE_TOLERANCE:
            raise ValueError(f"shares must sum to 1; they sum to {total:g}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AllocationConfig:
        share, hours = set(self.shift_share), set(self.shift_hours)
        if share != hours:
            raise KeyedValueError(
                f"shift_share names {', '.join(sorted(share))} but shift_hours names "
                f"{', '.join(sorted(hours))}; both must name the same shifts",
                ("shift_hours", "shift_share"),
            )
        for name, (start, end) in self.shift_hours.items():
            if not (0 <= start <= 24 and 0 <= end <= 24 and start != end):
                raise KeyedValueError(
                    f"shift {name}: hours must lie in 0..24 and differ", ("shift_hours",)
                )
        message = _shift_cover_problem(self.shift_hours)
        if message:
            raise KeyedValueError(message, ("shift_hours",))
        bps = self.benefit_breakpoints
        if not bps or bps[-1] != 1.0 or any(b <= a for a, b in zip([0.0, *bps], bps, strict=False)):
            raise KeyedValueError(
                "benefit_breakpoints must increase strictly and end at 1.0",
                ("benefit_breakpoints",),
            )
        slopes = self.benefit_slopes
        if len(slopes) != len(bps):
            raise KeyedValueError(
                "benefit_slopes needs one slope per breakpoint",
                ("benefit_slopes", "benefit_breakpoints"),
            )
        if any(b > a for a, b in zip(slopes, slopes[1:], strict=False)):
            raise KeyedValueError(
                "benefit_slopes must be non-negative and non-increasing (concave)",
                ("benefit_slopes",),
            )
        return self

    @property
    def shifts(self) -> list[str]:
        """Shift names in configured order."""
        return list(self.shift_share)


def _shift_cover_problem(shift_hours: dict[str, tuple[int, int]]) -> str | None:
    """Why the shifts do not cover each hour of the day exactly once, if they do not: a case
    in an uncovered hour would drop out of the plan, one in two shifts count twice."""
    holders: list[list[str]] = [[] for _ in range(24)]
    for name, (start, end) in shift_hours.items():
        hours = range(start, end) if start < end else [*range(start, 24), *range(0, end)]
        for hour in hours:
            holders[hour % 24].append(name)
    uncovered = [h for h in range(24) if not holders[h]]
    if uncovered:
        return (
            f"the shifts leave hours {_hour_spans(uncovered)} uncovered: cases then would belong "
            "to no shift; the shifts must cover the 24 hours"
        )
    doubled = [h for h in range(24) if len(holders[h]) > 1]
    if doubled:
        names = " and ".join(holders[doubled[0]])
        return (
            f"shifts {names} overlap in hours {_hour_spans(doubled)}: each hour of the day "
            "belongs to one shift"
        )
    return None


def _hour_spans(hours: list[int]) -> str:
    """Hours of the day as spans: [0, 1, 2, 7] → "0–3, 7–8"."""
    spans, start = [], hours[0]
    for previous, hour in zip(hours, [*hours[1:], None], strict=True):
        if hour != previous + 1:
            spans.append(f"{start}–{previous + 1}")
            start = hour
    return ", ".join(spans)


class TrainingConfig(_Strict):
    gap_score: Score = 60.0
    max_training_hours_per_officer: float = Field(8.0, ge=0, le=HOURS_IN_MONTH)


class ExecutionConfig(_Strict):
    """Rules for reading GPS pings and dispatch records (SPEC §13)."""

    max_gap_s: float = Field(120.0, gt=0)  # a longer gap between two pings counts nowhere
    max_speed_kmh: float = Field(120.0, gt=0)  # faster implied movement is a GPS jump
    min_visit_minutes: float = Field(5.0, ge=0)
    response_target_min: dict[Annotated[int, Field(ge=1)], Annotated[float, Field(gt=0)]] = {
        1: 10.0,
        2: 20.0,
        3: 45.0,
    }  # minutes, by priority
    response_wait_min: float = Field(2.0, ge=0)  # Erlang C: a call waits when no unit is free
    max_wait_probability: float = Field(0.10, gt=0, lt=1)
    default_busy_min: float = Field(45.0, gt=0)


class MapConfig(_Strict):
    tiles: str = "openstreetmap"
    attribution: str = ""
    tiles_datum: Literal["wgs84", "gcj02"] = "wgs84"  # gcj02 for AutoNavi/Gaode, Tencent tiles

    @model_validator(mode="after")
    def _known_basemap(self) -> MapConfig:
        """A misspelled provider is a configuration error now, not a failed map at the end:
        the name is looked up in xyzservices (the catalogue the map's tiles come from)."""
        tiles = self.tiles.strip()
        if tiles.lower() in ("none", "openstreetmap") or "{" in tiles:
            return self
        import xyzservices

        try:
            xyzservices.providers.query_name(tiles)
        except ValueError:
            raise ValueError(
                f"unknown tile provider {self.tiles!r}: give a provider name (e.g. "
                "openstreetmap, cartodbpositron), an {z}/{x}/{y} URL template, or none"
            ) from None
        return self


class ServeConfig(_Strict):
    token_minutes: int = Field(480, ge=1)  # lifetime of a `patrolopt serve` sign-in


class OutputConfig(_Strict):
    schedule_format: Literal["csv", "parquet"] = "csv"  # parquet: a province's millions of visits


class Config(_Strict):
    coordinates: str = "wgs84"
    crs: str = ""
    timezone: str = ""  # IANA zone of the bureau; "" = the system's
    max_outside_share: Share = 0.01
    grid: GridConfig = GridConfig()
    scoring: ScoringConfig = ScoringConfig()
    hotspots: HotspotConfig = HotspotConfig()
    forecast: ForecastConfig = ForecastConfig()
    allocation: AllocationConfig = AllocationConfig()
    training: TrainingConfig = TrainingConfig()
    map: MapConfig = MapConfig()
    execution: ExecutionConfig = ExecutionConfig()
    serve: ServeConfig = ServeConfig()
    output: OutputConfig = OutputConfig()

    @field_validator("coordinates")
    @classmethod
    def _coordinates(cls, value: str) -> str:
        if value.lower() in {"wgs84", "gcj02", "bd09"} or re.fullmatch(r"EPSG:\d+", value, re.I):
            return value
        raise ValueError('must be "wgs84", "gcj02", "bd09" or "EPSG:nnnn"')

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        if value:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown time zone {value!r}: give an IANA name such as Asia/Shanghai, or "
                    '"" for the system\'s'
                ) from None
        return value


def system_timezone() -> tzinfo:
    """The machine's time zone: `TZ`, else the zone `/etc/localtime` links to, else the
    current UTC offset."""
    for name in (os.environ.get("TZ", "").lstrip(":"), _localtime_link()):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return datetime.now().astimezone().tzinfo


def _localtime_link() -> str:
    link = Path("/etc/localtime")
    target = str(link.resolve()) if link.is_symlink() else ""
    return target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else ""


def timezone_of(name: str) -> tzinfo:
    """The bureau's time zone: the IANA zone `name`, or the system's for ""."""
    return ZoneInfo(name) if name else system_timezone()


class Deltas(_Strict):
    """Scenario changes applied to the data rather than the config.

    `officers`: relative change of officers by station id (0.10 = +10 %, at least −1), `"*"` for
    all stations; `harm`: multiplier (≥ 0) of harm by offence category; `stability = false`
    ignores the previous plan. `load_scenario` checks the ids and categories against the bureau.
    """

    officers: dict[str, Annotated[float, Field(ge=-1)]] = {}
    harm: dict[str, Annotated[float, Field(ge=0)]] = {}
    stability: bool = True


BASELINE = "baseline"  # the official plan's scenario: what `run` writes without scenario files
SCENARIO_PATTERN = r"^[\w-]{1,64}$"  # a run's folder in its month's: letters of any script
SCENARIO_NAME_RULE = "1–64 letters, digits, _ or - (Chinese letters allowed), not baseline"


def scenario_name_problem(name: object) -> str | None:
    """Why `name` cannot name a scenario, if it cannot. Its folder must match SCENARIO_PATTERN
    (one folder inside the month's, never `.`, `..` or a path; the desk reads the same folders),
    and `baseline` is reserved in any case or width (NFKC): a scenario of that name would
    replace the official plan, on a case-insensitive disk too."""
    if not isinstance(name, str):
        return f"must be text ({SCENARIO_NAME_RULE}), not {type(name).__name__}"
    shown = repr(name) if len(name) <= 70 else repr(name[:60]) + f"… ({len(name)} characters)"
    if not re.fullmatch(SCENARIO_PATTERN, name):
        return f"{shown} cannot name a scenario: use {SCENARIO_NAME_RULE}"
    if unicodedata.normalize("NFKC", name).casefold() == BASELINE:
        return f"{shown} is the official plan's name: a scenario takes another"
    return None


def scenario_name(text: str, data: dict[str, Any], file: str) -> tuple[object, Problem | None]:
    """The name of the scenario file `file` (TOML `text`, values `data`) — its `name` key, else
    the file's stem — and the problem with it, if any: at the key's line, or row 0 for the stem."""
    if "name" in data:
        message = scenario_name_problem(data["name"])
        line = _key_line(text, ("name",))[0]
        return data["name"], Problem(file, line, "name", message) if message else None
    name = Path(file).stem
    message = scenario_name_problem(name)
    if message:
        return name, Problem(file, 0, "name", f"no name key, and the file's stem {message}")
    return name, None


class Scenario(_Strict):
    name: str
    config: Config
    deltas: Deltas = Deltas()


_BARE_OR_QUOTED = r"""(?:"(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_\-]+)"""
_TOML_KEY = re.compile(rf"""\s*({_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*)\s*=""")
_TOML_PART = re.compile(_BARE_OR_QUOTED)


def _key_parts(key: str) -> list[str]:
    """The parts of a (dotted, possibly quoted) TOML key: `a."b.c"` → [a, b.c]."""
    return [part.strip("\"'") for part in _TOML_PART.findall(key)]


def _toml_keys(text: str) -> list[tuple[int, list[str], bool]]:
    """Each table header and key line of TOML text: (line, full key path, is a header).
    Dotted keys (`allocation.max_hours_cell = 5`) count with their full path."""
    found = []
    section: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?", stripped)
        if header:
            section = _key_parts(header.group(1))
            found.append((number, section, True))
            continue
        match = _TOML_KEY.match(stripped)
        if match:
            found.append((number, [*section, *_key_parts(match.group(1))], False))
    return found


def _key_line(text: str, *paths: tuple[str | int, ...]) -> tuple[int, tuple[str | int, ...]]:
    """Line of the first of `paths` (nested keys) that the TOML text writes (a key holding it
    in an inline table counts), and that path; else the line of the innermost table enclosing
    the first path (1 if none), and the first path."""
    entries = _toml_keys(text)
    for path in paths:
        keys = [str(k) for k in path if isinstance(k, str)]
        for number, full, is_header in entries:
            shared = min(len(full), len(keys))
            if (full == keys) if is_header else (full[:shared] == keys[:shared]):
                return number, path
    keys = [str(k) for k in paths[0] if isinstance(k, str)]
    tables = [
        (len(full), n) for n, full, is_header in entries if is_header and full == keys[: len(full)]
    ]
    return max(tables, default=(0, 1))[1], paths[0]


def _problems(
    text: str, file: str, error: ValidationError, prefix: tuple[str, ...] = ()
) -> list[Problem]:
    """Pydantic errors as problems at their key's line in the TOML text; an error that names
    its keys (KeyedValueError) at the first of them the file writes."""
    problems = []
    for item in error.errors():
        loc = (*prefix, *item["loc"])
        cause = item.get("ctx", {}).get("error")
        paths = [(*loc, key) for key in cause.keys] if isinstance(cause, KeyedValueError) else [loc]
        message = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        message = message.removeprefix("Value error, ")
        if loc[-1:] == ("[key]",):  # pydantic's mark of a table's key (not its value) at fault
            paths, message = [loc[:-1]], f"the key: {message}"
        line, path = _key_line(text, *paths)
        key = ".".join(str(k) for k in path) or "(file)"
        problems.append(Problem(file, line, key, message))
    return problems


def _read_toml(path: Path) -> tuple[str, dict]:
    """Text and values of a TOML file (`read_toml`). A syntax error tomllib meets only at the
    end of the text (an unclosed array, string, inline table or header: "at end of document")
    is placed at the file's last written line, where the reader looks, not at row 0."""
    try:
        return read_toml(path)
    except InputError as exc:
        cause = exc.__cause__
        if not (
            isinstance(cause, tomllib.TOMLDecodeError) and "(at end of document)" in str(cause)
        ):
            raise
        written = path.read_text(encoding="utf-8", errors="replace").rstrip().splitlines()
        raise InputError([replace(p, row=max(len(written), 1)) for p in exc.problems]) from cause


def load_config(path: Path | None) -> Config:
    """Read `config.toml` (absent → all defaults); raises InputError on unknown keys or values."""
    if path is None or not path.exists():
        return Config()
    text, data = _read_toml(path)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise InputError(_problems(text, path.name, exc)) from exc


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _names(known: Collection[str], limit: int = 10) -> str:
    names = sorted(known)
    return ", ".join(names[:limit]) + (f", … ({len(names)} in all)" if len(names) > limit else "")


def _delta_problems(
    text: str,
    file: str,
    deltas: dict[str, Any],
    stations: Collection[str],
    categories: Collection[str],
) -> list[Problem]:
    """Deltas (as written) naming a station or offence category the bureau does not have."""
    problems = []
    for table, known, what, hint in (
        ("officers", {*stations}, "station", "; * for all stations"),
        ("harm", {*categories}, "offence category", ""),
    ):
        written = deltas.get(table)
        for name in written if isinstance(written, dict) else {}:
            if name not in known and not (table == "officers" and name == "*"):
                line, _ = _key_line(text, ("deltas", table, name))
                problems.append(
                    Problem(
                        file,
                        line,
                        f"deltas.{table}.{name}",
                        f"unknown {what} {name!r} (known: {_names(known)}{hint})",
                    )
                )
    return problems


def load_scenario(
    path: Path, base: Config, stations: Collection[str], categories: Collection[str]
) -> Scenario:
    """A scenario TOML applied over `base`: config keys override, `[deltas]` kept apart and
    checked against the bureau's `stations` (ids) and offence `categories`."""
    text, data = _read_toml(path)
    name, refused = scenario_name(text, data, path.name)
    problems = [refused] if refused else []
    data.pop("name", None)
    deltas = data.pop("deltas", {})
    config, parsed_deltas = base, Deltas()
    try:
        config = Config.model_validate(_merge(base.model_dump(), data))
    except ValidationError as exc:
        problems += _problems(text, path.name, exc)
    try:
        parsed_deltas = Deltas.model_validate(deltas)
    except ValidationError as exc:
        problems += _problems(text, path.name, exc, ("deltas",))
    if isinstance(deltas, dict):
        problems += _delta_problems(text, path.name, deltas, stations, categories)
    if problems:
        raise InputError(problems)
    return Scenario(name=str(name), config=config, deltas=parsed_deltas)


def load_scenarios(
    paths: Collection[Path], base: Config, stations: Collection[str], categories: Collection[str]
) -> list[Scenario]:
    """Every scenario file (see `load_scenario`), each name used once: two scenarios of one name
    would write one folder. Raises InputError with the problems of all files."""
    problems: list[Problem] = []
    scenarios: list[Scenario] = []
    first: dict[str, Path] = {}
    for path in paths:
        try:
            scenario = load_scenario(path, base, stations, categories)
        except InputError as exc:
            problems += exc.problems
            continue
        if scenario.name in first:
            text, _ = _read_toml(path)
            problems.append(
                Problem(
                    path.name,
                    _key_line(text, ("name",))[0] if "name" in text else 0,
                    "name",
                    f"scenario name {scenario.name!r} is also the name of {first[scenario.name]}",
                )
            )
            continue
        first[scenario.name] = path
        scenarios.append(scenario)
    if problems:
        raise InputError(problems)
    return scenarios


def config_key_problem(path: Path, keys: tuple[str, ...], message: str) -> Problem:
    """A problem at the line of config key `keys` in the TOML file at `path` (else of its table;
    line 0 without a file: the default is at fault)."""
    line = _key_line(_read_toml(path)[0], keys)[0] if path.exists() else 0
    return Problem(path.name, line, ".".join(keys), message)
