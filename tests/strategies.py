"""Hypothesis strategies for internal messages that pass the door."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

from hypothesis import strategies as st

from mappings.identifiers import luhn_ok
from mappings.model import (
    CareEpisode,
    CareType,
    Consent,
    Inskrivningsmeddelande,
    Message,
    MessageType,
    Party,
    PartyKind,
    Patient,
    PatientIdKind,
)

# XML cannot carry control characters, and normalises CR and whitespace in attributes.
_attr_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=40)
_note_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\r\x00\x7f").filter(
        lambda c: c in "\n\t" or (c >= " " and not (0x7F <= ord(c) <= 0x9F))
    ),
    min_size=1,
    max_size=200,
)
_stockholm = st.sampled_from([timezone(timedelta(hours=1)), timezone(timedelta(hours=2))])


@st.composite
def personnummer(draw: st.DrawFn, samordning: bool = False) -> str:
    d = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31)))
    body = f"{d.year:04d}{d.month:02d}{d.day + (60 if samordning else 0):02d}{draw(st.integers(0, 999)):03d}"
    check = next(c for c in range(10) if luhn_ok(body[2:] + str(c)))
    return body + str(check)


hsa_ids = st.builds(lambda n, s: f"SE2321000131-{s}{n:012d}", st.integers(0, 10**12 - 1), st.sampled_from("EFOS"))


def parties(kind: st.SearchStrategy[PartyKind]) -> st.SearchStrategy[Party]:
    return st.builds(Party, hsa_id=hsa_ids, kind=kind, name=st.none() | _attr_text)


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
        family=draw(st.none() | _attr_text),
        given=draw(st.none() | _attr_text),
        kommunkod=draw(st.none() | st.from_regex(r"[0-9]{4}", fullmatch=True)),
        postnummer=draw(st.none() | st.from_regex(r"[0-9]{5}", fullmatch=True)),
    )


@st.composite
def inskrivningsmeddelanden(draw: st.DrawFn) -> Message:
    tz = draw(_stockholm)
    admitted = draw(st.datetimes(min_value=datetime(2018, 1, 1), max_value=datetime(2030, 12, 31))).replace(
        microsecond=0, tzinfo=tz
    )
    sent = admitted + timedelta(minutes=draw(st.integers(0, 60 * 24 * 5)))
    sender = draw(parties(st.just(PartyKind.SLUTENVARD)))
    recipients = draw(st.lists(parties(st.sampled_from(PartyKind)), min_size=1, max_size=4, unique_by=lambda p: p.hsa_id))
    # One unit named twice must be described the same way; drop clashes with the sender.
    recipients = [r for r in recipients if r.hsa_id != sender.hsa_id] or [Party("SE2321000131-K000000000001", PartyKind.KOMMUN)]
    prelim = draw(st.none() | st.integers(0, 30).map(lambda d: admitted.date() + timedelta(days=d)))
    consent = draw(st.none() | st.builds(Consent, information_transfer=st.none() | st.booleans(), sip=st.none() | st.booleans()))
    return Message(
        id=str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))),
        type=MessageType.INSKRIVNINGSMEDDELANDE,
        sent=sent,
        sender=sender,
        recipients=tuple(recipients),
        patient=draw(patients()),
        body=Inskrivningsmeddelande(preliminary_discharge_ready=prelim, consent=consent, note=draw(st.none() | _note_text)),
        care_episode=CareEpisode(
            id=draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9:._-]{0,30}", fullmatch=True)),
            issuer=draw(st.just(sender.hsa_id) | hsa_ids),
            admitted=admitted,
            care=draw(st.none() | st.sampled_from(CareType)),
        ),
    )
