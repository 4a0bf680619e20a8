"""Findings (adapter.rules.findings): for each kind, one case that raises it and one that clears it,
always with the clock passed in. Messages are the palliativ-01 journey's, changed where a case needs."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from adapter.rules.deadlines import STOCKHOLM
from adapter.rules.findings import Finding, evaluate
from mappings.model import Checklist, Message, Party, PartyKind
from tests.support import JOURNEYS, load

J = JOURNEYS[0]
KEY = "episode:test"
INSKRIVNING, KV_KOMMUN, KV_VC = (
    load(J / "03-Inskrivningsmeddelande.xml"),
    load(J / "04-Kvittens.xml"),
    load(J / "05-Kvittens.xml"),
)
KALLELSE, KV_KALLELSE = load(J / "08-KallelseSamordnadPlanering.xml"), load(J / "09-Kvittens.xml")
UTSKRIVNING = load(J / "14-Utskrivningsmeddelande.xml")
REMISS, SVAR = load(J / "01-Remiss.xml"), load(J / "02-RemissSvar.xml")
KOMMUN_OF = {"SE2321000131-E000000000101": "1380", "SE2321000131-E000000000103": "1382"}


def at(y: int, mo: int, d: int, h: int = 10, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=STOCKHOLM)


def of(rule: str, messages: list[Message], now: datetime, **kw: object) -> list[Finding]:
    return [f for f in evaluate(KEY, messages, now, **kw) if f.rule == rule]  # type: ignore[arg-type]


def body(m: Message, **changes: object) -> Message:
    return replace(m, body=replace(m.body, **changes))


# kvittens (rules 1 and 2)


def test_a_message_waits_for_each_recipients_kvittens_and_is_overdue_after_the_next_weekday() -> None:
    # Sent Tuesday 2026-03-10 08:30: due Wednesday 23:59:59.
    waiting = of("kvittens", [INSKRIVNING], at(2026, 3, 10, 12))
    assert [(f.subject.split(" → ")[1], f.severity, f.due) for f in waiting] == [
        ("SE2321000131-E000000000101", "info", at(2026, 3, 11, 23, 59).replace(second=59)),
        ("SE2321000131-E000000000201", "info", at(2026, 3, 11, 23, 59).replace(second=59)),
    ]
    late = of("kvittens", [INSKRIVNING, KV_KOMMUN], at(2026, 3, 12, 0, 0))
    assert [(f.subject.split(" → ")[1], f.severity, f.open) for f in late] == [
        ("SE2321000131-E000000000101", "info", False),
        ("SE2321000131-E000000000201", "error", True),
    ]
    assert late[1].overdue(at(2026, 3, 12, 0, 0))


def test_the_kvittens_of_each_recipient_clears_its_finding() -> None:
    found = of("kvittens", [INSKRIVNING, KV_KOMMUN, KV_VC], at(2026, 3, 20))
    assert [f.cleared for f in found] == [KV_KOMMUN.sent, KV_VC.sent]
    assert all(not f.overdue(at(2026, 3, 20)) and f.severity == "info" for f in found)


def test_a_kvittens_from_someone_else_clears_nothing() -> None:
    stranger = replace(KV_KOMMUN, sender=Party("SE2321000131-E000000000999", PartyKind.KOMMUN))
    assert all(f.open for f in of("kvittens", [INSKRIVNING, stranger], at(2026, 3, 10, 12)))


def test_a_kallelse_sent_after_14_before_a_friday_is_due_on_monday() -> None:
    late_thursday = replace(KALLELSE, sent=at(2026, 3, 12, 15, 0))
    assert {f.due for f in of("kvittens", [late_thursday], at(2026, 3, 12, 16))} == {
        datetime(2026, 3, 16, 23, 59, 59, tzinfo=STOCKHOLM)
    }
    acked = of("kvittens", [late_thursday, replace(KV_KALLELSE, sent=at(2026, 3, 16, 9))], at(2026, 3, 17))
    kommun = next(f for f in acked if f.subject.endswith("E000000000101"))
    assert kommun.cleared == at(2026, 3, 16, 9) and not kommun.overdue(at(2026, 3, 17))


def test_messages_sent_after_now_are_not_yet_known() -> None:
    assert of("kvittens", [INSKRIVNING], INSKRIVNING.sent - timedelta(seconds=1)) == []


# preliminary-date (rule 3)


def test_an_inskrivningsmeddelande_without_a_preliminary_date_is_flagged_24_hours_after_admission() -> None:
    undated = body(INSKRIVNING, preliminary_discharge_ready=None)
    admitted = INSKRIVNING.care_episode.admitted  # type: ignore[union-attr]
    assert of("preliminary-date", [undated], admitted + timedelta(hours=23)) == []
    (f,) = of("preliminary-date", [undated], admitted + timedelta(hours=25))
    assert (f.raised, f.open, f.severity) == (admitted + timedelta(hours=24), True, "warning")


def test_a_resent_inskrivningsmeddelande_with_the_date_clears_it() -> None:
    undated = body(INSKRIVNING, preliminary_discharge_ready=None)
    resent = replace(INSKRIVNING, id="resent", sent=INSKRIVNING.sent + timedelta(days=2))
    (f,) = of("preliminary-date", [undated, resent], resent.sent + timedelta(hours=1))
    assert f.cleared == resent.sent
    assert of("preliminary-date", [INSKRIVNING], at(2026, 4, 1)) == []  # dated in time: nothing at all


# discharge-notice (rule 8)


def test_an_utskrivningsmeddelande_only_to_the_kommun_is_flagged() -> None:
    only_kommun = replace(UTSKRIVNING, recipients=UTSKRIVNING.recipients[:1])
    (f,) = of("discharge-notice", [only_kommun], at(2026, 3, 18))
    assert f.open and "outpatient care" in f.detail


def test_an_utskrivningsmeddelande_sent_the_day_after_discharge_is_flagged() -> None:
    late = replace(UTSKRIVNING, sent=at(2026, 3, 18, 8))
    (f,) = of("discharge-notice", [late], at(2026, 3, 18, 9))
    assert f.open and "the municipality and the region's outpatient care" in f.detail


def test_a_second_notice_on_the_discharge_day_to_the_one_missing_clears_it() -> None:
    only_kommun = replace(UTSKRIVNING, recipients=UTSKRIVNING.recipients[:1])
    to_vc = replace(UTSKRIVNING, id="to-vc", recipients=UTSKRIVNING.recipients[1:], sent=at(2026, 3, 17, 15))
    (f,) = of("discharge-notice", [only_kommun, to_vc], at(2026, 3, 18))
    assert f.cleared == to_vc.sent
    assert of("discharge-notice", [UTSKRIVNING], at(2026, 3, 18)) == []


# hemgangsklar (rule 9)


def test_an_incomplete_checklist_is_accepted_and_flagged_with_what_is_missing() -> None:
    incomplete = body(UTSKRIVNING, hemgangsklar=Checklist(True, True, False, True, False))
    (f,) = of("hemgangsklar", [incomplete], at(2026, 3, 18))
    assert f.open and "assistive devices" in f.detail and "information transferred" in f.detail


def test_a_later_notice_with_the_checklist_complete_clears_it() -> None:
    incomplete = body(UTSKRIVNING, hemgangsklar=Checklist(True, True, False, True, True))
    complete = replace(UTSKRIVNING, id="complete", sent=at(2026, 3, 17, 14))
    (f,) = of("hemgangsklar", [incomplete, complete], at(2026, 3, 18))
    assert f.cleared == complete.sent


# registration (rule 13)


def test_no_kommun_recipient_in_the_municipality_of_registration_is_flagged() -> None:
    falkenberg = Party("SE2321000131-E000000000103", PartyKind.KOMMUN, "Falkenbergs kommun")
    wrong = replace(INSKRIVNING, recipients=(falkenberg, INSKRIVNING.recipients[1]))
    (f,) = of("registration", [wrong], at(2026, 3, 10, 9), kommun_of=KOMMUN_OF)
    assert f.open and "1380" in f.detail and "(1382)" in f.detail
    assert of("registration", [wrong], at(2026, 3, 10, 9)) == []  # no unit directory configured: not evaluated


def test_a_later_message_to_the_right_kommun_clears_it() -> None:
    falkenberg = Party("SE2321000131-E000000000103", PartyKind.KOMMUN, "Falkenbergs kommun")
    wrong = replace(INSKRIVNING, recipients=(falkenberg,))
    (f,) = of("registration", [wrong, KALLELSE], at(2026, 3, 12), kommun_of=KOMMUN_OF)
    assert f.cleared == KALLELSE.sent
    assert of("registration", [INSKRIVNING], at(2026, 3, 12), kommun_of=KOMMUN_OF) == []


# target-group (referral)


def test_a_referral_of_a_17_year_old_is_flagged_until_it_is_answered() -> None:
    minor = replace(REMISS.patient, id_value="200811302383")  # 17 on 2026-03-02
    remiss = replace(REMISS, patient=minor)
    (f,) = of("target-group", [remiss], at(2026, 3, 2, 12))
    assert f.open and "aged 17" in f.detail
    (answered,) = of("target-group", [remiss, replace(SVAR, patient=minor)], at(2026, 3, 4))
    assert answered.cleared == SVAR.sent
    assert of("target-group", [REMISS, SVAR], at(2026, 3, 4)) == []  # born 1944
