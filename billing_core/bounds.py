"""The ranges typed input must fall in before it reaches date arithmetic or the database:
dates from 1900 to 2199 (arithmetic near year 1 or 9999 overflows: a statement's opening day,
an aging bucket's cut-off) and amounts a money column holds (Numeric(12, 2): below ten billion
dollars). Forms say so next to the field; billing_core refuses the rest as a domain error."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from billing_core.money import D

FIRST_DATE = date(1900, 1, 1)
LAST_DATE = date(2199, 12, 31)
MAX_AMOUNT: Decimal = D("9999999999.99")
DATE_RANGE_WORDS = f"between {FIRST_DATE.isoformat()} and {LAST_DATE.isoformat()}"
MONTH_RANGE_WORDS = f"between {FIRST_DATE:%Y-%m} and {LAST_DATE:%Y-%m}"


def date_in_range(value: date) -> bool:
    return FIRST_DATE <= value <= LAST_DATE


def amount_in_range(value: Decimal) -> bool:
    """Whether `value` (dollars) fits a money column."""
    return abs(value) <= MAX_AMOUNT


def years_before(day: date, years: int) -> date:
    """The same day `years` years earlier (28 February for a 29th in a common year)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)
