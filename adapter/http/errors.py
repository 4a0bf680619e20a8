"""Errors as FHIR OperationOutcomes, the one shape every 4xx and 5xx of the adapter has.

The element an error is about goes in ``issue.expression`` (a FHIRPath) or ``issue.location``
(an XPath into an internal document). All text is passed through :func:`redact`: an error may
quote what the sender wrote, and that may hold a personnummer.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from adapter.fhir.client import Final
from adapter.observability.redaction import redact
from mappings.errors import SamverkanError

__all__ = ["operation_outcome", "outcome_of", "refusal"]


def operation_outcome(*issues: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": list(issues)}


def refusal(status: int, code: str, text: str, element: str | None = None) -> JSONResponse:
    """An operator's request refused: one issue, naming the element (FHIRPath) when there is one."""
    issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": text}
    if element:
        issue["expression"] = [element]
    return JSONResponse(operation_outcome(issue), status_code=status, media_type="application/fhir+json")


def outcome_of(err: SamverkanError) -> dict[str, Any]:
    """The OperationOutcome answering ``err``; a refusal by the FHIR server keeps its issues."""
    issue: dict[str, Any] = {"severity": "error", "code": err.issue_type, "diagnostics": redact(f"{err.code}: {err.detail}")}
    if err.path:
        issue["expression" if err.path_kind == "fhirpath" else "location"] = [err.path]
    issues = [issue]
    if isinstance(err, Final) and err.outcome:
        for server_issue in err.outcome.get("issue", ()):
            copied = dict(server_issue)
            if "diagnostics" in copied:
                copied["diagnostics"] = redact(str(copied["diagnostics"]))
            issues.append(copied)
    return operation_outcome(*issues)
