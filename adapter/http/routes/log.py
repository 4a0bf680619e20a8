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

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from adapter.journal import Query as LogQuery
from adapter.journal import Record
from adapter.observability import redact
from adapter.security import Caller, User
from adapter.security.patient_search import normalise
from mappings.fhir import FHIR_JSON

from ..access import Auditor, DocumentReader, Operator, Viewer, document_reader, operator_or_sender
from ..access_log import accessed
from ..bodies import body_schema, parsed
from ..errors import Refusal
from ..openapi import refusals
from ..params import Moment
from ..services import Svc

__all__ = ["router"]

#: ``before`` is a journal sequence number: 64-bit (a larger one was a 500 from the database driver).
_SEQ_MAX = 2**63 - 1

router = APIRouter(tags=["relay log"], responses=refusals(401, 403))


class Filters(BaseModel):
    """The relay log's filters; every one given must hold."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    state: str | None = None
    type: str | None = None
    sender: str | None = None
    recipient: str | None = None
    key: str | None = None
    id: str | None = None
    since: Moment | None = None
    until: Moment | None = None
    before: Annotated[int | None, Field(ge=0, le=_SEQ_MAX)] = None
    limit: Annotated[int, Field(ge=1, le=500)] = 50
    patient: str | None = Field(None, description="a full identity number (12 digits); only in POST /messages/search")


async def _patient_asked_for(svc: Svc, user: User, action: str, number: str) -> str:
    """The keyed hash of a patient an operator asked for by full identity number (400 if it is
    not one); the asking is in the access log under ``action``."""
    number = normalise(number)
    if len(number) != 12 or not number.isdigit():
        raise Refusal(400, "invalid", "give the patient's full 12-digit identity number", "patient")
    patient = svc.hasher(number)
    await asyncio.to_thread(svc.journal.audit, user.name, action, None, None, now=time.time(), patient_hash=patient)
    return patient


def _not_found(message_id: str) -> Refusal:
    return Refusal.not_found(f"no message {message_id} in the journal")


def _seconds(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


async def _page(svc: Svc, f: Filters, patient_hash: str | None = None) -> dict[str, Any]:
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
    records = await asyncio.to_thread(svc.journal.search, q)
    following = None
    if len(records) == f.limit and f.patient is None:
        # The patient is never put in a URL (URLs are logged): that search pages by POST with ``before``.
        shown = f.model_dump(exclude_none=True, exclude={"before", "patient"}, mode="json")
        following = f"/messages?{urlencode({**shown, 'before': records[-1].seq})}"
    last = records[-1].seq if records else None
    return {"items": [r.summary() for r in records], "next": following, "last": last}


@router.get("/messages")
async def listed(
    user: Viewer,
    svc: Svc,
    state: str | None = None,
    type: str | None = None,
    sender: str | None = None,
    recipient: str | None = None,
    key: str | None = None,
    id: str | None = None,
    since: Moment | None = None,
    until: Moment | None = None,
    before: Annotated[int | None, Query(ge=0, le=_SEQ_MAX)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """The relay log, newest first, filtered; ``next`` is the following page."""
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
    return await _page(svc, f)


@router.post("/messages/search", openapi_extra=body_schema(Filters))
async def search(request: Request, user: Viewer, svc: Svc) -> dict[str, Any]:
    """As ``GET /messages``, and by the patient's identity number (in the body, never in a URL)."""
    body = await parsed(request, Filters)
    if body.patient is None:
        return await _page(svc, body)
    patient = await _patient_asked_for(svc, user, "search", body.patient)
    return await _page(svc, body, patient)


@router.get("/messages/{message_id}", responses=refusals(404))
async def detail(message_id: str, svc: Svc, who: Annotated[User | Caller, Depends(operator_or_sender)]) -> dict[str, Any]:
    """The message's state, server ids (with links), every relay attempt, and its masked document.

    Operators see any message; a sender only the messages it sent (others are not found)."""
    j = svc.journal
    record = await asyncio.to_thread(j.get, message_id)
    if record is None or (isinstance(who, Caller) and not who.may_send_as(record.sender or "")):
        raise _not_found(message_id)
    if isinstance(who, User):
        await accessed(svc, who.name, "read-message", message_id=message_id)
    attempts = await asyncio.to_thread(j.attempts, message_id)
    base = svc.settings.fhir_base_url.rstrip("/")
    return {
        **record.summary(),
        "serverLinks": [f"{base}/{sid}" for sid in record.server_ids or []],
        "document": _shown(record),
        "bundle": f"/messages/{message_id}/bundle" if record.pruned_at is None else None,
        "attemptLog": [a.as_json() for a in attempts],
        "outbound": [o.as_json() for o in await asyncio.to_thread(j.outbound, message_id)],
    }


