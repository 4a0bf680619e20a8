"""Patient and Organization, the parts every message shares.

    internal                                   FHIR R4
    Patient/@personnummer                      Patient.identifier (system personnummer)
    Patient/@samordningsnummer                 Patient.identifier (system samordningsnummer)
    Patient/@reservnummer                      Patient.identifier (system reservnummer)
    Patient/Name/@family, @given               Patient.name.family, Patient.name.given
    Patient/Folkbokforing/@postnummer          Patient.address.postalCode (use home)
    Patient/Folkbokforing/@kommunkod           Patient.address.extension:kommunkod
    Sender|Recipient/@hsaId                    Organization.identifier (HSA-id)
    Sender|Recipient/@kind                     Organization.type (CodeSystem party-kind)
    Sender|Recipient/@name                     Organization.name
    (persons) @hsaId, @name                    Practitioner.identifier (HSA-id), Practitioner.name.text

Identifier slices and systems follow HL7 Sweden's SEBasePatient and SEBaseOrganization.
These resources are written by conditional create only: the server's master data wins.
:class:`Builder` collects one message's entries and makes each of these once per bundle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from . import identifiers as ids
from .bundle import Entry
from .errors import ContradictoryValues, InvalidValue, MissingElement
from .fhir import Resource, code_in, concept, ext_value, extension, full_url, identifier, identifier_value
from .model import Party, PartyKind, Patient, PatientIdKind, Reason

__all__ = [
    "Builder",
    "consent_to_fhir",
    "organization_from_fhir",
    "organization_to_fhir",
    "patient_from_fhir",
    "patient_to_fhir",
    "practitioner_from_fhir",
    "practitioner_to_fhir",
    "reason_concept",
]

_PATIENT_SYSTEMS: dict[PatientIdKind, str] = {
    PatientIdKind.PERSONNUMMER: ids.PERSONNUMMER,
    PatientIdKind.SAMORDNINGSNUMMER: ids.SAMORDNINGSNUMMER,
    PatientIdKind.RESERVNUMMER: ids.RESERVNUMMER,
}
_PATIENT_KINDS = {system: kind for kind, system in _PATIENT_SYSTEMS.items()}


def patient_system(patient: Patient) -> str:
    return _PATIENT_SYSTEMS[patient.id_kind]


def patient_to_fhir(patient: Patient) -> Resource:
    res: Resource = {
        "resourceType": "Patient",
        "identifier": [identifier(_PATIENT_SYSTEMS[patient.id_kind], patient.id_value)],
    }
    if patient.family is not None or patient.given is not None:
        name: dict[str, Any] = {}
        if patient.family is not None:
            name["family"] = patient.family
        if patient.given is not None:
            name["given"] = [patient.given]
        res["name"] = [name]
    if patient.kommunkod is not None or patient.postnummer is not None:
        address: dict[str, Any] = {"use": "home"}
        if patient.kommunkod is not None:
            address["extension"] = [
                extension(ids.EXT_KOMMUNKOD, "valueCoding", {"system": ids.SYS_KOMMUNKOD, "code": patient.kommunkod})
            ]
        if patient.postnummer is not None:
            address["postalCode"] = patient.postnummer
        res["address"] = [address]
    return res


def patient_from_fhir(res: Mapping[str, Any]) -> Patient:
    for ident in res.get("identifier", ()):
        kind = _PATIENT_KINDS.get(ident.get("system", ""))
        if kind is not None and "value" in ident:
            break
    else:
        raise MissingElement(
            "Patient has no personnummer, samordningsnummer or reservnummer", path="Patient.identifier", path_kind="fhirpath"
        )
    name = (res.get("name") or [{}])[0]
    # R4 JSON allows null among given names whose extensions carry them (``_given``).
    given = [g for g in name.get("given") or () if g]
    address: Mapping[str, Any] = next((a for a in res.get("address", ()) if a.get("use", "home") == "home"), {})
    kommun = ext_value(address, ids.EXT_KOMMUNKOD, "valueCoding") or {}
    return Patient(
        id_kind=kind,
        id_value=str(ident["value"]),
        family=name.get("family"),
        given=" ".join(given) if given else None,
        kommunkod=kommun.get("code"),
        postnummer=address.get("postalCode"),
    )


def organization_to_fhir(party: Party) -> Resource:
    res: Resource = {
        "resourceType": "Organization",
        "identifier": [identifier(ids.HSA_ID, party.hsa_id)],
        "type": [concept(ids.CS_PARTY_KIND, party.kind.value)],
    }
    if party.name is not None:
        res["name"] = party.name
    return res


def organization_from_fhir(res: Mapping[str, Any]) -> Party:
    # Vendors also send HSA-ids under Inera's OID: accept both, emit only ours.
    hsa = identifier_value(res, (ids.HSA_ID, ids.HSA_ID_INERA))
    if hsa is None:
        raise MissingElement("Organization has no HSA-id", path="Organization.identifier", path_kind="fhirpath")
    kind_code = code_in(res.get("type", ()), ids.CS_PARTY_KIND)
    try:
        kind = PartyKind(str(kind_code))
    except ValueError:
        raise InvalidValue("Organization.type has no known party kind", path="Organization.type", path_kind="fhirpath") from None
    return Party(hsa_id=hsa, kind=kind, name=res.get("name"))


def practitioner_to_fhir(hsa_id: str, name: str | None) -> Resource:
    res: Resource = {"resourceType": "Practitioner", "identifier": [identifier(ids.HSA_ID, hsa_id)]}
    if name is not None:
        res["name"] = [{"text": name}]
    return res


def practitioner_from_fhir(res: Mapping[str, Any]) -> tuple[str, str | None]:
    """(HSA-id, name) of a Practitioner."""
    hsa = identifier_value(res, (ids.HSA_ID, ids.HSA_ID_INERA))
    if hsa is None:
        raise MissingElement("Practitioner has no HSA-id", path="Practitioner.identifier", path_kind="fhirpath")
    return hsa, (res.get("name") or [{}])[0].get("text")


_CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"


def consent_to_fhir(
    identity: tuple[str, str], *, scope: str, patient_url: str, given: str, by_url: str, actor_role: str, actor_urls: list[str]
) -> Resource:
    """An opt-in Consent of the patient (R4 needs a policy rule: v3-ActCode OPTIN), permitting ``actor_urls``."""
    return {
        "resourceType": "Consent",
        "identifier": [identifier(*identity)],
        "status": "active",
        "scope": concept(_CONSENT_SCOPE, scope),
        "category": [{"coding": [{"system": ids.LOINC, "code": "59284-0", "display": "Patient Consent"}]}],
        "patient": {"reference": patient_url},
        "dateTime": given,
        "organization": [{"reference": by_url}],
        "policyRule": concept(_ACT_CODE, "OPTIN"),
        "provision": {
            "type": "permit",
            "actor": [{"role": concept(_PARTICIPATION, actor_role), "reference": {"reference": url}} for url in actor_urls],
        },
    }


def _with_profile(resource: Resource) -> Resource:
    rtype = resource["resourceType"]
    if rtype in ids.PROFILED:
        meta = dict(resource.get("meta") or {})
        meta["profile"] = [ids.profile_url(rtype)]
        resource["meta"] = meta
    return resource


def _declaring_profile(merge: Callable[[Resource | None], Resource]) -> Callable[[Resource | None], Resource]:
    return lambda current: _with_profile(merge(current))


class Builder:
    """The entries of one message's bundle, with each shared resource made once.

    One unit (or person) named twice in a document must be described the same way both times:
    the bundle can hold only one Organization per HSA-id, and mapping back must give both back.
    """

    def __init__(self, message_id: str, patient: Patient):
        self.message_id = message_id
        self.entries: list[Entry] = []
        self._orgs: dict[str, tuple[Party, str]] = {}
        self._people: dict[str, tuple[str | None, str]] = {}
        self.patient = self.add(
            "Patient", "subject", patient_to_fhir(patient), "create", patient_system(patient), patient.id_value
        )

    def url(self, resource_type: str, key: str) -> str:
        return full_url(self.message_id, resource_type, key)

    def add(
        self,
        resource_type: str,
        key: str,
        resource: Resource,
        write: Literal["create", "update"],
        system: str,
        value: str,
        merge: Callable[[Resource | None], Resource] | None = None,
    ) -> str:
        """Adds an entry and returns its fullUrl; the resource (also after a merge) declares our profile."""
        url = self.url(resource_type, key)
        merged = None if merge is None else _declaring_profile(merge)
        self.entries.append(Entry(url, _with_profile(resource), write, system, value, merged))
        return url

    def organization(self, party: Party, path: str) -> str:
        """The fullUrl of the unit's Organization."""
        seen = self._orgs.get(party.hsa_id)
        if seen is not None:
            if seen[0] != party:
                raise ContradictoryValues("one HSA-id is described twice in different ways", path=path)
            return seen[1]
        url = self.add("Organization", party.hsa_id, organization_to_fhir(party), "create", ids.HSA_ID, party.hsa_id)
        self._orgs[party.hsa_id] = (party, url)
        return url

    def practitioner(self, hsa_id: str, name: str | None, path: str) -> str:
        """The fullUrl of the person's Practitioner."""
        seen = self._people.get(hsa_id)
        if seen is not None:
            if seen[0] != name:
                raise ContradictoryValues("one person's HSA-id is named twice in different ways", path=path)
            return seen[1]
        if hsa_id in self._orgs:
            raise ContradictoryValues("an HSA-id names both a unit and a person", path=path)
        url = self.add("Practitioner", hsa_id, practitioner_to_fhir(hsa_id, name), "create", ids.HSA_ID, hsa_id)
        self._people[hsa_id] = (name, url)
        return url


def reason_concept(reason: Reason) -> dict[str, Any]:
    """Why the planning was broken off, as a CodeableConcept: the code, the text, or both."""
    concept: dict[str, Any] = {}
    if reason.code is not None:
        concept["coding"] = [{"system": ids.CS_ABORT_REASON, "code": reason.code.value}]
    if reason.text is not None:
        concept["text"] = reason.text
    return concept
