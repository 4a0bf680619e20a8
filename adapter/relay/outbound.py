"""The outbound channels: the internal document of a message that came in as FHIR, delivered to
the internal systems (issue 8), as a file in a directory and/or a POST to an HTTP endpoint.

Each delivery is a row of the journal, written in the same transaction as the message (so
nothing accepted is lost), and is claimed, retried and capped like a relay, by the same rule
(``adapter.fhir.retry.classify``) and the same policy (``adapter.config.RetryPolicy``: attempts,
and time since the message was accepted or replayed): network errors, timeouts, 408, 425, 429 and
5xx (with their Retry-After) are retried with backoff; another 4xx is final.
Per key and channel the internal systems get messages in the order they were accepted; a failed
delivery holds the later ones of its key until an operator replays it.

    SAMVERKAN_OUTBOUND_DIR=/srv/samverkan/out    {message id}.xml, written whole or not at all
    SAMVERKAN_OUTBOUND_URL=https://internal/in   POST, Content-Type application/xml, X-Request-ID

An https endpoint's certificate is checked against ``verify``: the FHIR server's CA bundle
(SAMVERKAN_FHIR_CA_BUNDLE) when one is set, as the internal systems share its private CA.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
import ssl
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from adapter.config import RetryPolicy
from adapter.fhir import Final, Retryable, mapped_errors, timeouts
from adapter.fhir.retry import classify, next_delay
from adapter.journal import Journal, JournalUnavailable, Outbound
from adapter.observability import redact
from adapter.observability.correlation import correlation_id, send_correlation_id

__all__ = ["DIRECTORY", "HTTP", "OutboundWorker", "channels"]

log = logging.getLogger("adapter.relay.outbound")

DIRECTORY, HTTP = "directory", "http"
_SAFE = re.compile(r"[A-Za-z0-9._-]{1,128}")


def channels(directory: str | None, url: str | None) -> tuple[str, ...]:
    """The channels configured, in the order they are named in the journal."""
    return tuple(name for name, on in ((DIRECTORY, directory), (HTTP, url)) if on)


class _Refused(Exception):
    """A delivery that cannot be made: a channel this adapter does not know."""


def write_file(directory: Path, message_id: str, document: bytes) -> Path:
    """``{message id}.xml`` in ``directory``, whole or not at all: written beside it, flushed, renamed."""
    name = message_id if _SAFE.fullmatch(message_id) else uuid.uuid5(uuid.NAMESPACE_URL, message_id).hex
    target = directory / f"{name}.xml"
    part = directory / f".{name}.xml.part"
    with part.open("wb") as f:
        f.write(document)
        f.flush()
        os.fsync(f.fileno())
    os.replace(part, target)
    return target


class OutboundWorker:
    def __init__(
        self,
        journal: Journal,
        *,
        directory: str | None,
        url: str | None,
        policy: RetryPolicy | None = None,
        timeout: float = 30.0,
        lease: float = 60.0,
        poll: float = 0.5,
        parallel: int = 4,
        worker_id: str | None = None,
        clock: Callable[[], float] = time.time,
        verify: ssl.SSLContext | bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.journal, self.url, self.clock = journal, url, clock
        self.directory = Path(directory) if directory else None
        self.policy = policy or RetryPolicy()
        self.lease, self.poll, self.parallel = lease, poll, parallel
        self.id = f"outbound:{worker_id or uuid.uuid4().hex[:8]}"
        self.rng = random.Random()  # noqa: S311 (the backoff's jitter, not a secret)
        self._http = httpx.AsyncClient(
            timeout=timeouts(timeout), verify=verify, transport=transport, event_hooks={"request": [send_correlation_id]}
        )
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                if not await self.run_once():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.poll)
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        """Closes the HTTP channel's connections (``run`` does, when it stops)."""
        await self._http.aclose()

    async def run_once(self) -> int:
        """One round: claim what is due and deliver it; how many deliveries were tried."""
        try:
            items = await asyncio.to_thread(
                self.journal.outbound_claim, self.id, now=self.clock(), lease=self.lease, limit=self.parallel
            )
        except JournalUnavailable as exc:
            log.warning("journal unavailable, waiting: %s", exc)
            return 0
        await asyncio.gather(*(self._deliver(item) for item in items))
        return len(items)

    async def _deliver(self, item: Outbound) -> None:
        correlation_id.set(item.correlation_id or item.message_id)
        try:
            if item.channel == DIRECTORY:
                assert self.directory is not None, "a directory delivery without SAMVERKAN_OUTBOUND_DIR"
                await asyncio.to_thread(write_file, self.directory, item.message_id, item.document)
            elif item.channel == HTTP:
                await self._post(item)
            else:
                raise _Refused(f"no such channel {item.channel}")
        except (_Refused, Final) as exc:
            await self._settle(self.journal.outbound_failed, item.message_id, item.channel, redact(str(exc)), now=self.clock())
            log.warning("outbound %s of %s failed for good: %s", item.channel, item.message_id, redact(str(exc)))
        except (Retryable, OSError, httpx.HTTPError, AssertionError) as exc:
            await self._retry(item, exc)
        else:
            await self._settle(self.journal.outbound_done, item.message_id, item.channel, now=self.clock())

    async def _retry(self, item: Outbound, exc: Exception) -> None:
        """Schedules the next attempt, or gives up when the policy says so (attempts, or time since queued)."""
        attempts, now = item.attempts + 1, self.clock()
        # Our own errors carry their code; a foreign one is named by its class.
        error = redact(str(exc) if isinstance(exc, Retryable) else f"{type(exc).__name__}: {exc}")
        if self.policy.gives_up(item, attempts, now):
            failed = f"gave up after {attempts} attempts: {error}"
            await self._settle(self.journal.outbound_failed, item.message_id, item.channel, failed, now=now)
            return
        after = exc.retry_after if isinstance(exc, Retryable) else None
        when = now + next_delay(self.policy, attempts, after, rng=self.rng)
        await self._settle(self.journal.outbound_retry, item.message_id, item.channel, when, error, now=now)

    @staticmethod
    async def _settle(action: Callable[..., None], *args: object, now: float) -> None:
        try:
            await asyncio.to_thread(action, *args, now=now)
        except JournalUnavailable as exc:  # the claim expires and the delivery goes again
            log.warning("could not record an outbound delivery: %s", exc)

    async def _post(self, item: Outbound) -> None:
        assert self.url is not None, "an HTTP delivery without SAMVERKAN_OUTBOUND_URL"
        with mapped_errors(self.url, what="the outbound endpoint"):
            response = await self._http.post(self.url, content=item.document, headers={"Content-Type": "application/xml"})
        decision = classify(response.status_code, response.headers)
        if decision.success:
            return
        said = f"HTTP {response.status_code} from {self.url}"
        if decision.final:
            raise Final(said, status=response.status_code)
        raise Retryable(said, status=response.status_code, retry_after=decision.retry_after, overload=decision.overload)
