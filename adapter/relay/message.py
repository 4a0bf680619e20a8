"""One message to the FHIR server: decode, map, post the transaction, report what became what.

This is the synchronous slice of the relay; the journal and the worker with retries and order
(docs/architecture.md, "Contract of the relay") are built on it.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from adapter.codec import DEFAULT_LIMITS, decode
from adapter.config import Limits
from adapter.fhir import EntryResult, FhirClient, Final, Retryable
from adapter.rules.acknowledgements import acknowledgement_entries
from mappings import to_fhir
from mappings.audit import audit_entry
from mappings.bundle import Entry, transaction
from mappings.model import Message

__all__ = ["RelayResult", "StateCache", "bundle_of", "entries_of", "relay_document", "relay_message"]


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

Identity = tuple[str, str, str]  # resourceType, identifier system, value


class StateCache:
    """The state resources (Encounter, CareTeam, Task ...) as this process last wrote them.

    A key's messages go through one worker at a time, in order, so the resource the last message
    wrote is almost always what the server still holds: merging onto it saves a search per
    message. It is safe because the write carries ``If-Match`` on the cached version: if anyone
    else changed the resource, the server refuses (409/412), the entry is dropped here, and the
    relay reads the server's resource and merges again. Bounded; oldest out first.
    """

    def __init__(self, size: int = 20_000):
        self.size = size
        self._items: OrderedDict[Identity, dict[str, Any]] = OrderedDict()

    def get(self, key: Identity) -> dict[str, Any] | None:
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: Identity, resource: dict[str, Any]) -> None:
        self._items[key] = resource
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def drop(self, keys: list[Identity]) -> None:
        for key in keys:
            self._items.pop(key, None)


def _identity(e: Entry) -> Identity:
    return (e.resource["resourceType"], e.system, e.value)


async def _onto_server(entries: list[Entry], fhir: FhirClient, cache: StateCache | None) -> list[Entry]:
    """Entries with their updates merged onto what the server holds now (or what we last wrote there)."""
    stateful = [e for e in entries if e.merge is not None]

    async def current(e: Entry) -> dict[str, Any] | None:
        known = cache.get(_identity(e)) if cache is not None else None
        return known if known is not None else await fhir.find_one(e.resource["resourceType"], e.system, e.value)

    found = await asyncio.gather(*(current(e) for e in stateful))
    merged = {id(e): e.onto(now) for e, now in zip(stateful, found, strict=True) if now is not None}
    return [merged.get(id(e), e) for e in entries]


def entries_of(message: Message, *, recorded: datetime) -> list[Entry]:
    """What a message becomes on the server: its mapping, the Tasks of the Kvittenser it waits
    for, and the AuditEvent of its relay (``recorded``: when the journal accepted the message)."""
    entries = to_fhir(message)
    entries += acknowledgement_entries(message, entries)
    return [*entries, audit_entry(message, entries, recorded=recorded)]


def bundle_of(message: Message, *, recorded: datetime) -> dict[str, Any]:
    """The transaction :func:`relay_message` sends when nothing of it is on the server yet."""
    return transaction(entries_of(message, recorded=recorded))


async def relay_message(
    message: Message, fhir: FhirClient, cache: StateCache | None = None, *, recorded: datetime
) -> RelayResult:
    """Relays ``message``; ``recorded`` is the AuditEvent's time: when the journal accepted the
    message, so that every retry and replay sends the same resource."""
    # Map completely before sending: a message that cannot be mapped sends nothing.
    entries = entries_of(message, recorded=recorded)
    stateful = [_identity(e) for e in entries if e.merge is not None]
    for attempt in range(1, MERGE_ATTEMPTS + 1):
        bundle = transaction(await _onto_server(entries, fhir, cache))
        try:
            result = await fhir.transaction(bundle, representation=cache is not None and bool(stateful))
        except Final as exc:
            if cache is not None:
                cache.drop(stateful)
            # Someone changed the episode (or referral) between our read and our write: read again.
            if exc.status in (409, 412) and attempt < MERGE_ATTEMPTS and stateful:
                continue
            if exc.status == 409:
                # HAPI's answer to the loser of two identical conditional creates at once: it may pass.
                raise Retryable(str(exc), status=409) from exc
            raise
        except BaseException:
            if cache is not None:
                cache.drop(stateful)  # the write may or may not have happened: read the server next time
            raise
        if cache is not None:
            for e, got in zip(entries, result.entries, strict=False):
                if e.merge is not None and got.resource is not None:
                    cache.put(_identity(e), got.resource)
        return RelayResult(message.id, message.type.value, fhir.base_url, result.entries)
    raise AssertionError("unreachable")


async def relay_document(
    raw: bytes, content_type: str | None, fhir: FhirClient, *, limits: Limits = DEFAULT_LIMITS
) -> RelayResult:
    """Decode ``raw`` (XML or JSON) and relay it; a ``SamverkanError`` names what is wrong.

    Without a journal, the document is accepted now: the AuditEvent's ``recorded`` is the time of
    this call. Relaying the same document again later leaves the first AuditEvent as it was
    (conditional create), so the server keeps the time of the first relay.
    """
    return await relay_message(decode(raw, content_type, limits=limits), fhir, recorded=datetime.now(UTC))
