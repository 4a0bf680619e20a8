"""The slice end to end against the real local HAPI: relay, read back by identifier, relay again."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from adapter import codec
from adapter.cli import app as cli
from adapter.config import Settings
from adapter.fhir import FhirClient
from adapter.http import create_app
from adapter.relay import RelayResult, relay_message
from mappings import from_fhir
from mappings import identifiers as ids
from mappings.model import Message
from tests.support import BAD, BAD_EXPECTED, INSKRIVNING, MESSAGES, bad_input, content_type, load, unique

from .conftest import Hapi


def _relay(message: Message, base_url: str) -> RelayResult:
    async def go() -> RelayResult:
        async with FhirClient(base_url) as fhir:
            return await relay_message(message, fhir, recorded=datetime.now(UTC))

    return asyncio.run(go())


@pytest.mark.parametrize("path", MESSAGES, ids=lambda p: p.name)
def test_relayed_message_reads_back_from_hapi_as_the_original(path, fhir_base_url: str, hapi: Hapi) -> None:
    # Given a fixture with identifiers of its own
    message = unique(load(path))
    # When it is relayed
    result = _relay(message, fhir_base_url)
    # Then everything of its own was created on the server (units and people are shared master
    # data: other tests may have made them already)
    made = [e for e in result.entries if e.resource_type not in ("Organization", "Practitioner")]
    assert made and all(e.status.startswith("201") for e in made), result.entries
    # And what HAPI holds, found by the message id, maps back to the original message
    assert from_fhir(hapi.message(message.id)) == message


def test_relaying_the_same_message_twice_leaves_one_of_each(fhir_base_url: str, hapi: Hapi) -> None:
    message = unique(load(INSKRIVNING))
    first = _relay(message, fhir_base_url)
    second = _relay(message, fhir_base_url)
    # The second time every conditional write matched what the first made
    assert [e.id for e in second.entries] == [e.id for e in first.entries]
    creates = [e for e in second.entries if e.resource_type != "Encounter"]
    assert all(e.status.startswith("200") for e in creates), second.entries
    assert message.care_episode is not None
    assert hapi.count("Patient", ids.PERSONNUMMER, message.patient.id_value) == 1
    assert hapi.count("Encounter", ids.SYS_VARDTILLFALLE, f"{message.care_episode.issuer}:{message.care_episode.id}") == 1
    assert hapi.count("Communication", ids.SYS_MESSAGE_ID, message.id) == 1
    assert hapi.count("Organization", ids.HSA_ID, message.sender.hsa_id) == 1


def test_a_resent_admission_notice_updates_the_episode(fhir_base_url: str, hapi: Hapi) -> None:
    # docs/domain.md rule 3: a new preliminary date is sent as a new Inskrivningsmeddelande; it
    # updates the episode, it is not a second admission.
    from dataclasses import replace
    from datetime import timedelta

    first = unique(load(INSKRIVNING))
    assert first.body.preliminary_discharge_ready is not None and first.care_episode is not None
    later = replace(
        first,
        id=str(uuid.uuid4()),
        body=replace(first.body, preliminary_discharge_ready=first.body.preliminary_discharge_ready + timedelta(days=2)),
    )
    _relay(first, fhir_base_url)
    result = _relay(later, fhir_base_url)
    key = f"{first.care_episode.issuer}:{first.care_episode.id}"
    assert hapi.count("Encounter", ids.SYS_VARDTILLFALLE, key) == 1
    encounter = hapi.read(next(e.id for e in result.entries if e.resource_type == "Encounter"))
    assert encounter["extension"][0]["valueDate"] == later.body.preliminary_discharge_ready.isoformat()
    assert hapi.count("Communication", ids.SYS_MESSAGE_ID, first.id) == 1
    assert hapi.count("Communication", ids.SYS_MESSAGE_ID, later.id) == 1


@pytest.fixture
def client(fhir_base_url: str, tmp_path):
    settings = Settings(fhir_base_url=fhir_base_url, journal_path=str(tmp_path / "journal.sqlite3"), retry_base=0.2)
    with TestClient(create_app(settings)) as c:
        yield c


def _until(client: TestClient, message_id: str, states: tuple[str, ...], seconds: float = 60) -> dict:
    """The message's status once it reaches one of ``states`` (the worker relays in the background)."""
    deadline = time.monotonic() + seconds
    while True:
        status = client.get(f"/messages/{message_id}").json()
        if status["state"] in states:
            return status
        assert time.monotonic() < deadline, f"still {status['state']} after {seconds} s: {status}"
        time.sleep(0.05)


