"""Every internal message as a Communication, with the resources it belongs with.

    internal                                   FHIR R4
    Message/@id                                Communication.identifier (message-id)
    Message/@type                              Communication.category (CodeSystem message-type)
    Message/@sent                              Communication.sent
    Sender                                     Communication.sender -> Organization
    Recipient (1..*)                           Communication.recipient -> Organization
    Patient                                    Communication.subject -> Patient
    CareEpisode                                Communication.encounter -> Encounter (mappings.episode);
                                               @admitted, @care as sent: extension:care-episode
    Note                                       Communication.payload.contentString
    Function (Vardbegaran)                     Communication.payload.contentString with
                                               extension:message-part = function
    Service (Vardbegaran)                      Communication.extension:current-service
    Consent                                    Communication.extension:consent-flags
    PreliminaryDischargeReady, DischargeReady  Communication.extension:preliminary-discharge-ready,
                                               :discharge-ready (and the Encounter)
    Withdrawal (AtertagUtskrivningsklar)       Communication.extension:discharge-ready-withdrawn
    Reason                                     Communication.reasonCode (abort-reason, text)
    Subject (GenerelltMeddelande)              Communication.topic (CodeSystem general-subject)
    CareContact (FastVardkontakt, SIP)         Communication.extension:care-contact -> Practitioner;
                                               the CareTeam (mappings.careteam, mappings.sip)
    Meeting, Invitee (Kallelse)                Appointment (mappings.meeting), Communication.about
    Acknowledges (Kvittens)                    Communication.inResponseTo (logical reference by
                                               message id: the acknowledged message may not be here)
    Discharge (Utskrivningsmeddelande)         Communication.extension:discharged (and the Encounter)
    Hemgangsklar                               Communication.extension:hemgangsklar
    MedicationList/@ref                        Communication.payload.contentAttachment.url
    HomeVisit                                  Communication.extension:home-visit
    Referral ... Provider (Remiss)             ServiceRequest, Task, Consent (mappings.referral), about
    Referral, Decision (RemissSvar)            Task, ServiceRequest.status (mappings.referral), about
    Plan ... SelfCareAssessment (SIP)          CarePlan, CareTeam, Consent (mappings.sip), about

The Communication is the record of one message and never changes (conditional create by
message id); Encounter, CareTeam, ServiceRequest, Task and CarePlan are current state. So the
message's own facts stay on the Communication and on the resources written once with it, and
``from_fhir`` reads them from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from typing import Any

from . import identifiers as ids
from .bundle import Entry, transaction
from .careteam import care_contact_extensions, care_team_to_fhir
from .episode import apply, episode_key, episode_of
from .errors import InvalidValue, MissingElement
from .fhir import (
    Resource,
    code_as,
    code_in,
    complex_extension,
    concept,
    date_of,
    datetime_of,
    ext_value,
    ext_values,
    extension,
    find_extension,
    identifier,
    identifier_value,
    reference,
)
from .meeting import appointment_from_fhir, appointment_to_fhir
from .model import (
    AbortReason,
    Body,
    CareContact,
    CareContactRole,
    CareEpisode,
    CareType,
    Checklist,
    Consent,
    GeneralSubject,
    HomeVisit,
    Message,
    MessageType,
    Reason,
    Service,
    ServiceKind,
)
from .referral import answer_from_fhir, answer_to_fhir, referral_from_fhir, referral_to_fhir
from .shared import Builder, organization_from_fhir, patient_from_fhir, practitioner_from_fhir, reason_concept
from .sip import plan_from_fhir, plan_to_fhir

__all__ = ["from_fhir", "to_bundle", "to_fhir"]

_CHECKLIST = ("inskrivningsmeddelande", "discharge_ready_date", "assistive_devices", "supplies", "information_transferred")
_CHECKLIST_EXT = {
    "inskrivningsmeddelande": "inskrivningsmeddelande",
    "discharge_ready_date": "dischargeReadyDate",
    "assistive_devices": "assistiveDevices",
    "supplies": "supplies",
    "information_transferred": "informationTransferred",
}


def _recipient_path(i: int, n: int) -> str:
    return f"/Message/Recipient[{i + 1}]" if n > 1 else "/Message/Recipient"


def to_fhir(message: Message) -> list[Entry]:
    """The entries that carry ``message``, the Communication last."""
    b = Builder(message.id, message.patient)
    sender = b.organization(message.sender, "/Message/Sender")
    n = len(message.recipients)
    recipients = [b.organization(r, _recipient_path(i, n)) for i, r in enumerate(message.recipients)]
    body = message.body
    contacts = care_contact_extensions(b, body.care_contacts)

    encounter = None
    episode = message.care_episode
    if episode is not None:
        provider = sender if message.sender.kind.value == "slutenvard" else None

        def merge(current: Mapping[str, Any] | None) -> Resource:
            return apply(current, message, patient_ref=b.patient, provider_ref=provider)

        encounter = b.add("Encounter", "episode", merge(None), "update", ids.SYS_VARDTILLFALLE, episode_key(episode), merge)

    about = _about(b, message, sender, contacts, encounter)
    mtype = message.type

    comm: Resource = {
        "resourceType": "Communication",
        "identifier": [identifier(ids.SYS_MESSAGE_ID, message.id)],
        "status": "completed",
        "category": [concept(ids.CS_MESSAGE_TYPE, mtype.value)],
        "subject": reference(b.patient),
        "sent": message.sent.isoformat(),
        "sender": reference(sender),
        "recipient": [reference(r) for r in recipients],
    }
    exts = _extensions(message) + [ext for _, _, ext in contacts]
    if exts:
        comm["extension"] = exts
    if encounter is not None:
        comm["encounter"] = reference(encounter)
    if about:
        comm["about"] = [reference(u) for u in about]
    if body.acknowledges is not None:
        comm["inResponseTo"] = [{"identifier": identifier(ids.SYS_MESSAGE_ID, body.acknowledges)}]
    if body.subject is not None:
        comm["topic"] = concept(ids.CS_GENERAL_SUBJECT, body.subject.value)
    if body.reason is not None:
        comm["reasonCode"] = [reason_concept(body.reason)]
    payload = _payload(body)
    if payload:
        comm["payload"] = payload
    b.add("Communication", "message", comm, "create", ids.SYS_MESSAGE_ID, message.id)
    return b.entries


def _about(b: Builder, message: Message, sender: str, contacts: list[tuple[Any, str, Any]], encounter: str | None) -> list[str]:
    """The resource the Communication is about, for the types that carry one (fullUrls)."""
    mtype = message.type
    if mtype is MessageType.KALLELSE_SAMORDNAD_PLANERING:
        return [appointment_to_fhir(b, message, encounter)]
    if mtype is MessageType.FAST_VARDKONTAKT:
        assert encounter is not None
        return [care_team_to_fhir(b, message, [(c, url) for c, url, _ in contacts], sender, encounter)]
    if mtype is MessageType.REMISS:
        return [referral_to_fhir(b, message, sender, encounter)]
    if mtype is MessageType.REMISS_SVAR:
        return [answer_to_fhir(b, message, sender)]
    if mtype is MessageType.SIP:
        return [plan_to_fhir(b, message, sender, [url for _, url, _ in contacts], encounter)]
    return []


def _extensions(message: Message) -> list[dict[str, Any]]:
    body = message.body
    exts: list[dict[str, Any]] = []
    episode = message.care_episode
    if episode is not None and (episode.admitted is not None or episode.care is not None):
        exts.append(
            complex_extension(
                ids.EXT_CARE_EPISODE,
                (
                    ("admitted", "valueDateTime", episode.admitted.isoformat() if episode.admitted else None),
                    ("care", "valueCoding", {"system": ids.CS_CARE_TYPE, "code": episode.care.value} if episode.care else None),
                ),
            )
        )
    for url, value in (
        (ids.EXT_PRELIMINARY_DISCHARGE_READY, body.preliminary_discharge_ready),
        (ids.EXT_DISCHARGE_READY, body.discharge_ready),
        (ids.EXT_DISCHARGE_READY_WITHDRAWN, body.withdrawal),
    ):
        if value is not None:
            exts.append(extension(url, "valueDate", value.isoformat()))
    if body.discharged is not None:
        exts.append(extension(ids.EXT_DISCHARGED, "valueDateTime", body.discharged.isoformat()))
    if body.consent is not None:
        c = body.consent
        exts.append(
            complex_extension(
                ids.EXT_CONSENT_FLAGS,
                (
                    ("informationTransfer", "valueBoolean", c.information_transfer),
                    ("sip", "valueBoolean", c.sip),
                    ("nextOfKin", "valueBoolean", c.next_of_kin),
                ),
            )
        )
    for s in body.services:
        service: dict[str, Any] = {"coding": [{"system": ids.CS_SERVICE_KIND, "code": s.code.value}]}
        if s.description is not None:
            service["text"] = s.description
        exts.append(extension(ids.EXT_CURRENT_SERVICE, "valueCodeableConcept", service))
    if body.hemgangsklar is not None:
        h = body.hemgangsklar
        exts.append(
            complex_extension(ids.EXT_HEMGANGSKLAR, ((_CHECKLIST_EXT[f], "valueBoolean", getattr(h, f)) for f in _CHECKLIST))
        )
    if body.home_visit is not None:
        v = body.home_visit
        exts.append(
            complex_extension(
                ids.EXT_HOME_VISIT, (("date", "valueDate", v.date.isoformat()), ("purpose", "valueString", v.purpose))
            )
        )
    return exts


def _payload(body: Body) -> list[dict[str, Any]]:
    payload: list[dict[str, Any]] = []
    if body.function is not None:
        part = extension(ids.EXT_MESSAGE_PART, "valueCoding", {"system": ids.CS_MESSAGE_PART, "code": "function"})
        payload.append({"extension": [part], "contentString": body.function})
    if body.medication_list is not None:
        payload.append({"contentAttachment": {"url": body.medication_list, "title": "Läkemedelslista"}})
    if body.note is not None:
        payload.append({"contentString": body.note})
    return payload


def to_bundle(message: Message) -> Resource:
    """``to_fhir`` as one transaction Bundle, ready to post to the server's base URL."""
    return transaction(to_fhir(message))


