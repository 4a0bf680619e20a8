"""A FHIR R4 endpoint for EHR vendors (issue 8, first part): what their systems send as FHIR goes
the same way as an internal message, and the internal systems get their own document.

    GET  /fhir/metadata             the CapabilityStatement: what is supported, our profiles
    POST /fhir                      a transaction or batch Bundle holding one message
                                    (a Communication of our message types and what it refers to)
    POST /fhir/$process-message     a message Bundle: MessageHeader first, its event our message type

The bundle is mapped back to the internal message (``mappings.from_fhir``), which passes the same
XSD and domain checks as a document sent to ``POST /messages``, and is journaled as that internal
document. From there it is relayed to the FHIR server under our profiles, in order per episode,
with retries, exactly as if it had come in as XML. The same message id sent again answers with the
first result. The vendor's request waits up to ``SAMVERKAN_FHIR_ANSWER_WAIT`` seconds for the
relay: delivered, the answer is the transaction-response (or a response message, with
``MessageHeader.response.code``); still on its way, 202 with ``Content-Location`` to poll.

JSON and XML (``application/fhir+json``, ``application/fhir+xml``) in; the answer in the format
``_format`` or ``Accept`` asks for. What comes in is checked against base R4 first
(``adapter.codec.fhir_wire``), then for what the mapping back needs.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from adapter.codec import decode, encode_xml, read_bundle
from adapter.config import Limits, Settings
from adapter.journal import Record, State
from adapter.observability import redact
from adapter.security import Caller
from mappings import from_fhir
from mappings import identifiers as ids
from mappings.errors import InvalidValue, MissingElement, PathKind
from mappings.fhir import FHIR_JSON, FHIR_XML
from mappings.model import Message, MessageType

from ..access import Sender
from ..errors import Refusal, operation_outcome, render
from ..openapi import refusals
from ..services import Svc

__all__ = ["capability_statement", "response_entries", "router"]

#: Where a refusal about the whole body points.
_BUNDLE: tuple[str, PathKind] = ("Bundle", "fhirpath")
_SENDER_AT: tuple[str, PathKind] = ("Communication.sender", "fhirpath")

router = APIRouter(prefix="/fhir", tags=["FHIR"])


def _message(bundle: Mapping[str, Any], limits: Limits) -> tuple[Message, bytes]:
    """The internal message in ``bundle`` and its document, checked as any internal document is."""
    message = from_fhir(bundle)
    document = encode_xml(message)
    # The XSD and the domain checks of POST /messages, on what the internal systems will get.
    return decode(document, "application/xml", limits=limits), document


def _event(bundle: Mapping[str, Any]) -> tuple[Mapping[str, Any], MessageType]:
    entries = bundle.get("entry") or []
    header = (entries[0].get("resource") if entries and isinstance(entries[0], dict) else None) or {}
    if header.get("resourceType") != "MessageHeader":
        raise MissingElement(
            "a message Bundle starts with its MessageHeader", path="Bundle.entry[0].resource", path_kind="fhirpath"
        )
    coding = header.get("eventCoding") or {}
    try:
        if coding.get("system") != ids.CS_MESSAGE_TYPE:
            raise ValueError
        return header, MessageType(str(coding.get("code")))
    except ValueError:
        raise InvalidValue(
            f"MessageHeader.eventCoding must be a code of {ids.CS_MESSAGE_TYPE}",
            path="MessageHeader.eventCoding",
            path_kind="fhirpath",
        ) from None


def capability_statement(settings: Settings) -> dict[str, Any]:
    resources = [
        {
            "type": t,
            "supportedProfile": [ids.profile_url(t)],
            "interaction": [],
            "documentation": "written through a transaction, batch or message Bundle holding one message",
        }
        for t in sorted(ids.PROFILED)
    ]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-03",
        "kind": "instance",
        "software": {"name": "samverkan-adapter"},
        "implementation": {"description": "samverkan: internal care-coordination messages as FHIR R4"},
        "fhirVersion": "4.0.1",
        "format": ["json", "xml"],
        "rest": [
            {
                "mode": "server",
                "documentation": "One message per Bundle: a Communication whose category is a code of "
                f"{ids.CS_MESSAGE_TYPE}, and the resources it refers to.",
                "resource": resources,
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
                "operation": [
                    {
                        "name": "process-message",
                        "definition": "http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message",
                    }
                ],
            }
        ],
        "messaging": [
            {
                "supportedMessage": [
                    {"mode": "receiver", "definition": f"{ids.CANONICAL}/MessageDefinition/{t.value}"} for t in MessageType
                ]
            }
        ],
    }


#: What the OpenAPI document says of both POSTs: a Bundle in, FHIR out in the format asked for.
_FHIR_OUT = {FHIR_JSON: {"schema": {"type": "object"}}, FHIR_XML: {"schema": {"type": "string"}}}
_BUNDLE_IN: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {FHIR_JSON: {"schema": {"type": "object"}}, FHIR_XML: {"schema": {"type": "string"}}},
    }
}
_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "Relayed: the answer to the Bundle", "content": _FHIR_OUT},
    202: {"description": "Accepted, still being relayed: poll Content-Location", "content": _FHIR_OUT},
    **refusals(400, 401, 403, 409, 413, 415, 422, 502, 503, xml=True),
}


@router.get("/metadata", response_class=Response, responses={200: {"description": "CapabilityStatement", "content": _FHIR_OUT}})
async def metadata(request: Request, svc: Svc, _format: str | None = None) -> Response:
    return render(request, capability_statement(svc.settings))


async def _answer(
    request: Request, svc: Svc, raw: bytes, read: Callable[[], tuple[Message, bytes]], caller: Caller
) -> tuple[Record, Response | None]:
    """Takes the message ``read`` finds in ``raw`` and waits for its relay: the record once
    delivered, with None; else the answer to give (502 if the FHIR server refused it, 202 if the
    wait ran out first). Refusals are raised, and rendered in the format asked for."""
    content_type = request.headers.get("content-type")
    record, _ = await svc.intake.take(raw, content_type, read, caller=caller, sender_at=_SENDER_AT, outbound=True)
    record = await _relayed(svc, record)
    if record.state == State.DEAD_LETTERED:
        raise Refusal(502, "processing", redact(record.last_error or "refused"))
    if record.state != State.DELIVERED:
        issue = {
            "severity": "information",
            "code": "informational",
            "diagnostics": f"accepted; being relayed ({record.state}): poll /messages/{record.message_id}",
        }
        return record, render(request, operation_outcome(issue), 202, {"Content-Location": f"/messages/{record.message_id}"})
    return record, None


async def _relayed(svc: Svc, record: Record) -> Record:
    """The record once relayed (or given up on), or as it is when the wait is over."""
    deadline = time.monotonic() + svc.settings.fhir_answer_wait
    while record.state not in (State.DELIVERED, State.DEAD_LETTERED) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        current: Record | None = await asyncio.to_thread(svc.journal.get, record.message_id)
        record = current or record
    return record


@router.post("", response_class=Response, openapi_extra=_BUNDLE_IN, responses=_ANSWERS)
async def transaction(request: Request, caller: Sender, svc: Svc, _format: str | None = None) -> Response:
    """A transaction or batch Bundle holding one message."""
    raw = await svc.intake.receive(request.headers, request.stream(), _BUNDLE, actor=caller.name)
    sent: list[dict[str, Any]] = []

    def read() -> tuple[Message, bytes]:
        bundle = read_bundle(raw, request.headers.get("content-type"), svc.limits)
        if bundle.get("type") not in ("transaction", "batch"):
            raise InvalidValue("POST /fhir takes a transaction or batch Bundle", path="Bundle.type", path_kind="fhirpath")
        sent.append(bundle)
        return _message(bundle, svc.limits)

    record, early = await _answer(request, svc, raw, read, caller)
    if early is not None:
        return early
    ours = await asyncio.to_thread(svc.journal.bundle, record.message_id)
    entries = response_entries(sent[0], json.loads(ours) if ours else None, record.server_ids or [])
    return render(request, {"resourceType": "Bundle", "type": f"{sent[0]['type']}-response", "entry": entries})


@router.post("/$process-message", response_class=Response, openapi_extra=_BUNDLE_IN, responses=_ANSWERS)
async def process_message(request: Request, caller: Sender, svc: Svc, _format: str | None = None) -> Response:
    """A message Bundle: its MessageHeader names the event, the rest is the message."""
    raw = await svc.intake.receive(request.headers, request.stream(), _BUNDLE, actor=caller.name)
    header: dict[str, Any] = {}

    def read() -> tuple[Message, bytes]:
        bundle = read_bundle(raw, request.headers.get("content-type"), svc.limits)
        if bundle.get("type") != "message":
            raise InvalidValue("$process-message takes a message Bundle", path="Bundle.type", path_kind="fhirpath")
        found, event = _event(bundle)
        header.update(found)
        message, document = _message(bundle, svc.limits)
        if message.type is not event:
            raise InvalidValue(
                f"the MessageHeader's event {event.value} is not the Communication's type {message.type.value}",
                path="MessageHeader.eventCoding",
                path_kind="fhirpath",
            )
        return message, document

    record, early = await _answer(request, svc, raw, read, caller)
    return early if early is not None else render(request, _response_message(request, header, record))


def _identities(resource: Mapping[str, Any]) -> set[tuple[str, str, str]]:
    """(type, system, value) of each business identifier; Inera's OID for HSA-ids read as ours."""
    out = set()
    for ident in resource.get("identifier") or []:
        if isinstance(ident, Mapping) and "value" in ident:
            system = ids.HSA_ID if ident.get("system") == ids.HSA_ID_INERA else str(ident.get("system"))
            out.add((str(resource.get("resourceType")), system, str(ident["value"])))
    return out


