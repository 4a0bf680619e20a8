"""The relay log over HTTP: what operators search, read, replay and cancel (issue 7).

    GET  /messages?state=&type=&sender=&recipient=&key=&id=&since=&until=&before=&limit=
    POST /messages/search           the same filters as JSON, and ``patient`` (a full identity
                                    number, matched through a keyed hash, never echoed)
    GET  /messages/{id}             the record, every attempt, the masked document, links
    GET  /messages/{id}/document    the document, masked; ``?reveal=true`` unmasks it for a user
                                    with the reveal right, and the reveal is audited
    GET  /messages/{id}/bundle      the transaction Bundle it was mapped to (masked likewise)
    POST /messages/{id}/replay      a dead-lettered or cancelled message goes again (operator)
    POST /messages/{id}/cancel      give up on a message; the later ones of its key go on (operator)
    POST /messages/{id}/outbound/replay   failed deliveries to the internal systems go again (operator)
    GET  /audit                     reveals, replays, cancels: who, what, when (auditor, operator)

Lists are newest first; ``next`` is the URL of the following page. Nothing here shows an identity
number unmasked except a reveal.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from adapter.journal.base import Journal, Record
from adapter.journal.base import Query as LogQuery
from adapter.observability.redaction import redact
from adapter.security.accounts import NotAllowed, Role, User
from adapter.security.patient_search import normalise
from adapter.security.senders import Caller, Senders

from ..errors import refusal
from ..openapi import FHIR_JSON, refusals

__all__ = ["router"]

_VIEW = (Role.OPERATOR, Role.AUDITOR)
#: ``before`` is a journal sequence number: 64-bit (a larger one was a 500 from the database driver).
_SEQ_MAX = 2**63 - 1


class Filters(BaseModel):
    """The relay log's filters; every one given must hold."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    state: str | None = None
    type: str | None = None
    sender: str | None = None
    recipient: str | None = None
    key: str | None = None
    id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: Annotated[int | None, Field(ge=0, le=_SEQ_MAX)] = None
    limit: Annotated[int, Field(ge=1, le=500)] = 50
    patient: str | None = Field(None, description="a full identity number (12 digits); only in POST /messages/search")


def _not_found(message_id: str) -> JSONResponse:
    return refusal(404, "not-found", f"no message {message_id} in the journal")


