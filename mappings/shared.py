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

Identifier slices and systems follow HL7 Sweden's SEBasePatient and SEBaseOrganization.
Both resources are written by conditional create only: the server's master data wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import identifiers as ids
from .errors import InvalidValue, MissingElement
from .fhir import Resource, code_in, concept, ext_value, extension, identifier, identifier_value
from .model import Party, PartyKind, Patient, PatientIdKind

__all__ = ["organization_from_fhir", "organization_to_fhir", "patient_from_fhir", "patient_to_fhir"]

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
    given = name.get("given") or [None]
    address: Mapping[str, Any] = next((a for a in res.get("address", ()) if a.get("use", "home") == "home"), {})
    kommun = ext_value(address, ids.EXT_KOMMUNKOD, "valueCoding") or {}
    return Patient(
        id_kind=kind,
        id_value=str(ident["value"]),
        family=name.get("family"),
        given=" ".join(given) if given != [None] else None,
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
