"""The HTTP API.

    POST /messages                  accept an internal message: 202 once it is in the journal
    GET  /messages/{id}             its state, server ids, and every relay attempt
    GET  /messages/{id}/bundle      the transaction Bundle it was mapped to
    GET  /messages?state=...        the journal, oldest first
    POST /messages/{id}/replay      a dead-lettered or cancelled message goes again
    POST /messages/{id}/cancel      give up on a message; the later ones of its key go on
    /reports/..., /episodes/{key}/timeline, /suspensions: see api_reports and api_suspensions
    GET  /health                    the process is up, with the journal's counts

Every error leaves as a FHIR OperationOutcome (``adapter.outcome``); one handler per kind of
exception, registered in :func:`create_app`, so endpoints only raise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from mappings.errors import DocumentTooLarge, SamverkanError
from mappings.keys import order_key
from mappings.model import Message, MessageType

from .api_reports import router as reports_router
from .api_suspensions import router as suspensions_router
from .codec import Limits, decode
from .config import Settings
from .fhir_client import FhirClient
from .intake import GroupCommit
from .journal import Accept, Journal, JournalUnavailable, open_journal
from .outcome import operation_outcome, outcome_of
from .overdue import run_scheduler
from .redact import redact
from .relay import bundle_of
from .worker import RetryPolicy, Worker

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


def key_for(message: Message, journal: Journal) -> str:
    """The order key; a Kvittens without an episode follows the message it acknowledges."""
    if message.type is MessageType.KVITTENS and message.care_episode is None and message.body.acknowledges:
        acknowledged = journal.key_of(message.body.acknowledges)
        if acknowledged is not None:
            return acknowledged
    return order_key(message)


def _not_found(message_id: str) -> JSONResponse:
    issue = {"severity": "error", "code": "not-found", "diagnostics": f"no message {message_id} in the journal"}
    return _outcome_response(404, operation_outcome(issue))


def create_app(settings: Settings | None = None, *, fhir: FhirClient | None = None) -> FastAPI:
    """The adapter's ASGI app. ``fhir`` replaces the client built from ``settings`` (tests)."""
    settings = settings or Settings()
    limits = Limits(max_bytes=settings.max_document_bytes, max_depth=settings.max_depth)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = fhir or FhirClient(settings.fhir_base_url, timeout=settings.fhir_timeout)
        journal = open_journal(settings)
        app.state.fhir, app.state.journal = client, journal
        app.state.intake = GroupCommit(journal)
        # On PostgreSQL the worker has a connection of its own, so its claims never queue behind an
        # accept. SQLite has one writer at a time anyway, and a second connection would wait for
        # the lock in sleeps of up to 100 ms; one connection hands it over at once.
        worker_journal = open_journal(settings) if settings.relay_parallel > 0 and settings.journal_url else journal
        stop = asyncio.Event()
        task = None
        if settings.relay_parallel > 0:
            policy = RetryPolicy(settings.max_attempts, settings.max_age, settings.retry_base, settings.retry_cap)
            worker = Worker(
                worker_journal,
                client,
                parallel=settings.relay_parallel,
                lease=settings.claim_lease,
                policy=policy,
                worker_id=settings.worker_id or f"{socket.gethostname()}:{settings.port}",
                retention=settings.retention_days * 86400 if settings.retention_days else None,
            )
            task = asyncio.create_task(worker.run(stop))
        scheduler = None
        if settings.overdue_interval > 0:
            scheduler = asyncio.create_task(run_scheduler(client, stop, interval=settings.overdue_interval))
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                await task  # finishes what it started, gives back the rest
            if scheduler is not None:
                # A round may walk thousands of Tasks; each write is conditional (If-Match), so one
                # cut short is simply done again by the next round, and shutdown need not wait.
                scheduler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await scheduler
            journal.close()
            if worker_journal is not journal:
                worker_journal.close()
            if fhir is None:
                await client.aclose()

    app = FastAPI(title="samverkan", version="0.1.0", lifespan=lifespan)

    @app.exception_handler(SamverkanError)
    async def samverkan_error(request: Request, exc: SamverkanError) -> JSONResponse:
        log.info("refused %s %s: %s", request.method, request.url.path, redact(str(exc)))
        response = _outcome_response(exc.http_status, outcome_of(exc))
        if exc.http_status == 503:
            response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # One issue per element, named as FastAPI locates it ("body.from"); the input is not quoted.
        issues = [
            {
                "severity": "error",
                "code": "invalid",
                "diagnostics": redact(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"),
                "expression": [".".join(map(str, e["loc"]))],
            }
            for e in exc.errors()
        ]
        return _outcome_response(400, operation_outcome(*issues))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The trace goes to the log (redacted by its handler), never to the caller.
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        issue = {"severity": "fatal", "code": "exception", "diagnostics": "SAMV-0000: internal error; see the adapter's log"}
        return _outcome_response(500, operation_outcome(issue))

    app.include_router(reports_router(settings))
    app.include_router(suspensions_router())

    @app.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        """The process is up; the journal's messages by state. (The FHIR server is not checked here.)"""
        return {"status": "ok", "journal": request.app.state.journal.counts()}

    @app.post(
        "/messages",
        status_code=202,
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
    async def post_message(request: Request) -> JSONResponse:
        """Accepts one internal message (XML or JSON): 202 once it is journaled, with its status URL.

        The same message id sent again answers with the first record and relays nothing new;
        the same id with other content is a conflict (409).
        """
        journal: Journal = request.app.state.journal
        content_type = request.headers.get("content-type")
        raw = await _read_body(request, limits.max_bytes)
        try:
            message = decode(raw, content_type, limits=limits)
            # Mapped now, so that what cannot be mapped is refused to the sender, not dead-lettered later.
            bundle = json.dumps(bundle_of(message), ensure_ascii=False, separators=(",", ":"))
            key = key_for(message, journal)
        except JournalUnavailable:
            raise
        except SamverkanError as exc:
            journal.reject(
                document=raw,
                content_type=content_type,
                code=exc.code,
                location=exc.path,
                detail=redact(exc.detail),
                now=time.time(),
            )
            raise
        item = Accept(message.id, key, message.type.value, raw, content_type or "", time.time(), bundle)
        record, created = await request.app.state.intake.accept(item)
        body = {**record.as_json(), "duplicate": not created}
        return JSONResponse(body, status_code=202, headers={"Location": f"/messages/{record.message_id}"})

    @app.get("/messages/{message_id}", response_model=None)
    async def get_message(message_id: str, request: Request) -> dict[str, Any] | JSONResponse:
        """The message's state, server ids, and every relay attempt with the server's OperationOutcome."""
        journal: Journal = request.app.state.journal
        record = journal.get(message_id)
        if record is None:
            return _not_found(message_id)
        return {**record.as_json(), "attemptLog": [a.as_json() for a in journal.attempts(message_id)]}

    @app.get("/messages/{message_id}/bundle", response_model=None)
    async def get_bundle(message_id: str, request: Request) -> Response:
        """The transaction Bundle the message was mapped to when it was accepted."""
        bundle = request.app.state.journal.bundle(message_id)
        return _not_found(message_id) if bundle is None else Response(bundle, media_type=_FHIR_JSON)

    @app.get("/messages")
    async def list_messages(request: Request, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return [r.as_json() for r in request.app.state.journal.list(state=state, limit=min(limit, 1000))]

    async def _operator(request: Request, message_id: str, action: str) -> dict[str, Any] | JSONResponse:
        journal: Journal = request.app.state.journal
        try:
            record = getattr(journal, action)(message_id, now=time.time())
        except KeyError:
            return _not_found(message_id)
        except ValueError as exc:
            issue = {"severity": "error", "code": "business-rule", "diagnostics": str(exc)}
            return _outcome_response(409, operation_outcome(issue))
        return dict(record.as_json())

    @app.post("/messages/{message_id}/replay", response_model=None)
    async def replay(message_id: str, request: Request) -> dict[str, Any] | JSONResponse:
        return await _operator(request, message_id, "replay")

    @app.post("/messages/{message_id}/cancel", response_model=None)
    async def cancel(message_id: str, request: Request) -> dict[str, Any] | JSONResponse:
        return await _operator(request, message_id, "cancel")

    return app
