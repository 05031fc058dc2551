"""The service's users file (SPEC §14): a TOML table per user with role, station and a scrypt
password hash. Plain passwords are never written; hashes carry their own cost parameters so
they can be raised later without breaking old entries."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import tomllib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import pandas as pd

from models.errors import InputError
from models.reading import find_geometry, read_layer
from optimizer.audit import read_log
from optimizer.manifest import AUDIT_FILE, USERS_FILE
from optimizer.serve.roles import ROLES

NAME = re.compile(r"[\w.@-]{1,64}")  # letters of any script, digits, . _ @ -
MIN_PASSWORD = 10  # characters of a new password
COMMON_PASSWORDS = "common_passwords.txt"  # beside this module; where it comes from inside
# scrypt cost: 2**15 × 128 × 8 bytes = 32 MiB of memory per hash, about 0.1 s on one core
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_MAXMEM = 64 * 1024 * 1024


class UserError(ValueError):
    """A user entry or users file that cannot be used, with the reason."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    station: str = ""  # the station a `station` user reads
    department: str = ""  # the department a `department` user reports for (SPEC §17)


def hash_password(password: str) -> str:
    """`scrypt$N$r$p$salt$hash`, salt and hash in base64."""
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=_MAXMEM
    )
    encode = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encode(salt).decode()}${encode(key).decode()}"


def check_password(password: str, stored: str) -> bool:
    """True when `password` matches the stored scrypt hash; False for any malformed hash."""
    try:
        kind, n, r, p, salt, key = stored.split("$")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(key, validate=True)
        got = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt, validate=True),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_MAXMEM,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def waste_check(password: str) -> None:
    """Spend what a real check costs, for unknown user names: answers take as long either way."""
    check_password(password, _DUMMY_HASH)


def read_users(path: Path) -> dict[str, tuple[User, str]]:
    """Every user in the file as (user, password hash); an absent file holds none."""
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not a valid users file: {exc}") from exc
    users = {}
    for name, entry in data.get("users", {}).items():
        if not isinstance(entry, dict) or entry.get("role") not in ROLES:
            raise UserError(f"{path}: user {name!r} has no valid role ({', '.join(ROLES)})")
        station, department = str(entry.get("station", "")), str(entry.get("department", ""))
        user = User(name=name, role=entry["role"], station=station, department=department)
        users[name] = (user, str(entry.get("password", "")))
    return users


def check_user(name: str, role: str, station: str, department: str = "") -> None:
    """Raise UserError unless name, role, station and department make a valid entry."""
    if not NAME.fullmatch(name):
        raise UserError(f"user name {name!r}: use 1-64 letters, digits, '.', '_', '@' or '-'")
    if role not in ROLES:
        raise UserError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    if role == "station" and not station:
        raise UserError("role station needs --station, the station whose rows the user reads")
    if role != "station" and station:
        raise UserError(f"--station applies to role station only, not {role}")
    if role == "department" and not NAME.fullmatch(department):
        raise UserError(
            "role department needs --department, the department whose indicators it reports "
            "(the `owner` of indicators.csv)"
        )
    if role != "department" and department:
        raise UserError(f"--department applies to role department only, not {role}")


