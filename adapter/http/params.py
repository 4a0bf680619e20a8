"""Query and body parameters that need more than their type.

    since: Moment | None = None        a date and time within 1900-2199, else 400 naming it
    start: Day                         a date within 1900-2199, likewise

Every date and time an operator gives is read by these types: a year 1 or 9999, shifted by a
time zone, overflows the conversions behind it, and a flag or report to 9999-12-31 the day after
it (a 500 before). The years are the ones a message may carry (:data:`mappings.fhir.YEARS`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, TypeVar

from pydantic import AfterValidator

from mappings.fhir import YEARS

__all__ = ["Day", "Moment"]

_Dated = TypeVar("_Dated", date, datetime)


def _bounded(value: _Dated) -> _Dated:
    if value.year not in YEARS:
        raise ValueError(f"a {'time' if isinstance(value, datetime) else 'date'} between {YEARS.start} and {YEARS.stop - 1}")
    return value


#: A date and time within the years the journal and the rules can hold.
Moment = Annotated[datetime, AfterValidator(_bounded)]
#: A date within the same years.
Day = Annotated[date, AfterValidator(_bounded)]
