"""The codecs under mutated fixtures: every document either reads as a message that maps, or is
refused with a ``SamverkanError`` that is a 4xx and names the element; nothing else is raised.

    internal XML/JSON   adapter.codec.internal.decode, then adapter.relay.message.bundle_of (the mapping)
    vendor FHIR         adapter.codec.fhir_wire.read_bundle, mappings.from_fhir and the door's checks
                        (adapter.http.routes.fhir._message), then bundle_of

To fuzz longer: ``SAMVERKAN_FUZZ_EXAMPLES=5000 HYPOTHESIS_PROFILE=dev .venv/bin/python -m pytest tests/fuzz``
(see tests/fuzz/mutations.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapter.codec import decode, read_bundle
from adapter.config import Limits
from adapter.http.routes.fhir import _message
from adapter.relay import bundle_of
from mappings.errors import DocumentTooLarge, SamverkanError, UnsupportedMediaType
from mappings.model import Message
from tests.fuzz.mutations import INTERNAL, VENDOR, Doc, bounded, fuzzed, outcome

pytestmark = pytest.mark.fuzz

LIMITS = Limits()
#: When the journal accepted the message (the AuditEvent's time).
RECORDED = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
#: Content types a sender may give, mostly the one that fits the document.
_XML_TYPES = ["application/xml", "text/xml", "application/fhir+xml"]
_JSON_TYPES = ["application/json", "application/fhir+json", "application/json; charset=utf-8"]
_OTHER_TYPES = ["text/plain", "", "application/octet-stream", "application/x-www-form-urlencoded", "application/"]


def content_types(doc: Doc) -> st.SearchStrategy[str]:
    fits = _XML_TYPES if doc.kind == "xml" else _JSON_TYPES
    other = _JSON_TYPES if doc.kind == "xml" else _XML_TYPES
    return st.sampled_from(fits) | st.sampled_from(fits) | st.sampled_from(fits) | st.sampled_from(other + _OTHER_TYPES)


def refused_well(exc: SamverkanError) -> None:
    """A refusal as the sender must get it: a 4xx naming the element (unless it is about the whole request)."""
    assert 400 <= exc.http_status < 500, f"{exc!r} is a {exc.http_status}"
    if not isinstance(exc, DocumentTooLarge | UnsupportedMediaType):
        assert exc.path, f"{exc!r} names no element"
    assert exc.code.startswith("SAMV-"), repr(exc)


def maps_or_refused(read: Callable[[], Message]) -> Message | None:
    """The message ``read`` gives, mapped to its bundle; ``None`` if refused (well)."""
    try:
        message = read()
        bundle: dict[str, Any] = bundle_of(message, recorded=RECORDED)
    except SamverkanError as exc:
        outcome(f"refused: {exc.code} ({type(exc).__name__})")
        refused_well(exc)
        return None
    outcome("mapped")
    assert bundle["resourceType"] == "Bundle"
    return message


@bounded(600)
@given(st.data())
def test_a_mutated_internal_document_maps_or_is_refused_naming_the_element(data: st.DataObject) -> None:
    doc, raw = data.draw(fuzzed(INTERNAL), label="document")
    content_type = data.draw(content_types(doc), label="content type")
    maps_or_refused(lambda: decode(raw, content_type, limits=LIMITS))


def _vendor(raw: bytes, content_type: str) -> Message:
    message, _document = _message(read_bundle(raw, content_type), LIMITS)
    return message


@bounded(400)
@given(st.data())
def test_a_mutated_vendor_bundle_maps_or_is_refused_naming_the_element(data: st.DataObject) -> None:
    doc, raw = data.draw(fuzzed(VENDOR), label="bundle")
    content_type = data.draw(content_types(doc), label="content type")
    maps_or_refused(lambda: _vendor(raw, content_type))


@pytest.mark.parametrize("doc", INTERNAL, ids=lambda d: d.name)
def test_every_good_internal_fixture_maps(doc: Doc) -> None:
    # The fuzzers start from these: a fixture that were refused would make them test nothing.
    assert maps_or_refused(lambda: decode(doc.raw, _XML_TYPES[0] if doc.kind == "xml" else _JSON_TYPES[0])) is not None


@pytest.mark.parametrize("doc", VENDOR, ids=lambda d: d.name)
def test_every_good_vendor_fixture_maps(doc: Doc) -> None:
    assert maps_or_refused(lambda: _vendor(doc.raw, "application/fhir+xml" if doc.kind == "xml" else "application/fhir+json"))
