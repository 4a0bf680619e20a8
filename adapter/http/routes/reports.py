"""The reports over HTTP: findings, overdue acknowledgements, payment responsibility, Halland's
model and one key's journey timeline (the same as `samverkan report ...`)."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from adapter.config import Settings
from adapter.reports import Episodes, load_payment_rules, load_units, payment_rows, timeline
from adapter.rules import halland
from adapter.rules.deadlines import STOCKHOLM

from ..errors import operation_outcome
from ..openapi import refusals


def _at(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(STOCKHOLM)
    return at if at.tzinfo else at.replace(tzinfo=STOCKHOLM)


def router(settings: Settings) -> APIRouter:
    api = APIRouter(prefix="", tags=["reports"], responses=refusals(401, 403))
    units = load_units(settings.units_file)
    rules = load_payment_rules(settings.payment_file)

    async def episodes(request: Request, key: str | None = None) -> Episodes:
        return await asyncio.to_thread(Episodes.read, request.app.state.journal, key=key)

    @api.get("/reports/findings")
    async def findings(
        request: Request,
        key: str | None = None,
        open_only: Annotated[bool, Query(alias="open")] = False,
        at: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Every finding of the rules (DOMAIN.md 1-14) over the journal's messages, as of ``at`` (default now)."""
        now = _at(at)
        return [f.as_json() for f in (await episodes(request, key)).findings(now, kommun_of=units) if f.open or not open_only]

    @api.get("/reports/overdue")
    async def overdue(request: Request, at: datetime | None = None) -> list[dict[str, Any]]:
        """Acknowledgements not received by their due time."""
        now = _at(at)
        return [f.as_json() for f in (await episodes(request)).findings(now) if f.rule == "kvittens" and f.overdue(now)]

    @api.get(
        "/reports/payment",
        response_model=None,
        responses={
            200: {
                "description": "One row per episode: JSON, or CSV with format=csv",
                "content": {"application/json": {"schema": {"type": "array"}}, "text/csv": {"schema": {"type": "string"}}},
            }
        },
    )
    async def payment(
        request: Request,
        region: str,
        start: Annotated[date, Query(alias="from")],
        end: Annotated[date, Query(alias="to")],
        kommun: str | None = None,
        format: str = "json",
    ) -> Any:
        """Payment responsibility per episode of a region (county code): payable days and amount."""
        today = datetime.now(STOCKHOLM).date()
        rows = [
            r.as_json()
            for r in payment_rows(await episodes(request), rules, region=region, start=start, end=end, today=today, kommun=kommun)
        ]
        if format == "csv":
            text = io.StringIO()
            writer = csv.DictWriter(text, fieldnames=list(rows[0]) if rows else ["episode"], lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            return Response(text.getvalue(), media_type="text/csv; charset=utf-8")
        return rows

    @api.get("/reports/halland")
    async def halland_model() -> dict[str, Any]:
        """Halland's transitional model (rule 14): monthly amounts, their sum and the total."""
        r = halland.monthly()
        return {"rows": r.rows, "rowSum": r.row_sum, "total": r.total, "invoicedTotal": r.invoiced_total}

    @api.get("/episodes/{key:path}/timeline", response_model=None, responses=refusals(404))
    async def journey(key: str, request: Request, at: datetime | None = None) -> Any:
        """One key's journey: messages, acknowledgements, deadlines, findings and the payment clock."""
        found = timeline(await episodes(request, key), key, _at(at), rules=rules, kommun_of=units)
        if found is None:
            issue = {"severity": "error", "code": "not-found", "diagnostics": f"no messages of {key} in the journal"}
            return JSONResponse(operation_outcome(issue), status_code=404, media_type="application/fhir+json")
        return found

    return api
