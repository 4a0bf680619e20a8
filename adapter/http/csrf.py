"""The console's CSRF token: a change asked for with the session cookie carries it, or is refused.

    token(request, key)             the token of the request's session (None without one), for the pages
    check(request, key)             403 unless a change sent with the session cookie carries the token
    check(request, key, sent=t)     the same, the token taken from a form's field

The token is an HMAC of the session's id under the session key (``SAMVERKAN_SESSION_SECRET``):
the signed cookie carries the id, a page carries the token (``<meta name="csrf-token">`` for
``ui.js``, which sends it as ``X-CSRF-Token``; a hidden ``csrf`` field in a form), and only the
server can derive the one from the other. Another origin can make a browser send the cookie (a
page on another port of the same host is the same site, so SameSite=Strict lets it go along)
but cannot read a page of ours, so it has no token to send. Nothing is stored: the token lives
and ends with its session, and a new login is a new session and a new token.

Callers that send their credential themselves (HTTP Basic, a bearer token) are not asked for it:
a browser adds no such header on another origin's behalf.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from adapter.security import NotAllowed

__all__ = ["FIELD", "HEADER", "check", "token"]

HEADER = "X-CSRF-Token"
FIELD = "csrf"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Swedish first: operators read it in the console.
_REFUSED = (
    "CSRF-token saknas eller stämmer inte: ladda om sidan och försök igen."
    " (The CSRF token is missing or wrong: reload the page and try again.)"
)


def _session_id(request: Request) -> str | None:
    sid = request.session.get("sid") if "session" in request.scope else None
    return sid if isinstance(sid, str) else None


def _derived(key: str, sid: str) -> str:
    return hmac.new(key.encode(), b"csrf\0" + sid.encode(), hashlib.sha256).hexdigest()


def token(request: Request, key: str) -> str | None:
    """The token a page of this session sends back with each change; None outside a session."""
    sid = _session_id(request)
    return None if sid is None else _derived(key, sid)


def check(request: Request, key: str, sent: str | None = None) -> None:
    """Refuses (403) a change sent with the session cookie but without its token: in ``sent`` (a
    form's field) or else the ``X-CSRF-Token`` header."""
    if request.method in _SAFE_METHODS or "authorization" in request.headers:
        return
    sid = _session_id(request)
    if sid is None:
        return
    given = sent if sent is not None else request.headers.get(HEADER, "")
    if not hmac.compare_digest(given.encode(), _derived(key, sid).encode()):
        raise NotAllowed(403, _REFUSED)
