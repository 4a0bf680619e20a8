"""Mapping throughput: parse + check + map + build the bundle + serialise, per message.

    .venv/bin/python bench/bench_mapping.py [--seconds 5]

Prints one row per fixture and one for the mix, with the median and p95 time per message and
messages per second on one core. docs/performance.md's targets: >= 5,000 msg/s, p95 < 1 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from adapter.codec import decode
from mappings import to_bundle

ROOT = Path(__file__).resolve().parent.parent


def one(raw: bytes, content_type: str) -> bytes:
    return json.dumps(to_bundle(decode(raw, content_type)), separators=(",", ":")).encode()


def measure(docs: list[tuple[bytes, str]], seconds: float) -> list[float]:
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for raw, ctype in docs:
            t = time.perf_counter_ns()
            one(raw, ctype)
            times.append((time.perf_counter_ns() - t) / 1e6)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="time per row")
    args = parser.parse_args()
    fixtures = sorted((ROOT / "fixtures" / "messages").glob("*.*"))
    docs = [(p.read_bytes(), "application/json" if p.suffix == ".json" else "application/xml") for p in fixtures]
    for raw, ctype in docs:  # warm caches (XSD compile, imports)
        one(raw, ctype)
    table = Table(title="Mapping: parse + check + map + bundle + serialise (one core)")
    for col in ("input", "messages", "median ms", "p95 ms", "msg/s (1 / mean)"):
        table.add_column(col, justify="right" if col != "input" else "left")
    rows = [(p.name, [d]) for p, d in zip(fixtures, docs, strict=True)] + [("mix of all fixtures", docs)]
    for name, subset in rows:
        times = measure(subset, args.seconds)
        p95 = statistics.quantiles(times, n=20)[18]
        table.add_row(
            name, f"{len(times):,}", f"{statistics.median(times):.3f}", f"{p95:.3f}", f"{len(times) / sum(times) * 1000:,.0f}"
        )
    Console().print(table)


if __name__ == "__main__":
    main()
