"""Senders and consent end to end (issue 9): a real `samverkan serve` with authentication
required, the real HAPI behind it. Unauthenticated, wrong-sender and no-consent messages are
refused, audited in the journal, and nothing of them reaches the server; the log shows no
personnummer."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
from typer.testing import CliRunner

from adapter import codec
from adapter.cli import app as cli
from mappings import identifiers as ids
from mappings.audit import audit_query
from mappings.model import Consent, Message
from tests.load import Served
from tests.support import FIXTURES, INSKRIVNING, Renamer, load

from .conftest import Hapi

MED1 = "SE2321000131-E000000000011"  # the sender of the fixtures used here


def _xml(message: Message) -> bytes:
    return codec.encode_xml(message)


def test_only_known_senders_as_themselves_and_only_what_the_patient_allows_reach_the_server(
    fhir_base_url: str, hapi: Hapi, tmp_path: Path
) -> None:
    senders = tmp_path / "senders.json"
    added = CliRunner().invoke(cli, ["sender", "add", "med1", "--hsa-id", MED1], env={"SAMVERKAN_SENDERS_FILE": str(senders)})
    assert added.exit_code == 0, added.output
    key = added.stdout.strip().splitlines()[-1]
    rename = Renamer(random.Random(9))
    admission = rename(load(INSKRIVNING))
    no = replace(admission, body=replace(admission.body, consent=Consent(information_transfer=False), note=None))
    general = load(FIXTURES / "messages" / "GenerelltMeddelande-01.xml")
    general = replace(
        general,
        id=str(uuid.uuid4()),
        sent=admission.sent + timedelta(hours=2),
        patient=admission.patient,
        care_episode=admission.care_episode,
    )
    stranger = rename(load(FIXTURES / "messages" / "FastVardkontakt-01.xml"))  # from another unit
    assert stranger.sender.hsa_id != MED1

    served = Served(
        {
            "SAMVERKAN_FHIR_BASE_URL": fhir_base_url,
            "SAMVERKAN_JOURNAL_PATH": str(tmp_path / "journal.sqlite3"),
            "SAMVERKAN_INBOUND_AUTH": "required",
            "SAMVERKAN_SENDERS_FILE": str(senders),
        },
        tmp_path / "serve.log",
        worker_id="inbound",
    )
    served.env["SAMVERKAN_LOG_LEVEL"] = "INFO"
    served.start()
    try:
        with httpx.Client(base_url=served.url, timeout=30, headers={"Content-Type": "application/xml"}) as client:
            signed = {"X-API-Key": key}
            assert client.post("/messages", content=_xml(no)).status_code == 401
            assert client.post("/messages", content=_xml(no), headers={"X-API-Key": "svk_guess"}).status_code == 401
            assert client.post("/messages", content=_xml(stranger), headers=signed).status_code == 403
            assert client.post("/messages", content=_xml(no), headers=signed).status_code == 202
            refused = client.post("/messages", content=_xml(general), headers=signed)
            assert refused.status_code == 422 and "SAMV-5002" in refused.text

            deadline = time.monotonic() + 60
            while client.get(f"/messages/{no.id}").json()["state"] != "delivered":
                assert time.monotonic() < deadline, "the admission notice was not delivered in 60 s"
                time.sleep(0.3)
            audit = client.get("/audit").json()
            metrics = client.get("/metrics").text
    finally:
        served.stop()

    # What was refused is in the journal's audit, with who sent it.
    refusals = [(a["actor"], a["messageId"], a["detail"][:9]) for a in audit if a["action"] == "refused"]
    assert refusals == [("med1", general.id, "SAMV-5002"), ("med1", stranger.id, "SAMV-5001")]
    assert 'samverkan_messages_refused_total{code="401"} 2.0' in metrics
    # ... and none of it on the server; the allowed notice is.
    assert hapi.count("Communication", ids.SYS_MESSAGE_ID, no.id) == 1
    assert hapi.search("AuditEvent", audit_query(no.id) + "&_total=accurate")["total"] == 1
    for message in (general, stranger):
        assert hapi.count("Communication", ids.SYS_MESSAGE_ID, message.id) == 0
        # No AuditEvent either: on a shared server it would itself tell of the admission.
        assert hapi.search("AuditEvent", audit_query(message.id) + "&_total=accurate")["total"] == 0
    # The log tells of the refusals without the patient's number.
    log = served.log.read_text()
    assert "SAMV-5002" in log
    number = admission.patient.id_value
    for spelling in (number, number[2:], f"{number[:8]}-{number[8:]}", f"{number[2:8]}-{number[8:]}"):
        assert spelling not in log
