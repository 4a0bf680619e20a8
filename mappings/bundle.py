"""Transaction bundles whose every entry is idempotent.

The relay contract (docs/architecture.md) decides the write of each resource type:

    Patient, Organization                  POST + ifNoneExist   (server's master data wins)
    Encounter, ServiceRequest, Task, ...   PUT Type?identifier  (the adapter owns the state)
    Communication, Appointment, AuditEvent POST + ifNoneExist on the message id

Every conditional URL is built by :func:`conditional_query`, so the same identity always gives
the same string: HAPI 6.6+ guards parallel conditional creates by that exact string. R4's
AuditEvent has no ``identifier``: its entry carries the one search that stands in for it
(``mappings.audit.audit_query``, by message id).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import quote

from .fhir import Resource

__all__ = ["Entry", "conditional_query", "transaction"]

#: A value of only what ``quote(value, safe="-._~:")`` leaves as it is: its own encoding.
_AS_IS = re.compile(r"[A-Za-z0-9_.~:-]*")


def conditional_query(system: str, value: str) -> str:
    """The one canonical ``identifier=system|value`` search of this project.

    The system is left as is (our systems are plain URLs and OIDs); the value is
    percent-encoded except for characters common in HSA-ids and episode ids.

    >>> conditional_query("urn:oid:1.2.752.29.4.19", "SE2321000131-E000000000001")
    'identifier=urn:oid:1.2.752.29.4.19|SE2321000131-E000000000001'
    >>> conditional_query("https://x/NamingSystem/vardtillfalle", "SE1:VT 1&2")
    'identifier=https://x/NamingSystem/vardtillfalle|SE1:VT%201%262'
    """
    encoded = value if _AS_IS.fullmatch(value) else quote(value, safe="-._~:")
    return f"identifier={system}|{encoded}"


@dataclass(frozen=True, slots=True)
class Entry:
    """One resource with the way it is written: conditional create or conditional update.

    ``merge``, on an update, is how the message changes a resource that already exists: a pure
    function from the server's current resource to the new one. ``resource`` is what it is when
    nothing exists yet. The relay reads the current resource and applies ``merge``, so a message
    that changes one fact of an episode does not erase the others (a PUT replaces everything).
    """

    full_url: str
    resource: Resource
    write: Literal["create", "update"]
    system: str
    value: str
    merge: Callable[[Resource | None], Resource] | None = field(default=None, compare=False)
    #: ``(id, versionId)`` of the server's resource this update was merged onto, if any.
    target: tuple[str, str | None] | None = None
    #: The canonical search of a type without ``identifier`` (R4 AuditEvent), made by one function
    #: of ``value``; None: ``identifier=system|value``.
    query: str | None = None

    @property
    def condition(self) -> str:
        """The conditional URL's query: how the server finds this entry's resource."""
        return self.query if self.query is not None else conditional_query(self.system, self.value)

    @property
    def search(self) -> str:
        """``Type?identifier=...``: how the relay finds the current resource."""
        return f"{self.resource['resourceType']}?{self.condition}"

    def onto(self, current: Resource) -> Entry:
        """This update applied to ``current``, the resource the server holds now.

        The result is written to that resource's id with ``If-Match`` on its version, so a
        change made by someone else in between is a conflict (409/412), never lost.
        """
        if self.merge is None:
            raise ValueError("this entry does not merge")
        meta = current.get("meta") or {}
        resource = self.merge(current)
        resource["id"] = current["id"]
        return replace(self, resource=resource, target=(str(current["id"]), meta.get("versionId")))

    def as_json(self) -> dict[str, Any]:
        rtype = self.resource["resourceType"]
        query = self.condition
        if self.target is not None:
            request = {"method": "PUT", "url": f"{rtype}/{self.target[0]}"}
            if self.target[1] is not None:
                request["ifMatch"] = f'W/"{self.target[1]}"'
            return {"fullUrl": self.full_url, "resource": self.resource, "request": request}
        if self.write == "create":
            request = {"method": "POST", "url": rtype, "ifNoneExist": query}
        else:
            request = {"method": "PUT", "url": f"{rtype}?{query}"}
        return {"fullUrl": self.full_url, "resource": self.resource, "request": request}


def transaction(entries: list[Entry]) -> Resource:
    """A transaction Bundle of ``entries``; refuses two entries for one identity.

    HAPI silently merges two conditional writes that resolve to one resource, so such a bundle
    is a bug in a mapping, not something to send.
    """
    seen: set[tuple[str, str, str]] = set()
    for e in entries:
        key = (e.resource["resourceType"], e.system, e.value)
        if key in seen:
            raise ValueError(f"two entries for one identity: {key[0]} {key[1]}")
        seen.add(key)
    return {"resourceType": "Bundle", "type": "transaction", "entry": [e.as_json() for e in entries]}
