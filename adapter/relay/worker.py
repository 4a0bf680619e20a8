"""Relay workers: take due messages from the journal, relay them, record what happened.

What may pass is retried, what cannot is final, as ``adapter.fhir.retry.classify`` decides for
every caller (network errors, timeouts, 408, 425, 429, 5xx, with Retry-After honoured; a 409 that
stays after the relay read the server again, see ``adapter.relay.message``); a final answer
dead-letters the message with the server's OperationOutcome. Attempts and total time are capped
(``adapter.config.RetryPolicy``), so a queue never retries for ever. The schedule lives in the
journal, not in memory: a restart keeps it, which is why this is a few lines here rather than an
in-process retry loop (tenacity serves only the retries that someone waits for).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from adapter.codec import decode
from adapter.config import RetryPolicy
from adapter.fhir import FhirClient, Final, Retryable
from adapter.fhir.retry import next_delay
from adapter.journal import Journal, JournalUnavailable, Record, State
from adapter.observability import Metrics, correlation_id, redact
from mappings.errors import SamverkanError

from .message import RelayResult, StateCache, relay_message
from .throttle import Throttle

__all__ = ["Worker"]

log = logging.getLogger("adapter.relay.worker")


class Worker:
    """Claims up to ``parallel`` messages at a time (one per key) and relays them; fewer while the
    server shows it is overloaded (:class:`Throttle`)."""

    def __init__(
        self,
        journal: Journal,
        fhir: FhirClient,
        *,
        parallel: int = 8,
        lease: float = 60.0,
        poll: float = 0.2,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        worker_id: str | None = None,
        retention: float | None = None,
        metrics: Metrics | None = None,
    ):
        self.journal, self.fhir = journal, fhir
        self.parallel, self.lease, self.poll = parallel, lease, poll
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self.rng = random.Random()  # noqa: S311 (the backoff's jitter, not a secret)
        self.id = worker_id or f"worker-{uuid.uuid4().hex[:8]}"
        self.retention = retention  # seconds; None keeps everything
        self._next_prune = 0.0
        self.cache = StateCache()
        self.throttle = Throttle(parallel)
        self.metrics = metrics

    async def run(self, stop: asyncio.Event) -> None:
        """Relays until ``stop`` is set, then finishes what it started and gives back its claims.

        Up to ``parallel`` keys are in flight; as soon as one finishes, the next due message is
        claimed (no waiting for a whole batch). A restart under the same worker id takes back the
        claims its previous life left, without waiting for them to expire. The journal being away
        (a database restart) is waited out. Journal calls run in threads: the event loop, which
        the HTTP API shares, never waits for a commit.
        """
        await asyncio.to_thread(self._safely, lambda: self.journal.release(self.id, now=self.clock()))
        inflight: set[asyncio.Task[None]] = set()
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                free = self.throttle.slots - len(inflight)
                if free > 0:
                    for record in await asyncio.to_thread(self._claim, free):
                        inflight.add(asyncio.create_task(self._guarded(record)))
                done, _ = await asyncio.wait({*inflight, stopping}, timeout=self.poll, return_when=asyncio.FIRST_COMPLETED)
                inflight -= done
        finally:
            if inflight:
                await asyncio.wait(inflight)
            stopping.cancel()
            await asyncio.to_thread(self._safely, lambda: self.journal.release(self.id, now=self.clock()))

    def _claim(self, limit: int) -> list[Record]:
        try:
            records = self.journal.claim(self.id, now=self.clock(), lease=self.lease, limit=limit)
            self._prune()
            return records
        except JournalUnavailable as exc:
            log.warning("journal unavailable, waiting: %s", exc)
        except Exception:
            log.exception("claiming failed; trying again")
        return []

    async def _guarded(self, record: Record) -> None:
        try:
            await self._relay(record)
        except Exception as exc:
            # Most likely the journal went away after the relay: the claim expires and it goes again.
            log.warning("could not record the relay of %s: %s", record.message_id, redact(str(exc)))

    @staticmethod
    def _safely(action: Callable[[], object]) -> None:
        try:
            action()
        except JournalUnavailable as exc:  # the claims expire instead
            log.warning("could not give back claims: %s", exc)

    def _prune(self) -> None:
        now = self.clock()
        if self.retention is None or now < self._next_prune:
            return
        self._next_prune = now + 3600
        # Bodies only: what was sent, to whom, and every attempt stay searchable; the space the
        # documents took is reused by the database (given back to the OS by `journal prune --vacuum`).
        pruned = self.journal.prune_bodies(now - self.retention, now=now)
        if pruned:
            log.info("pruned the bodies of %d delivered messages older than %.0f days", pruned, self.retention / 86400)

    async def run_once(self) -> int:
        """One round: claim what is due and relay it; the number of messages handled."""
        records = self.journal.claim(self.id, now=self.clock(), lease=self.lease, limit=self.parallel)
        await asyncio.gather(*(self._guarded(r) for r in records))
        return len(records)

    async def _relay(self, record: Record) -> None:
        # This task's requests carry the id the message came in with (X-Request-ID), as do its logs.
        correlation_id.set(record.correlation_id or record.message_id)
        started = time.perf_counter()
        try:
            message = decode(record.document, record.content_type)
            # The AuditEvent's time is the acceptance's: the same on every retry and replay.
            recorded = datetime.fromtimestamp(record.accepted_at, UTC)
            # Bounded by the lease, so no other worker takes the message while this one still works on it.
            result: RelayResult | BaseException = await asyncio.wait_for(
                relay_message(message, self.fhir, self.cache, recorded=recorded), self.lease * 0.8
            )
        except TimeoutError:
            result = Retryable(f"the relay took longer than {self.lease * 0.8:.0f} s (80 % of the claim's lease)", overload=True)
        except Exception as exc:
            result = exc
        self._pace(result, started)
        await asyncio.to_thread(self._settle, record, result, started)

    def _pace(self, result: RelayResult | BaseException, started: float) -> None:
        """Feeds the throttle; logs only when throttling starts and when it ends."""
        was = self.throttle.throttled
        if isinstance(result, RelayResult):
            self.throttle.succeeded()
            if was and not self.throttle.throttled:
                log.warning("the FHIR server keeps up again; relaying up to %d at a time", self.throttle.limit)
        elif isinstance(result, Retryable) and result.overload:
            cut = self.throttle.overloaded(started=started, now=time.perf_counter())
            if cut and not was:
                log.warning("the FHIR server is overloaded (%s); relaying fewer at a time until it keeps up", redact(str(result)))

    def _settle(self, record: Record, result: RelayResult | BaseException, started: float) -> None:
        """Records the attempt and moves the message on: delivered, retrying or dead-lettered."""
        if isinstance(result, RelayResult):
            self._record(record, 200, started, None, None)
            self.journal.delivered(record.message_id, [e.id for e in result.entries if e.id], now=self.clock())
            self._count(State.DELIVERED)
        elif isinstance(result, Retryable):
            self._failed(record, result, result.status, started, retry_after=result.retry_after)
        elif isinstance(result, Final):
            self._record(record, result.status, started, str(result), result.outcome)
            self.journal.dead_letter(record.message_id, redact(str(result)), now=self.clock())
            self._count(State.DEAD_LETTERED)
            log.warning("dead-lettered %s (%s): %s", record.message_id, record.message_type, redact(str(result)))
        elif isinstance(result, SamverkanError):  # accepted by an older version but refused by this mapping: final
            self._record(record, None, started, str(result), None)
            self.journal.dead_letter(record.message_id, redact(str(result)), now=self.clock())
            self._count(State.DEAD_LETTERED)
        else:  # a bug or a server answer we do not understand: retried, capped, never lost
            log.error("unexpected error relaying %s", record.message_id, exc_info=result)
            self._failed(record, Retryable(f"unexpected {type(result).__name__}"), None, started, retry_after=None)

    def _count(self, outcome: State) -> None:
        if self.metrics is not None:
            self.metrics.attempts.labels(outcome.value).inc()

    def _record(self, record: Record, status: int | None, started: float, error: str | None, outcome: object) -> int:
        latency = (time.perf_counter() - started) * 1000
        if self.metrics is not None:
            self.metrics.latency.observe(latency / 1000)
        return self.journal.attempt(
            record.message_id,
            status=status,
            latency_ms=latency,
            error=redact(error) if error else None,
            outcome=outcome,
            now=self.clock(),
        )

    def _failed(
        self, record: Record, exc: SamverkanError, status: int | None, started: float, *, retry_after: float | None
    ) -> None:
        attempts = self._record(record, status, started, str(exc), None)
        now = self.clock()
        if self.policy.gives_up(record, attempts, now):
            self.journal.dead_letter(record.message_id, f"gave up after {attempts} attempts: {redact(str(exc))}", now=now)
            self._count(State.DEAD_LETTERED)
            log.warning("dead-lettered %s after %d attempts", record.message_id, attempts)
            return
        delay = next_delay(self.policy, attempts, retry_after, rng=self.rng)
        self.journal.retry_at(record.message_id, now + delay, redact(str(exc)), now=now)
        self._count(State.RETRYING)
