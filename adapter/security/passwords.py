"""Operators' passwords: scrypt at OWASP's cost, checked off the event loop and few at a time, and
failed logins slowed down.

    stored = hash_password("secret", cost=17)       scrypt$131072$8$1$<salt>$<hash>
    verify("secret", stored) -> bool                at most two checks at a time (memory, cores)
    cost_of(stored) -> 17                           an older, cheaper hash is re-hashed at login
    failed = FailedLogins()                         per account and per client address:
    failed.wait("anna", "10.0.0.7") -> seconds      after FREE failures, 1 s, 2 s, 4 s... (at most 15 min)

OWASP asks scrypt with N=2^17, r=8, p=1: 128 MiB and about half a second a check here. A script
that sends HTTP Basic on every request would pay that each time, so a credential that passed is
remembered for a few minutes by a keyed hash of name, password and stored hash (a new password
changes the stored hash and so forgets it).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable

__all__ = ["COST", "FailedLogins", "Verified", "cost_of", "hash_password", "verify"]

#: log2 of scrypt's N by default (OWASP: 2^17 with r=8, p=1).
COST = 17
_R, _P = 8, 1
#: Password checks at a time: each costs scrypt's memory and a core for a while, and a flood of
#: wrong passwords must not take every thread (nor the memory) from everyone else.
_HASHING = threading.BoundedSemaphore(2)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # scrypt needs 128 * N * r bytes; hashlib refuses more than 32 MiB unless told.
    with _HASHING:
        return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r)


def hash_password(password: str, *, cost: int = COST, salt: bytes | None = None) -> str:
    n, salt = 2**cost, salt or secrets.token_bytes(16)
    return f"scrypt${n}${_R}${_P}${salt.hex()}${_scrypt(password, salt, n, _R, _P).hex()}"


def cost_of(stored: str) -> int | None:
    """log2 of the N a stored hash was made with (None: not one of ours)."""
    try:
        return int(stored.split("$")[1]).bit_length() - 1
    except (IndexError, ValueError):
        return None


def verify(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = _scrypt(password, bytes.fromhex(salt), int(n), int(r), int(p))
    except (ValueError, TypeError, MemoryError):
        return False
    return hmac.compare_digest(got.hex(), digest)


class Verified:
    """Credentials that passed, for ``ttl`` seconds: a keyed hash of each, never the password."""

    def __init__(self, *, ttl: float = 300.0, most: int = 1024, clock: Callable[[], float] = time.monotonic):
        self.ttl, self.most, self.clock = ttl, most, clock
        self._key = secrets.token_bytes(32)
        self._until: dict[bytes, float] = {}
        self._lock = threading.Lock()

    def _id(self, name: str, password: str, stored: str) -> bytes:
        return hmac.new(self._key, "\0".join((name, password, stored)).encode(), hashlib.sha256).digest()

    def __contains__(self, credential: tuple[str, str, str]) -> bool:
        with self._lock:
            return self._until.get(self._id(*credential), 0.0) > self.clock()

    def add(self, name: str, password: str, stored: str) -> None:
        with self._lock:
            if len(self._until) >= self.most:
                self._until.clear()  # rare: a full cache costs one check each afterwards
            self._until[self._id(name, password, stored)] = self.clock() + self.ttl


class FailedLogins:
    """Failed logins per key (an account's name, a client's address), each with a growing delay."""

    #: Failures before any delay: a mistyped password or two costs nothing.
    FREE = 5
    #: The longest delay, in seconds.
    LONGEST = 900.0

    def __init__(self, *, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._failures: dict[str, tuple[int, float]] = {}  # key -> (failures, when the last was)
        self._lock = threading.Lock()

    def wait(self, *keys: str | None) -> float:
        """Seconds before another attempt on any of ``keys`` is taken (0: now)."""
        now, longest = self.clock(), 0.0
        with self._lock:
            for key in filter(None, keys):
                count, last = self._failures.get(key, (0, 0.0))
                if count >= self.FREE:
                    longest = max(longest, last + min(2.0 ** (count - self.FREE), self.LONGEST) - now)
        return max(longest, 0.0)

    def failed(self, *keys: str | None) -> None:
        with self._lock:
            if len(self._failures) > 100_000:
                self._failures.clear()  # a flood of addresses: memory stays bounded
            for key in filter(None, keys):
                count, _ = self._failures.get(key, (0, 0.0))
                self._failures[key] = (count + 1, self.clock())

    def succeeded(self, *keys: str | None) -> None:
        with self._lock:
            for key in filter(None, keys):
                self._failures.pop(key, None)
