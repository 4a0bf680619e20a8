"""Untrusted bytes into a tree, at a bounded cost: the checks both doors make (``POST /messages``
for internal documents, ``POST /fhir`` for FHIR Bundles) before and after a parser sees the bytes.

    check_charset(content_type, where)       a ``charset`` parameter, if given, says UTF-8 (else 415)
    parse_xml(raw, where) -> root            UTF-8 XML 1.0 without DOCTYPE, entities or processing
                                             instructions; comments dropped
    parse_json(raw, where) -> value          UTF-8 JSON (RFC 8259): no property twice in one object,
                                             no NaN or Infinity, no number without end
    over_limits(root, max_depth=, max_elements=) -> (element, why) | None

Both formats are UTF-8 only (FHIR R4 says so of its own; docs/message-format.md of ours): a
declared or detected other encoding is refused instead of converted, which also shuts the door
a DOCTYPE could slip through in UTF-16, where the byte check below does not see it. A UTF-8 byte
order mark is tolerated (RFC 8259 allows a parser to ignore it; libxml2 does).

A DOCTYPE or entity declaration is refused by looking at the bytes, before any parser runs, so
an entity is never expanded, neither a billion laughs nor one large entity used many times (the
quadratic blow-up); a CDATA section or comment that spells ``<!DOCTYPE`` is refused as well,
which costs a sender nothing. The parser is still set up as if that check did not exist:
entities unresolved, no DTD loaded, no network, libxml2's own depth limit (256) on.

``where`` is the path every refusal about the whole document names: ``("/", "xpath")`` for an
internal document, ``("Bundle", "fhirpath")`` for a Bundle. Texts quoted from the parsers are cut
short: they may repeat a name the sender made a megabyte long.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Iterator
from typing import Any

from lxml import etree

from mappings.errors import ForbiddenConstruct, LimitExceeded, NotWellFormed, PathKind, UnsupportedMediaType

__all__ = ["Where", "check_charset", "over_limits", "parse_json", "parse_xml", "shorten", "thread_parser", "xml_parser"]

Where = tuple[str, PathKind]

_BOM_UTF8 = b"\xef\xbb\xbf"
#: Byte order marks of the encodings we refuse, so the answer can name them.
_BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32", b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16"}
_DECLARATION = re.compile(rb"<\?xml\s+version\s*=\s*[\"']([^\"']{0,16})[\"'](?:\s+encoding\s*=\s*[\"']([^\"']{0,40})[\"'])?")
_UTF8_NAMES = ("utf-8", "utf8")


def shorten(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters, the cut marked."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_charset(content_type: str | None, where: Where) -> None:
    """Refuses a ``charset`` parameter that is not UTF-8 (415): the body would be read wrongly."""
    for param in (content_type or "").split(";")[1:]:
        name, _, value = param.partition("=")
        charset = value.strip().strip('"').lower()
        if name.strip().lower() == "charset" and charset not in _UTF8_NAMES:
            raise UnsupportedMediaType(
                f"charset={shorten(charset, 40)} is not accepted: send UTF-8", path=where[0], path_kind=where[1]
            )


def _utf8(raw: bytes, where: Where) -> str:
    """The text of ``raw``, which must be UTF-8 (a BOM is dropped) without NUL."""
    for bom, name in _BOMS.items():
        if raw.startswith(bom):
            why = f"the document is {name} (it starts with its byte order mark): send UTF-8"
            raise NotWellFormed(why, path=where[0], path_kind=where[1])
    # NUL is never text, in XML nor JSON; refusing it first also catches UTF-16 without a BOM,
    # whose ASCII half would otherwise pass as UTF-8.
    if (nul := raw.find(b"\x00")) >= 0:
        raise NotWellFormed(f"the document holds a NUL byte (byte {nul}): send UTF-8 text", path=where[0], path_kind=where[1])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotWellFormed(f"the document is not UTF-8 (byte {exc.start})", path=where[0], path_kind=where[1]) from None


# -- XML ---------------------------------------------------------------------------------------


def xml_parser() -> etree.XMLParser:
    """The parser of untrusted XML. One per document, or one per thread (:func:`thread_parser`):
    an lxml parser must not be used by two threads at once."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=False,  # kept, so that they can be refused
    )


_PER_THREAD = threading.local()


