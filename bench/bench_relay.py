"""Relay throughput, accept latency and memory of `samverkan serve`, against the real local HAPI.

    hapi/start.sh                                   # HAPI on :8080 (or set --fhir)
    scripts/postgres start                          # optional: prints the URL for --postgres
    .venv/bin/python bench/bench_relay.py [--fhir URL] [--postgres URL] [--rounds 3] [--episodes 40]

Prints four tables (docs/performance.md's targets in brackets; some are the earlier ones):

(a) mapping [>= 5,000 msg/s, p95 < 1 ms, <= 4x the floor]: bench/bench_mapping.py's mix of every
    fixture type (that script alone gives its floor, a row per fixture and a JSON line).
(b) relay throughput [adapter >= 90 % of direct]: the same care episodes (10 messages each, in
    order per episode, 16 episodes at a time) posted to `samverkan serve` (POST, journal, relay,
    until the journal says delivered) and, in the same run, their bundles posted straight to HAPI
    with the same parallelism: the bundles the relay sends (adapter.relay.message.bundle_of: the mapping,
    the acknowledgement Tasks and the AuditEvent), so both paths write the same resources.
    Rounds alternate; each round has identifiers of its own; medians.
(c) accept latency [p99 < 10 ms at 200 msg/s]: POST to 202 at a steady 200 messages per second,
    open loop (a slow answer does not slow the sender), with the relay off and on, per backend.
(d) resident memory [< 250 MB with 100,000 journaled]: the journal is filled with 100,000
    messages, then `samverkan serve` runs on it with its relay busy (retrying against a closed
    port) while it accepts more; VmRSS is read from /proc.

The load generator runs on the same machine, so every figure includes its share of the CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from adapter.codec.internal import decode  # noqa: E402
from adapter.config import Settings  # noqa: E402
from adapter.fhir import Retryable  # noqa: E402
from adapter.fhir.retry import retrying  # noqa: E402
from adapter.journal import Accept, Journal, open_journal  # noqa: E402
from adapter.journal.sqlite import SqliteJournal  # noqa: E402
from adapter.relay.message import bundle_of  # noqa: E402
from mappings.keys import order_key  # noqa: E402
from tests.load import Served, Workload, percentile, send  # noqa: E402

console = Console()
PARALLEL = 16


# The bench measures the relay, not the senders' authentication (one SHA-256 or one signature
# check per request): it posts without credentials.
_OPEN = {"SAMVERKAN_INBOUND_AUTH": "off"}


def _backend_env(name: str, tmp: Path, postgres: str | None) -> tuple[dict[str, str], Settings]:
    if name == "postgres":
        assert postgres
        return {**_OPEN, "SAMVERKAN_JOURNAL_URL": postgres}, Settings(journal_url=postgres)
    path = str(tmp / f"journal-{time.monotonic_ns()}.sqlite3")
    env = {**_OPEN, "SAMVERKAN_JOURNAL_PATH": path, "SAMVERKAN_JOURNAL_URL": ""}
    return env, Settings(journal_path=path, journal_url=None)


def _drain(journal: Journal, total: int, timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while journal.counts().get("delivered", 0) < total:
        dead = journal.counts().get("dead-lettered", 0)
        if dead or time.monotonic() > deadline:
            raise SystemExit(f"relay did not finish: {journal.counts()}")
        time.sleep(0.05)


async def _direct(workload: Workload, fhir: str) -> float:
    """The same bundles straight to HAPI: each episode in order, PARALLEL episodes at a time."""
    now = datetime.now(UTC)  # the AuditEvents' recorded, as if the journal accepted them now
    bundles = [[json.dumps(bundle_of(decode(doc, "application/xml"), recorded=now)) for _, doc in e] for e in workload.episodes]
    gate = asyncio.Semaphore(PARALLEL)
    headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}

    async def post(client: httpx.AsyncClient, body: str) -> None:
        response = await client.post(fhir, content=body, headers=headers)
        if response.status_code == 409:
            # A fresh HAPI answers 409 to the loser of two identical conditional creates at once
            # (the shared Organizations); the relay takes it as retryable, and so does this path.
            raise Retryable("409 from a conditional create race", status=409)
        response.raise_for_status()

    async def episode(client: httpx.AsyncClient, items: list[str]) -> None:
        async with gate:
            for body in items:
                await retrying()(post, client, body)

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=PARALLEL)) as client:
        await asyncio.gather(*(episode(client, e) for e in bundles))
    return time.perf_counter() - started


def _through_adapter(workload: Workload, served: Served, journal: Journal) -> float:
    started = time.perf_counter()
    before = journal.counts().get("delivered", 0)
    asyncio.run(send(workload, lambda: [served.url], concurrency=PARALLEL * 2))
    _drain(journal, before + workload.total)
    return time.perf_counter() - started


def relay_table(args: argparse.Namespace, tmp: Path) -> Table:
    env, settings = _backend_env("sqlite", tmp, None)
    env = {**env, "SAMVERKAN_FHIR_BASE_URL": args.fhir, "SAMVERKAN_RELAY_PARALLEL": str(PARALLEL)}
    served = Served(env, tmp / "relay.log", worker_id="bench")
    served.start()
    journal = open_journal(settings)
    direct, adapter = [], []
    try:
        asyncio.run(_direct(Workload.build(4, seed=1), args.fhir))  # warm HAPI's caches and JIT
        _through_adapter(Workload.build(4, seed=2), served, journal)
        for r in range(args.rounds):
            direct_load = Workload.build(args.episodes, seed=100 + r)
            adapter_load = Workload.build(args.episodes, seed=200 + r)
            direct.append(direct_load.total / asyncio.run(_direct(direct_load, args.fhir)))
            adapter.append(adapter_load.total / _through_adapter(adapter_load, served, journal))
            console.print(f"  round {r + 1}: direct {direct[-1]:.1f} msg/s, adapter {adapter[-1]:.1f} msg/s", highlight=False)
    finally:
        journal.close()
        served.stop()
    n = args.episodes * 10
    table = Table(title=f"(b) Relay throughput: {args.rounds} rounds of {n} messages each way, {PARALLEL} episodes at a time")
    for col in ("path", "median msg/s", "rounds (msg/s)", "vs direct"):
        table.add_column(col, justify="left" if col == "path" else "right")
    d, a = statistics.median(direct), statistics.median(adapter)
    table.add_row("bundles straight to HAPI", f"{d:.1f}", ", ".join(f"{x:.1f}" for x in direct), "100 %")
    table.add_row("samverkan serve: POST → delivered", f"{a:.1f}", ", ".join(f"{x:.1f}" for x in adapter), f"{a / d:.0%}")
    return table


async def _paced(url: str, docs: list[bytes], rate: float) -> list[float]:
    """POSTs at ``rate`` per second whatever the answers take; the latency of each."""
    latencies: list[float] = []

    async def one(client: httpx.AsyncClient, doc: bytes) -> None:
        t = time.perf_counter()
        response = await client.post(f"{url}/messages", content=doc, headers={"Content-Type": "application/xml"})
        if response.status_code != 202:
            raise SystemExit(f"not accepted: {response.status_code} {response.text[:200]}")
        latencies.append((time.perf_counter() - t) * 1000)

    # Idle connections are dropped before uvicorn's keep-alive (5 s) would close them under us.
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64, keepalive_expiry=2)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        tasks = []
        start = time.perf_counter()
        for i, doc in enumerate(docs):
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(client, doc)))
        await asyncio.gather(*tasks)
    return latencies


def accept_table(args: argparse.Namespace, tmp: Path) -> Table:
    table = Table(title=f"(c) Accept latency: POST → 202 at {args.rate:.0f} msg/s for {args.accept_seconds:.0f} s (open loop)")
    for col in ("journal", "relay", "messages", "p50 ms", "p99 ms", "max ms"):
        table.add_column(col, justify="left" if col in ("journal", "relay") else "right")
    backends = ["sqlite"] + (["postgres"] if args.postgres else [])
    # All rows without the relay first: a relaying run leaves HAPI busy for a while after it.
    for relay in (False, True):
        for name in backends:
            env, _ = _backend_env(name, tmp, args.postgres)
            served = Served(
                {**env, "SAMVERKAN_FHIR_BASE_URL": args.fhir, "SAMVERKAN_RELAY_PARALLEL": str(PARALLEL if relay else 0)},
                tmp / f"accept-{name}.log",
                worker_id=f"bench-accept-{name}-{relay}",
            )
            served.start()
            try:
                count = int(args.rate * args.accept_seconds)
                workload = Workload.build(count // 10 + 1, seed=300 + relay)
                # Episode by episode, so that with the relay on each message can go as soon as it is in.
                docs = [doc for e in workload.episodes for _, doc in e][:count]
                asyncio.run(_paced(served.url, docs[:50], args.rate))  # warm up
                latencies = asyncio.run(_paced(served.url, docs[50:], args.rate))
            finally:
                served.stop()
            table.add_row(
                name,
                "on (to HAPI)" if relay else "off",
                f"{len(latencies):,}",
                f"{statistics.median(latencies):.2f}",
                f"{percentile(latencies, 0.99):.2f}",
                f"{max(latencies):.1f}",
            )
    return table


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def memory_table(args: argparse.Namespace, tmp: Path) -> Table:
    path = tmp / "memory.sqlite3"
    journal = SqliteJournal(path)
    templates = [(decode(doc, "application/xml"), doc) for _, doc in Workload.build(1, seed=400).episodes[0]]
    bundles = [json.dumps(bundle_of(m, recorded=datetime.now(UTC))) for m, _ in templates]  # as the API journals them
    started = time.perf_counter()
    batch: list[Accept] = []
    for i in range(args.memory):
        message, doc = templates[i % len(templates)]
        key = f"{order_key(message)}-{i // 10}"
        batch.append(Accept(f"bench-{i:07d}", key, message.type.value, doc, "application/xml", time.time(), bundles[i % 10]))
        if len(batch) == 500:  # the journal's group commit, as the API uses it
            journal.accept_many(batch)
            batch = []
    journal.accept_many(batch)
    journal.close()
    console.print(f"  journal filled with {args.memory:,} messages in {time.perf_counter() - started:.0f} s", highlight=False)
    table = Table(title=f"(d) Resident memory of samverkan serve (SQLite journal, relay {PARALLEL} wide, retrying)")
    for col in ("journal", "after start", "after 20 s of relaying", "after 2,000 more accepted"):
        table.add_column(col, justify="left" if col == "journal" else "right")
    for label, journal_path in (("empty", tmp / "empty.sqlite3"), (f"{args.memory:,} messages", path)):
        served = Served(
            {
                **_OPEN,
                "SAMVERKAN_JOURNAL_PATH": str(journal_path),
                "SAMVERKAN_JOURNAL_URL": "",
                "SAMVERKAN_FHIR_BASE_URL": "http://127.0.0.1:9/fhir",  # nothing listens: every relay fails and is retried
                "SAMVERKAN_RELAY_PARALLEL": str(PARALLEL),
                "SAMVERKAN_RETRY_BASE": "0.1",
                "SAMVERKAN_RETRY_CAP": "1",
                "SAMVERKAN_MAX_ATTEMPTS": "1000000",
            },
            tmp / "memory.log",
            worker_id="bench-memory",
        )
        served.start()
        try:
            assert served.proc is not None
            figures = [_rss_mb(served.proc.pid)]
            time.sleep(20)
            httpx.get(f"{served.url}/health", timeout=30).raise_for_status()
            figures.append(_rss_mb(served.proc.pid))
            more = Workload.build(200, seed=500)
            asyncio.run(send(more, lambda s=served: [s.url], concurrency=32))
            httpx.get(f"{served.url}/messages", params={"limit": 1000}, timeout=30).raise_for_status()
            figures.append(_rss_mb(served.proc.pid))
        finally:
            served.stop()
        table.add_row(label, *(f"{mb:.0f} MB" for mb in figures))
    return table


def mapping_table(args: argparse.Namespace, tmp: Path) -> Table:
    from bench_mapping import measure  # the same measurement as bench/bench_mapping.py

    fixtures = sorted((ROOT / "fixtures" / "messages").glob("*.*"))
    docs = [(p.read_bytes(), "application/json" if p.suffix == ".json" else "application/xml") for p in fixtures]
    measure(docs, 0.5)  # warm up
    work, least = measure(docs, args.mapping_seconds)
    table = Table(title=f"(a) Mapping: parse + check + map + bundle + serialise, mix of {len(docs)} fixtures (one core)")
    for col in ("messages", "median ms", "p95 ms", "msg/s (one core)", "x the floor"):
        table.add_column(col, justify="right")
    p95 = statistics.quantiles(work.wall, n=20)[18]
    ratio = work.cpu_ms() / least.cpu_ms()
    median = statistics.median(work.wall)
    table.add_row(f"{len(work.wall):,}", f"{median:.3f}", f"{p95:.3f}", f"{work.per_s():,.0f}", f"{ratio:.1f}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fhir", default="http://127.0.0.1:8080/fhir", help="HAPI's base URL")
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL: the accept table gets a row for it")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--episodes", type=int, default=40, help="episodes per relay round (10 messages each)")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--accept-seconds", type=float, default=15.0)
    parser.add_argument("--memory", type=int, default=100_000, help="messages in the journal for (d); 0 skips it")
    parser.add_argument("--mapping-seconds", type=float, default=5.0)
    parser.add_argument("--only", choices=("mapping", "relay", "accept", "memory"), default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="samverkan-bench-") as name:
        tmp = Path(name)
        parts = {"mapping": mapping_table, "relay": relay_table, "accept": accept_table, "memory": memory_table}
        for part, build in parts.items():
            if args.only in (None, part) and not (part == "memory" and args.memory == 0):
                console.print(build(args, tmp))


if __name__ == "__main__":
    main()
