"""What the reliability tests share: a workload of care episodes, real `samverkan serve` processes,
a sender that behaves like a sending system, and the checks an operator would make on HAPI.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from adapter import codec
from adapter.journal import Journal
from mappings import identifiers as ids
from mappings.episode import episode_key
from tests.support import JOURNEYS, Renamer, load

from .conftest import Hapi

#: The steps of the palliative journey that belong to its care episode, in order: admission,
#: acknowledgements, care request, named contacts, invitation, discharge-ready, withdrawal,
#: a new date, discharge. Ten messages per episode.
STEPS = (
    "03-Inskrivningsmeddelande.xml",
    "04-Kvittens.xml",
    "06-Vardbegaran.xml",
    "07-FastVardkontakt.xml",
    "08-KallelseSamordnadPlanering.xml",
    "09-Kvittens.xml",
    "10-Utskrivningsklar.xml",
    "11-AtertagUtskrivningsklar.xml",
    "12-Utskrivningsklar.xml",
    "14-Utskrivningsmeddelande.xml",
)

#: Resource types and the identifier systems under which each must be unique on the server.
UNIQUE = {
    "Communication": {ids.SYS_MESSAGE_ID},
    "Appointment": {ids.SYS_MESSAGE_ID},
    "Encounter": {ids.SYS_VARDTILLFALLE},
    "Patient": {ids.PERSONNUMMER, ids.SAMORDNINGSNUMMER},
    "Organization": {ids.HSA_ID},
}


@dataclass
class Workload:
    """``episodes`` journeys with identifiers of their own: per episode, its messages in order."""

    episodes: list[list[tuple[str, bytes]]]
    episode_keys: list[str]

    @classmethod
    def build(cls, episodes: int, seed: int) -> Workload:
        rng = random.Random(seed)
        templates = [load(JOURNEYS[0] / step) for step in STEPS]
        journeys, keys = [], []
        for _ in range(episodes):
            rename = Renamer(rng)
            messages = [rename(m) for m in templates]
            journeys.append([(m.id, codec.encode_xml(m)) for m in messages])
            assert messages[0].care_episode is not None
            keys.append(episode_key(messages[0].care_episode))
        return cls(journeys, keys)

    @property
    def total(self) -> int:
        return sum(len(e) for e in self.episodes)

    def message_ids(self) -> Iterator[str]:
        return (mid for e in self.episodes for mid, _ in e)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Served:
    """One `samverkan serve` process, as an operator runs it; killed and started again at will."""

    def __init__(self, env: dict[str, str], log: Path, *, worker_id: str):
        self.port = free_port()
        self.env = {**os.environ, **env, "SAMVERKAN_PORT": str(self.port), "SAMVERKAN_LOG_LEVEL": "WARNING"}
        self.log = log
        self.worker_id = worker_id
        self.lives = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, worker_id: str | None = None) -> None:
        self.worker_id = worker_id or self.worker_id
        self.lives += 1
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "adapter.cli", "serve"],
                env={**self.env, "SAMVERKAN_WORKER_ID": self.worker_id},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.proc.poll() is None, f"samverkan serve exited; see {self.log}:\n{self.log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "samverkan serve did not answer /health in 60 s"
            time.sleep(0.1)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no released claims, whatever was in flight is cut off."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.alive:
            assert self.proc is not None
            self.proc.terminate()
            self.proc.wait(60)


@dataclass
class SendStats:
    posts: int = 0
    refused_or_unreachable: int = 0  # posts the sender had to make again
    accept_ms: list[float] = field(default_factory=list)


async def send(
    workload: Workload,
    targets: Callable[[], list[str]],
    *,
    concurrency: int = 20,
    per_second: float | None = None,
    stats: SendStats | None = None,
) -> SendStats:
    """Posts every episode's messages in order, as a sending system would: each message until it
    gets 202 (on a refused connection, a reset or a 503, it waits a little and sends the same
    message again). ``per_second`` paces new messages over all episodes.
    """
    stats = stats or SendStats()
    gate = asyncio.Semaphore(concurrency)
    pace = asyncio.Lock()
    rng = random.Random(7)

    async def one(client: httpx.AsyncClient, mid: str, body: bytes) -> None:
        if per_second:
            async with pace:
                await asyncio.sleep(1 / per_second)
        while True:
            live = targets()
            if not live:
                await asyncio.sleep(0.1)
                continue
            stats.posts += 1
            started = time.perf_counter()
            try:
                response = await client.post(
                    f"{rng.choice(live)}/messages", content=body, headers={"Content-Type": "application/xml"}
                )
            except httpx.TransportError:
                stats.refused_or_unreachable += 1
                await asyncio.sleep(0.2)
                continue
            if response.status_code == 202:
                stats.accept_ms.append((time.perf_counter() - started) * 1000)
                assert response.json()["messageId"] == mid
                return
            assert response.status_code >= 500, f"{mid} refused: {response.status_code} {response.text[:300]}"
            stats.refused_or_unreachable += 1
            await asyncio.sleep(0.2)

    async def episode(client: httpx.AsyncClient, messages: list[tuple[str, bytes]]) -> None:
        async with gate:
            for mid, body in messages:
                await one(client, mid, body)

    async with httpx.AsyncClient(timeout=30) as client:
        await asyncio.gather(*(episode(client, e) for e in workload.episodes))
    return stats


def wait_delivered(journal: Journal, total: int, *, timeout: float, poll: float = 1.0) -> float:
    """Seconds until the journal shows ``total`` delivered; fails on anything dead-lettered."""
    started = time.monotonic()
    while True:
        counts = journal.counts()
        dead = journal.list(state="dead-lettered", limit=5)
        assert not dead, f"dead-lettered: {[(r.message_id, r.last_error) for r in dead]}"
        if counts.get("delivered", 0) >= total:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, f"not all delivered after {timeout:.0f} s: {counts}"
        time.sleep(poll)


def _pages(hapi: Hapi, resource_type: str, params: dict[str, str]) -> Iterator[dict[str, Any]]:
    bundle = hapi.search(resource_type, {**params, "_count": "500"})
    while True:
        yield from (e["resource"] for e in bundle.get("entry", ()) if e.get("search", {}).get("mode", "match") == "match")
        following = next((link["url"] for link in bundle.get("link", ()) if link["relation"] == "next"), None)
        if following is None:
            return
        response = hapi.http.get(following)
        response.raise_for_status()
        bundle = response.json()


@dataclass
class ServerCheck:
    resources: dict[str, int]
    duplicates: dict[str, list[str]]
    missing: list[str]
    out_of_order: list[str]
    unfinished: list[str]


def check_server(hapi: Hapi, workload: Workload) -> ServerCheck:
    """What an operator would check on HAPI after the run.

    Exactly one resource per business identifier, over the whole server; every message's
    Communication there; each episode's Communications created in the order the episode's
    messages were sent; each episode's Encounter finished (its last message was applied last).
    """
    resources: dict[str, int] = {}
    duplicates: dict[str, list[str]] = {}
    created: dict[str, tuple[datetime, int]] = {}  # message id -> (lastUpdated, server id)
    for resource_type, systems in UNIQUE.items():
        seen: Counter[str] = Counter()
        n = 0
        for res in _pages(hapi, resource_type, {"_elements": "identifier"}):
            n += 1
            for ident in res.get("identifier", ()):
                if ident.get("system") in systems:
                    seen[f"{ident['system']}|{ident['value']}"] += 1
                    if resource_type == "Communication":
                        # HAPI's ids count up, which orders two resources of the same millisecond.
                        when = datetime.fromisoformat(res["meta"]["lastUpdated"])
                        created[ident["value"]] = (when, int(res["id"]) if res["id"].isdigit() else 0)
        resources[resource_type] = n
        duplicates[resource_type] = [k for k, c in seen.items() if c > 1]
    missing = [mid for mid in workload.message_ids() if mid not in created]
    out_of_order = []
    for key, messages in zip(workload.episode_keys, workload.episodes, strict=True):
        stamps = [created[mid] for mid, _ in messages if mid in created]
        if any(a >= b for a, b in itertools.pairwise(stamps)):
            out_of_order.append(key)
    finished = defaultdict(str)
    for res in _pages(hapi, "Encounter", {"_elements": "identifier,status"}):
        for ident in res.get("identifier", ()):
            if ident.get("system") == ids.SYS_VARDTILLFALLE:
                finished[ident["value"]] = res.get("status", "")
    unfinished = [key for key in workload.episode_keys if finished[key] != "finished"]
    return ServerCheck(resources, {k: v for k, v in duplicates.items() if v}, missing, out_of_order, unfinished)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")
