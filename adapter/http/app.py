"""The HTTP API: the app factory, a short composition of the parts.

    POST /messages, GET /health          the internal door (routes/messages.py)
    POST /fhir, /fhir/$process-message   the FHIR door for vendors (routes/fhir.py)
    /messages..., /audit                 the relay log (routes/log.py)
    /ready, /metrics, /stats             monitoring (routes/ops.py)
    /reports/..., /episodes/{key}/timeline, /suspensions   reports and flags
    /ui                                  the operators' console (console/pages.py)

Every error leaves as a FHIR OperationOutcome (:mod:`adapter.http.errors`): endpoints only raise.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from starlette.middleware.sessions import SessionMiddleware

from adapter.config import Settings
from adapter.fhir import FhirClient
from adapter.observability import CorrelationMiddleware
from adapter.reports import Episodes
from adapter.rules.deadlines import STOCKHOLM

from . import errors
from .console.pages import router as console
from .header_limits import HeaderLimits
from .headers import NoStoreMiddleware
from .lifespan import lifespan
from .openapi import document
from .routes import ROUTERS
from .services import Services

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, *, fhir: FhirClient | None = None) -> FastAPI:
    """The adapter's ASGI app. ``fhir`` replaces the client built from ``settings`` (tests)."""
    settings = settings or Settings()
    if fhir is None:
        FhirClient.security(settings)  # a CA bundle or credentials that cannot work stop the start here
    svc = Services(settings, fhir=fhir)
    # The interactive docs load their script from a CDN onto the console's origin: off unless asked for.
    docs = "/docs" if settings.api_docs else None
    app = FastAPI(title="samverkan", version="0.1.0", lifespan=lifespan, docs_url=docs, redoc_url=None)
    app.state.services = svc
    app.openapi = lambda: document(app)  # type: ignore[method-assign]  # every refusal an OperationOutcome
    _observe(svc)
    errors.install(app, svc.metrics)
    # The cookie holds a session id only; the session itself is kept in the journal (adapter.security.sessions).
    app.add_middleware(
        SessionMiddleware,
        secret_key=svc.keys.session,
        same_site="strict",
        https_only=settings.session_secure,
        max_age=int(settings.session_max_hours * 3600),
    )
    app.add_middleware(NoStoreMiddleware)
    app.add_middleware(CorrelationMiddleware)
    # The outermost of ours: too many headers are refused before anything reads one.
    app.add_middleware(HeaderLimits, max_count=settings.max_headers, max_bytes=settings.max_header_bytes)
    for router in (*ROUTERS, console):
        app.include_router(router)
    return app


def _observe(svc: Services) -> None:
    """/metrics reads the journal, the watcher and the worker's window at each scrape."""
    svc.metrics.observe_journal(
        lambda: svc.journal,
        lambda: svc.watch.state,
        lambda: svc.worker.throttle.window if svc.worker is not None else None,
        _findings_counter(svc),
    )


def _findings_counter(svc: Services) -> Callable[[], tuple[int, int]]:
    """(open, overdue) findings for /metrics, evaluated at most once a minute: it reads every
    message of the journal."""
    cache: dict[str, Any] = {"at": 0.0, "value": (0, 0)}

    def count() -> tuple[int, int]:
        now = datetime.now(STOCKHOLM)
        if time.monotonic() - cache["at"] > 60:
            found = Episodes.read(svc.journal).findings(now, kommun_of=svc.units)
            opened = [f for f in found if f.open]
            cache["at"], cache["value"] = time.monotonic(), (len(opened), sum(1 for f in opened if f.overdue(now)))
        value: tuple[int, int] = cache["value"]
        return value

    return count
