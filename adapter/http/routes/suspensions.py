"""The operators' flag "the region's outpatient services are not available" over HTTP.

No message carries it (DOMAIN.md rule 5), so an operator sets it on an episode for the days it
holds; the payment reports and the timeline leave those days out. The same as
`samverkan suspension ...`.

    GET    /suspensions[?key=K]              every flag, or one episode's
    POST   /episodes/{key}/suspensions       {"from": D, "to": D or null, "reason": "..."}: 201
    PATCH  /suspensions/{id}                 {"to": D or null}: the last day, once it is known
    DELETE /suspensions/{id}                 withdraws a flag set by mistake
"""

from __future__ import annotations

import asyncio
import time
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from adapter.journal.base import Journal

from ..errors import refusal
from ..openapi import refusals

__all__ = ["router"]


class NewSuspension(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    first_day: Annotated[date, Field(alias="from")]
    last_day: Annotated[date | None, Field(alias="to")] = None
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class EndSuspension(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    last_day: Annotated[date | None, Field(alias="to")]


#: A flag's id: the journal's integers are 64-bit (a larger one was a 500 from the database driver).
FlagId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _no_flag(suspension_id: int) -> JSONResponse:
    return refusal(404, "not-found", f"no suspension {suspension_id}")


def router() -> APIRouter:
    api = APIRouter(tags=["suspensions"], responses=refusals(401, 403))

    def journal(request: Request) -> Journal:
        j: Journal = request.app.state.journal
        return j

    @api.get("/suspensions")
    async def listed(request: Request, key: str | None = None) -> list[dict[str, Any]]:
        return [s.as_json() for s in await asyncio.to_thread(journal(request).suspensions, key)]

    @api.post("/episodes/{key:path}/suspensions", status_code=201, response_model=None, responses=refusals(404, 422))
    async def add(key: str, body: NewSuspension, request: Request) -> JSONResponse:
        j = journal(request)
        if not key.startswith("episode:"):
            return refusal(422, "business-rule", "only a care episode (episode:...) has a payment clock to suspend", "key")
        if not await asyncio.to_thread(j.list, key=key, limit=1):
            return refusal(404, "not-found", f"no messages of {key} in the journal", "key")
        try:
            flag = await asyncio.to_thread(j.suspend, key, body.first_day, body.last_day, body.reason, now=time.time())
        except ValueError as exc:
            return refusal(422, "business-rule", str(exc), "to")
        return JSONResponse(flag.as_json(), status_code=201, headers={"Location": f"/suspensions/{flag.id}"})

    @api.patch("/suspensions/{suspension_id}", response_model=None, responses=refusals(404, 422))
    async def end(suspension_id: FlagId, body: EndSuspension, request: Request) -> dict[str, Any] | JSONResponse:
        try:
            flag = await asyncio.to_thread(journal(request).end_suspension, suspension_id, body.last_day, now=time.time())
        except KeyError:
            return _no_flag(suspension_id)
        except ValueError as exc:
            return refusal(422, "business-rule", str(exc), "to")
        return flag.as_json()

    @api.delete("/suspensions/{suspension_id}", response_model=None, responses=refusals(404))
    async def remove(suspension_id: FlagId, request: Request) -> dict[str, Any] | JSONResponse:
        try:
            return (await asyncio.to_thread(journal(request).remove_suspension, suspension_id)).as_json()
        except KeyError:
            return _no_flag(suspension_id)

    return api
