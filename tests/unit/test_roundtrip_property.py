"""Property tests: every generated message survives XML, JSON and FHIR and comes back equal."""

from __future__ import annotations

import json

from hypothesis import given, settings

from adapter import codec
from mappings import from_fhir, to_bundle
from mappings.model import Message
from tests.strategies import inskrivningsmeddelanden

# CI runs a fixed profile of at least 200 examples per type (see tests/conftest.py).


@settings(max_examples=200)
@given(inskrivningsmeddelanden())
def test_xml_round_trip(message: Message) -> None:
    assert codec.decode(codec.encode_xml(message), "application/xml") == message


@settings(max_examples=200)
@given(inskrivningsmeddelanden())
def test_json_round_trip(message: Message) -> None:
    raw = json.dumps(codec.encode_json(message), ensure_ascii=False).encode()
    assert codec.decode(raw, "application/json") == message


@settings(max_examples=200)
@given(inskrivningsmeddelanden())
def test_fhir_round_trip(message: Message) -> None:
    assert from_fhir(to_bundle(message)) == message


@settings(max_examples=200)
@given(inskrivningsmeddelanden())
def test_bundle_from_the_wire_maps_back(message: Message) -> None:
    # What HAPI receives is JSON text: the round trip holds through serialisation too.
    bundle = json.loads(json.dumps(to_bundle(message)))
    assert from_fhir(bundle) == message
