"""The inpatient episode (vårdtillfälle) as an Encounter.

    internal                                   FHIR R4
    CareEpisode/@issuer + @id                  Encounter.identifier (vardtillfalle, "{issuer}:{id}")
    CareEpisode/@admitted                      Encounter.period.start
    CareEpisode/@care                          Encounter.type (CodeSystem care-type)
    (inpatient)                                Encounter.class = v3-ActCode#IMP
    Message/@type                              Encounter.status (Inskrivningsmeddelande: in-progress)
    Body/PreliminaryDischargeReady/@date       Encounter.extension:preliminary-discharge-ready
    Patient                                    Encounter.subject
    Sender (slutenvård)                        Encounter.serviceProvider

The adapter owns the Encounter's state: it is written by conditional update on its identifier.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from . import identifiers as ids
from .errors import InvalidValue, MissingElement
from .fhir import Resource, code_in, concept, extension, identifier, identifier_value, reference
from .model import CareEpisode, CareType, MessageType

__all__ = ["encounter_from_fhir", "encounter_to_fhir", "episode_key"]

_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

#: The Encounter.status a message of each type leaves the episode in.
_STATUS: dict[MessageType, str] = {
    MessageType.INSKRIVNINGSMEDDELANDE: "in-progress",
}


def episode_key(episode: CareEpisode) -> str:
    """The business identifier value of an episode, ``{issuer}:{id}``."""
    if episode.issuer is None:
        raise MissingElement("the episode has no issuer", path="/Message/CareEpisode/@issuer")
    return f"{episode.issuer}:{episode.id}"


def encounter_to_fhir(
    episode: CareEpisode,
    *,
    message_type: MessageType,
    patient_ref: str,
    provider_ref: str,
    preliminary_discharge_ready: date | None = None,
) -> Resource:
    res: Resource = {
        "resourceType": "Encounter",
        "identifier": [identifier(ids.SYS_VARDTILLFALLE, episode_key(episode))],
        "status": _STATUS[message_type],
        "class": {"system": _ACT_CODE, "code": "IMP", "display": "inpatient encounter"},
        "subject": reference(patient_ref),
        "serviceProvider": reference(provider_ref),
    }
    if episode.care is not None:
        res["type"] = [concept(ids.CS_CARE_TYPE, episode.care.value)]
    if episode.admitted is not None:
        res["period"] = {"start": episode.admitted.isoformat()}
    if preliminary_discharge_ready is not None:
        res["extension"] = [extension(ids.EXT_PRELIMINARY_DISCHARGE_READY, "valueDate", preliminary_discharge_ready.isoformat())]
    return res


def encounter_from_fhir(res: Mapping[str, Any]) -> CareEpisode:
    key = identifier_value(res, (ids.SYS_VARDTILLFALLE,))
    if key is None or ":" not in key:
        raise MissingElement("Encounter has no vårdtillfälle identifier", path="Encounter.identifier", path_kind="fhirpath")
    # HSA-ids hold no ':', so the first one separates issuer from the episode's own id.
    issuer, _, episode_id = key.partition(":")
    care_code = code_in(res.get("type", ()), ids.CS_CARE_TYPE)
    try:
        care = CareType(care_code) if care_code is not None else None
    except ValueError:
        raise InvalidValue("Encounter.type has an unknown care type", path="Encounter.type", path_kind="fhirpath") from None
    start = (res.get("period") or {}).get("start")
    return CareEpisode(
        id=episode_id,
        issuer=issuer,
        admitted=datetime.fromisoformat(start) if start else None,
        care=care,
    )