class _Resolver:
    """Finds the target of a reference among a bundle's resources, by fullUrl or ``Type/id``."""

    def __init__(self, bundle: Mapping[str, Any]):
        self._by_key: dict[str, Mapping[str, Any]] = {}
        # Vendors contain what we send as entries (``"#p1"``); ours stay where they are read.
        self._contained: dict[str, Mapping[str, Any] | None] = {}
        for entry in bundle.get("entry", ()):
            res = entry.get("resource")
            if not isinstance(res, Mapping):
                continue
            if "fullUrl" in entry:
                self._by_key[entry["fullUrl"]] = res
            if "id" in res:
                self._by_key[f"{res['resourceType']}/{res['id']}"] = res
            for inner in res.get("contained", ()):
                key = f"#{inner.get('id')}"
                # The same local id in two resources with different content cannot be told apart.
                self._contained[key] = inner if self._contained.get(key, inner) == inner else None

    def communications(self) -> list[Mapping[str, Any]]:
        # Each resource is indexed under two keys: count it once.
        unique = {id(r): r for r in self._by_key.values() if r.get("resourceType") == "Communication"}
        return list(unique.values())

    def get(self, ref: Mapping[str, Any] | None, path: str) -> Mapping[str, Any]:
        target = (ref or {}).get("reference")
        if target is None:
            raise MissingElement("reference is missing", path=path, path_kind="fhirpath")
        if target.startswith("#"):
            inner = self._contained.get(target)
            if inner is None:
                why = "is used by two contained resources" if target in self._contained else "does not resolve"
                raise MissingElement(f"the contained reference {target} {why}", path=path, path_kind="fhirpath")
            return inner
        res = self._by_key.get(target)
        if res is None:
            # Absolute references from a searchset: match on the trailing Type/id.
            tail = "/".join(target.split("/_history/")[0].rstrip("/").split("/")[-2:])
            res = self._by_key.get(tail)
        if res is None:
            raise MissingElement("reference does not resolve inside the bundle", path=path, path_kind="fhirpath")
        return res