def test_post_messages_accepts_with_202_and_the_worker_delivers_xml_and_json(client: TestClient, hapi: Hapi) -> None:
    sent = []
    for path in MESSAGES:
        message = unique(load(path))
        body = codec.encode_xml(message) if path.suffix == ".xml" else json.dumps(codec.encode_json(message)).encode()
        response = client.post("/messages", content=body, headers={"Content-Type": content_type(path)})
        assert response.status_code == 202, response.text
        assert response.headers["location"] == f"/messages/{message.id}"
        assert response.json()["messageId"] == message.id and response.json()["duplicate"] is False
        sent.append((message, body, content_type(path)))
    for message, _, _ in sent:
        status = _until(client, message.id, ("delivered", "dead-lettered"))
        assert status["state"] == "delivered", status
        assert any(i.startswith("Communication/") for i in status["serverIds"])
        assert [a["status"] for a in status["attemptLog"]] == [200]
        assert hapi.count("Communication", ids.SYS_MESSAGE_ID, message.id) == 1
        # The bundle it was mapped to at acceptance is kept, for operators.
        bundle = client.get(f"/messages/{message.id}/bundle").json()
        assert bundle["type"] == "transaction" and len(bundle["entry"]) == len(status["serverIds"])
    # The same id again: the first record, nothing relayed again.
    message, body, ctype = sent[0]
    again = client.post("/messages", content=body, headers={"Content-Type": ctype})
    assert again.status_code == 202 and again.json()["duplicate"] is True and again.json()["state"] == "delivered"
    # The same id with other content is a conflict.
    other = body.replace(b"</Message>", b"</Message>\n") if body.startswith(b"<") else body + b" "
    conflict = client.post("/messages", content=other, headers={"Content-Type": ctype})
    assert conflict.status_code == 409
    assert conflict.json()["issue"][0]["diagnostics"].startswith("SAMV-3001")


#: The inputs that were read and mapped before their refusal (422): the ones nearest to HAPI. The
#: whole corpus, over a real `samverkan serve`, is tests/integration/test_hostile.py's.
_READ_THEN_REFUSED = sorted(name for name, entry in BAD_EXPECTED.items() if entry["status"] == 422)


@pytest.mark.parametrize("name", _READ_THEN_REFUSED, ids=str)
def test_bad_input_gets_an_outcome_naming_the_element_and_nothing_reaches_hapi(name: str, client: TestClient, hapi: Hapi) -> None:
    case = bad_input(name)
    # Give the bad document identifiers of its own, so "nothing on HAPI" is about this one.
    message_id, episode_id = str(uuid.uuid4()), f"VT-BAD-{uuid.uuid4().hex[:10]}"
    raw = case.body
    raw = raw.replace(b"6f1c0e0a-6a43-4a57-9d0b-0a1c2b3d4e5f", message_id.encode()).replace(
        b"0b7e3c52-1f0e-4c1a-9a55-3c2d1e0f9a10", message_id.encode()
    )
    raw = raw.replace(b"VT-2026-000123", episode_id.encode()).replace(b"VT-2026-004711", episode_id.encode())
    response = client.post("/messages", content=raw, headers=case.request_headers())
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    issue = response.json()["issue"][0]
    assert issue["severity"] == "error"
    assert issue["diagnostics"].startswith(case.code)
    assert issue["location"] == [case.location]
    assert "191212121213" not in response.text and "194107086996" not in response.text
    assert hapi.count("Communication", ids.SYS_MESSAGE_ID, message_id) == 0
    for issuer in ("SE2321000131-E000000000011", "SE2321000131-E000000000012"):
        assert hapi.count("Encounter", ids.SYS_VARDTILLFALLE, f"{issuer}:{episode_id}") == 0


def test_the_service_is_healthy_after_bad_input(client: TestClient) -> None:
    for name in BAD_EXPECTED:
        case = bad_input(name)
        client.post("/messages", content=case.content(), headers=case.request_headers())
    health = client.get("/health").json()
    assert health["status"] == "ok"
    # Nothing refused was accepted into the journal for relaying (refusals are journaled apart).
    assert health["journal"] == {}