@functools.cache
def common_passwords() -> frozenset[str]:
    """The most common passwords (`COMMON_PASSWORDS`), lower-cased."""
    text = (files("optimizer.serve") / COMMON_PASSWORDS).read_text(encoding="utf-8")
    return frozenset(
        line.strip().casefold() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


def check_new_password(password: str) -> None:
    """Raise UserError for a password shorter than `MIN_PASSWORD` characters or on the list of
    the most common passwords (compared without regard to case)."""
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password has {len(password)} characters: use at least {MIN_PASSWORD}")
    if password.casefold() in common_passwords():
        raise UserError(
            f"the password is on the list of the most common passwords "
            f"(optimizer/serve/{COMMON_PASSWORDS}): choose another"
        )


def known_stations(out: Path, data: Path | None = None) -> tuple[list[str], str]:
    """The bureau's station ids and where they were read: the stations of `data` (its
    stations.geojson or .gpkg) when given, else the `scores.csv` of the latest run the audit log
    of `out` records; none, with no source, before the first run."""
    if data is not None:
        path = find_geometry(Path(data))
        if path is None:
            raise UserError(f"{data}: no stations.geojson or stations.gpkg to check --station")
        try:
            table, _ = read_layer(path)
        except InputError as exc:
            raise UserError(f"{path}: cannot read the stations: {exc.problems[0]}") from exc
        if "station_id" not in table.frame:
            raise UserError(f"{path}: no station_id column to check --station")
        return sorted(set(table.text("station_id"))), str(path)
    entries, _ = read_log(Path(out) / AUDIT_FILE)
    for entry in reversed(entries):
        scores = Path(out) / str(entry.get("folder", "")) / "scores.csv"
        if scores.is_file():
            ids = pd.read_csv(scores, usecols=["station_id"], dtype=str, keep_default_na=False)
            return sorted(set(ids["station_id"])), f"the latest recorded run's {scores}"
    return [], ""


def users_file_of(out: Path | None, default_out: Path) -> Path:
    """The users file of `patrolopt users add` without `--users`: OUT/users.toml, `.` taken for
    OUT inside an output folder (one holding an audit log) when no `--out` is given and no
    `default_out` exists."""
    inside = out is None and not default_out.exists() and Path(AUDIT_FILE).exists()
    return (Path(".") if inside else out or default_out) / USERS_FILE


def check_new_user(
    name: str, role: str, station: str, out: Path, data: Path | None, department: str = ""
) -> None:
    """Raise UserError unless the entry is valid (`check_user`) and its station, if any, is
    one of the bureau's (`known_stations` of `out` or `data`), naming where they were read and
    which they are."""
    check_user(name, role, station, department)
    if not station:
        return
    known, source = known_stations(out, data)
    if known and station not in known:
        shown = ", ".join(known[:30]) + (" …" if len(known) > 30 else "")
        raise UserError(
            f"--station {station}: not a station of the bureau (stations read from {source}: "
            f"{shown})"
        )


def add_user(
    path: Path, name: str, role: str, station: str, password: str, department: str = ""
) -> bool:
    """Add the user, or replace its entry; True when it was new (`write_users` writes the
    file)."""
    check_user(name, role, station, department)
    if not password:
        raise UserError("the password is empty")
    users = read_users(path)
    new = name not in users
    users[name] = (User(name, role, station, department), hash_password(password))
    write_users(path, users)
    return new


DISABLED = "!"  # a hash starting with this is a disabled user's: no password matches it


def is_disabled(password_hash: str) -> bool:
    return password_hash.startswith(DISABLED)


def write_users(path: Path, users: dict[str, tuple[User, str]]) -> None:
    """Write `users` (name → (user, password hash)) as the users file, whole, through a
    temporary file (owner-only permissions), so a reader never sees half of it."""
    lines = ["# written by `patrolopt users add`; passwords are scrypt hashes, never plain"]
    for user, hashed in users.values():
        lines += [
            "",
            f"[users.{json.dumps(user.name, ensure_ascii=False)}]",
            f"role = {json.dumps(user.role)}",
            f"station = {json.dumps(user.station, ensure_ascii=False)}",
            *([f"department = {json.dumps(user.department)}"] if user.department else []),
            f"password = {json.dumps(hashed)}",
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    os.replace(temporary, path)


def set_disabled(path: Path, name: str, disabled: bool) -> None:
    """Disable the user (its hash is kept behind `!`, so no password matches and every token
    of the user stops being taken, as for any changed entry) or enable it again."""
    users = read_users(path)
    if name not in users:
        raise UserError(f"no user {name!r}")
    user, hashed = users[name]
    bare = hashed.removeprefix(DISABLED)
    users[name] = (user, DISABLED + bare if disabled else bare)
    write_users(path, users)


def reset_password(path: Path, name: str, password: str) -> None:
    """A new password for an existing user, checked as `users add` checks one; a disabled user
    stays disabled."""
    users = read_users(path)
    if name not in users:
        raise UserError(f"no user {name!r}")
    user, hashed = users[name]
    add_user(path, user.name, user.role, user.station, password, user.department)
    if is_disabled(hashed):
        set_disabled(path, name, True)
