"""The relay log over HTTP as operators use it: filters, paging, search by patient without the
number ever coming back, masked documents, reveals that are audited, roles, the correlation id,
and /metrics. A real journal (SQLite) behind the real app; nothing is relayed (relay_parallel=0)."""

from __future__ import annotations

import base64
import random
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapter import codec
from adapter.config import Settings
from adapter.http import create_app
from adapter.observability import redact
from adapter.security import Accounts, Role
from mappings.model import Message
from tests.support import JOURNEYS, Renamer, load

J = JOURNEYS[0]
STEPS = ["03-Inskrivningsmeddelande", "04-Kvittens", "05-Kvittens", "08-KallelseSamordnadPlanering", "10-Utskrivningsklar"]


def _journey(seed: int) -> list[Message]:
    rename = Renamer(random.Random(seed))
    return [rename(load(J / f"{s}.xml")) for s in STEPS]


def _post(client: TestClient, m: Message, **headers: str) -> dict:
    response = client.post("/messages", content=codec.encode_xml(m), headers={"Content-Type": "application/xml", **headers})
    assert response.status_code == 202, response.text
    return response.json()


def _basic(name: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        journal_path=str(tmp_path / "j.sqlite3"),
        journal_url=None,
        relay_parallel=0,
        overdue_interval=0,
        fhir_base_url="http://127.0.0.1:9/fhir",  # nothing relays; the watcher finds it unreachable
    )


def test_filters_paging_and_a_search_by_patient_that_never_echoes_the_number(settings: Settings) -> None:
    first, second = _journey(1), _journey(2)
    with TestClient(create_app(settings)) as client:
        for m in first + second:
            _post(client, m)
        everything = client.get("/messages", params={"limit": 500}).json()["items"]
        assert [m["messageId"] for m in everything] == [m.id for m in reversed(first + second)]  # newest first

        by_type = client.get("/messages", params={"type": "Kvittens"}).json()["items"]
        assert {m["messageId"] for m in by_type} == {first[1].id, first[2].id, second[1].id, second[2].id}
        kommun = first[0].recipients[0].hsa_id
        to_kommun = client.get("/messages", params={"recipient": kommun}).json()["items"]
        assert {m["messageId"] for m in to_kommun} == {m.id for m in first + second if kommun in {r.hsa_id for r in m.recipients}}
        assert client.get("/messages", params={"recipient": kommun[:-1]}).json()["items"] == []  # whole ids only
        sender = first[1].sender.hsa_id
        assert {m["messageId"] for m in client.get("/messages", params={"sender": sender}).json()["items"]} == {
            m.id for m in first + second if m.sender.hsa_id == sender
        }
        key = everything[-1]["key"]
        assert {m["messageId"] for m in client.get("/messages", params={"key": key}).json()["items"]} == {m.id for m in first}
        one = client.get("/messages", params={"id": second[3].id}).json()["items"]
        assert [m["messageId"] for m in one] == [second[3].id]
        assert client.get("/messages", params={"until": "2000-01-01T00:00:00Z"}).json()["items"] == []
        assert len(client.get("/messages", params={"since": "2000-01-01T00:00:00Z", "limit": 500}).json()["items"]) == 10

        # Pages of 3 follow ``next`` to the end, each message once.
        seen, url = [], "/messages?limit=3"
        while url:
            page = client.get(url).json()
            seen += [m["messageId"] for m in page["items"]]
            url = page["next"]
        assert seen == [m["messageId"] for m in everything]

        number = first[0].patient.id_value
        dashed = f"{number[:8]}-{number[8:]}"
        found = client.post("/messages/search", json={"patient": dashed, "limit": 500})
        assert found.status_code == 200
        assert {m["messageId"] for m in found.json()["items"]} == {m.id for m in first}
        assert number not in found.text and dashed not in found.text
        narrowed = client.post("/messages/search", json={"patient": number, "type": "Utskrivningsklar"}).json()["items"]
        assert [m["messageId"] for m in narrowed] == [first[4].id]
        partial = client.post("/messages/search", json={"patient": number[:8]})
        assert partial.status_code == 400 and partial.json()["issue"][0]["expression"] == ["patient"]
        assert number[:8] not in partial.text


