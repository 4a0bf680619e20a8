"""The adapter's FHIR endpoint as an EHR vendor uses it (issue 8, first part), in front of the
real HAPI: a message sent as FHIR comes out as the internal document it was made from, reaches
HAPI once under our profiles, and bad bundles get OperationOutcomes naming the element."""

from __future__ import annotations

import copy
import json
import random
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle as FhirBundle

from adapter import codec
from adapter.config import Settings
from adapter.http import create_app
from mappings import identifiers as ids
from mappings import to_bundle
from mappings.model import Message
from tests.support import FIXTURES, INSKRIVNING, JOURNEYS, Renamer, load, unique

from .conftest import Hapi

FHIR_JSON = {"Content-Type": "application/fhir+json"}
JOURNEY = sorted(JOURNEYS[0].glob("*.xml"))


@pytest.fixture
def client(fhir_base_url: str, tmp_path):
    settings = Settings(
        fhir_base_url=fhir_base_url, journal_path=str(tmp_path / "j.sqlite3"), overdue_interval=0, fhir_answer_wait=30
    )
    with TestClient(create_app(settings)) as c:
        yield c


def _journey() -> list[Message]:
    rename = Renamer(random.Random())
    return [rename(load(p)) for p in JOURNEY]


def _as_message_bundle(message: Message) -> dict:
    bundle = to_bundle(message)
    header = {
        "resourceType": "MessageHeader",
        "id": str(uuid.uuid4()),
        "eventCoding": {"system": ids.CS_MESSAGE_TYPE, "code": message.type.value},
        "source": {"endpoint": "https://ehr.example/fhir"},
    }
    entries = [{"fullUrl": e["fullUrl"], "resource": e["resource"]} for e in bundle["entry"]]
    return {
        "resourceType": "Bundle",
        "type": "message",
        "entry": [{"fullUrl": f"urn:uuid:{header['id']}", "resource": header}, *entries],
    }


def test_metadata_lists_what_is_supported_and_our_profiles(client: TestClient) -> None:
    found = client.get("/fhir/metadata")
    assert found.status_code == 200 and found.headers["content-type"].startswith("application/fhir+json")
    cs = found.json()
    assert (cs["resourceType"], cs["fhirVersion"], cs["format"]) == ("CapabilityStatement", "4.0.1", ["json", "xml"])
    rest = cs["rest"][0]
    assert {i["code"] for i in rest["interaction"]} == {"transaction", "batch"}
    assert [o["name"] for o in rest["operation"]] == ["process-message"]
    profiles = {r["type"]: r["supportedProfile"] for r in rest["resource"]}
    assert profiles["Communication"] == [ids.profile_url("Communication")]


def test_a_journey_sent_as_fhir_becomes_the_internal_documents_and_reaches_hapi_once(client: TestClient, hapi: Hapi) -> None:
    """Internal → FHIR (our mapping) → the vendor endpoint → internal gives back the original documents."""
    for i, message in enumerate(_journey()):
        bundle = to_bundle(message)
        if i % 2:
            bundle = {**bundle, "type": "batch"}
        answered = client.post("/fhir", content=json.dumps(bundle), headers=FHIR_JSON)
        assert answered.status_code == 200, (message.type, answered.text)
        response = answered.json()
        assert response["type"] == f"{bundle['type']}-response"
        # One answer per entry sent, in order, each where the server keeps that resource.
        sent_types = [e["resource"]["resourceType"] for e in bundle["entry"]]
        assert [e["response"]["location"].split("/")[0] for e in response["entry"]] == sent_types
        detail = client.get(f"/messages/{message.id}").json()
        assert detail["state"] == "delivered"
        stored = client.app.state.services.journal.get(message.id)
        assert stored.document == codec.encode_xml(message), message.type  # what the internal systems get
        assert hapi.count("Communication", ids.SYS_MESSAGE_ID, message.id) == 1

    again = client.post("/fhir", content=json.dumps(to_bundle(message)), headers=FHIR_JSON)
    assert again.status_code == 200 and again.json()["entry"] == response["entry"]  # the first result
    assert hapi.count("Communication", ids.SYS_MESSAGE_ID, message.id) == 1


def test_process_message_answers_with_a_response_message(client: TestClient, hapi: Hapi) -> None:
    message = _journey()[2]  # the Inskrivningsmeddelande
    sent = _as_message_bundle(message)
    answered = client.post("/fhir/$process-message", content=json.dumps(sent), headers=FHIR_JSON)
    assert answered.status_code == 200, answered.text
    header = answered.json()["entry"][0]["resource"]
    assert header["resourceType"] == "MessageHeader"
    assert header["response"] == {"identifier": sent["entry"][0]["resource"]["id"], "code": "ok"}
    assert header["eventCoding"]["code"] == "Inskrivningsmeddelande"
    assert any(f["reference"].startswith("Communication/") for f in header["focus"])
    assert hapi.count("Communication", ids.SYS_MESSAGE_ID, message.id) == 1


