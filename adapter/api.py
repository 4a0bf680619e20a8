"""The HTTP API: ``POST /messages`` relays an internal message; ``GET /health``.

Every error leaves as a FHIR OperationOutcome (``adapter.outcome``); one handler per kind of
exception, registered in :func:`create_app`, so endpoints only raise.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from mappings.errors import DocumentTooLarge, SamverkanError

from .codec import Limits, decode
from .config import Settings
from .fhir_client import FhirClient
from .outcome import operation_outcome, outcome_of
from .relay import relay_message

__all__ = ["create_app"]

log = logging.getLogger("adapter.api")
_FHIR_JSON = "application/fhir+json"


def _outcome_response(status: int, outcome: dict[str, Any]) -> JSONResponse:
    return JSONResponse(outcome, status_code=status, media_type=_FHIR_JSON)


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it passes ``limit`` (never read whole into memory first)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise DocumentTooLarge(f"the document is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise DocumentTooLarge(f"the document is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(settings: Settings | None = None, *, fhir: FhirClient | None = None) -> FastAPI:
    """The adapter's ASGI app. ``fhir`` replaces the client built from ``settings`` (tests)."""
    settings = settings or Settings()
    limits = Limits(max_bytes=settings.max_document_bytes, max_depth=settings.max_depth)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = fhir or FhirClient(settings.fhir_base_url, timeout=settings.fhir_timeout)
        app.state.fhir = client
        try:
            yield
        finally:
            if fhir is None:
                await client.aclose()

    app = FastAPI(title="samverkan", version="0.1.0", lifespan=lifespan)

    @app.exception_handler(SamverkanError)
    async def samverkan_error(request: Request, exc: SamverkanError) -> JSONResponse:
        log.info("refused %s %s: %s", request.method, request.url.path, exc)
        return _outcome_response(exc.http_status, outcome_of(exc))

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        issue = {"severity": "error", "code": "invalid", "diagnostics": "the request is not valid"}
        return _outcome_response(400, operation_outcome(issue))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The trace goes to the log (redacted by its handler), never to the caller.
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        issue = {"severity": "fatal", "code": "exception", "diagnostics": "SAMV-0000: internal error; see the adapter's log"}
        return _outcome_response(500, operation_outcome(issue))

    @app.get("/health")
    async def health() -> dict[str, str]:
        """The process is up. (Reachability of the FHIR server is not checked here.)"""
        return {"status": "ok"}

    @app.post(
        "/messages",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/xml": {"schema": {"type": "string"}},
                    "application/json": {"schema": {"type": "object"}},
                },
            }
        },
    )
    async def post_message(request: Request) -> dict[str, Any]:
        """Relays one internal message (XML or JSON) and answers with what it became on the server."""
        raw = await _read_body(request, limits.max_bytes)
        message = decode(raw, request.headers.get("content-type"), limits=limits)
        result = await relay_message(message, request.app.state.fhir)
        return result.as_json()

    return app
