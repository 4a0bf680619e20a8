"""The operators' flag "the region's outpatient services are not available" over HTTP.

No message carries it (docs/domain.md rule 5), so an operator (never an auditor) sets it on an episode for the days it
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
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ..access import Operator, Viewer
from ..bodies import body_schema, parsed
from ..errors import Refusal
from ..openapi import refusals
from ..params import Day
from ..services import Svc

__all__ = ["router"]

router = APIRouter(tags=["suspensions"], responses=refusals(401, 403))


class NewSuspension(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    first_day: Annotated[Day, Field(alias="from")]
    last_day: Annotated[Day | None, Field(alias="to")] = None
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class EndSuspension(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    last_day: Annotated[Day | None, Field(alias="to")]


#: A flag's id: the journal's integers are 64-bit (a larger one was a 500 from the database driver).
FlagId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _no_flag(suspension_id: int) -> Refusal:
    return Refusal.not_found(f"no suspension {suspension_id}")


@router.get("/suspensions")
async def listed(user: Viewer, svc: Svc, key: str | None = None) -> list[dict[str, Any]]:
    return [s.as_json() for s in await asyncio.to_thread(svc.journal.suspensions, key)]


@router.post(
    "/episodes/{key:path}/suspensions",
    status_code=201,
    response_model=None,
    responses=refusals(404, 422),
    openapi_extra=body_schema(NewSuspension),
)
async def add(key: str, request: Request, user: Operator, svc: Svc) -> JSONResponse:
    body = await parsed(request, NewSuspension)
    j = svc.journal
    if not key.startswith("episode:"):
        raise Refusal(422, "business-rule", "only a care episode (episode:...) has a payment clock to suspend", "key")
    if not await asyncio.to_thread(j.list, key=key, limit=1):
        raise Refusal.not_found(f"no messages of {key} in the journal", "key")
    try:
        flag = await asyncio.to_thread(j.suspend, key, body.first_day, body.last_day, body.reason, now=time.time())
    except ValueError as exc:
        raise Refusal(422, "business-rule", str(exc), "to") from None
    await asyncio.to_thread(flag.audited, j, user.name, "suspension-add", now=time.time())
    return JSONResponse(flag.as_json(), status_code=201, headers={"Location": f"/suspensions/{flag.id}"})


@router.patch("/suspensions/{suspension_id}", responses=refusals(404, 422), openapi_extra=body_schema(EndSuspension))
async def end(suspension_id: FlagId, request: Request, user: Operator, svc: Svc) -> dict[str, Any]:
    body = await parsed(request, EndSuspension)
    try:
        flag = await asyncio.to_thread(svc.journal.end_suspension, suspension_id, body.last_day, now=time.time())
    except KeyError:
        raise _no_flag(suspension_id) from None
    except ValueError as exc:
        raise Refusal(422, "business-rule", str(exc), "to") from None
    await asyncio.to_thread(flag.audited, svc.journal, user.name, "suspension-end", now=time.time())
    return flag.as_json()


@router.delete("/suspensions/{suspension_id}", responses=refusals(404))
async def remove(suspension_id: FlagId, user: Operator, svc: Svc) -> dict[str, Any]:
    try:
        flag = await asyncio.to_thread(svc.journal.remove_suspension, suspension_id)
    except KeyError:
        raise _no_flag(suspension_id) from None
    await asyncio.to_thread(flag.audited, svc.journal, user.name, "suspension-remove", now=time.time())
    return flag.as_json()
