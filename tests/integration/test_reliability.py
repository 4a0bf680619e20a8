"""Reliability of the relay against the real HAPI, on both journal backends (docs/architecture.md, the
contract of the relay): crashes, an outage of the server, and a server having a bad day.

Each test runs real `samverkan serve` processes, sends as a sending system would (each message
again until it gets 202), and then checks HAPI the way an operator would: exactly one resource
per business identifier, nothing missing, every episode's Communications in the order sent.
Each prints its figures into the test log (CI's too).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from adapter.config import Settings
from adapter.journal import Journal, open_journal
from adapter.journal.sql import SqlJournal
from adapter.journal.states import State
from tests.faultproxy import FaultProxy
from tests.load import SendStats, Served, Workload, percentile, send

from .conftest import Hapi
from .harness import check_server, wait_delivered

pytestmark = pytest.mark.slow


@dataclass
class Backend:
    name: str
    env: dict[str, str]
    settings: Settings
    opened: list[Journal] = field(default_factory=list)

    def open(self) -> Journal:
        journal = open_journal(self.settings)
        self.opened.append(journal)  # closed by the fixture, also when a test fails
        return journal


def _backend(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if name == "postgres":
        url = request.getfixturevalue("postgres_schema_url")
        return Backend(name, {"SAMVERKAN_JOURNAL_URL": url}, Settings(journal_url=url))
    path = str(tmp_path / "journal.sqlite3")
    return Backend(
        name, {"SAMVERKAN_JOURNAL_PATH": path, "SAMVERKAN_JOURNAL_URL": ""}, Settings(journal_path=path, journal_url=None)
    )


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    chosen = _backend(request.param, request, tmp_path)
    yield chosen
    for journal in chosen.opened:
        journal.close()


def _env(backend: Backend, fhir_base_url: str, **extra: str) -> dict[str, str]:
    return {
        **backend.env,
        "SAMVERKAN_FHIR_BASE_URL": fhir_base_url,
        "SAMVERKAN_RELAY_PARALLEL": "16",
        "SAMVERKAN_MAX_ATTEMPTS": "200",
        # The fixtures are dated 2026-03: every acknowledgement Task is overdue at once, and marking
        # thousands of them would be load of its own beside the relay these tests measure.
        "SAMVERKAN_OVERDUE_INTERVAL": "0",
        **extra,
    }


@pytest.fixture
def replicas() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for r in started:
        r.stop()


def _claims_of(journal: Journal, worker: str) -> list[str]:
    """The messages ``worker`` has claimed and not yet settled (state relaying, its claim)."""
    assert isinstance(journal, SqlJournal)
    with journal.tx(write=False, durable=False) as tx:
        rows = tx.all("SELECT message_id FROM messages WHERE claimed_by = ? AND state = ?", (worker, State.RELAYING.value))
    return sorted(str(r[0]) for r in rows)


def _attempts(journal: Journal) -> tuple[int, int]:
    """(attempts, messages that needed more than one)."""
    records = journal.list(limit=1_000_000)
    return sum(r.attempts for r in records), sum(1 for r in records if r.attempts > 1)


def _report(capsys: pytest.CaptureFixture[str], title: str, lines: list[str]) -> None:
    with capsys.disabled():
        print(f"\n{title}")
        for line in lines:
            print(f"  {line}")


def _assert_server(hapi: Hapi, workload: Workload) -> list[str]:
    check = check_server(hapi, workload)
    assert check.duplicates == {}, f"several resources for one business identifier: {check.duplicates}"
    assert check.missing == [], f"{len(check.missing)} messages have no Communication on HAPI"
    assert check.out_of_order == [], f"episodes whose Communications are out of order: {check.out_of_order[:5]}"
    assert check.unfinished == [], f"episodes whose Encounter is not finished: {check.unfinished[:5]}"
    on_server = ", ".join(f"{n} {t}" for t, n in check.resources.items())
    return [
        f"HAPI: 0 duplicated business identifiers, 0 missing messages, 0 episodes out of order, "
        f"{len(workload.episode_keys)} of {len(workload.episode_keys)} Encounters finished",
        f"HAPI holds (whole server, all checked for uniqueness): {on_server}",
    ]


def test_sigkill_while_relaying_loses_nothing_duplicates_nothing_and_keeps_order(
    backend: Backend, fhir_base_url: str, hapi: Hapi, replicas: list[Served], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """2,000 messages over 200 episodes; the adapter is SIGKILLed at random moments and started again.

    SQLite: one process, restarted under its own worker id (it takes its claims back at once).
    PostgreSQL: two replicas sharing the journal; a killed one comes back under a new id, so its
    claims must expire (lease 8 s) before a replica takes them over.
    """
    workload = Workload.build(200, seed=612 + len(backend.name))
    env = _env(backend, fhir_base_url, SAMVERKAN_CLAIM_LEASE="8", SAMVERKAN_FHIR_TIMEOUT="5", SAMVERKAN_RETRY_BASE="0.5")
    count = 2 if backend.name == "postgres" else 1
    replicas.extend(Served(env, tmp_path / f"serve-{i}.log", worker_id=f"replica-{i}") for i in range(count))
    for r in replicas:
        r.start()
    journal = backend.open()
    rng = random.Random(2017)
    kills: list[int] = []  # messages accepted and not yet delivered at each kill
    # Per kill: when (the journal's clock) and the messages the killed process was relaying then.
    cut_short: list[tuple[float, list[str]]] = []
    stats = SendStats()
    started = time.monotonic()

    async def killer(sending: asyncio.Task[SendStats]) -> None:
        while len(kills) < 6:
            await asyncio.sleep(rng.uniform(1.0, 3.0))
            counts = journal.counts()
            undelivered = sum(n for s, n in counts.items() if s != "delivered")
            if sending.done() and undelivered == 0:
                return
            victim = rng.choice(replicas)
            victim.kill()
            # Read after the kill, before the restart: the dead process can change nothing now.
            cut_short.append((time.time(), _claims_of(journal, victim.worker_id)))
            kills.append(undelivered)
            fresh = f"{victim.worker_id.split('~')[0]}~{victim.lives}" if backend.name == "postgres" else None
            await asyncio.to_thread(victim.start, worker_id=fresh)

    async def run() -> None:
        sending = asyncio.create_task(send(workload, lambda: [r.url for r in replicas if r.alive], concurrency=25, stats=stats))
        await killer(sending)
        await sending

    asyncio.run(run())
    sent = time.monotonic() - started
    drained = wait_delivered(journal, workload.total, timeout=900)
    attempts, retried = _attempts(journal)
    # Kills cut relays short: the killed process held claims it was relaying (their attempts were
    # never recorded), and each of those messages was claimed again and delivered after the kill.
    interrupting = [held for _, held in cut_short if held]
    assert len(interrupting) >= 5, f"only {len(interrupting)} of {len(cut_short)} kills interrupted relays in flight: {cut_short}"
    late = [
        (mid, at)
        for at, held in cut_short
        for mid in held
        if not any(a.status == 200 and a.at > at for a in journal.attempts(mid))
    ]
    assert late == [], f"messages whose relay a kill cut short and that were not delivered after it: {late[:5]}"
    journal.close()
    lines = _assert_server(hapi, workload)
    _report(
        capsys,
        f"reliability, crash [{backend.name}, {count} replica(s)]",
        [
            f"{workload.total} messages over {len(workload.episodes)} episodes; {len(kills)} SIGKILLs"
            f" (undelivered at the kills: {kills}); relays in flight cut short by each:"
            f" {[len(held) for _, held in cut_short]}, all claimed again and delivered after the kill",
            f"sender: {stats.posts} posts for {workload.total} messages ({stats.refused_or_unreachable} sent again)",
            f"all accepted after {sent:.0f} s, all delivered {sent + drained:.0f} s after the first post;"
            f" {attempts} relay attempts, {retried} messages needed more than one",
            *lines,
        ],
    )


def test_hapi_down_for_a_minute_while_messages_arrive_then_everything_is_delivered_in_order(
    request: pytest.FixtureRequest,
    fhir_base_url: str,
    hapi: Hapi,
    hapi_control,
    replicas: list[Served],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One outage, both backends: a SQLite and a PostgreSQL adapter keep accepting while HAPI is stopped."""
    backends = [_backend("sqlite", request, tmp_path), _backend("postgres", request, tmp_path)]
    workloads = [Workload.build(40, seed=1 + i) for i in range(2)]
    for i, b in enumerate(backends):
        # Backoff up to 10 s: an hour-long outage would cost a message at most ~360 attempts (capped at 200).
        env = _env(b, fhir_base_url, SAMVERKAN_FHIR_TIMEOUT="5", SAMVERKAN_RETRY_BASE="1", SAMVERKAN_RETRY_CAP="10")
        replicas.append(Served(env, tmp_path / f"serve-{b.name}.log", worker_id=f"outage-{i}"))
        replicas[-1].start()
    journals = [b.open() for b in backends]
    for j in journals:
        request.addfinalizer(j.close)  # also when an assertion below fails
    stats = [SendStats(), SendStats()]
    timeline: dict[str, float] = {}
    wall: dict[str, float] = {}  # the same moments by the clock the journal's attempts carry
    answers_while_down: list[str | None] = []  # what /metadata did at three moments of the outage
    t0 = time.monotonic()

    async def outage() -> None:
        await asyncio.sleep(8)
        await asyncio.to_thread(hapi_control.stop)
        timeline["stopped"] = time.monotonic() - t0
        wall["stopped"] = time.time()
        timeline["accepted before"] = sum(len(s.accept_ms) for s in stats)
        for _ in range(2):
            answers_while_down.append(await asyncio.to_thread(_metadata_answer, fhir_base_url))
            await asyncio.sleep(30)
        answers_while_down.append(await asyncio.to_thread(_metadata_answer, fhir_base_url))
        await asyncio.sleep(2)
        timeline["starting"] = time.monotonic() - t0
        wall["starting"] = time.time()
        await asyncio.to_thread(hapi_control.start)
        timeline["up"] = time.monotonic() - t0
        timeline["accepted during"] = sum(len(s.accept_ms) for s in stats) - timeline["accepted before"]

    async def run() -> None:
        down = asyncio.create_task(outage())
        await asyncio.gather(
            *(
                send(w, lambda r=r: [r.url], concurrency=10, per_second=4, stats=s)
                for w, r, s in zip(workloads, replicas, stats, strict=True)
            )
        )
        await down

    asyncio.run(run())
    timeline["all accepted"] = time.monotonic() - t0
    drained = [wait_delivered(j, w.total, timeout=600) for j, w in zip(journals, workloads, strict=True)]
    # HAPI was down: /metadata refused connections right after the stop, half-way and at the end.
    assert answers_while_down == [None, None, None], f"/metadata while HAPI was stopped: {answers_while_down}"
    lines = []
    for b, j, w, s, d in zip(backends, journals, workloads, stats, drained, strict=True):
        attempts, retried = _attempts(j)
        assert j.counts() == {"delivered": w.total}
        # The relay tried while HAPI was down and failed because the connection was refused; nothing
        # got through in that time (a little after the stop: a reply may have been on its way).
        during = [a for mid in w.message_ids() for a in j.attempts(mid) if wall["stopped"] + 2 <= a.at <= wall["starting"]]
        refused = [a for a in during if a.status is None and "could not be reached (ConnectError)" in (a.error or "")]
        assert refused, f"{b.name}: no attempt failed with a refused connection while HAPI was down ({len(during)} attempts)"
        assert not [a for a in during if a.status == 200], f"{b.name}: delivered while HAPI was down"
        lines.append(
            f"{b.name}: {w.total} messages over {len(w.episodes)} episodes, accept p99 {percentile(s.accept_ms, 0.99):.1f} ms;"
            f" {attempts} relay attempts ({len(refused)} of the {len(during)} made while HAPI was down failed with a"
            f" refused connection, none delivered), {retried} messages retried; all delivered"
            f" {timeline['all accepted'] + d:.0f} s after the first post, none dead-lettered"
        )
    down_for = timeline["up"] - timeline["stopped"]
    assert down_for >= 60
    assert timeline["accepted during"] > 0
    server_lines = [line for w in workloads for line in _assert_server(hapi, w)[:1]]
    _report(
        capsys,
        "reliability, outage (both backends, one outage)",
        [
            f"HAPI stopped {timeline['stopped']:.0f} s into the run, answering again at {timeline['up']:.0f} s"
            f" (down {down_for:.0f} s); {timeline['accepted during']:.0f} messages accepted while it was down",
            *lines,
            *server_lines,
        ],
    )


