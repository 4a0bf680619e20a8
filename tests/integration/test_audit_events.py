"""AuditEvents on the real HAPI (issue 9 item 5): one for each relayed message, none for a refusal.

A whole journey goes through the adapter (POST /messages, journal, worker, HAPI): each message
leaves exactly one AuditEvent that names it, its patient and its sender, recorded when the
journal accepted it, and the patient's trail lists them all. A refused document leaves none (it
is audited in the journal only). A message whose relay is written twice (its reply lost, so the
worker tries again) and then replayed by an operator still leaves one, never changed.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapter import codec
from adapter.config import Settings
from adapter.http import create_app
from adapter.relay import bundle_of
from mappings import identifiers as ids
from mappings.audit import ADAPTER, audit_query
from mappings.model import Message
from tests.faultproxy import FaultProxy
from tests.support import BAD, INSKRIVNING, JOURNEYS, MESSAGES, Renamer, content_type, load, unique

from .conftest import Hapi
from .test_relay_to_hapi import _until


def _events(hapi: Hapi, message_id: str) -> list[dict[str, Any]]:
    """The AuditEvents of a message, found as the relay's conditional create finds them."""
    found = hapi.search("AuditEvent", audit_query(message_id) + "&_total=accurate")
    assert found["total"] == len(found.get("entry", ()))
    return [e["resource"] for e in found.get("entry", ())]


def _one_event(hapi: Hapi, message_id: str) -> dict[str, Any]:
    events = _events(hapi, message_id)
    assert len(events) == 1, f"{len(events)} AuditEvents of {message_id}"
    return events[0]


