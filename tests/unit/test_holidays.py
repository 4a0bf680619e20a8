"""The weekday calendar against the law, written by hand (lag 1989:253 om allmänna helgdagar and
lag 1930:173, which also counts midsommarafton, julafton and nyårsafton as holidays).

The sample years' holidays are copied from the almanac, not computed: Easter Sunday of each year
is a fact, and every movable holiday is named at its own date. Every day of 2000-2100 is then
checked against the law's structure, which holds in every year.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from adapter.rules.holidays import is_weekday, non_weekdays

# Days Monday to Saturday that are not weekdays, per sample year (Sundays never are).
ALMANAC: dict[int, list[str]] = {
    # 2000: Easter 23 April; annandag pingst 12 June still a holiday; no nationaldag holiday.
    2000: ["01-01", "01-06", "04-21", "04-23", "04-24", "05-01", "06-01", "06-11", "06-12", "06-23", "06-24",
           "11-04", "12-24", "12-25", "12-26", "12-31"],
    # 2004: the last year of annandag pingst (31 May); 6 June a Sunday and not yet a holiday.
    2004: ["01-01", "01-06", "04-09", "04-11", "04-12", "05-01", "05-20", "05-30", "05-31", "06-25", "06-26",
           "11-06", "12-24", "12-25", "12-26", "12-31"],
    # 2005: nationaldagen (Monday 6 June) replaces annandag pingst (16 May is a weekday).
    2005: ["01-01", "01-06", "03-25", "03-27", "03-28", "05-01", "05-05", "05-15", "06-06", "06-24", "06-25",
           "11-05", "12-24", "12-25", "12-26", "12-31"],
    2019: ["01-01", "01-06", "04-19", "04-21", "04-22", "05-01", "05-30", "06-09", "06-06", "06-21", "06-22",
           "11-02", "12-24", "12-25", "12-26", "12-31"],
    2024: ["01-01", "01-06", "03-29", "03-31", "04-01", "05-01", "05-09", "05-19", "06-06", "06-21", "06-22",
           "11-02", "12-24", "12-25", "12-26", "12-31"],
    2026: ["01-01", "01-06", "04-03", "04-05", "04-06", "05-01", "05-14", "05-24", "06-06", "06-19", "06-20",
           "10-31", "12-24", "12-25", "12-26", "12-31"],
    # 2038: Easter on 25 April, the latest it can be.
    2038: ["01-01", "01-06", "04-23", "04-25", "04-26", "05-01", "06-03", "06-13", "06-06", "06-25", "06-26",
           "11-06", "12-24", "12-25", "12-26", "12-31"],
    2100: ["01-01", "01-06", "03-26", "03-28", "03-29", "05-01", "05-06", "05-16", "06-06", "06-25", "06-26",
           "11-06", "12-24", "12-25", "12-26", "12-31"],
}  # fmt: skip


def _days(year: int):  # type: ignore[no-untyped-def]
    day = date(year, 1, 1)
    while day.year == year:
        yield day
        day += timedelta(days=1)


@pytest.mark.parametrize("year", sorted(ALMANAC))
def test_every_day_of_a_sample_year_is_a_weekday_exactly_when_the_almanac_says(year: int) -> None:
    holidays = {date.fromisoformat(f"{year}-{md}") for md in ALMANAC[year]}
    wrong = [d for d in _days(year) if is_weekday(d) != (d.weekday() < 5 and d not in holidays)]
    assert wrong == []
    assert set(non_weekdays(year)) == holidays


def test_every_year_2000_to_2100_has_the_laws_holidays_and_no_others() -> None:
    for year in range(2000, 2101):
        days = non_weekdays(year)
        fixed = {(1, 1), (1, 6), (5, 1), (12, 24), (12, 25), (12, 26), (12, 31)} | ({(6, 6)} if year >= 2005 else set())
        assert fixed <= {(d.month, d.day) for d in days}, year
        good_friday = next(d for d in days if d.weekday() == 4 and (3, 20) <= (d.month, d.day) <= (4, 23))
        easter = good_friday + timedelta(days=2)
        movable = {good_friday, easter, easter + timedelta(days=1), easter + timedelta(days=39), easter + timedelta(days=49)}
        if year <= 2004:
            movable.add(easter + timedelta(days=50))  # annandag pingst
        midsommardagen = next(d for d in _days(year) if d.month == 6 and 20 <= d.day <= 26 and d.weekday() == 5)
        alla_helgon = next(d for d in _days(year) if (10, 31) <= (d.month, d.day) <= (11, 6) and d.weekday() == 5)
        movable |= {midsommardagen - timedelta(days=1), midsommardagen, alla_helgon}
        expected = movable | {date(year, m, d) for m, d in fixed}
        assert set(days) == expected, year
        weekdays = [d for d in _days(year) if is_weekday(d)]
        assert weekdays == [d for d in _days(year) if d.weekday() < 5 and d not in expected], year
