"""Who may call a route: one FastAPI dependency per kind of caller, checked before any body is read.

    user: Viewer        an operator or an auditor (operators' accounts, adapter.security.accounts)
    user: Operator      an operator: may replay, cancel, flag
    caller: Sender      a sender of messages (API key or bearer token, adapter.security.senders)

A route that takes a body declares none (FastAPI parses a declared body before it runs the
dependencies); it reads the body itself, after the check (:func:`adapter.http.bodies.parsed`).
"""

from __future__ import annotations

from typing import Annotated, Any, NamedTuple
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from adapter.security import Caller, NotAllowed, Role, User

from . import csrf
from .services import Svc

__all__ = [
    "Auditor",
    "DocumentReader",
    "Operator",
    "Sender",
    "Viewer",
    "document_reader",
    "operator_or_sender",
    "require",
    "same_origin",
]


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def same_origin(request: Request) -> None:
    """Refuses a state-changing request that a browser sent from another origin (403).

    A browser names the page's origin in ``Origin`` (or at least ``Referer``) on every cross-origin
    POST; SameSite=Strict cookies still go along from another port of the same host, which is the
    same site. Scripts send neither header and are not affected."""
    if request.method in _SAFE_METHODS:
        return
    sent = request.headers.get("origin") or request.headers.get("referer")
    if sent is None:
        return
    # The host and port, not the scheme: behind a proxy that ends TLS the app itself is plain
    # HTTP. "null" (an opaque origin, a sandboxed page) has no host at all: refused.
    if urlsplit(sent).netloc != request.url.netloc:
        raise NotAllowed(403, "a request from another origin may not change anything here")


def require(*roles: Role) -> Any:
    """A dependency: the logged-in user, if they have one of ``roles``; else 401 or 403. A change
    asked for from another origin (:func:`same_origin`), or with the session cookie but without
    the console's token (:mod:`adapter.http.csrf`), is refused."""

    # Sync on purpose: FastAPI runs it in a thread, and checking a password (scrypt) or reading a
    # changed accounts file must not block the loop.
    def check(request: Request, svc: Svc) -> User:
        same_origin(request)
        user = svc.accounts.require(request, *roles)
        csrf.check(request, svc.keys.session)
        return user

    return Depends(check)


Viewer = Annotated[User, require(Role.OPERATOR, Role.AUDITOR)]
Operator = Annotated[User, require(Role.OPERATOR)]
Auditor = Annotated[User, require(Role.AUDITOR)]


class DocumentReader(NamedTuple):
    user: User
    reveal: bool


def document_reader(request: Request, svc: Svc, reveal: bool = False) -> DocumentReader:
    """A viewer; with ``reveal=true`` a user with the reveal right (each reveal is audited)."""
    if reveal:
        return DocumentReader(svc.accounts.require(request, Role.REVEAL), True)
    return DocumentReader(svc.accounts.require(request, Role.OPERATOR, Role.AUDITOR), False)


# Declared for the OpenAPI document (vendors see both schemes); Senders reads the headers itself.
_bearer = HTTPBearer(auto_error=False, description="OAuth2 access token (JWT) of the sending organisation")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key of the sender (samverkan sender add)")
_TOKEN, _KEY = Depends(_bearer), Depends(_api_key)


def _sender(request: Request, svc: Svc, _token: HTTPAuthorizationCredentials | None = _TOKEN, _key: str | None = _KEY) -> Caller:
    # Sync on purpose: FastAPI runs it in a thread, and reading a changed keys file must not block the loop.
    return svc.senders.authenticate(request)


#: The caller of every door that takes a message.
Sender = Annotated[Caller, Depends(_sender)]


def operator_or_sender(request: Request, svc: Svc) -> User | Caller:
    """An operator or auditor, who sees every message; else the sender (API key or bearer token)
    polling a message it sent, where the 202 pointed it."""
    try:
        return svc.accounts.require(request, Role.OPERATOR, Role.AUDITOR)
    except NotAllowed:
        if svc.senders.presented(request) == (None, None):
            raise
    return svc.senders.authenticate(request)
