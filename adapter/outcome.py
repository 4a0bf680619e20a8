"""Errors as FHIR OperationOutcomes, the one shape every 4xx and 5xx of the adapter has.

The element an error is about goes in ``issue.expression`` (a FHIRPath) or ``issue.location``
(an XPath into an internal document). All text is passed through :func:`redact`: an error may
quote what the sender wrote, and that may hold a personnummer.
"""

from __future__ import annotations

from typing import Any

from mappings.errors import SamverkanError

from .fhir_client import Final
from .redact import redact

__all__ = ["operation_outcome", "outcome_of"]


def operation_outcome(*issues: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": list(issues)}


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
