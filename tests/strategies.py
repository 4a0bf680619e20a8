"""Hypothesis strategies for internal messages of every type that pass the door.

``messages(type)`` draws an envelope and a body with the parts ``mappings.model.PARTS`` allows
and requires, under the door's rules (adapter/checks.py): sender kinds, dates in order, one
description per HSA-id, consent for a SIP, reasons where they are needed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from adapter.codec.checks import SENDERS
from adapter.rules.deadlines import STOCKHOLM
from mappings.identifiers import luhn_ok
from mappings.model import (
    PARTS,
    AbortReason,
    Action,
    Body,
    CareContact,
    CareContactRole,
    CareEpisode,
    CareLevel,
    CareType,
    Checklist,
    Consent,
    Coordinator,
    Decision,
    DecisionOutcome,
    Diagnosis,
    GeneralSubject,
    HomeVisit,
    Meeting,
    MeetingMode,
    Message,
    MessageType,
    NextOfKin,
    Party,
    PartyKind,
    Patient,
    PatientIdKind,
    Plan,
    Provider,
    ProviderChoice,
    Reason,
    Referral,
    ReferralCriterion,
    SelfCareAssessment,
    Service,
    ServiceKind,
    SipStatus,
)

# XML cannot carry control characters, and normalises CR and whitespace in attributes.
# Text must hold something besides whitespace (the schema's NonEmptyT).
_attr_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp"), exclude_characters="\ufffe\uffff"),
    min_size=1,
    max_size=40,
).filter(str.strip)
_note_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\r\x00\x7f\ufffe\uffff").filter(
        lambda c: c in "\n\t" or (c >= " " and not (0x7F <= ord(c) <= 0x9F))
    ),
    min_size=1,
    max_size=200,
).filter(str.strip)
_stockholm = st.sampled_from([timezone(timedelta(hours=1)), timezone(timedelta(hours=2))])
_local_id = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9:._-]{0,30}", fullmatch=True)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


@st.composite
def personnummer(draw: st.DrawFn, samordning: bool = False) -> str:
    d = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)))
    body = f"{d.year:04d}{d.month:02d}{d.day + (60 if samordning else 0):02d}{draw(st.integers(0, 999)):03d}"
    check = next(c for c in range(10) if luhn_ok(body[2:] + str(c)))
    return body + str(check)


hsa_ids = st.builds(lambda n, s: f"SE2321000131-{s}{n:012d}", st.integers(0, 10**12 - 1), st.sampled_from("EFOS"))


@st.composite
def patients(draw: st.DrawFn) -> Patient:
    kind = draw(st.sampled_from(PatientIdKind))
    if kind is PatientIdKind.RESERVNUMMER:
        value = draw(st.from_regex(r"[A-Z0-9-]{3,20}", fullmatch=True))
    else:
        value = draw(personnummer(samordning=kind is PatientIdKind.SAMORDNINGSNUMMER))
    return Patient(
        id_kind=kind,
        id_value=value,
        family=draw(_maybe(_attr_text)),
        given=draw(_maybe(_attr_text)),
        kommunkod=draw(_maybe(st.from_regex(r"[0-9]{4}", fullmatch=True))),
        postnummer=draw(_maybe(st.from_regex(r"[0-9]{5}", fullmatch=True))),
    )


def _times(draw: st.DrawFn) -> datetime:
    tz = draw(_stockholm)
    return draw(st.datetimes(min_value=datetime(2018, 1, 1), max_value=datetime(2030, 12, 31))).replace(microsecond=0, tzinfo=tz)


@st.composite
def messages(draw: st.DrawFn, mtype: MessageType) -> Message:
    """A message of ``mtype`` that the door accepts."""
    rule = PARTS[mtype]
    # Every HSA-id of the message drawn at once and unique, so no unit is described twice.
    pool: Iterator[str] = iter(draw(st.lists(hsa_ids, min_size=40, max_size=40, unique=True)))

    def party(kinds: Any = None) -> Party:
        kind = draw(st.sampled_from(sorted(kinds or PartyKind)))
        return Party(hsa_id=next(pool), kind=kind, name=draw(_maybe(_attr_text)))

    def want(field: str) -> bool:
        return field in rule.required or (field in rule.allowed and draw(st.booleans()))

    sender = party(SENDERS.get(mtype))
    recipients = tuple(party() for _ in range(draw(st.integers(1, 3))))
    admitted = _times(draw)
    sent = admitted + timedelta(minutes=draw(st.integers(0, 60 * 24 * 40)))
    episode = None
    if rule.episode == "required" or (rule.episode == "optional" and draw(st.booleans())):
        needs_admitted = mtype is MessageType.INSKRIVNINGSMEDDELANDE
        episode = CareEpisode(
            id=draw(_local_id),
            issuer=draw(st.just(sender.hsa_id) | hsa_ids),
            admitted=admitted if needs_admitted or draw(st.booleans()) else None,
            care=draw(_maybe(st.sampled_from(CareType))),
        )
    # The door compares Stockholm calendar dates, whatever offset a time was written in.
    admitted_day, sent_day = admitted.astimezone(STOCKHOLM).date(), sent.astimezone(STOCKHOLM).date()
    after_admission = st.integers(0, 30).map(lambda d: admitted_day + timedelta(days=d))
    parts: dict[str, Any] = {}
    if want("preliminary_discharge_ready"):
        parts["preliminary_discharge_ready"] = draw(after_admission)
    if want("discharge_ready"):
        parts["discharge_ready"] = draw(after_admission)
    if want("withdrawal"):
        # Never dated after the day it was sent.
        parts["withdrawal"] = admitted_day + timedelta(days=draw(st.integers(0, (sent_day - admitted_day).days)))
    if want("reason"):
        if mtype is MessageType.AVBRUTEN_VARDPLANERING:
            code = draw(st.sampled_from(AbortReason))
            text = draw(_attr_text) if code is AbortReason.ANNAT else draw(_maybe(_attr_text))
            parts["reason"] = Reason(code=code, text=text)
        else:
            parts["reason"] = Reason(text=draw(_attr_text))
    if want("function"):
        parts["function"] = draw(_note_text)
    if want("services"):
        parts["services"] = tuple(
            draw(
                st.lists(
                    st.builds(Service, code=st.sampled_from(ServiceKind), description=_maybe(_attr_text)), min_size=1, max_size=4
                )
            )
        )
    if want("subject"):
        parts["subject"] = draw(st.sampled_from(GeneralSubject))
    if want("care_contacts"):
        roles = draw(
            st.lists(
                st.sampled_from([CareContactRole.FAST_VARDKONTAKT, CareContactRole.FAST_LAKARKONTAKT]),
                min_size=1,
                max_size=2,
                unique=True,
            )
        )
        parts["care_contacts"] = tuple(CareContact(hsa_id=next(pool), role=r, name=draw(_maybe(_attr_text))) for r in roles)
    if want("meeting"):
        start = _times(draw)
        by_minutes = draw(st.booleans())
        parts["meeting"] = Meeting(
            start=start,
            end=None if by_minutes else start + timedelta(minutes=draw(st.integers(1, 600))),
            minutes=draw(st.integers(1, 1440)) if by_minutes else None,
            mode=draw(_maybe(st.sampled_from(MeetingMode))),
            place=draw(_maybe(_attr_text)),
        )
    if want("invitees"):
        parts["invitees"] = tuple(party() for _ in range(draw(st.integers(1, 3))))
    if want("acknowledges"):
        parts["acknowledges"] = str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1))))
    if want("discharged"):
        parts["discharged"] = admitted + timedelta(minutes=draw(st.integers(0, 60 * 24 * 60)))
    if want("hemgangsklar"):
        parts["hemgangsklar"] = draw(st.builds(Checklist, *(st.booleans() for _ in range(5))))
    if want("medication_list"):
        parts["medication_list"] = "https://npo.example.se/lakemedelslista/" + draw(
            st.from_regex(r"[a-z0-9]{1,12}", fullmatch=True)
        )
    if want("home_visit"):
        parts["home_visit"] = HomeVisit(
            date=draw(st.dates(date(2018, 1, 1), date(2030, 12, 31))), purpose=draw(_maybe(_attr_text))
        )
    if want("referral"):
        if mtype is MessageType.REMISS:
            parts["referral"] = Referral(
                id=draw(_local_id),
                issuer=draw(st.just(sender.hsa_id) | hsa_ids),
                care_level=draw(st.sampled_from(CareLevel)),
                end_of_life_at_home=draw(st.booleans()),
                handover=draw(_maybe(st.booleans())),
            )
        else:
            parts["referral"] = Referral(id=draw(_local_id), issuer=draw(hsa_ids))
    if want("criteria"):
        parts["criteria"] = tuple(draw(st.lists(st.sampled_from(ReferralCriterion), min_size=1, max_size=5)))
    if want("diagnoses"):
        icd = st.from_regex(r"[A-Z][0-9]{2}(\.[0-9]{1,2})?", fullmatch=True)
        parts["diagnoses"] = tuple(
            draw(st.lists(st.builds(Diagnosis, code=icd, text=_maybe(_attr_text)), min_size=1, max_size=3))
        )
    if want("provider"):
        p = party([PartyKind.SPECIALISERAD_PALLIATIV])
        parts["provider"] = Provider(hsa_id=p.hsa_id, kind=p.kind, name=p.name, choice=draw(st.sampled_from(ProviderChoice)))
    if want("decision"):
        outcome = draw(st.sampled_from(DecisionOutcome))
        reason = draw(_attr_text) if outcome is DecisionOutcome.DECLINED else draw(_maybe(_attr_text))
        parts["decision"] = Decision(
            outcome=outcome, reason=reason, planned_start=draw(_maybe(st.dates(date(2018, 1, 1), date(2030, 12, 31))))
        )
    if want("plan"):
        parts["plan"] = Plan(
            id=draw(_local_id),
            status=draw(st.sampled_from(SipStatus)),
            issuer=draw(st.just(sender.hsa_id) | hsa_ids),
            follow_up=draw(_maybe(st.dates(date(2018, 1, 1), date(2030, 12, 31)))),
        )
    if want("coordinator"):
        parts["coordinator"] = Coordinator(hsa_id=next(pool), name=draw(_maybe(_attr_text)))
    if want("participants"):
        parts["participants"] = tuple(party() for _ in range(draw(st.integers(1, 4))))
    if want("next_of_kin"):
        parts["next_of_kin"] = tuple(
            draw(st.lists(st.builds(NextOfKin, name=_attr_text, relation=_maybe(_attr_text)), min_size=1, max_size=2))
        )
    if want("actions"):
        units = [sender.hsa_id, *(p.hsa_id for p in parts.get("participants", ()))]
        parts["actions"] = tuple(
            draw(
                st.lists(
                    st.builds(
                        Action,
                        responsible=st.sampled_from(units),
                        description=_attr_text,
                        code=_maybe(st.sampled_from(ServiceKind)),
                    ),
                    min_size=1,
                    max_size=4,
                )
            )
        )
    if want("self_care"):
        parts["self_care"] = SelfCareAssessment(self_care=draw(st.booleans()), note=draw(_maybe(_attr_text)))
    if want("consent"):
        if mtype is MessageType.SIP:
            nok = True if parts.get("next_of_kin") else draw(_maybe(st.booleans()))
            parts["consent"] = Consent(information_transfer=draw(_maybe(st.booleans())), sip=True, next_of_kin=nok)
        else:
            parts["consent"] = draw(
                st.builds(
                    Consent,
                    information_transfer=_maybe(st.booleans()),
                    sip=_maybe(st.booleans()),
                    next_of_kin=_maybe(st.booleans()),
                )
            )
    if want("note"):
        parts["note"] = draw(_note_text)
    message_id = str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1))))
    if parts.get("acknowledges") == message_id:
        parts["acknowledges"] = str(uuid.UUID(int=(uuid.UUID(message_id).int + 1) % 2**128))
    return Message(
        id=message_id,
        type=mtype,
        sent=sent,
        sender=sender,
        recipients=recipients,
        patient=draw(patients()),
        body=Body(**parts),
        care_episode=episode,
    )


def any_message() -> st.SearchStrategy[Message]:
    return st.sampled_from(MessageType).flatmap(messages)
