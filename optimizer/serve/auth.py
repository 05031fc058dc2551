"""Who may read what (SPEC §14): signed, expiring bearer tokens, the session cookie of the
pages, slowed failed logins and each role's rights. The users file is read again whenever it
changes, so a user added or removed while the service runs counts from the next request."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import jwt

from optimizer.serve.users import User, check_password, read_users, waste_check

COOKIE = "patrolopt_session"
ALGORITHM = "HS256"

# what each role may read; `station` reads only its own station's rows of these tables
TABLE_ROLES = {
    "allocation": {"planner", "leader", "station"},
    "schedule": {"planner", "leader", "station"},
    "risk": {"planner", "leader"},
    "hotspots": {"planner", "leader"},
    "training": {"trainer", "leader", "station"},
    "scores": {"trainer", "leader", "station"},
    "duals": {"leader"},
    "adherence": {"leader"},
    "response": {"leader"},
    "evaluation": {"leader"},
}
WORKBOOK_ROLES = {"trainer", "leader"}
MAP_ROLES = {"planner", "leader"}
LEADER_ROLES = {"leader"}  # report, comparison, scenario runs and their jobs
ADMIN_ROLES = {"admin"}  # users and audit
ALL_ROLES = {"planner", "trainer", "leader", "station", "admin"}


class UserBook:
    """The users file, re-read when its modification time or size changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._users: dict[str, tuple[User, str]] = {}
        self._lock = threading.Lock()

    def users(self) -> dict[str, tuple[User, str]]:
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if stamp != self._stamp:
                self._users = read_users(self.path) if stamp else {}
                self._stamp = stamp
            return self._users

    def get(self, name: str) -> User | None:
        found = self.users().get(name)
        return found[0] if found else None

    def authenticate(self, name: str, password: str) -> User | None:
        found = self.users().get(name)
        if found is None:
            waste_check(password)  # as slow as a wrong password: names are not revealed
            return None
        user, hashed = found
        return user if check_password(password, hashed) else None


@dataclass
class Tokens:
    """HS256 tokens naming the user, valid for `minutes`; the key is drawn when the service
    starts, so a restart signs everyone out."""

    minutes: int
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def issue(self, name: str) -> str:
        now = int(time.time())
        claims = {"sub": name, "iat": now, "exp": now + 60 * self.minutes}
        return jwt.encode(claims, self.key, algorithm=ALGORITHM)

    def subject(self, token: str) -> str | None:
        """The user a valid, unexpired token names, else None."""
        try:
            claims = jwt.decode(
                token, self.key, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]}
            )
        except jwt.PyJWTError:
            return None
        subject = claims.get("sub")
        return subject if isinstance(subject, str) else None


class LoginThrottle:
    """Failed logins, counted per user name and per client over `window_s`: the answer to the
    n-th failure waits `base_s × 2^(n-1)` (at most `max_s`) seconds, and from the
    `free`-th failure on, attempts within `base_s × 2^n` of the last failure are refused
    outright (429), so guesses cannot be sent in parallel either."""

    def __init__(
        self, base_s: float = 0.25, max_s: float = 8.0, free: int = 3, window_s: float = 900.0
    ) -> None:
        self.base_s, self.max_s, self.free, self.window_s = base_s, max_s, free, window_s
        self._failures: dict[str, tuple[int, float]] = {}  # key → (count, last failure time)
        self._lock = threading.Lock()

    def _count(self, key: str, now: float) -> tuple[int, float]:
        count, last = self._failures.get(key, (0, 0.0))
        return (0, 0.0) if now - last > self.window_s else (count, last)

    def _delay(self, count: int) -> float:
        return min(self.base_s * 2 ** (count - 1), self.max_s) if count else 0.0

    def retry_after(self, keys: list[str]) -> float:
        """Seconds until another attempt is taken for any of `keys` (0 = now)."""
        now = time.monotonic()
        with self._lock:
            waits = []
            for key in keys:
                count, last = self._count(key, now)
                if count >= self.free:  # locked for one step of the doubling beyond the answer
                    waits.append(last + self._delay(count + 1) - now)
            return max([0.0, *waits])

    def failed(self, keys: list[str]) -> float:
        """Count a failure; the seconds its answer should wait."""
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > 10_000:  # forget old keys: guessed names cannot grow it
                self._failures = {
                    k: v for k, v in self._failures.items() if now - v[1] <= self.window_s
                }
            counts = []
            for key in keys:
                count = self._count(key, now)[0] + 1
                self._failures[key] = (count, now)
                counts.append(count)
            return self._delay(max(counts))

    def succeeded(self, user_key: str) -> None:
        with self._lock:
            self._failures.pop(user_key, None)