def _seconds(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def router(fhir_base_url: str) -> APIRouter:
    api = APIRouter(tags=["relay log"], responses=refusals(401, 403))

    def journal(request: Request) -> Journal:
        j: Journal = request.app.state.journal
        return j

    def caller(request: Request, *roles: Role) -> User:
        user: User = request.app.state.accounts.require(request, *roles)
        return user

    def sender_polling(request: Request) -> Caller | None:
        """None for an operator, who sees every message; else the sender (API key or bearer
        token) polling the message it sent, where the 202 pointed it."""
        try:
            caller(request, *_VIEW)
            return None
        except NotAllowed:
            senders: Senders = request.app.state.senders
            if senders.presented(request) == (None, None):
                raise
        return senders.authenticate(request)

    async def page(request: Request, f: Filters, patient_hash: str | None = None) -> dict[str, Any]:
        q = LogQuery(
            state=f.state,
            message_type=f.type,
            sender=f.sender,
            recipient=f.recipient,
            key=f.key,
            message_id=f.id,
            since=_seconds(f.since),
            until=_seconds(f.until),
            patient_hash=patient_hash,
            before=f.before,
            limit=f.limit,
        )
        records = await asyncio.to_thread(journal(request).search, q)
        following = None
        if len(records) == f.limit and f.patient is None:
            # The patient is never put in a URL (URLs are logged): that search pages by POST with ``before``.
            shown = f.model_dump(exclude_none=True, exclude={"before", "patient"}, mode="json")
            following = f"/messages?{urlencode({**shown, 'before': records[-1].seq})}"
        last = records[-1].seq if records else None
        return {"items": [r.summary() for r in records], "next": following, "last": last}

    @api.get("/messages", response_model=None)
    async def listed(
        request: Request,
        state: str | None = None,
        type: str | None = None,
        sender: str | None = None,
        recipient: str | None = None,
        key: str | None = None,
        id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before: Annotated[int | None, Query(ge=0, le=_SEQ_MAX)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> dict[str, Any] | JSONResponse:
        """The relay log, newest first, filtered; ``next`` is the following page."""
        caller(request, *_VIEW)
        f = Filters(
            state=state,
            type=type,
            sender=sender,
            recipient=recipient,
            key=key,
            id=id,
            since=since,
            until=until,
            before=before,
            limit=limit,
        )
        return await page(request, f)

    @api.post("/messages/search", response_model=None)
    async def search(request: Request, body: Filters) -> dict[str, Any] | JSONResponse:
        """As ``GET /messages``, and by the patient's identity number (in the body, never in a URL)."""
        caller(request, *_VIEW)
        if body.patient is None:
            return await page(request, body)
        number = normalise(body.patient)
        if len(number) != 12 or not number.isdigit():
            return refusal(400, "invalid", "give the patient's full 12-digit identity number", "patient")
        return await page(request, body, request.app.state.hasher(number))

    @api.get("/messages/{message_id}", response_model=None, responses=refusals(404))
    async def detail(message_id: str, request: Request) -> dict[str, Any] | JSONResponse:
        """The message's state, server ids (with links), every relay attempt, and its masked document.

        Operators see any message; a sender only the messages it sent (others are not found)."""
        sender = sender_polling(request)
        j = journal(request)
        record = await asyncio.to_thread(j.get, message_id)
        if record is None or (sender is not None and not sender.may_send_as(record.sender or "")):
            return _not_found(message_id)
        attempts = await asyncio.to_thread(j.attempts, message_id)
        return {
            **record.summary(),
            "serverLinks": [f"{fhir_base_url.rstrip('/')}/{sid}" for sid in record.server_ids or []],
            "document": _shown(record),
            "bundle": f"/messages/{message_id}/bundle" if record.pruned_at is None else None,
            "attemptLog": [a.as_json() for a in attempts],
            "outbound": [o.as_json() for o in await asyncio.to_thread(j.outbound, message_id)],
        }

    @api.get(
        "/messages/{message_id}/document",
        response_class=Response,
        responses={
            200: {
                "description": "The document in the media type it was sent in, identity numbers masked unless revealed",
                "content": {"*/*": {"schema": {"type": "string"}}},
            },
            **refusals(404, 410),
        },
    )
    async def document(message_id: str, request: Request, reveal: bool = False) -> Response:
        """The inbound document, identity numbers masked; ``reveal=true`` (the reveal right) unmasks and is audited."""
        user = caller(request, Role.REVEAL) if reveal else caller(request, *_VIEW)
        j = journal(request)
        record = await asyncio.to_thread(j.get, message_id)
        if record is None:
            return _not_found(message_id)
        if record.pruned_at is not None:
            return refusal(410, "not-found", f"the document of {message_id} was pruned after the retention time")
        if reveal:
            await asyncio.to_thread(j.audit, user.name, "reveal", message_id, None, now=time.time())
            return Response(record.document, media_type=record.content_type or "application/octet-stream")
        return Response(_shown(record), media_type=record.content_type or "text/plain")

    @api.get(
        "/messages/{message_id}/bundle",
        response_class=Response,
        responses={
            200: {"description": "The transaction Bundle, masked", "content": {FHIR_JSON: {"schema": {"type": "object"}}}},
            **refusals(404),
        },
    )
    async def bundle(message_id: str, request: Request) -> Response:
        """The transaction Bundle the message was mapped to when it was accepted, identity numbers masked."""
        caller(request, *_VIEW)
        found = await asyncio.to_thread(journal(request).bundle, message_id)
        return _not_found(message_id) if found is None else Response(redact(found), media_type="application/fhir+json")

    async def operator(request: Request, message_id: str, action: str) -> dict[str, Any] | JSONResponse:
        user = caller(request, Role.OPERATOR)
        j = journal(request)
        try:
            record: Record = await asyncio.to_thread(getattr(j, action), message_id, now=time.time())
        except KeyError:
            return _not_found(message_id)
        except ValueError as exc:
            return refusal(409, "business-rule", str(exc))
        await asyncio.to_thread(j.audit, user.name, action, message_id, None, now=time.time())
        return dict(record.as_json())

    @api.post("/messages/{message_id}/replay", response_model=None, responses=refusals(404, 409))
    async def replay(message_id: str, request: Request) -> dict[str, Any] | JSONResponse:
        return await operator(request, message_id, "replay")

    @api.post("/messages/{message_id}/cancel", response_model=None, responses=refusals(404, 409))
    async def cancel(message_id: str, request: Request) -> dict[str, Any] | JSONResponse:
        return await operator(request, message_id, "cancel")

    @api.post("/messages/{message_id}/outbound/replay", response_model=None, responses=refusals(404))
    async def outbound_replay(message_id: str, request: Request) -> dict[str, Any] | JSONResponse:
        """Failed deliveries of the message to the internal systems go again (operator)."""
        user = caller(request, Role.OPERATOR)
        j = journal(request)
        if await asyncio.to_thread(j.get, message_id) is None:
            return _not_found(message_id)
        again = await asyncio.to_thread(j.outbound_replay, message_id, now=time.time())
        await asyncio.to_thread(j.audit, user.name, "outbound-replay", message_id, None, now=time.time())
        return {"messageId": message_id, "requeued": again}

    @api.get("/audit")
    async def audit(request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
        """Who revealed, replayed or cancelled what, newest first."""
        caller(request, *_VIEW)
        return [e.as_json() for e in await asyncio.to_thread(journal(request).audit_log, limit=limit)]

    return api


def _shown(record: Record) -> str | None:
    if record.pruned_at is not None:
        return None
    return redact(record.document.decode("utf-8", errors="replace"))
