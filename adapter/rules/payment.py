"""The municipality's payment responsibility (betalningsansvar) per episode (docs/domain.md, rules 5-7).

An Utskrivningsklar starts the clock: D is the later of the day it was sent and the
discharge-ready date it carries; responsibility starts on day D + n (n = 3 for somatic care;
psychiatric care had 30 in 2018; regions may agree on other numbers: configuration per region,
care type and year). Days are calendar days, weekends and holidays included, up to and not
including the day the clock stops: a withdrawal (AtertagUtskrivningsklar), an aborted planning
or the discharge (whose day counts only if configured). A new Utskrivningsklar after a
withdrawal starts a new clock; one while the clock runs (a new date) closes the running period on
the day it is sent (days already payable stay so) and starts a new one from its own D.
An operator's flag that the region's outpatient services are not available suspends the days it
covers. Each day is priced at its year's daily amount (förordning 2017:617; 7,100 SEK in 2018);
a year without a configured amount is reported, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from mappings.model import CareType, Message, MessageType

from .deadlines import STOCKHOLM

__all__ = ["Clock", "PaymentRules", "Period", "periods"]


@dataclass(frozen=True, slots=True)
class PaymentRules:
    """Configuration of one region. ``days`` maps (care type, year) to n; missing years use ``default_days``."""

    daily_amount: Mapping[int, int] = field(default_factory=lambda: {2018: 7100})
    days: Mapping[tuple[CareType, int], int] = field(default_factory=lambda: {(CareType.PSYKIATRISK, 2018): 30})
    default_days: int = 3
    count_discharge_day: bool = False

    def days_for(self, care: CareType | None, year: int) -> int:
        return self.days.get((care or CareType.SOMATISK, year), self.default_days)


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

    def payable(
        self, rules: PaymentRules, *, today: date, suspended: Iterable[tuple[date, date]] = ()
    ) -> tuple[int, int | None, list[int]]:
        """(days, amount in SEK or None, years without a configured daily amount) up to ``today``."""
        days = [d for p in self.periods for d in p.days(today, suspended)]
        missing = sorted({d.year for d in days if d.year not in rules.daily_amount})
        amount = None if missing else sum(rules.daily_amount[d.year] for d in days)
        return len(days), amount, missing


def _local(message: Message) -> date:
    return message.sent.astimezone(STOCKHOLM).date()


def periods(messages: Iterable[Message], rules: PaymentRules) -> Clock:
    """The clock of one episode from its messages in the order they were accepted."""
    out: list[Period] = []
    running: Period | None = None
    care: CareType | None = None

    def stop(at: date, by: MessageType) -> None:
        nonlocal running
        if running is not None:
            out.append(Period(running.notified, running.start, max(running.start, at), by))
            running = None

    for m in messages:
        if m.care_episode is not None and m.care_episode.care is not None:
            care = m.care_episode.care
        if m.type is MessageType.UTSKRIVNINGSKLAR and m.body.discharge_ready is not None:
            stop(_local(m), m.type)
            notified = max(_local(m), m.body.discharge_ready)
            running = Period(notified, notified + timedelta(days=rules.days_for(care, notified.year)), None, None)
        elif m.type is MessageType.ATERTAG_UTSKRIVNINGSKLAR:
            stop(m.body.withdrawal or _local(m), m.type)
        elif m.type is MessageType.AVBRUTEN_VARDPLANERING:
            stop(_local(m), m.type)
        elif m.type is MessageType.UTSKRIVNINGSMEDDELANDE:
            discharged = (m.body.discharged or m.sent).astimezone(STOCKHOLM).date()
            stop(discharged + timedelta(days=1) if rules.count_discharge_day else discharged, m.type)
    if running is not None:
        out.append(running)
    return Clock(tuple(out))
