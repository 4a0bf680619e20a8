"""No personal identity number in clear text anywhere the adapter shows or tells (issue 7).

A whole journey goes through a real `samverkan serve` to the real HAPI. Then an operator without
the reveal right reads everything the service exposes (the relay log and its details, documents,
bundles, reports, the timeline, metrics, stats, the console's pages) and the service's own log
(JSON lines, at INFO, access log included). None of it may hold the patient's number in any
spelling. A reveal by a user with the right shows it, and is in the audit log.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import httpx

from adapter import codec
from adapter.security import Accounts, Role
from mappings.keys import order_key
from tests.load import Served
from tests.support import JOURNEYS, Renamer, load

from .conftest import Hapi


def _spellings(number: str) -> list[str]:
    """191212121212, 19121212-1212, 1212121212, 121212-1212, 121212+1212."""
    short = number[2:]
    return [number, f"{number[:8]}-{number[8:]}", short, f"{short[:6]}-{short[6:]}", f"{short[:6]}+{short[6:]}"]


def test_nothing_exposed_or_logged_during_a_journey_shows_a_personnummer(fhir_base_url: str, hapi: Hapi, tmp_path: Path) -> None:
    rename = Renamer(random.Random(1912))
    journey = [rename(load(p)) for p in sorted(JOURNEYS[0].glob("*.xml"))]
    numbers = {m.patient.id_value for m in journey}
    users = tmp_path / "users.json"
    accounts = Accounts.load(str(users))
    accounts.add("olle", "olle-pw", frozenset({Role.OPERATOR}))
    accounts.add("rut", "rut-pw", frozenset({Role.OPERATOR, Role.REVEAL}))
    accounts.save()
    served = Served(
        {
            "SAMVERKAN_FHIR_BASE_URL": fhir_base_url,
            "SAMVERKAN_JOURNAL_PATH": str(tmp_path / "journal.sqlite3"),
            "SAMVERKAN_USERS_FILE": str(users),
            "SAMVERKAN_LOG_FORMAT": "json",
            "SAMVERKAN_ALERT_INTERVAL": "1",
        },
        tmp_path / "serve.log",
        worker_id="privacy",
    )
    served.env["SAMVERKAN_LOG_LEVEL"] = "INFO"
    served.start()
    seen: list[tuple[str, str]] = []  # (where, text)
    try:
        olle = httpx.Client(base_url=served.url, auth=("olle", "olle-pw"), timeout=30)
        for m in journey:
            posted = httpx.post(
                f"{served.url}/messages", content=codec.encode_xml(m), headers={"Content-Type": "application/xml"}
            )
            assert posted.status_code == 202, posted.text
            seen.append(("POST /messages", posted.text))
        refused = httpx.post(
            f"{served.url}/messages",
            content=b"<Message personnummer='" + journey[0].patient.id_value.encode() + b"'",
            headers={"Content-Type": "application/xml"},
        )
        assert refused.status_code == 400
        seen.append(("a refusal", refused.text))
        deadline = time.monotonic() + 120
        while (states := {r["state"] for r in olle.get("/messages", params={"limit": 100}).json()["items"]}) != {"delivered"}:
            assert time.monotonic() < deadline, f"not all delivered in 120 s: {states}"
            time.sleep(0.5)

        key = order_key(journey[2])
        paths = [
            "/messages?limit=100",
            "/metrics",
            "/stats",
            "/ready",
            "/health",
            "/reports/findings",
            "/reports/overdue",
            f"/episodes/{key}/timeline",
            "/audit",
            "/ui",
            f"/ui/episodes/{key}",
            "/ui/audit",
        ]
        for m in journey:
            paths += [f"/messages/{m.id}", f"/messages/{m.id}/document", f"/messages/{m.id}/bundle", f"/ui/messages/{m.id}"]
        for path in paths:
            response = olle.get(path)
            assert response.status_code == 200, (path, response.status_code, response.text[:300])
            seen.append((path, response.text))
        search = olle.post("/messages/search", json={"patient": journey[0].patient.id_value, "limit": 100})
        assert len(search.json()["items"]) == len(journey)
        seen.append(("POST /messages/search", search.text))
        assert olle.get(f"/messages/{journey[0].id}/document", params={"reveal": "true"}).status_code == 403
        # What he is shown instead is the mask of docs/security.md, the birth year and nothing more
        patient = journey[0].patient
        masked = f"{patient.id_value[:4]}****-****"
        document = olle.get(f"/messages/{journey[0].id}/document").text
        assert f'<Patient {patient.id_kind.value}="{masked}">' in document, document[:800]
        bundle = olle.get(f"/messages/{journey[0].id}/bundle").json()
        shown = [e["resource"]["identifier"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
        assert shown == [[{"system": f"http://electronichealth.se/identifier/{patient.id_kind.value}", "value": masked}]]

        rut = httpx.Client(base_url=served.url, auth=("rut", "rut-pw"), timeout=30)
        revealed = rut.get(f"/messages/{journey[0].id}/document", params={"reveal": "true"})
        assert revealed.status_code == 200 and journey[0].patient.id_value in revealed.text
        audit = olle.get("/audit", params={"limit": 1000}).json()
        # Newest first: the reveal, and the refusal above (audited in the journal, never on HAPI);
        # every read of the patient's data in between is in the access log (patientdatalagen).
        acted = [(e["actor"], e["action"], e["messageId"]) for e in audit if e["action"] in ("reveal", "refused")]
        assert acted == [("rut", "reveal", journey[0].id), ("anonymous", "refused", None)]
        reads = {(e["actor"], e["action"]) for e in audit if e["action"] not in ("reveal", "refused")}
        shown = ("read-message", "read-document", "read-bundle", "read-timeline", "read-findings", "read-overdue", "search")
        assert reads == {("olle", a) for a in shown}
        olle.close()
        rut.close()
    finally:
        served.stop()
    log = served.log.read_text()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any("POST /messages" in line["message"] for line in lines), "the access log was not on"
    seen.append(("the log", log))
    for where, text in seen:
        for number in numbers:
            for spelling in _spellings(number):
                assert spelling not in text, f"{where} shows {spelling[:6]}…"
