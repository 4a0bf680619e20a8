"""The shape of the internal format, read once from its XSD.

The JSON form mirrors the XML one (docs/domain.md, "Internal messages"): to turn JSON into XML we need each element's
children in schema order, which of them repeat, its attributes and which of those are booleans.
Reading that from the XSD keeps the schema the one description of the format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources

from lxml import etree

__all__ = ["NS", "Node", "layout", "schema"]

NS = "urn:samverkan:message:1"
_XS = "{http://www.w3.org/2001/XMLSchema}"
_SCHEMA_FILE = "schemas/samverkan-message-1.xsd"


@dataclass
class Node:
    """One element of the format: its attributes, its children in order, whether it has text."""

    name: str
    attributes: dict[str, str] = field(default_factory=dict)  # name -> XSD type name
    children: dict[str, Node] = field(default_factory=dict)  # in schema order
    repeats: set[str] = field(default_factory=set)
    text: bool = False


def _schema_tree() -> etree._ElementTree:
    with resources.files("adapter.codec").joinpath(_SCHEMA_FILE).open("rb") as f:
        return etree.parse(f, etree.XMLParser(resolve_entities=False, no_network=True))


@cache
def schema() -> etree.XMLSchema:
    """The compiled XSD (compiled once: it takes milliseconds, validation microseconds)."""
    return etree.XMLSchema(_schema_tree())


@cache
def layout() -> Node:
    """The tree of :class:`Node` from ``Message`` down."""
    root = _schema_tree().getroot()
    types = {t.get("name"): t for t in root.findall(f"{_XS}complexType")}

    def build(el: etree._Element) -> Node:
        name = el.get("name", "")
        node = Node(name)
        ctype = el.find(f"{_XS}complexType")
        if ctype is None:
            tname = el.get("type", "")
            if tname not in types:
                node.text = True  # a simple type: the element's content is its text
                return node
            ctype = types[tname]
        for attr in ctype.findall(f"{_XS}attribute"):
            node.attributes[attr.get("name", "")] = attr.get("type", "xs:string")
        for child in ctype.findall(f"{_XS}sequence/{_XS}element"):
            node.children[child.get("name", "")] = build(child)
            if child.get("maxOccurs", "1") != "1":
                node.repeats.add(child.get("name", ""))
        return node

    message = root.find(f"{_XS}element[@name='Message']")
    assert message is not None, "the XSD declares no Message element"
    return build(message)