def _metadata_answer(base_url: str) -> str | None:
    """None when the server's /metadata refuses the connection (nothing listens), else what happened."""
    try:
        response = httpx.get(f"{base_url}/metadata", timeout=5, headers={"Accept": "application/fhir+json"})
    except httpx.ConnectError:
        return None
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return f"HTTP {response.status_code}"


FAULTS = {"503": 0.04, "429": 0.04, "reset-before": 0.03, "reset-after": 0.03, "timeout-before": 0.01, "timeout-after": 0.01}


def test_a_server_having_a_bad_day_loses_and_duplicates_nothing(
    backend: Backend, fhir_base_url: str, hapi: Hapi, replicas: list[Served], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Our proxy in front of HAPI: 503s, 429 with Retry-After, resets and timeouts, before and after HAPI did the work."""
    workload = Workload.build(40, seed=4711 + len(backend.name))
    origin, _, path = fhir_base_url.partition("/fhir")
    # A timeout well above HAPI's own latency on a slow machine: only the injected hangs time out.
    with FaultProxy(origin, faults=FAULTS, hang=14) as proxy:
        env = _env(
            backend,
            f"{proxy.url}/fhir{path}",
            SAMVERKAN_FHIR_TIMEOUT="10",
            SAMVERKAN_CLAIM_LEASE="40",
            SAMVERKAN_RETRY_BASE="0.2",
            SAMVERKAN_RETRY_CAP="2",
        )
        replicas.append(Served(env, tmp_path / "serve.log", worker_id="faulty-day"))
        replicas[0].start()
        journal = backend.open()
        started = time.monotonic()
        asyncio.run(send(workload, lambda: [replicas[0].url], concurrency=25))
        drained = wait_delivered(journal, workload.total, timeout=600, serving=replicas)
        elapsed = time.monotonic() - started
        attempts, retried = _attempts(journal)
        counts = dict(proxy.counts)
        hits = {f: proxy.hits(f) for f in FAULTS}
    injected = sum(n for f, n in counts.items() if f != "pass")
    assert all(counts.get(f, 0) > 0 for f in FAULTS), f"not every fault was injected: {counts}"
    # The hard case: HAPI carried out a transaction and its answer was lost (reset or never sent).
    # The adapter posts each transaction to the FHIR base URL.
    base = f"/fhir{path}".rstrip("/")
    on_transactions = {
        f: sum(n for (method, p), n in hits[f].items() if method == "POST" and p.rstrip("/") == base) for f in FAULTS
    }
    lost_answers = {f: on_transactions[f] for f in FAULTS if f.endswith("-after")}
    assert all(lost_answers.values()), f"an 'after' fault never hit a transaction POST: {lost_answers}; by request: {hits}"
    lines = _assert_server(hapi, workload)
    _report(
        capsys,
        f"reliability, faults [{backend.name}]",
        [
            f"{workload.total} messages over {len(workload.episodes)} episodes; the proxy saw {sum(counts.values())} requests"
            f" and injected {injected} faults: " + ", ".join(f"{n} {f}" for f, n in sorted(counts.items()) if f != "pass"),
            "of them on transaction POSTs: "
            + ", ".join(f"{n} {f}" for f, n in sorted(on_transactions.items()))
            + " (an 'after' fault there: HAPI wrote the bundle and the answer was lost)",
            f"{attempts} relay attempts, {retried} messages retried; all delivered in {elapsed:.0f} s"
            f" ({drained:.0f} s after the last was accepted); 0 lost, 0 duplicated",
            *lines,
        ],
    )


def test_a_server_slower_than_the_timeout_under_load_is_relayed_to_with_fewer_at_a_time(
    request: pytest.FixtureRequest,
    fhir_base_url: str,
    hapi: Hapi,
    replicas: list[Served],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """HAPI on a slow disk: every request waits 0.25 s per request in the server at that moment.

    With 16 relays in flight a request takes about 4 s against a 1.5 s timeout, and requests we gave
    up on keep the server busy while our retries arrive: at a fixed parallelism nothing would ever
    get through. The throttle halves what is in flight on each timeout until requests succeed.
    """
    workload = Workload.build(20, seed=2018)
    chosen = _backend("sqlite", request, tmp_path)
    origin, _, path = fhir_base_url.partition("/fhir")
    with FaultProxy(origin, faults={}, load_latency=0.25) as proxy:
        env = _env(
            chosen,
            f"{proxy.url}/fhir{path}",
            SAMVERKAN_FHIR_TIMEOUT="1.5",
            SAMVERKAN_MAX_ATTEMPTS="40",
            SAMVERKAN_RETRY_BASE="0.2",
            SAMVERKAN_RETRY_CAP="2",
        )
        replicas.append(Served(env, tmp_path / "serve.log", worker_id="slow-disk"))
        replicas[0].start()
        journal = chosen.open()
        try:
            started = time.monotonic()
            asyncio.run(send(workload, lambda: [replicas[0].url], concurrency=25))
            drained = wait_delivered(journal, workload.total, timeout=300, serving=replicas)
            elapsed = time.monotonic() - started
            attempts, retried = _attempts(journal)
        finally:
            journal.close()
        peak = proxy.peak_busy
    log = (tmp_path / "serve.log").read_text()
    assert "the FHIR server is overloaded" in log, "the worker never throttled"
    lines = _assert_server(hapi, workload)
    _report(
        capsys,
        "reliability, overloaded server (0.25 s per request in flight, 1.5 s timeout, 16 relays at most)",
        [
            f"{workload.total} messages over {len(workload.episodes)} episodes; all delivered in {elapsed:.0f} s"
            f" ({drained:.0f} s after the last was accepted); {attempts} relay attempts, {retried} messages retried;"
            f" at most {peak} requests in the server at once",
            *lines,
        ],
    )
