"""Accepting one message, the adapter's central use case, without the web framework.

    intake = Intake(journal, hasher=PatientHasher(key), limits=Limits.of(settings))
    raw = await intake.receive(request.headers, request.stream(), actor=caller.name)
    record, created = await intake.take(raw, content_type, caller=caller)

``take`` reads the message, checks that the caller may send as its sender and that the patient's
consent allows what it carries (rule 11 of docs/domain.md), maps it to its bundle (so that what
cannot be mapped is refused to the sender, not dead-lettered later) and journals it through the
group commit: a durable record, and whether it is new. Every refusal is journaled with what was
sent, audited under the caller's name, and counted; nothing refused is relayed. The journal is
read and written in threads: the event loop never waits for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime

from adapter.codec import compact_json, decode
from adapter.codec.safe_parse import Where
from adapter.config import Limits
from adapter.journal import Accept, Journal, JournalUnavailable, Record
from adapter.observability import Metrics, correlation_id, redact
from adapter.relay import bundle_of
from adapter.rules.consent import check_information_transfer, stated
from adapter.security import Caller, PatientHasher
from mappings.errors import CodecError, PathKind, SamverkanError, SenderNotPermitted
from mappings.keys import order_key
from mappings.model import Message, MessageType

from .body import read_body
from .group_commit import GroupCommit

__all__ = ["Intake", "Reader", "key_for"]

log = logging.getLogger(__name__)

#: Reads the message out of the body: the message and the internal document to journal.
Reader = Callable[[], tuple[Message, bytes]]
#: Where the sender's HSA-id is, in an internal document.
_SENDER_AT: tuple[str, PathKind] = ("/Message/Sender/@hsaId", "xpath")


def key_for(message: Message, journal: Journal, hasher: PatientHasher) -> str:
    """The order key (a patient's keyed by ``hasher``); a Kvittens without an episode follows the
    message it acknowledges."""
    if message.type is MessageType.KVITTENS and message.care_episode is None and message.body.acknowledges:
        acknowledged = journal.key_of(message.body.acknowledges)
        if acknowledged is not None:
            return acknowledged
    return order_key(message, hasher)


class _Refused(Exception):
    """A refusal on its way out of the worker thread, with the message id if it was read."""

    def __init__(self, error: SamverkanError, message_id: str | None):
        super().__init__(str(error))
        self.error, self.message_id = error, message_id


class Intake:
    """Takes messages into one journal (see the module's docstring)."""

    def __init__(
        self,
        journal: Journal,
        *,
        hasher: PatientHasher,
        limits: Limits | None = None,
        metrics: Metrics | None = None,
        outbound: tuple[str, ...] = (),
        clock: Callable[[], float] = time.time,
    ):
        self.journal, self.hasher, self.clock = journal, hasher, clock
        self.limits = limits or Limits()
        self.metrics = metrics or Metrics()
        #: The outbound channels a message that came in as FHIR is delivered to (adapter.relay.outbound).
        self.outbound = outbound
        self.commit = GroupCommit(journal)

    async def receive(
        self, headers: Mapping[str, str], stream: AsyncIterator[bytes], where: Where = ("/", "xpath"), *, actor: str
    ) -> bytes:
        """The request's body within the limits; a refusal (413, 415) is journaled before it is raised."""
        try:
            return await read_body(headers, stream, self.limits.max_bytes, where)
        except CodecError as exc:
            await self.refuse(exc, b"", headers.get("content-type"), actor=actor)
            raise

    async def take(
        self,
        raw: bytes,
        content_type: str | None,
        read: Reader | None = None,
        *,
        caller: Caller,
        sender_at: tuple[str, PathKind] = _SENDER_AT,
        outbound: bool = False,
    ) -> tuple[Record, bool]:
        """Accepts the message in ``raw`` (``read`` finds it; by default the internal codec):
        the journal's record and whether it is new. ``outbound``: it came as FHIR, so the internal
        systems have not seen it and get its document."""
        reader = read or (lambda: (decode(raw, content_type, limits=self.limits), raw))
        try:
            item = await asyncio.to_thread(self._prepare, raw, content_type, reader, caller, sender_at, outbound)
        except _Refused as refused:
            await self.refuse(refused.error, raw, content_type, actor=caller.name, message_id=refused.message_id)
            raise refused.error from None
        record, created = await self.commit.accept(item)
        if created:
            self.metrics.accepted.labels(item.message_type).inc()
        return record, created

    def _prepare(
        self, raw: bytes, content_type: str | None, read: Reader, caller: Caller, sender_at: tuple[str, PathKind], outbound: bool
    ) -> Accept:
        """The journal's row for the message, or :class:`_Refused` (runs in a thread: it reads the journal)."""
        message: Message | None = None
        # One time for the journal's accepted_at and the AuditEvent's recorded: the worker rebuilds
        # the AuditEvent from accepted_at, so the stored bundle is what it sends.
        accepted = self.clock()
        try:
            message, document = read()
            if not caller.may_send_as(message.sender.hsa_id):
                path, kind = sender_at
                raise SenderNotPermitted(f"{caller.name} may not send as this sender", path=path, path_kind=kind)
            key = key_for(message, self.journal, self.hasher)
            check_information_transfer(message, lambda: self.journal.information_transfer(key))
            bundle = bundle_of(message, recorded=datetime.fromtimestamp(accepted, UTC))
        except JournalUnavailable:
            raise
        except SamverkanError as exc:
            raise _Refused(exc, message.id if message is not None else None) from exc
        return Accept(
            message.id,
            key,
            message.type.value,
            document,
            "application/xml" if document is not raw else content_type or "",
            accepted,
            compact_json(bundle).decode(),
            sender=message.sender.hsa_id,
            recipients=tuple(r.hsa_id for r in message.recipients),
            patient_hash=self.hasher(message.patient.id_value),
            patient_name=" ".join(filter(None, (message.patient.given, message.patient.family))) or None,
            correlation_id=correlation_id.get(),
            outbound=self.outbound if outbound else (),
            information_transfer=stated(message),
        )

    async def refuse(
        self, exc: SamverkanError, document: bytes, content_type: str | None, *, actor: str, message_id: str | None = None
    ) -> None:
        """Counts the refusal and keeps it in the journal with what was sent, audited under ``actor``."""
        self.metrics.refused.labels(exc.code).inc()
        try:
            await asyncio.to_thread(
                self.journal.reject,
                document=document,
                content_type=content_type,
                code=exc.code,
                location=exc.path,
                detail=redact(exc.detail),
                now=self.clock(),
                actor=actor,
                message_id=message_id,
            )
        except Exception:
            # The sender still gets the refusal it is owed; the journal's trouble is for operators.
            log.exception("could not journal the refusal %s", exc.code)
