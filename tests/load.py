"""Load for the reliability tests and the benchmarks: care episodes with identifiers of their own,
real `samverkan serve` processes, and a sender that behaves like a sending system.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from adapter import codec
from mappings.episode import episode_key
from tests.support import JOURNEYS, Renamer, load

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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")
