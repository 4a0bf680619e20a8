"""The state resources: each message changes only what it carries, on top of what the server has."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from mappings import identifiers as ids
from mappings import to_fhir
from mappings.bundle import Entry
from mappings.fhir import ext_value
from mappings.model import (
    Body,
    CareContact,
    CareContactRole,
    CareEpisode,
    Decision,
    DecisionOutcome,
    Message,
    MessageType,
    Party,
    PartyKind,
    Patient,
    PatientIdKind,
    Reason,
    Referral,
)

TZ = timezone(timedelta(hours=1))
HOSPITAL = Party("SE2321000131-E000000000011", PartyKind.SLUTENVARD, "Med 1")
KOMMUN = Party("SE2321000131-E000000000101", PartyKind.KOMMUN, "Hemsjukvården")
VC = Party("SE2321000131-E000000000201", PartyKind.NARSJUKVARD, "Vårdcentralen")
ASIH = Party("SE2321000131-E000000000401", PartyKind.SPECIALISERAD_PALLIATIV, "ASIH")
EPISODE = CareEpisode("VT-1", HOSPITAL.hsa_id, datetime(2026, 3, 1, 22, 10, tzinfo=TZ))
PATIENT = Patient(PatientIdKind.PERSONNUMMER, "191212121212")


def _message(
    mtype: MessageType, body: Body, *, sender: Party = HOSPITAL, day: int = 2, episode: CareEpisode | None = EPISODE
) -> Message:
    sent = datetime(2026, 3, day, 9, 0, tzinfo=TZ)
    return Message(f"00000000-0000-0000-0000-{day:012d}", mtype, sent, sender, (KOMMUN, VC), PATIENT, body, episode)


def _entry(message: Message, resource_type: str) -> Entry:
    return next(e for e in to_fhir(message) if e.resource["resourceType"] == resource_type)


def _server(entry: Entry, current: dict | None = None) -> dict:
    """What the server holds after ``entry`` is written over ``current``, with an id and version."""
    resource = entry.merge(current) if (entry.merge and current is not None) else entry.resource
    return {**resource, "id": "e1", "meta": {"versionId": "3"}}


def _episode_after(*messages: Message) -> dict:
    current = None
    for m in messages:
        current = _server(_entry(m, "Encounter"), current)
    assert current is not None
    return current


ADMISSION = _message(MessageType.INSKRIVNINGSMEDDELANDE, Body(preliminary_discharge_ready=date(2026, 3, 5)))
READY = _message(
    MessageType.UTSKRIVNINGSKLAR, Body(discharge_ready=date(2026, 3, 6)), day=4, episode=replace(EPISODE, admitted=None)
)
WITHDRAWN = _message(
    MessageType.ATERTAG_UTSKRIVNINGSKLAR,
    Body(withdrawal=date(2026, 3, 5), reason=Reason(text="feber")),
    day=5,
    episode=replace(EPISODE, admitted=None),
)


def test_a_later_message_keeps_what_earlier_ones_set_on_the_encounter() -> None:
    encounter = _episode_after(ADMISSION, READY)
    assert encounter["period"]["start"] == "2026-03-01T22:10:00+01:00"
    assert ext_value(encounter, ids.EXT_PRELIMINARY_DISCHARGE_READY, "valueDate") == "2026-03-05"
    assert ext_value(encounter, ids.EXT_DISCHARGE_READY, "valueDate") == "2026-03-06"
    assert encounter["status"] == "in-progress"


def test_a_withdrawal_removes_the_discharge_ready_date_and_a_new_one_clears_the_withdrawal() -> None:
    withdrawn = _episode_after(ADMISSION, READY, WITHDRAWN)
    assert ext_value(withdrawn, ids.EXT_DISCHARGE_READY, "valueDate") is None
    assert ext_value(withdrawn, ids.EXT_DISCHARGE_READY_WITHDRAWN, "valueDate") == "2026-03-05"
    again = replace(READY, id="00000000-0000-0000-0000-000000000099", body=Body(discharge_ready=date(2026, 3, 9)))
    ready_again = _episode_after(ADMISSION, READY, WITHDRAWN, again)
    assert ext_value(ready_again, ids.EXT_DISCHARGE_READY, "valueDate") == "2026-03-09"
    assert ext_value(ready_again, ids.EXT_DISCHARGE_READY_WITHDRAWN, "valueDate") is None


def test_the_discharge_notice_finishes_the_encounter_and_a_late_acknowledgement_does_not_reopen_it() -> None:
    from mappings.model import Checklist

    discharged = datetime(2026, 3, 9, 11, 0, tzinfo=TZ)
    notice = _message(
        MessageType.UTSKRIVNINGSMEDDELANDE,
        Body(discharged=discharged, hemgangsklar=Checklist(True, True, True, True, True)),
        day=9,
    )
    ack = _message(
        MessageType.KVITTENS, Body(acknowledges=notice.id), sender=KOMMUN, day=10, episode=replace(EPISODE, admitted=None)
    )
    encounter = _episode_after(ADMISSION, notice, ack)
    assert encounter["status"] == "finished"
    assert encounter["period"] == {"start": "2026-03-01T22:10:00+01:00", "end": "2026-03-09T11:00:00+01:00"}
    # The hospital stays the service provider when the municipality writes to the episode.
    assert encounter["serviceProvider"] == _entry(notice, "Encounter").resource["serviceProvider"]


def test_an_update_onto_the_server_resource_is_written_to_its_id_with_if_match() -> None:
    entry = _entry(READY, "Encounter")
    request = entry.onto(_server(_entry(ADMISSION, "Encounter"))).as_json()["request"]
    assert request == {"method": "PUT", "url": "Encounter/e1", "ifMatch": 'W/"3"'}
    # With nothing on the server it is a conditional update by the business identifier.
    assert entry.as_json()["request"]["url"].startswith(f"Encounter?identifier={ids.SYS_VARDTILLFALLE}|")


def test_a_named_physician_later_does_not_remove_the_named_care_contact() -> None:
    def contact(role: CareContactRole, n: int) -> Message:
        person = CareContact(f"SE2321000131-P00000000000{n}", role, f"Person {n}")
        return _message(MessageType.FAST_VARDKONTAKT, Body(care_contacts=(person,)), sender=VC, day=2 + n)

    first = _server(_entry(contact(CareContactRole.FAST_VARDKONTAKT, 1), "CareTeam"))
    team = _entry(contact(CareContactRole.FAST_LAKARKONTAKT, 2), "CareTeam")
    merged = team.merge(first) if team.merge else None
    assert merged is not None
    roles = [p["role"][0]["coding"][0]["code"] for p in merged["participant"]]
    assert roles == ["fast-vardkontakt", "fast-lakarkontakt"]
    replaced = _entry(contact(CareContactRole.FAST_VARDKONTAKT, 3), "CareTeam")
    assert replaced.merge is not None
    again = replaced.merge(merged)
    assert [p["role"][0]["coding"][0]["code"] for p in again["participant"]] == ["fast-lakarkontakt", "fast-vardkontakt"]


@pytest.mark.parametrize(
    ("outcome", "task", "request_status"), [("accepted", "accepted", "active"), ("declined", "rejected", "revoked")]
)
def test_a_referral_answer_changes_the_status_and_keeps_the_referral(outcome: str, task: str, request_status: str) -> None:
    from mappings.model import CareLevel, Provider, ProviderChoice

    remiss = _message(
        MessageType.REMISS,
        Body(
            referral=Referral("REM-1", VC.hsa_id, CareLevel.SPECIALISERAD_SLUTENVARD, True),
            provider=Provider(ASIH.hsa_id, ASIH.kind, ProviderChoice.VARDVAL, ASIH.name),
        ),
        sender=VC,
        episode=None,
    )
    answer = _message(
        MessageType.REMISS_SVAR,
        Body(referral=Referral("REM-1", VC.hsa_id), decision=Decision(DecisionOutcome(outcome), reason="plats saknas")),
        sender=ASIH,
        day=3,
        episode=None,
    )
    sr = _entry(answer, "ServiceRequest")
    assert sr.merge is not None
    after = sr.merge(_server(_entry(remiss, "ServiceRequest")))
    assert after["status"] == request_status
    assert after["priority"] == "stat" and after["code"]["coding"][0]["code"] == "specialiserad-palliativ-slutenvard"
    task_entry = _entry(answer, "Task")
    assert task_entry.merge is not None
    after_task = task_entry.merge(_server(_entry(remiss, "Task")))
    assert after_task["status"] == task
    assert after_task["statusReason"] == {"text": "plats saknas"}
    assert after_task["authoredOn"] == remiss.sent.isoformat()
