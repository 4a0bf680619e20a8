"""The OpenAPI document as the adapter answers: every refusal is a FHIR OperationOutcome.

    refusals(400, 404)      ``responses=`` for a route: those statuses, each an OperationOutcome
    document(app)           FastAPI's document, with the OperationOutcome schema, and FastAPI's own
                            422 "Validation Error" (which this app never answers) as the 400 that
                            the app's handler of request validation errors does answer

Routes declare the refusals they make (``responses=refusals(...)``); the one app-wide handler of
invalid parameters and bodies is declared here, once, for every operation that takes any.
``tests/fuzz/test_fuzz_openapi.py`` holds the document to what the app answers.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from mappings.fhir import FHIR_JSON, FHIR_XML

__all__ = ["OUTCOME", "document", "refusals"]

#: Where the OperationOutcome's schema is in the document.
OUTCOME = "#/components/schemas/OperationOutcome"

_OUTCOME_SCHEMA: dict[str, Any] = {
    "title": "OperationOutcome",
    "description": "FHIR R4 OperationOutcome: what was refused and why; each issue names the element it is about "
    "(expression: a FHIRPath into a FHIR resource; location: an XPath into an internal document).",
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"const": "OperationOutcome"},
        "issue": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {"enum": ["fatal", "error", "warning", "information"]},
                    "code": {"type": "string", "description": "http://hl7.org/fhir/issue-type"},
                    "diagnostics": {"type": "string", "description": "SAMV-nnnn and what is wrong"},
                    "expression": {"type": "array", "items": {"type": "string"}},
                    "location": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}

_WHY = {
    400: "The request does not fit: a parameter, the body's syntax, or the internal document's schema",
    401: "No credentials, or credentials that are not valid",
    403: "The caller may not do this (a role it lacks, or a sender it may not send as)",
    404: "Not in the journal",
    409: "In conflict with the journal: the same message id with other content, or a state that does not allow it",
    410: "Pruned after the retention time",
    413: "The body is larger than the adapter takes",
    415: "Not a media type this endpoint reads (or a compressed body)",
    422: "Read, but not valid: a value, a code, a rule of the domain, or what the mapping needs",
    502: "The FHIR server refused the message: its OperationOutcome is kept",
    503: "Not available now (the journal, or not ready for traffic); Retry-After says when to try again",
}


def refusals(*statuses: int, xml: bool = False) -> dict[int | str, dict[str, Any]]:
    """``responses=`` declaring ``statuses``, each answered with an OperationOutcome (also in FHIR
    XML where ``xml``: the FHIR endpoint answers in the format asked for).

    >>> sorted(refusals(404, 409))
    [404, 409]
    """
    content: dict[str, Any] = {FHIR_JSON: {"schema": {"$ref": OUTCOME}}}
    if xml:
        content[FHIR_XML] = {"schema": {"type": "string"}}
    return {status: {"description": _WHY[status], "content": content} for status in statuses}


def _is_fastapi_validation_error(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))


def document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document (built once, then cached by FastAPI as ``app.openapi_schema``)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    doc = FastAPI.openapi(app)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["OperationOutcome"] = _OUTCOME_SCHEMA
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            fastapi_422 = responses.get("422")
            if fastapi_422 is not None and _is_fastapi_validation_error(fastapi_422):
                del responses["422"]
            if operation.get("parameters") or operation.get("requestBody"):
                # adapter.http.app's handler of RequestValidationError: 400, one issue per element.
                responses.setdefault("400", refusals(400)[400])
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    app.openapi_schema = doc
    return doc
