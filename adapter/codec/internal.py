"""Reading and writing internal messages, XML or JSON, safely.

    decode(raw, content_type) -> Message      the door: size, parse, XSD, domain checks
    encode_xml(message) -> bytes              canonical XML of a message
    encode_json(message) -> dict              the JSON mirror of the same

Both forms are parsed by ``adapter.codec.safe_parse``: UTF-8 only, any DOCTYPE, entity declaration or
processing instruction refused outright (an internal message never needs one, and refusing it
closes the door on external entities and entity expansion, "billion laughs"), no property twice
in a JSON object, and nesting and element count within ``Limits``. JSON is turned into the same
XML tree (children ordered as the XSD says), so both forms pass the one schema and the one set
of checks. Every error names the element as an XPath without namespace prefixes, and never
quotes the offending value: it may be a personnummer, or a megabyte long.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import Any

from lxml import etree

from adapter.config import Limits
from adapter.observability import redact
from mappings.errors import (
    DocumentTooLarge,
    InvalidValue,
    LimitExceeded,
    MissingElement,
    SchemaViolation,
    UnsupportedMediaType,
)
from mappings.fhir import within_years
from mappings.identifiers import check_personal_number, is_valid_hsa_id
from mappings.model import (
    Body,
    CareEpisode,
    CareType,
    Message,
    MessageType,
    Party,
    PartyKind,
    Patient,
    PatientIdKind,
)

from .body_xml import body_from, write_body
from .checks import check, check_sender
from .safe_parse import Where, check_charset, over_limits, parse_json, parse_xml, shorten
from .xsd_layout import NS, Node, layout, schema

__all__ = ["DEFAULT_LIMITS", "decode", "decode_json", "decode_xml", "encode_json", "encode_xml", "media_kind"]

_Q = f"{{{NS}}}"


#: The limits of the default settings, for callers that have no settings at hand.
DEFAULT_LIMITS = Limits()
_ROOT: Where = ("/", "xpath")


def media_kind(content_type: str | None) -> str:
    """``"xml"`` or ``"json"`` from a Content-Type; anything else, or a charset other than
    UTF-8, is refused (415)."""
    mime = (content_type or "").split(";")[0].strip().lower()
    if mime in ("application/xml", "text/xml") or (mime.startswith("application/") and mime.endswith("+xml")):
        kind = "xml"
    elif mime == "application/json" or (mime.startswith("application/") and mime.endswith("+json")):
        kind = "json"
    else:
        raise UnsupportedMediaType("send application/xml or application/json", path="/")
    check_charset(content_type, _ROOT)
    return kind


def decode(raw: bytes, content_type: str | None, *, limits: Limits = DEFAULT_LIMITS) -> Message:
    """The message in ``raw``, or a ``SamverkanError`` naming what is wrong and where."""
    kind = media_kind(content_type)
    if len(raw) > limits.max_bytes:
        raise DocumentTooLarge(f"the document is larger than {limits.max_bytes} bytes", path="/")
    message = decode_xml(raw, limits=limits) if kind == "xml" else decode_json(raw, limits=limits)
    _digits_written_plainly(raw, message)
    return message


# A digit, "-" or "+" written as an XML character reference (&#49; &#x31;) or a JSON escape (\u0031).
# None of them ever needs one; written so, an identity number would pass the parser as itself but
# escape the masking of the stored document (which reads its bytes) and the journal's searches.
_ESCAPED_DIGIT = re.compile(rb"&#(?:0*(?:4[358]|49|5[0-7])|[xX]0*(?:2[bBdD]|3[0-9]));|\\u00(?:2[bBdD]|3[0-9])")


def _digits_written_plainly(raw: bytes, message: Message) -> None:
    """Refuses a document that writes a digit, "-" or "+" as a character reference or an escape,
    naming the patient's identity number when that is where it is."""
    if (b"&#" not in raw and b"\\u" not in raw) or _ESCAPED_DIGIT.search(raw) is None:
        return  # the first test, for what every escape starts with, spares most documents the regex
    kind = message.patient.id_kind.value
    # The identity number's value as written: name="..." in XML, "name": "..." in JSON.
    written = re.search(rb'"?' + kind.encode() + rb'"?\s*[=:]\s*"([^"]*)"', raw)
    in_number = written is not None and _ESCAPED_DIGIT.search(written.group(1)) is not None
    raise InvalidValue(
        "write digits, - and + as themselves, not as character references or escapes: identity numbers are masked as written",
        path=f"/Message/Patient/@{kind}" if in_number else "/Message",
    )


# -- XML ---------------------------------------------------------------------------------------


