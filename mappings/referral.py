"""A referral to specialised palliative care (Remiss) and its answer (RemissSvar).

    internal                                   FHIR R4
    Referral/@issuer + @id                     ServiceRequest.identifier, Task.identifier,
                                               Consent.identifier (remiss, "{issuer}:{id}")
    (a referral)                               ServiceRequest.category = SNOMED CT 3457005 (Patient referral)
    Referral/@careLevel                        ServiceRequest.code (CodeSystem care-level)
    Referral/@endOfLifeAtHome                  ServiceRequest.priority: stat when true (docs/domain.md: a
                                               patient cared for at home at the end of life gets the
                                               highest priority), else routine
    Referral/@handover                         ServiceRequest.extension:handover
    Criterion/@code (0..*)                     ServiceRequest.reasonCode (CodeSystem referral-criterion)
    Diagnosis/@code, @text (0..*)              ServiceRequest.contained Condition (ICD-10-SE), reasonReference
    Provider                                   ServiceRequest.performer -> Organization; Task.owner
    Provider/@choice                           ServiceRequest.extension:provider-choice; vardval also
                                               makes a Consent (the patient's choice of provider)
    Sender, Message/@sent                      ServiceRequest.requester, authoredOn; Task.requester
    (Remiss)                                   Task.status requested
    Decision/@outcome (RemissSvar)             Task.status (ConceptMap referral-decision-to-task-status),
                                               ServiceRequest.status (referral-decision-to-request-status)
    Decision/@reason                           Task.statusReason.text
    Decision/@plannedStart                     Task.executionPeriod.start

A Remiss writes the whole referral; a RemissSvar changes only the status of the ServiceRequest
and the answer on the Task (merged with what the server has). Until the answer, the referrer
stays responsible: the Task is ``requested``.
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
    concept,
    date_of,
    evolve,
    ext_value,
    extension,
    identifier,
    identifier_value,
    local_ref,
    reference,
)
from .model import (
    CareLevel,
    Decision,
    DecisionOutcome,
    Diagnosis,
    Message,
    Party,
    Provider,
    ProviderChoice,
    Referral,
    ReferralCriterion,
)
from .shared import Builder, consent_to_fhir, organization_from_fhir
from .terminology import reverse, translate

__all__ = ["answer_from_fhir", "answer_to_fhir", "referral_from_fhir", "referral_key", "referral_to_fhir"]

_SNOMED_REFERRAL = {"system": ids.SNOMED, "version": ids.SNOMED_SE, "code": "3457005", "display": "Patient referral"}
_PRIORITY = {True: "stat", False: "routine"}

Resolve = Callable[[Mapping[str, Any] | None, str], Mapping[str, Any]]


def referral_key(referral: Referral) -> str:
    if referral.issuer is None:
        raise MissingElement("the referral has no issuer", path="/Message/Body/Referral/@issuer")
    return f"{referral.issuer}:{referral.id}"


def _provider_party(p: Provider) -> Party:
    return Party(hsa_id=p.hsa_id, kind=p.kind, name=p.name)


def referral_to_fhir(b: Builder, message: Message, sender_url: str, encounter_url: str | None) -> str:
    """ServiceRequest, Task and (for the patient's own choice) Consent of a Remiss."""
    body = message.body
    ref, provider = body.referral, body.provider
    assert ref is not None and provider is not None and ref.care_level is not None
    key = referral_key(ref)
    provider_url = b.organization(_provider_party(provider), "/Message/Body/Provider")
    conditions = []
    for i, d in enumerate(body.diagnoses):
        code: dict[str, Any] = {"coding": [{"system": ids.ICD10SE, "code": d.code}]}
        if d.text is not None:
            code["text"] = d.text
        conditions.append({"resourceType": "Condition", "id": f"dx{i + 1}", "code": code, "subject": reference(b.patient)})
    sr: Resource = {
        "resourceType": "ServiceRequest",
        "identifier": [identifier(ids.SYS_REMISS, key)],
        "status": "active",
        "intent": "order",
        "category": [{"coding": [_SNOMED_REFERRAL]}],
        "priority": _PRIORITY[bool(ref.end_of_life_at_home)],
        "code": concept(ids.CS_CARE_LEVEL, ref.care_level.value),
        "subject": reference(b.patient),
        "authoredOn": message.sent.isoformat(),
        "requester": reference(sender_url),
        "performer": [reference(provider_url)],
    }
    exts = [extension(ids.EXT_PROVIDER_CHOICE, "valueCoding", {"system": ids.CS_PROVIDER_CHOICE, "code": provider.choice.value})]
    if ref.handover is not None:
        exts.append(extension(ids.EXT_HANDOVER, "valueBoolean", ref.handover))
    sr["extension"] = exts
    if conditions:
        sr["contained"] = conditions
        sr["reasonReference"] = [local_ref(c) for c in conditions]
    if body.criteria:
        sr["reasonCode"] = [concept(ids.CS_REFERRAL_CRITERION, c.value) for c in body.criteria]
    if encounter_url is not None:
        sr["encounter"] = reference(encounter_url)
    sr_url = b.add("ServiceRequest", "referral", sr, "update", ids.SYS_REMISS, key)
    task: Resource = {
        "resourceType": "Task",
        "identifier": [identifier(ids.SYS_REMISS, key)],
        "status": "requested",
        "intent": "order",
        "focus": reference(sr_url),
        "for": reference(b.patient),
        "authoredOn": message.sent.isoformat(),
        "requester": reference(sender_url),
        "owner": reference(provider_url),
    }
    b.add("Task", "referral", task, "update", ids.SYS_REMISS, key)
    if provider.choice is ProviderChoice.VARDVAL:
        # The signed choice form (vårdvalsblankett): the patient opts in to this provider.
        consent = consent_to_fhir(
            (ids.SYS_REMISS, key),
            scope="treatment",
            patient_url=b.patient,
            given=message.sent.isoformat(),
            by_url=sender_url,
            actor_role="PRF",
            actor_urls=[provider_url],
        )
        b.add("Consent", "provider-choice", consent, "update", ids.SYS_REMISS, key)
    return sr_url


def _key_of(res: Mapping[str, Any], where: str) -> tuple[str, str]:
    key = identifier_value(res, (ids.SYS_REMISS,))
    if key is None or ":" not in key:
        raise MissingElement("no referral identifier", path=f"{where}.identifier", path_kind="fhirpath")
    issuer, _, own = key.partition(":")
    return issuer, own


def referral_from_fhir(
    sr: Mapping[str, Any], resolve: Resolve
) -> tuple[Referral, tuple[ReferralCriterion, ...], tuple[Diagnosis, ...], Provider]:
    issuer, own = _key_of(sr, "ServiceRequest")
    level = code_in([sr.get("code") or {}], ids.CS_CARE_LEVEL)
    referral = Referral(
        id=own,
        issuer=issuer,
        care_level=code_as(CareLevel, level, "ServiceRequest.code") if level else None,
        end_of_life_at_home=sr.get("priority") == "stat",
        handover=ext_value(sr, ids.EXT_HANDOVER, "valueBoolean"),
    )
    criteria = tuple(
        code_as(ReferralCriterion, c, "ServiceRequest.reasonCode")
        for c in (code_in([rc], ids.CS_REFERRAL_CRITERION) for rc in sr.get("reasonCode", ()))
        if c
    )
    contained = {c.get("id"): c for c in sr.get("contained", ())}
    diagnoses = []
    for r in sr.get("reasonReference", ()):
        cond = contained.get(str(r.get("reference", "")).lstrip("#"), {})
        code = cond.get("code") or {}
        icd = code_in([code], ids.ICD10SE)
        if icd:
            diagnoses.append(Diagnosis(code=icd, text=code.get("text")))
    performer = (sr.get("performer") or [None])[0]
    party = organization_from_fhir(resolve(performer, "ServiceRequest.performer[0]"))
    choice = ext_value(sr, ids.EXT_PROVIDER_CHOICE, "valueCoding") or {}
    provider = Provider(
        hsa_id=party.hsa_id,
        kind=party.kind,
        name=party.name,
        choice=code_as(ProviderChoice, choice.get("code"), "ServiceRequest.extension"),
    )
    return referral, criteria, tuple(diagnoses), provider


def answer_to_fhir(b: Builder, message: Message, sender_url: str) -> str:
    """The referral's Task with the answer, and the ServiceRequest's new status (both merged)."""
    body = message.body
    ref, decision = body.referral, body.decision
    assert ref is not None and decision is not None
    key = referral_key(ref)
    task_status = translate("referral-decision-to-task-status", decision.outcome.value, path="/Message/Body/Decision/@outcome")
    sr_status = translate("referral-decision-to-request-status", decision.outcome.value, path="/Message/Body/Decision/@outcome")
    sr_url = b.url("ServiceRequest", "referral")

    def merge_sr(current: Mapping[str, Any] | None) -> Resource:
        res = evolve(
            current,
            {
                "resourceType": "ServiceRequest",
                "identifier": [identifier(ids.SYS_REMISS, key)],
                "intent": "order",
                "subject": reference(b.patient),
            },
        )
        res["status"] = sr_status
        return res

    def merge_task(current: Mapping[str, Any] | None) -> Resource:
        res = evolve(
            current,
            {
                "resourceType": "Task",
                "identifier": [identifier(ids.SYS_REMISS, key)],
                "intent": "order",
                "focus": reference(sr_url),
                "for": reference(b.patient),
            },
        )
        res["status"] = task_status
        res["owner"] = reference(sender_url)
        res["lastModified"] = message.sent.isoformat()
        res.pop("statusReason", None)
        res.pop("executionPeriod", None)
        if decision.reason is not None:
            res["statusReason"] = {"text": decision.reason}
        if decision.planned_start is not None:
            res["executionPeriod"] = {"start": decision.planned_start.isoformat()}
        return res

    b.add("ServiceRequest", "referral", merge_sr(None), "update", ids.SYS_REMISS, key, merge_sr)
    return b.add("Task", "referral", merge_task(None), "update", ids.SYS_REMISS, key, merge_task)


def answer_from_fhir(task: Mapping[str, Any]) -> tuple[Referral, Decision]:
    issuer, own = _key_of(task, "Task")
    outcome = DecisionOutcome(reverse("referral-decision-to-task-status", str(task.get("status")), path="Task.status"))
    start = (task.get("executionPeriod") or {}).get("start")
    decision = Decision(
        outcome=outcome,
        reason=(task.get("statusReason") or {}).get("text"),
        planned_start=date_of(start[:10], "Task.executionPeriod.start") if start else None,
    )
    return Referral(id=own, issuer=issuer), decision
