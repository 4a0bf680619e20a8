"""A discharge-planning message as a Communication, with the resources it belongs with.

    internal                                   FHIR R4
    Message/@id                                Communication.identifier (message-id)
    Message/@type                              Communication.category (CodeSystem message-type)
    Message/@sent                              Communication.sent
    Sender                                     Communication.sender -> Organization
    Recipient (1..*)                           Communication.recipient -> Organization
    Patient                                    Communication.subject -> Patient
    CareEpisode                                Communication.encounter -> Encounter
    Body/PreliminaryDischargeReady/@date       Communication.extension:preliminary-discharge-ready
                                               (and Encounter, see mappings.episode)
    Body/Consent/@informationTransfer, @sip    Communication.extension:consent-flags
    Body/Note                                  Communication.payload.contentString

The Communication is the record of one message and never changes (conditional create by message
id); the Encounter is the episode's current state. So the message's own facts stay on the
Communication, and ``from_fhir`` reads them from there.

Supported so far: Inskrivningsmeddelande. Other types raise ``UnsupportedMessageType``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from . import identifiers as ids
from .bundle import Entry, transaction
from .episode import encounter_from_fhir, encounter_to_fhir, episode_key
from .errors import ContradictoryValues, InvalidValue, MissingElement, UnsupportedMessageType
from .fhir import (
    Resource,
    code_in,
    concept,
    ext_value,
    extension,
    find_extension,
    full_url,
    identifier,
    identifier_value,
    reference,
)
from .model import Consent, Inskrivningsmeddelande, Message, MessageType, Party
from .shared import (
    organization_from_fhir,
    organization_to_fhir,
    patient_from_fhir,
    patient_system,
    patient_to_fhir,
)

__all__ = ["from_fhir", "to_bundle", "to_fhir"]

SUPPORTED: frozenset[MessageType] = frozenset({MessageType.INSKRIVNINGSMEDDELANDE})


def _parties(message: Message) -> dict[str, Party]:
    """Sender and recipients by HSA-id; one unit named twice must be named the same way."""
    parties: dict[str, Party] = {}
    for i, party in enumerate((message.sender, *message.recipients)):
        seen = parties.get(party.hsa_id)
        if seen is not None and seen != party:
            where = "/Message/Sender" if i == 0 else f"/Message/Recipient[{i}]"
            raise ContradictoryValues("one HSA-id is described twice in different ways", path=where)
        parties[party.hsa_id] = party
    return parties


def to_fhir(message: Message) -> list[Entry]:
    """The entries that carry ``message``: Patient, Organizations, Encounter, Communication."""
    if message.type not in SUPPORTED:
        raise UnsupportedMessageType(f"message type {message.type.value} is not mapped yet", path="/Message/@type")
    mid = message.id
    patient_url = full_url(mid, "Patient", "subject")
    entries = [
        Entry(patient_url, patient_to_fhir(message.patient), "create", patient_system(message.patient), message.patient.id_value)
    ]
    org_urls: dict[str, str] = {}
    for hsa, party in _parties(message).items():
        org_urls[hsa] = full_url(mid, "Organization", hsa)
        entries.append(Entry(org_urls[hsa], organization_to_fhir(party), "create", ids.HSA_ID, hsa))

    body = message.body
    comm: Resource = {
        "resourceType": "Communication",
        "identifier": [identifier(ids.SYS_MESSAGE_ID, mid)],
        "status": "completed",
        "category": [concept(ids.CS_MESSAGE_TYPE, message.type.value)],
        "subject": reference(patient_url),
        "sent": message.sent.isoformat(),
        "sender": reference(org_urls[message.sender.hsa_id]),
        "recipient": [reference(org_urls[r.hsa_id]) for r in message.recipients],
    }
    exts: list[dict[str, Any]] = []
    if body.preliminary_discharge_ready is not None:
        exts.append(extension(ids.EXT_PRELIMINARY_DISCHARGE_READY, "valueDate", body.preliminary_discharge_ready.isoformat()))
    if body.consent is not None:
        flags = [
            extension(name, "valueBoolean", value)
            for name, value in (("informationTransfer", body.consent.information_transfer), ("sip", body.consent.sip))
            if value is not None
        ]
        exts.append({"url": ids.EXT_CONSENT_FLAGS, "extension": flags})
    if exts:
        comm["extension"] = exts
    if body.note is not None:
        comm["payload"] = [{"contentString": body.note}]

    if message.care_episode is not None:
        episode = message.care_episode
        encounter_url = full_url(mid, "Encounter", "episode")
        encounter = encounter_to_fhir(
            episode,
            message_type=message.type,
            patient_ref=patient_url,
            provider_ref=org_urls[message.sender.hsa_id],
            preliminary_discharge_ready=body.preliminary_discharge_ready,
        )
        entries.append(Entry(encounter_url, encounter, "update", ids.SYS_VARDTILLFALLE, episode_key(episode)))
        comm["encounter"] = reference(encounter_url)

    entries.append(Entry(full_url(mid, "Communication", "message"), comm, "create", ids.SYS_MESSAGE_ID, mid))
    return entries


def to_bundle(message: Message) -> Resource:
    """``to_fhir`` as one transaction Bundle, ready to post to the server's base URL."""
    return transaction(to_fhir(message))