def _recorded_is_accepted(event: dict[str, Any], status: dict[str, Any]) -> bool:
    """``recorded`` is the journal's acceptance, to the millisecond (FHIR keeps milliseconds)."""
    accepted = datetime.fromisoformat(status["acceptedAt"])
    return datetime.fromisoformat(event["recorded"]) == accepted.replace(microsecond=accepted.microsecond // 1000 * 1000)


def _settings(fhir_base_url: str, journal: Path, **more: Any) -> Settings:
    return Settings(fhir_base_url=fhir_base_url, journal_path=str(journal), overdue_interval=0, **more)


def test_a_journey_through_the_adapter_leaves_one_audit_event_per_message(fhir_base_url: str, hapi: Hapi, tmp_path) -> None:
    rename = Renamer()
    messages = [rename(load(p)) for p in sorted(JOURNEYS[0].glob("*.xml"))]
    with TestClient(create_app(_settings(fhir_base_url, tmp_path / "j.sqlite3"))) as client:
        for m in messages:
            posted = client.post("/messages", content=codec.encode_xml(m), headers={"Content-Type": "application/xml"})
            assert posted.status_code == 202, posted.text
        statuses = {m.id: _until(client, m.id, ("delivered", "dead-lettered")) for m in messages}
    assert {s["state"] for s in statuses.values()} == {"delivered"}, statuses

    patient_ids = set()
    for m in messages:
        event = _one_event(hapi, m.id)
        assert _recorded_is_accepted(event, statuses[m.id]), (event["recorded"], statuses[m.id]["acceptedAt"])
        assert f"AuditEvent/{event['id']}" in {i.split("/_history/")[0] for i in statuses[m.id]["serverIds"]}
        assert event["outcome"] == "0" and event["source"]["observer"]["display"] == ADAPTER
        # It names the message: the Communication HAPI holds for this message id.
        message_entity, patient_entity = event["entity"]
        assert message_entity["name"] == m.id
        assert message_entity["what"]["identifier"] == {"system": ids.SYS_MESSAGE_ID, "value": m.id}
        communication = hapi.read(message_entity["what"]["reference"])
        assert communication["resourceType"] == "Communication"
        assert communication["identifier"] == [{"system": ids.SYS_MESSAGE_ID, "value": m.id}]
        # Its patient.
        patient = hapi.read(patient_entity["what"]["reference"])
        assert patient["resourceType"] == "Patient" and patient["identifier"][0]["value"] == m.patient.id_value
        patient_ids.add(patient["id"])
        # Its sender, the requestor.
        requestor = next(a for a in event["agent"] if a["requestor"])
        assert requestor["who"]["identifier"] == {"system": ids.HSA_ID, "value": m.sender.hsa_id}
        assert hapi.read(requestor["who"]["reference"])["identifier"][0]["value"] == m.sender.hsa_id
    # The patient's audit trail: every message of the journey, nothing else.
    (patient_id,) = patient_ids
    trail = hapi.search("AuditEvent", {"patient": f"Patient/{patient_id}", "_count": "100"})
    assert sorted(e["resource"]["entity"][0]["name"] for e in trail["entry"]) == sorted(m.id for m in messages)


@pytest.mark.parametrize("name", ["personnummer-check-digit.xml", "sip-without-consent.xml", "kvittens-acknowledges-itself.json"])
def test_a_refused_document_leaves_no_audit_event_on_the_server(name: str, fhir_base_url: str, hapi: Hapi, tmp_path) -> None:
    message_id = str(uuid.uuid4())
    raw = (BAD / name).read_bytes()
    for fixture_id in (b"6f1c0e0a-6a43-4a57-9d0b-0a1c2b3d4e5f", b"0b7e3c52-1f0e-4c1a-9a55-3c2d1e0f9a10"):
        raw = raw.replace(fixture_id, message_id.encode())
    assert message_id.encode() in raw
    with TestClient(create_app(_settings(fhir_base_url, tmp_path / "j.sqlite3"))) as client:
        refused = client.post("/messages", content=raw, headers={"Content-Type": content_type(BAD / name)})
        assert 400 <= refused.status_code < 500, refused.text
        assert client.get("/health").json()["journal"] == {}  # journaled as a refusal only
        time.sleep(1)  # what a worker would have picked up by now
    assert _events(hapi, message_id) == []
    assert hapi.count("Communication", ids.SYS_MESSAGE_ID, message_id) == 0


def test_a_retried_and_replayed_message_still_has_one_audit_event(fhir_base_url: str, hapi: Hapi, tmp_path) -> None:
    # A message whose bundle is the only request of its relay (no episode to read first).
    message: Message = unique(load(next(p for p in MESSAGES if p.name.startswith("MeddelandeUtanforVardtillfalle"))))
    journal = tmp_path / "j.sqlite3"
    # HAPI does the work but the reply is lost: the worker tries again, then gives up.
    with FaultProxy(fhir_base_url.removesuffix("/fhir"), faults={"reset-after": 1.0}) as proxy:
        lossy = _settings(f"{proxy.url}/fhir", journal, retry_base=0.05, max_attempts=2)
        with TestClient(create_app(lossy)) as client:
            posted = client.post("/messages", content=codec.encode_xml(message), headers={"Content-Type": "application/xml"})
            assert posted.status_code == 202, posted.text
            status = _until(client, message.id, ("dead-lettered",))
            assert status["attempts"] == 2
    assert proxy.counts["reset-after"] >= 2
    first = _one_event(hapi, message.id)  # written by the first attempt, matched by the second
    # An operator replays it: the third time the bundle reaches HAPI.
    with TestClient(create_app(_settings(fhir_base_url, journal))) as client:
        assert client.post(f"/messages/{message.id}/replay").json()["state"] == "replayed"
        status = _until(client, message.id, ("delivered", "dead-lettered"))
        assert status["state"] == "delivered", status
    event = _one_event(hapi, message.id)
    assert event["id"] == first["id"] and event["meta"]["versionId"] == "1", "never changed"
    assert _recorded_is_accepted(event, status)
    assert hapi.count("Communication", ids.SYS_MESSAGE_ID, message.id) == 1


def test_a_relay_bundle_sent_back_to_the_fhir_endpoint_is_the_message_with_our_own_audit_event(
    fhir_base_url: str, hapi: Hapi, tmp_path
) -> None:
    # A vendor echoes what the relay sends, AuditEvent included: it maps back to the message, and
    # the server gets the adapter's AuditEvent of this acceptance, not the one in the bundle.
    message = unique(load(INSKRIVNING))
    echoed = bundle_of(message, recorded=datetime(2020, 1, 1, tzinfo=UTC))
    with TestClient(create_app(_settings(fhir_base_url, tmp_path / "j.sqlite3"))) as client:
        answered = client.post("/fhir", content=json.dumps(echoed), headers={"Content-Type": "application/fhir+json"})
        assert answered.status_code in (200, 202), answered.text
        status = _until(client, message.id, ("delivered", "dead-lettered"))
        assert status["state"] == "delivered", status
    event = _one_event(hapi, message.id)
    assert _recorded_is_accepted(event, status)
    assert hapi.count("Communication", ids.SYS_MESSAGE_ID, message.id) == 1
