"""The internal door, and the process's health.

POST /messages      accept an internal message (XML or JSON): 202 once it is in the journal
GET  /health        the process is up, with the journal's counts (the FHIR server is not checked)
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..access import Sender
from ..openapi import refusals
from ..services import Svc

__all__ = ["router"]

router = APIRouter()

_DOCUMENT_IN = {
    "requestBody": {
        "required": True,
        "content": {"application/xml": {"schema": {"type": "string"}}, "application/json": {"schema": {"type": "object"}}},
    }
}


@router.get("/health")
async def health(svc: Svc) -> dict[str, Any]:
    """The process is up; the journal's messages by state. (The FHIR server is not checked here.)"""
    return {"status": "ok", "journal": await asyncio.to_thread(svc.journal.counts)}


@router.post("/messages", status_code=202, openapi_extra=_DOCUMENT_IN, responses=refusals(401, 403, 409, 413, 415, 422, 503))
async def post_message(request: Request, caller: Sender, svc: Svc) -> JSONResponse:
    """Accepts one internal message (XML or JSON): 202 once it is journaled, with its status URL.

    The same message id sent again answers with the first record and relays nothing new;
    the same id with other content is a conflict (409).
    """
    raw = await svc.intake.receive(request.headers, request.stream(), actor=caller.name)
    record, created = await svc.intake.take(raw, request.headers.get("content-type"), caller=caller)
    body = {**record.as_json(), "duplicate": not created}
    return JSONResponse(body, status_code=202, headers={"Location": f"/messages/{record.message_id}"})
