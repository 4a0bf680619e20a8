"""Swedish weekdays (vardagar) as lag (1930:173) om beräkning av lagstadgad tid counts them.

A weekday is Monday to Friday unless it is an allmän helgdag (lag 1989:253) or midsommarafton,
julafton or nyårsafton, which the 1930 law counts as holidays too. Sundays are always helgdagar.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

__all__ = ["easter_sunday", "is_weekday", "next_weekday", "non_weekdays"]


def easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous algorithm of 1876).

    >>> easter_sunday(2024), easter_sunday(2025), easter_sunday(2019)
    (datetime.date(2024, 3, 31), datetime.date(2025, 4, 20), datetime.date(2019, 4, 21))
    """
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month = (h + el - 7 * m + 114) // 31
    day = (h + el - 7 * m + 114) % 31 + 1
    return date(year, month, day)


def _saturday_between(first: date) -> date:
    """The Saturday in the seven days from ``first``."""
    return first + timedelta(days=(5 - first.weekday()) % 7)


@cache
def non_weekdays(year: int) -> dict[date, str]:
    """The days of ``year`` that are not weekdays although they fall Monday to Saturday, named.

    >>> [name for _, name in sorted(non_weekdays(2026).items())][:4]
    ['nyårsdagen', 'trettondedag jul', 'långfredagen', 'påskdagen']
    """
    easter = easter_sunday(year)
    midsommardagen = _saturday_between(date(year, 6, 20))
    days = {
        date(year, 1, 1): "nyårsdagen",
        date(year, 1, 6): "trettondedag jul",
        easter - timedelta(days=2): "långfredagen",
        easter: "påskdagen",
        easter + timedelta(days=1): "annandag påsk",
        date(year, 5, 1): "första maj",
        easter + timedelta(days=39): "Kristi himmelsfärds dag",
        easter + timedelta(days=49): "pingstdagen",
        date(year, 6, 6): "Sveriges nationaldag",
        midsommardagen - timedelta(days=1): "midsommarafton",
        midsommardagen: "midsommardagen",
        _saturday_between(date(year, 10, 31)): "alla helgons dag",
        date(year, 12, 24): "julafton",
        date(year, 12, 25): "juldagen",
        date(year, 12, 26): "annandag jul",
        date(year, 12, 31): "nyårsafton",
    }
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
