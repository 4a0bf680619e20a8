"""The checks an operator would make after a reliability run: the journal drained, and HAPI holding
exactly what was sent. (The load itself is tests/load.py, shared with bench/.)
"""

from __future__ import annotations

import itertools
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from adapter.journal import Journal
from mappings import identifiers as ids
from tests.load import Served, Workload

from .conftest import Hapi

#: Resource types and the identifier systems under which each must be unique on the server.
UNIQUE = {
    "Communication": {ids.SYS_MESSAGE_ID},
    "Appointment": {ids.SYS_MESSAGE_ID},
    "Encounter": {ids.SYS_VARDTILLFALLE},
    "Patient": {ids.PERSONNUMMER, ids.SAMORDNINGSNUMMER},
    "Organization": {ids.HSA_ID},
    "Task": {ids.SYS_KVITTENS},  # one acknowledgement Task per message and recipient
}


def wait_delivered(journal: Journal, total: int, *, timeout: float, poll: float = 1.0, serving: Sequence[Served] = ()) -> float:
    """Seconds until the journal shows ``total`` delivered; fails on anything dead-lettered, and at
    once if one of the ``serving`` adapters has exited (with the end of its log)."""
    started = time.monotonic()
    while True:
        for served in serving:
            assert served.alive, f"samverkan serve exited; the end of {served.log}:\n{served.log.read_text()[-3000:]}"
        counts = journal.counts()
        dead = journal.list(state="dead-lettered", limit=5)
        assert not dead, f"dead-lettered: {[(r.message_id, r.last_error) for r in dead]}"
        if counts.get("delivered", 0) >= total:
            return time.monotonic() - started
        if time.monotonic() - started >= timeout:
            raise AssertionError(f"not all delivered after {timeout:.0f} s: {counts}\n{_stuck(journal)}")
        time.sleep(poll)


def _stuck(journal: Journal, shown: int = 10) -> str:
    """The oldest undelivered messages, as an operator would look them up after a failed run."""
    lines = []
    for state in ("relaying", "retrying", "accepted", "held"):
        for r in journal.list(state=state, limit=shown):
            lines.append(
                f"  {r.message_id} {r.key} {r.state} attempts={r.attempts} next={r.next_attempt:.0f} error={r.last_error}"
            )
    return "oldest undelivered:\n" + "\n".join(lines[:shown])


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
