"""What monitoring asks the adapter: ``/metrics`` (Prometheus), ``/ready`` (may traffic come
here?) and ``/stats`` (the console's charts and its what-is-waiting banner).

    GET /ready     200 when the journal answers and the FHIR server answered the watcher's last
                   look; 503 with an OperationOutcome naming what is not ready
    GET /metrics   Prometheus text format
    GET /stats?minutes=60   relay attempts per minute (delivered, failed, p50/p95 latency), what is
                   waiting and since when, and whether the FHIR server is reachable since when
"""

from __future__ import annotations

import asyncio
import hmac
import statistics
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from adapter.security import NotAllowed

from ..access import Viewer
from ..errors import operation_outcome, render
from ..openapi import refusals
from ..services import Svc

__all__ = ["router"]


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat()


def buckets(attempts: list[tuple[float, int | None, float]], since: float, minutes: int) -> list[dict[str, Any]]:
    """Attempts per minute: delivered (a 200), failed (anything else) and latency percentiles."""
    per: list[list[tuple[int | None, float]]] = [[] for _ in range(minutes)]
    for at, status, latency in attempts:
        i = int((at - since) // 60)
        if 0 <= i < minutes:
            per[i].append((status, latency))
    out = []
    for i, rows in enumerate(per):
        latencies = sorted(latency for _, latency in rows)
        p50 = p95 = None
        if latencies:
            p50 = statistics.median(latencies)
            p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
        out.append(
            {
                "start": _iso(since + 60 * i),
                "delivered": sum(1 for status, _ in rows if status == 200),
                "failed": sum(1 for status, _ in rows if status != 200),
                "p50Ms": p50,
                "p95Ms": p95,
            }
        )
    return out


router = APIRouter(tags=["operations"])


@router.get("/ready", response_model=None, responses=refusals(503))
async def ready(request: Request, svc: Svc) -> dict[str, Any] | Response:
    """Ready for traffic: the journal answers and the FHIR server did at the last look."""
    problems = []
    try:
        await asyncio.to_thread(svc.journal.waiting)
    except Exception as exc:
        problems.append(("journal", f"the journal does not answer ({type(exc).__name__})"))
    state = svc.watch.state
    if state.fhir_reachable is False:
        # Which part, not where it is: /ready answers anyone, and the server's URL is internal.
        problems.append(("fhir", f"the FHIR server is unreachable since {_iso(state.fhir_since)}"))
    elif state.fhir_reachable is None:
        problems.append(("fhir", "the FHIR server has not been looked at yet"))
    if problems:
        issues = [{"severity": "error", "code": "transient", "diagnostics": d, "expression": [what]} for what, d in problems]
        return render(request, operation_outcome(*issues), 503)
    return {"status": "ready", "fhirSince": _iso(state.fhir_since)}


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"description": "Prometheus's text format", "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}},
        **refusals(401),
    },
)
async def metrics(request: Request, svc: Svc) -> Response:
    """Prometheus's text format; with SAMVERKAN_METRICS_TOKEN set, for a scraper that sends it as a bearer token."""
    _scraper(request, svc.settings.metrics_token)
    body = await asyncio.to_thread(generate_latest, svc.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _scraper(request: Request, token: str | None) -> None:
    if token is None:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise NotAllowed(401, "/metrics asks for its bearer token", headers={"WWW-Authenticate": 'Bearer realm="metrics"'})


@router.get("/stats", responses=refusals(401, 403))
async def stats(user: Viewer, svc: Svc, minutes: Annotated[int, Query(ge=1, le=360)] = 60) -> dict[str, Any]:
    """The console's charts and banner."""
    journal = svc.journal
    since = (time.time() // 60 - minutes + 1) * 60
    attempts = await asyncio.to_thread(journal.activity, since)
    count, oldest = await asyncio.to_thread(journal.waiting)
    counts = await asyncio.to_thread(journal.counts)
    state = svc.watch.state
    return {
        "buckets": buckets(attempts, since, minutes),
        "waiting": {"count": count, "oldestAcceptedAt": _iso(oldest), "byState": counts},
        "fhir": {"reachable": state.fhir_reachable, "since": _iso(state.fhir_since), "error": state.fhir_error},
        "held": sorted(state.held),
    }
