"""When a Kvittens is due (docs/domain.md, rules 1 and 2). Times are Europe/Stockholm.

Rule 1: every message is acknowledged by the end (23:59:59) of the first weekday after the day
it was sent. Rule 2: a Kallelse is due at the end of the first weekday W after it was received,
if it was sent no later than 14:00 on the day before W; sent later, at the end of the weekday
after W.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from mappings.model import MessageType

from .holidays import next_weekday

__all__ = ["KALLELSE_CUTOFF", "STOCKHOLM", "end_of_day", "kvittens_due"]

STOCKHOLM = ZoneInfo("Europe/Stockholm")
#: A Kallelse sent after this on the day before its weekday W is due a weekday later.
KALLELSE_CUTOFF = time(14, 0)


def end_of_day(day: date) -> datetime:
    """23:59:59 of ``day`` in Stockholm (summer or winter time as that day has it)."""
    return datetime.combine(day, time(23, 59, 59), STOCKHOLM)


def kvittens_due(message_type: MessageType, sent: datetime) -> datetime:
    """The end of the day by which the recipient must acknowledge a message sent at ``sent``.

    >>> kvittens_due(MessageType.UTSKRIVNINGSKLAR, datetime(2026, 12, 23, 16, 0, tzinfo=STOCKHOLM)).isoformat()
    '2026-12-28T23:59:59+01:00'
    """
    local = sent.astimezone(STOCKHOLM)
    w = next_weekday(local.date())
    if message_type is MessageType.KALLELSE_SAMORDNAD_PLANERING:
        cutoff = datetime.combine(w - timedelta(days=1), KALLELSE_CUTOFF, STOCKHOLM)
        if local > cutoff:
            return end_of_day(next_weekday(w))
    return end_of_day(w)