def test_without_the_relay_in_time_the_answer_is_202_with_a_status_to_poll(fhir_base_url: str, tmp_path) -> None:
    settings = Settings(
        fhir_base_url=fhir_base_url, journal_path=str(tmp_path / "j.sqlite3"), relay_parallel=0, fhir_answer_wait=0
    )
    message = _journey()[2]
    with TestClient(create_app(settings)) as c:
        answered = c.post("/fhir", content=json.dumps(to_bundle(message)), headers=FHIR_JSON)
        assert answered.status_code == 202
        assert answered.headers["Content-Location"] == f"/messages/{message.id}"
        assert c.get(answered.headers["Content-Location"]).json()["state"] == "accepted"


def _refusal(client: TestClient, body: bytes | str, status: int, element: str, path: str = "/fhir", **headers: str) -> None:
    answered = client.post(path, content=body, headers={**FHIR_JSON, **headers})
    assert answered.status_code == status, answered.text
    outcome = answered.json()
    assert outcome["resourceType"] == "OperationOutcome"
    issue = outcome["issue"][0]
    assert element in (issue.get("expression") or issue.get("location") or [""])[0], issue


def test_bad_bundles_get_an_outcome_naming_the_element_and_nothing_reaches_hapi(client: TestClient, hapi: Hapi) -> None:
    message = _journey()[2]
    good = to_bundle(message)
    no_id = copy.deepcopy(good)
    comm = next(e["resource"] for e in no_id["entry"] if e["resource"]["resourceType"] == "Communication")
    comm["identifier"] = []
    unknown_type = copy.deepcopy(good)
    comm = next(e["resource"] for e in unknown_type["entry"] if e["resource"]["resourceType"] == "Communication")
    comm["category"] = [{"coding": [{"system": ids.CS_MESSAGE_TYPE, "code": "Unknown"}]}]
    no_patient = copy.deepcopy(good)
    no_patient["entry"] = [e for e in no_patient["entry"] if e["resource"]["resourceType"] != "Patient"]
    wrong_event = _as_message_bundle(message)
    wrong_event["entry"][0]["resource"]["eventCoding"]["code"] = "Kvittens"

    _refusal(client, b"{not json", 400, "Bundle")
    _refusal(client, json.dumps({"resourceType": "Patient"}), 422, "Bundle.resourceType")
    _refusal(client, json.dumps({**good, "type": "collection"}), 422, "Bundle.type")
    _refusal(client, json.dumps({**good, "entry": []}), 422, "Bundle.entry")
    _refusal(client, json.dumps(no_id), 422, "Communication.identifier")
    _refusal(client, json.dumps(unknown_type), 422, "Communication.category")
    _refusal(client, json.dumps(no_patient), 422, "Communication.subject")
    _refusal(client, json.dumps(good), 422, "Bundle.type", path="/fhir/$process-message")
    _refusal(client, json.dumps(wrong_event), 422, "MessageHeader.eventCoding", path="/fhir/$process-message")
    bad_status = copy.deepcopy(good)
    comm = next(e["resource"] for e in bad_status["entry"] if e["resource"]["resourceType"] == "Communication")
    comm["sent"] = "yesterday afternoon"
    _refusal(client, json.dumps(bad_status), 422, "sent")  # base R4: not a dateTime
    text = client.post("/fhir", content=b"hello", headers={"Content-Type": "text/plain"})
    assert text.status_code == 415 and "application/fhir+json" in text.json()["issue"][0]["diagnostics"]
    entity = b'<?xml version="1.0"?><!DOCTYPE b [<!ENTITY x SYSTEM "file:///etc/passwd">]><Bundle xmlns="http://hl7.org/fhir">&x;</Bundle>'
    _refusal(client, entity, 400, "Bundle", **{"Content-Type": "application/fhir+xml"})
    assert hapi.count("Communication", ids.SYS_MESSAGE_ID, message.id) == 0
    assert client.get(f"/messages/{message.id}").status_code == 404  # nothing journaled as accepted


