"""The console's sessions, kept server-side so that they can be ended.

    sessions = Sessions(journal, idle=30 * 60, absolute=12 * 3600)
    request.session["sid"] = sessions.start("anna", stored_hash)   # at login
    sessions.user(sid, current_hash_of)                              # each request: "anna" or None
    sessions.end(sid)                                                # at logout

The signed cookie carries only a random id; the journal keeps its SHA-256, the user, and a
fingerprint of the password hash the user logged in with. A session ends at logout, after
``idle`` seconds without a request, ``absolute`` seconds after login, and as soon as the
account's password changes or the account is removed (its fingerprint no longer matches): a
cookie copied before any of these no longer opens anything.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable

from adapter.journal import Journal

__all__ = ["Sessions", "fingerprint"]

#: A session's last-seen time is written at most this often: not a journal write per request.
_SEEN_EVERY = 30.0


def fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class Sessions:
    def __init__(self, journal: Journal, *, idle: float, absolute: float, clock: Callable[[], float] = time.time):
        self.journal, self.idle, self.absolute, self.clock = journal, idle, absolute, clock

    def start(self, user: str, password_hash: str) -> str:
        """A new session of ``user``; the id to put in the cookie."""
        sid = secrets.token_urlsafe(32)
        self.journal.session_start(_hash(sid), user, fingerprint(password_hash), now=self.clock())
        return sid

    def user(self, sid: str, password_hash_of: Callable[[str], str | None]) -> str | None:
        """The user of a live session; None (and the session ended) if it is over."""
        found = self.journal.session(_hash(sid))
        if found is None:
            return None
        user, printed, started, seen = found
        now = self.clock()
        current = password_hash_of(user)
        if current is None or fingerprint(current) != printed or now - seen > self.idle or now - started > self.absolute:
            self.journal.session_end(_hash(sid))
            return None
        if now - seen > min(_SEEN_EVERY, self.idle / 4):
            self.journal.session_seen(_hash(sid), now=now)
        return user

    def end(self, sid: str) -> None:
        self.journal.session_end(_hash(sid))
