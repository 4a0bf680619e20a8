"""Identifier systems, canonical URLs and checks of Swedish identifiers.

National systems are facts (docs/domain.md); the project's own systems hang off the one canonical base
in ``profiles/package.json``, read once when this module is imported. Business identifier
systems are the keys of every conditional create and update: never change them once released.
"""

from __future__ import annotations

import json
import re
from datetime import date
from importlib import resources

__all__ = [
    "CANONICAL",
    "CS_ABORT_REASON",
    "CS_ACKNOWLEDGEMENT_STATUS",
    "CS_CARE_LEVEL",
    "CS_CARE_TEAM_ROLE",
    "CS_CARE_TYPE",
    "CS_GENERAL_SUBJECT",
    "CS_MESSAGE_PART",
    "CS_MESSAGE_TYPE",
    "CS_PARTY_KIND",
    "CS_PROVIDER_CHOICE",
    "CS_REFERRAL_CRITERION",
    "CS_SERVICE_KIND",
    "CS_SIP_STATUS",
    "EXT_CARE_CONTACT",
    "EXT_CARE_EPISODE",
    "EXT_CONSENT_FLAGS",
    "EXT_CURRENT_SERVICE",
    "EXT_DISCHARGED",
    "EXT_DISCHARGE_READY",
    "EXT_DISCHARGE_READY_WITHDRAWN",
    "EXT_HANDOVER",
    "EXT_HEMGANGSKLAR",
    "EXT_HOME_VISIT",
    "EXT_KOMMUNKOD",
    "EXT_MEETING_MODE",
    "EXT_MESSAGE_PART",
    "EXT_NEXT_FOLLOW_UP",
    "EXT_PLANNING_ABORTED",
    "EXT_PRELIMINARY_DISCHARGE_READY",
    "EXT_PROVIDER_CHOICE",
    "EXT_SELF_CARE",
    "EXT_SIP_STATUS",
    "HSA_ID",
    "HSA_ID_INERA",
    "ICD10SE",
    "LOINC",
    "PACKAGE_VERSION",
    "PERSONNUMMER",
    "PROFILED",
    "RESERVNUMMER",
    "SAMORDNINGSNUMMER",
    "SNOMED",
    "SNOMED_SE",
    "SYS_KOMMUNKOD",
    "SYS_KVITTENS",
    "SYS_MESSAGE_ID",
    "SYS_REMISS",
    "SYS_SIP",
    "SYS_VARDTILLFALLE",
    "birth_date",
    "check_personal_number",
    "is_valid_hsa_id",
    "luhn_ok",
    "profile_url",
]


def _load_package() -> dict[str, str]:
    text = resources.files("mappings").joinpath("_profiles/package.json").read_text("utf-8")
    data: dict[str, str] = json.loads(text)
    return data


_PACKAGE = _load_package()
CANONICAL: str = _PACKAGE["canonical"].rstrip("/")
PACKAGE_VERSION: str = _PACKAGE["version"]

# National systems (docs/domain.md, "Identifiers and code systems").
PERSONNUMMER = "http://electronichealth.se/identifier/personnummer"
SAMORDNINGSNUMMER = "http://electronichealth.se/identifier/samordningsnummer"
# No national system is given for reservnummer; they are local to an issuer, so ours.
RESERVNUMMER = f"{CANONICAL}/NamingSystem/reservnummer"
HSA_ID = "urn:oid:1.2.752.29.4.19"
#: Inera's OID, which some vendors send HSA-ids under: accepted inbound, never emitted.
HSA_ID_INERA = "urn:oid:1.2.752.129.2.1.4.1"

# Business identifiers the project mints.
SYS_MESSAGE_ID = f"{CANONICAL}/NamingSystem/message-id"
SYS_VARDTILLFALLE = f"{CANONICAL}/NamingSystem/vardtillfalle"
SYS_REMISS = f"{CANONICAL}/NamingSystem/remiss"
SYS_SIP = f"{CANONICAL}/NamingSystem/sip"
SYS_KOMMUNKOD = f"{CANONICAL}/NamingSystem/kommunkod"
#: The Kvittens a recipient owes for a message (an acknowledgement Task): ``{message id}:{recipient HSA-id}``.
SYS_KVITTENS = f"{CANONICAL}/NamingSystem/kvittens"

