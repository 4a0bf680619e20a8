"""The outbound channels: the internal document of a message that came in as FHIR, delivered to
the internal systems (issue 8), as a file in a directory and/or a POST to an HTTP endpoint.

Each delivery is a row of the journal, written in the same transaction as the message (so
nothing accepted is lost), and is claimed, retried and capped like a relay: network errors,
timeouts, 5xx, 408 and 429 (with its Retry-After) are retried with backoff; another 4xx is final.
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
import re
import ssl
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx

from adapter.fhir.client import timeouts
from adapter.journal.base import Journal, JournalUnavailable, Outbound
from adapter.observability.correlation import correlation_id, send_correlation_id
from adapter.observability.redaction import redact

from .worker import RetryPolicy

__all__ = ["DIRECTORY", "HTTP", "OutboundWorker", "channels"]

log = logging.getLogger("adapter.relay.outbound")

DIRECTORY, HTTP = "directory", "http"
_SAFE = re.compile(r"[A-Za-z0-9._-]{1,128}")


def channels(directory: str | None, url: str | None) -> tuple[str, ...]:
    """The channels configured, in the order they are named in the journal."""
    return tuple(name for name, on in ((DIRECTORY, directory), (HTTP, url)) if on)


class _Refused(Exception):
    """The endpoint refused the document for good (a 4xx other than 408 and 429)."""


class _Later(Exception):
    def __init__(self, detail: str, retry_after: float | None = None):
        super().__init__(detail)
        self.retry_after = retry_after


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
    ):
        self.journal, self.url, self.clock = journal, url, clock
        self.directory = Path(directory) if directory else None
        self.policy = policy or RetryPolicy()
        self.lease, self.poll, self.parallel = lease, poll, parallel
        self.id = f"outbound:{worker_id or uuid.uuid4().hex[:8]}"
        self._http = httpx.AsyncClient(timeout=timeouts(timeout), verify=verify, event_hooks={"request": [send_correlation_id]})
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                if not await self.run_once():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.poll)
        finally:
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
        except _Refused as exc:
            await self._settle(self.journal.outbound_failed, item.message_id, item.channel, redact(str(exc)), now=self.clock())
            log.warning("outbound %s of %s failed for good: %s", item.channel, item.message_id, redact(str(exc)))
        except (_Later, OSError, httpx.HTTPError, AssertionError) as exc:
            attempts = item.attempts + 1
            error = redact(f"{type(exc).__name__}: {exc}")
            if attempts >= self.policy.max_attempts:
                await self._settle(
                    self.journal.outbound_failed,
                    item.message_id,
                    item.channel,
                    f"gave up after {attempts} attempts: {error}",
                    now=self.clock(),
                )
                return
            after = exc.retry_after if isinstance(exc, _Later) else None
            when = self.clock() + self.policy.delay(attempts, after)
            await self._settle(self.journal.outbound_retry, item.message_id, item.channel, when, error, now=self.clock())
        else:
            await self._settle(self.journal.outbound_done, item.message_id, item.channel, now=self.clock())

    @staticmethod
    async def _settle(action: Callable[..., None], *args: object, now: float) -> None:
        try:
            await asyncio.to_thread(action, *args, now=now)
        except JournalUnavailable as exc:  # the claim expires and the delivery goes again
            log.warning("could not record an outbound delivery: %s", exc)

    async def _post(self, item: Outbound) -> None:
        assert self.url is not None, "an HTTP delivery without SAMVERKAN_OUTBOUND_URL"
        response = await self._http.post(self.url, content=item.document, headers={"Content-Type": "application/xml"})
        if response.is_success:
            return
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            raise _Refused(f"HTTP {response.status_code} from {self.url}")
        after = response.headers.get("Retry-After")
        raise _Later(f"HTTP {response.status_code} from {self.url}", float(after) if after and after.isdigit() else None)
