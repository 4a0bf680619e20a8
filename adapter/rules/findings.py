"""Findings: what the rules of docs/domain.md say about one key's messages at a given moment.

A finding is ``{rule, key, subject, severity, due, raised, cleared}``: raised when the rule is
broken (or, for a deadline, when the wait begins), cleared when a later message mends it. The
messages are one key's (an episode, a referral or a SIP) in the order the journal accepted them;
``now`` is passed in, so the same messages and the same ``now`` always give the same findings.

    kvittens          rules 1, 2   each recipient acknowledges each message; overdue after its due time
    preliminary-date  rule 3       the Inskrivningsmeddelande has a preliminary date within 24 h of admission
    discharge-notice  rule 8       the Utskrivningsmeddelande goes on the discharge day to kommun and outpatient care
    hemgangsklar      rule 9       the Utskrivningsmeddelande's checklist is complete
    registration      rule 13      a recipient of kind kommun belongs to the patient's municipality of registration
    target-group      referral     the patient is 18 or older (age from the identity number)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any

from mappings.model import Message, MessageType, PartyKind, PatientIdKind

from .deadlines import STOCKHOLM, kvittens_due

__all__ = ["Finding", "age_on", "evaluate"]

#: Outpatient care of the region: the Utskrivningsmeddelande goes to one of these besides the kommun.
OUTPATIENT = frozenset({PartyKind.NARSJUKVARD, PartyKind.PSYKIATRISK_OPPENVARD})


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    key: str
    subject: str  # what it is about: a message id, "message id → recipient HSA-id", or the key
    severity: str  # info (waiting, within time), warning (broken, to be looked at), error (overdue)
    raised: datetime
    detail: str
    due: datetime | None = None
    cleared: datetime | None = None

    @property
    def open(self) -> bool:
        return self.cleared is None

    def overdue(self, now: datetime) -> bool:
        return self.open and self.due is not None and now > self.due

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, datetime) else value
        return out


def evaluate(
    key: str, messages: Sequence[Message], now: datetime, *, kommun_of: Mapping[str, str] | None = None
) -> list[Finding]:
    """Every finding of ``key`` as of ``now``; messages sent after ``now`` are not yet known.

    ``kommun_of`` maps kommun units' HSA-ids to their kommunkod (configuration); without it rule 13
    is not evaluated.
    """
    known = [m for m in messages if m.sent <= now]
    found = [
        *_kvittens(key, known, now),
        *_preliminary_date(key, known, now),
        *_discharge_notice(key, known),
        *_hemgangsklar(key, known),
        *_target_group(key, known),
    ]
    if kommun_of is not None:
        found.extend(_registration(key, known, kommun_of))
    return sorted(found, key=lambda f: (f.raised, f.rule, f.subject))


def _kvittens(key: str, messages: Sequence[Message], now: datetime) -> list[Finding]:
    received = {
        (m.body.acknowledges, m.sender.hsa_id): m.sent for m in messages if m.type is MessageType.KVITTENS and m.body.acknowledges
    }
    out = []
    for m in messages:
        if m.type is MessageType.KVITTENS:
            continue
        due = kvittens_due(m.type, m.sent)
        for r in m.recipients:
            cleared = received.get((m.id, r.hsa_id))
            late = (cleared or now) > due
            out.append(
                Finding(
                    "kvittens",
                    key,
                    f"{m.id} → {r.hsa_id}",
                    "error" if late and cleared is None else "info",
                    m.sent,
                    f"Kvittens of the {m.type.value} from {r.name or r.hsa_id}"
                    + (" (received late)" if late and cleared is not None else ""),
                    due,
                    cleared,
                )
            )
    return out


def _preliminary_date(key: str, messages: Sequence[Message], now: datetime) -> list[Finding]:
    admissions = [m for m in messages if m.type is MessageType.INSKRIVNINGSMEDDELANDE]
    if not admissions:
        return []
    episode = admissions[0].care_episode
    admitted = episode.admitted if episode is not None and episode.admitted is not None else admissions[0].sent
    due = admitted + timedelta(hours=24)
    dated = next((m.sent for m in admissions if m.body.preliminary_discharge_ready is not None), None)
    if (dated is not None and dated <= due) or (dated is None and now <= due):
        return []
    return [
        Finding(
            "preliminary-date",
            key,
            key,
            "warning",
            due,
            "no preliminary discharge-ready date within 24 hours of admission",
            due,
            dated,
        )
    ]


def _local_day(moment: datetime) -> date:
    return moment.astimezone(STOCKHOLM).date()


def _discharge_notice(key: str, messages: Sequence[Message]) -> list[Finding]:
    notices = [m for m in messages if m.type is MessageType.UTSKRIVNINGSMEDDELANDE and m.body.discharged is not None]
    if not notices:
        return []
    first = notices[0]
    assert first.body.discharged is not None
    day = _local_day(first.body.discharged)
    reached: set[str] = set()
    cleared = None
    for m in notices:
        reached |= _reached_by(m, day)
        if reached == {"kommun", "outpatient"}:
            cleared = m.sent
            break
    if cleared == first.sent:
        return []
    missing = {"kommun", "outpatient"} - _reached_by(first, day)
    what = " and ".join({"kommun": "the municipality", "outpatient": "the region's outpatient care"}[k] for k in sorted(missing))
    detail = f"the Utskrivningsmeddelande did not reach {what} on the discharge day {day.isoformat()}"
    return [Finding("discharge-notice", key, first.id, "warning", first.sent, detail, None, cleared)]


def _reached_by(m: Message, day: date) -> set[str]:
    if _local_day(m.sent) != day:
        return set()
    kinds = {r.kind for r in m.recipients}
    return ({"kommun"} if PartyKind.KOMMUN in kinds else set()) | ({"outpatient"} if kinds & OUTPATIENT else set())


def _hemgangsklar(key: str, messages: Sequence[Message]) -> list[Finding]:
    out = []
    for i, m in enumerate(messages):
        checklist = m.body.hemgangsklar
        if m.type is not MessageType.UTSKRIVNINGSMEDDELANDE or checklist is None:
            continue
        unmet = [f.name.replace("_", " ") for f in fields(checklist) if not getattr(checklist, f.name)]
        if not unmet:
            continue
        complete = next(
            (
                later.sent
                for later in messages[i + 1 :]
                if later.type is MessageType.UTSKRIVNINGSMEDDELANDE
                and later.body.hemgangsklar is not None
                and all(getattr(later.body.hemgangsklar, f.name) for f in fields(later.body.hemgangsklar))
            ),
            None,
        )
        detail = "discharged with the hemgångsklar checklist incomplete: " + ", ".join(unmet)
        out.append(Finding("hemgangsklar", key, m.id, "warning", m.sent, detail, None, complete))
    return out


def _registration(key: str, messages: Sequence[Message], kommun_of: Mapping[str, str]) -> list[Finding]:
    addressed = [m for m in messages if any(r.kind is PartyKind.KOMMUN for r in m.recipients)]
    home = next((m.patient.kommunkod for m in reversed(messages) if m.patient.kommunkod), None)
    if not addressed or home is None:
        return []
    reached = next(
        (m.sent for m in addressed if any(r.kind is PartyKind.KOMMUN and kommun_of.get(r.hsa_id) == home for r in m.recipients)),
        None,
    )
    first = addressed[0]
    if reached == first.sent:
        return []
    units = sorted({f"{r.hsa_id} ({kommun_of.get(r.hsa_id, 'unknown')})" for r in first.recipients if r.kind is PartyKind.KOMMUN})
    detail = f"no recipient of kind kommun in the municipality of registration {home}: {', '.join(units)}"
    return [Finding("registration", key, first.id, "warning", first.sent, detail, None, reached)]


def age_on(kind: PatientIdKind, number: str, day: date) -> int | None:
    """Age in whole years on ``day`` from a personnummer or samordningsnummer (day + 60); None for others.

    >>> age_on(PatientIdKind.PERSONNUMMER, "200811302383", date(2026, 11, 29))
    17
    >>> age_on(PatientIdKind.SAMORDNINGSNUMMER, "200811902383", date(2026, 11, 30))
    18
    """
    if kind is PatientIdKind.RESERVNUMMER or len(number) < 8 or not number[:8].isdigit():
        return None
    year, month, dom = int(number[:4]), int(number[4:6]), int(number[6:8])
    if kind is PatientIdKind.SAMORDNINGSNUMMER:
        dom -= 60
    try:
        born = date(year, month, dom)
    except ValueError:
        return None
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _target_group(key: str, messages: Sequence[Message]) -> list[Finding]:
    out = []
    for m in messages:
        if m.type is not MessageType.REMISS:
            continue
        age = age_on(m.patient.id_kind, m.patient.id_value, _local_day(m.sent))
        if age is None or age >= 18:
            continue
        answered = next(
            (a.sent for a in messages if a.type is MessageType.REMISS_SVAR and a.sent >= m.sent and a.body.decision is not None),
            None,
        )
        detail = f"referral of a patient aged {age}: the target group is adults (18 or older)"
        out.append(Finding("target-group", key, m.id, "warning", m.sent, detail, None, answered))
    return out
