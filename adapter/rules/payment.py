"""The municipality's payment responsibility (betalningsansvar) per episode (docs/domain.md, rules
5-7 and "Exact readings of the payment clock").

All dates are Stockholm calendar dates. The messages are read in the order of ``Message/@sent``,
then of acceptance. An Utskrivningsklar starts a clock from its notice day D (the later of the
day it was sent and the date it carries); day x is payable when x - D is at least the number of
days in force in x's year (3 for somatic care; psychiatric care had 30 in 2018; configuration per
region, care type and year), up to and not including the day the clock stops:

- a re-sent Utskrivningsklar with a date not after D keeps the clock, with D the earlier of D
  and the later of its sent day and its date; one dated after D stops the clock on its sent day
  (the patient was not discharge-ready in between) and starts a new one;
- a withdrawal (AtertagUtskrivningsklar) stops the running clock at its date, or its sent day
  when it has none (a date after the sent day is refused at the door; an old one is read as
  the sent day); it never shortens a period that had already ended;
- AvbrutenVardplanering stops it on the day it was sent; the discharge on its day (the day
  counts only if configured).

An operator's flag that the region's outpatient services are not available suspends the days it
covers. Each day is priced at its year's daily amount (förordning 2017:617; 7,100 SEK in 2018);
a year without a configured amount leaves its days unpriced, never priced at 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from mappings.model import CareType, Message, MessageType

from .deadlines import STOCKHOLM

__all__ = ["Clock", "PaymentRules", "Period", "Price", "periods", "price"]

# No configured number of days is longer than this; it bounds the search for a period's first day.
_LONGEST_WAIT = 366


@dataclass(frozen=True, slots=True)
class PaymentRules:
    """Configuration of one region. ``days`` maps (care type, year) to n; missing years use ``default_days``.

    ``flat_model_units``: the region's own units (HSA-ids) whose episodes Halland's transitional
    model covered (rule 14); empty elsewhere.
    """

    daily_amount: Mapping[int, int] = field(default_factory=lambda: {2018: 7100})
    days: Mapping[tuple[CareType, int], int] = field(default_factory=lambda: {(CareType.PSYKIATRISK, 2018): 30})
    default_days: int = 3
    count_discharge_day: bool = False
    flat_model_units: frozenset[str] = frozenset()

    def days_for(self, care: CareType | None, year: int) -> int:
        return self.days.get((care or CareType.SOMATISK, year), self.default_days)

    def first_payable(self, notified: date, care: CareType | None) -> date:
        """The first day x from D on with x - D at least the days in force in x's year: the rule in
        force on each day applies (psychiatric care notified in December 2018 pays from 2019-01-01)."""
        for wait in range(_LONGEST_WAIT + 1):
            day = notified + timedelta(days=wait)
            if wait >= self.days_for(care, day.year):
                return day
        return notified + timedelta(days=_LONGEST_WAIT)


@dataclass(frozen=True, slots=True)
class Price:
    """Days priced at their year's amount, and days of years without one, apart."""

    days: int
    amount: int
    unpriced_days: int
    unpriced_years: tuple[int, ...]


def price(days: Iterable[date], rules: PaymentRules) -> Price:
    priced = [d for d in days if d.year in rules.daily_amount]
    unpriced = [d for d in days if d.year not in rules.daily_amount]
    return Price(
        days=len(priced),
        amount=sum(rules.daily_amount[d.year] for d in priced),
        unpriced_days=len(unpriced),
        unpriced_years=tuple(sorted({d.year for d in unpriced})),
    )


@dataclass(frozen=True, slots=True)
class Period:
    """Days the municipality pays for: ``start`` to ``end`` (exclusive; None while the clock runs)."""

    notified: date  # D
    start: date
    end: date | None
    stopped_by: MessageType | None

    def days(self, until: date, suspended: Iterable[tuple[date, date]] = ()) -> list[date]:
        """The payable days up to ``until`` (exclusive) when the clock still runs, less suspended ones."""
        last = self.end if self.end is not None else until
        off = list(suspended)
        out, day = [], self.start
        while day < last:
            if not any(a <= day < b for a, b in off):
                out.append(day)
            day += timedelta(days=1)
        return out


@dataclass(frozen=True, slots=True)
class Clock:
    """An episode's payment clock as its messages set it."""

    periods: tuple[Period, ...]

    def payable_days(self, *, today: date, suspended: Iterable[tuple[date, date]] = ()) -> list[date]:
        """Every payable day up to and including ``today``."""
        off = list(suspended)
        return [d for p in self.periods for d in p.days(today + timedelta(days=1), off)]

    def payable(self, rules: PaymentRules, *, today: date, suspended: Iterable[tuple[date, date]] = ()) -> Price:
        return price(self.payable_days(today=today, suspended=suspended), rules)


def _local(message: Message) -> date:
    return message.sent.astimezone(STOCKHOLM).date()


class _Reading:
    """The clock while an episode's messages are read in order."""

    def __init__(self, rules: PaymentRules):
        self.rules = rules
        self.care: CareType | None = None
        self.done: list[Period] = []
        self.notified: date | None = None  # D of the running clock

    def stop(self, at: date, by: MessageType) -> None:
        if self.notified is not None:
            start = self.rules.first_payable(self.notified, self.care)
            self.done.append(Period(self.notified, start, max(start, at), by))
            self.notified = None

    def ready(self, sent: date, dated: date) -> None:
        if self.notified is not None and dated <= self.notified:
            self.notified = min(self.notified, max(sent, dated))
            return
        self.stop(sent, MessageType.UTSKRIVNINGSKLAR)
        self.notified = max(sent, dated)

    def read(self, m: Message) -> None:
        if m.care_episode is not None and m.care_episode.care is not None:
            self.care = m.care_episode.care
        sent = _local(m)
        if m.type is MessageType.UTSKRIVNINGSKLAR and m.body.discharge_ready is not None:
            self.ready(sent, m.body.discharge_ready)
        elif m.type is MessageType.ATERTAG_UTSKRIVNINGSKLAR:
            self.stop(min(m.body.withdrawal or sent, sent), m.type)
        elif m.type is MessageType.AVBRUTEN_VARDPLANERING:
            self.stop(sent, m.type)
        elif m.type is MessageType.UTSKRIVNINGSMEDDELANDE:
            discharged = (m.body.discharged or m.sent).astimezone(STOCKHOLM).date()
            self.stop(discharged + timedelta(days=1) if self.rules.count_discharge_day else discharged, m.type)

    def clock(self) -> Clock:
        out = list(self.done)
        if self.notified is not None:
            out.append(Period(self.notified, self.rules.first_payable(self.notified, self.care), None, None))
        return Clock(tuple(out))


def periods(messages: Iterable[Message], rules: PaymentRules) -> Clock:
    """The clock of one episode from its messages, given in the order they were accepted."""
    reading = _Reading(rules)
    for m in sorted(messages, key=lambda m: m.sent):  # stable: acceptance order among equal times
        reading.read(m)
    return reading.clock()
