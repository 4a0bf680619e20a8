"""One id per request, from the sender's ``X-Request-ID`` (or made here) to the log lines it causes,
the journal's record of the message, and the relay's requests to the FHIR server.

The id lives in a context variable: an HTTP request sets it for its handler, a relay sets it for
its task, and whatever runs inside (log records, httpx requests) reads it from there.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .redaction import redact

__all__ = ["CorrelationFilter", "CorrelationMiddleware", "correlation_id", "send_correlation_id"]

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

# A sender's id is kept only when it is short and plain: it goes into logs, the journal, headers
# and the FHIR server's logs.
_ACCEPTABLE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
HEADER = "X-Request-ID"


def accepted_or_new(value: str | None) -> str:
    """The sender's id if it is short, plain and not an identity number; else a new one.

    >>> accepted_or_new("vendor-42")
    'vendor-42'
    >>> accepted_or_new("191212121212") != "191212121212"
    True
    """
    if value and _ACCEPTABLE.fullmatch(value) and redact(value) == value:
        return value
    return uuid.uuid4().hex


class CorrelationMiddleware:
    """Sets :data:`correlation_id` for the request and answers with it in ``X-Request-ID``."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope["headers"]).get(HEADER.lower().encode())
        rid = accepted_or_new(sent.decode("latin-1") if sent else None)
        token = correlation_id.set(rid)

        async def with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((HEADER.encode(), rid.encode()))
            await send(message)

        try:
            await self.app(scope, receive, with_header)
        finally:
            correlation_id.reset(token)


class CorrelationFilter(logging.Filter):
    """Puts the current id on every log record (``record.correlation_id``, None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id.get()
        return True


async def send_correlation_id(request: httpx.Request) -> None:
    """An httpx request hook: the FHIR server's logs can be matched with ours."""
    rid = correlation_id.get()
    if rid is not None:
        request.headers[HEADER] = rid
