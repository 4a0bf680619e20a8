"""Reports over the journal: findings, overdue acknowledgements, payment responsibility, timelines.

State per key is derived from the journal's messages (accepted, in order; cancelled ones left
out), decoded and handed to the pure rules of :mod:`adapter.rules`. Configuration that no message
carries comes from files: which kommun each unit belongs to (rule 13) and the payment rules per
region (rules 5 and 6), keyed by county code, the first two digits of the patient's kommunkod.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from adapter.codec import decode
from adapter.journal import Journal, Record, State, Suspension
from adapter.rules import halland
from adapter.rules.deadlines import STOCKHOLM
from adapter.rules.findings import Finding, evaluate
from adapter.rules.payment import PaymentRules, Price, periods, price
from mappings.model import CareType, Message

__all__ = [
    "PAYMENT_COLUMNS",
    "Episodes",
    "PaymentRow",
    "PaymentTotal",
    "load_payment_rules",
    "load_units",
    "payment_rows",
    "timeline",
]


def load_units(path: str | None) -> dict[str, str] | None:
    """``{HSA-id: kommunkod}`` from a JSON object, or None when no file is configured."""
    if path is None:
        return None
    data = json.loads(Path(path).read_text("utf-8"))
    return {str(k): str(v) for k, v in data.items()}


def load_payment_rules(path: str | None) -> dict[str, PaymentRules]:
    """Rules per county code (``"13"``), ``"*"`` for any other. Without a file: the law's defaults.

    The file: ``{"13": {"daily_amount": {"2018": 7100}, "days": {"psykiatrisk": {"2018": 30}},
    "default_days": 3, "count_discharge_day": false, "flat_model_units": ["SE2321000131-E000000000011"]}}``
    (``flat_model_units``: Region Halland's own units, whose episodes its 2018 flat model covered).
    """
    if path is None:
        return {"*": PaymentRules()}
    out = {}
    for region, spec in json.loads(Path(path).read_text("utf-8")).items():
        out[str(region)] = PaymentRules(
            daily_amount={int(y): int(a) for y, a in spec.get("daily_amount", {"2018": 7100}).items()},
            days={(CareType(care), int(y)): int(n) for care, years in spec.get("days", {}).items() for y, n in years.items()},
            default_days=int(spec.get("default_days", 3)),
            count_discharge_day=bool(spec.get("count_discharge_day", False)),
            flat_model_units=frozenset(str(u) for u in spec.get("flat_model_units", ())),
        )
    return out


@dataclass
class Episodes:
    """Every key's messages from the journal, in the order they were accepted."""

    messages: dict[str, list[Message]] = field(default_factory=dict)
    records: dict[str, list[Record]] = field(default_factory=dict)
    #: Operators' flags (the region's outpatient services not available): the days not payable.
    suspensions: dict[str, list[Suspension]] = field(default_factory=dict)

    def suspended(self, key: str) -> list[tuple[date, date]]:
        return [s.days for s in self.suspensions.get(key, ())]

    @classmethod
    def read(cls, journal: Journal, *, key: str | None = None) -> Episodes:
        by_key: dict[str, list[Record]] = defaultdict(list)
        for r in sorted(journal.list(key=key, limit=10_000_000), key=lambda r: r.seq):
            # A pruned body (retention) no longer tells the rules anything: reports cover the retention time.
            if r.state != State.CANCELLED and r.pruned_at is None:
                by_key[r.key].append(r)
        out = cls()
        for k, records in by_key.items():
            out.records[k] = records
            out.messages[k] = [decode(r.document, r.content_type) for r in records]
        for s in journal.suspensions(key):
            out.suspensions.setdefault(s.key, []).append(s)
        return out

    def findings(self, now: datetime, *, kommun_of: Mapping[str, str] | None = None) -> list[Finding]:
        found = [f for k, ms in self.messages.items() for f in evaluate(k, ms, now, kommun_of=kommun_of)]
        return sorted(found, key=lambda f: (f.raised, f.key, f.rule, f.subject))


@dataclass(frozen=True, slots=True)
class PaymentRow:
    """One payment period of an episode within a report's days: priced days and their amount, and
    the days of years without a configured daily amount apart (never priced at 0)."""

    key: str
    kommunkod: str
    notified: date
    start: date
    end: date | None
    price: Price
    note: str
    #: The payable days themselves (priced and unpriced), e.g. to freeze an invoice by.
    payable: tuple[date, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "episode": self.key.removeprefix("episode:"),
            "kommunkod": self.kommunkod,
            "notified": self.notified.isoformat(),
            "start": self.start.isoformat(),
            "end": self.end.isoformat() if self.end else None,
            "days": self.price.days + self.price.unpriced_days,
            "pricedDays": self.price.days,
            "amount": self.price.amount,
            "unpricedDays": self.price.unpriced_days,
            "note": self.note,
        }


#: The columns of a payment report as a table or CSV: priced and unpriced days apart.
PAYMENT_COLUMNS = ["episode", "kommunkod", "notified", "start", "end", "days", "pricedDays", "amount", "unpricedDays", "note"]


@dataclass(frozen=True, slots=True)
class PaymentTotal:
    """A report's headline: the priced sum beside what is unpriced, never one figure for both."""

    priced_days: int
    amount: int
    unpriced_days: int
    unpriced_rows: int

    @classmethod
    def of(cls, rows: Iterable[PaymentRow]) -> PaymentTotal:
        rows = list(rows)
        return cls(
            priced_days=sum(r.price.days for r in rows),
            amount=sum(r.price.amount for r in rows),
            unpriced_days=sum(r.price.unpriced_days for r in rows),
            unpriced_rows=sum(1 for r in rows if r.price.unpriced_days),
        )

    def as_json(self) -> dict[str, int]:
        return {
            "pricedDays": self.priced_days,
            "amount": self.amount,
            "unpricedDays": self.unpriced_days,
            "unpricedRows": self.unpriced_rows,
        }

    def headline(self) -> str:
        """``1 234 SEK for 3 days`` and, when there are any, the unpriced days and rows."""
        text = f"{self.amount:,} SEK for {self.priced_days} days".replace(",", " ")
        if self.unpriced_days:
            rows = f"{self.unpriced_rows} row{'s' if self.unpriced_rows != 1 else ''}"
            text += f"; {self.unpriced_days} days in {rows} unpriced (no daily amount configured)"
        return text


def _home(messages: list[Message]) -> str | None:
    """The patient's kommunkod as the episode's latest message gives it."""
    return next((m.patient.kommunkod for m in reversed(messages) if m.patient.kommunkod), None)


def _unit(messages: list[Message]) -> str | None:
    """The inpatient unit the episode is at (its issuer)."""
    return next((m.care_episode.issuer for m in messages if m.care_episode is not None and m.care_episode.issuer), None)


def _clip(days: Iterable[date], start: date, end: date) -> list[date]:
    return [d for d in days if start <= d <= end]


def _flat_model(days: list[date], rules: PaymentRules, region: str, unit: str | None) -> list[date]:
    """Days covered by Halland's flat model (rule 14): up to 2018-10-31, episodes at the region's own
    units of patients registered in a Halland municipality; a resident cared for elsewhere pays per day."""
    if region != halland.COUNTY or unit not in rules.flat_model_units:
        return []
    return [d for d in days if halland.MODEL_START <= d <= halland.MODEL_END]


def payment_rows(
    episodes: Episodes,
    rules: Mapping[str, PaymentRules],
    *,
    region: str,
    start: date,
    end: date,
    today: date,
    kommun: str | None = None,
) -> list[PaymentRow]:
    """Each payment period of the region's episodes, its payable days from ``start`` to ``end``
    (inclusive) and not after ``today`` nor flagged by an operator, and their price. Days covered by
    Halland's flat model (rule 14) are left out and named: the monthly amount covers them."""
    region_rules = rules.get(region) or rules.get("*") or PaymentRules()
    rows = []
    for key, messages in episodes.messages.items():
        home = _home(messages)
        if not key.startswith("episode:") or home is None or home[:2] != region or kommun not in (None, home):
            continue
        for p in periods(messages, region_rules).periods:
            days = _clip(p.days(today + timedelta(days=1), episodes.suspended(key)), start, end)
            flat = _flat_model(days, region_rules, region, _unit(messages))
            days = [d for d in days if d not in flat]
            cost = price(days, region_rules)
            notes = [f"{len(flat)} days covered by Halland's flat model"] if flat else []
            if cost.unpriced_days:
                years = ", ".join(map(str, cost.unpriced_years))
                notes.append(f"{cost.unpriced_days} days unpriced: no daily amount configured for {years}")
            if days or notes:
                rows.append(PaymentRow(key, home, p.notified, p.start, p.end, cost, "; ".join(notes), tuple(days)))
    return sorted(rows, key=lambda r: (r.kommunkod, r.start, r.key))


def timeline(
    episodes: Episodes,
    key: str,
    now: datetime,
    *,
    rules: Mapping[str, PaymentRules] | None = None,
    kommun_of: Mapping[str, str] | None = None,
) -> dict[str, Any] | None:
    """One key's journey for the operators' UI: messages, acknowledgements, findings, payment clock."""
    messages, records = episodes.messages.get(key), episodes.records.get(key)
    if messages is None or records is None:
        return None
    found = evaluate(key, messages, now, kommun_of=kommun_of)
    acks = [f for f in found if f.rule == "kvittens"]
    out: dict[str, Any] = {
        "key": key,
        "at": now.isoformat(),
        "messages": [
            {
                "messageId": m.id,
                "type": m.type.value,
                "sent": m.sent.isoformat(),
                "sender": {"hsaId": m.sender.hsa_id, "kind": m.sender.kind.value, "name": m.sender.name},
                "recipients": [{"hsaId": r.hsa_id, "kind": r.kind.value, "name": r.name} for r in m.recipients],
                "state": r.state,
            }
            for m, r in zip(messages, records, strict=True)
        ],
        "acknowledgements": [
            {
                "messageId": f.subject.split(" → ")[0],
                "from": f.subject.split(" → ")[1],
                "due": f.due.isoformat() if f.due else None,
                "received": f.cleared.isoformat() if f.cleared else None,
                "status": "received" if f.cleared else ("overdue" if f.overdue(now) else "open"),
            }
            for f in acks
        ],
        "findings": [f.as_json() for f in found if f.rule != "kvittens"],
    }
    if key.startswith("episode:"):
        home = _home(messages)
        region_rules = (rules or {}).get((home or "")[:2]) or (rules or {}).get("*") or PaymentRules()
        today = now.astimezone(STOCKHOLM).date()
        out["payment"] = []
        for p in periods(messages, region_rules).periods:
            cost = price(p.days(today + timedelta(days=1), episodes.suspended(key)), region_rules)
            out["payment"].append(
                {
                    "notified": p.notified.isoformat(),
                    "start": p.start.isoformat(),
                    "end": p.end.isoformat() if p.end else None,
                    "stoppedBy": p.stopped_by.value if p.stopped_by else None,
                    "days": cost.days + cost.unpriced_days,
                    "amount": cost.amount,
                    "unpricedDays": cost.unpriced_days,
                }
            )
        out["suspensions"] = [s.as_json() for s in episodes.suspensions.get(key, ())]
    return out
