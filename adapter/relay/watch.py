"""What operators must hear about, told once when it starts and once when it clears.

Every ``interval`` seconds the watcher asks the FHIR server for its CapabilityStatement and the
journal which keys are held behind a dead letter. A change of either is logged and, with
``SAMVERKAN_ALERT_URL``, POSTed as JSON to that webhook: one alert when a key starts being held
or the server becomes unreachable, one when it clears, never one per failed attempt (the flood
operators of other engines complain of). Its view also feeds ``/stats``, ``/metrics`` and the
console's banner (docs/domain.md rule 15: show what is waiting and since when).

    {"event": "held" | "released" | "fhir-unreachable" | "fhir-reachable",
     "key": "episode:...", "messageId": "...", "at": "...", "detail": "..."}
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from adapter.fhir import FhirClient, RelayError, timeouts
from adapter.journal import Journal, State
from adapter.journal import Query as LogQuery
from adapter.observability import redact

__all__ = ["Watch", "WatchState"]

log = logging.getLogger("adapter.relay.watch")


@dataclass
class WatchState:
    fhir_reachable: bool | None = None  # None until the first look
    fhir_since: float | None = None  # when the current reachability began
    fhir_error: str | None = None
    held: dict[str, str] = field(default_factory=dict)  # key -> the dead letter holding it


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


class Watch:
    def __init__(
        self,
        journal: Journal,
        fhir: FhirClient,
        *,
        alert_url: str | None = None,
        clock: Callable[[], float] = time.time,
        verify: ssl.SSLContext | bool | None = None,
    ):
        self.journal, self.fhir, self.alert_url, self.clock = journal, fhir, alert_url, clock
        # An https hook trusts what the FHIR client trusts (SAMVERKAN_FHIR_CA_BUNDLE), unless told otherwise.
        self.verify = fhir.verify if verify is None else verify
        self.state = WatchState()
        self.sent: list[dict[str, Any]] = []  # what was alerted, for /stats and the tests

    async def look(self) -> list[dict[str, Any]]:
        """One look: the events it found (also logged and sent to the webhook)."""
        now = self.clock()
        events: list[dict[str, Any]] = []
        reachable, error = await self._probe()
        if reachable is not self.state.fhir_reachable:
            first = self.state.fhir_reachable is None
            self.state.fhir_reachable, self.state.fhir_since, self.state.fhir_error = reachable, now, error
            if not (first and reachable):  # starting up with a server that answers is no news
                events.append({"event": "fhir-reachable" if reachable else "fhir-unreachable", "detail": error})
        held = await asyncio.to_thread(self._held)
        for key in held.keys() - self.state.held.keys():
            events.append({"event": "held", "key": key, "messageId": held[key]})
        for key in self.state.held.keys() - held.keys():
            events.append({"event": "released", "key": key, "messageId": self.state.held[key]})
        self.state.held = held
        for event in events:
            event["at"] = _iso(now)
            await self._alert(event)
        return events

    async def run(self, stop: asyncio.Event, *, interval: float) -> None:
        while not stop.is_set():
            try:
                await self.look()
            except Exception:
                log.exception("the watcher's look failed; it looks again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    async def _probe(self) -> tuple[bool, str | None]:
        try:
            # The smallest answer that proves the server serves FHIR: parsing its whole statement
            # every look cost more CPU than relaying a message, on both sides.
            await self.fhir.capabilities(elements=("fhirVersion",))
        except RelayError as exc:
            return False, redact(str(exc))
        return True, None

    def _held(self) -> dict[str, str]:
        dead = self.journal.search(LogQuery(state=State.DEAD_LETTERED, limit=10_000))
        return {r.key: r.message_id for r in sorted(dead, key=lambda r: r.seq, reverse=True)}

    async def _alert(self, event: dict[str, Any]) -> None:
        log.warning("alert: %s", redact(str(event)))
        self.sent.append(event)
        if self.alert_url is None:
            return
        try:
            async with httpx.AsyncClient(timeout=timeouts(10.0), verify=self.verify) as client:
                (await client.post(self.alert_url, json=event)).raise_for_status()
        except Exception as exc:  # an alert hook that is down must not stop the watching
            log.warning("the alert hook %s did not take the alert: %s", self.alert_url, redact(str(exc)))
