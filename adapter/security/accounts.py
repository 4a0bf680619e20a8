"""Operators' accounts: who may look (auditor), who may act (operator), who may unmask (reveal).

Local accounts live in a JSON file (``SAMVERKAN_USERS_FILE``), written by
``samverkan user add``::

    {"anna": {"password": "scrypt$131072$8$1$<salt>$<hash>", "roles": ["operator", "reveal"]}}

A browser logs in at ``/ui/login`` and carries a signed session cookie; a script may send the
same account with HTTP Basic. Without a users file the operator routes are open to an anonymous
operator who cannot reveal anything, and ``serve`` says so at start: for a developer's machine,
never for production. (Senders of messages authenticate differently: ``adapter.security.senders``.)
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from fastapi import Request

from .credentials_file import CredentialsFile
from .passwords import COST, FailedLogins, Verified, cost_of, hash_password, verify
from .sessions import Sessions

__all__ = ["Accounts", "NotAllowed", "Role", "User"]


class Role(StrEnum):
    OPERATOR = "operator"  # sees everything masked; replays, cancels, flags episodes
    AUDITOR = "auditor"  # sees everything masked and the audit log; changes nothing
    REVEAL = "reveal"  # may unmask one document at a time; each reveal is audited


@dataclass(frozen=True, slots=True)
class User:
    name: str
    roles: frozenset[Role]

    def may(self, role: Role) -> bool:
        return role in self.roles


ANONYMOUS = User("anonymous", frozenset({Role.OPERATOR}))


class NotAllowed(Exception):
    """401 (nobody logged in) or 403 (logged in, without the role)."""

    def __init__(self, status: int, detail: str, *, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status = status
        self.headers = headers or {}


def _account(entry: Any) -> tuple[str, frozenset[Role]]:
    return entry["password"], frozenset(Role(r) for r in entry["roles"])


def _account_json(account: tuple[str, frozenset[Role]]) -> dict[str, Any]:
    stored, roles = account
    return {"password": stored, "roles": sorted(roles)}


class Accounts:
    """The accounts file (none: the open mode of a developer's machine), read again whenever it
    changes: a removed account loses its session at its next request, no restart."""

    def __init__(self, path: Path | None = None, *, cost: int = COST):
        self.file = CredentialsFile(path, parse=_account, dump=_account_json)
        self.cost = cost
        self.verified = Verified()
        self.failed = FailedLogins()
        self._decoy: str | None = None
        #: Where the console's sessions are kept (set once the journal is open); none: no session opens anything.
        self.sessions: Sessions | None = None

    @classmethod
    def load(cls, path: str | None, *, cost: int = COST) -> Accounts:
        return cls(None if path is None else Path(path), cost=cost)

    @property
    def path(self) -> Path | None:
        return self.file.path

    @property
    def entries(self) -> dict[str, tuple[str, frozenset[Role]]]:
        """``{name: (password hash, roles)}``; changes here are kept by :meth:`save`."""
        return self.file.entries

    @property
    def open(self) -> bool:
        """No accounts configured: the operator routes are open (a developer's machine)."""
        return self.path is None

    def save(self) -> None:
        self.file.save()

    def add(self, name: str, password: str, roles: frozenset[Role]) -> None:
        self.entries[name] = (hash_password(password, cost=self.cost), roles)

    def check(self, name: str, password: str, *, client: str | None = None) -> User | None:
        """The user if the password is theirs; None if not; 429 while too many have failed lately
        for the account or the client's address."""
        who = (f"name:{name}", f"client:{client}" if client else None)  # throttled on each
        wait = self.failed.wait(*who)
        if wait > 0:
            raise NotAllowed(429, f"too many failed logins: try again in {wait:.0f} s", headers={"Retry-After": f"{wait:.0f}"})
        self.file.refresh()
        entry = self.entries.get(name)
        stored, roles = entry if entry is not None else (self._decoy_hash(), frozenset[Role]())
        if (name, password, stored) in self.verified:
            return User(name, roles)
        if not (verify(password, stored) and name in self.entries):
            self.failed.failed(*who)
            return None
        self.failed.succeeded(*who)
        if (cost_of(stored) or 0) < self.cost:
            # An older, cheaper hash: made again at today's cost now that the password is at hand.
            stored = hash_password(password, cost=self.cost)
            self.entries[name] = (stored, roles)
            self.save()
        self.verified.add(name, password, stored)
        return User(name, roles)

    def _decoy_hash(self) -> str:
        """Checked against when the name is unknown, so a wrong name costs as long as a wrong password."""
        if self._decoy is None:
            self._decoy = hash_password(secrets.token_hex(8), cost=self.cost)
        return self._decoy

    def user(self, request: Request) -> User:
        """The caller: the session's user, HTTP Basic, or (open mode) the anonymous operator."""
        if self.open:
            return ANONYMOUS
        self.file.refresh()
        sid = request.session.get("sid") if "session" in request.scope else None
        if isinstance(sid, str) and self.sessions is not None:
            name = self.sessions.user(sid, self._password_hash)
            if name is not None:
                return User(name, self.entries[name][1])
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                name, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise NotAllowed(401, "the Authorization header is not valid Basic") from None
            user = self.check(name, password, client=request.client.host if request.client else None)
            if user is not None:
                return user
        raise NotAllowed(401, "log in first (/ui/login, or HTTP Basic with an operator's account)")

    def _password_hash(self, name: str) -> str | None:
        entry = self.entries.get(name)
        return None if entry is None else entry[0]

    def log_in(self, request: Request, user: User) -> None:
        """Starts a server-side session for ``user`` in the request's (signed) cookie."""
        assert self.sessions is not None, "sessions are kept in the journal, which is open while the app runs"
        request.session.clear()  # nothing of an earlier session carries over
        password_hash = self._password_hash(user.name)
        assert password_hash is not None
        request.session["sid"] = self.sessions.start(user.name, password_hash)

    def log_out(self, request: Request) -> None:
        sid = request.session.get("sid")
        if isinstance(sid, str) and self.sessions is not None:
            self.sessions.end(sid)
        request.session.clear()

    def require(self, request: Request, *roles: Role) -> User:
        """The caller, if they have one of ``roles``; else :class:`NotAllowed`."""
        user = self.user(request)
        if not any(user.may(r) for r in roles):
            raise NotAllowed(403, f"{user.name} does not have the role {' or '.join(roles)}")
        return user