def _fhir_path(what: str) -> dict[str, Any]:
    return {"path": what, "path_kind": "fhirpath"}


def from_fhir(bundle: Mapping[str, Any]) -> Message:
    """The internal message carried by the one Communication of ``bundle``.

    ``bundle`` is one of our transaction bundles, or any Bundle (searchset, collection) that
    holds the Communication and the resources it refers to.
    """
    refs = _Resolver(bundle)
    comms = refs.communications()
    if len(comms) != 1:
        raise InvalidValue(f"expected one Communication, found {len(comms)}", **_fhir_path("Bundle.entry"))
    comm = comms[0]
    mid = identifier_value(comm, (ids.SYS_MESSAGE_ID,))
    if mid is None:
        raise MissingElement("Communication has no message id", **_fhir_path("Communication.identifier"))
    type_code = code_in(comm.get("category", ()), ids.CS_MESSAGE_TYPE)
    try:
        mtype = MessageType(str(type_code))
    except ValueError:
        raise InvalidValue("Communication.category has no known message type", **_fhir_path("Communication.category")) from None
    if "sent" not in comm:
        raise MissingElement("Communication.sent is missing", **_fhir_path("Communication.sent"))

    episode = None
    if "encounter" in comm:
        issuer, episode_id = episode_of(refs.get(comm["encounter"], "Communication.encounter"))
        facts = find_extension(comm, ids.EXT_CARE_EPISODE) or {}
        admitted = ext_value(facts, "admitted", "valueDateTime")
        care = (ext_value(facts, "care", "valueCoding") or {}).get("code")
        episode = CareEpisode(
            id=episode_id,
            issuer=issuer,
            admitted=datetime_of(admitted, "Communication.extension") if admitted else None,
            care=code_as(CareType, care, "Communication.extension") if care else None,
        )
    body = _body_from(comm, refs, mtype)
    return Message(
        id=mid,
        type=mtype,
        sent=datetime_of(comm["sent"], "Communication.sent"),
        sender=organization_from_fhir(refs.get(comm.get("sender"), "Communication.sender")),
        recipients=tuple(
            organization_from_fhir(refs.get(r, f"Communication.recipient[{i}]")) for i, r in enumerate(comm.get("recipient", ()))
        ),
        patient=patient_from_fhir(refs.get(comm.get("subject"), "Communication.subject")),
        body=body,
        care_episode=episode,
    )


