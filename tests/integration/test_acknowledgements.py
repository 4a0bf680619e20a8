"""Acknowledgements as Tasks on the real HAPI (docs/domain.md rules 1 and 2; issue 6).

Part of the palliativ-01 journey goes through the adapter (POST /messages, its worker, HAPI):
the Inskrivningsmeddelande and both recipients' Kvittenser, then the Kallelse and only the
kommun's Kvittens. HAPI then holds one Task per recipient and message with its due time; the
three Kvittenser completed theirs; the scheduler, run with the clock a user would have on the day
after, marks the one the slutenvård never sent overdue, and nothing else of ours.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

from fastapi.testclient import TestClient

from adapter import codec
from adapter.config import Settings
from adapter.fhir import FhirClient
from adapter.http import create_app
from adapter.relay.overdue import mark_overdue
from adapter.rules.deadlines import STOCKHOLM
from mappings import identifiers as ids
from tests.faultproxy import FaultProxy
from tests.support import JOURNEYS, Renamer, load

from .conftest import Hapi
from .test_relay_to_hapi import _until

KOMMUN, VC, SJUKHUS = "SE2321000131-E000000000101", "SE2321000131-E000000000201", "SE2321000131-E000000000011"
STEPS = ["03-Inskrivningsmeddelande", "04-Kvittens", "05-Kvittens", "08-KallelseSamordnadPlanering", "09-Kvittens"]


def _task(hapi: Hapi, message_id: str, recipient: str) -> dict:
    found = hapi.search("Task", {"identifier": f"{ids.SYS_KVITTENS}|{message_id}:{recipient}"})
    tasks = [e["resource"] for e in found.get("entry", ())]
    assert len(tasks) == 1, f"{len(tasks)} Tasks for the Kvittens of {message_id} from {recipient}"
    return tasks[0]


def _status(task: dict) -> tuple[str, str]:
    return task["status"], task["businessStatus"]["coding"][0]["code"]


def test_expected_acknowledgements_are_tasks_completed_by_kvittens_and_one_becomes_overdue(
    fhir_base_url: str, hapi: Hapi, tmp_path
) -> None:
    rename = Renamer()
    inskrivning, kv1, kv2, kallelse, kv3 = (rename(load(JOURNEYS[0] / f"{step}.xml")) for step in STEPS)
    settings = Settings(fhir_base_url=fhir_base_url, journal_path=str(tmp_path / "j.sqlite3"), overdue_interval=0)
    with TestClient(create_app(settings)) as client:
        for m in (inskrivning, kv1, kv2, kallelse, kv3):
            posted = client.post("/messages", content=codec.encode_xml(m), headers={"Content-Type": "application/xml"})
            assert posted.status_code == 202, posted.text
            assert _until(client, m.id, ("delivered", "dead-lettered"))["state"] == "delivered"

    # Sent Tuesday 2026-03-10 08:30: due at the end of Wednesday. The Kallelse, sent Wednesday
    # 09:05 (before 14:00 on the day before Thursday): due at the end of Thursday.
    expected = {
        (inskrivning.id, KOMMUN): ("2026-03-11T23:59:59+01:00", ("completed", "received"), kv1.id),
        (inskrivning.id, VC): ("2026-03-11T23:59:59+01:00", ("completed", "received"), kv2.id),
        (kallelse.id, KOMMUN): ("2026-03-12T23:59:59+01:00", ("completed", "received"), kv3.id),
        (kallelse.id, SJUKHUS): ("2026-03-12T23:59:59+01:00", ("requested", "open"), None),
    }
    for (message_id, recipient), (due, status, kvittens) in expected.items():
        task = _task(hapi, message_id, recipient)
        assert task["restriction"]["period"]["end"] == due
        assert _status(task) == status, (message_id, recipient)
        focus = hapi.read(task["focus"]["reference"])
        assert focus["identifier"][0]["value"] == message_id
        assert hapi.read(task["owner"]["reference"])["identifier"][0]["value"] == recipient
        if kvittens is not None:
            output = hapi.read(task["output"][0]["valueReference"]["reference"])
            assert output["identifier"][0]["value"] == kvittens

    async def scheduler_at(now: datetime) -> int:
        async with FhirClient(fhir_base_url) as fhir:
            return await mark_overdue(fhir, now)

    asyncio.run(scheduler_at(datetime(2026, 3, 12, 23, 0, tzinfo=STOCKHOLM)))  # an hour before it is due
    assert _status(_task(hapi, kallelse.id, SJUKHUS)) == ("requested", "open")
    assert asyncio.run(scheduler_at(datetime(2026, 3, 13, 8, 0, tzinfo=STOCKHOLM))) >= 1
    assert _status(_task(hapi, kallelse.id, SJUKHUS)) == ("requested", "overdue")
    for (message_id, recipient), (_, status, _) in expected.items():
        if recipient != SJUKHUS:
            assert _status(_task(hapi, message_id, recipient)) == status  # completed stays completed
    assert asyncio.run(scheduler_at(datetime(2026, 3, 13, 8, 0, tzinfo=STOCKHOLM))) == 0  # nothing twice


def test_shutdown_does_not_wait_for_a_round_of_the_scheduler(fhir_base_url: str, tmp_path) -> None:
    # A round on a server holding thousands of open Tasks takes minutes; SIGTERM must not. Here
    # the round's search hangs (the proxy holds it for 60 s) while the adapter is told to stop.
    with FaultProxy(fhir_base_url.removesuffix("/fhir"), faults={"timeout-before": 1.0}, hang=60) as proxy:
        settings = Settings(
            fhir_base_url=f"{proxy.url}/fhir",
            journal_path=str(tmp_path / "j.sqlite3"),
            relay_parallel=0,
            overdue_interval=3600,
            fhir_timeout=120,
        )
        with TestClient(create_app(settings)):
            deadline = time.monotonic() + 10
            while proxy.counts["timeout-before"] == 0:
                assert time.monotonic() < deadline, "the scheduler never asked the server"
                time.sleep(0.05)
            stopping = time.monotonic()
        stopped = time.monotonic() - stopping
    assert stopped < 10, f"shutdown waited {stopped:.0f} s for the scheduler"
