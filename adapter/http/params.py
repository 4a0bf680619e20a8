"""Query and body parameters that need more than their type.

    since: Moment | None = None        a date and time within 1900-2199, else 400 naming it

Every date and time an operator gives is read by this one type: a year 1 or 9999, shifted by a
time zone, overflows the conversions behind it (a 500 before).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator

__all__ = ["Moment"]

_YEARS = range(1900, 2200)


def _bounded(moment: datetime) -> datetime:
    if moment.year not in _YEARS:
        raise ValueError(f"a time between {_YEARS.start} and {_YEARS.stop - 1}")
    return moment


#: A date and time within the years the journal and the rules can hold.
Moment = Annotated[datetime, AfterValidator(_bounded)]
