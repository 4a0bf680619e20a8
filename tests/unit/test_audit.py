"""The AuditEvent of a relayed message (issue 9 item 5), as mappings.audit builds it and the relay
bundles it: its shape, one identity per message whatever the time, no personnummer in it, and
nothing else of the bundle changed (``from_fhir`` still gives the message back)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from adapter.relay.message import bundle_of, entries_of
from mappings import from_fhir, to_fhir
from mappings import identifiers as ids
from mappings.audit import ADAPTER, audit_entry, audit_query
from mappings.bundle import transaction
from tests.support import ALL_DOCUMENTS, INSKRIVNING, MESSAGES, load

from .test_mapping import _check_rules

ACCEPTED = datetime(2026, 3, 2, 8, 15, 0, 123456, tzinfo=UTC)


def _event(bundle: dict[str, Any]) -> dict[str, Any]:
    events = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "AuditEvent"]
    assert len(events) == 1
    found: dict[str, Any] = events[0]
    return found


def _url_of(bundle: dict[str, Any], resource_type: str, system: str, value: str) -> str:
    return str(
        next(
            e["fullUrl"]
            for e in bundle["entry"]
            if e["resource"]["resourceType"] == resource_type
            and {"system": system, "value": value} in e["resource"]["identifier"]
        )
    )


def test_the_audit_event_records_the_relay_of_the_message_by_its_sender_about_its_patient() -> None:
    message = load(INSKRIVNING)
    bundle = bundle_of(message, recorded=ACCEPTED)
    entry = _event(bundle)
    assert entry is bundle["entry"][-1], "the AuditEvent comes last"
    event = entry["resource"]
    assert event["meta"]["profile"] == [ids.profile_url("AuditEvent")]
    assert event["type"] == {
        "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
        "code": "rest",
        "display": "RESTful Operation",
    }
    assert [(c["system"], c["code"]) for c in event["subtype"]] == [("http://hl7.org/fhir/restful-interaction", "transaction")]
    assert (event["action"], event["outcome"]) == ("C", "0")
    assert event["recorded"] == "2026-03-02T08:15:00.123+00:00"

    sender, adapter = event["agent"]
    assert sender["requestor"] is True and adapter["requestor"] is False
    assert sender["who"] == {
        "reference": _url_of(bundle, "Organization", ids.HSA_ID, message.sender.hsa_id),
        "identifier": {"system": ids.HSA_ID, "value": message.sender.hsa_id},
    }
    assert sender["name"] == message.sender.name
    assert adapter["who"] == {"display": ADAPTER} and event["source"]["observer"] == {"display": ADAPTER}

    communication, patient = event["entity"]
    assert communication["what"] == {
        "reference": _url_of(bundle, "Communication", ids.SYS_MESSAGE_ID, message.id),
        "identifier": {"system": ids.SYS_MESSAGE_ID, "value": message.id},
    }
    assert communication["name"] == message.id
    assert patient["what"] == {"reference": _url_of(bundle, "Patient", ids.PERSONNUMMER, message.patient.id_value)}
    assert (patient["role"]["system"], patient["role"]["code"]) == ("http://terminology.hl7.org/CodeSystem/object-role", "1")


def test_it_is_a_conditional_create_by_message_id_whatever_the_time() -> None:
    message = load(INSKRIVNING)
    first = _event(bundle_of(message, recorded=ACCEPTED))
    later = _event(bundle_of(message, recorded=ACCEPTED + timedelta(days=3)))
    assert first["request"] == {"method": "POST", "url": "AuditEvent", "ifNoneExist": audit_query(message.id)}
    assert later["request"] == first["request"] and later["fullUrl"] == first["fullUrl"]
    assert audit_query(message.id) == (f"entity-name={message.id}&subtype=http://hl7.org/fhir/restful-interaction|transaction")
    # The same acceptance time, the same resource: a retry or a replay sends exactly this again.
    assert bundle_of(message, recorded=ACCEPTED) == bundle_of(message, recorded=ACCEPTED)


def test_recorded_is_an_instant_written_in_utc() -> None:
    message = load(INSKRIVNING)
    stockholm = ACCEPTED.astimezone(timezone(timedelta(hours=1)))
    assert _event(bundle_of(message, recorded=stockholm))["resource"]["recorded"] == "2026-03-02T08:15:00.123+00:00"
    with pytest.raises(ValueError, match="UTC offset"):
        bundle_of(message, recorded=datetime(2026, 3, 2, 8, 15))


def test_one_audit_event_per_bundle() -> None:
    message = load(INSKRIVNING)
    entries = entries_of(message, recorded=ACCEPTED)
    with pytest.raises(ValueError, match="two entries for one identity: AuditEvent"):
        transaction([*entries, audit_entry(message, to_fhir(message), recorded=ACCEPTED + timedelta(seconds=1))])


@pytest.mark.parametrize("path", ALL_DOCUMENTS, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_no_identity_number_in_the_audit_event(path: Path) -> None:
    message = load(path)
    text = json.dumps(_event(bundle_of(message, recorded=ACCEPTED))["resource"], ensure_ascii=False)
    number = message.patient.id_value
    assert number not in text and number[2:] not in text and number[2:8] not in text
    if message.patient.family:
        assert message.patient.family not in text


@pytest.mark.parametrize("path", MESSAGES, ids=lambda p: p.name)
def test_relayed_bundles_follow_the_rules_are_valid_r4_and_map_back(path: Path) -> None:
    message = load(path)
    bundle = json.loads(json.dumps(bundle_of(message, recorded=ACCEPTED)))
    _check_rules(bundle, path.read_text())
    get_fhir_model_class("Bundle").model_validate(bundle)
    # The AuditEvent (and the Tasks) do not confuse the way back.
    assert from_fhir(bundle) == message
