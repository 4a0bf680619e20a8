"""FHIR R4 on the wire for the vendor endpoint: JSON or XML in, JSON or XML out, and the base
specification's rules checked on the way in (fhir.resources' models, R4B, which for the
resources we take is R4).

Both formats are read by ``adapter.codec.safe_parse`` as the codec reads internal documents (UTF-8
only; no DOCTYPE, entity or processing instruction; no JSON property twice, no NaN), within the
limits for Bundles: nesting (``max_fhir_depth``) and elements (``max_elements``), checked before
the models see it, because validating costs far more per element than parsing. Strings must be
what FHIR allows (no control characters but tab, CR and LF) and so what XML can hold, since the
message goes on to the internal systems as an XML document. A request is read by its
Content-Type; the answer is written in the format ``_format`` or ``Accept`` asks for (JSON by
default).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from lxml import etree
from pydantic import ValidationError

from adapter.config import Limits
from mappings.errors import InvalidValue, LimitExceeded, UnsupportedMediaType
from mappings.fhir import FHIR_JSON, FHIR_XML

from .internal import DEFAULT_LIMITS
from .safe_parse import Where, check_charset, over_limits, parse_json, parse_xml, shorten, xml_parser

__all__ = ["compact_json", "read_bundle", "render", "wants_xml"]

_JSON_TYPES = {FHIR_JSON, "application/json", "json"}
_XML_TYPES = {FHIR_XML, "application/xml", "text/xml", "xml"}
_FHIR_NS = "http://hl7.org/fhir"
_BUNDLE: Where = ("Bundle", "fhirpath")
#: Characters neither an R4 string (no control characters but tab, CR, LF) nor XML 1.0 can hold.
_NOT_A_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _fhirpath(loc: Sequence[int | str]) -> str:
    """A pydantic error location as a FHIRPath from the Bundle: ``Bundle.entry[0].resource.status``.
    A name the sender chose (an unknown property) is cut short."""
    out = "Bundle"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{shorten(str(part), 64)}"
    return out


def _media(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()


def read_bundle(raw: bytes, content_type: str | None, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """The Bundle in ``raw`` as FHIR JSON (a dict), valid against base R4; else a SamverkanError
    naming the element (400 unreadable or past a limit, 415 another format, 422 not valid R4 or
    not a Bundle)."""
    media = _media(content_type)
    if media not in _XML_TYPES and media not in _JSON_TYPES:
        raise UnsupportedMediaType(
            f"send a FHIR Bundle as {FHIR_JSON} or {FHIR_XML}, not {shorten(media, 60) or 'nothing'}",
            path="Bundle",
            path_kind="fhirpath",
        )
    check_charset(content_type, _BUNDLE)
    if media in _XML_TYPES:
        return _read_xml(raw, limits)
    found = parse_json(raw, _BUNDLE)
    if not isinstance(found, dict) or found.get("resourceType") != "Bundle":
        raise InvalidValue("the body must be a Bundle", path="Bundle.resourceType", path_kind="fhirpath")
    _check_json(found, limits)
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


def _read_xml(raw: bytes, limits: Limits) -> dict[str, Any]:
    root = parse_xml(raw, _BUNDLE)
    if etree.QName(root).localname != "Bundle":
        raise InvalidValue("the body must be a Bundle", path="Bundle.resourceType", path_kind="fhirpath")
    if etree.QName(root).namespace != _FHIR_NS:
        # fhir.resources reads a Bundle in any namespace but none: R5's, or one of a sender's own, is not R4.
        raise InvalidValue(f"the Bundle must be in namespace {_FHIR_NS}", path="Bundle", path_kind="fhirpath")
    if (over := over_limits(root, max_depth=limits.max_fhir_depth, max_elements=limits.max_elements)) is not None:
        raise LimitExceeded(over[1], path="Bundle", path_kind="fhirpath")
    try:
        # fhir.resources parses the bytes again, after parse_xml has checked them: as safely.
        model = Bundle.model_validate_xml(raw, xmlparser=xml_parser())
    except ValidationError as exc:
        raise _invalid(exc) from None
    except _READER_ERRORS as exc:
        raise _unreadable(exc) from None
    bundle: dict[str, Any] = json.loads(model.model_dump_json())
    return bundle


def _check_json(bundle: dict[str, Any], limits: Limits) -> None:
    """Nesting and size within ``limits``, and every string one FHIR and XML can hold, before the
    model sees the Bundle: pydantic takes some 12 µs an object, and recurses."""
    seen = 0
    # In document order, one iterator per open object or array: nothing is copied, and the walk
    # stops at the first thing past a limit. ``loc`` is the path to the items of ``todo[-1]``.
    loc: list[int | str] = []
    todo: list[Iterator[tuple[int | str, Any]]] = [iter((("", bundle),))]
    while todo:
        step = next(todo[-1], None)
        if step is None:
            todo.pop()
            if loc:  # the outermost iterator, around the Bundle, has no key
                loc.pop()
            continue
        key, value = step
        here = [*loc[1:], key] if loc else []
        if isinstance(key, str) and (bad := _NOT_A_CHAR.search(key)) is not None:
            raise InvalidValue(
                f"a property name contains U+{ord(bad.group()):04X}", path=_fhirpath(loc[1:]), path_kind="fhirpath"
            )
        if isinstance(value, str):
            if (bad := _NOT_A_CHAR.search(value)) is not None:
                why = f"not valid FHIR R4: contains U+{ord(bad.group()):04X}, which a FHIR string cannot hold"
                raise InvalidValue(why, path=_fhirpath(here), path_kind="fhirpath")
            continue
        if not isinstance(value, dict | list):
            continue
        seen += 1
        if len(todo) > limits.max_fhir_depth:
            raise LimitExceeded(f"nested deeper than {limits.max_fhir_depth}", path=_fhirpath(here), path_kind="fhirpath")
        if seen > limits.max_elements:
            why = f"more than {limits.max_elements} objects and arrays"
            raise LimitExceeded(why, path=_fhirpath(here), path_kind="fhirpath")
        loc.append(key)
        todo.append(iter(value.items()) if isinstance(value, dict) else enumerate(value))


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


def compact_json(resource: Mapping[str, Any]) -> bytes:
    """``resource`` as compact UTF-8 JSON: how a mapped bundle is stored and sent.

    The same bytes as ``json.dumps(resource, ensure_ascii=False, separators=(",", ":"))`` for
    what our resources hold (strings, integers, booleans, lists and objects with string keys), a
    tenth of its time (tests/unit/test_codec.py compares the two).

    >>> compact_json({"resourceType": "Bundle", "entry": [{"n": 1, "ok": True, "text": "Läkemedelslista"}]}).decode()
    '{"resourceType":"Bundle","entry":[{"n":1,"ok":true,"text":"Läkemedelslista"}]}'
    """
    return orjson.dumps(resource)


def render(resource: Mapping[str, Any], xml: bool) -> tuple[bytes, str]:
    """The body and media type of an answer (a Bundle, an OperationOutcome, the CapabilityStatement)."""
    if not xml:
        return json.dumps(resource, ensure_ascii=False).encode("utf-8"), FHIR_JSON
    model = get_fhir_model_class(str(resource["resourceType"])).model_validate(resource)
    dumped: Any = model.model_dump_xml()
    return (dumped if isinstance(dumped, bytes) else str(dumped).encode("utf-8")), FHIR_XML
