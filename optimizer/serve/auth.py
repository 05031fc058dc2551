"""Who is asking (SPEC §14): signed, expiring bearer tokens (also the session cookie of the
pages) and slowed failed logins. The users file is read again whenever it changes, so a user
added, removed or changed while the service runs counts from the next request, and a token
stops being taken once its user's entry (password, role or station) changes."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import jwt

from optimizer.serve.users import User, check_password, read_users, waste_check

COOKIE = "patrolopt_session"
ALGORITHM = "HS256"
Entry = tuple[User, str]  # a user and its password hash, as the users file holds them


class UserBook:
    """The users file, re-read when it is replaced or its modification time or size changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._users: dict[str, Entry] = {}
        self._lock = threading.Lock()

    def users(self) -> dict[str, Entry]:
        try:
            stat = self.path.stat()
            stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if stamp != self._stamp:
                self._users = read_users(self.path) if stamp else {}
                self._stamp = stamp
            return self._users

    def authenticate(self, name: str, password: str) -> Entry | None:
        """The user's entry when the password is its own, else None."""
        found = self.users().get(name)
        if found is None:
            waste_check(password)  # as slow as a wrong password: names are not revealed
            return None
        return found if check_password(password, found[1]) else None


@dataclass
class Tokens:
    """HS256 tokens naming the user, valid for `minutes`. A token also carries a keyed digest
    of its user's entry (role, station, password hash), so it is refused as soon as the entry
    changes: a new password, role or station signs the user out everywhere. The key is drawn
    when the service starts, so a restart signs everyone out."""

    minutes: int
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def entry_digest(self, user: User, password_hash: str) -> str:
        entry = json.dumps([user.name, user.role, user.station, password_hash], ensure_ascii=False)
        return hmac.new(self.key, entry.encode("utf-8"), hashlib.sha256).hexdigest()

    def issue(self, user: User, password_hash: str) -> str:
        now = int(time.time())
        claims = {
            "sub": user.name,
            "entry": self.entry_digest(user, password_hash),
            "iat": now,
            "exp": now + 60 * self.minutes,
        }
        return jwt.encode(claims, self.key, algorithm=ALGORITHM)

    def holder(self, token: str, book: UserBook) -> User | None:
        """The user a valid, unexpired token names, while its entry is the one it was issued
        for; else None."""
        try:
            claims = jwt.decode(
                token, self.key, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]}
            )
        except jwt.PyJWTError:
            return None
        name, digest = claims.get("sub"), claims.get("entry")
        found = book.users().get(name) if isinstance(name, str) else None
        if found is None or not isinstance(digest, str):
            return None
        return found[0] if hmac.compare_digest(self.entry_digest(*found), digest) else None


class LoginThrottle:
    """Login attempts, counted per user name and per client over `window_s`. An attempt is
    counted when it begins, before its password is checked: once `free` attempts have failed or
    are being checked, another is refused outright (429) until `base_s × 2^n` seconds after the
    last failure, so at most `free` guesses per name and per client are checked however many are
    sent at once. The answer to the n-th failure waits `base_s × 2^(n-1)` (at most `max_s`)
    seconds. A success forgets the name's failures; the client's stay. `clock` gives seconds."""

    def __init__(
        self,
        base_s: float = 0.25,
        max_s: float = 8.0,
        free: int = 3,
        window_s: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_s, self.max_s, self.free, self.window_s = base_s, max_s, free, window_s
        self.clock = clock
        # key → (failures, attempts being checked, time of the last failure)
        self._counts: dict[str, tuple[int, int, float]] = {}
        self._lock = threading.Lock()

    def _count(self, key: str, now: float) -> tuple[int, int, float]:
        failures, checking, last = self._counts.get(key, (0, 0, 0.0))
        return (0, checking, 0.0) if now - last > self.window_s else (failures, checking, last)

    def _delay(self, count: int) -> float:
        return min(self.base_s * 2 ** (count - 1), self.max_s) if count else 0.0

    def _wait(self, key: str, now: float) -> float:
        """Seconds until an attempt for `key` is taken: held for one step of the doubling
        beyond the last answer, and while attempts being checked fill the free ones."""
        failures, checking, last = self._count(key, now)
        if failures + checking < self.free:
            return 0.0
        hold = self._delay(failures + checking + 1)
        return max(last + hold - now, hold if checking else 0.0)

    def begin(self, keys: list[str]) -> float:
        """Count an attempt for every key before it is checked and answer 0; or, when any key
        is held, count nothing and answer the seconds until another attempt is taken."""
        now = self.clock()
        with self._lock:
            if len(self._counts) > 10_000:  # forget old keys: guessed names cannot grow it
                self._counts = {
                    k: v for k, v in self._counts.items() if v[1] or now - v[2] <= self.window_s
                }
            wait = max(self._wait(key, now) for key in keys)
            if wait > 0:
                return wait
            for key in keys:
                failures, checking, last = self._count(key, now)
                self._counts[key] = (failures, checking + 1, last)
            return 0.0

    def failed(self, keys: list[str]) -> float:
        """The attempt begun for `keys` failed; the seconds its answer waits."""
        now = self.clock()
        with self._lock:
            counts = []
            for key in keys:
                failures, checking, _last = self._count(key, now)
                self._counts[key] = (failures + 1, max(checking - 1, 0), now)
                counts.append(failures + 1)
            return self._delay(max(counts))

    def succeeded(self, keys: list[str]) -> None:
        """The attempt begun for `keys` succeeded: the name (`keys[0]`) starts again from
        nothing, the other keys (the client) keep their failures."""
        now = self.clock()
        with self._lock:
            self._counts.pop(keys[0], None)
            for key in keys[1:]:
                failures, checking, last = self._count(key, now)
                self._counts[key] = (failures, max(checking - 1, 0), last)
