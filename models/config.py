"""`config.toml`: every tunable with its documented default (SPEC §12).

Unknown keys are errors, so a typo never passes silently. A scenario file (SPEC §10) is the same
schema plus `name` and a `[deltas]` table.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from models.errors import InputError, Problem


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GridConfig(_Strict):
    cell_size_m: float = Field(250.0, gt=0)


class ScoringConfig(_Strict):
    missing: Literal["zero", "exclude"] = "zero"
    grade_mode: Literal["thresholds", "quota"] = "thresholds"
    grade_thresholds: dict[str, float] = {"excellent": 90, "good": 80, "qualified": 60}
    quadrant_targets: dict[str, float] = {
        "prevention": 30,
        "major_case": 40,
        "service": 20,
        "compliance": 10,
    }
    max_temporary_share: float = Field(0.20, ge=0, le=1)
    max_subjective_share: float = Field(0.30, ge=0, le=1)
    last_place_months: int = Field(3, ge=1)
    max_flex_share: float = Field(0.20, ge=0, le=1)
    award_places: int = Field(0, ge=0)
    award_weight: dict[str, float] = {"excellent": 3, "good": 2, "qualified": 1, "unqualified": 0}
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
    backtest_months: int = Field(6, ge=1)
    selection_coverage: float = Field(0.05, gt=0, le=1)


class AllocationConfig(_Strict):
    shift_share: dict[str, float] = {"day": 0.40, "evening": 0.35, "night": 0.25}
    shift_hours: dict[str, tuple[int, int]] = {"day": (8, 16), "evening": (16, 24), "night": (0, 8)}
    patrol_hours_per_officer: float = Field(60.0, ge=0)
    min_hours_cell: float = Field(0.0, ge=0)
    max_hours_cell: float = Field(60.0, gt=0)
    benefit_breakpoints: list[float] = [0.25, 0.5, 1.0]
    benefit_slopes: list[float] = [0.010, 0.005, 0.002]
    stability_weight: float = Field(0.0005, ge=0)
    max_change_share: float = Field(0.30, ge=0)
    max_aid_share: float = Field(0.10, ge=0, le=1)
    min_station_share: float = Field(0.80, ge=0, le=1)
    time_limit_s: float = Field(120.0, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> AllocationConfig:
        if set(self.shift_share) != set(self.shift_hours):
            raise ValueError("shift_share and shift_hours must name the same shifts")
        for name, (start, end) in self.shift_hours.items():
            if not (0 <= start <= 24 and 0 <= end <= 24 and start != end):
                raise ValueError(f"shift {name}: hours must lie in 0..24 and differ")
        bps = self.benefit_breakpoints
        if not bps or bps[-1] != 1.0 or any(b <= a for a, b in zip([0.0, *bps], bps, strict=False)):
            raise ValueError("benefit_breakpoints must increase strictly and end at 1.0")
        slopes = self.benefit_slopes
        if len(slopes) != len(bps):
            raise ValueError("benefit_slopes needs one slope per breakpoint")
        if any(b > a for a, b in zip(slopes, slopes[1:], strict=False)) or min(slopes) < 0:
            raise ValueError("benefit_slopes must be non-negative and non-increasing (concave)")
        return self

    @property
    def shifts(self) -> list[str]:
        """Shift names in configured order."""
        return list(self.shift_share)


class TrainingConfig(_Strict):
    gap_score: float = Field(60.0, ge=0, le=100)
    max_training_hours_per_officer: float = Field(8.0, ge=0)


class MapConfig(_Strict):
    tiles: str = "openstreetmap"
    attribution: str = ""

    @model_validator(mode="after")
    def _known_basemap(self) -> MapConfig:
        """A misspelled provider is a configuration error now, not a failed map at the end."""
        if self.tiles != "openstreetmap":
            from geo.maps import tile_layer  # here: the map stack takes ~1.7 s to import

            try:
                tile_layer(self.tiles, self.attribution, "basemap")
            except ValueError:
                raise ValueError(
                    f"unknown tile provider {self.tiles!r}: give a provider name (e.g. "
                    "openstreetmap, cartodbpositron), an {z}/{x}/{y} URL template, or none"
                ) from None
        return self


class Config(_Strict):
    coordinates: str = "wgs84"
    crs: str = ""
    max_outside_share: float = Field(0.01, ge=0, le=1)
    grid: GridConfig = GridConfig()
    scoring: ScoringConfig = ScoringConfig()
    hotspots: HotspotConfig = HotspotConfig()
    forecast: ForecastConfig = ForecastConfig()
    allocation: AllocationConfig = AllocationConfig()
    training: TrainingConfig = TrainingConfig()
    map: MapConfig = MapConfig()

    @field_validator("coordinates")
    @classmethod
    def _coordinates(cls, value: str) -> str:
        if value.lower() in {"wgs84", "gcj02", "bd09"} or re.fullmatch(r"EPSG:\d+", value, re.I):
            return value
        raise ValueError('must be "wgs84", "gcj02", "bd09" or "EPSG:nnnn"')


class Deltas(_Strict):
    """Scenario changes applied to the data rather than the config.

    `officers`: relative change of officers by station id (0.10 = +10 %), `"*"` for all stations;
    `harm`: multiplier of harm by offence category; `stability = false` ignores the previous plan.
    """

    officers: dict[str, float] = {}
    harm: dict[str, float] = {}
    stability: bool = True


class Scenario(_Strict):
    name: str
    config: Config
    deltas: Deltas = Deltas()


def _key_line(text: str, path: tuple[str | int, ...]) -> int:
    """Best-effort line of a (possibly nested) key in TOML text; 1 if not found."""
    keys = [str(k) for k in path if isinstance(k, str)]
    lines = text.splitlines()
    section = ""
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\s*([^\]]+?)\s*\]", stripped)
        if header:
            section = header.group(1)
            if keys and section == ".".join(keys):
                return number
            continue
        match = re.match(r"([A-Za-z0-9_\-\"']+)\s*=", stripped)
        if not match:
            continue
        full = [*section.split("."), match.group(1).strip("\"'")] if section else [match.group(1)]
        if full == keys[: len(full)] and full:
            return number
    return 1


def _problems(text: str, file: str, error: ValidationError) -> list[Problem]:
    problems = []
    for item in error.errors():
        loc = tuple(item["loc"])
        key = ".".join(str(k) for k in loc) or "(file)"
        message = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        problems.append(Problem(file, _key_line(text, loc), key, message))
    return problems


def _read_toml(path: Path) -> tuple[str, dict[str, Any]]:
    text = path.read_text(encoding="utf-8-sig")
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None) or int(re.search(r"line (\d+)", str(exc)).group(1))
        raise InputError([Problem(path.name, line, "(file)", f"not valid TOML: {exc}")]) from exc


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


def load_scenario(path: Path, base: Config) -> Scenario:
    """A scenario TOML applied over `base`: config keys override, `[deltas]` kept apart."""
    text, data = _read_toml(path)
    name = data.pop("name", path.stem)
    deltas = data.pop("deltas", {})
    problems: list[Problem] = []
    config, parsed_deltas = base, Deltas()
    try:
        config = Config.model_validate(_merge(base.model_dump(), data))
    except ValidationError as exc:
        problems += _problems(text, path.name, exc)
    try:
        parsed_deltas = Deltas.model_validate(deltas)
    except ValidationError as exc:
        for problem in _problems(text, path.name, exc):
            key = f"deltas.{problem.column}"
            line = _key_line(text, ("deltas", *problem.column.split(".")))
            problems.append(Problem(problem.file, line, key, problem.message))
    if problems:
        raise InputError(problems)
    return Scenario(name=str(name), config=config, deltas=parsed_deltas)
