"""A municipality's invoice basis per month, frozen once invoiced (docs/domain.md, "Invoices are frozen").

The basis of an open month is each episode's payable days in that month (the payment report's
days of the municipality's patients) and the corrections of invoiced months whose next open month
it is. An operator marks a month invoiced once it has ended; from then on its basis is the one
stored, never recomputed. A later message that changes an invoiced month's days gives correction
rows in the next open month, each naming the message that caused it: the invoiced month's days
are recomputed message by message, in the order the journal took them, from what was billed.
A change no message explains (an operator's flag, a cancelled message, the payment file) is a
correction without a message.

Months are marked in order: a month after an invoiced one is never left behind it.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from adapter.journal import Invoice
from adapter.reports import Episodes, PaymentRow, payment_rows
from adapter.rules.payment import PaymentRules, Price, price
from mappings.fhir import YEARS

__all__ = ["Basis", "Correction", "Line", "MarkRefused", "basis", "freeze", "month_days"]


class MarkRefused(ValueError):
    """A month that may not be marked invoiced (not ended, or a later month already is)."""


def month_days(month: str) -> tuple[date, date]:
    """The first and last day of ``YYYY-MM``; ValueError when it is not a month of the years a
    message may carry (:data:`mappings.fhir.YEARS`).

    >>> month_days("2024-02")
    (datetime.date(2024, 2, 1), datetime.date(2024, 2, 29))
    """
    if re.fullmatch(r"\d{4}-\d{2}", month) is None:
        raise ValueError(f"{month!r} is not a month (YYYY-MM)")
    year, number = int(month[:4]), int(month[5:])
    if year not in YEARS or not 1 <= number <= 12:
        raise ValueError(f"{month} is not a month between {YEARS.start}-01 and {YEARS.stop - 1}-12")
    return date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])


def _later(month: str) -> str:
    return (month_days(month)[1] + timedelta(days=1)).isoformat()[:7]


def _days(values: Iterable[str]) -> tuple[date, ...]:
    return tuple(date.fromisoformat(v) for v in values)


def _iso(days: Iterable[date]) -> list[str]:
    return [d.isoformat() for d in days]


def _price_json(p: Price) -> dict[str, int]:
    return {"days": p.days + p.unpriced_days, "pricedDays": p.days, "amount": p.amount, "unpricedDays": p.unpriced_days}


@dataclass(frozen=True, slots=True)
class Line:
    """One episode's payable days in the month."""

    key: str
    days: tuple[date, ...]
    price: Price
    note: str

    def as_json(self) -> dict[str, Any]:
        return {
            "episode": self.key.removeprefix("episode:"),
            **_price_json(self.price),
            "dates": _iso(self.days),
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class Correction:
    """Days of an invoiced ``month`` added or taken back since it was billed, and the message that did it."""

    key: str
    month: str
    added: tuple[date, ...]
    removed: tuple[date, ...]
    change: Price  # what the days added less the days taken back come to
    message_id: str | None
    message_type: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "episode": self.key.removeprefix("episode:"),
            "corrects": self.month,
            **_price_json(self.change),
            "added": _iso(self.added),
            "removed": _iso(self.removed),
            "messageId": self.message_id,
            "messageType": self.message_type,
        }


@dataclass(frozen=True, slots=True)
class Basis:
    kommunkod: str
    month: str
    lines: tuple[Line, ...]
    corrections: tuple[Correction, ...]
    #: The invoiced months whose corrections this month carries (frozen with it once invoiced).
    corrects: tuple[str, ...]

    def total(self) -> dict[str, int]:
        """Priced days and amount, and unpriced days and rows, apart (a correction counts as a row)."""
        parts = [_price_json(p) for p in (*(x.price for x in self.lines), *(c.change for c in self.corrections))]
        return {
            "pricedDays": sum(p["pricedDays"] for p in parts),
            "amount": sum(p["amount"] for p in parts),
            "unpricedDays": sum(p["unpricedDays"] for p in parts),
            "unpricedRows": sum(1 for p in parts if p["unpricedDays"]),
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "kommunkod": self.kommunkod,
            "month": self.month,
            "lines": [x.as_json() for x in self.lines],
            "corrections": [c.as_json() for c in self.corrections],
            "corrects": list(self.corrects),
            "total": self.total(),
        }


def _by_key(rows: Iterable[PaymentRow]) -> dict[str, tuple[date, ...]]:
    out: dict[str, tuple[date, ...]] = {}
    for r in rows:
        out[r.key] = tuple(sorted({*out.get(r.key, ()), *r.payable}))
    return out


def _less(a: Price, b: Price) -> Price:
    return Price(a.days - b.days, a.amount - b.amount, a.unpriced_days - b.unpriced_days, ())