def test_an_unreachable_server_is_retried_and_a_dead_letter_can_be_replayed(fhir_base_url: str, tmp_path, hapi: Hapi) -> None:
    journal = str(tmp_path / "journal.sqlite3")
    down = Settings(
        fhir_base_url="http://127.0.0.1:9/fhir", fhir_timeout=2, journal_path=journal, retry_base=0.05, max_attempts=3
    )
    message = unique(load(INSKRIVNING))
    with TestClient(create_app(down)) as c:
        response = c.post("/messages", content=codec.encode_xml(message), headers={"Content-Type": "application/xml"})
        assert response.status_code == 202
        # Accepted means journaled: the sender is not told about the server's trouble.
        status = _until(c, message.id, ("dead-lettered",))
        assert status["attempts"] == 3 and status["lastError"].startswith("gave up after 3 attempts: SAMV-4001")
        assert [a["n"] for a in status["attemptLog"]] == [1, 2, 3]
        assert all(a["status"] is None and a["error"].startswith("SAMV-4001") for a in status["attemptLog"])
    assert hapi.count("Communication", ids.SYS_MESSAGE_ID, message.id) == 0
    # The server is back (the same journal, now pointed at HAPI): an operator replays.
    with TestClient(create_app(Settings(fhir_base_url=fhir_base_url, journal_path=journal))) as c:
        assert c.post(f"/messages/{message.id}/replay").json()["state"] == "replayed"
        assert _until(c, message.id, ("delivered",))["state"] == "delivered"
        assert c.post(f"/messages/{message.id}/replay").status_code == 409  # delivered: nothing to replay
    assert hapi.count("Communication", ids.SYS_MESSAGE_ID, message.id) == 1


def test_cli_relay_prints_the_resources_the_fixtures_became(fhir_base_url: str, tmp_path, hapi: Hapi) -> None:
    rng = random.Random()
    files = []
    for path in MESSAGES:
        message = unique(load(path), rng)
        target = tmp_path / path.name
        target.write_bytes(
            codec.encode_xml(message) if path.suffix == ".xml" else json.dumps(codec.encode_json(message)).encode()
        )
        files.append((target, message))
    result = CliRunner().invoke(cli, ["relay", "--json", "--server", fhir_base_url, *[str(f) for f, _ in files]])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [line["messageId"] for line in lines] == [m.id for _, m in files]
    for line, (_, message) in zip(lines, files, strict=True):
        comm = next(e for e in line["entries"] if e["resourceType"] == "Communication")
        assert comm["id"].startswith("Communication/")
        assert hapi.read(comm["id"])["identifier"][0]["value"] == message.id


def test_cli_relay_names_the_element_of_a_bad_file_and_fails(fhir_base_url: str) -> None:
    result = CliRunner().invoke(cli, ["relay", "--server", fhir_base_url, str(BAD / "personnummer-check-digit.xml")])
    assert result.exit_code == 1
    assert "/Message/Patient/@personnummer" in result.output
    assert "191212121213" not in result.output


def test_the_relay_sends_the_senders_request_id_to_the_fhir_server(fhir_base_url: str, tmp_path, hapi: Hapi) -> None:
    """One id from the vendor's request to HAPI's log: HAPI answers each request with the
    X-Request-ID it was given, which a hook on the adapter's own client records."""
    answered: list[str | None] = []

    async def seen(response) -> None:
        answered.append(response.headers.get("X-Request-ID"))

    message = unique(load(INSKRIVNING))
    settings = Settings(fhir_base_url=fhir_base_url, journal_path=str(tmp_path / "j.sqlite3"), overdue_interval=0)
    with TestClient(create_app(settings)) as client:
        client.app.state.services.fhir._http.event_hooks["response"].append(seen)
        posted = client.post(
            "/messages",
            content=codec.encode_xml(message),
            headers={"Content-Type": "application/xml", "X-Request-ID": "ehr-vendor-7f3a"},
        )
        assert posted.status_code == 202
        assert _until(client, message.id, ("delivered", "dead-lettered"))["state"] == "delivered"
    assert answered.count("ehr-vendor-7f3a") >= 1  # the transaction (and the reads before it)
    assert hapi.count("Communication", ids.SYS_MESSAGE_ID, message.id) == 1
