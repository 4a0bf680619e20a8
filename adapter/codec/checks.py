"""What the door checks beyond the schema: per type, the parts, the senders and the dates.

Every check raises an error naming the element (or attribute) by XPath:

    parts          a part the type does not have (400), a part it requires (422)
    episode        required or forbidden per type (docs/domain.md, "Message catalogue")
    sender         who may send a type
    identifiers    HSA-id form of every unit and person named; no unit listed twice
    dates          admission after sending, discharge-ready or discharge before admission,
                   a withdrawal dated after its sending, a meeting that ends before it starts
                   (dates are compared as Stockholm calendar dates)
    consent        a SIP without the patient's consent, next of kin without consent to take part
    answers        a declined referral without a reason, an aborted planning without a reason
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from adapter.rules.deadlines import STOCKHOLM
from mappings.errors import ContradictoryValues, InvalidValue, MissingElement, SchemaViolation
from mappings.identifiers import is_valid_hsa_id
from mappings.model import (
    PARTS,
    AbortReason,
    CareContact,
    CareContactRole,
    DecisionOutcome,
    Message,
    MessageType,
    Party,
    PartyKind,
)

from .body_xml import BY_FIELD, camel, part_path

__all__ = ["SENDERS", "check", "check_sender"]

_K = PartyKind
#: Who may send a type (docs/domain.md, "Message catalogue"); types not listed may come from anyone.
SENDERS: dict[MessageType, frozenset[PartyKind]] = {
    MessageType.VARDBEGARAN: frozenset({_K.KOMMUN}),
    MessageType.INSKRIVNINGSMEDDELANDE: frozenset({_K.SLUTENVARD}),
    MessageType.UTSKRIVNINGSKLAR: frozenset({_K.SLUTENVARD}),
    MessageType.ATERTAG_UTSKRIVNINGSKLAR: frozenset({_K.SLUTENVARD}),
    MessageType.UTSKRIVNINGSMEDDELANDE: frozenset({_K.SLUTENVARD}),
    MessageType.AVBRUTEN_VARDPLANERING: frozenset({_K.SLUTENVARD}),
    # Primary care assigns the named contact; after a handover the palliative team becomes it.
    MessageType.FAST_VARDKONTAKT: frozenset({_K.NARSJUKVARD, _K.PSYKIATRISK_OPPENVARD, _K.SPECIALISERAD_PALLIATIV}),
    MessageType.KALLELSE_SAMORDNAD_PLANERING: frozenset({_K.NARSJUKVARD, _K.PSYKIATRISK_OPPENVARD}),
    MessageType.REMISS_SVAR: frozenset({_K.SPECIALISERAD_PALLIATIV}),
}


def check(message: Message) -> None:
    """Raises the first thing wrong with ``message`` that the schema cannot say.

    (The sender's kind is checked earlier, by :func:`check_sender`, as soon as it is read.)
    """
    _check_parts(message)
    _check_identifiers(message)
    _check_dates(message)
    _check_answers(message)
    _check_sip(message)


def check_sender(mtype: MessageType, sender: Party) -> None:
    """Whether ``sender`` may send a message of ``mtype``."""
    allowed = SENDERS.get(mtype)
    if allowed is not None and sender.kind not in allowed:
        kinds = ", ".join(sorted(k.value for k in allowed))
        raise InvalidValue(f"a {mtype.value} is sent by {kinds}", path="/Message/Sender/@kind")


def _check_parts(message: Message) -> None:
    rule = PARTS[message.type]
    body = message.body
    for part in BY_FIELD.values():
        present = getattr(body, part.field) not in (None, ())
        if present and part.field not in rule.allowed:
            raise SchemaViolation(f"{part.element} is not part of a {message.type.value}", path=f"/Message/Body/{part.element}")
        if not present and part.field in rule.required:
            raise MissingElement(f"a {message.type.value} needs {part.element}", path=f"/Message/Body/{part.element}")
    if rule.episode == "required" and message.care_episode is None:
        raise MissingElement(f"a {message.type.value} needs its CareEpisode", path="/Message/CareEpisode")
    if rule.episode == "forbidden" and message.care_episode is not None:
        raise SchemaViolation(f"a {message.type.value} is outside any CareEpisode", path="/Message/CareEpisode")
    _check_referral(message)


def _check_referral(message: Message) -> None:
    """Only a Remiss carries the referral's care level, end of life at home and handover; it needs the first two."""
    referral = message.body.referral
    if referral is None:
        return
    if message.type is MessageType.REMISS:
        for attr in ("care_level", "end_of_life_at_home"):
            if getattr(referral, attr) is None:
                raise MissingElement(f"a Remiss needs Referral/@{camel(attr)}", path=part_path("referral", None, attr))
        return
    for attr in ("care_level", "end_of_life_at_home", "handover"):
        if getattr(referral, attr) is not None:
            raise SchemaViolation(f"only a Remiss carries Referral/@{camel(attr)}", path=part_path("referral", None, attr))


def _hsa(value: str | None, field: str, index: int | None, attr: str) -> None:
    """Whether ``value``, if given, is an HSA-id; the path of the body part is made only for the error."""
    if value is not None and not is_valid_hsa_id(value):
        raise InvalidValue("not an HSA-id (e.g. SE2321000131-E000000000001)", path=part_path(field, index, attr))


_T = TypeVar("_T")


def _index(items: Sequence[_T]) -> list[tuple[int | None, _T]]:
    """Items with the index a path shows: none when the element occurs once."""
    return [(i if len(items) > 1 else None, item) for i, item in enumerate(items)]


def _check_identifiers(message: Message) -> None:
    body = message.body
    for field in ("invitees", "participants"):
        _check_parties(field, getattr(body, field))
    _check_care_contacts(body.care_contacts)
    for i, action in _index(body.actions):
        _hsa(action.responsible, "actions", i, "responsible")
    # The units a body names once: (part, attribute, value).
    named = (
        ("provider", "hsa_id", body.provider.hsa_id if body.provider else None),
        ("coordinator", "hsa_id", body.coordinator.hsa_id if body.coordinator else None),
        ("referral", "issuer", body.referral.issuer if body.referral else None),
        ("plan", "issuer", body.plan.issuer if body.plan else None),
    )
    for part, attr, value in named:
        _hsa(value, part, None, attr)
    if body.acknowledges is not None and body.acknowledges.lower() == message.id.lower():
        raise InvalidValue("a message cannot acknowledge itself", path=part_path("acknowledges"))


def _check_parties(field: str, parties: Sequence[Party]) -> None:
    """Invitees or participants: HSA-ids, each unit once."""
    seen: set[str] = set()
    for i, party in _index(parties):
        _hsa(party.hsa_id, field, i, "hsa_id")
        if party.hsa_id in seen:
            raise InvalidValue("the same unit is listed twice", path=part_path(field, i, "hsa_id"))
        seen.add(party.hsa_id)


def _check_care_contacts(contacts: Sequence[CareContact]) -> None:
    """Named care contacts: HSA-ids, each role once, and never the SIP's samordnare (Coordinator names it)."""
    roles: set[CareContactRole] = set()
    for i, contact in _index(contacts):
        _hsa(contact.hsa_id, "care_contacts", i, "hsa_id")
        if contact.role is CareContactRole.SAMORDNARE:
            raise InvalidValue("the SIP's samordnare is named by Coordinator", path=part_path("care_contacts", i, "role"))
        if contact.role in roles:
            raise InvalidValue("each role is named once", path=part_path("care_contacts", i, "role"))
        roles.add(contact.role)


def _check_dates(message: Message) -> None:
    body = message.body
    episode = message.care_episode
    admitted = episode.admitted if episode is not None else None
    if message.type is MessageType.INSKRIVNINGSMEDDELANDE and admitted is None:
        raise MissingElement("an Inskrivningsmeddelande needs the time of admission", path="/Message/CareEpisode/@admitted")
    if admitted is not None:
        if admitted > message.sent:
            raise ContradictoryValues("admitted after the message was sent", path="/Message/CareEpisode/@admitted")
        day = admitted.astimezone(STOCKHOLM).date()  # dates are Stockholm's, whatever offset was written
        dated = (("preliminary_discharge_ready", "preliminary discharge-ready date"), ("discharge_ready", "discharge-ready date"))
        for field, what in dated:
            value = getattr(body, field)
            if value is not None and value < day:
                raise ContradictoryValues(f"the {what} is before the admission", path=part_path(field))
        if body.discharged is not None and body.discharged < admitted:
            raise ContradictoryValues("the discharge is before the admission", path=part_path("discharged"))
    if body.withdrawal is not None and body.withdrawal > message.sent.astimezone(STOCKHOLM).date():
        # A withdrawal dated ahead would move the end of the payment clock into the future.
        raise ContradictoryValues("the withdrawal is dated after the day it was sent", path=part_path("withdrawal"))
    meeting = body.meeting
    if meeting is not None:
        if (meeting.end is None) == (meeting.minutes is None):
            raise InvalidValue("give the meeting's end or its minutes, one of them", path=part_path("meeting"))
        if meeting.end is not None and meeting.end <= meeting.start:
            raise ContradictoryValues("the meeting ends before it starts", path=part_path("meeting", None, "end"))


def _check_answers(message: Message) -> None:
    body = message.body
    if message.type is MessageType.ATERTAG_UTSKRIVNINGSKLAR and body.reason is not None and body.reason.text is None:
        raise MissingElement("a withdrawal states its reason as text", path=part_path("reason", None, "text"))
    if message.type is MessageType.AVBRUTEN_VARDPLANERING and body.reason is not None:
        if body.reason.code is None:
            raise MissingElement("aborted planning needs a reason code", path=part_path("reason", None, "code"))
        if body.reason.code is AbortReason.ANNAT and body.reason.text is None:
            raise MissingElement("reason 'annat' needs a text", path=part_path("reason", None, "text"))
    decision = body.decision
    if decision is not None and decision.outcome is DecisionOutcome.DECLINED and decision.reason is None:
        raise MissingElement("a declined referral needs a reason", path=part_path("decision", None, "reason"))
    if message.type is MessageType.REMISS_SVAR and body.referral is not None and body.referral.issuer is None:
        raise MissingElement("a RemissSvar names the referral's issuer", path=part_path("referral", None, "issuer"))


def _check_sip(message: Message) -> None:
    body = message.body
    if message.type is not MessageType.SIP:
        return
    # docs/domain.md rule 11: without the patient's consent there is no shared plan.
    if body.consent is None or body.consent.sip is not True:
        raise InvalidValue('a SIP needs the patient\'s consent (sip="true")', path="/Message/Body/Consent/@sip")
    if body.next_of_kin and body.consent.next_of_kin is not True:
        raise InvalidValue("next of kin take part only with the patient's consent", path="/Message/Body/Consent/@nextOfKin")
    units = {p.hsa_id for p in body.participants} | {message.sender.hsa_id}
    for i, action in _index(body.actions):
        if action.responsible not in units:
            raise InvalidValue("the responsible unit is not a participant", path=part_path("actions", i, "responsible"))
