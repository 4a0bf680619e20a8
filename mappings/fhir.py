"""Small builders and readers of FHIR R4 JSON as plain dicts.

The hot path builds resources as plain data (docs/performance.md, "Targets"); tests prove
every shape valid with fhir.resources and HAPI's ``$validate``. Readers are forgiving about
absent elements and strict about what they return.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal, TypeVar
from uuid import NAMESPACE_URL, UUID, uuid5

from .errors import InvalidValue

__all__ = [
    "FHIR_JSON",
    "FHIR_XML",
    "YEARS",
    "Resource",
    "code_as",
    "code_in",
    "coding",
    "complex_extension",
    "concept",
    "date_of",
    "datetime_of",
    "evolve",
    "ext_value",
    "ext_values",
    "extension",
    "find_extension",
    "full_url",
    "identifier",
    "identifier_value",
    "local_ref",
    "put_extension",
    "reference",
    "within_years",
]

#: The media types of FHIR on the wire (R4, http.html#mime-type): one spelling for the whole project.
FHIR_JSON, FHIR_XML = "application/fhir+json", "application/fhir+xml"

Resource = dict[str, Any]
_E = TypeVar("_E", bound=StrEnum)

#: Namespace of the deterministic ``urn:uuid`` fullUrls of our bundles.
_FULLURL_NS: UUID = uuid5(NAMESPACE_URL, "urn:samverkan:fullUrl")
_FULLURL_NS_BYTES = _FULLURL_NS.bytes


def full_url(message_id: str, resource_type: str, local_key: str) -> str:
    """A ``urn:uuid`` for one entry of one message's bundle, the same every time it is built.

    Derived from the message id and a key local to that message (never from a personnummer), so
    a resent message yields the same bundle and the fullUrl discloses nothing.

    It is ``uuid5(_FULLURL_NS, "{message_id}/{resource_type}/{local_key}")`` (RFC 4122, 4.3: the
    SHA-1 of namespace and name, with the version and variant bits set), written out without the
    ``UUID`` object, which cost a tenth of the mapping's time:

    >>> full_url("m1", "Patient", "subject") == f"urn:uuid:{uuid5(_FULLURL_NS, 'm1/Patient/subject')}"
    True
    """
    name = f"{message_id}/{resource_type}/{local_key}".encode()
    b = bytearray(hashlib.sha1(_FULLURL_NS_BYTES + name, usedforsecurity=False).digest()[:16])
    b[6] = b[6] & 0x0F | 0x50  # version 5
    b[8] = b[8] & 0x3F | 0x80  # the RFC 4122 variant
    h = b.hex()
    return f"urn:uuid:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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


def ext_values(element: Mapping[str, Any], url: str) -> list[Mapping[str, Any]]:
    """Every extension of ``element`` with ``url``, in order (for repeating extensions)."""
    return [e for e in element.get("extension", ()) if e.get("url") == url]


def complex_extension(url: str, parts: Iterable[tuple[str, str, Any]]) -> dict[str, Any]:
    """An extension of sub-extensions ``(name, value key, value)``; parts whose value is None are left out."""
    return {"url": url, "extension": [{"url": name, key: value} for name, key, value in parts if value is not None]}


def put_extension(resource: Resource, url: str, ext: dict[str, Any] | None) -> None:
    """Sets the extension ``url`` of ``resource`` to ``ext`` (or removes it), keeping all others."""
    kept = [e for e in resource.get("extension", ()) if e.get("url") != url]
    if ext is not None:
        kept.append(ext)
    if kept:
        resource["extension"] = kept
    else:
        resource.pop("extension", None)


def evolve(current: Mapping[str, Any] | None, fresh: Resource) -> Resource:
    """A copy of the server's ``current`` resource to change (``fresh`` when there is none).

    ``meta`` is dropped: the server keeps versions, and a stale one must not travel back.
    """
    res: Resource = copy.deepcopy(dict(current)) if current is not None else fresh
    res.pop("meta", None)
    return res


def local_ref(target: Mapping[str, Any]) -> dict[str, str]:
    """A reference to a contained resource: ``#id``."""
    return {"reference": f"#{target['id']}"}


def code_as(kind: type[_E], code: object, path: str) -> _E:
    """``code`` as a member of ``kind``; anything else is an ``InvalidValue`` at ``path`` (FHIRPath)."""
    try:
        return kind(str(code))
    except ValueError:
        raise InvalidValue(f"not a known {kind.__name__} code", path=path, path_kind="fhirpath") from None


#: The years a message's dates and times may fall in. A year 1 or 9999 shifted by a time zone
#: overflows the conversions behind them (a 500 at the door before), and a day of year 9999 the
#: payment clock's arithmetic.
YEARS = range(1900, 2200)

_Dated = TypeVar("_Dated", date, datetime)


def within_years(value: _Dated, path: str, path_kind: Literal["xpath", "fhirpath"] = "fhirpath") -> _Dated:
    """``value`` if its year is one of :data:`YEARS`; else an ``InvalidValue`` at ``path``.

    >>> within_years(date(1, 1, 1), "/Message/@sent", "xpath")
    Traceback (most recent call last):
    mappings.errors.InvalidValue: SAMV-2002: a date between 1900 and 2199 at /Message/@sent
    """
    if value.year not in YEARS:
        raise InvalidValue(f"a date between {YEARS.start} and {YEARS.stop - 1}", path=path, path_kind=path_kind)
    return value


def date_of(value: object, path: str) -> date:
    """A FHIR date to the day as a ``date``; a year or a month alone (which R4 allows), or
    anything else, is an ``InvalidValue`` at ``path``: internal messages carry whole dates.

    >>> date_of("2026-03-10", "Communication.extension")
    datetime.date(2026, 3, 10)
    """
    try:
        if isinstance(value, str) and len(value) == 10:
            return within_years(date.fromisoformat(value), path)
    except ValueError:
        pass
    raise InvalidValue("not a date to the day (YYYY-MM-DD)", path=path, path_kind="fhirpath")


def datetime_of(value: object, path: str) -> datetime:
    """A FHIR dateTime or instant with its time and time zone as a ``datetime``; a date alone, a
    year or a month (which R4 allows for a dateTime), or anything else, is an ``InvalidValue`` at
    ``path``: internal messages carry the moment.

    >>> datetime_of("2026-03-10T08:30:00+01:00", "Communication.sent").isoformat()
    '2026-03-10T08:30:00+01:00'
    """
    try:
        if isinstance(value, str) and "T" in value:
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is not None:
                return within_years(moment, path)
    except ValueError:
        pass
    raise InvalidValue("not a date and time with a time zone", path=path, path_kind="fhirpath")
