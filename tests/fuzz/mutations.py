"""Hypothesis strategies that break good documents: the fixtures, mutated as bytes and as trees.

    fuzzed(docs)        one of ``docs`` with 1-3 mutations, as bytes (and the fixture it came from)
    hostile_values()    what a sender may put in a value: empty, huge, unicode, controls, numbers, dates

Byte mutations (flip, insert, delete, truncate, duplicate a slice) run on any document; tree
mutations run while the document still parses: for XML (lxml) an element deleted, duplicated,
swapped with a sibling, moved, renamed, an attribute deleted, set, added, swapped with another or
written twice, text set; for JSON a property or item deleted, duplicated, renamed, swapped,
written twice, wrapped in or unwrapped from an array, a value replaced by one of another type.
Values set this way are written into the serialised text afterwards, so they may hold what lxml
refuses to write (control characters, lone surrogates).

How long to fuzz: ``SAMVERKAN_FUZZ_EXAMPLES=5000`` runs every fuzz test with that many examples
(:func:`examples`); without it each test has its own bound, set so that the whole fuzz set takes
under 90 s on the 2-core CI machine.
"""

from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from lxml import etree

from tests.support import ALL_DOCUMENTS, FIXTURES, ROOT

__all__ = ["INTERNAL", "VENDOR", "Doc", "bounded", "examples", "fuzzed", "hostile_values", "outcome"]


def examples(bound: int) -> int:
    """``bound``, or ``SAMVERKAN_FUZZ_EXAMPLES`` when set (to fuzz longer locally)."""
    return int(os.environ.get("SAMVERKAN_FUZZ_EXAMPLES", bound))


def outcome(what: str) -> None:
    """Counts ``what`` happened to an example (``--hypothesis-show-statistics``); outside a
    Hypothesis test (the plain tests of the good fixtures) it does nothing."""
    if currently_in_test_context():
        event(what)


def bounded(max_examples: int) -> settings:
    """The loaded profile (``ci``: derandomised) with at most ``max_examples`` (see :func:`examples`).
    Mutated documents may be large and slow to draw: those health checks are not failures here."""
    return settings(
        max_examples=examples(max_examples),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )


@dataclass(frozen=True)
class Doc:
    """A good fixture: its bytes, whether it is XML or JSON, and what it was called."""

    name: str
    raw: bytes
    kind: str  # "xml" or "json"

    @classmethod
    def of(cls, path: Path) -> Doc:
        return cls(f"{path.parent.name}/{path.name}", path.read_bytes(), "json" if path.suffix == ".json" else "xml")


#: Every good internal document: one per message type, and the journeys, in XML and JSON.
INTERNAL = [Doc.of(p) for p in ALL_DOCUMENTS]
#: Every good vendor bundle, FHIR JSON and FHIR XML.
VENDOR = [Doc.of(p) for p in sorted((FIXTURES / "vendor").glob("*.*")) if p.name != "expected.json"]

_SPECIAL = [
    "",
    " ",
    "\t\n",
    "0",
    "-1",
    "1e309",
    "NaN",
    "Infinity",
    "true",
    "null",
    "[]",
    "{}",
    "2026-02-30",
    "2026-13-01",
    "0000-01-01",
    "9999-12-31",
    "2026-03-02T25:00:00+01:00",
    "2026-03-02T09:15:00",
    "2026-03-02T09:15:00Z",
    "2026-03-02T09:15:00+14:00",
    "2026-03-02T09:15:00-23:59",
    "2026-03-02T09:15:00.123456789+01:00",
    "2026",
    "2026-03",
    "191212121212",
    "19121212-1212",
    "201212121212",
    "191212721219",
    "SE2321000131-E000000000011",
    "1.2.752.129.2.1.4.1",
    "urn:uuid:",
    "urn:uuid:not-a-uuid",
    "Patient/",
    "Patient/1/_history/x",
    "#",
    "#missing",
    "http://",
    "https://samverkan.se/fhir/CodeSystem/message-type",
    "\u202e",
    "\ufeff",
    "\u00e5\u00e4\u00f6",
    "\U0001f600",
    "\x00",
    "\x1b[31m",
    "\ud800",
    "\uffff",
    "a" * 1000,
    "<x/>",
    "&amp;",
    "]]>",
    "${jndi:ldap://x}",
    "' OR 1=1 --",
]