def _date(value: str | None) -> date | None:
    return date_of(value, "Communication.extension") if value else None


def _body_from(comm: Mapping[str, Any], refs: _Resolver, mtype: MessageType) -> Body:
    parts: dict[str, Any] = {}
    _dated_parts(comm, parts)
    _service_parts(comm, parts)
    _contact_parts(comm, refs, parts)
    _payload_parts(comm, parts)
    _about_parts(comm, refs, mtype, parts)
    return replace(Body(), **parts)


def _dated_parts(comm: Mapping[str, Any], parts: dict[str, Any]) -> None:
    """The discharge dates and the consent, from the Communication's extensions."""
    for field, url in (
        ("preliminary_discharge_ready", ids.EXT_PRELIMINARY_DISCHARGE_READY),
        ("discharge_ready", ids.EXT_DISCHARGE_READY),
        ("withdrawal", ids.EXT_DISCHARGE_READY_WITHDRAWN),
    ):
        parts[field] = _date(ext_value(comm, url, "valueDate"))
    discharged = ext_value(comm, ids.EXT_DISCHARGED, "valueDateTime")
    parts["discharged"] = datetime_of(discharged, "Communication.extension") if discharged else None
    flags = find_extension(comm, ids.EXT_CONSENT_FLAGS)
    if flags is not None:
        parts["consent"] = Consent(
            information_transfer=ext_value(flags, "informationTransfer", "valueBoolean"),
            sip=ext_value(flags, "sip", "valueBoolean"),
            next_of_kin=ext_value(flags, "nextOfKin", "valueBoolean"),
        )


