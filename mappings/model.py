"""The internal message as typed values (namespace ``urn:samverkan:message:1``).

These are the concepts of docs/domain.md, independent of XML, JSON and FHIR. The codec in
``adapter.codec.internal`` reads documents into them; ``mappings.*.to_fhir`` turns them into resources and
``from_fhir`` turns resources back into them. Values are frozen so a message can be shared
between threads and compared for round trips.

The body is one record of optional parts, as the format has one ``Body`` element; which parts a
message type allows and requires is the table :data:`PARTS` (checked by the codec).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

__all__ = [
    "PARTS",
    "AbortReason",
    "Action",
    "Body",
    "CareContact",
    "CareContactRole",
    "CareEpisode",
    "CareLevel",
    "CareType",
    "Checklist",
    "Consent",
    "Coordinator",
    "Decision",
    "DecisionOutcome",
    "Diagnosis",
    "GeneralSubject",
    "HomeVisit",
    "Meeting",
    "MeetingMode",
    "Message",
    "MessageType",
    "NextOfKin",
    "Party",
    "PartyKind",
    "Patient",
    "PatientIdKind",
    "Plan",
    "Provider",
    "ProviderChoice",
    "Reason",
    "Referral",
    "ReferralCriterion",
    "SelfCareAssessment",
    "Service",
    "ServiceKind",
    "SipStatus",
    "TypeParts",
]


class MessageType(StrEnum):
    """Every type of the message catalogue in docs/domain.md."""

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


class ServiceKind(StrEnum):
    """A municipal or home care service the patient has (insats), ``Service/@code``."""

    HEMTJANST = "hemtjanst"
    HEMSJUKVARD = "hemsjukvard"
    SARSKILT_BOENDE = "sarskilt-boende"
    KORTTIDSBOENDE = "korttidsboende"
    TRYGGHETSLARM = "trygghetslarm"
    DAGVERKSAMHET = "dagverksamhet"
    BOENDESTOD = "boendestod"
    REHABILITERING = "rehabilitering"
    ANNAN = "annan"


class GeneralSubject(StrEnum):
    """What a GenerelltMeddelande is about, ``Subject/@code``."""

    SAMORDNAD_PLANERING_BEHOVS = "samordnad-planering-behovs"
    INFORMATION = "information"
    FRAGA = "fraga"
    OVRIGT = "ovrigt"


class CareContactRole(StrEnum):
    """Roles of named people: fast vårdkontakt, fast läkarkontakt, SIP samordnare."""

    FAST_VARDKONTAKT = "fast-vardkontakt"
    FAST_LAKARKONTAKT = "fast-lakarkontakt"
    SAMORDNARE = "samordnare"


class MeetingMode(StrEnum):
    """How the coordinated planning meeting is held."""

    FYSISKT = "fysiskt"
    TELEFON = "telefon"
    VIDEO = "video"


class AbortReason(StrEnum):
    """Why planning was aborted (AvbrutenVardplanering); ``avliden`` is a deceased patient."""

    AVLIDEN = "avliden"
    PATIENTEN_AVSTAR = "patienten-avstar"
    INGET_BEHOV = "inget-behov"
    OVERFLYTTAD = "overflyttad"
    ANNAT = "annat"


class CareLevel(StrEnum):
    """The level of specialised palliative care a referral asks for."""

    SPECIALISERAD_SLUTENVARD = "specialiserad-palliativ-slutenvard"  # ward or ASIH: medical responsibility around the clock
    PALLIATIV_MOTTAGNING = "palliativ-mottagning"  # outpatient clinic: primary care keeps medical responsibility
    KONSULTSTOD = "palliativt-konsultstod"


class ReferralCriterion(StrEnum):
    """Assessment criteria of a referral to specialised palliative care (any of)."""

    KOMPLEXA_SYMTOM = "komplexa-symtom"
    KOMPLEX_PSYKOSOCIAL_SITUATION = "komplex-psykosocial-situation"
    BARN_I_HEMMET = "barn-i-hemmet"
    EXISTENTIELL_KRIS = "existentiell-kris"
    SNABB_PROGRESS = "snabb-progress"


class ProviderChoice(StrEnum):
    """How the provider was chosen: the patient's signed choice, or nearest the address."""

    VARDVAL = "vardval"
    NARMAST = "narmast"


class DecisionOutcome(StrEnum):
    """The answer to a referral."""

    ACCEPTED = "accepted"
    DECLINED = "declined"


class SipStatus(StrEnum):
    """Status of a SIP; only ``avslutad`` ends the plan."""

    UPPRATTAD = "upprattad"
    UPPDATERAD = "uppdaterad"
    SLUTFORD = "slutford"
    UPPFOLJD = "uppfoljd"
    AVSLUTAD = "avslutad"


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
    """The patient's consent as the message states it (``Body/Consent``)."""

    information_transfer: bool | None = None
    sip: bool | None = None
    next_of_kin: bool | None = None


@dataclass(frozen=True, slots=True)
class Reason:
    """Why: a code (AvbrutenVardplanering) and/or free text (AtertagUtskrivningsklar)."""

    code: AbortReason | None = None
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Service:
    """A current service (insats) of a Vardbegaran."""

    code: ServiceKind
    description: str | None = None


@dataclass(frozen=True, slots=True)
class CareContact:
    """A named person: fast vårdkontakt or fast läkarkontakt, by personal HSA-id."""

    hsa_id: str
    role: CareContactRole
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Meeting:
    """The coordinated planning meeting of a Kallelse: start and either end or minutes."""

    start: datetime
    end: datetime | None = None
    minutes: int | None = None
    mode: MeetingMode | None = None
    place: str | None = None


