"""The durable journal: every accepted message, every relay attempt, and the state of each.

    accepted ──claim──▶ relaying ──▶ delivered
    replayed ─┘            │
        ▲                  ├─ retryable failure ──▶ retrying (next attempt at) ──claim──▶ relaying
        │                  └─ final failure, or attempts/time used up ──▶ dead-lettered
        └──── replay ◀──── dead-lettered, cancelled                      cancel ──▶ cancelled

Order is per *key* (the care episode, else the referral, else the SIP, else the patient): only
the oldest open message of a key can be claimed, so a dead-lettered message holds the later ones
of its key (they show as ``held``) until an operator replays or cancels it; other keys go on. A
claim is a lease: a worker that dies leaves claims that expire, and another takes them. The
states, and what an operator may do in each, are in :mod:`adapter.journal.states`.

Two backends implement :class:`Journal` with the same SQL (``journal_sql``): SQLite, one file,
the default; and PostgreSQL, for several adapter replicas sharing the work (claims take row
locks and skip those another replica holds). A document is accepted only when its row is
committed, so a 202 means it survives a crash.
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from adapter.observability.redaction import initials
from mappings.errors import SamverkanError

from .states import State, actions

__all__ = [
    "Accept",
    "Attempt",
    "AuditEntry",
    "Conflict",
    "Invoice",
    "Journal",
    "JournalUnavailable",
    "Outbound",
    "Query",
    "Record",
    "Suspension",
    "digest",
]


class Conflict(SamverkanError):
    """The same message id was sent before with different content."""

    code = "SAMV-3001"
    issue_type = "duplicate"
    http_status = 409


class JournalUnavailable(SamverkanError):
    """The journal cannot be written now (database down, disk full): nothing was accepted; send again."""

    code = "SAMV-3002"
    issue_type = "transient"
    http_status = 503


def digest(document: bytes) -> str:
    return hashlib.sha256(document).hexdigest()


@dataclass(frozen=True, slots=True)
class Record:
    """One journaled message as an operator sees it."""

    message_id: str
    seq: int
    key: str
    message_type: str
    state: State
    attempts: int
    accepted_at: float
    queued_at: float  # accepted, or last replayed: the relay's time limit counts from here
    updated_at: float
    next_attempt: float
    server_ids: list[str] | None
    last_error: str | None
    content_type: str
    document: bytes  # empty once pruned
    sender: str | None = None
    recipients: tuple[str, ...] = ()
    patient_name: str | None = None
    correlation_id: str | None = None
    pruned_at: float | None = None  # the body (document, bundle) was pruned then; the rest stays

    def as_json(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "type": self.message_type,
            "state": self.state.value,
            "actions": actions(self.state),  # what an operator may do now; the console's buttons follow it
            "attempts": self.attempts,
            "acceptedAt": _iso(self.accepted_at),
            "updatedAt": _iso(self.updated_at),
            "serverIds": self.server_ids or [],
            "lastError": self.last_error,
        }

    def summary(self) -> dict[str, Any]:
        """What an operator's list shows: :meth:`as_json` and who, whom, which patient (by name)."""
        return {
            **self.as_json(),
            "seq": self.seq,
            "key": self.key,
            "sender": self.sender,
            "recipients": list(self.recipients),
            "patientName": initials(self.patient_name),
            "correlationId": self.correlation_id,
            "prunedAt": _iso(self.pruned_at) if self.pruned_at else None,
        }


@dataclass(frozen=True, slots=True)
class Accept:
    """One message to journal (see :meth:`Journal.accept_many`)."""

    message_id: str
    key: str
    message_type: str
    document: bytes
    content_type: str
    now: float
    bundle: str | None = None
    sender: str | None = None
    recipients: tuple[str, ...] = ()
    patient_hash: str | None = None  # keyed (adapter.search): searchable, never readable
    patient_name: str | None = None
    correlation_id: str | None = None
    outbound: tuple[str, ...] = ()  # channels the internal document is to be delivered to
    information_transfer: bool | None = None  # the patient's consent, if the message states it


