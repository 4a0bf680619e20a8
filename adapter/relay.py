"""One message to the FHIR server: decode, map, post the transaction, report what became what.

This is the synchronous slice of the relay; the journal and the worker with retries and order
(ARCHITECTURE.md, "Contract of the relay") are built on it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from mappings import to_fhir
from mappings.bundle import Entry, transaction
from mappings.model import Message

from .codec import DEFAULT_LIMITS, Limits, decode
from .fhir_client import EntryResult, FhirClient, Final, Retryable

__all__ = ["RelayResult", "relay_document", "relay_message"]


@dataclass(frozen=True, slots=True)
class RelayResult:
    """A relayed message and, per entry of its bundle, what the server did."""

    message_id: str
    message_type: str
    server: str
    entries: tuple[EntryResult, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "type": self.message_type,
            "server": self.server,
            "entries": [
                {"resourceType": e.resource_type, "status": e.status, "id": e.id, "location": e.location} for e in self.entries
            ],
        }


#: How often a bundle is rebuilt when a resource it updates changed under it (409/412).
MERGE_ATTEMPTS = 4


async def _onto_server(entries: list[Entry], fhir: FhirClient) -> list[Entry]:
    """Entries with their updates merged onto what the server holds now."""
    stateful = [e for e in entries if e.merge is not None]
    found = await asyncio.gather(*(fhir.find_one(e.resource["resourceType"], e.system, e.value) for e in stateful))
    merged = {id(e): e.onto(current) for e, current in zip(stateful, found, strict=True) if current is not None}
    return [merged.get(id(e), e) for e in entries]


async def relay_message(message: Message, fhir: FhirClient) -> RelayResult:
    # Map completely before sending: a message that cannot be mapped sends nothing.
    entries = to_fhir(message)
    for attempt in range(1, MERGE_ATTEMPTS + 1):
        bundle = transaction(await _onto_server(entries, fhir))
        try:
            result = await fhir.transaction(bundle)
        except Final as exc:
            # Someone changed the episode (or referral) between our read and our write: read again.
            if exc.status in (409, 412) and attempt < MERGE_ATTEMPTS and any(e.merge for e in entries):
                continue
            if exc.status == 409:
                # HAPI's answer to the loser of two identical conditional creates at once: it may pass.
                raise Retryable(str(exc), status=409) from exc
            raise
        return RelayResult(message.id, message.type.value, fhir.base_url, result.entries)
    raise AssertionError("unreachable")


async def relay_document(
    raw: bytes, content_type: str | None, fhir: FhirClient, *, limits: Limits = DEFAULT_LIMITS
) -> RelayResult:
    """Decode ``raw`` (XML or JSON) and relay it; a ``SamverkanError`` names what is wrong."""
    return await relay_message(decode(raw, content_type, limits=limits), fhir)
