"""FHIR R4 on the wire for the vendor endpoint: JSON or XML in, JSON or XML out, and the base
specification's rules checked on the way in (fhir.resources' models, R4B, which for the
resources we take is R4).

XML is parsed with entities, DTDs and the network off, and a DOCTYPE is refused, as the codec
does for internal documents. A request is read by its Content-Type; the answer is written in the
format ``_format`` or ``Accept`` asks for (JSON by default).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from lxml import etree
from pydantic import ValidationError

from mappings.errors import ForbiddenConstruct, InvalidValue, NotWellFormed, UnsupportedMediaType

__all__ = ["FHIR_JSON", "FHIR_XML", "read_bundle", "render", "wants_xml"]

FHIR_JSON, FHIR_XML = "application/fhir+json", "application/fhir+xml"
_JSON_TYPES = {FHIR_JSON, "application/json", "json"}
_XML_TYPES = {FHIR_XML, "application/xml", "text/xml", "xml"}


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False)


def _fhirpath(loc: Sequence[int | str]) -> str:
    """A pydantic error location as a FHIRPath from the Bundle: ``Bundle.entry[0].resource.status``."""
    out = "Bundle"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _media(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()


def read_bundle(raw: bytes, content_type: str | None) -> dict[str, Any]:
    """The Bundle in ``raw`` as FHIR JSON (a dict), valid against base R4; else a SamverkanError
    naming the element (400 unreadable, 415 another format, 422 not valid R4 or not a Bundle)."""
    media = _media(content_type)
    if media in _XML_TYPES:
        if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
            raise ForbiddenConstruct("DOCTYPE and entity declarations are not accepted", path="Bundle", path_kind="fhirpath")
        try:
            root = etree.fromstring(raw, _safe_parser())
        except etree.XMLSyntaxError as exc:
            raise NotWellFormed(f"the body is not well-formed XML ({exc.msg})", path="Bundle", path_kind="fhirpath") from None
        if etree.QName(root).localname != "Bundle":
            raise InvalidValue("the body must be a Bundle", path="Bundle.resourceType", path_kind="fhirpath")
        try:
            model = Bundle.model_validate_xml(raw, xmlparser=_safe_parser())
        except ValidationError as exc:
            raise _invalid(exc) from None
        except _READER_ERRORS as exc:
            raise _unreadable(exc) from None
        bundle: dict[str, Any] = json.loads(model.model_dump_json())
        return bundle
    if media not in _JSON_TYPES:
        raise UnsupportedMediaType(f"send a FHIR Bundle as {FHIR_JSON} or {FHIR_XML}, not {media or 'nothing'}")
    try:
        found = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise NotWellFormed("the body is not JSON (UTF-8)", path="Bundle", path_kind="fhirpath") from None
    if not isinstance(found, dict) or found.get("resourceType") != "Bundle":
        raise InvalidValue("the body must be a Bundle", path="Bundle.resourceType", path_kind="fhirpath")
    try:
        model = Bundle.model_validate(found)
    except ValidationError as exc:
        raise _invalid(exc) from None
    except _READER_ERRORS as exc:
        raise _unreadable(exc) from None
    if (where := _coerced(found, json.loads(model.model_dump_json()))) is not None:
        why = "not valid FHIR R4 JSON: null, or a value of another JSON type than R4 gives this element"
        raise InvalidValue(why, path=_fhirpath(where), path_kind="fhirpath")
    return found


#: What fhir.resources' readers raise, besides ValidationError, on what R4 does not define: an
#: unknown element in XML (KeyError), an unknown or non-string resourceType (KeyError, TypeError),
#: an element in no namespace (KeyError).
_READER_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError, etree.Error)


def _unreadable(exc: Exception) -> InvalidValue:
    # The exception's text may quote the input (a personnummer): only its kind is told.
    return InvalidValue(
        f"not a FHIR R4 Bundle: an element or resource type R4 does not define ({type(exc).__name__})",
        path="Bundle",
        path_kind="fhirpath",
    )


def _coerced(sent: Any, read: Any, loc: tuple[int | str, ...] = ()) -> tuple[int | str, ...] | None:
    """Where the model took ``sent`` only by converting it (a number as a dateTime, a string of
    JSON as an element, an object as an array of one) or a property is null: R4 JSON allows
    neither, and the mapping reads what was sent. ``read`` is the model's own JSON of it."""
    if isinstance(sent, dict) and isinstance(read, dict):
        for key, value in sent.items():
            if value is None:
                return (*loc, key)
            if key in read and (where := _coerced(value, read[key], (*loc, key))) is not None:
                return where
        return None
    if isinstance(sent, list) and isinstance(read, list) and len(sent) == len(read):
        for i, (item, its) in enumerate(zip(sent, read, strict=True)):
            if (where := _coerced(item, its, (*loc, i))) is not None:
                return where
        return None
    if isinstance(sent, bool) or isinstance(read, bool):
        return None if type(sent) is type(read) else loc
    if isinstance(sent, int | float) and isinstance(read, int | float):
        return None
    return None if type(sent) is type(read) else loc


def _invalid(exc: ValidationError) -> InvalidValue:
    first = exc.errors()[0]
    path = _fhirpath([p for p in first["loc"] if p != "__root__"])
    # The message, never the input: the input may be a personnummer.
    return InvalidValue(f"not valid FHIR R4: {first['msg']}", path=path, path_kind="fhirpath")


def wants_xml(fmt: str | None, accept: str | None) -> bool:
    """``_format`` wins; else the first FHIR format ``Accept`` names; else JSON."""
    if fmt:
        return _media(fmt) in _XML_TYPES
    for part in (accept or "").split(","):
        media = _media(part)
        if media in _XML_TYPES:
            return True
        if media in _JSON_TYPES:
            return False
    return False


def render(resource: Mapping[str, Any], xml: bool) -> tuple[bytes, str]:
    """The body and media type of an answer (a Bundle, an OperationOutcome, the CapabilityStatement)."""
    if not xml:
        return json.dumps(resource, ensure_ascii=False).encode("utf-8"), FHIR_JSON
    model = get_fhir_model_class(str(resource["resourceType"])).model_validate(resource)
    dumped: Any = model.model_dump_xml()
    return (dumped if isinstance(dumped, bytes) else str(dumped).encode("utf-8")), FHIR_XML
