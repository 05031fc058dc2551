"""What the assessment desk reads of the bureau's data folder (SPEC §17): the config, stations,
indicators with their owning departments, the weights that say which values each station owes,
and the cases the pre-filled values and the third-party check are computed from. Read once and
again only when one of the files changes (a request costs no reading)."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path

import pandas as pd

from models.config import Config, timezone_of
from models.contracts import load_bureau
from models.policy import station_weights
from models.submissions import prefilled_values
from optimizer.assessment.measured import PREFILL_COLUMNS, measured_prefill

DESK_TABLES = frozenset({"stations", "indicators", "weights", "flex_weights", "offences", "cases"})
DESK_FILES = ("config.toml", "indicators.csv", "weights.csv", "flex_weights.csv", "cases.csv")


@dataclass(frozen=True)
class DeskBureau:
    """The desk's view of the data folder. `owed` lists `station_id, indicator_id,
    department` for every value a station owes a month (a weight above zero)."""

    data: Path
    config: Config
    stations: pd.DataFrame  # station_id, name, station_type
    indicators: pd.DataFrame
    weights: pd.DataFrame
    flex_weights: pd.DataFrame | None
    cases: pd.DataFrame | None
    owed: pd.DataFrame
    stamps: tuple  # the files' names, modification times and sizes it was read from
    out: Path | None = None  # the output folder: the plans the execution data are measured on

    @property
    def timezone(self) -> tzinfo:
        return timezone_of(self.config.timezone)

    def now(self) -> datetime:
        """The bureau's local time now (naive, as the data folder's times are)."""
        return datetime.now(self.timezone).replace(tzinfo=None)

    @property
    def station_ids(self) -> set[str]:
        return set(self.stations["station_id"])

    def names(self) -> dict[str, str]:
        return dict(zip(self.stations["station_id"], self.stations["name"], strict=True))

    def departments(self) -> dict[str, str]:
        """Indicator id → the department that reports it."""
        owner = self.indicators.get("owner", pd.Series("", index=self.indicators.index))
        return dict(zip(self.indicators["indicator_id"], owner.fillna("").astype(str), strict=True))

    def prefilled(self, month: str) -> pd.DataFrame:
        """`station_id, indicator_id, prefilled` of `month`: recomputed from the cases, and
        measured from the tracks and calls against the month's plan in the output folder."""
        parts = [_prefilled(self.stamps, month)] if self.cases is not None else []
        if self.out is not None:
            parts.append(measured_prefill(self.data, self.out, month, self.indicators))
        parts = [part for part in parts if len(part)]
        if not parts:
            return pd.DataFrame(columns=PREFILL_COLUMNS)
        return pd.concat(parts, ignore_index=True)


@functools.lru_cache(maxsize=24)
def _prefilled(stamps: tuple, month: str) -> pd.DataFrame:
    bureau = _read(stamps)
    return prefilled_values(bureau.cases, bureau.indicators, sorted(bureau.station_ids), month)


def _stamps(data: Path) -> tuple:
    stamps = [str(data)]
    for path in sorted(data.iterdir()) if data.is_dir() else ():
        if path.name in DESK_FILES or path.stem in ("stations", "cases", "offences"):
            stat = path.stat()
            stamps.append((path.name, stat.st_mtime_ns, stat.st_size))
    return tuple(stamps)


def desk_bureau(data: Path, out: Path | None = None) -> DeskBureau:
    """The data folder as the desk reads it, with the output folder `out` whose plans the
    execution data are measured against; InputError naming every problem of its files."""
    return dataclasses.replace(_read(_stamps(Path(data))), out=out)


@functools.lru_cache(maxsize=2)
def _read(stamps: tuple) -> DeskBureau:
    data = Path(stamps[0])
    bureau = load_bureau(data, DESK_TABLES)
    stations = pd.DataFrame(bureau.stations.drop(columns="geometry"))
    if "name" not in stations.columns:
        stations["name"] = stations["station_id"]
    stations["name"] = stations["name"].fillna(stations["station_id"]).astype(str)
    weights = station_weights(bureau.weights, stations, bureau.flex_weights)
    owed = weights[weights["weight"] > 0][["station_id", "indicator_id"]]
    indicators = bureau.indicators.copy()
    if "owner" not in indicators.columns:
        indicators["owner"] = ""
    indicators["owner"] = indicators["owner"].fillna("").astype(str)
    owner = indicators.set_index("indicator_id")["owner"]
    owed = owed.assign(department=owed["indicator_id"].map(owner).fillna(""))
    return DeskBureau(
        data=data,
        config=bureau.config,
        stations=stations[["station_id", "name", "station_type"]],
        indicators=indicators,
        weights=bureau.weights,
        flex_weights=bureau.flex_weights,
        cases=bureau.cases,
        owed=owed.sort_values(["department", "indicator_id", "station_id"]).reset_index(drop=True),
        stamps=stamps,
    )
