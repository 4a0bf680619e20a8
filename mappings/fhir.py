"""Small builders and readers of FHIR R4 JSON as plain dicts.

The hot path builds resources as plain data (ARCHITECTURE.md, performance targets); tests prove
every shape valid with fhir.resources and HAPI's ``$validate``. Readers are forgiving about
absent elements and strict about what they return.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

__all__ = [
    "Resource",
    "code_in",
    "coding",
    "concept",
    "ext_value",
    "extension",
    "find_extension",
    "full_url",
    "identifier",
    "identifier_value",
    "reference",
]

Resource = dict[str, Any]

#: Namespace of the deterministic ``urn:uuid`` fullUrls of our bundles.
_FULLURL_NS: UUID = uuid5(NAMESPACE_URL, "urn:samverkan:fullUrl")


def full_url(message_id: str, resource_type: str, local_key: str) -> str:
    """A ``urn:uuid`` for one entry of one message's bundle, the same every time it is built.

    Derived from the message id and a key local to that message (never from a personnummer), so
    a resent message yields the same bundle and the fullUrl discloses nothing.
    """
    return f"urn:uuid:{uuid5(_FULLURL_NS, f'{message_id}/{resource_type}/{local_key}')}"


def identifier(system: str, value: str) -> dict[str, str]:
    return {"system": system, "value": value}


def coding(system: str, code: str) -> dict[str, str]:
    return {"system": system, "code": code}


def concept(system: str, code: str) -> dict[str, list[dict[str, str]]]:
    return {"coding": [coding(system, code)]}


def reference(url: str) -> dict[str, str]:
    return {"reference": url}


def extension(url: str, value_key: str, value: Any) -> dict[str, Any]:
    return {"url": url, value_key: value}


def code_in(concepts: Iterable[Mapping[str, Any]], system: str) -> str | None:
    """The first code from ``system`` among a list of CodeableConcepts (e.g. ``Organization.type``)."""
    for concept_ in concepts:
        for c in concept_.get("coding", ()):
            if c.get("system") == system and "code" in c:
                return str(c["code"])
    return None


def identifier_value(resource: Mapping[str, Any], systems: Iterable[str]) -> str | None:
    """The value of the first identifier of ``resource`` whose system is one of ``systems``."""
    wanted = set(systems)
    for ident in resource.get("identifier", ()):
        if ident.get("system") in wanted and "value" in ident:
            return str(ident["value"])
    return None


def find_extension(element: Mapping[str, Any], url: str) -> Mapping[str, Any] | None:
    for ext in element.get("extension", ()):
        if ext.get("url") == url:
            found: Mapping[str, Any] = ext
            return found
    return None


def ext_value(element: Mapping[str, Any], url: str, value_key: str) -> Any:
    ext = find_extension(element, url)
    return None if ext is None else ext.get(value_key)