class _Internal(BaseHTTPRequestHandler):
    """The internal systems' endpoint: refuses the first two documents with 503, then takes all."""

    got: ClassVar[list[bytes]] = []
    refusals: ClassVar[int] = 2

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if type(self).refusals > 0:
            type(self).refusals -= 1
            self.send_response(503)
            self.send_header("Retry-After", "0")
        else:
            type(self).got.append(body)
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_messages_sent_as_fhir_reach_the_internal_systems_in_order_once_each(fhir_base_url: str, tmp_path) -> None:
    _Internal.got, _Internal.refusals = [], 2
    endpoint = ThreadingHTTPServer(("127.0.0.1", 0), _Internal)
    threading.Thread(target=endpoint.serve_forever, daemon=True).start()
    out = tmp_path / "out"
    settings = Settings(
        fhir_base_url=fhir_base_url,
        journal_path=str(tmp_path / "j.sqlite3"),
        overdue_interval=0,
        fhir_answer_wait=30,
        outbound_dir=str(out),
        outbound_url=f"http://127.0.0.1:{endpoint.server_port}/in",
        retry_base=0.1,
        retry_cap=0.5,
    )
    journey = _journey()
    try:
        with TestClient(create_app(settings)) as c:
            for message in journey:
                assert c.post("/fhir", content=json.dumps(to_bundle(message)), headers=FHIR_JSON).status_code == 200
            internal = unique(load(INSKRIVNING))  # from the internal systems: not sent back to them
            assert (
                c.post("/messages", content=codec.encode_xml(internal), headers={"Content-Type": "application/xml"}).status_code
                == 202
            )
            deadline = time.monotonic() + 60
            while any(o["state"] != "done" for m in journey for o in c.get(f"/messages/{m.id}").json()["outbound"]):
                assert time.monotonic() < deadline, "not every document reached the internal systems in 60 s"
                time.sleep(0.2)
            assert c.get(f"/messages/{internal.id}").json()["outbound"] == []
            retried = [o for m in journey for o in c.get(f"/messages/{m.id}").json()["outbound"] if o["attempts"] > 1]
            assert retried, "the endpoint's 503s were not retried"
    finally:
        endpoint.shutdown()
        endpoint.server_close()
    documents = [codec.encode_xml(m) for m in journey]
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{m.id}.xml" for m in journey)  # no partial files
    assert all((out / f"{m.id}.xml").read_bytes() == d for m, d in zip(journey, documents, strict=True))
    # Once each; and the episode's messages in the order they were sent (other keys may interleave).
    assert sorted(_Internal.got) == sorted(documents)
    episode = [d for m, d in zip(journey, documents, strict=True) if m.care_episode is not None]
    assert [d for d in _Internal.got if d in episode] == episode


VENDOR = FIXTURES / "vendor"
VENDOR_EXPECTED = json.loads((VENDOR / "expected.json").read_text())


@pytest.mark.parametrize("name", sorted(VENDOR_EXPECTED["valid"]))
def test_a_vendor_shaped_bundle_becomes_the_internal_document_it_describes(name: str, client: TestClient, hapi: Hapi) -> None:
    """Contained resources, absolute references, extra elements, HSA-ids under Inera's OID, a
    message Bundle, in JSON and in XML: other valid shapes than ours give the same internal document."""
    case = VENDOR_EXPECTED["valid"][name]
    media = "application/fhir+xml" if name.endswith(".xml") else "application/fhir+json"
    answered = client.post(case["endpoint"], content=(VENDOR / name).read_bytes(), headers={"Content-Type": media})
    assert answered.status_code == 200, answered.text
    source = load(FIXTURES / case["source"])
    assert client.app.state.services.journal.get(source.id).document == codec.encode_xml(source)
    if case["endpoint"] == "/fhir":  # a transaction-response: one entry per entry sent, in order
        if name.endswith(".xml"):
            sent = [e.resource.get_resource_type() for e in FhirBundle.model_validate_xml((VENDOR / name).read_bytes()).entry]
        else:
            sent = [e["resource"]["resourceType"] for e in json.loads((VENDOR / name).read_text())["entry"]]
        answers = [e["response"].get("location") for e in answered.json()["entry"]]
        # Each found by its business identifier (HSA-ids under Inera's OID too), so the three
        # Organizations of a message get their own ids.
        assert [location.split("/")[0] for location in answers] == sent, answers
        assert len(set(answers)) == len(answers)
    assert hapi.count("Communication", ids.SYS_MESSAGE_ID, source.id) == 1


@pytest.mark.parametrize("name", sorted(VENDOR_EXPECTED["bad"]))
def test_a_broken_vendor_bundle_gets_the_expected_outcome(name: str, client: TestClient) -> None:
    case = VENDOR_EXPECTED["bad"][name]
    _refusal(client, (VENDOR / "bad" / name).read_bytes(), case["status"], case["expression"], path=case["endpoint"])


def test_fhir_xml_in_and_out(client: TestClient, hapi: Hapi) -> None:
    """The same bundle as FHIR XML, the answer in XML when asked for, the message the same."""
    message = _journey()[7]  # the Kallelse: an Appointment, contained PractitionerRoles
    xml = FhirBundle.model_validate(to_bundle(message)).model_dump_xml()
    answered = client.post(
        "/fhir", content=xml, headers={"Content-Type": "application/fhir+xml", "Accept": "application/fhir+xml"}
    )
    assert answered.status_code == 200, answered.text
    assert answered.headers["content-type"].startswith("application/fhir+xml")
    response = FhirBundle.model_validate_xml(answered.content)
    assert response.type == "transaction-response" and response.entry
    assert client.app.state.services.journal.get(message.id).document == codec.encode_xml(message)
    assert hapi.count("Communication", ids.SYS_MESSAGE_ID, message.id) == 1
    metadata = client.get("/fhir/metadata", params={"_format": "xml"})
    assert metadata.headers["content-type"].startswith("application/fhir+xml") and b"<CapabilityStatement" in metadata.content
    refused = client.post(
        "/fhir",
        content=b"<Bundle xmlns='http://hl7.org/fhir'><type value='transaction'/>",
        headers={"Content-Type": "application/fhir+xml", "Accept": "application/fhir+xml"},
    )
    assert refused.status_code == 400 and b"<OperationOutcome" in refused.content
