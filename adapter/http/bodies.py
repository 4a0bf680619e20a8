"""Request bodies read inside a route, after its access check (see :mod:`adapter.http.access`).

filters = await parsed(request, Filters)     the JSON body as ``Filters``, or 400 naming each element
openapi_extra=body_schema(Filters)           what the OpenAPI document says the route takes
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from adapter.intake import read_body

__all__ = ["body_schema", "parsed"]

M = TypeVar("M", bound=BaseModel)

#: An operator's JSON body is a few filters or a date range; anything larger is not one.
_LIMIT = 64 * 1024


async def parsed(request: Request, model: type[M]) -> M:
    """The request's JSON body as ``model``; invalid, a 400 naming each element as FastAPI would (``body.from``)."""
    raw = await read_body(request.headers, request.stream(), _LIMIT, ("body", "fhirpath"))
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_input=False, include_url=False)]
        raise RequestValidationError(errors) from None


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` declaring a required JSON body of ``model``."""
    schema = model.model_json_schema(by_alias=True)
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