def decode_xml(raw: bytes, *, limits: Limits = DEFAULT_LIMITS) -> Message:
    root = parse_xml(raw, _ROOT)
    if (over := over_limits(root, max_depth=limits.max_depth, max_elements=limits.max_elements)) is not None:
        el, why = over
        raise LimitExceeded(why, path=_path(el))
    return _read(root)


# -- JSON --------------------------------------------------------------------------------------


def decode_json(raw: bytes, *, limits: Limits = DEFAULT_LIMITS) -> Message:
    doc = parse_json(raw, _ROOT)
    if not isinstance(doc, dict) or list(doc) != ["Message"]:
        raise SchemaViolation('the document must be an object with the one property "Message"', path="/")
    # The root declares the namespace as default, as a document would, so XPaths have no prefix.
    nsmap: Any = {None: NS}
    root = etree.Element(_Q + "Message", nsmap=nsmap)
    _json_into(root, doc["Message"], layout(), "/Message", 1, _Budget(limits))
    return _read(root)


class _Budget:
    """What is left of the limits while a JSON document becomes elements."""

    def __init__(self, limits: Limits):
        self.max_depth = limits.max_depth
        self.max_elements = limits.max_elements
        self.elements = 0

    def take(self, depth: int, path: str) -> None:
        self.elements += 1
        if depth > self.max_depth:
            raise LimitExceeded(f"JSON nested deeper than {self.max_depth} elements", path=path)
        if self.elements > self.max_elements:
            raise LimitExceeded(f"more than {self.max_elements} elements", path=path)


#: Anything outside XML 1.0's Char production (controls, surrogates, U+FFFE and U+FFFF).
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _json_scalar(value: Any, xsd_type: str, path: str, attr: str | None) -> str:
    """The text of a JSON scalar: the value of attribute ``attr`` of the element at ``path`` (its text when None)."""
    if isinstance(value, str):
        if (bad := _NOT_XML_CHAR.search(value)) is None:
            return value
        # The JSON form carries what the XML form can: the same document must be writable as XML.
        why = f"contains U+{ord(bad.group()):04X}, a character XML 1.0 does not allow"
    elif isinstance(value, bool):
        if xsd_type == "xs:boolean":
            return "true" if value else "false"
        why = "a boolean is not allowed here"
    elif isinstance(value, int | float) and xsd_type != "xs:boolean":
        return str(value)
    else:
        why = "must be a string" if xsd_type != "xs:boolean" else "must be a boolean"
    raise SchemaViolation(why, path=f"{path}/@{attr}" if attr is not None else f"{path}/text()")


def _json_into(el: etree._Element, obj: Any, node: Node, path: str, depth: int, budget: _Budget) -> None:
    """Gives ``el`` (an element of ``node``, at ``path``) the attributes, text and children of the
    JSON object ``obj``; its children are made in place, in schema order."""
    budget.take(depth, path)
    if not isinstance(obj, dict):
        raise SchemaViolation("must be an object", path=path)
    for key, value in obj.items():
        if key == "text" and node.text:
            el.text = _json_scalar(value, "xs:string", path, None)
        elif key in node.attributes:
            el.set(key, _json_scalar(value, node.attributes[key], path, key))
        elif key not in node.children:
            # A name is the sender's to choose, also a megabyte long one: cut in the text and the path.
            raise SchemaViolation(f"unknown property {shorten(key, 64)!r}", path=f"{path}/{shorten(key, 64)}")
    for child_name, child in node.children.items():
        if child_name not in obj:
            continue
        value = obj[child_name]
        if isinstance(value, list):
            if child_name not in node.repeats:
                raise SchemaViolation("must be an object, not an array", path=f"{path}/{child_name}")
            for i, item in enumerate(value, 1):
                _json_into(etree.SubElement(el, _Q + child_name), item, child, f"{path}/{child_name}[{i}]", depth + 1, budget)
        else:
            _json_into(etree.SubElement(el, _Q + child_name), value, child, f"{path}/{child_name}", depth + 1, budget)


# -- from the checked tree to the model --------------------------------------------------------

_ATTR_RE = re.compile(r"attribute '([A-Za-z]+)'")


def _path(el: etree._Element, attr: str | None = None) -> str:
    """``/Message/Recipient[2]/@hsaId``: names without prefixes, an index where one repeats."""
    steps = []
    node: etree._Element | None = el
    while node is not None:
        local = etree.QName(node).localname
        # Siblings of the same name, counted in C: an element may have 200,000 of them.
        before = sum(1 for _ in node.itersiblings(node.tag, preceding=True))
        repeats = before > 0 or next(node.itersiblings(node.tag), None) is not None
        steps.append(f"{local}[{before + 1}]" if repeats else local)
        node = node.getparent()
    path = "/" + "/".join(reversed(steps))
    return f"{path}/@{attr}" if attr else path