def _enumerations() -> list[str]:
    """Every code the internal schema enumerates: a valid code in the wrong place gets past the XSD."""
    xsd = etree.parse(str(ROOT / "adapter" / "codec" / "schemas" / "samverkan-message-1.xsd"))
    return sorted({str(v) for v in xsd.xpath("//*[local-name()='enumeration']/@value")})


#: Values of the right form for some field, valid or just beside it (a check digit, a day off).
_PLAUSIBLE = st.one_of(
    st.sampled_from(_enumerations()),
    st.dates(min_value=date(1890, 1, 1), max_value=date(2100, 12, 31)).map(str),
    st.datetimes(min_value=datetime(1890, 1, 1), max_value=datetime(2100, 12, 31)).map(lambda d: d.isoformat() + "+01:00"),
    st.integers(0, 10**12 - 1).map(lambda n: f"19{n:010d}"),
    st.integers(0, 999).map(lambda n: f"SE2321000131-E000000000{n:03d}"),
    st.uuids().map(str),
    st.from_regex(r"[A-Z][0-9]{2}(\.?[0-9A-Z]{1,4})?", fullmatch=True),
    st.from_regex(r"[0-9]{4,5}", fullmatch=True),
    st.sampled_from(["true", "false", "0", "1", "15", "45", "-5"]),
)


def hostile_values() -> st.SearchStrategy[str]:
    """Strings for values: of the right form for some field (two in five), the special cases
    above, any text, numbers, dates and times in and out of range, and huge ones. One in five may
    hold what neither XML nor FHIR can carry (controls, lone surrogates, U+FFFF): those stop at
    the parser, so the others are drawn more often."""
    printable = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs"), exclude_characters="\ufffe\uffff")
    carried = st.one_of(
        st.sampled_from([v for v in _SPECIAL if v.isprintable() or not v]),
        st.text(alphabet=printable, max_size=20),
        st.integers().map(str),
        st.floats().map(str),
        st.dates().map(str),
        st.datetimes(timezones=st.timezones() | st.none()).map(lambda d: d.isoformat()),
        st.integers(min_value=1_000, max_value=120_000).map(lambda n: "9" * n),
    )
    uncarried = st.one_of(
        st.sampled_from([v for v in _SPECIAL if v and not v.isprintable()]),
        st.text(max_size=20),
        st.text(alphabet=st.characters(categories=["Cc", "Cs", "Zl", "Zp", "Cf"]), min_size=1, max_size=4),
    )
    return st.one_of(_PLAUSIBLE, _PLAUSIBLE, carried, carried, uncarried)


_INTERESTING_BYTES = [
    b"<",
    b">",
    b"/>",
    b"&",
    b'"',
    b"'",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\\",
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\xef\xbb\xbf",
    b"<!DOCTYPE x>",
    b'<!ENTITY e "x">',
    b"&e;",
    b"&#0;",
    b"&#x1F600;",
    b"]]>",
    b"<![CDATA[x]]>",
    b"<?pi x?>",
    b"<!-- c -->",
    b"null",
    b"NaN",
    b"-Infinity",
    b"1e999",
    b"\\u0000",
    b"\\ud800",
    b'"":',
]


#: How many mutations: one most often (it gets furthest), up to three.
_FEW = st.sampled_from([1, 1, 1, 2, 3])


def _byte_mutation(draw: st.DrawFn, raw: bytes) -> bytes:
    size = len(raw)

    def anywhere(upto: int) -> int:
        # Hypothesis favours small integers: spread positions over the whole document instead.
        return draw(st.integers(0, 2**32 - 1)) % upto

    op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate"]))
    if size == 0:
        op = "insert"
    if op == "flip":
        at = anywhere(size)
        return raw[:at] + bytes([raw[at] ^ (1 << draw(st.integers(0, 7)))]) + raw[at + 1 :]
    if op == "insert":
        at = anywhere(size + 1)
        return raw[:at] + draw(st.sampled_from(_INTERESTING_BYTES) | st.binary(min_size=1, max_size=8)) + raw[at:]
    if op == "delete":
        at = anywhere(size)
        return raw[:at] + raw[at + draw(st.integers(1, 64)) :]
    if op == "truncate":
        return raw[: anywhere(size)]
    at, length, to = anywhere(size), draw(st.integers(1, 256)), anywhere(size + 1)
    return raw[:to] + raw[at : at + length] + raw[to:]


