"""The planning meeting of a KallelseSamordnadPlanering as an Appointment.

    internal                                   FHIR R4
    Message/@id                                Appointment.identifier (message-id): one per Kallelse
    Meeting/@start                             Appointment.start
    Meeting/@end                               Appointment.end
    Meeting/@minutes                           Appointment.minutesDuration, and end = start + minutes
                                               (R4 requires start and end of a booked Appointment)
    Meeting/@mode                              Appointment.extension:meeting-mode (v3 ParticipationMode,
                                               ConceptMap meeting-mode-to-participation-mode)
    Meeting/@place                             Appointment.contained Location.name, a participant
    Invitee (1..*)                             Appointment.participant.actor -> contained PractitionerRole
                                               whose organization -> Organization (R4 does not let an
                                               Appointment name an Organization as a participant: the
                                               invitation goes to "someone of this unit");
                                               status needs-action until they answer
    CareEpisode                                Appointment.supportingInformation -> Encounter

The Appointment is written once (conditional create by message id), like the Communication.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from . import identifiers as ids
from .errors import MissingElement
from .fhir import Resource, datetime_of, ext_value, extension, identifier, local_ref, reference
from .model import Meeting, MeetingMode, Message, Party
from .shared import Builder, organization_from_fhir
from .terminology import reverse, target_system, translate

__all__ = ["appointment_from_fhir", "appointment_to_fhir"]

_MODE_MAP = "meeting-mode-to-participation-mode"
_PLACE_ID = "place"


def appointment_to_fhir(b: Builder, message: Message, encounter_url: str | None) -> str:
    meeting = message.body.meeting
    assert meeting is not None
    end = meeting.end if meeting.end is not None else meeting.start + timedelta(minutes=meeting.minutes or 0)
    res: Resource = {
        "resourceType": "Appointment",
        "identifier": [identifier(ids.SYS_MESSAGE_ID, message.id)],
        "status": "booked",
        "start": meeting.start.isoformat(),
        "end": end.isoformat(),
    }
    if meeting.minutes is not None:
        res["minutesDuration"] = meeting.minutes
    if meeting.mode is not None:
        mode = translate(_MODE_MAP, meeting.mode.value, path="/Message/Body/Meeting/@mode")
        res["extension"] = [extension(ids.EXT_MEETING_MODE, "valueCoding", {"system": target_system(_MODE_MAP), "code": mode})]
    participants: list[dict[str, Any]] = []
    if meeting.place is not None:
        place = {"resourceType": "Location", "id": _PLACE_ID, "name": meeting.place}
        res["contained"] = [place]
        participants.append({"actor": local_ref(place), "status": "accepted"})
    invitees = message.body.invitees
    for i, party in enumerate(invitees):
        path = f"/Message/Body/Invitee[{i + 1}]" if len(invitees) > 1 else "/Message/Body/Invitee"
        role = {
            "resourceType": "PractitionerRole",
            "id": f"invitee{i + 1}",
            "organization": reference(b.organization(party, path)),
        }
        res.setdefault("contained", []).append(role)
        participants.append({"actor": local_ref(role), "status": "needs-action"})
    res["participant"] = participants
    if encounter_url is not None:
        res["supportingInformation"] = [reference(encounter_url)]
    return b.add("Appointment", "meeting", res, "create", ids.SYS_MESSAGE_ID, message.id)


def appointment_from_fhir(
    res: Mapping[str, Any], resolve: Callable[[Mapping[str, Any] | None, str], Mapping[str, Any]]
) -> tuple[Meeting, tuple[Party, ...]]:
    """The meeting and the invitees; ``resolve(reference, path)`` finds a referenced resource."""
    minutes = res.get("minutesDuration")
    mode_coding = ext_value(res, ids.EXT_MEETING_MODE, "valueCoding")
    mode = MeetingMode(reverse(_MODE_MAP, str(mode_coding.get("code")), path="Appointment.extension")) if mode_coding else None
    contained = {c.get("id"): c for c in res.get("contained", ())}
    place = contained.get(_PLACE_ID, {}).get("name")
    invitees = []
    for i, p in enumerate(res.get("participant", ())):
        actor = contained.get(str((p.get("actor") or {}).get("reference", "")).lstrip("#"), {})
        if actor.get("resourceType") != "PractitionerRole":
            continue
        org = resolve(actor.get("organization"), f"Appointment.participant[{i}].actor.organization")
        invitees.append(organization_from_fhir(org))
    for needed in ("start",) if minutes is not None else ("start", "end"):
        if needed not in res:
            raise MissingElement(f"the meeting has no {needed}", path=f"Appointment.{needed}", path_kind="fhirpath")
    meeting = Meeting(
        start=datetime_of(res["start"], "Appointment.start"),
        end=None if minutes is not None else datetime_of(res["end"], "Appointment.end"),
        minutes=minutes,
        mode=mode,
        place=place,
    )
    return meeting, tuple(invitees)
