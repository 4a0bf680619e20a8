"""Our FHIR package (profiles/): read it, install it on a server, validate against it.

    package()                    the conformance resources of profiles/, in install order
    install(fhir)                CodeSystems, ValueSets, ConceptMaps, then extensions and
                                 profiles with snapshots the server generates ($snapshot);
                                 each resource tried again a few times while it may pass
    validate_locally(resource)   structure against FHIR R4 (fhir.resources), as Issues
    validate_on(fhir, resource)  the server's $validate against the declared profile, as Issues

Profiles are differentials on core R4. A differential-only StructureDefinition cannot be used
by HAPI's validator ("no snapshot"), so ``install`` asks the server for the snapshot first and
stores the result: that works on any HAPI server, not only ours, and fetches no package.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from adapter.config import RetryPolicy

from .client import FhirClient
from .retry import retrying

__all__ = ["InstallResult", "Issue", "install", "issues_of", "package", "validate_locally", "validate_on"]

_ORDER = {"CodeSystem": 0, "ValueSet": 1, "ConceptMap": 2, "StructureDefinition": 3}


def package() -> list[dict[str, Any]]:
    """Every conformance resource of the package, ordered so that each comes after what it uses."""
    found = []
    for item in resources.files("mappings").joinpath("_profiles").iterdir():
        if not item.name.endswith(".json") or item.name == "package.json":
            continue
        res = json.loads(item.read_text("utf-8"))
        if res.get("resourceType") in _ORDER:
            found.append(res)
    # Extensions before the profiles that slice them in.
    return sorted(found, key=lambda r: (_ORDER[r["resourceType"]], r.get("type") != "Extension", r["id"]))


@dataclass(frozen=True, slots=True)
class InstallResult:
    """What ``install`` put on the server, by resource type."""

    counts: dict[str, int]


async def install(
    fhir: FhirClient, *, policy: RetryPolicy | None = None, sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
) -> InstallResult:
    """Puts the package on the server (idempotent: every resource goes to its own id). A resource
    whose request fails in a way that may pass (``adapter.fhir.retry``) is sent again, a few times,
    as ``policy`` backs off."""
    counts: dict[str, int] = {}
    for res in package():
        await retrying(policy, sleep=sleep)(_install_one, fhir, res)
        counts[res["resourceType"]] = counts.get(res["resourceType"], 0) + 1
    return InstallResult(counts)


async def _install_one(fhir: FhirClient, res: dict[str, Any]) -> None:
    if res["resourceType"] == "StructureDefinition":
        res = await fhir.operation(
            "StructureDefinition/$snapshot",
            {"resourceType": "Parameters", "parameter": [{"name": "definition", "resource": res}]},
        )
    await fhir.put(res)


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding about a resource: severity (fatal, error, warning, information), where, what."""

    severity: str
    location: str
    message: str
    key: str | None = None  # the invariant's key, when a constraint failed

    @property
    def is_error(self) -> bool:
        return self.severity in ("fatal", "error")


def issues_of(outcome: Mapping[str, Any], resource_type: str) -> list[Issue]:
    """The issues of an OperationOutcome, with their FHIRPath location."""
    out = []
    for i in outcome.get("issue", ()):
        where = (i.get("expression") or i.get("location") or [resource_type])[0]
        text = str(i.get("diagnostics") or (i.get("details") or {}).get("text") or i.get("code", ""))
        key = None
        if text.startswith("Constraint failed: "):
            key = text.removeprefix("Constraint failed: ").split(":", 1)[0]
        out.append(Issue(str(i.get("severity", "error")), str(where), text, key))
    return out


def _pydantic_location(resource_type: str, loc: tuple[Any, ...]) -> str:
    path = resource_type
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def validate_locally(resource: Mapping[str, Any]) -> list[Issue]:
    """Structural validation against FHIR R4 (fhir.resources' R4B models, which R4 JSON satisfies)."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    rtype = str(resource.get("resourceType", ""))
    try:
        model = get_fhir_model_class(rtype)
    except KeyError:
        return [Issue("error", rtype or "resourceType", f"unknown resource type {rtype!r}")]
    try:
        model.model_validate(dict(resource))
    except ValidationError as exc:
        return [Issue("error", _pydantic_location(rtype, tuple(e["loc"])), e["msg"]) for e in exc.errors()]
    return []


async def validate_on(fhir: FhirClient, resource: Mapping[str, Any]) -> list[Issue]:
    """The server's ``$validate`` of ``resource`` against the profile it declares."""
    profiles = (resource.get("meta") or {}).get("profile") or [None]
    outcome = await fhir.validate(resource, profiles[0])
    return issues_of(outcome, str(resource.get("resourceType")))


def resources_in(document: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The resources of a Bundle's entries, or the one resource."""
    if document.get("resourceType") == "Bundle":
        for entry in document.get("entry", ()):
            if isinstance(entry.get("resource"), dict):
                yield entry["resource"]
    else:
        yield dict(document)