class _Values:
    """Values chosen for a tree mutation, written into the text after serialisation by placeholder."""

    def __init__(self) -> None:
        self.chosen: dict[str, str] = {}

    def placeholder(self, value: str) -> str:
        token = f"FUZZVALUE{len(self.chosen)}X"
        self.chosen[token] = value
        return token


def _xml_escape(value: str, raw: bool) -> str:
    # Markup characters are escaped unless ``raw`` (then the document may no longer be well-formed: also a case).
    return value if raw else value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")


def _xml_mutation(draw: st.DrawFn, root: etree._Element, values: _Values) -> None:
    elements = [e for e in root.iter() if isinstance(e.tag, str)]
    el = draw(st.sampled_from(elements))
    parent = el.getparent()
    op = draw(
        st.sampled_from(
            # Values most often: a document with one wrong value gets furthest, to the checks and the mapping.
            ["delete", "duplicate", "swap", "move", "rename", "drop-attribute", "add-attribute", "swap-attributes", "set-text"]
            + ["set-attribute"] * 4
        )
    )
    if op in ("delete", "duplicate", "swap") and parent is None:
        op = "set-attribute"
    if op == "delete":
        assert parent is not None
        parent.remove(el)
    elif op == "duplicate":
        assert parent is not None
        parent.insert(parent.index(el) + 1, copy.deepcopy(el))
    elif op == "swap":
        assert parent is not None
        other = draw(st.sampled_from(list(parent)))
        i, j = parent.index(el), parent.index(other)
        if i != j:
            parent.remove(el)
            parent.insert(j, el)
            parent.remove(other)
            parent.insert(i, other)
    elif op == "move":
        targets = [e for e in elements if e is not el and el not in e.iterancestors()]
        if parent is not None and targets:
            target = draw(st.sampled_from(targets))
            target.append(el)
    elif op == "rename":
        unknown = etree.QName(etree.QName(el).namespace, "Unknown").text
        el.tag = draw(st.sampled_from(sorted({str(e.tag) for e in elements} | {unknown})))
    elif op == "swap-attributes" and len(el.attrib) > 1:
        names = sorted(el.attrib)
        first, second = draw(st.sampled_from(names)), draw(st.sampled_from(names))
        el.attrib[first], el.attrib[second] = el.attrib[second], el.attrib[first]
    elif op == "drop-attribute" and el.attrib:
        del el.attrib[draw(st.sampled_from(sorted(el.attrib)))]
    elif op in ("set-attribute", "drop-attribute") and el.attrib:
        name = draw(st.sampled_from(sorted(el.attrib)))
        el.set(name, values.placeholder(draw(_value_or_neighbour(root))))
    elif op == "add-attribute" or op in ("set-attribute", "drop-attribute"):
        names = sorted({n for e in elements for n in e.attrib} | {"unknown", "value", "id"})
        el.set(draw(st.sampled_from(names)), values.placeholder(draw(_value_or_neighbour(root))))
    else:
        el.text = values.placeholder(draw(_value_or_neighbour(root)))


def _value_or_neighbour(root: etree._Element) -> st.SearchStrategy[str]:
    """A hostile value, or a value from elsewhere in the same document (a date where an id was)."""
    found = sorted({v for e in root.iter() if isinstance(e.tag, str) for v in e.attrib.values()})
    return hostile_values() | st.sampled_from(found) if found else hostile_values()


