"""The patient's consent to information transfer (docs/domain.md rule 11), through the real app and a
real SQLite journal (nothing is relayed here; tests/integration/test_inbound_security.py shows
that nothing refused reaches HAPI)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapter import codec
from adapter.http import create_app
from mappings.model import Consent, Message
from tests.support import FIXTURES, INSKRIVNING, load, offline_settings, unique


@pytest.fixture
def client(tmp_path: Path):
    with TestClient(create_app(offline_settings(tmp_path / "j.sqlite3"))) as c:
        yield c


def _post(client: TestClient, message: Message):
    return client.post("/messages", content=codec.encode_xml(message), headers={"Content-Type": "application/xml"})


def _in_episode(of: Message, path: Path) -> Message:
    """The fixture at ``path`` as a new message of ``of``'s episode and patient."""
    other = load(path)
    sent = of.sent + timedelta(hours=1)
    return replace(other, id=str(uuid.uuid4()), sent=sent, patient=of.patient, care_episode=of.care_episode)


def _consent(message: Message, information_transfer: bool | None, *, note: bool = False) -> Message:
    consent = Consent(information_transfer=information_transfer, sip=True) if information_transfer is not None else None
    return replace(
        message, id=str(uuid.uuid4()), body=replace(message.body, consent=consent, note=message.body.note if note else None)
    )


def _refused_at(answer, path: str) -> None:
    assert answer.status_code == 422, answer.text
    issue = answer.json()["issue"][0]
    assert issue["diagnostics"].startswith("SAMV-5002")
    assert issue["location"] == [path]


def test_a_patients_no_stops_information_in_the_episode_until_a_yes(client: TestClient) -> None:
    admission = unique(load(INSKRIVNING))
    general = FIXTURES / "messages" / "GenerelltMeddelande-01.xml"

    # The admission notice itself goes without consent; with a "no" it may not carry a note.
    _refused_at(_post(client, _consent(admission, False, note=True)), "/Message/Body/Note")
    assert _post(client, _consent(admission, False)).status_code == 202
    # A later message of the episode that states nothing follows the episode's "no".
    _refused_at(_post(client, _in_episode(admission, general)), "/Message/Body/Note")
    # A notice without information still goes: a re-sent admission notice with a new date.
    assert _post(client, _consent(admission, None)).status_code == 202
    # The patient says yes: information flows again.
    assert _post(client, _consent(admission, True)).status_code == 202
    assert _post(client, _in_episode(admission, general)).status_code == 202

    audit = client.get("/audit").json()
    refusals = [a for a in audit if a["action"] == "refused"]
    assert len(refusals) == 2 and all("SAMV-5002" in a["detail"] for a in refusals)
    states = [m["state"] for m in client.get("/messages").json()["items"]]
    assert len(states) == 4  # the two refusals are not in the relay queue


def test_a_vardbegaran_without_consent_cannot_carry_the_patients_function(client: TestClient) -> None:
    request = unique(load(FIXTURES / "messages" / "Vardbegaran-01.json"))
    _refused_at(_post(client, _consent(request, False)), "/Message/Body/Function")
    assert _post(client, _consent(request, True)).status_code == 202


def test_other_episodes_and_messages_outside_an_episode_are_not_affected(client: TestClient) -> None:
    admission = unique(load(INSKRIVNING))
    assert _post(client, _consent(admission, False)).status_code == 202
    elsewhere = unique(load(INSKRIVNING))
    assert _post(client, _in_episode(elsewhere, FIXTURES / "messages" / "GenerelltMeddelande-01.xml")).status_code == 202
    outside = unique(load(FIXTURES / "messages" / "MeddelandeUtanforVardtillfalle-01.json"))
    assert _post(client, replace(outside, patient=admission.patient)).status_code == 202