def _service_parts(comm: Mapping[str, Any], parts: dict[str, Any]) -> None:
    """The current services, the hemgångsklar checklist and the home visit."""
    services = []
    for ext in ext_values(comm, ids.EXT_CURRENT_SERVICE):
        cc = ext.get("valueCodeableConcept") or {}
        services.append(
            Service(
                code=code_as(ServiceKind, code_in([cc], ids.CS_SERVICE_KIND), "Communication.extension"),
                description=cc.get("text"),
            )
        )
    parts["services"] = tuple(services)
    checklist = find_extension(comm, ids.EXT_HEMGANGSKLAR)
    if checklist is not None:
        parts["hemgangsklar"] = Checklist(
            **{f: bool(ext_value(checklist, _CHECKLIST_EXT[f], "valueBoolean")) for f in _CHECKLIST}
        )
    visit = find_extension(comm, ids.EXT_HOME_VISIT)
    if visit is not None:
        parts["home_visit"] = HomeVisit(
            date=date_of(ext_value(visit, "date", "valueDate"), "Communication.extension"),
            purpose=ext_value(visit, "purpose", "valueString"),
        )


def _contact_parts(comm: Mapping[str, Any], refs: _Resolver, parts: dict[str, Any]) -> None:
    """The named care contacts, each with its Practitioner."""
    contacts = []
    for i, ext in enumerate(ext_values(comm, ids.EXT_CARE_CONTACT)):
        role = ext_value(ext, "role", "valueCoding") or {}
        hsa, name = practitioner_from_fhir(
            refs.get(ext_value(ext, "practitioner", "valueReference"), f"Communication.extension[{i}]")
        )
        contacts.append(
            CareContact(hsa_id=hsa, role=code_as(CareContactRole, role.get("code"), "Communication.extension"), name=name)
        )
    parts["care_contacts"] = tuple(contacts)


def _payload_parts(comm: Mapping[str, Any], parts: dict[str, Any]) -> None:
    """Free text, the function, the medication list, what it answers, its subject and reason."""
    for p in comm.get("payload", ()):
        part = ext_value(p, ids.EXT_MESSAGE_PART, "valueCoding")
        if part is not None and part.get("code") == "function":
            parts["function"] = p.get("contentString")
        elif "contentAttachment" in p:
            parts["medication_list"] = p["contentAttachment"].get("url")
        elif "contentString" in p:
            parts["note"] = p["contentString"]
    responses = comm.get("inResponseTo") or []
    if responses:
        parts["acknowledges"] = (responses[0].get("identifier") or {}).get("value")
    subject = code_in([comm.get("topic") or {}], ids.CS_GENERAL_SUBJECT)
    if subject is not None:
        parts["subject"] = code_as(GeneralSubject, subject, "Communication.topic")
    for rc in comm.get("reasonCode", ())[:1]:
        code = code_in([rc], ids.CS_ABORT_REASON)
        parts["reason"] = Reason(
            code=code_as(AbortReason, code, "Communication.reasonCode") if code else None, text=rc.get("text")
        )


def _about_parts(comm: Mapping[str, Any], refs: _Resolver, mtype: MessageType, parts: dict[str, Any]) -> None:
    """What the resource the Communication is about carries, for the types that have one."""
    about = comm.get("about") or []
    if mtype is MessageType.KALLELSE_SAMORDNAD_PLANERING:
        parts["meeting"], parts["invitees"] = appointment_from_fhir(
            refs.get(about[0] if about else None, "Communication.about[0]"), refs.get
        )
    elif mtype is MessageType.REMISS:
        sr = refs.get(about[0] if about else None, "Communication.about[0]")
        parts["referral"], parts["criteria"], parts["diagnoses"], parts["provider"] = referral_from_fhir(sr, refs.get)
    elif mtype is MessageType.REMISS_SVAR:
        parts["referral"], parts["decision"] = answer_from_fhir(refs.get(about[0] if about else None, "Communication.about[0]"))
    elif mtype is MessageType.SIP:
        parts.update(plan_from_fhir(refs.get(about[0] if about else None, "Communication.about[0]"), refs.get))
