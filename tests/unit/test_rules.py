"""The discharge process's rules (docs/domain.md, rules 1-14) as pure functions: holidays, Kvittens deadlines,
the payment clock, Halland's transitional model. The clock is always passed in.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from adapter.rules.deadlines import STOCKHOLM, kvittens_due
from adapter.rules.halland import monthly
from adapter.rules.holidays import is_weekday, non_weekdays
from adapter.rules.payment import PaymentRules, Price, periods
from mappings.model import CareType, Message, MessageType
from tests.support import FIXTURES, load

K = MessageType.KALLELSE_SAMORDNAD_PLANERING
U = MessageType.UTSKRIVNINGSKLAR


def at(y: int, mo: int, d: int, h: int = 10, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=STOCKHOLM)


def test_the_holidays_of_2025_are_those_of_the_almanac() -> None:
    named = {name: day for day, name in non_weekdays(2025).items()}
    assert named["Långfredagen"] == date(2025, 4, 18)
    assert named["Annandag påsk"] == date(2025, 4, 21)
    assert named["Kristi himmelsfärdsdag"] == date(2025, 5, 29)
    assert named["Midsommarafton"] == date(2025, 6, 20)
    assert named["Alla helgons dag"] == date(2025, 11, 1)
    assert not is_weekday(date(2025, 12, 24)) and not is_weekday(date(2025, 12, 31))
    assert is_weekday(date(2025, 12, 23)) and is_weekday(date(2025, 12, 29))


@pytest.mark.parametrize(
    ("case", "sent", "due"),
    [
        ("before Easter", at(2026, 4, 1), date(2026, 4, 2)),
        ("Maundy Thursday: Good Friday and Easter Monday are not weekdays", at(2026, 4, 2), date(2026, 4, 7)),
        ("on Easter Monday", at(2026, 4, 6), date(2026, 4, 7)),
        ("after Easter", at(2026, 4, 7), date(2026, 4, 8)),
        ("before Midsummer Eve", at(2026, 6, 17), date(2026, 6, 18)),
        ("the day before Midsummer Eve", at(2026, 6, 18), date(2026, 6, 22)),
        ("on Midsummer Eve", at(2026, 6, 19, 8), date(2026, 6, 22)),
        ("before Christmas Eve", at(2026, 12, 22), date(2026, 12, 23)),
        ("the day before Christmas Eve", at(2026, 12, 23, 16), date(2026, 12, 28)),
        ("the day before New Year's Eve, over the year boundary", at(2026, 12, 30), date(2027, 1, 4)),
        ("on New Year's Eve", at(2026, 12, 31, 23, 59), date(2027, 1, 4)),
        ("Friday", at(2026, 11, 20, 16), date(2026, 11, 23)),
        ("Saturday", at(2026, 11, 21), date(2026, 11, 23)),
        ("Sunday", at(2026, 11, 22, 23, 59), date(2026, 11, 23)),
        ("the Friday before summer time starts", at(2026, 3, 27), date(2026, 3, 30)),
        ("the Friday before summer time ends", at(2026, 10, 23), date(2026, 10, 26)),
    ],
)
def test_a_kvittens_is_due_at_the_end_of_the_next_weekday(case: str, sent: datetime, due: date) -> None:
    got = kvittens_due(U, sent)
    assert (got.date(), got.hour, got.minute, got.second) == (due, 23, 59, 59), case
    assert got.tzinfo is STOCKHOLM


def test_summer_time_is_that_of_the_due_day_not_of_the_sending_day() -> None:
    assert kvittens_due(U, at(2026, 3, 27)).utcoffset().total_seconds() == 7200  # type: ignore[union-attr]
    assert kvittens_due(U, at(2026, 10, 23)).utcoffset().total_seconds() == 3600  # type: ignore[union-attr]


def test_the_day_sent_is_the_day_in_stockholm_not_in_utc() -> None:
    # 23:30 UTC on Thursday 26 March is 00:30 on Friday in Stockholm: due Monday, not Friday.
    assert kvittens_due(U, datetime(2026, 3, 26, 23, 30, tzinfo=UTC)).date() == date(2026, 3, 30)
    assert kvittens_due(U, datetime(2026, 3, 26, 22, 30, tzinfo=UTC)).date() == date(2026, 3, 27)


@pytest.mark.parametrize(
    ("case", "sent", "due"),
    [
        ("Thursday 15:00 before a normal Friday: due Monday", at(2026, 11, 19, 15), date(2026, 11, 23)),
        ("Thursday 14:00 exactly: due Friday", at(2026, 11, 19, 14), date(2026, 11, 20)),
        ("Friday 15:00: W is Monday, the day before W is Sunday: due Monday", at(2026, 11, 20, 15), date(2026, 11, 23)),
        ("Thursday 15:00 before Midsummer Eve: W is Monday", at(2026, 6, 18, 15), date(2026, 6, 22)),
        ("Wednesday 15:00 before Christmas Eve: W is Monday 28th", at(2026, 12, 23, 15), date(2026, 12, 28)),
        ("Tuesday 14:01 before a normal Wednesday: due Thursday", at(2026, 11, 17, 14, 1), date(2026, 11, 19)),
    ],
)
def test_a_kallelse_sent_after_14_on_the_day_before_its_weekday_is_due_a_weekday_later(
    case: str, sent: datetime, due: date
) -> None:
    assert kvittens_due(K, sent).date() == due, case


def _episode(*steps: tuple[str, datetime, dict[str, object]], care: CareType | None = None) -> list[Message]:
    out = []
    for name, sent, body in steps:
        m = load(FIXTURES / "messages" / name)
        episode = replace(m.care_episode, care=care) if m.care_episode is not None and care else m.care_episode
        out.append(replace(m, sent=sent, body=replace(m.body, **body), care_episode=episode))  # type: ignore[arg-type]
    return out


def _ready(sent: datetime, ready: date) -> tuple[str, datetime, dict[str, object]]:
    return ("Utskrivningsklar-01.xml", sent, {"discharge_ready": ready})


def _discharged(when: datetime) -> tuple[str, datetime, dict[str, object]]:
    return ("Utskrivningsmeddelande-01.xml", when, {"discharged": when})


def _withdrawn(sent: datetime) -> tuple[str, datetime, dict[str, object]]:
    return ("AtertagUtskrivningsklar-01.xml", sent, {"withdrawal": sent.date()})


RULES = PaymentRules()


def test_payment_starts_three_days_after_d_and_stops_before_the_discharge_day() -> None:
    clock = periods(_episode(_ready(at(2018, 3, 5), date(2018, 3, 5)), _discharged(at(2018, 3, 12))), RULES)
    [p] = clock.periods
    assert (p.notified, p.start, p.end) == (date(2018, 3, 5), date(2018, 3, 8), date(2018, 3, 12))
    assert clock.payable(RULES, today=date(2018, 6, 1)) == Price(4, 4 * 7100, 0, ())  # 8, 9, 10, 11 March (a weekend)
    with_day = PaymentRules(count_discharge_day=True)
    assert periods(_episode(_ready(at(2018, 3, 5), date(2018, 3, 5)), _discharged(at(2018, 3, 12))), with_day).payable(
        with_day, today=date(2018, 6, 1)
    ) == Price(5, 5 * 7100, 0, ())


def test_d_is_the_later_of_the_day_sent_and_the_date_it_carries() -> None:
    [p] = periods(_episode(_ready(at(2018, 3, 1), date(2018, 3, 5))), RULES).periods
    assert (p.notified, p.start, p.end) == (date(2018, 3, 5), date(2018, 3, 8), None)
    [q] = periods(_episode(_ready(at(2018, 3, 9), date(2018, 3, 5))), RULES).periods
    assert q.notified == date(2018, 3, 9)


def test_a_running_clock_counts_until_today_and_a_discharge_before_the_start_costs_nothing() -> None:
    running = periods(_episode(_ready(at(2018, 3, 5), date(2018, 3, 5))), RULES)
    assert running.payable(RULES, today=date(2018, 3, 9)).days == 2  # 8 and 9 March so far
    early = periods(_episode(_ready(at(2018, 3, 5), date(2018, 3, 5)), _discharged(at(2018, 3, 7))), RULES)
    assert early.payable(RULES, today=date(2018, 6, 1)) == Price(0, 0, 0, ())


def test_a_withdrawal_stops_the_clock_and_a_new_utskrivningsklar_starts_a_new_one() -> None:
    clock = periods(
        _episode(
            _ready(at(2018, 3, 5), date(2018, 3, 5)),
            _withdrawn(at(2018, 3, 10)),
            _ready(at(2018, 3, 20), date(2018, 3, 20)),
            _discharged(at(2018, 3, 25)),
        ),
        RULES,
    )
    assert [(p.start, p.end, p.stopped_by) for p in clock.periods] == [
        (date(2018, 3, 8), date(2018, 3, 10), MessageType.ATERTAG_UTSKRIVNINGSKLAR),
        (date(2018, 3, 23), date(2018, 3, 25), MessageType.UTSKRIVNINGSMEDDELANDE),
    ]
    assert clock.payable(RULES, today=date(2018, 6, 1)).days == 4


def test_psychiatric_care_in_2018_starts_after_30_days_and_like_somatic_care_from_2019() -> None:
    [p] = periods(_episode(_ready(at(2018, 3, 5), date(2018, 3, 5)), care=CareType.PSYKIATRISK), RULES).periods
    assert p.start == date(2018, 4, 4)
    [q] = periods(_episode(_ready(at(2019, 3, 5), date(2019, 3, 5)), care=CareType.PSYKIATRISK), RULES).periods
    assert q.start == date(2019, 3, 8)


def test_a_year_without_a_configured_daily_amount_is_reported_not_guessed() -> None:
    clock = periods(_episode(_ready(at(2026, 3, 5), date(2026, 3, 5)), _discharged(at(2026, 3, 12))), RULES)
    assert clock.payable(RULES, today=date(2026, 6, 1)) == Price(0, 0, 4, (2026,))
    configured = PaymentRules(daily_amount={2026: 9000})
    assert clock.payable(configured, today=date(2026, 6, 1)) == Price(4, 36000, 0, ())


def test_the_operators_flag_suspends_the_days_it_covers() -> None:
    clock = periods(_episode(_ready(at(2018, 3, 5), date(2018, 3, 5)), _discharged(at(2018, 3, 15))), RULES)
    assert clock.payable(RULES, today=date(2018, 6, 1)).days == 7
    suspended = [(date(2018, 3, 9), date(2018, 3, 12))]  # outpatient services not available 9-11 March
    assert clock.payable(RULES, today=date(2018, 6, 1), suspended=suspended).days == 4


def test_hallands_transitional_model_reproduces_the_table_to_the_krona() -> None:
    report = monthly()
    assert report.rows == {
        "Falkenberg": 420,
        "Kungsbacka": 125_134,
        "Varberg": 35_714,
        "Halmstad": 13_025,
        "Laholm": 14_755,
        "Hylte": 0,
    }
    assert report.invoiced_total == 2_268_587
    assert (report.total, report.row_sum) == (189_049, 189_048)


# -- The exact readings of the payment clock (DOMAIN.md), as its table states them ----------------------
# 2018, 7,100 SEK a day, discharge on 20 March. UK = Utskrivningsklar "sent → date"; AT = withdrawal
# (AtertagUtskrivningsklar) "sent → date"; AVP = AvbrutenVardplanering "sent". The payable days are
# written out from the rule, never computed with the code under test.


def _reading(text: str) -> tuple[str, datetime, dict[str, object]]:
    kind, _, rest = text.partition(" ")
    sent, _, dated = (part.strip() for part in rest.partition("→"))
    when = at(2018, int(sent[:2]), int(sent[3:]))
    day = date(2018, int(dated[:2]), int(dated[3:])) if dated else None
    if kind == "UK":
        return _ready(when, day or when.date())
    if kind == "AT":
        return ("AtertagUtskrivningsklar-01.xml", when, {"withdrawal": day})
    assert kind == "AVP"
    return ("AvbrutenVardplanering-01.xml", when, {})


def _span(first: str, last: str) -> list[date]:
    a, b = date(2018, int(first[:2]), int(first[3:])), date(2018, int(last[:2]), int(last[3:]))
    return [date.fromordinal(n) for n in range(a.toordinal(), b.toordinal() + 1)]


@pytest.mark.parametrize(
    ("messages", "payable", "days", "amount"),
    [
        ("UK 03-01 → 03-01", _span("03-04", "03-19"), 16, 113_600),
        ("UK 03-01 → 03-01; UK 03-08 → 03-01", _span("03-04", "03-19"), 16, 113_600),
        ("UK 03-01 → 03-10; UK 03-08 → 03-06", _span("03-11", "03-19"), 9, 63_900),
        ("UK 03-01 → 03-10; UK 03-12 → 03-02", _span("03-13", "03-19"), 7, 49_700),
        ("UK 03-05 → 03-01; UK 03-10 → 03-03", _span("03-08", "03-19"), 12, 85_200),
        ("UK 03-01 → 03-01; UK 03-05 → 03-12; UK 03-09 → 03-03", _span("03-04", "03-04") + _span("03-12", "03-19"), 9, 63_900),
        ("UK 03-01 → 03-01; AT 03-20 → 03-13", _span("03-04", "03-12"), 9, 63_900),
        ("UK 03-01 → 03-01; AT 03-10 →", _span("03-04", "03-09"), 6, 42_600),
        ("UK 03-05 → 03-05; AVP 03-10", _span("03-08", "03-09"), 2, 14_200),
        # Read in the order sent: the re-send sent first is read first, whatever order they came in.
        ("UK 03-05 → 03-01; UK 03-01 → 03-01", _span("03-04", "03-19"), 16, 113_600),
        # A withdrawal never shortens a period that had already ended (the first stopped on 03-05).
        ("UK 03-01 → 03-01; AVP 03-05; AT 03-06 → 03-02", _span("03-04", "03-04"), 1, 7_100),
    ],
)
def test_the_payment_clock_reads_each_case_as_domain_md_says(messages: str, payable: list[date], days: int, amount: int) -> None:
    steps = [_reading(m.strip()) for m in messages.split(";")]
    clock = periods(_episode(*steps, _discharged(at(2018, 3, 20))), RULES)
    assert clock.payable_days(today=date(2018, 6, 1)) == payable
    assert clock.payable(RULES, today=date(2018, 6, 1)) == Price(days, amount, 0, ())


def test_psychiatric_care_notified_in_december_2018_follows_the_somatic_rule_from_2019() -> None:
    """Payable from the earlier of D+30 and the later of D+3 and 2019-01-01."""
    psych = CareType.PSYKIATRISK
    [late] = periods(_episode(_ready(at(2018, 12, 20), date(2018, 12, 20)), care=psych), RULES).periods
    assert late.start == date(2019, 1, 1)  # D+30 would be 19 January
    [end_of_year] = periods(_episode(_ready(at(2018, 12, 30), date(2018, 12, 30)), care=psych), RULES).periods
    assert end_of_year.start == date(2019, 1, 2)  # D+3
    [early] = periods(_episode(_ready(at(2018, 11, 15), date(2018, 11, 15)), care=psych), RULES).periods
    assert early.start == date(2018, 12, 15)  # D+30, still in 2018


def test_a_period_into_an_unpriced_year_keeps_the_price_of_its_priced_days() -> None:
    clock = periods(_episode(_ready(at(2018, 12, 20), date(2018, 12, 20)), _discharged(at(2019, 1, 5))), RULES)
    # 23-31 December 2018 at 7,100 SEK; 1-4 January 2019 without an amount.
    assert clock.payable(RULES, today=date(2019, 6, 1)) == Price(9, 63_900, 4, (2019,))
