"""The HTTP API.

    POST /messages                  accept an internal message: 202 once it is in the journal
                                    (the caller authenticates as a sender: adapter.security.senders)
    /messages..., /audit            the relay log: search, detail, replay, cancel (api_log)
    /reports/..., /episodes/{key}/timeline, /suspensions: see api_reports and api_suspensions
    GET  /health                    the process is up, with the journal's counts

Every error leaves as a FHIR OperationOutcome (``adapter.http.errors``); one handler per kind of
exception, registered in :func:`create_app`, so endpoints only raise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware

from adapter.codec.internal import Limits, decode
from adapter.config import Settings
from adapter.fhir.client import FhirClient
from adapter.intake.body import read_body, record_refusal
from adapter.intake.group_commit import GroupCommit
from adapter.journal.base import Accept, Journal, JournalUnavailable, Record, open_journal
from adapter.observability.correlation import CorrelationMiddleware, correlation_id
from adapter.observability.metrics import Metrics
from adapter.observability.redaction import redact
from adapter.relay.message import bundle_of
from adapter.relay.outbound import OutboundWorker, channels
from adapter.relay.overdue import run_scheduler
from adapter.relay.watch import Watch
from adapter.relay.worker import RetryPolicy, Worker
from adapter.reports import Episodes, load_units
from adapter.rules.consent import check_information_transfer, stated
from adapter.rules.deadlines import STOCKHOLM
from adapter.security.accounts import Accounts, NotAllowed, Role
from adapter.security.patient_search import PatientHasher
from adapter.security.senders import Caller, Senders, authenticated
from mappings.errors import PathKind, SamverkanError, SenderNotPermitted
from mappings.keys import order_key
from mappings.model import Message, MessageType

from .console.pages import ui_router
from .errors import operation_outcome, outcome_of
from .openapi import document, refusals
from .routes.fhir import router as fhir_router
from .routes.log import router as log_router
from .routes.ops import router as ops_router
from .routes.reports import router as reports_router
from .routes.suspensions import router as suspensions_router

__all__ = ["create_app"]

log = logging.getLogger("adapter.http.app")
_FHIR_JSON = "application/fhir+json"


def _outcome_response(status: int, outcome: dict[str, Any]) -> JSONResponse:
    return JSONResponse(outcome, status_code=status, media_type=_FHIR_JSON)


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


def _session_secret(settings: Settings) -> str:
    if settings.session_secret:
        return settings.session_secret
    journal = open_journal(settings)
    try:
        return journal.secret("session-key", lambda: secrets.token_hex(32))
    finally:
        journal.close()


def _findings_counter(journal: Callable[[], Journal], units: dict[str, str] | None) -> Callable[[], tuple[int, int]]:
    """(open, overdue) findings for /metrics, evaluated at most once a minute: it reads every
    message of the journal."""
    cache: dict[str, Any] = {"at": 0.0, "value": (0, 0)}

    def count() -> tuple[int, int]:
        now = datetime.now(STOCKHOLM)
        if time.monotonic() - cache["at"] > 60:
            found = Episodes.read(journal()).findings(now, kommun_of=units)
            opened = [f for f in found if f.open]
            cache["at"], cache["value"] = time.monotonic(), (len(opened), sum(1 for f in opened if f.overdue(now)))
        value: tuple[int, int] = cache["value"]
        return value

    return count


def create_app(settings: Settings | None = None, *, fhir: FhirClient | None = None) -> FastAPI:
    """The adapter's ASGI app. ``fhir`` replaces the client built from ``settings`` (tests)."""
    settings = settings or Settings()
    limits = Limits.of(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = fhir or FhirClient.from_settings(settings)
        journal = open_journal(settings)
        app.state.fhir, app.state.journal = client, journal
        app.state.hasher = PatientHasher.for_journal(journal, settings.search_key)
        app.state.intake = GroupCommit(journal)
        # On PostgreSQL the worker has a connection of its own, so its claims never queue behind an
        # accept. SQLite has one writer at a time anyway, and a second connection would wait for
        # the lock in sleeps of up to 100 ms; one connection hands it over at once.
        worker_journal = open_journal(settings) if settings.relay_parallel > 0 and settings.journal_url else journal
        stop = asyncio.Event()
        task = outbound_task = None
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
                metrics=metrics,
            )
            app.state.worker = worker
            task = asyncio.create_task(worker.run(stop))
            if channels(settings.outbound_dir, settings.outbound_url):
                sender = OutboundWorker(
                    worker_journal,
                    directory=settings.outbound_dir,
                    url=settings.outbound_url,
                    policy=policy,
                    timeout=settings.fhir_timeout,
                    verify=client.verify,  # an https outbound URL trusts the CAs the FHIR server does
                    lease=settings.claim_lease,
                    worker_id=settings.worker_id or f"{socket.gethostname()}:{settings.port}",
                )
                outbound_task = asyncio.create_task(sender.run(stop))
        background = []
        if settings.overdue_interval > 0:
            background.append(asyncio.create_task(run_scheduler(client, stop, interval=settings.overdue_interval)))
        app.state.watch = Watch(journal, client, alert_url=settings.alert_url)
        background.append(asyncio.create_task(app.state.watch.run(stop, interval=settings.alert_interval)))
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                await task  # finishes what it started, gives back the rest
            if outbound_task is not None:
                await outbound_task
            for job in background:
                # A scheduler's round may walk thousands of Tasks; each write is conditional
                # (If-Match), so one cut short is done again by the next round: no need to wait.
                job.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await job
            journal.close()
            if worker_journal is not journal:
                worker_journal.close()
            if fhir is None:
                await client.aclose()

    if fhir is None:
        FhirClient.security(settings)  # a CA bundle or credentials that cannot work stop the start here
    app = FastAPI(title="samverkan", version="0.1.0", lifespan=lifespan)
    app.openapi = lambda: document(app)  # type: ignore[method-assign]  # every refusal an OperationOutcome
    app.state.accounts = Accounts.load(settings.users_file)
    app.state.senders = Senders(settings)
    app.state.worker = None
    metrics = app.state.metrics = Metrics()
    metrics.observe_journal(
        lambda: app.state.journal,
        lambda: app.state.watch.state,
        lambda: app.state.worker.throttle.window if app.state.worker is not None else None,
        _findings_counter(lambda: app.state.journal, load_units(settings.units_file)),
    )
    if app.state.accounts.open:
        log.warning("no SAMVERKAN_USERS_FILE: the console and the operator routes are open to anyone who can reach them")
    app.add_middleware(SessionMiddleware, secret_key=_session_secret(settings), same_site="strict", https_only=False)
    app.add_middleware(CorrelationMiddleware)

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

    @app.exception_handler(HTTPException)
    async def http_refusal(request: Request, exc: HTTPException) -> JSONResponse:
        # Starlette's and FastAPI's own refusals as OperationOutcomes too: no such route (404), not
        # this method (405), and FastAPI's one 400, a JSON body it cannot parse.
        code = {400: "structure", 404: "not-found", 405: "not-supported"}.get(exc.status_code, "processing")
        issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": redact(str(exc.detail))}
        if exc.status_code == 400:
            issue["expression"] = ["body"]
        response = _outcome_response(exc.status_code, operation_outcome(issue))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The trace goes to the log (redacted by its handler), never to the caller.
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        issue = {"severity": "fatal", "code": "exception", "diagnostics": "SAMV-0000: internal error; see the adapter's log"}
        return _outcome_response(500, operation_outcome(issue))

    @app.exception_handler(NotAllowed)
    async def not_allowed(request: Request, exc: NotAllowed) -> JSONResponse:
        # Nobody's credential is journaled: a 401 names no sender, and counting them is enough.
        metrics.refused.labels("401" if exc.status == 401 else "403").inc()
        issue = {"severity": "error", "code": "login" if exc.status == 401 else "forbidden", "diagnostics": str(exc)}
        response = _outcome_response(exc.status, operation_outcome(issue))
        response.headers.update(exc.headers)
        return response

    async def viewer(request: Request) -> None:
        request.app.state.accounts.require(request, Role.OPERATOR, Role.AUDITOR)

    app.include_router(log_router(settings.fhir_base_url))
    app.include_router(ops_router())
    app.include_router(reports_router(settings), dependencies=[Depends(viewer)])
    app.include_router(suspensions_router(), dependencies=[Depends(viewer)])
    app.include_router(ui_router())

    @app.get("/health")
    async def health(request: Request) -> dict[str, Any]:
        """The process is up; the journal's messages by state. (The FHIR server is not checked here.)"""
        return {"status": "ok", "journal": request.app.state.journal.counts()}

    async def take(
        request: Request,
        raw: bytes,
        content_type: str | None,
        read: Callable[[], tuple[Message, bytes]],
        *,
        caller: Caller,
        sender_at: tuple[str, PathKind] = ("/Message/Sender/@hsaId", "xpath"),
        outbound: bool = False,
    ) -> tuple[Record, bool]:
        """Reads a message (``read`` gives it and the internal document to journal), checks that
        ``caller`` may send it and that the patient's consent allows it, maps it, and journals it:
        the record and whether it is new. A refusal is journaled with what was sent, and audited.
        ``outbound``: the internal systems have not seen it (it came as FHIR): deliver it to them."""
        journal: Journal = request.app.state.journal
        message: Message | None = None
        # One time for the journal's accepted_at and the AuditEvent's recorded: the worker rebuilds
        # the AuditEvent from accepted_at, so the stored bundle is what it sends.
        accepted = time.time()
        try:
            message, document = read()
            if not caller.may_send_as(message.sender.hsa_id):
                path, kind = sender_at
                raise SenderNotPermitted(f"{caller.name} may not send as this sender", path=path, path_kind=kind)
            key = key_for(message, journal)
            check_information_transfer(message, lambda: journal.information_transfer(key))
            # Mapped now, so that what cannot be mapped is refused to the sender, not dead-lettered later.
            recorded = datetime.fromtimestamp(accepted, UTC)
            bundle = json.dumps(bundle_of(message, recorded=recorded), ensure_ascii=False, separators=(",", ":"))
        except JournalUnavailable:
            raise
        except SamverkanError as exc:
            record_refusal(request, exc, raw, actor=caller.name, message_id=message.id if message is not None else None)
            raise
        item = Accept(
            message.id,
            key,
            message.type.value,
            document,
            "application/xml" if document is not raw else content_type or "",
            accepted,
            bundle,
            sender=message.sender.hsa_id,
            recipients=tuple(r.hsa_id for r in message.recipients),
            patient_hash=request.app.state.hasher(message.patient.id_value),
            patient_name=" ".join(filter(None, (message.patient.given, message.patient.family))) or None,
            correlation_id=correlation_id.get(),
            outbound=channels(settings.outbound_dir, settings.outbound_url) if outbound else (),
            information_transfer=stated(message),
        )
        record, created = await request.app.state.intake.accept(item)
        if created:
            metrics.accepted.labels(message.type.value).inc()
        return record, created

    app.include_router(fhir_router(take, settings, limits))

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
        responses=refusals(401, 403, 409, 413, 415, 422, 503),
    )
    async def post_message(request: Request, caller: Caller = authenticated) -> JSONResponse:
        """Accepts one internal message (XML or JSON): 202 once it is journaled, with its status URL.

        The same message id sent again answers with the first record and relays nothing new;
        the same id with other content is a conflict (409).
        """
        content_type = request.headers.get("content-type")
        raw = await read_body(request, limits.max_bytes, actor=caller.name)
        record, created = await take(
            request, raw, content_type, lambda: (decode(raw, content_type, limits=limits), raw), caller=caller
        )
        body = {**record.as_json(), "duplicate": not created}
        return JSONResponse(body, status_code=202, headers={"Location": f"/messages/{record.message_id}"})

    return app
