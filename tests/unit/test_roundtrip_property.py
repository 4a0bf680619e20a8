"""Property tests: every generated message of every type survives XML, JSON and FHIR, equal.

CI runs a fixed profile of at least 200 examples per type (see tests/conftest.py).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import given, settings
from hypothesis import strategies as st

from adapter import codec
from adapter.relay import bundle_of
from mappings import from_fhir, to_bundle
from mappings.model import MessageType
from tests.strategies import messages


@pytest.mark.parametrize("mtype", list(MessageType), ids=str)
@settings(max_examples=200)
@given(data=st.data())
def test_every_type_round_trips_through_xml_json_and_fhir(mtype: MessageType, data: st.DataObject) -> None:
    message = data.draw(messages(mtype))
    # internal XML -> model
    assert codec.decode(codec.encode_xml(message), "application/xml") == message
    # internal JSON -> model
    raw = json.dumps(codec.encode_json(message), ensure_ascii=False).encode()
    assert codec.decode(raw, "application/json") == message
    # model -> FHIR (as the JSON text HAPI receives) -> model
    bundle = json.loads(json.dumps(to_bundle(message)))
    assert from_fhir(bundle) == message
    # and from what the relay sends: the mapping with the acknowledgement Tasks and the AuditEvent
    recorded = data.draw(st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)))
    assert from_fhir(json.loads(json.dumps(bundle_of(message, recorded=recorded)))) == message


@pytest.mark.parametrize("mtype", list(MessageType), ids=str)
@settings(max_examples=25)
@given(data=st.data())
def test_every_type_makes_valid_fhir_r4(mtype: MessageType, data: st.DataObject) -> None:
    recorded = data.draw(st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)))
    bundle = json.loads(json.dumps(bundle_of(data.draw(messages(mtype)), recorded=recorded)))
    get_fhir_model_class("Bundle").model_validate(bundle)