@dataclass(frozen=True, slots=True)
class Checklist:
    """Hemgångsklar (docs/domain.md rule 9): each condition met or not."""

    inskrivningsmeddelande: bool
    discharge_ready_date: bool
    assistive_devices: bool
    supplies: bool
    information_transferred: bool


@dataclass(frozen=True, slots=True)
class HomeVisit:
    """An order of a single home visit (enstaka hembesök)."""

    date: date
    purpose: str | None = None


@dataclass(frozen=True, slots=True)
class Referral:
    """A referral's identity (both Remiss and RemissSvar) and what a Remiss asks for."""

    id: str
    issuer: str | None = None
    care_level: CareLevel | None = None
    end_of_life_at_home: bool | None = None
    handover: bool | None = None


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """A diagnosis on a referral, ICD-10-SE."""

    code: str
    text: str | None = None


@dataclass(frozen=True, slots=True)
class Provider:
    """The provider a referral goes to, and how it was chosen."""

    hsa_id: str
    kind: PartyKind
    choice: ProviderChoice
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer of a RemissSvar; a declined referral needs a reason."""

    outcome: DecisionOutcome
    reason: str | None = None
    planned_start: date | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """A SIP's identity, status and next follow-up."""

    id: str
    status: SipStatus
    issuer: str | None = None
    follow_up: date | None = None


@dataclass(frozen=True, slots=True)
class Coordinator:
    """The SIP's named coordinator (samordnare), by personal HSA-id."""

    hsa_id: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class NextOfKin:
    """A next of kin who takes part in a SIP (with the patient's consent)."""

    name: str
    relation: str | None = None


@dataclass(frozen=True, slots=True)
class Action:
    """One action (insats) of a SIP and the unit responsible for it."""

    responsible: str
    description: str
    code: ServiceKind | None = None


@dataclass(frozen=True, slots=True)
class SelfCareAssessment:
    """Egenvårdsbedömning: can the measure be done as self-care."""

    self_care: bool
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Body:
    """Every part a body may have, in the format's order; :data:`PARTS` says which per type."""

    preliminary_discharge_ready: date | None = None
    discharge_ready: date | None = None
    withdrawal: date | None = None
    reason: Reason | None = None
    function: str | None = None
    services: tuple[Service, ...] = ()
    subject: GeneralSubject | None = None
    care_contacts: tuple[CareContact, ...] = ()
    meeting: Meeting | None = None
    invitees: tuple[Party, ...] = ()
    acknowledges: str | None = None
    discharged: datetime | None = None
    hemgangsklar: Checklist | None = None
    medication_list: str | None = None
    home_visit: HomeVisit | None = None
    referral: Referral | None = None
    criteria: tuple[ReferralCriterion, ...] = ()
    diagnoses: tuple[Diagnosis, ...] = ()
    provider: Provider | None = None
    decision: Decision | None = None
    plan: Plan | None = None
    coordinator: Coordinator | None = None
    participants: tuple[Party, ...] = ()
    next_of_kin: tuple[NextOfKin, ...] = ()
    actions: tuple[Action, ...] = ()
    self_care: SelfCareAssessment | None = None
    consent: Consent | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class TypeParts:
    """Which body parts (field names of :class:`Body`) a type allows and requires, and its episode."""

    allowed: frozenset[str]
    required: frozenset[str] = frozenset()
    episode: str = "optional"  # "required", "optional" or "forbidden"


def _parts(allowed: str, required: str = "", episode: str = "optional") -> TypeParts:
    req = frozenset(required.split())
    return TypeParts(frozenset(allowed.split()) | req | {"note"}, req, episode)


#: The message catalogue of docs/domain.md as body parts. ``note`` (free text) is allowed everywhere.
PARTS: dict[MessageType, TypeParts] = {
    MessageType.VARDBEGARAN: _parts("services consent", "function", "required"),
    MessageType.INSKRIVNINGSMEDDELANDE: _parts("preliminary_discharge_ready consent", "", "required"),
    MessageType.UTSKRIVNINGSKLAR: _parts("", "discharge_ready", "required"),
    MessageType.ATERTAG_UTSKRIVNINGSKLAR: _parts("", "withdrawal reason", "required"),
    MessageType.GENERELLT_MEDDELANDE: _parts("", "subject note"),
    MessageType.FAST_VARDKONTAKT: _parts("", "care_contacts", "required"),
    MessageType.KALLELSE_SAMORDNAD_PLANERING: _parts("", "meeting invitees"),
    MessageType.KVITTENS: _parts("", "acknowledges"),
    MessageType.UTSKRIVNINGSMEDDELANDE: _parts("medication_list", "discharged hemgangsklar", "required"),
    MessageType.AVBRUTEN_VARDPLANERING: _parts("", "reason", "required"),
    MessageType.MEDDELANDE_UTANFOR_VARDTILLFALLE: _parts("home_visit", "note", "forbidden"),
    MessageType.REMISS: _parts("criteria diagnoses", "referral provider"),
    MessageType.REMISS_SVAR: _parts("", "referral decision"),
    MessageType.SIP: _parts("next_of_kin actions self_care care_contacts", "plan coordinator participants consent"),
}


@dataclass(frozen=True, slots=True)
class Message:
    """One internal message: the envelope of docs/domain.md and its body."""

    id: str
    type: MessageType
    sent: datetime
    sender: Party
    recipients: tuple[Party, ...]
    patient: Patient
    body: Body
    care_episode: CareEpisode | None = None