def _validate(root: etree._Element) -> None:
    if root.tag != _Q + "Message":
        raise SchemaViolation(f"the root element must be Message in namespace {NS}", path="/")
    xsd = schema()
    if xsd.validate(root):
        return
    errors: Any = xsd.error_log
    err = errors[0]  # the first error is the one a sender fixes first
    try:
        found = root.getroottree().xpath(err.path) if err.path else []
    except etree.XPathError:
        found = []
    el = found[0] if isinstance(found, list) and found and isinstance(found[0], etree._Element) else root
    attr = _ATTR_RE.search(err.message)
    # lxml's text names the element in Clark notation; ours names it by path instead.
    detail = re.sub(r"^Element '[^']*'(, attribute '[^']*')?: ", "", err.message)
    if "\\p{Z}" in detail:  # NonEmptyT's pattern: say what it means, not the regex
        detail = "must hold text, not only whitespace"
    raise SchemaViolation(shorten(redact(_without_value(detail))), path=_path(el, attr.group(1) if attr else None))


#: Where libxml2's schema errors quote the value: ``The value 'x' is not accepted by...``, ``...
#: is greater than...``, ``... has a length...`` and ``'x' is not a valid value of...``. The
#: value may be a personnummer, or a megabyte of text.
_QUOTED_VALUE = re.compile(r"The value '.*'(?= (?:is|has|does) )|^'.*'(?= is not a valid value)", re.S)


def _without_value(detail: str) -> str:
    """libxml2's schema error without the value it quotes (libxml2 cuts a long message short, so
    what follows the value may be gone too).

    >>> _without_value("[facet 'pattern'] The value '19121212' is not accepted by the pattern '[0-9]{4}'.")
    "[facet 'pattern'] The value is not accepted by the pattern '[0-9]{4}'."
    >>> _without_value("'2026-13-01' is not a valid value of the atomic type 'xs:date'.")
    "The value is not a valid value of the atomic type 'xs:date'."
    >>> _without_value("[facet 'maxLength'] The value 'TTTTTTTT")
    "[facet 'maxLength'] The value breaks this facet."
    """
    shown, found = _QUOTED_VALUE.subn("The value", detail, count=1)
    if found:
        return shown
    if (cut := detail.find("The value '")) >= 0:
        return detail[:cut] + "The value breaks this facet."
    return "The value is not valid here." if detail.startswith("'") else detail


def _dt(value: str, path: str) -> datetime:
    # XSD has checked the form and that an offset is present.
    return within_years(datetime.fromisoformat(value.replace("Z", "+00:00")), path, "xpath")


def _bool(value: str | None) -> bool | None:
    return None if value is None else value in ("true", "1")


def _party(el: etree._Element) -> Party:
    hsa = el.get("hsaId", "")
    if not is_valid_hsa_id(hsa):
        raise InvalidValue("not an HSA-id (e.g. SE2321000131-E000000000001)", path=_path(el, "hsaId"))
    return Party(hsa_id=hsa, kind=PartyKind(el.get("kind", "")), name=el.get("name"))


#: The kinds of a patient's identity number, each with the attribute that carries it.
_ID_KINDS = tuple((kind, kind.value) for kind in PatientIdKind)


def _patient(el: etree._Element) -> Patient:
    given = [kind for kind, attr in _ID_KINDS if el.get(attr) is not None]
    if not given:
        raise MissingElement("the patient needs one of personnummer, samordningsnummer, reservnummer", path=_path(el))
    if len(given) > 1:
        raise InvalidValue("the patient has more than one of personnummer, samordningsnummer, reservnummer", path=_path(el))
    kind = given[0]
    value = el.get(kind.value, "")
    if kind is not PatientIdKind.RESERVNUMMER:
        why = check_personal_number(value, samordning=kind is PatientIdKind.SAMORDNINGSNUMMER)
        if why is not None:
            raise InvalidValue(f"{kind.value} {why}", path=_path(el, kind.value))
    parts = {child.tag: child for child in el}  # each at most once (the XSD); one pass, not a find() per name
    name = parts.get(_Q + "Name")
    folk = parts.get(_Q + "Folkbokforing")
    return Patient(
        id_kind=kind,
        id_value=value,
        family=None if name is None else name.get("family"),
        given=None if name is None else name.get("given"),
        kommunkod=None if folk is None else folk.get("kommunkod"),
        postnummer=None if folk is None else folk.get("postnummer"),
    )


