"""The coordinated individual plan (SIP) as a CarePlan with its CareTeam and Consent.

    internal                                   FHIR R4
    Plan/@issuer + @id                         CarePlan.identifier, CareTeam.identifier,
                                               Consent.identifier (sip, "{issuer}:{id}")
    Plan/@status                               CarePlan.extension:sip-status; CarePlan.status and
                                               CareTeam.status through ConceptMaps (only avslutad ends it)
    Plan/@followUp                             CarePlan.extension:next-follow-up
    Action/@responsible, @description, @code   CarePlan.activity.detail.performer -> Organization,
                                               .description, .code (CodeSystem service-kind)
    SelfCareAssessment/@selfCare, @note        CarePlan.extension:self-care-assessment
    Coordinator                                CareTeam.participant (role samordnare) -> Practitioner
    Participant (1..*)                         CareTeam.participant (role deltagare) -> Organization
    NextOfKin/@name, @relation                 CareTeam.participant (role narstaende) -> contained RelatedPerson
    CareContact                                CareTeam.participant (role fast-vardkontakt/-lakarkontakt)
    (the patient)                              CareTeam.participant (role patient) -> Patient
    Consent/@sip (must be true)                Consent (scope patient-privacy, policyRule OPTIN),
                                               CarePlan.supportingInfo -> Consent
    Sender                                     CarePlan.author

A SIP message carries the whole plan as it stands: the CarePlan, CareTeam and Consent are
replaced by conditional update on the SIP's identifier.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import identifiers as ids
from .errors import MissingElement
from .fhir import (
    Resource,
    code_as,
    code_in,
    complex_extension,
    concept,
    date_of,
    ext_value,
    extension,
    find_extension,
    identifier,
    identifier_value,
    local_ref,
    reference,
)
from .model import Action, Coordinator, Message, NextOfKin, Party, Plan, SelfCareAssessment, ServiceKind, SipStatus
from .shared import Builder, consent_to_fhir, organization_from_fhir, practitioner_from_fhir
from .terminology import translate

__all__ = ["plan_from_fhir", "plan_to_fhir"]


Resolve = Callable[[Mapping[str, Any] | None, str], Mapping[str, Any]]


def _role(code: str) -> list[dict[str, Any]]:
    return [concept(ids.CS_CARE_TEAM_ROLE, code)]


def plan_to_fhir(b: Builder, message: Message, sender_url: str, contact_urls: list[str], encounter_url: str | None) -> str:
    body = message.body
    plan, coordinator = body.plan, body.coordinator
    assert plan is not None and coordinator is not None and plan.issuer is not None
    key = f"{plan.issuer}:{plan.id}"
    units: dict[str, str] = {message.sender.hsa_id: sender_url}
    for i, party in enumerate(body.participants):
        path = f"/Message/Body/Participant[{i + 1}]" if len(body.participants) > 1 else "/Message/Body/Participant"
        units[party.hsa_id] = b.organization(party, path)
    coordinator_url = b.practitioner(coordinator.hsa_id, coordinator.name, "/Message/Body/Coordinator")

    relatives = []
    for i, nok in enumerate(body.next_of_kin):
        rp: Resource = {
            "resourceType": "RelatedPerson",
            "id": f"nok{i + 1}",
            "patient": reference(b.patient),
            "name": [{"text": nok.name}],
        }
        if nok.relation is not None:
            rp["relationship"] = [{"text": nok.relation}]
        relatives.append(rp)
    participants: list[dict[str, Any]] = [
        {"role": _role("samordnare"), "member": reference(coordinator_url)},
        *({"role": _role("deltagare"), "member": reference(units[p.hsa_id])} for p in body.participants),
        *({"role": _role("narstaende"), "member": local_ref(rp)} for rp in relatives),
        *(
            {"role": _role(c.role.value), "member": reference(url)}
            for c, url in zip(body.care_contacts, contact_urls, strict=True)
        ),
        {"role": _role("patient"), "member": reference(b.patient)},
    ]
    team: Resource = {
        "resourceType": "CareTeam",
        "identifier": [identifier(ids.SYS_SIP, key)],
        "status": translate("sip-status-to-care-team-status", plan.status.value, path="/Message/Body/Plan/@status"),
        "subject": reference(b.patient),
        "participant": participants,
    }
    if relatives:
        team["contained"] = relatives
    team_url = b.add("CareTeam", "sip", team, "update", ids.SYS_SIP, key)

    consent = consent_to_fhir(
        (ids.SYS_SIP, key),
        scope="patient-privacy",
        patient_url=b.patient,
        given=message.sent.isoformat(),
        by_url=sender_url,
        actor_role="IRCP",
        actor_urls=list(units.values()),
    )
    consent_url = b.add("Consent", "sip", consent, "update", ids.SYS_SIP, key)

    activities = []
    for a in body.actions:
        detail: dict[str, Any] = {
            "status": "completed" if plan.status is SipStatus.AVSLUTAD else "in-progress",
            "description": a.description,
            "performer": [reference(units[a.responsible])],
        }
        if a.code is not None:
            detail["code"] = concept(ids.CS_SERVICE_KIND, a.code.value)
        activities.append({"detail": detail})
    exts = [extension(ids.EXT_SIP_STATUS, "valueCoding", {"system": ids.CS_SIP_STATUS, "code": plan.status.value})]
    if plan.follow_up is not None:
        exts.append(extension(ids.EXT_NEXT_FOLLOW_UP, "valueDate", plan.follow_up.isoformat()))
    if body.self_care is not None:
        exts.append(
            complex_extension(
                ids.EXT_SELF_CARE,
                (("selfCare", "valueBoolean", body.self_care.self_care), ("note", "valueString", body.self_care.note)),
            )
        )
    care_plan: Resource = {
        "resourceType": "CarePlan",
        "extension": exts,
        "identifier": [identifier(ids.SYS_SIP, key)],
        "status": translate("sip-status-to-request-status", plan.status.value, path="/Message/Body/Plan/@status"),
        "intent": "plan",
        "title": "Samordnad individuell plan (SIP)",
        "subject": reference(b.patient),
        "author": reference(sender_url),
        "careTeam": [reference(team_url)],
        "supportingInfo": [reference(consent_url)],
    }
    if encounter_url is not None:
        care_plan["encounter"] = reference(encounter_url)
    if activities:
        care_plan["activity"] = activities
    return b.add("CarePlan", "sip", care_plan, "update", ids.SYS_SIP, key)


def plan_from_fhir(care_plan: Mapping[str, Any], resolve: Resolve) -> dict[str, Any]:
    """The SIP's body parts (as :class:`~mappings.model.Body` keyword arguments)."""
    key = identifier_value(care_plan, (ids.SYS_SIP,))
    if key is None or ":" not in key:
        raise MissingElement("CarePlan has no SIP identifier", path="CarePlan.identifier", path_kind="fhirpath")
    issuer, _, own = key.partition(":")
    status = ext_value(care_plan, ids.EXT_SIP_STATUS, "valueCoding") or {}
    follow_up = ext_value(care_plan, ids.EXT_NEXT_FOLLOW_UP, "valueDate")
    plan = Plan(
        id=own,
        issuer=issuer,
        status=code_as(SipStatus, status.get("code"), "CarePlan.extension"),
        follow_up=date_of(follow_up, "CarePlan.extension") if follow_up else None,
    )
    self_care = None
    sc = find_extension(care_plan, ids.EXT_SELF_CARE)
    if sc is not None:
        self_care = SelfCareAssessment(
            self_care=bool(ext_value(sc, "selfCare", "valueBoolean")), note=ext_value(sc, "note", "valueString")
        )
    team = resolve((care_plan.get("careTeam") or [None])[0], "CarePlan.careTeam[0]")
    contained = {c.get("id"): c for c in team.get("contained", ())}
    coordinator = None
    participants: list[Party] = []
    relatives: list[NextOfKin] = []
    for i, p in enumerate(team.get("participant", ())):
        role = code_in(p.get("role", ()), ids.CS_CARE_TEAM_ROLE)
        where = f"CareTeam.participant[{i}].member"
        if role == "samordnare":
            hsa, name = practitioner_from_fhir(resolve(p.get("member"), where))
            coordinator = Coordinator(hsa_id=hsa, name=name)
        elif role == "deltagare":
            participants.append(organization_from_fhir(resolve(p.get("member"), where)))
        elif role == "narstaende":
            rp = contained.get(str((p.get("member") or {}).get("reference", "")).lstrip("#"), {})
            relation = (rp.get("relationship") or [{}])[0].get("text")
            relatives.append(NextOfKin(name=(rp.get("name") or [{}])[0].get("text", ""), relation=relation))
    author = resolve(care_plan.get("author"), "CarePlan.author")
    author_hsa = organization_from_fhir(author).hsa_id
    actions = []
    for i, act in enumerate(care_plan.get("activity", ())):
        detail = act.get("detail") or {}
        performer = (detail.get("performer") or [None])[0]
        unit = (
            organization_from_fhir(resolve(performer, f"CarePlan.activity[{i}].detail.performer[0]")).hsa_id
            if performer
            else author_hsa
        )
        code = code_in([detail.get("code") or {}], ids.CS_SERVICE_KIND)
        actions.append(
            Action(
                responsible=unit,
                description=detail.get("description", ""),
                code=code_as(ServiceKind, code, "CarePlan.activity.detail.code") if code else None,
            )
        )
    if coordinator is None:
        raise MissingElement("the SIP's CareTeam has no samordnare", path="CareTeam.participant", path_kind="fhirpath")
    return {
        "plan": plan,
        "coordinator": coordinator,
        "participants": tuple(participants),
        "next_of_kin": tuple(relatives),
        "actions": tuple(actions),
        "self_care": self_care,
    }