# Project CodeSystems and extensions.
CS_MESSAGE_TYPE = f"{CANONICAL}/CodeSystem/message-type"
CS_PARTY_KIND = f"{CANONICAL}/CodeSystem/party-kind"
CS_CARE_TYPE = f"{CANONICAL}/CodeSystem/care-type"
CS_SERVICE_KIND = f"{CANONICAL}/CodeSystem/service-kind"
CS_GENERAL_SUBJECT = f"{CANONICAL}/CodeSystem/general-subject"
CS_CARE_TEAM_ROLE = f"{CANONICAL}/CodeSystem/care-team-role"
CS_ABORT_REASON = f"{CANONICAL}/CodeSystem/abort-reason"
CS_CARE_LEVEL = f"{CANONICAL}/CodeSystem/care-level"
CS_REFERRAL_CRITERION = f"{CANONICAL}/CodeSystem/referral-criterion"
CS_PROVIDER_CHOICE = f"{CANONICAL}/CodeSystem/provider-choice"
CS_SIP_STATUS = f"{CANONICAL}/CodeSystem/sip-status"
CS_MESSAGE_PART = f"{CANONICAL}/CodeSystem/message-part"
CS_ACKNOWLEDGEMENT_STATUS = f"{CANONICAL}/CodeSystem/acknowledgement-status"


def _ext(name: str) -> str:
    return f"{CANONICAL}/StructureDefinition/{name}"


EXT_PRELIMINARY_DISCHARGE_READY = _ext("preliminary-discharge-ready")
EXT_DISCHARGE_READY = _ext("discharge-ready")
EXT_DISCHARGE_READY_WITHDRAWN = _ext("discharge-ready-withdrawn")
EXT_PLANNING_ABORTED = _ext("planning-aborted")
EXT_KOMMUNKOD = _ext("kommunkod")
EXT_CONSENT_FLAGS = _ext("consent-flags")
EXT_CARE_EPISODE = _ext("care-episode")
EXT_MESSAGE_PART = _ext("message-part")
EXT_CURRENT_SERVICE = _ext("current-service")
EXT_DISCHARGED = _ext("discharged")
EXT_HEMGANGSKLAR = _ext("hemgangsklar")
EXT_HOME_VISIT = _ext("home-visit")
EXT_CARE_CONTACT = _ext("care-contact")
EXT_MEETING_MODE = _ext("meeting-mode")
EXT_PROVIDER_CHOICE = _ext("provider-choice")
EXT_HANDOVER = _ext("handover")
EXT_SIP_STATUS = _ext("sip-status")
EXT_NEXT_FOLLOW_UP = _ext("next-follow-up")
EXT_SELF_CARE = _ext("self-care-assessment")

#: Resource types with a profile of ours: ``{canonical}/StructureDefinition/samverkan-{type}``.
PROFILED = frozenset(
    {
        "Patient",
        "Organization",
        "Practitioner",
        "Encounter",
        "Communication",
        "Appointment",
        "CareTeam",
        "ServiceRequest",
        "Task",
        "CarePlan",
        "Consent",
        "AuditEvent",
    }
)


def profile_url(resource_type: str) -> str:
    """The canonical URL of our profile of ``resource_type``."""
    return f"{CANONICAL}/StructureDefinition/samverkan-{resource_type.lower()}"


# Terminologies of others.
ICD10SE = "urn:oid:1.2.752.116.1.1.1.1.3"
SNOMED = "http://snomed.info/sct"
SNOMED_SE = "http://snomed.info/sct/45991000052106"
LOINC = "http://loinc.org"

# HSA-id: "SE", an organisation number (10 digits, or 12 with the "16" prefix) and an optional
# '-' suffix, e.g. SE2321000131-E000000000001. 31 characters at most (HSA's rule).
_HSA_RE = re.compile(r"^SE[0-9]{10}([0-9]{2})?(-[A-Za-z0-9]{1,19})?$")
_PNR_RE = re.compile(r"^[0-9]{12}$")


def is_valid_hsa_id(value: str) -> bool:
    """True when ``value`` has the form of an HSA-id.

    >>> is_valid_hsa_id("SE2321000131-E000000000001")
    True
    >>> is_valid_hsa_id("2321000131")
    False
    """
    return len(value) <= 31 and _HSA_RE.match(value) is not None


def luhn_ok(digits: str) -> bool:
    """Luhn check over a string of digits, the last of which is the check digit.

    >>> luhn_ok("1212121212")
    True
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def birth_date(number: str, *, samordning: bool = False) -> date | None:
    """The date in a 12-digit personnummer (or samordningsnummer: day + 60), or None if invalid."""
    try:
        day = int(number[6:8]) - (60 if samordning else 0)
        return date(int(number[0:4]), int(number[4:6]), day)
    except ValueError:
        return None


def check_personal_number(number: str, *, samordning: bool = False) -> str | None:
    """Why ``number`` is not a valid personnummer/samordningsnummer, or None when it is.

    The reason never repeats the number: it goes into error responses and logs.

    >>> check_personal_number("191212121212") is None
    True
    >>> check_personal_number("191212121213")
    'check digit is wrong'
    """
    if _PNR_RE.match(number) is None:
        return "must be 12 digits YYYYMMDDNNNC"
    if birth_date(number, samordning=samordning) is None:
        return "date part is not a date" + (" (day of month + 60)" if samordning else "")
    if not luhn_ok(number[2:]):
        return "check digit is wrong"
    return None
