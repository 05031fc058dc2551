"""`config.toml`: every tunable with its documented default (SPEC §12).

Unknown keys are errors, so a typo never passes silently. A scenario file (SPEC §10) is the same
schema plus `name` and a `[deltas]` table.
"""

from __future__ import annotations

import csv
import re
import tomllib
from collections.abc import Collection
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from models.errors import InputError, Problem

BOM = b"\xef\xbb\xbf"


def _line_of(raw: bytes, position: int) -> int:
    return raw.count(b"\n", 0, position) + 1


def _column_at(raw: bytes, position: int, encoding: str) -> str:
    """The CSV column (by the header) holding byte `position`, read leniently."""
    start = raw.rfind(b"\n", 0, position) + 1
    if start == 0:
        return "(header)"
    header = next(csv.reader([raw[:start].splitlines()[0].decode(encoding, "replace")]), [])
    prefix = raw[start:position].decode(encoding, "replace")
    index = max(len(next(csv.reader([prefix]), [])), 1) - 1
    return header[index].strip() if index < len(header) else "(file)"


def decode(raw: bytes, file: str, encodings: tuple[str, ...], table: bool = False) -> str:
    """Text of a file: UTF-8 after a UTF-8 BOM, else the first of `encodings` that decodes it.

    When none does, raises InputError at the first undecodable line of the encoding that read
    furthest (the file's likeliest encoding), naming every encoding tried; for a `table` (CSV)
    the column is the header name of the field holding the bad bytes.
    """
    body, tried = (raw[len(BOM) :], ("utf-8",)) if raw.startswith(BOM) else (raw, encodings)
    failures: dict[str, UnicodeDecodeError] = {}
    for encoding in tried:
        try:
            return body.decode(encoding)
        except UnicodeDecodeError as exc:
            failures[encoding] = exc
    encoding, worst = max(failures.items(), key=lambda item: item[1].start)
    attempts = " and ".join(
        f"{name.upper()} (fails on line {_line_of(body, exc.start)})"
        for name, exc in failures.items()
    )
    bom = " after a UTF-8 byte order mark" if raw.startswith(BOM) else ""
    column = _column_at(body, worst.start, encoding) if table else "(file)"
    raise InputError(
        [
            Problem(
                file,
                _line_of(body, worst.start),
                column,
                f"cannot decode bytes {body[worst.start : worst.end]!r}{bom}; tried {attempts}",
            )
        ]
    )


class KeyedValueError(ValueError):
    """A value error of a table that concerns some of its keys: reported at the first of `keys`
    the file writes, so the line points at what the user typed rather than the table header."""

    def __init__(self, message: str, keys: tuple[str, ...]):
        super().__init__(message)
        self.keys = keys


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


SHARE_TOLERANCE = 1e-6  # |Σ shift_share − 1| allowed


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

    @field_validator("shift_share")
    @classmethod
    def _shares(cls, value: dict[str, float]) -> dict[str, float]:
        if any(share < 0 for share in value.values()):
            raise ValueError("shares must not be negative")
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
        if any(b > a for a, b in zip(slopes, slopes[1:], strict=False)) or min(slopes) < 0:
            raise KeyedValueError(
                "benefit_slopes must be non-negative and non-increasing (concave)",
                ("benefit_slopes",),
            )
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
    tiles_datum: Literal["wgs84", "gcj02"] = "wgs84"  # gcj02 for AutoNavi/Gaode, Tencent tiles

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

    `officers`: relative change of officers by station id (0.10 = +10 %, at least −1), `"*"` for
    all stations; `harm`: multiplier (≥ 0) of harm by offence category; `stability = false`
    ignores the previous plan. `load_scenario` checks the ids and categories against the bureau.
    """

    officers: dict[str, Annotated[float, Field(ge=-1)]] = {}
    harm: dict[str, Annotated[float, Field(ge=0)]] = {}
    stability: bool = True


class Scenario(_Strict):
    name: str
    config: Config
    deltas: Deltas = Deltas()


_TOML_KEY = re.compile(r"""("[^"]*"|'[^']*'|[A-Za-z0-9_\-]+)\s*=""")


def _toml_keys(text: str) -> list[tuple[int, list[str], bool]]:
    """Each table header and key line of TOML text: (line, full key path, is a header)."""
    found = []
    section: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\s*([^\]]+?)\s*\]", stripped)
        if header:
            section = [part.strip().strip("\"'") for part in header.group(1).split(".")]
            found.append((number, section, True))
            continue
        match = _TOML_KEY.match(stripped)
        if match:
            found.append((number, [*section, match.group(1).strip("\"'")], False))
    return found


def _key_line(text: str, *paths: tuple[str | int, ...]) -> tuple[int, tuple[str | int, ...]]:
    """Line of the first of `paths` (nested keys) that the TOML text writes (a key holding it
    in an inline table counts), and that path; else the line of the innermost table enclosing
    the first path (1 if none), and the first path."""
    entries = _toml_keys(text)
    for path in paths:
        keys = [str(k) for k in path if isinstance(k, str)]
        for number, full, is_header in entries:
            if (full == keys) if is_header else (full == keys[: len(full)]):
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
        line, path = _key_line(text, *paths)
        key = ".".join(str(k) for k in path) or "(file)"
        message = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        problems.append(Problem(file, line, key, message.removeprefix("Value error, ")))
    return problems


def _read_toml(path: Path) -> tuple[str, dict[str, Any]]:
    text = decode(path.read_bytes(), path.name, ("utf-8",))
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
        problems += _problems(text, path.name, exc, ("deltas",))
    if isinstance(deltas, dict):
        problems += _delta_problems(text, path.name, deltas, stations, categories)
    if problems:
        raise InputError(problems)
    return Scenario(name=str(name), config=config, deltas=parsed_deltas)