@dataclass(frozen=True, slots=True)
class Outbound:
    """One delivery of a message's internal document to an outbound channel."""

    message_id: str
    channel: str
    state: str  # pending, retrying, delivering, done, failed
    attempts: int
    last_error: str | None
    document: bytes = b""
    correlation_id: str | None = None
    #: When its message was accepted or last replayed: the retry policy's time limit counts from here
    #: (read by ``outbound_claim`` only; None where not read).
    queued_at: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "state": self.state, "attempts": self.attempts, "lastError": self.last_error}


@dataclass(frozen=True, slots=True)
class Query:
    """The relay log's filters (all optional, all must hold); newest first, ``before`` a ``seq`` to page."""

    state: str | None = None
    message_type: str | None = None
    sender: str | None = None
    recipient: str | None = None
    key: str | None = None
    message_id: str | None = None
    since: float | None = None  # accepted at or after
    until: float | None = None  # accepted before
    patient_hash: str | None = None
    before: int | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """Who did what to which message, for the auditor (a reveal of personal data, a replay...)."""

    id: int
    at: float
    actor: str
    action: str
    message_id: str | None
    detail: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": _iso(self.at),
            "actor": self.actor,
            "action": self.action,
            "messageId": self.message_id,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at relaying a message: when, what the server answered, how long it took."""

    n: int
    at: float
    status: int | None
    latency_ms: float
    error: str | None
    outcome: dict[str, Any] | None

    def as_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "at": _iso(self.at),
            "status": self.status,
            "latencyMs": round(self.latency_ms, 1),
            "error": self.error,
            "outcome": self.outcome,
        }


@dataclass(frozen=True, slots=True)
class Suspension:
    """An operator's flag on an episode: the region's outpatient services were not available from
    ``first_day`` to ``last_day`` (inclusive; None while they still are not), so those days are not
    payable (docs/domain.md rule 5: no message carries this)."""

    id: int
    key: str
    first_day: date
    last_day: date | None
    reason: str
    set_at: float
    updated_at: float

    def audited(self, journal: Journal, actor: str, action: str, *, now: float) -> Suspension:
        """Writes ``action`` on this flag to the audit log, under ``actor``, and gives the flag back.
        Every change of a flag is audited: it changes payable days, and so what is invoiced."""
        last = self.last_day.isoformat() if self.last_day else "open"
        journal.audit(actor, action, None, f"suspension {self.id} of {self.key}: {self.first_day.isoformat()} to {last}", now=now)
        return self

    @property
    def days(self) -> tuple[date, date]:
        """As the payment rules take it: from ``first_day`` up to, not including, the second."""
        return self.first_day, (self.last_day + timedelta(days=1)) if self.last_day else date.max

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "from": self.first_day.isoformat(),
            "to": self.last_day.isoformat() if self.last_day else None,
            "reason": self.reason,
            "setAt": _iso(self.set_at),
            "updatedAt": _iso(self.updated_at),
        }


@dataclass(frozen=True, slots=True)
class Invoice:
    """A municipality's invoice basis for a month, marked invoiced by an operator and frozen as it
    was then: ``basis`` as adapter.invoices made it, from the messages up to ``through_seq``."""

    kommunkod: str
    month: str  # YYYY-MM
    marked_at: float
    marked_by: str
    through_seq: int
    basis: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"kommunkod": self.kommunkod, "month": self.month, "markedAt": _iso(self.marked_at), "markedBy": self.marked_by}


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


class Journal:
    """What both backends do. Times are seconds since the epoch, passed in (tests own the clock)."""

    def accept(
        self,
        message_id: str,
        *,
        key: str,
        message_type: str,
        document: bytes,
        content_type: str,
        now: float,
        bundle: str | None = None,
    ) -> tuple[Record, bool]:
        """Journals a new message (with its mapped bundle); the same id again returns the first record."""
        [result] = self.accept_many([Accept(message_id, key, message_type, document, content_type, now, bundle)])
        if isinstance(result, Conflict):
            raise result
        return result

    def accept_many(self, items: Sequence[Accept]) -> list[tuple[Record, bool] | Conflict]:
        """Several accepts in one transaction (one flush to disk); each answer in its place."""
        raise NotImplementedError

    def reject(
        self,
        *,
        document: bytes,
        content_type: str | None,
        code: str,
        location: str | None,
        detail: str,
        now: float,
        actor: str = "anonymous",
        message_id: str | None = None,
    ) -> None:
        """Keeps a refused document, and audits the refusal: who sent it, which message, why.

        Refusals are audited here only, never on the FHIR server: an AuditEvent there would itself
        tell every reader of the shared server that the patient was admitted."""
        raise NotImplementedError

    def claim(self, worker: str, *, now: float, lease: float, limit: int) -> list[Record]:
        raise NotImplementedError

    def attempt(
        self, message_id: str, *, status: int | None, latency_ms: float, error: str | None, outcome: Any, now: float
    ) -> int:
        raise NotImplementedError

    def delivered(self, message_id: str, server_ids: list[str], *, now: float) -> None:
        raise NotImplementedError

    def retry_at(self, message_id: str, when: float, error: str, *, now: float) -> None:
        raise NotImplementedError

    def dead_letter(self, message_id: str, error: str, *, now: float) -> None:
        raise NotImplementedError

    def release(self, worker: str, *, now: float) -> int:
        raise NotImplementedError

    def replay(self, message_id: str, *, now: float) -> Record:
        raise NotImplementedError

    def cancel(self, message_id: str, *, now: float) -> Record:
        raise NotImplementedError

    def get(self, message_id: str) -> Record | None:
        raise NotImplementedError

    def attempts(self, message_id: str) -> list[Attempt]:
        raise NotImplementedError

    def bundle(self, message_id: str) -> str | None:
        raise NotImplementedError

    def key_of(self, message_id: str) -> str | None:
        raise NotImplementedError

    def session_start(self, id_hash: str, user: str, fingerprint: str, *, now: float) -> None:
        """Keeps a new console session (the hash of its id, never the id)."""
        raise NotImplementedError

    def session(self, id_hash: str) -> tuple[str, str, float, float] | None:
        """The session's user, the fingerprint of their password then, and when it began and was last seen."""
        raise NotImplementedError

    def session_seen(self, id_hash: str, *, now: float) -> None:
        raise NotImplementedError

    def session_end(self, id_hash: str) -> None:
        raise NotImplementedError

    def take_secret(self, name: str) -> str | None:
        """Removes a value kept by :meth:`secret` and gives it back (None: there was none)."""
        raise NotImplementedError

    def keys_starting(self, prefix: str) -> builtins.list[str]:
        """The distinct order keys that start with ``prefix``."""
        raise NotImplementedError

    def rekey(self, old: str, new: str) -> int:
        """Moves every message of the key ``old`` to ``new``, in one transaction; how many moved."""
        raise NotImplementedError

    def list(self, *, state: str | None = None, key: str | None = None, limit: int = 100) -> list[Record]:
        raise NotImplementedError

    def counts(self) -> dict[str, int]:
        raise NotImplementedError

    def search(self, query: Query) -> builtins.list[Record]:
        """The relay log: messages matching ``query``, newest first."""
        raise NotImplementedError

    def changes(self, since: float, *, limit: int = 500) -> builtins.list[Record]:
        """Messages changed after ``since`` (accepted, claimed, delivered...), oldest change first."""
        raise NotImplementedError

    def outbound_claim(self, worker: str, *, now: float, lease: float, limit: int) -> builtins.list[Outbound]:
        """Due deliveries, each the oldest open one of its key and channel (the internal systems get
        an episode's messages in order)."""
        raise NotImplementedError

    def outbound_done(self, message_id: str, channel: str, *, now: float) -> None:
        raise NotImplementedError

    def outbound_retry(self, message_id: str, channel: str, when: float, error: str, *, now: float) -> None:
        raise NotImplementedError

    def outbound_failed(self, message_id: str, channel: str, error: str, *, now: float) -> None:
        """Given up: it holds the later deliveries of its key to that channel until replayed."""
        raise NotImplementedError

    def outbound_replay(self, message_id: str, *, now: float) -> int:
        """Failed deliveries of the message go again; how many."""
        raise NotImplementedError

    def outbound(self, message_id: str) -> builtins.list[Outbound]:
        raise NotImplementedError

    def waiting(self) -> tuple[int, float | None]:
        """How many messages are not yet delivered nor given up on, and when the oldest was accepted."""
        raise NotImplementedError

    def activity(self, since: float) -> builtins.list[tuple[float, int | None, float]]:
        """Every relay attempt since ``since``: (at, HTTP status or None, latency in ms)."""
        raise NotImplementedError

    def prune_bodies(self, before: float, *, now: float) -> int:
        """Empties the document and bundle of delivered messages last changed before ``before``;
        what they were, where they went and every attempt stay searchable."""
        raise NotImplementedError

    def audit(
        self, actor: str, action: str, message_id: str | None, detail: str | None, *, now: float, patient_hash: str | None = None
    ) -> None:
        """Writes to the audit log; ``patient_hash`` names the patient whose data the action showed."""
        raise NotImplementedError

    def audit_shown(self, actor: str, action: str, keys: Sequence[str], *, now: float) -> int:
        """Writes one audit row per patient of each of ``keys`` (the key in ``detail``), in one
        transaction: ``actor`` was shown rows of those keys (a report). The rows written."""
        raise NotImplementedError

    def patients_of(self, *, message_id: str | None = None, key: str | None = None) -> builtins.list[str]:
        """The keyed hashes of the patients of a message, or of a key's messages."""
        raise NotImplementedError

    def access_log(self, patient_hash: str, *, limit: int = 1000) -> builtins.list[AuditEntry]:
        """Who did what with one patient's data, newest first (a loggutdrag)."""
        raise NotImplementedError

    def information_transfer(self, key: str) -> bool | None:
        """The consent to information transfer the key's messages stated last (None: never)."""
        raise NotImplementedError

    def audit_log(self, *, limit: int = 100) -> builtins.list[AuditEntry]:
        """The newest entries first."""
        raise NotImplementedError

    def secret(self, name: str, make: Callable[[], str]) -> str:
        """A value kept in the journal, made once by ``make`` (the first replica to ask wins)."""
        raise NotImplementedError

    def suspend(self, key: str, first_day: date, last_day: date | None, reason: str, *, now: float) -> Suspension:
        """Flags days of an episode on which the region's outpatient services were not available."""
        raise NotImplementedError

    def end_suspension(self, suspension_id: int, last_day: date | None, *, now: float) -> Suspension:
        """Sets (or clears, with None) the last day of a flag. KeyError when there is no such flag."""
        raise NotImplementedError

    def remove_suspension(self, suspension_id: int) -> Suspension:
        """Withdraws a flag set by mistake. KeyError when there is no such flag."""
        raise NotImplementedError

    def mark_invoiced(self, invoice: Invoice) -> Invoice:
        """Freezes ``invoice`` and audits it, in one transaction; a month marked before is a Conflict."""
        raise NotImplementedError

    def invoices(self, kommunkod: str) -> builtins.list[Invoice]:
        """The municipality's invoiced months, oldest first."""
        raise NotImplementedError

    def suspensions(self, key: str | None = None) -> builtins.list[Suspension]:  # (``list`` is a method here)
        """The flags of one key, or of all, oldest first."""
        raise NotImplementedError

    def prune(self, before: float) -> int:
        """Deletes delivered and cancelled messages (and refusals) last changed before ``before``."""
        raise NotImplementedError

    def schema_version(self) -> int:
        """The last migration applied."""
        raise NotImplementedError

    def vacuum(self) -> None:
        """Gives the space of pruned rows back."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    @property
    def where(self) -> str:
        """Where the journal is, for operators (never with a password)."""
        raise NotImplementedError