def _xml_tree_mutation(draw: st.DrawFn, raw: bytes) -> bytes | None:
    try:
        root = etree.fromstring(raw, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    except etree.XMLSyntaxError:
        return None
    values = _Values()
    for _ in range(draw(_FEW)):
        _xml_mutation(draw, root, values)
    text = etree.tostring(root, encoding="unicode")
    escape_raw = draw(st.integers(0, 9)) == 0
    for token, value in values.chosen.items():
        text = text.replace(token, _xml_escape(value, escape_raw))
    head = draw(st.sampled_from(["", "<?xml version='1.0' encoding='UTF-8'?>\n", '<?xml version="1.0"?>\n']))
    return _twice(draw, head + text, _XML_ATTRIBUTE).encode("utf-8", errors="surrogatepass")


#: An attribute, and a JSON property with a scalar value, as text.
_XML_ATTRIBUTE = re.compile(r' [A-Za-z][\w:.-]*="[^"]*"')
_JSON_PROPERTY = re.compile(r'"[^"\\]*": ?("[^"\\]*"|-?[0-9.eE+-]+|true|false|null)')


def _twice(draw: st.DrawFn, text: str, pattern: re.Pattern[str]) -> str:
    """Now and then one attribute or property written twice (lxml and dicts cannot hold that)."""
    found = list(pattern.finditer(text)) if draw(st.integers(0, 9)) == 0 else []
    if not found:
        return text
    match = found[draw(st.integers(0, 2**32 - 1)) % len(found)]
    separator = "" if pattern is _XML_ATTRIBUTE else ", "
    return text[: match.end()] + separator + match.group() + text[match.end() :]


#: JSON values of every type, to swap for what was there.
_JSON_SWAPS: list[Any] = [None, True, False, 0, -1, 1.5, 1e308, float("nan"), "", "x", [], {}, [None], {"": None}]


def _json_paths(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [at]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _json_paths(v, (*at, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _json_paths(v, (*at, i))
    return out


def _json_get(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _json_value(draw: st.DrawFn, doc: Any, current: Any) -> Any:
    kind = draw(st.sampled_from(["swap", "string", "neighbour", "wrap", "unwrap", "stringify"]))
    if kind == "swap":
        return copy.deepcopy(draw(st.sampled_from(_JSON_SWAPS)))
    if kind == "string":
        return draw(hostile_values())
    if kind == "neighbour":
        return copy.deepcopy(_json_get(doc, draw(st.sampled_from(_json_paths(doc)))))
    if kind == "wrap":
        return [current]
    if kind == "unwrap":
        if isinstance(current, list):
            return current[0] if current else None
        if isinstance(current, dict):
            return next(iter(current.values()), None)
        return current
    return json.dumps(current) if not isinstance(current, str) else {"value": current}


def _json_mutation(draw: st.DrawFn, doc: Any) -> Any:
    path = draw(st.sampled_from(_json_paths(doc)))
    if not path:
        return _json_value(draw, doc, doc)
    parent, last = _json_get(doc, path[:-1]), path[-1]
    # Values most often, as for XML.
    op = draw(st.sampled_from(["delete", "duplicate", "rename", "swap-siblings", "add", *["replace"] * 4]))
    if op == "delete":
        del parent[last]
    elif op == "duplicate":
        if isinstance(parent, list):
            parent.insert(last, copy.deepcopy(parent[last]))
        else:
            parent[last + "_"] = copy.deepcopy(parent[last])
    elif op == "rename" and isinstance(parent, dict):
        names = sorted({p[-1] for p in _json_paths(doc) if p and isinstance(p[-1], str)} | {"unknown", "resourceType"})
        new = draw(st.sampled_from(names))
        parent[new] = parent.pop(last)
    elif op == "swap-siblings" and len(parent) > 1:
        keys = list(parent) if isinstance(parent, dict) else list(range(len(parent)))
        other = draw(st.sampled_from(keys))
        parent[last], parent[other] = parent[other], parent[last]
    elif op == "add" and isinstance(parent, dict):
        parent[draw(st.sampled_from(["unknown", "id", "extension", "resourceType", "value", "_value"]))] = _json_value(
            draw, doc, parent[last]
        )
    else:
        parent[last] = _json_value(draw, doc, parent[last])
    return doc


def _json_tree_mutation(draw: st.DrawFn, raw: bytes) -> bytes | None:
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    for _ in range(draw(_FEW)):
        doc = _json_mutation(draw, doc)
    text = json.dumps(doc, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 1])))
    return _twice(draw, text, _JSON_PROPERTY).encode("utf-8", errors="surrogatepass")


@st.composite
def _mutate(draw: st.DrawFn, doc: Doc) -> bytes:
    raw = doc.raw
    for _ in range(draw(_FEW)):
        tree = draw(st.integers(0, 7)) > 0  # mostly tree mutations: they get past the parser
        mutated = None
        if tree:
            mutated = (_xml_tree_mutation if doc.kind == "xml" else _json_tree_mutation)(draw, raw)
        raw = mutated if mutated is not None else _byte_mutation(draw, raw)
    return raw


def fuzzed(docs: list[Doc]) -> st.SearchStrategy[tuple[Doc, bytes]]:
    """A fixture of ``docs`` and its bytes after 1-3 rounds of mutation."""
    return st.sampled_from(docs).flatmap(lambda doc: st.tuples(st.just(doc), _mutate(doc)))
