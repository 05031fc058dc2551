"""Every word patrolopt writes for a reader, in English and Chinese (`--lang en|zh`).

The words live in one file per language, `optimizer/locales/<lang>.toml`, in sections: `terms`
(codes the product defines: grades, trends, default shifts, weekdays, data-quality checks, solver
status), `map` and `fields` (the planner's map), `report`, `columns` (the report's tables) and
`reasons` (training recommendations). A key missing from a language falls back to English.

A bureau's own codes (offences, categories, station types) are not product words: the bureau
names them in its data folder (`name_zh` in offences.csv, `category_zh` there, `type_zh` in the
stations), carried by `BureauNames`. Where it gives no name, its code is shown as written, never
a Chinese guess beside an English code.

    words = vocabulary("zh", BureauNames.from_tables(offences, stations))
    words.term("excellent")               # the zh catalogue's word for the grade
    words.term("violence", "category")    # the bureau's category_zh, else "violence"
    texts("zh", "report")["title"]        # the report's title in Chinese
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # frames are only read here: the CLI takes LANGUAGES without loading pandas
    import pandas as pd

LANGUAGES = ("en", "zh")
BUREAU_KINDS = ("offence", "category", "station_type")  # codes a bureau names itself


@functools.cache
def _catalogue(lang: str) -> Mapping[str, Any]:
    """The language file of `lang` over the English one (nested tables merged key by key),
    read once."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}: one of {', '.join(LANGUAGES)}")

    def read(name: str) -> dict:
        return tomllib.loads((files("optimizer") / "locales" / f"{name}.toml").read_text("utf-8"))

    def merged(base: dict, over: dict) -> dict:
        out = dict(base)
        for key, value in over.items():
            both = isinstance(value, dict) and isinstance(base.get(key), dict)
            out[key] = merged(base[key], value) if both else value
        return out

    def frozen(value: Any) -> Any:
        if isinstance(value, dict):
            return MappingProxyType({k: frozen(v) for k, v in value.items()})
        return value

    english = read("en")
    return frozen(english if lang == "en" else merged(english, read(lang)))


def texts(lang: str, section: str) -> Mapping[str, Any]:
    """One section of the catalogue in `lang` (read-only): `terms`, `map`, `fields`, `report`,
    `columns`, `reasons`."""
    return _catalogue(lang)[section]


def _named(frame: pd.DataFrame | None, key: str, column: str) -> dict[str, str]:
    """Code `key` → the first non-empty `column` among its rows of `frame` (none when either
    column is absent)."""
    if frame is None or column not in frame.columns or key not in frame.columns:
        return {}
    names = frame[column].fillna("").astype(str).str.strip()
    named: dict[str, str] = {}
    for code, name in zip(frame[key].astype(str), names, strict=True):
        if name:
            named.setdefault(code, name)
    return named


@dataclass(frozen=True)
class BureauNames:
    """A bureau's Chinese names for its own codes, from its data folder: offence → `name_zh`
    and category → `category_zh` (offences.csv), station type → `type_zh` (stations)."""

    offence: Mapping[str, str] = field(default_factory=dict)
    category: Mapping[str, str] = field(default_factory=dict)
    station_type: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_tables(
        cls, offences: pd.DataFrame | None, stations: pd.DataFrame | None = None
    ) -> BureauNames:
        """The names given in `offences.csv` and the stations table; a category or station type
        takes the first non-empty name among its rows."""
        return cls(
            offence=_named(offences, "offence", "name_zh"),
            category=_named(offences, "category", "category_zh"),
            station_type=_named(stations, "station_type", "type_zh"),
        )

    def to_json(self) -> dict[str, dict[str, str]]:
        """The names as plain dicts, sorted, for plan.json (the report reads them back)."""
        return {kind: dict(sorted(getattr(self, kind).items())) for kind in BUREAU_KINDS}

    @classmethod
    def from_json(cls, data: Mapping[str, Mapping[str, str]] | None) -> BureauNames:
        """The names `to_json` wrote; none for plans written before they were recorded."""
        data = data or {}
        return cls(**{kind: dict(data.get(kind, {})) for kind in BUREAU_KINDS})


@dataclass(frozen=True)
class Vocabulary:
    """The catalogue in one language together with a bureau's own names: what every writer
    (map, report, workbook, CLI) asks for a word."""

    lang: str
    names: BureauNames = field(default_factory=BureauNames)

    def section(self, name: str) -> Mapping[str, Any]:
        """One section of the catalogue (see `texts`)."""
        return texts(self.lang, name)

    def term(self, code: object, kind: str | None = None) -> str:
        """A code as a reader of this language says it. A bureau's code (`kind` one of
        `BUREAU_KINDS`) takes the bureau's Chinese name in Chinese, else stays as written; a
        product code (`kind` None) takes the catalogue's word. In English an unnamed code
        reads with spaces for underscores."""
        text = str(code)
        if kind is not None:
            if kind not in BUREAU_KINDS:
                raise ValueError(f"unknown kind of code {kind!r}")
            if self.lang == "en":
                return text.replace("_", " ")
            return getattr(self.names, kind).get(text) or text
        word = self.section("terms").get(text)
        if word is not None:
            return word
        return text.replace("_", " ") if self.lang == "en" else text


def vocabulary(lang: str, names: BureauNames | None = None) -> Vocabulary:
    """The words of `lang` (`LANGUAGES`), with `names` for the bureau's own codes."""
    texts(lang, "terms")  # an unknown language fails here, not at the first word
    return Vocabulary(lang, names or BureauNames())