@router.get(
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
async def document(message_id: str, svc: Svc, reader: Annotated[DocumentReader, Depends(document_reader)]) -> Response:
    """The inbound document, identity numbers masked; ``reveal=true`` (the reveal right) unmasks and is audited."""
    j = svc.journal
    record = await asyncio.to_thread(j.get, message_id)
    if record is None:
        raise _not_found(message_id)
    if record.pruned_at is not None:
        raise Refusal(410, "not-found", f"the document of {message_id} was pruned after the retention time")
    await accessed(svc, reader.user.name, "reveal" if reader.reveal else "read-document", message_id=message_id)
    if reader.reveal:
        return Response(record.document, media_type=record.content_type or "application/octet-stream")
    return Response(_shown(record), media_type=record.content_type or "text/plain")


@router.get(
    "/messages/{message_id}/bundle",
    response_class=Response,
    responses={
        200: {"description": "The transaction Bundle, masked", "content": {FHIR_JSON: {"schema": {"type": "object"}}}},
        **refusals(404),
    },
)
async def bundle(message_id: str, user: Viewer, svc: Svc) -> Response:
    """The transaction Bundle the message was mapped to when it was accepted, identity numbers masked."""
    found = await asyncio.to_thread(svc.journal.bundle, message_id)
    record = await asyncio.to_thread(svc.journal.get, message_id)
    if found is None or record is None:
        raise _not_found(message_id)
    await accessed(svc, user.name, "read-bundle", message_id=message_id)
    return Response(redact(found, names=record.patient_name), media_type=FHIR_JSON)


async def _act(svc: Svc, user: User, message_id: str, action: str) -> dict[str, Any]:
    j = svc.journal
    try:
        record: Record = await asyncio.to_thread(getattr(j, action), message_id, now=time.time())
    except KeyError:
        raise _not_found(message_id) from None
    except ValueError as exc:
        raise Refusal(409, "business-rule", str(exc)) from None
    await asyncio.to_thread(j.audit, user.name, action, message_id, None, now=time.time())
    return dict(record.as_json())


@router.post("/messages/{message_id}/replay", responses=refusals(404, 409))
async def replay(message_id: str, user: Operator, svc: Svc) -> dict[str, Any]:
    """A dead-lettered or cancelled message goes again (operator)."""
    return await _act(svc, user, message_id, "replay")


@router.post("/messages/{message_id}/cancel", responses=refusals(404, 409))
async def cancel(message_id: str, user: Operator, svc: Svc) -> dict[str, Any]:
    """Give up on a message; the later ones of its key go on (operator)."""
    return await _act(svc, user, message_id, "cancel")


@router.post("/messages/{message_id}/outbound/replay", responses=refusals(404))
async def outbound_replay(message_id: str, user: Operator, svc: Svc) -> dict[str, Any]:
    """Failed deliveries of the message to the internal systems go again (operator)."""
    j = svc.journal
    if await asyncio.to_thread(j.get, message_id) is None:
        raise _not_found(message_id)
    again = await asyncio.to_thread(j.outbound_replay, message_id, now=time.time())
    await asyncio.to_thread(j.audit, user.name, "outbound-replay", message_id, None, now=time.time())
    return {"messageId": message_id, "requeued": again}


class Patient(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patient: str = Field(description="the patient's full identity number (12 digits)")


@router.post("/audit/patient", openapi_extra=body_schema(Patient), responses=refusals(400))
async def patient_access_log(request: Request, user: Auditor, svc: Svc) -> list[dict[str, Any]]:
    """One patient's access log (a loggutdrag), by identity number in the body; the extract is logged too."""
    patient = await _patient_asked_for(svc, user, "access-log-extract", (await parsed(request, Patient)).patient)
    return [e.as_json() for e in await asyncio.to_thread(svc.journal.access_log, patient)]


@router.get("/audit")
async def audit(user: Viewer, svc: Svc, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    """Who revealed, replayed or cancelled what, newest first."""
    return [e.as_json() for e in await asyncio.to_thread(svc.journal.audit_log, limit=limit)]


def _shown(record: Record) -> str | None:
    if record.pruned_at is not None:
        return None
    return redact(record.document.decode("utf-8", errors="replace"), names=record.patient_name)
