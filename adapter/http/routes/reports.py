"""The reports over HTTP: findings, overdue acknowledgements, payment responsibility, Halland's
model and one key's journey timeline (the same as `samverkan report ...`). Operators and auditors.

Every row that names an episode or a referral shows a patient's care: each read is in the access
log, one entry per patient of each row (adapter.http.access_log), as a timeline's read is."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from adapter.reports import PAYMENT_COLUMNS, Episodes, PaymentTotal, payment_rows, timeline
from adapter.rules import halland
from adapter.rules.deadlines import STOCKHOLM

from ..access import Viewer
from ..access_log import accessed, accessed_rows
from ..errors import Refusal
from ..openapi import refusals
from ..params import Day, Moment
from ..services import Svc

__all__ = ["router"]

router = APIRouter(tags=["reports"], responses=refusals(401, 403))


def _at(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(STOCKHOLM)
    return at if at.tzinfo else at.replace(tzinfo=STOCKHOLM)


async def _episodes(svc: Svc, key: str | None = None) -> Episodes:
    return await asyncio.to_thread(Episodes.read, svc.journal, key=key)


@router.get("/reports/findings")
async def findings(
    user: Viewer,
    svc: Svc,
    key: str | None = None,
    open_only: Annotated[bool, Query(alias="open")] = False,
    at: Moment | None = None,
) -> list[dict[str, Any]]:
    """Every finding of the rules (docs/domain.md, rules 1-14) over the journal's messages, as of ``at`` (default now)."""
    now = _at(at)
    found = [f for f in (await _episodes(svc, key)).findings(now, kommun_of=svc.units) if f.open or not open_only]
    await accessed_rows(svc, user.name, "read-findings", [f.key for f in found])
    return [f.as_json() for f in found]


@router.get("/reports/overdue")
async def overdue(user: Viewer, svc: Svc, at: Moment | None = None) -> list[dict[str, Any]]:
    """Acknowledgements not received by their due time."""
    now = _at(at)
    found = [f for f in (await _episodes(svc)).findings(now) if f.rule == "kvittens" and f.overdue(now)]
    await accessed_rows(svc, user.name, "read-overdue", [f.key for f in found])
    return [f.as_json() for f in found]


@router.get(
    "/reports/payment",
    response_model=None,
    responses={
        200: {
            "description": "Each payment period and the total, priced and unpriced apart: JSON; or the rows as CSV",
            "content": {"application/json": {"schema": {"type": "object"}}, "text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def payment(
    user: Viewer,
    svc: Svc,
    region: str,
    start: Annotated[Day, Query(alias="from")],
    end: Annotated[Day, Query(alias="to")],
    kommun: str | None = None,
    format: str = "json",
) -> Any:
    """Payment responsibility per episode of a region (county code): payable days and amount."""
    today = datetime.now(STOCKHOLM).date()
    episodes = await _episodes(svc)
    rows = payment_rows(episodes, svc.payment_rules, region=region, start=start, end=end, today=today, kommun=kommun)
    await accessed_rows(svc, user.name, "read-payment-report", [r.key for r in rows])
    if format == "csv":
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=PAYMENT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(r.as_json() for r in rows)
        return Response(text.getvalue(), media_type="text/csv; charset=utf-8")
    return {"rows": [r.as_json() for r in rows], "total": PaymentTotal.of(rows).as_json()}


@router.get("/reports/halland")
async def halland_model(user: Viewer) -> dict[str, Any]:
    """Halland's transitional model (rule 14): monthly amounts, their sum and the total."""
    r = halland.monthly()
    return {"rows": r.rows, "rowSum": r.row_sum, "total": r.total, "invoicedTotal": r.invoiced_total}


@router.get("/episodes/{key:path}/timeline", response_model=None, responses=refusals(404))
async def journey(key: str, user: Viewer, svc: Svc, at: Moment | None = None) -> Any:
    """One key's journey: messages, acknowledgements, deadlines, findings and the payment clock."""
    found = timeline(await _episodes(svc, key), key, _at(at), rules=svc.payment_rules, kommun_of=svc.units)
    if found is None:
        raise Refusal.not_found(f"no messages of {key} in the journal")
    await accessed(svc, user.name, "read-timeline", key=key)
    return found
