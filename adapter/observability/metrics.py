"""Prometheus metrics at ``/metrics``: what this replica did (counters, histograms) and what the
journal holds (read when scraped, so every replica reports the shared queue alike).

No label carries a personal identity number, a message id or a key: labels are message types,
states and outcomes, so the series stay few and say nothing about a patient.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["Metrics"]


class JournalCounts(Protocol):
    """What a scrape reads of the journal (``adapter.journal.Journal`` has it)."""

    def counts(self) -> dict[str, int]: ...
    def waiting(self) -> tuple[int, float | None]: ...


class Watched(Protocol):
    """What a scrape reads of the watcher's state (``adapter.relay.WatchState`` has it)."""

    @property
    def fhir_reachable(self) -> bool | None: ...
    @property
    def held(self) -> Collection[str]: ...


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.accepted = Counter(
            "samverkan_messages_accepted", "Messages accepted (journaled, 202)", ["type"], registry=self.registry
        )
        self.refused = Counter("samverkan_messages_refused", "Documents refused with a 4xx", ["code"], registry=self.registry)
        self.attempts = Counter(
            "samverkan_relay_attempts",
            "Relay attempts by outcome (delivered, retrying, dead-lettered)",
            ["outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "samverkan_relay_latency_seconds",
            "Time of one relay attempt (transaction and its reads) against the FHIR server",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )

    def observe_journal(
        self,
        journal: Callable[[], JournalCounts],
        watch: Callable[[], Watched | None],
        window: Callable[[], float | None],
        findings: Callable[[], tuple[int, int]],
    ) -> None:
        """Registers the gauges read at each scrape (from the app's journal, watcher and worker)."""
        self.registry.register(_JournalCollector(journal, watch, window, findings))


class _JournalCollector(Collector):
    def __init__(
        self,
        journal: Callable[[], JournalCounts],
        watch: Callable[[], Watched | None],
        window: Callable[[], float | None],
        findings: Callable[[], tuple[int, int]],
    ):
        self.journal, self.watch, self.window, self.findings = journal, watch, window, findings

    def collect(self) -> Iterator[Metric]:
        j = self.journal()
        by_state = GaugeMetricFamily("samverkan_journal_messages", "Messages in the journal by state", labels=["state"])
        for state, n in sorted(j.counts().items()):
            by_state.add_metric([state], n)
        yield by_state
        count, oldest = j.waiting()
        yield GaugeMetricFamily("samverkan_queue_depth", "Messages waiting to be relayed (or being relayed)", value=count)
        yield GaugeMetricFamily(
            "samverkan_oldest_waiting_seconds",
            "Age of the oldest message not yet delivered nor given up on (0: none)",
            value=time.time() - oldest if oldest is not None else 0.0,
        )
        opened, overdue = self.findings()
        found = GaugeMetricFamily("samverkan_findings", "Open findings of the discharge rules", labels=["status"])
        found.add_metric(["open"], opened)
        found.add_metric(["overdue"], overdue)
        yield found
        watched = self.watch()
        if watched is not None and watched.fhir_reachable is not None:
            yield GaugeMetricFamily(
                "samverkan_fhir_reachable", "1 when the FHIR server answered the last look", value=int(watched.fhir_reachable)
            )
            yield GaugeMetricFamily("samverkan_keys_held", "Keys held behind a dead letter", value=len(watched.held))
        window = self.window()
        if window is not None:
            yield GaugeMetricFamily(
                "samverkan_relay_window",
                "Relays this replica lets run at once (fewer while the server is overloaded)",
                value=window,
            )