def test_detail_shows_the_document_masked_and_only_a_reveal_right_unmasks_it(settings: Settings, tmp_path: Path) -> None:
    users = tmp_path / "users.json"
    accounts = Accounts.load(str(users), cost=14)  # not OWASP's 2^17: this test is not about the cost
    accounts.add("olle", "olle-pw", frozenset({Role.OPERATOR}))
    accounts.add("rut", "rut-pw", frozenset({Role.OPERATOR, Role.REVEAL}))
    accounts.add("ada", "ada-pw", frozenset({Role.AUDITOR}))
    accounts.save()
    m = _journey(3)[0]
    number = m.patient.id_value
    with TestClient(create_app(settings.model_copy(update={"users_file": str(users), "password_cost": 14}))) as client:
        assert client.get("/messages").status_code == 401
        _post(client, m)  # senders are not operators (their authentication is issue 9)
        detail = client.get(f"/messages/{m.id}", headers=_basic("olle", "olle-pw"))
        assert detail.status_code == 200
        shown = detail.json()
        assert shown["type"] == "Inskrivningsmeddelande" and shown["recipients"] == [r.hsa_id for r in m.recipients]
        assert number not in detail.text and redact(number) in shown["document"]
        assert number not in client.get(f"/messages/{m.id}/bundle", headers=_basic("olle", "olle-pw")).text
        assert client.get(f"/messages/{m.id}/document", headers=_basic("olle", "olle-pw")).text.count(number) == 0
        refused = client.get(f"/messages/{m.id}/document", params={"reveal": "true"}, headers=_basic("olle", "olle-pw"))
        assert refused.status_code == 403 and refused.json()["resourceType"] == "OperationOutcome"
        acted = ("reveal", "replay", "cancel")  # what changes or unmasks; every read is in the access log too
        assert [e for e in client.get("/audit", headers=_basic("ada", "ada-pw")).json() if e["action"] in acted] == []

        revealed = client.get(f"/messages/{m.id}/document", params={"reveal": "true"}, headers=_basic("rut", "rut-pw"))
        assert revealed.status_code == 200 and number in revealed.text
        (entry,) = [e for e in client.get("/audit", headers=_basic("ada", "ada-pw")).json() if e["action"] in acted]
        assert (entry["actor"], entry["action"], entry["messageId"]) == ("rut", "reveal", m.id)

        # The auditor looks and changes nothing; a wrong password is no one.
        assert client.post(f"/messages/{m.id}/cancel", headers=_basic("ada", "ada-pw")).status_code == 403
        assert client.post(f"/messages/{m.id}/cancel", headers=_basic("olle", "wrong")).status_code == 401
        assert client.post(f"/messages/{m.id}/cancel", headers=_basic("olle", "olle-pw")).json()["state"] == "cancelled"
        audit = client.get("/audit", headers=_basic("ada", "ada-pw")).json()
        assert [e["action"] for e in audit if e["action"] in acted] == ["cancel", "reveal"]


def test_the_senders_request_id_is_kept_with_the_message_and_answered(settings: Settings) -> None:
    m = _journey(4)[0]
    with TestClient(create_app(settings)) as client:
        posted = client.post(
            "/messages", content=codec.encode_xml(m), headers={"Content-Type": "application/xml", "X-Request-ID": "vendor-42"}
        )
        assert posted.headers["X-Request-ID"] == "vendor-42"
        assert client.get(f"/messages/{m.id}").json()["correlationId"] == "vendor-42"
        made = client.get("/health").headers["X-Request-ID"]
        assert len(made) == 32  # none sent: one is made
        odd = client.get("/health", headers={"X-Request-ID": "x" * 200}).headers["X-Request-ID"]
        assert odd != "x" * 200  # too long to log: replaced


def test_metrics_count_by_type_and_state_and_name_no_patient(settings: Settings) -> None:
    journey = _journey(5)
    with TestClient(create_app(settings)) as client:
        for m in journey:
            _post(client, m)
        _post(client, journey[0])  # a duplicate is not counted again
        refused = client.post("/messages", content=b"<Message", headers={"Content-Type": "application/xml"})
        assert refused.status_code == 400
        text = client.get("/metrics").text
    lines = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines() if line and not line.startswith("#")}
    assert lines['samverkan_messages_accepted_total{type="Kvittens"}'] == 2
    assert lines['samverkan_messages_accepted_total{type="Inskrivningsmeddelande"}'] == 1
    assert sum(v for k, v in lines.items() if k.startswith("samverkan_messages_refused_total")) == 1
    assert lines['samverkan_journal_messages{state="accepted"}'] == 5
    assert lines["samverkan_queue_depth"] == 5 and lines["samverkan_oldest_waiting_seconds"] >= 0
    assert lines['samverkan_findings{status="open"}'] >= 1
    for m in journey:
        assert m.patient.id_value not in text and m.id not in text
