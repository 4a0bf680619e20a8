"""One message to the FHIR server: decode, map, post the transaction, report what became what.

This is the synchronous slice of the relay; the journal and the worker with retries and order
(ARCHITECTURE.md, "Contract of the relay") are built on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mappings import to_bundle
from mappings.model import Message

from .codec import DEFAULT_LIMITS, Limits, decode
from .fhir_client import EntryResult, FhirClient

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


async def relay_message(message: Message, fhir: FhirClient) -> RelayResult:
    # Map completely before sending: a message that cannot be mapped sends nothing.
    bundle = to_bundle(message)
    result = await fhir.transaction(bundle)
    return RelayResult(message.id, message.type.value, fhir.base_url, result.entries)


async def relay_document(
    raw: bytes, content_type: str | None, fhir: FhirClient, *, limits: Limits = DEFAULT_LIMITS
) -> RelayResult:
    """Decode ``raw`` (XML or JSON) and relay it; a ``SamverkanError`` names what is wrong."""
    return await relay_message(decode(raw, content_type, limits=limits), fhir)
