"""Halland's transitional model, 2018-01-01 to 2018-10-31 (docs/domain.md, rule 14).

Each municipality paid monthly one twelfth of what it was invoiced in 2017, rounded to the krona.
The total is one twelfth of the invoiced total, rounded; it can differ from the sum of the
rounded rows, and the report shows both. Episodes in Halland inside the period are covered by
this model and are not also priced per day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

__all__ = ["COUNTY", "INVOICED_2017", "MODEL_END", "MODEL_START", "MonthlyReport", "monthly"]

MODEL_START, MODEL_END = date(2018, 1, 1), date(2018, 10, 31)
#: Region Halland's county code: the first two digits of its municipalities' kommunkod.
COUNTY = "13"

#: What each municipality was invoiced in 2017 (SEK), docs/domain.md rule 14.
INVOICED_2017: Mapping[str, int] = {
    "Falkenberg": 5_042,
    "Kungsbacka": 1_501_612,
    "Varberg": 428_570,
    "Halmstad": 156_302,
    "Laholm": 177_061,
    "Hylte": 0,
}


def _twelfth(amount: int) -> int:
    return int((Decimal(amount) / 12).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True, slots=True)
class MonthlyReport:
    rows: dict[str, int]  # municipality -> monthly amount
    row_sum: int  # the sum of the rounded rows
    total: int  # one twelfth of the invoiced total, rounded
    invoiced_total: int


def monthly(invoiced: Mapping[str, int] = INVOICED_2017) -> MonthlyReport:
    """Each municipality's monthly amount, the sum of the rows and the total.

    >>> r = monthly()
    >>> r.rows["Kungsbacka"], r.row_sum, r.total
    (125134, 189048, 189049)
    """
    rows = {name: _twelfth(amount) for name, amount in invoiced.items()}
    total = sum(invoiced.values())
    return MonthlyReport(rows, sum(rows.values()), _twelfth(total), total)