class _Billing:
    """The payable days of one municipality's episodes in a month, as the messages up to a point give them."""

    def __init__(self, episodes: Episodes, rules: Mapping[str, PaymentRules], kommunkod: str, today: date):
        self.episodes, self.rules, self.kommunkod, self.today = episodes, rules, kommunkod, today
        self.region_rules = rules.get(kommunkod[:2]) or rules.get("*") or PaymentRules()

    def _rows(self, month: str, episodes: Episodes | None = None) -> list[PaymentRow]:
        first, last = month_days(month)
        region = self.kommunkod[:2]
        return payment_rows(
            episodes or self.episodes, self.rules, region=region, start=first, end=last, today=self.today, kommun=self.kommunkod
        )

    def days(self, month: str, episodes: Episodes | None = None) -> dict[str, tuple[date, ...]]:
        return _by_key(self._rows(month, episodes))

    def lines(self, month: str) -> tuple[Line, ...]:
        rows = self._rows(month)
        notes: dict[str, list[str]] = {}
        for r in rows:
            if r.note:
                notes.setdefault(r.key, []).append(r.note)
        return tuple(
            Line(key, days, price(days, self.region_rules), "; ".join(notes.get(key, ())))
            for key, days in sorted(_by_key(rows).items())
        )

    def up_to(self, key: str, seq: int) -> Episodes:
        """The episode ``key`` as the messages the journal took up to ``seq`` give it."""
        records = [r for r in self.episodes.records.get(key, ()) if r.seq <= seq]
        messages = self.episodes.messages.get(key, [])[: len(records)]
        return replace(self.episodes, messages={key: messages}, records={key: records})

    def corrections(self, month: str, billed: Mapping[str, tuple[date, ...]], since: int) -> list[Correction]:
        """What changed in ``month`` since it was billed as ``billed`` by the messages up to ``since``."""
        out: list[Correction] = []
        keys = sorted({*billed, *self.days(month)})
        for key in keys:
            was = set(billed.get(key, ()))
            later = [r for r in self.episodes.records.get(key, ()) if r.seq > since]
            steps: list[tuple[str | None, str | None, int]] = [(None, None, since)]
            steps += [(r.message_id, r.message_type, r.seq) for r in later]
            for message_id, message_type, seq in steps:
                now = set(self.days(month, self.up_to(key, seq)).get(key, ()))
                if now != was:
                    added, removed = tuple(sorted(now - was)), tuple(sorted(was - now))
                    out.append(
                        Correction(
                            key,
                            month,
                            added,
                            removed,
                            _less(price(added, self.region_rules), price(removed, self.region_rules)),
                            message_id,
                            message_type,
                        )
                    )
                    was = now
        return out


def _billed(month: str, invoices: Sequence[Invoice]) -> tuple[dict[str, tuple[date, ...]], int]:
    """``month``'s days as invoiced (its own basis and the corrections of later invoiced months)
    and the last message those bills had seen."""
    own = next(i for i in invoices if i.month == month)
    days = {"episode:" + x["episode"]: set(_days(x["dates"])) for x in own.basis["lines"]}
    seen = own.through_seq
    for later in invoices:
        if later.month > month and month in later.basis.get("corrects", ()):
            seen = max(seen, later.through_seq)
            for c in later.basis["corrections"]:
                if c["corrects"] == month:
                    key = "episode:" + c["episode"]
                    days[key] = (days.get(key, set()) | set(_days(c["added"]))) - set(_days(c["removed"]))
    return {k: tuple(sorted(v)) for k, v in days.items()}, seen


def _next_open(month: str, invoiced: set[str]) -> str:
    month = _later(month)
    while month in invoiced:
        month = _later(month)
    return month


def basis(
    episodes: Episodes, invoices: Sequence[Invoice], rules: Mapping[str, PaymentRules], *, kommunkod: str, month: str, today: date
) -> tuple[Basis, Invoice | None]:
    """The invoice basis of ``month``: as frozen when it is invoiced (and that invoice), else as it stands."""
    month_days(month)
    frozen = next((i for i in invoices if i.month == month), None)
    if frozen is not None:
        return _from_json(frozen.basis), frozen
    billing = _Billing(episodes, rules, kommunkod, today)
    invoiced = {i.month for i in invoices}
    corrects = tuple(sorted(i.month for i in invoices if i.month < month and _next_open(i.month, invoiced) == month))
    corrections: list[Correction] = []
    for earlier in corrects:
        billed, seen = _billed(earlier, invoices)
        corrections += billing.corrections(earlier, billed, seen)
    return Basis(kommunkod, month, billing.lines(month), tuple(corrections), corrects), None


def freeze(
    episodes: Episodes,
    invoices: Sequence[Invoice],
    rules: Mapping[str, PaymentRules],
    *,
    kommunkod: str,
    month: str,
    today: date,
    actor: str,
    now: float,
) -> Invoice:
    """The invoice to store for ``month``, or MarkRefused when it may not be marked."""
    last = month_days(month)[1]
    if last >= today:
        raise MarkRefused(f"{month} has not ended: it can be marked invoiced from {(last + timedelta(days=1)).isoformat()}")
    ahead = [i.month for i in invoices if i.month > month]
    if ahead:
        raise MarkRefused(f"{ahead[-1]} is already invoiced: months are marked in order")
    found, _ = basis(episodes, invoices, rules, kommunkod=kommunkod, month=month, today=today)
    through = max((r.seq for rs in episodes.records.values() for r in rs), default=0)
    return Invoice(kommunkod, month, now, actor, through, found.as_json())


def _from_json(data: Mapping[str, Any]) -> Basis:
    def priced(x: Mapping[str, Any]) -> Price:
        return Price(x["pricedDays"], x["amount"], x["unpricedDays"], ())

    lines = tuple(Line("episode:" + x["episode"], _days(x["dates"]), priced(x), x["note"]) for x in data["lines"])
    corrections = tuple(
        Correction(
            "episode:" + c["episode"],
            c["corrects"],
            _days(c["added"]),
            _days(c["removed"]),
            priced(c),
            c["messageId"],
            c["messageType"],
        )
        for c in data["corrections"]
    )
    return Basis(data["kommunkod"], data["month"], lines, corrections, tuple(data.get("corrects", ())))
