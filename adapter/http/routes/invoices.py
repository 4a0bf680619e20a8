"""A municipality's invoice basis per month over HTTP (the same as `samverkan report invoice`).

    GET  /reports/invoice?kommun=1380&month=2026-03    the basis: lines, corrections, total,
                                                       and who marked it invoiced, if anyone
    POST /reports/invoice/{kommun}/{month}/invoiced    an operator freezes an ended month (201);
                                                       409 once it is, 422 before it has ended

Viewers read; only operators mark, and every mark is audited (adapter.invoices). The rows name
episodes, so every read is in the access log, one entry per patient (adapter.http.access_log).
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from adapter.invoices import MarkRefused, basis, freeze, month_days
from adapter.journal import Invoice
from adapter.reports import Episodes
from adapter.rules.deadlines import STOCKHOLM

from ..access import Operator, Viewer
from ..access_log import accessed_rows
from ..errors import Refusal
from ..openapi import refusals
from ..services import Svc

__all__ = ["router"]

router = APIRouter(tags=["reports"], responses=refusals(400, 401, 403))

Kommun = Annotated[str, Query(pattern=r"^\d{4}$", description="the municipality's kommunkod")]
Month = Annotated[str, Query(description="YYYY-MM")]


def _month(value: str) -> str:
    try:
        month_days(value)
    except ValueError as exc:
        raise Refusal(400, "value", str(exc), "month") from None
    return value


def _answer(found: dict[str, Any], invoice: Invoice | None) -> dict[str, Any]:
    return {**found, "invoiced": invoice.as_json() if invoice else None}


@router.get("/reports/invoice")
async def invoice_basis(user: Viewer, svc: Svc, kommun: Kommun, month: Month) -> dict[str, Any]:
    """The invoice basis of a municipality for a month: as frozen once invoiced, else as it stands."""
    month = _month(month)
    today = datetime.now(STOCKHOLM).date()
    episodes = await asyncio.to_thread(Episodes.read, svc.journal)
    invoices = await asyncio.to_thread(svc.journal.invoices, kommun)
    found, invoice = basis(episodes, invoices, svc.payment_rules, kommunkod=kommun, month=month, today=today)
    await accessed_rows(svc, user.name, "read-invoice", [*(x.key for x in found.lines), *(c.key for c in found.corrections)])
    return _answer(found.as_json(), invoice)


@router.post("/reports/invoice/{kommun}/{month}/invoiced", status_code=201, response_model=None, responses=refusals(409, 422))
async def mark_invoiced(user: Operator, svc: Svc, kommun: Annotated[str, Path(pattern=r"^\d{4}$")], month: str) -> JSONResponse:
    """Marks the month invoiced: its basis is frozen from now on (audited)."""
    month = _month(month)
    today = datetime.now(STOCKHOLM).date()
    episodes = await asyncio.to_thread(Episodes.read, svc.journal)
    invoices = await asyncio.to_thread(svc.journal.invoices, kommun)
    try:
        invoice = freeze(
            episodes, invoices, svc.payment_rules, kommunkod=kommun, month=month, today=today, actor=user.name, now=time.time()
        )
    except MarkRefused as exc:
        raise Refusal(422, "business-rule", str(exc), "month") from None
    stored = await asyncio.to_thread(svc.journal.mark_invoiced, invoice)
    keys = [*(x["episode"] for x in stored.basis["lines"]), *(c["episode"] for c in stored.basis["corrections"])]
    await accessed_rows(svc, user.name, "read-invoice", ["episode:" + k for k in keys])
    return JSONResponse(_answer(stored.basis, stored), status_code=201)
