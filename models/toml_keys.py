"""Where a key stands in a TOML file, so that every problem of `config.toml` or a scenario file
is reported at its line and key (SPEC §3.1: row = line in TOML, column = the key)."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import ValidationError

from models.errors import Problem
from models.reading import read_toml


class KeyedValueError(ValueError):
    """A value error of a table that concerns some of its keys: reported at the first of `keys`
    the file writes, so the line points at what the user typed rather than the table header."""

    def __init__(self, message: str, keys: tuple[str, ...]):
        super().__init__(message)
        self.keys = keys


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


def key_line(text: str, *paths: tuple[str | int, ...]) -> tuple[int, tuple[str | int, ...]]:
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


def validation_problems(
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
        line, path = key_line(text, *paths)
        key = ".".join(str(k) for k in path) or "(file)"
        problems.append(Problem(file, line, key, message))
    return problems


def config_key_problem(path: Path, keys: tuple[str, ...], message: str) -> Problem:
    """A problem at the line of config key `keys` in the TOML file at `path` (else of its table;
    line 0 without a file: the default is at fault)."""
    line = key_line(read_toml(path)[0], keys)[0] if path.exists() else 0
    return Problem(path.name, line, ".".join(keys), message)
