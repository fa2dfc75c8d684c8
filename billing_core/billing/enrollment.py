"""Which coverage months a membership is billed for, daily proration, and billing periods.

Pure date arithmetic (DOMAIN.md coverage-month rules). Months are named by their first day;
`effective_to` is the last covered day, inclusive, and None means open-ended.
"""

from __future__ import annotations

import calendar
from datetime import date
from decimal import Decimal

from billing_core.models.enums import BillingFrequency, CoverageMonthRule
from billing_core.money import ZERO, D

FIFTEENTH = 15


def month_start(on: date) -> date:
    """The first of the month `on` falls in."""
    return on.replace(day=1)


def add_months(month: date, count: int) -> date:
    """The first of the month `count` months after (or before) `month`'s month."""
    index = month.year * 12 + (month.month - 1) + count
    return date(index // 12, index % 12 + 1, 1)


def month_end(on: date) -> date:
    """The last day of the month `on` falls in."""
    return on.replace(day=calendar.monthrange(on.year, on.month)[1])


def first_billed_month(effective_from: date, rule: CoverageMonthRule) -> date:
    """First coverage month billed for coverage starting `effective_from`.

    FIFTEENTH: a start on or before the 15th bills that month, after it the next month.
    FIRST_OF_MONTH: a start on the 1st bills that month, any later day the next (first full) month.
    DAILY_PRORATION: that month (prorated by `proration_factor`)."""
    rule = CoverageMonthRule(rule)
    this_month = month_start(effective_from)
    if rule is CoverageMonthRule.FIFTEENTH:
        return this_month if effective_from.day <= FIFTEENTH else add_months(this_month, 1)
    if rule is CoverageMonthRule.FIRST_OF_MONTH:
        return this_month if effective_from.day == 1 else add_months(this_month, 1)
    return this_month


def last_billed_month(effective_to: date) -> date:
    """Last coverage month billed for a termination on `effective_to`: a term covers through the
    end of the month it falls in, so that month is billed (prorated under daily proration)."""
    return month_start(effective_to)


def coverage_months(
    effective_from: date,
    effective_to: date | None,
    period_start: date,
    period_end: date,
    rule: CoverageMonthRule,
) -> list[date]:
    """First-of-month dates billed for the coverage within the billing period
    `period_start`..`period_end` (inclusive; a month counts when its first day is in the period's
    months). Empty when the coverage bills no month there (e.g. a start on the 20th and a term
    the same month under the 15th rule)."""
    first = max(first_billed_month(effective_from, rule), month_start(period_start))
    last = month_start(period_end)
    if effective_to is not None:
        last = min(last, last_billed_month(effective_to))
    months = []
    month = first
    while month <= last:
        months.append(month)
        month = add_months(month, 1)
    return months


def proration_factor(effective_from: date, effective_to: date | None, month: date) -> Decimal:
    """Share of `month` covered, for DAILY_PRORATION: covered days / days in the month, both ends
    inclusive, as an unrounded Decimal in 0..1. Multiply the monthly amount by it, then round the
    line half-up to the cent."""
    first_day = month_start(month)
    last_day = month_end(month)
    start = max(effective_from, first_day)
    end = last_day if effective_to is None else min(effective_to, last_day)
    if end < start:
        return ZERO
    days_in_month = last_day.day
    covered = (end - start).days + 1
    if covered == days_in_month:
        return D(1)
    return D(covered) / D(days_in_month)


def billing_periods(
    frequency: BillingFrequency, start: date, count: int
) -> list[tuple[date, date]]:
    """`count` consecutive billing periods from `start`'s month, each (first day, last day)
    inclusive and `frequency.months` long."""
    months = BillingFrequency(frequency).months
    first = month_start(start)
    periods = []
    for i in range(count):
        period_start = add_months(first, i * months)
        periods.append((period_start, month_end(add_months(period_start, months - 1))))
    return periods


def period_containing(
    frequency: BillingFrequency, anchor_month: date, on: date
) -> tuple[date, date]:
    """The billing period (first day, last day) holding `on`, with periods aligned so one starts
    at `anchor_month` (e.g. the policy's first month); works before the anchor too."""
    months = BillingFrequency(frequency).months
    anchor = month_start(anchor_month)
    offset = (on.year - anchor.year) * 12 + (on.month - anchor.month)
    period_start = add_months(anchor, (offset // months) * months)
    return period_start, month_end(add_months(period_start, months - 1))
