"""Mapping throughput: parse + check + map + build the bundle + serialise, per message, beside its floor.

    .venv/bin/python bench/bench_mapping.py [--seconds 5] [--per-fixture 0.5] [--cpu N]

The mix is every fixture of fixtures/messages (one of each message type, XML and JSON), mapped
over and over. In the same run, alternating with it pass by pass so that the machine's noise
falls on both alike, the floor is timed on the same documents: parsing the document (lxml with
the codec's parser, orjson for JSON) and serialising its finished bundle (``compact_json``),
nothing else. The process is pinned to one CPU where the OS allows it (``os.sched_setaffinity``).

Each message's wall time gives the median and p95; the CPU time of each pass (this thread's,
so that time spent waiting for the core while other processes run is not counted) gives the
messages per second on one core and the ratio to the floor.

Prints a table of the mix, its floor and (with ``--per-fixture``) one row per fixture, then one
JSON line of the figures. docs/performance.md's targets: at least 5,000 msg/s on one core, p95
under 1 ms, at most 4x the floor.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
from lxml import etree
from rich.console import Console
from rich.table import Table

from adapter.codec import compact_json, decode
from adapter.codec.safe_parse import thread_parser
from mappings import to_bundle

ROOT = Path(__file__).resolve().parent.parent
TARGET_MSG_PER_S, TARGET_P95_MS, TARGET_RATIO = 5000, 1.0, 4.0

Doc = tuple[bytes, str]


def mapped(raw: bytes, content_type: str) -> bytes:
    """The work measured: decode (with every check), map, build the bundle, serialise it."""
    return compact_json(to_bundle(decode(raw, content_type)))


def floor(raw: bytes, content_type: str, bundle: dict[str, object]) -> bytes:
    """The least any mapping must do: read the document and write its bundle."""
    if content_type == "application/xml":
        etree.fromstring(raw, thread_parser())
    else:
        orjson.loads(raw)
    return compact_json(bundle)


def pin(cpu: int | None) -> str:
    """Pins this process to one CPU; says which, or why not."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned (no sched_setaffinity here)"
    allowed = sorted(os.sched_getaffinity(0))
    chosen = allowed[-1] if cpu is None else cpu
    os.sched_setaffinity(0, {chosen})
    return f"pinned to CPU {chosen} of {len(allowed)}"


class Times:
    """Per-message wall times (ms) and the CPU time (s) of the passes they were taken in."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu = 0.0

    def per_s(self) -> float:
        """Messages per second of one core's CPU time."""
        return len(self.wall) / self.cpu

    def cpu_ms(self) -> float:
        """CPU time per message (ms)."""
        return self.cpu * 1000 / len(self.wall)


def timed_pass(docs: list[Doc], bundles: list[dict[str, object]] | None, into: Times) -> None:
    """One pass over ``docs``: the mapping, or the floor when ``bundles`` is given."""
    clock = time.perf_counter_ns
    cpu = time.thread_time()
    for i, (raw, ctype) in enumerate(docs):
        t = clock()
        if bundles is None:
            mapped(raw, ctype)
        else:
            floor(raw, ctype, bundles[i])
        into.wall.append((clock() - t) / 1e6)
    into.cpu += time.thread_time() - cpu


def measure(docs: list[Doc], seconds: float) -> tuple[Times, Times]:
    """The mapping's times and the floor's, passes alternating for ``seconds``."""
    bundles = [to_bundle(decode(raw, ctype)) for raw, ctype in docs]
    work, least = Times(), Times()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        timed_pass(docs, None, work)
        timed_pass(docs, bundles, least)
    return work, least


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[18]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="time for the mix and its floor together")
    parser.add_argument("--per-fixture", type=float, default=0.0, metavar="SECONDS", help="a row per fixture too, this long each")
    parser.add_argument("--cpu", type=int, default=None, help="the CPU to pin to (default: the last one allowed)")
    args = parser.parse_args()
    pinned = pin(args.cpu)
    fixtures = sorted((ROOT / "fixtures" / "messages").glob("*.*"))
    docs = [(p.read_bytes(), "application/json" if p.suffix == ".json" else "application/xml") for p in fixtures]
    for raw, ctype in docs:  # warm caches (XSD compile, imports)
        mapped(raw, ctype)

    work, least = measure(docs, args.seconds)
    ratio = work.cpu_ms() / least.cpu_ms()

    table = Table(title=f"Mapping: parse + check + map + bundle + serialise, {len(docs)} fixtures, {pinned}")
    table.add_column("what", no_wrap=True)
    for col in ("messages", "median ms", "p95 ms", "CPU ms/msg", "msg/s, 1 core"):
        table.add_column(col, justify="right")

    def row(name: str, times: Times) -> None:
        median, slow = statistics.median(times.wall), p95(times.wall)
        cells = (f"{len(times.wall):,}", f"{median:.3f}", f"{slow:.3f}", f"{times.cpu_ms():.4f}", f"{times.per_s():,.0f}")
        table.add_row(name, *cells)

    row("mix of every fixture", work)
    row("floor: parse + serialise", least)
    if args.per_fixture > 0:
        for path, doc in zip(fixtures, docs, strict=True):
            row(path.name, measure([doc], args.per_fixture)[0])
    console = Console(width=None if sys.stdout.isatty() else 120)  # a log or a pipe gets the whole table
    console.print(table)
    figures = {
        "bench": "mapping",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": pinned,
        "fixtures": len(docs),
        "messages": len(work.wall),
        "median_ms": round(statistics.median(work.wall), 4),
        "p95_ms": round(p95(work.wall), 4),
        "cpu_ms": round(work.cpu_ms(), 4),
        "msg_per_s": round(work.per_s()),
        "msg_per_s_wall": round(len(work.wall) / sum(work.wall) * 1000),
        "floor_ms": round(least.cpu_ms(), 4),
        "ratio_to_floor": round(ratio, 2),
        "met": {
            "msg_per_s": work.per_s() >= TARGET_MSG_PER_S,
            "p95_ms": p95(work.wall) < TARGET_P95_MS,
            "ratio_to_floor": ratio <= TARGET_RATIO,
        },
    }
    console.print(
        f"ratio to the floor: {ratio:.2f}x (CPU time per message, mapping / floor). Targets: "
        f">= {TARGET_MSG_PER_S:,} msg/s on one core, p95 < {TARGET_P95_MS} ms, <= {TARGET_RATIO}x the floor."
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