def _episode(el: etree._Element, sender: Party) -> CareEpisode:
    issuer = el.get("issuer")
    if issuer is None:
        if sender.kind is not PartyKind.SLUTENVARD:
            raise MissingElement("issuer is required when the Sender is not slutenvård", path=_path(el, "issuer"))
        issuer = sender.hsa_id
    elif not is_valid_hsa_id(issuer):
        raise InvalidValue("not an HSA-id", path=_path(el, "issuer"))
    admitted = el.get("admitted")
    care = el.get("care")
    return CareEpisode(
        id=el.get("id", ""),
        issuer=issuer,
        admitted=_dt(admitted, "/Message/CareEpisode/@admitted") if admitted else None,
        care=CareType(care) if care else None,
    )


def _read(root: etree._Element) -> Message:
    _validate(root)
    mtype = MessageType(root.get("type", ""))
    sent = _dt(root.get("sent", ""), "/Message/@sent")
    # One pass over the children rather than a find() per name: all but Recipient occur once at most (the XSD).
    parts = {el.tag: el for el in root}
    sender_el = parts[_Q + "Sender"]  # the XSD requires it
    sender = _party(sender_el)
    check_sender(mtype, sender)
    recipient_els = list(root.iterchildren(_Q + "Recipient"))
    recipients = tuple(_party(r) for r in recipient_els)
    seen: set[str] = set()
    for el, r in zip(recipient_els, recipients, strict=True):
        if r.hsa_id in seen:
            raise InvalidValue("the same recipient is listed twice", path=_path(el, "hsaId"))
        seen.add(r.hsa_id)
    patient = _patient(parts[_Q + "Patient"])
    episode_el = parts.get(_Q + "CareEpisode")
    episode = None if episode_el is None else _episode(episode_el, sender)
    body = _with_issuers(body_from(parts[_Q + "Body"]), mtype, sender)
    message = Message(
        id=root.get("id", ""),
        type=mtype,
        sent=sent,
        sender=sender,
        recipients=recipients,
        patient=patient,
        body=body,
        care_episode=episode,
    )
    check(message)
    return message


def _with_issuers(body: Body, mtype: MessageType, sender: Party) -> Body:
    """A Remiss's referral and a SIP's plan are issued by the Sender unless they say otherwise."""
    if mtype is MessageType.REMISS and body.referral is not None and body.referral.issuer is None:
        body = replace(body, referral=replace(body.referral, issuer=sender.hsa_id))
    if body.plan is not None and body.plan.issuer is None:
        body = replace(body, plan=replace(body.plan, issuer=sender.hsa_id))
    return body


# -- writing -----------------------------------------------------------------------------------


def _element(message: Message) -> etree._Element:
    def sub(parent: etree._Element, tag: str, **attrs: str | None) -> etree._Element:
        el = etree.SubElement(parent, _Q + tag)
        for key, value in attrs.items():
            if value is not None:
                el.set(key, value)
        return el

    nsmap: Any = {None: NS}
    root = etree.Element(_Q + "Message", nsmap=nsmap)
    root.set("id", message.id)
    root.set("type", message.type.value)
    root.set("sent", message.sent.isoformat())
    for tag, party in (("Sender", message.sender), *(("Recipient", r) for r in message.recipients)):
        sub(root, tag, hsaId=party.hsa_id, kind=party.kind.value, name=party.name)
    p = message.patient
    patient = sub(root, "Patient", **{p.id_kind.value: p.id_value})
    if p.family is not None or p.given is not None:
        sub(patient, "Name", family=p.family, given=p.given)
    if p.kommunkod is not None or p.postnummer is not None:
        sub(patient, "Folkbokforing", kommunkod=p.kommunkod, postnummer=p.postnummer)
    ep = message.care_episode
    if ep is not None:
        sub(
            root,
            "CareEpisode",
            id=ep.id,
            issuer=ep.issuer,
            admitted=ep.admitted.isoformat() if ep.admitted else None,
            care=ep.care.value if ep.care else None,
        )
    write_body(sub(root, "Body"), message.body)
    return root


def encode_xml(message: Message) -> bytes:
    """The message as an XML document in namespace ``urn:samverkan:message:1``."""
    return bytes(etree.tostring(_element(message), xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _json_of(el: etree._Element, node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, attr in el.attrib.items():
        out[str(key)] = _bool(str(attr)) if node.attributes.get(str(key)) == "xs:boolean" else str(attr)
    if node.text and el.text is not None:
        out["text"] = el.text
    for child in el:
        name = etree.QName(child).localname
        value = _json_of(child, node.children[name])
        if name in node.repeats:
            out.setdefault(name, []).append(value)
        else:
            out[name] = value
    return out


def encode_json(message: Message) -> dict[str, Any]:
    """The JSON mirror of :func:`encode_xml`: ``{"Message": {...}}``."""
    return {"Message": _json_of(_element(message), layout())}
