"""The scheduler of acknowledgement deadlines: Tasks whose Kvittens is late become overdue.

Every ``interval`` seconds (and whenever :func:`mark_overdue` is called with a ``now`` of the
caller's choosing, as the tests do) it asks the FHIR server for the acknowledgement Tasks still
``requested`` with ``businessStatus`` open, and sets ``overdue`` on those whose
``restriction.period.end`` has passed. Each write carries ``If-Match``: a Kvittens relayed at the
same moment wins (the Task is then completed, not overdue), and several replicas doing this at
once change each Task once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from adapter.fhir import FhirClient, Final, Retryable
from adapter.rules.acknowledgements import OPEN, OVERDUE, business_status
from mappings import identifiers as ids

__all__ = ["mark_overdue", "run_scheduler"]

log = logging.getLogger("adapter.relay.overdue")


def _due(task: dict[str, Any]) -> datetime | None:
    end = (task.get("restriction") or {}).get("period", {}).get("end")
    return datetime.fromisoformat(end) if end else None


async def mark_overdue(fhir: FhirClient, now: datetime) -> int:
    """Marks the open acknowledgement Tasks due before ``now`` overdue; how many it marked."""
    params = {
        "identifier": f"{ids.SYS_KVITTENS}|",
        "status": "requested",
        "business-status": f"{ids.CS_ACKNOWLEDGEMENT_STATUS}|{OPEN}",
        # Due at most a few days after authoring: nothing authored after now can be overdue.
        "authored-on": f"lt{now.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}",
        "_count": "200",
    }
    marked = 0
    async for task in fhir.search_all("Task", params):
        due = _due(task)
        if due is None or due >= now:
            continue
        task = {**task, "businessStatus": business_status(OVERDUE)}
        try:
            await fhir.put(task, if_match=(task.get("meta") or {}).get("versionId"))
            marked += 1
        except Final as exc:
            if exc.status not in (409, 412):
                raise
            # Changed under us (a Kvittens, another replica): the next round looks again.
    return marked


async def run_scheduler(
    fhir: FhirClient, stop: asyncio.Event, *, interval: float, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> None:
    """Calls :func:`mark_overdue` every ``interval`` seconds until ``stop`` is set."""
    while not stop.is_set():
        try:
            marked = await mark_overdue(fhir, clock())
            if marked:
                log.info("%d acknowledgement(s) became overdue", marked)
        except Retryable as exc:
            log.warning("could not check acknowledgement deadlines: %s", exc)
        except Exception:
            log.exception("checking acknowledgement deadlines failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
