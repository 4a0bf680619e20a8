"""The ``Body`` element and :class:`mappings.model.Body`, both ways, from one table.

Each body part is one row of :data:`PARTS`: the model field, the element, and its form:

    attr   an element with one attribute carrying the value  <DischargeReady date="2026-03-05"/>
    attrs  the same, repeated                                 <Criterion code="barn-i-hemmet"/>
    text   an element whose text is the value                 <Note>...</Note>
    obj    an element whose attributes are a record's fields  <Meeting start="..." mode="video"/>
    objs   the same, repeated                                 <Invitee hsaId="..." kind="kommun"/>

Attribute names are the record's field names in camelCase (``planned_start`` -> ``plannedStart``);
values are converted by the field's type. The XSD has checked forms before this runs; a value
XSD accepts but Python cannot hold (a date with a zone, year 0) is an ``InvalidValue`` naming
the attribute.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from functools import cache
from typing import Any, Literal

from lxml import etree

from mappings.errors import InvalidValue
from mappings.fhir import within_years
from mappings.model import Body

from .xsd_layout import NS

__all__ = ["PARTS", "Part", "body_from", "camel", "part_path", "write_body"]

_Q = f"{{{NS}}}"


@dataclass(frozen=True, slots=True)
class Part:
    field: str
    element: str
    form: Literal["attr", "attrs", "text", "obj", "objs"]
    attr: str | None = None


PARTS: tuple[Part, ...] = (
    Part("preliminary_discharge_ready", "PreliminaryDischargeReady", "attr", "date"),
    Part("discharge_ready", "DischargeReady", "attr", "date"),
    Part("withdrawal", "Withdrawal", "attr", "date"),
    Part("reason", "Reason", "obj"),
    Part("function", "Function", "text"),
    Part("services", "Service", "objs"),
    Part("subject", "Subject", "attr", "code"),
    Part("care_contacts", "CareContact", "objs"),
    Part("meeting", "Meeting", "obj"),
    Part("invitees", "Invitee", "objs"),
    Part("acknowledges", "Acknowledges", "attr", "messageId"),
    Part("discharged", "Discharge", "attr", "time"),
    Part("hemgangsklar", "Hemgangsklar", "obj"),
    Part("medication_list", "MedicationList", "attr", "ref"),
    Part("home_visit", "HomeVisit", "obj"),
    Part("referral", "Referral", "obj"),
    Part("criteria", "Criterion", "attrs", "code"),
    Part("diagnoses", "Diagnosis", "objs"),
    Part("provider", "Provider", "obj"),
    Part("decision", "Decision", "obj"),
    Part("plan", "Plan", "obj"),
    Part("coordinator", "Coordinator", "obj"),
    Part("participants", "Participant", "objs"),
    Part("next_of_kin", "NextOfKin", "objs"),
    Part("actions", "Action", "objs"),
    Part("self_care", "SelfCareAssessment", "obj"),
    Part("consent", "Consent", "obj"),
    Part("note", "Note", "text"),
)
BY_FIELD = {p.field: p for p in PARTS}


def camel(name: str) -> str:
    """``planned_start`` -> ``plannedStart``; ``hsa_id`` -> ``hsaId``.

    >>> camel("information_transferred")
    'informationTransferred'
    """
    first, *rest = name.split("_")
    return first + "".join(w.capitalize() for w in rest)


def part_path(field: str, index: int | None = None, attr: str | None = None) -> str:
    """The XPath of a body part (``index`` counts from 0 and is shown when given).

    >>> part_path("invitees", 1, "hsa_id")
    '/Message/Body/Invitee[2]/@hsaId'
    """
    part = BY_FIELD[field]
    path = f"/Message/Body/{part.element}" + (f"[{index + 1}]" if index is not None else "")
    if attr is not None:
        return f"{path}/@{camel(attr)}"
    if part.attr is not None:
        return f"{path}/@{part.attr}"
    return path


def _unwrap(hint: Any) -> Any:
    """``X | None`` -> ``X``; ``tuple[X, ...]`` -> ``X``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(hint) if a is not type(None))
    if origin is tuple:
        return typing.get_args(hint)[0]
    return hint


@cache
def _hints(cls: type) -> dict[str, Any]:
    return {k: _unwrap(v) for k, v in typing.get_type_hints(cls).items()}


def _convert(raw: str, kind: Any, path: str) -> Any:
    try:
        if kind is str:
            return raw
        if kind is bool:
            return raw.strip() in ("true", "1")
        if kind is int:
            return int(raw)
        if kind is datetime:
            return within_years(datetime.fromisoformat(raw.strip().replace("Z", "+00:00")), path, "xpath")
        if kind is date:
            return within_years(date.fromisoformat(raw.strip()), path, "xpath")
        if isinstance(kind, type) and issubclass(kind, Enum):
            return kind(raw.strip())
    except ValueError:
        raise InvalidValue("a value of this form is not supported here", path=path) from None
    raise TypeError(f"no conversion for {kind!r}")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


@cache
def _attributes(cls: type) -> tuple[tuple[str, str, Any], ...]:
    """(field, attribute, type) of each field of a record."""
    return tuple((name, camel(name), kind) for name, kind in _hints(cls).items())


def _record(el: etree._Element, cls: type, path: str) -> Any:
    values = {}
    for name, attr, kind in _attributes(cls):
        raw = el.get(attr)
        if raw is not None:
            values[name] = _convert(raw, kind, f"{path}/@{attr}")
    return cls(**values)


#: The part each child of ``Body`` is, by its tag.
_BY_TAG = {_Q + p.element: p for p in PARTS}


def _part_value(part: Part, el: etree._Element, kind: Any, path: str) -> Any:
    if part.form in ("attr", "attrs"):
        assert part.attr is not None
        return _convert(el.get(part.attr, ""), kind, f"{path}/@{part.attr}")
    if part.form == "text":
        return el.text or ""
    return _record(el, kind, path)


def body_from(body: etree._Element) -> Body:
    """The model of a schema-valid ``Body`` element, read in one pass over its children (the
    schema has them in the order of :data:`PARTS`, each part's elements together)."""
    found: dict[str, list[etree._Element]] = {}
    for el in body:
        found.setdefault(el.tag, []).append(el)
    hints = _hints(Body)
    values: dict[str, Any] = {}
    for tag, els in found.items():
        part = _BY_TAG[tag]
        items = [
            _part_value(part, el, hints[part.field], f"/Message/Body/{part.element}" + (f"[{i + 1}]" if len(els) > 1 else ""))
            for i, el in enumerate(els)
        ]
        values[part.field] = tuple(items) if part.form in ("attrs", "objs") else items[0]
    return Body(**values)


def write_body(parent: etree._Element, body: Body) -> None:
    """Appends the parts of ``body`` to ``parent`` (a ``Body`` element), in the schema's order."""
    for part in PARTS:
        value = getattr(body, part.field)
        if value is None or value == ():
            continue
        for item in value if part.form in ("attrs", "objs") else (value,):
            el = etree.SubElement(parent, _Q + part.element)
            if part.form in ("attr", "attrs"):
                assert part.attr is not None
                el.set(part.attr, _text(item))
            elif part.form == "text":
                el.text = item
            else:
                for f in dataclasses.fields(item):
                    v = getattr(item, f.name)
                    if v is not None:
                        el.set(camel(f.name), _text(v))
