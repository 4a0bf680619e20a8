"""Limits on a request's headers, checked before any route, cookie or credential reads them.

    app.add_middleware(HeaderLimits, max_count=100, max_bytes=32 * 1024)   the outermost of ours

Two layers, as a header costs memory before an application can see it:

- ``samverkan serve`` runs uvicorn on h11 with ``h11_max_incomplete_event_size`` at
  ``SAMVERKAN_MAX_HEADER_BYTES``: the server stops reading a request whose line and headers pass
  it and answers 400 (a 16 MB header never gets into memory whole);
- this middleware answers 431 to a request with more than ``SAMVERKAN_MAX_HEADERS`` headers, or
  with more bytes of them than the setting (under another ASGI server too), as an
  OperationOutcome (:mod:`adapter.http.errors`). What the headers say is never logged.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import operation_outcome, render

__all__ = ["HeaderLimits"]

log = logging.getLogger(__name__)


class HeaderLimits:
    def __init__(self, app: ASGIApp, *, max_count: int, max_bytes: int):
        self.app, self.max_count, self.max_bytes = app, max_count, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope["headers"]
            size = sum(len(name) + len(value) for name, value in headers)
            if len(headers) > self.max_count or size > self.max_bytes:
                log.info("refused a request with %d headers of %d bytes", len(headers), size)
                text = f"a request may carry at most {self.max_count} headers of at most {self.max_bytes} bytes in all"
                issue = {"severity": "error", "code": "too-long", "diagnostics": text}
                answer = render(Request(scope), operation_outcome(issue), 431, {"Cache-Control": "no-store"})
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)
