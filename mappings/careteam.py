"""Named care contact and named physician (FastVardkontakt) as the episode's CareTeam.

    internal                                   FHIR R4
    CareEpisode (issuer, id)                   CareTeam.identifier (vardtillfalle): the episode's team
    CareContact/@hsaId, @name                  CareTeam.participant.member -> Practitioner (HSA-id)
    CareContact/@role                          CareTeam.participant.role (CodeSystem care-team-role)
    Sender                                     CareTeam.participant.onBehalfOf -> Organization
    Patient, CareEpisode                       CareTeam.subject, CareTeam.encounter

The team is state: a FastVardkontakt replaces the people in the roles it names and keeps the
others (a named physician assigned later does not remove the named care contact). The message's
own list stays on its Communication (extension care-contact), which ``from_fhir`` reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import identifiers as ids
from .episode import episode_key
from .fhir import Resource, code_in, complex_extension, concept, evolve, identifier, reference
from .model import CareContact, Message
from .shared import Builder

__all__ = ["care_contact_extensions", "care_team_to_fhir"]


def care_contact_extensions(b: Builder, contacts: tuple[CareContact, ...]) -> list[tuple[CareContact, str, dict[str, Any]]]:
    """Per contact: the contact, its Practitioner's fullUrl and the Communication extension."""
    out = []
    for i, c in enumerate(contacts):
        path = f"/Message/Body/CareContact[{i + 1}]" if len(contacts) > 1 else "/Message/Body/CareContact"
        url = b.practitioner(c.hsa_id, c.name, path)
        ext = complex_extension(
            ids.EXT_CARE_CONTACT,
            (
                ("role", "valueCoding", {"system": ids.CS_CARE_TEAM_ROLE, "code": c.role.value}),
                ("practitioner", "valueReference", reference(url)),
            ),
        )
        out.append((c, url, ext))
    return out


def _participants(message: Message, people: list[tuple[CareContact, str]], sender_url: str) -> list[dict[str, Any]]:
    return [
        {"role": [concept(ids.CS_CARE_TEAM_ROLE, c.role.value)], "member": reference(url), "onBehalfOf": reference(sender_url)}
        for c, url in people
    ]


def care_team_to_fhir(
    b: Builder, message: Message, people: list[tuple[CareContact, str]], sender_url: str, encounter_url: str
) -> str:
    """The episode's CareTeam entry, merged with the team the server has."""
    episode = message.care_episode
    assert episode is not None
    new = _participants(message, people, sender_url)
    roles = {c.role.value for c, _ in people}

    def merge(current: Mapping[str, Any] | None) -> Resource:
        res = evolve(current, {})
        res.update(
            {
                "resourceType": "CareTeam",
                "identifier": [identifier(ids.SYS_VARDTILLFALLE, episode_key(episode))],
                "status": "active",
                "subject": reference(b.patient),
                "encounter": reference(encounter_url),
            }
        )
        kept = [p for p in res.get("participant", ()) if code_in(p.get("role", ()), ids.CS_CARE_TEAM_ROLE) not in roles]
        res["participant"] = kept + new
        return res

    return b.add("CareTeam", "episode", merge(None), "update", ids.SYS_VARDTILLFALLE, episode_key(episode), merge)
