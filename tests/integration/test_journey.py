"""A whole patient journey relayed in order to the real HAPI, checked message by message.

Referral to palliative care, its answer, admission, acknowledgements, care request, named care
contact, invitation to planning, discharge-ready, its withdrawal and a new date, the SIP, the
discharge and the SIP's update: after each message, what HAPI holds maps back to that message;
at the end, the episode, the referral and the plan are in the state the journey left them.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapter.fhir import FhirClient
from adapter.relay import RelayResult, relay_message
from mappings import from_fhir
from mappings import identifiers as ids
from mappings.fhir import ext_value
from mappings.model import Message, MessageType
from tests.support import JOURNEYS, Renamer, load

from .conftest import Hapi


def _documents(journey: Path) -> list[Path]:
    return sorted(p for p in journey.iterdir() if p.suffix in (".xml", ".json"))


def _relay_all(messages: list[Message], base_url: str, hapi: Hapi) -> list[RelayResult]:
    async def go() -> list[RelayResult]:
        results = []
        async with FhirClient(base_url) as fhir:
            for m in messages:
                results.append(await relay_message(m, fhir, recorded=datetime.now(UTC)))
                # Read back before the next message changes the shared state.
                assert from_fhir(hapi.message(m.id)) == m, f"{m.type.value} does not read back as sent"
        return results

    return asyncio.run(go())


def _one(hapi: Hapi, resource_type: str, system: str, value: str) -> dict:
    found = hapi.search(resource_type, {"identifier": f"{system}|{value}"})
    entries = found.get("entry", [])
    assert len(entries) == 1, f"{len(entries)} {resource_type} with {value}"
    return entries[0]["resource"]


@pytest.mark.parametrize("journey", JOURNEYS, ids=lambda p: p.name)
def test_a_whole_journey_reads_back_message_by_message_and_ends_in_the_right_state(
    journey: Path, fhir_base_url: str, hapi: Hapi
) -> None:
    rename = Renamer()
    messages = [rename(load(p)) for p in _documents(journey)]
    types = [m.type for m in messages]
    assert {MessageType.REMISS, MessageType.INSKRIVNINGSMEDDELANDE, MessageType.SIP, MessageType.UTSKRIVNINGSMEDDELANDE} <= set(
        types
    )

    _relay_all(messages, fhir_base_url, hapi)

    # One Communication per message, all about one patient.
    patient = messages[0].patient
    comms = hapi.search(
        "Communication", {"subject:Patient.identifier": f"{ids.PERSONNUMMER}|{patient.id_value}", "_count": "100"}
    )
    assert sorted(e["resource"]["identifier"][0]["value"] for e in comms.get("entry", [])) == sorted(m.id for m in messages)

    # The episode: one Encounter, finished, with admission, discharge and the last discharge-ready date.
    admission = next(m for m in messages if m.type is MessageType.INSKRIVNINGSMEDDELANDE)
    episode = admission.care_episode
    assert episode is not None and episode.admitted is not None
    encounter = _one(hapi, "Encounter", ids.SYS_VARDTILLFALLE, f"{episode.issuer}:{episode.id}")
    discharge = next(m for m in messages if m.type is MessageType.UTSKRIVNINGSMEDDELANDE)
    assert discharge.body.discharged is not None
    last_ready = [m for m in messages if m.type is MessageType.UTSKRIVNINGSKLAR][-1]
    assert last_ready.body.discharge_ready is not None
    assert encounter["status"] == "finished"
    assert encounter["period"]["start"] == episode.admitted.isoformat()
    assert encounter["period"]["end"] == discharge.body.discharged.isoformat()
    assert ext_value(encounter, ids.EXT_DISCHARGE_READY, "valueDate") == last_ready.body.discharge_ready.isoformat()
    last = {m.type: i for i, m in enumerate(messages)}
    if last.get(MessageType.ATERTAG_UTSKRIVNINGSKLAR, -1) < last[MessageType.UTSKRIVNINGSKLAR]:
        assert ext_value(encounter, ids.EXT_DISCHARGE_READY_WITHDRAWN, "valueDate") is None
    assert admission.body.preliminary_discharge_ready is not None
    assert (
        ext_value(encounter, ids.EXT_PRELIMINARY_DISCHARGE_READY, "valueDate")
        == admission.body.preliminary_discharge_ready.isoformat()
    )

    # The referral: answered as the RemissSvar said, and still the referral the Remiss made.
    remiss = next(m for m in messages if m.type is MessageType.REMISS)
    referral = remiss.body.referral
    assert referral is not None
    key = f"{referral.issuer}:{referral.id}"
    answer = next(m for m in messages if m.type is MessageType.REMISS_SVAR)
    assert answer.body.decision is not None
    task = _one(hapi, "Task", ids.SYS_REMISS, key)
    request = _one(hapi, "ServiceRequest", ids.SYS_REMISS, key)
    assert task["status"] == {"accepted": "accepted", "declined": "rejected"}[answer.body.decision.outcome.value]
    assert request["code"]["coding"][0]["code"] == referral.care_level

    # The SIP: one plan, in the state of its last message.
    sips = [m for m in messages if m.type is MessageType.SIP]
    plan = sips[-1].body.plan
    assert plan is not None
    care_plan = _one(hapi, "CarePlan", ids.SYS_SIP, f"{plan.issuer}:{plan.id}")
    assert ext_value(care_plan, ids.EXT_SIP_STATUS, "valueCoding")["code"] == plan.status.value
    assert care_plan["status"] == ("completed" if plan.status.value == "avslutad" else "active")
    _one(hapi, "CareTeam", ids.SYS_SIP, f"{plan.issuer}:{plan.id}")
    _one(hapi, "Consent", ids.SYS_SIP, f"{plan.issuer}:{plan.id}")
