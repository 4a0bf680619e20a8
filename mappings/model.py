"""The internal message as typed values (namespace ``urn:samverkan:message:1``).

These are the concepts of DOMAIN.md, independent of XML, JSON and FHIR. The codec in
``adapter.codec`` reads documents into them; ``mappings.*.to_fhir`` turns them into resources and
``from_fhir`` turns resources back into them. Values are frozen so a message can be shared
between threads and compared for round trips.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

__all__ = [
    "CareEpisode",
    "CareType",
    "Consent",
    "Inskrivningsmeddelande",
    "Message",
    "MessageType",
    "Party",
    "PartyKind",
    "Patient",
    "PatientIdKind",
]


class MessageType(StrEnum):
    """Every type of the message catalogue in DOMAIN.md."""

    VARDBEGARAN = "Vardbegaran"
    INSKRIVNINGSMEDDELANDE = "Inskrivningsmeddelande"
    UTSKRIVNINGSKLAR = "Utskrivningsklar"
    ATERTAG_UTSKRIVNINGSKLAR = "AtertagUtskrivningsklar"
    GENERELLT_MEDDELANDE = "GenerelltMeddelande"
    FAST_VARDKONTAKT = "FastVardkontakt"
    KALLELSE_SAMORDNAD_PLANERING = "KallelseSamordnadPlanering"
    KVITTENS = "Kvittens"
    UTSKRIVNINGSMEDDELANDE = "Utskrivningsmeddelande"
    AVBRUTEN_VARDPLANERING = "AvbrutenVardplanering"
    MEDDELANDE_UTANFOR_VARDTILLFALLE = "MeddelandeUtanforVardtillfalle"
    REMISS = "Remiss"
    REMISS_SVAR = "RemissSvar"
    SIP = "SIP"


class PartyKind(StrEnum):
    """Which kind of care actor a unit is (``Sender/@kind``, ``Recipient/@kind``)."""

    SLUTENVARD = "slutenvard"
    SPECIALISTVARD = "specialistvard"
    NARSJUKVARD = "narsjukvard"
    PSYKIATRISK_OPPENVARD = "psykiatrisk-oppenvard"
    KOMMUN = "kommun"
    SPECIALISERAD_PALLIATIV = "specialiserad-palliativ"


class CareType(StrEnum):
    """Somatic or psychiatric inpatient care (``CareEpisode/@care``)."""

    SOMATISK = "somatisk"
    PSYKIATRISK = "psykiatrisk"


class PatientIdKind(StrEnum):
    """Which identity number the patient carries: exactly one of these attributes."""

    PERSONNUMMER = "personnummer"
    SAMORDNINGSNUMMER = "samordningsnummer"
    RESERVNUMMER = "reservnummer"


@dataclass(frozen=True, slots=True)
class Party:
    """A sending or receiving unit, identified by its HSA-id."""

    hsa_id: str
    kind: PartyKind
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Patient:
    """The patient as the message states it. The server's Patient is master data and wins."""

    id_kind: PatientIdKind
    id_value: str
    family: str | None = None
    given: str | None = None
    kommunkod: str | None = None
    postnummer: str | None = None


@dataclass(frozen=True, slots=True)
class CareEpisode:
    """An inpatient episode (vårdtillfälle); ``issuer`` defaults to a slutenvård Sender."""

    id: str
    issuer: str | None = None
    admitted: datetime | None = None
    care: CareType | None = None


@dataclass(frozen=True, slots=True)
class Consent:
    """The patient's consent as stated in the message (``Body/Consent``)."""

    information_transfer: bool | None = None
    sip: bool | None = None


@dataclass(frozen=True, slots=True)
class Inskrivningsmeddelande:
    """Body of an admission notice: preliminary discharge-ready date, consent, free text."""

    preliminary_discharge_ready: date | None = None
    consent: Consent | None = None
    note: str | None = None


Body = Inskrivningsmeddelande


@dataclass(frozen=True, slots=True)
class Message:
    """One internal message: the envelope of DOMAIN.md and a body of its type."""

    id: str
    type: MessageType
    sent: datetime
    sender: Party
    recipients: tuple[Party, ...]
    patient: Patient
    body: Body
    care_episode: CareEpisode | None = None
