"""The inpatient episode (vårdtillfälle) as an Encounter: its current state, message by message.

    internal                                   FHIR R4
    CareEpisode/@issuer + @id                  Encounter.identifier (vardtillfalle, "{issuer}:{id}")
    CareEpisode/@admitted                      Encounter.period.start
    CareEpisode/@care                          Encounter.type (CodeSystem care-type)
    (inpatient)                                Encounter.class = v3-ActCode#IMP
    Message/@type                              Encounter.status (ConceptMap message-type-to-encounter-status)
    PreliminaryDischargeReady/@date            Encounter.extension:preliminary-discharge-ready
    DischargeReady/@date (Utskrivningsklar)    Encounter.extension:discharge-ready
    Withdrawal/@date (Atertag...)              Encounter.extension:discharge-ready-withdrawn, and
                                               extension:discharge-ready removed
    Discharge/@time (Utskrivningsmeddelande)   Encounter.period.end, status finished
    Reason (AvbrutenVardplanering)             Encounter.extension:planning-aborted (CodeableConcept)
    Patient                                    Encounter.subject
    Sender (slutenvård)                        Encounter.serviceProvider

The Encounter is the episode's state, owned by the adapter and written by conditional update
on its identifier. Each message changes only what it carries: :func:`apply` takes the current
Encounter (or None) and returns the next. What a message itself said stays on its Communication.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import identifiers as ids
from .errors import MissingElement
from .fhir import Resource, concept, evolve, extension, identifier, identifier_value, put_extension, reference
from .model import CareEpisode, Message, MessageType, PartyKind
from .shared import reason_concept
from .terminology import has_translation, translate

__all__ = ["apply", "episode_key", "episode_of"]

_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_STATUS_MAP = "message-type-to-encounter-status"


def episode_key(episode: CareEpisode) -> str:
    """The business identifier value of an episode, ``{issuer}:{id}``."""
    if episode.issuer is None:
        raise MissingElement("the episode has no issuer", path="/Message/CareEpisode/@issuer")
    return f"{episode.issuer}:{episode.id}"


def apply(current: Mapping[str, Any] | None, message: Message, *, patient_ref: str, provider_ref: str | None) -> Resource:
    """The Encounter after ``message``; ``current`` is the one the server holds, if any."""
    episode = message.care_episode
    assert episode is not None, "only messages of an episode change an Encounter"
    res = evolve(current, {})
    res["resourceType"] = "Encounter"
    res["identifier"] = [i for i in res.get("identifier", ()) if i.get("system") != ids.SYS_VARDTILLFALLE]
    res["identifier"].insert(0, identifier(ids.SYS_VARDTILLFALLE, episode_key(episode)))
    if has_translation(_STATUS_MAP, message.type.value):
        res["status"] = translate(_STATUS_MAP, message.type.value, path="/Message/@type")
    else:
        res.setdefault("status", "in-progress")
    res.setdefault("class", {"system": _ACT_CODE, "code": "IMP", "display": "inpatient encounter"})
    res["subject"] = reference(patient_ref)
    if provider_ref is not None and (message.sender.kind is PartyKind.SLUTENVARD or "serviceProvider" not in res):
        res["serviceProvider"] = reference(provider_ref)
    if episode.care is not None:
        res["type"] = [concept(ids.CS_CARE_TYPE, episode.care.value)]
    period = dict(res.get("period") or {})
    if episode.admitted is not None:
        period["start"] = episode.admitted.isoformat()
    body = message.body
    if message.type is MessageType.UTSKRIVNINGSMEDDELANDE and body.discharged is not None:
        period["end"] = body.discharged.isoformat()
    if period:
        res["period"] = period
    _discharge_dates(res, message)
    if message.type is MessageType.AVBRUTEN_VARDPLANERING and body.reason is not None:
        put_extension(
            res,
            ids.EXT_PLANNING_ABORTED,
            extension(ids.EXT_PLANNING_ABORTED, "valueCodeableConcept", reason_concept(body.reason)),
        )
    return res


def _discharge_dates(res: Resource, message: Message) -> None:
    """The preliminary and final discharge-ready dates the message sets or withdraws, as extensions."""
    body = message.body
    if body.preliminary_discharge_ready is not None:
        put_extension(
            res,
            ids.EXT_PRELIMINARY_DISCHARGE_READY,
            extension(ids.EXT_PRELIMINARY_DISCHARGE_READY, "valueDate", body.preliminary_discharge_ready.isoformat()),
        )
    if message.type is MessageType.UTSKRIVNINGSKLAR and body.discharge_ready is not None:
        # A new final date after a withdrawal starts over (docs/domain.md rule 5).
        put_extension(
            res, ids.EXT_DISCHARGE_READY, extension(ids.EXT_DISCHARGE_READY, "valueDate", body.discharge_ready.isoformat())
        )
        put_extension(res, ids.EXT_DISCHARGE_READY_WITHDRAWN, None)
    if message.type is MessageType.ATERTAG_UTSKRIVNINGSKLAR and body.withdrawal is not None:
        put_extension(res, ids.EXT_DISCHARGE_READY, None)
        put_extension(
            res,
            ids.EXT_DISCHARGE_READY_WITHDRAWN,
            extension(ids.EXT_DISCHARGE_READY_WITHDRAWN, "valueDate", body.withdrawal.isoformat()),
        )


def episode_of(encounter: Mapping[str, Any]) -> tuple[str, str]:
    """(issuer, episode id) from an Encounter's vårdtillfälle identifier."""
    key = identifier_value(encounter, (ids.SYS_VARDTILLFALLE,))
    if key is None or ":" not in key:
        raise MissingElement("Encounter has no vårdtillfälle identifier", path="Encounter.identifier", path_kind="fhirpath")
    # HSA-ids hold no ':', so the first one separates issuer from the episode's own id.
    issuer, _, episode_id = key.partition(":")
    return issuer, episode_id