def response_entries(sent: Mapping[str, Any], ours: Mapping[str, Any] | None, server_ids: list[str]) -> list[dict[str, Any]]:
    """One response entry per entry the vendor sent, in its order (as FHIR wants of a
    transaction-response): where the server holds it, found by business identifier among what the
    relay wrote (our bundle's entries, in the order of ``server_ids``), else by type when the relay
    wrote one resource of that type. Resources we do not keep (none matches) answer without one."""
    written = [e.get("resource", {}) for e in (ours or {}).get("entry", [])]
    if [r.get("resourceType") for r in written] != [sid.split("/")[0] for sid in server_ids]:
        written = []  # not the bundle the relay wrote: match by type only
    located = {key: sid for r, sid in zip(written, server_ids, strict=False) for key in _identities(r)}
    by_type: dict[str, list[str]] = {}
    for sid in server_ids:
        by_type.setdefault(sid.split("/")[0], []).append(sid)
    out = []
    for entry in sent.get("entry") or []:
        resource = entry.get("resource") or {}
        found = next((located[k] for k in _identities(resource) if k in located), None)
        same_type = by_type.get(str(resource.get("resourceType")), [])
        if found is None and len(same_type) == 1:
            found = same_type[0]
        out.append({"response": {"status": "200 OK", **({"location": found} if found else {})}})
    return out


def _response_message(request: Request, header: Mapping[str, Any], record: Record) -> dict[str, Any]:
    """The answer to $process-message: a message Bundle whose MessageHeader answers the request's."""
    response_header = {
        "resourceType": "MessageHeader",
        "id": str(uuid.uuid4()),
        "eventCoding": header.get("eventCoding"),
        "source": {"endpoint": str(request.base_url).rstrip("/") + "/fhir"},
        "response": {"identifier": header.get("id") or record.message_id, "code": "ok"},
        "focus": [{"reference": sid.split("/_history/")[0]} for sid in record.server_ids or []],
    }
    return {
        "resourceType": "Bundle",
        "type": "message",
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "entry": [{"fullUrl": f"urn:uuid:{response_header['id']}", "resource": response_header}],
    }
