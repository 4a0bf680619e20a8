"""Swedish weekdays (vardagar) as lag (1930:173) om beräkning av lagstadgad tid counts them.

A weekday is Monday to Friday unless it is an allmän helgdag (lag 1989:253) or midsommarafton,
julafton or nyårsafton, which the 1930 law counts as holidays too. The public holidays come from
the maintained ``holidays`` package (it knows that annandag pingst was one until 2004 and
nationaldagen from 2005); the three eves are added here, as the package does not count them.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

import holidays as calendars

__all__ = ["is_weekday", "next_weekday", "non_weekdays"]


@cache
def non_weekdays(year: int) -> dict[date, str]:
    """The days of ``year`` that are not weekdays although they may fall Monday to Saturday, named.

    >>> [name for _, name in sorted(non_weekdays(2026).items())][:4]
    ['Nyårsdagen', 'Trettondedag jul', 'Långfredagen', 'Påskdagen']
    """
    public = calendars.country_holidays("SE", years=year, include_sundays=False, language="sv")
    days = {day: name for day, name in public.items() if day.year == year}
    midsommardagen = next(day for day in days if day.month == 6 and day.weekday() == 5 and 20 <= day.day <= 26)
    days[midsommardagen - timedelta(days=1)] = "Midsommarafton"
    days[date(year, 12, 24)] = "Julafton"
    days[date(year, 12, 31)] = "Nyårsafton"
    return days


def is_weekday(day: date) -> bool:
    """Monday to Friday and not a holiday.

    >>> is_weekday(date(2026, 6, 19)), is_weekday(date(2026, 6, 22))  # midsommarafton, the Monday after
    (False, True)
    """
    return day.weekday() < 5 and day not in non_weekdays(day.year)


def next_weekday(day: date) -> date:
    """The first weekday after ``day``.

    >>> next_weekday(date(2026, 4, 2))  # Thursday before Easter: Good Friday and Easter Monday are not
    datetime.date(2026, 4, 7)
    """
    day += timedelta(days=1)
    while not is_weekday(day):
        day += timedelta(days=1)
    return day
