"""`config.toml`: every tunable with its documented default (SPEC §12).

Unknown keys are errors, so a typo never passes silently. A scenario file (SPEC §10) is the same
schema plus `name` and a `[deltas]` table (`models/scenarios.py`); problems are placed at the
line of their key (`models/toml_keys.py`).
"""

from __future__ import annotations

import os
import re
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from models.errors import InputError
from models.reading import read_toml
from models.toml_keys import KeyedValueError, validation_problems


class StrictModel(BaseModel):
    """Every table of the configuration: unknown keys are errors, and no number is infinite or
    NaN (TOML writes `inf` and `nan`, which no tunable means: an infinite cap or a NaN slope
    would pass every range and give a wrong plan). Each field declares its range beside it."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


Score = Annotated[float, Field(ge=0, le=100)]  # an assessment score, points of 100
NonNegative = Annotated[float, Field(ge=0)]
Share = Annotated[float, Field(ge=0, le=1)]
HOURS_IN_MONTH = 744  # 31 days: no one patrols or trains more hours than a month has


class GridConfig(StrictModel):
    cell_size_m: float = Field(250.0, gt=0)


class ScoringConfig(StrictModel):
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


class HotspotConfig(StrictModel):
    months: int = Field(3, ge=1)
    method: Literal["auto", "dbscan", "hdbscan", "grid"] = "auto"
    eps_m: float = Field(200.0, gt=0)
    min_samples: int = Field(8, ge=2)


class ForecastConfig(StrictModel):
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


class AllocationConfig(StrictModel):
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


class TrainingConfig(StrictModel):
    gap_score: Score = 60.0
    max_training_hours_per_officer: float = Field(8.0, ge=0, le=HOURS_IN_MONTH)


class ExecutionConfig(StrictModel):
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


MODES = ("car", "bike", "foot")  # how a patrol unit moves (SPEC §16)
DEFAULT_SPEEDS = {"car": 30.0, "bike": 12.0, "foot": 4.5}  # km/h


class MissionsConfig(StrictModel):
    """How the plan becomes routes a unit drives (SPEC §16): crew sizes, travel speeds (km/h),
    the road detour without a road network, the gap between visits of one cell (minutes), the
    on-time tolerance of a visit (minutes) and the solver's time and iteration limits per
    station, day and shift."""

    officers_per_unit: int = Field(2, ge=1)  # crew of a unit derived without units.csv
    speed_kmh: dict[Literal[MODES], Annotated[float, Field(gt=0, le=200)]] = DEFAULT_SPEEDS
    circuity: float = Field(1.3, ge=1, le=5)  # road distance / straight-line distance
    revisit_gap_min: float = Field(90.0, ge=0)  # between a cell's visits in one shift
    on_time_min: float = Field(30.0, ge=0)  # a visit this close to its planned arrival counts
    solver_seconds: float = Field(1.0, gt=0)  # per station, day and shift, after the descent
    solver_iterations: int = Field(0, ge=0)  # iterations after the first descent: plans repeat

    @field_validator("speed_kmh")
    @classmethod
    def _every_mode(cls, value: dict[str, float]) -> dict[str, float]:
        """`speed_kmh = { foot = 5 }` sets the foot patrol's speed; the other modes keep theirs."""
        return {**DEFAULT_SPEEDS, **value}


class MapConfig(StrictModel):
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


class ServeConfig(StrictModel):
    token_minutes: int = Field(480, ge=1)  # lifetime of a `patrolopt serve` sign-in


class EvaluationConfig(StrictModel):
    # share of the cells a station patrols put in the randomized dose experiment, in pairs of
    # comparable forecast harm (models/experiment.py); 0 = none
    experiment_share: float = Field(0.0, ge=0.0, le=1.0)


class AssessmentConfig(StrictModel):
    """The assessment desk's month (SPEC §17)."""

    appeal_days: int = Field(5, ge=0)  # days after a month's close in which a station may appeal
    # public answers a station needs in a month before its `survey` indicators take their mean
    survey_min_answers: int = Field(20, ge=1)


class StaffingConfig(StrictModel):
    """The staffing recommendation (SPEC §19): officers per station, the bureau's total kept
    (`total`, 0 = today's), each station moving at most `max_move_share` of its officers and
    never below `min_officers`."""

    max_move_share: Share = 0.10  # of a station's officers today, per recommendation
    min_officers: int = Field(2, ge=0)
    total: int = Field(0, ge=0)  # officers in the bureau; 0 = today's total


class OutputConfig(StrictModel):
    schedule_format: Literal["csv", "parquet"] = "csv"  # parquet: a province's millions of visits


class Config(StrictModel):
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
    evaluation: EvaluationConfig = EvaluationConfig()
    assessment: AssessmentConfig = AssessmentConfig()
    missions: MissionsConfig = MissionsConfig()
    staffing: StaffingConfig = StaffingConfig()
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


def load_config(path: Path | None) -> Config:
    """Read `config.toml` (absent → all defaults); raises InputError on unknown keys or values."""
    if path is None or not path.exists():
        return Config()
    text, data = read_toml(path)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise InputError(validation_problems(text, path.name, exc)) from exc