class _Resolver:
    """Finds the target of a reference among a bundle's resources, by fullUrl or ``Type/id``."""

    def __init__(self, bundle: Mapping[str, Any]):
        self._by_key: dict[str, Mapping[str, Any]] = {}
        for entry in bundle.get("entry", ()):
            res = entry.get("resource")
            if not isinstance(res, Mapping):
                continue
            if "fullUrl" in entry:
                self._by_key[entry["fullUrl"]] = res
            if "id" in res:
                self._by_key[f"{res['resourceType']}/{res['id']}"] = res

    def communications(self) -> list[Mapping[str, Any]]:
        # Each resource is indexed under two keys: count it once.
        unique = {id(r): r for r in self._by_key.values() if r.get("resourceType") == "Communication"}
        return list(unique.values())

    def get(self, ref: Mapping[str, Any] | None, path: str) -> Mapping[str, Any]:
        target = (ref or {}).get("reference")
        if target is None:
            raise MissingElement("reference is missing", path=path, path_kind="fhirpath")
        res = self._by_key.get(target)
        if res is None:
            # Absolute references from a searchset: match on the trailing Type/id.
            tail = "/".join(target.rstrip("/").split("/")[-2:])
            res = self._by_key.get(tail)
        if res is None:
            raise MissingElement("reference does not resolve inside the bundle", path=path, path_kind="fhirpath")
        return res


def from_fhir(bundle: Mapping[str, Any]) -> Message:
    """The internal message carried by the one Communication of ``bundle``.

    ``bundle`` is one of our transaction bundles or a searchset that includes the resources the
    Communication refers to (``_include=Communication:subject`` and so on).
    """
    refs = _Resolver(bundle)
    comms = refs.communications()
    if len(comms) != 1:
        raise InvalidValue(f"expected one Communication, found {len(comms)}", path="Bundle.entry", path_kind="fhirpath")
    comm = comms[0]
    mid = identifier_value(comm, (ids.SYS_MESSAGE_ID,))
    if mid is None:
        raise MissingElement("Communication has no message id", path="Communication.identifier", path_kind="fhirpath")
    type_code = code_in(comm.get("category", ()), ids.CS_MESSAGE_TYPE)
    try:
        mtype = MessageType(str(type_code))
    except ValueError:
        raise InvalidValue(
            "Communication.category has no known message type", path="Communication.category", path_kind="fhirpath"
        ) from None
    if "sent" not in comm:
        raise MissingElement("Communication.sent is missing", path="Communication.sent", path_kind="fhirpath")

    flags = find_extension(comm, ids.EXT_CONSENT_FLAGS)
    consent = None
    if flags is not None:
        consent = Consent(
            information_transfer=ext_value(flags, "informationTransfer", "valueBoolean"),
            sip=ext_value(flags, "sip", "valueBoolean"),
        )
    prelim = ext_value(comm, ids.EXT_PRELIMINARY_DISCHARGE_READY, "valueDate")
    payload = comm.get("payload") or [{}]
    body = Inskrivningsmeddelande(
        preliminary_discharge_ready=date.fromisoformat(prelim) if prelim else None,
        consent=consent,
        note=payload[0].get("contentString"),
    )
    episode = None
    if "encounter" in comm:
        episode = encounter_from_fhir(refs.get(comm["encounter"], "Communication.encounter"))
    return Message(
        id=mid,
        type=mtype,
        sent=datetime.fromisoformat(comm["sent"]),
        sender=organization_from_fhir(refs.get(comm.get("sender"), "Communication.sender")),
        recipients=tuple(
            organization_from_fhir(refs.get(r, f"Communication.recipient[{i}]")) for i, r in enumerate(comm.get("recipient", ()))
        ),
        patient=patient_from_fhir(refs.get(comm.get("subject"), "Communication.subject")),
        body=body,
        care_episode=episode,
    )
