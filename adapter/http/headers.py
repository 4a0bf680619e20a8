"""``Cache-Control: no-store`` on every answer that does not say otherwise.

Most answers carry personal data (a message, a document, even revealed, a timeline, a report row),
and a shared cache or the browser's disk must not keep them. The few that may be kept (the
console's script and style) set their own ``Cache-Control``. A plain ASGI middleware: it adds one
header per answer and nothing else.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["NoStoreMiddleware"]

_CACHE_CONTROL = b"cache-control"


class NoStoreMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                if not any(name.lower() == _CACHE_CONTROL for name, _ in headers):
                    headers.append((_CACHE_CONTROL, b"no-store"))
            await send(message)

        await self.app(scope, receive, no_store)