def thread_parser() -> etree.XMLParser:
    """This thread's :func:`xml_parser`, made once: setting a parser up costs a third of parsing
    an internal document with it, and lxml resets it for each document."""
    parser: etree.XMLParser | None = getattr(_PER_THREAD, "parser", None)
    if parser is None:
        parser = _PER_THREAD.parser = xml_parser()
    return parser


def parse_xml(raw: bytes, where: Where) -> etree._Element:
    """The root element of ``raw``, an XML 1.0 document in UTF-8 without DOCTYPE, entity
    declaration or processing instruction; else a ``CodecError`` (400)."""
    path, kind = where
    _utf8(raw, where)
    head = raw[len(_BOM_UTF8) :] if raw.startswith(_BOM_UTF8) else raw
    if (declared := _DECLARATION.match(head)) is not None:
        version, encoding = declared.group(1).decode("ascii", "replace"), declared.group(2)
        if version != "1.0":
            raise NotWellFormed(f"XML version {shorten(version, 16)!r}: send XML 1.0", path=path, path_kind=kind)
        if encoding is not None and encoding.decode("ascii", "replace").lower() not in _UTF8_NAMES:
            name = shorten(encoding.decode("ascii", "replace"), 40)
            raise NotWellFormed(f"the document declares encoding {name!r}: send UTF-8", path=path, path_kind=kind)
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise ForbiddenConstruct("DOCTYPE and entity declarations are not accepted", path=path, path_kind=kind)
    try:
        root = etree.fromstring(raw, thread_parser())
    except etree.XMLSyntaxError as exc:
        line = f" (line {exc.lineno})" if exc.lineno else ""
        raise NotWellFormed(f"not well-formed XML{line}: {shorten(str(exc.msg))}", path=path, path_kind=kind) from None
    docinfo: Any = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        # The byte check above should have seen it; a parser that found one anyway is not trusted.
        raise ForbiddenConstruct("DOCTYPE and entity declarations are not accepted", path=path, path_kind=kind)
    outside = [*root.itersiblings(preceding=True), *root.itersiblings()]
    if any(isinstance(n, etree._ProcessingInstruction) for n in outside) or next(root.iter(etree.PI), None) is not None:
        # Nothing here needs one, and a stylesheet instruction is an instruction to whoever opens the document next.
        raise ForbiddenConstruct("processing instructions (<?...?>) are not accepted", path=path, path_kind=kind)
    return root


def over_limits(root: etree._Element, *, max_depth: int, max_elements: int) -> tuple[etree._Element, str] | None:
    """The first element, in document order, nested deeper than ``max_depth`` (the root is 1) or
    beyond the first ``max_elements``, and which limit it passes; None when the tree keeps to both.
    Each element is visited once, and none after the first one past a limit."""
    seen = 0
    # Iterators, not lists of children: an element with 200,000 children costs nothing until visited.
    todo: list[Iterator[etree._Element]] = [iter((root,))]
    while todo:
        el = next(todo[-1], None)
        if el is None:
            todo.pop()
            continue
        seen += 1
        if len(todo) > max_depth:
            return el, f"elements nested deeper than {max_depth}"
        if seen > max_elements:
            return el, f"more than {max_elements} elements"
        todo.append(iter(el))
    return None


# -- JSON --------------------------------------------------------------------------------------


class _Refused(Exception):
    """Raised by the hooks below, inside ``json.loads``; turned into a CodecError by parse_json."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                # Parsers disagree on which of the two wins: whichever we took, someone reads the other.
                raise _Refused(f"the property {shorten(key, 64)!r} appears twice in one object")
            seen.add(key)
    return found


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {shorten(text, 24)} is out of range")
    return value


def parse_json(raw: bytes, where: Where) -> Any:
    """The value of ``raw``, JSON in UTF-8; else a ``CodecError`` (400)."""
    path, kind = where
    text = _utf8(raw, where)
    try:
        return json.loads(text, object_pairs_hook=_object, parse_constant=_constant, parse_float=_float)
    except _Refused as exc:
        raise NotWellFormed(f"not valid JSON: {exc}", path=path, path_kind=kind) from None
    except RecursionError:
        raise LimitExceeded("JSON nested too deep to read", path=path, path_kind=kind) from None
    except json.JSONDecodeError as exc:
        why = f"not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        raise NotWellFormed(why, path=path, path_kind=kind) from None
    except ValueError:
        # Python refuses to turn more than 4,300 digits into an int (CVE-2020-10735).
        raise NotWellFormed("not valid JSON: a number has too many digits", path=path, path_kind=kind) from None
