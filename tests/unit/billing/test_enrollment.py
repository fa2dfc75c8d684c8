"""Coverage months (15th rule, first of month, daily proration), terms and billing periods."""

from datetime import date

import pytest

from billing_core.billing.enrollment import (
    billing_periods,
    coverage_months,
    first_billed_month,
    last_billed_month,
    period_containing,
    proration_factor,
)
from billing_core.models.enums import BillingFrequency, CoverageMonthRule
from billing_core.money import D, cents

R = CoverageMonthRule


@pytest.mark.parametrize(
    "start,rule,first",
    [
        (date(2025, 3, 1), R.FIFTEENTH, date(2025, 3, 1)),
        (date(2025, 3, 14), R.FIFTEENTH, date(2025, 3, 1)),
        (date(2025, 3, 15), R.FIFTEENTH, date(2025, 3, 1)),
        (date(2025, 3, 16), R.FIFTEENTH, date(2025, 4, 1)),
        (date(2025, 12, 31), R.FIFTEENTH, date(2026, 1, 1)),
        (date(2025, 3, 1), R.FIRST_OF_MONTH, date(2025, 3, 1)),
        (date(2025, 3, 2), R.FIRST_OF_MONTH, date(2025, 4, 1)),
        (date(2025, 3, 20), R.DAILY_PRORATION, date(2025, 3, 1)),
    ],
)
def test_first_billed_month(start, rule, first):
    assert first_billed_month(start, rule) == first


@pytest.mark.parametrize(
    "term,last",
    [
        (date(2025, 3, 1), date(2025, 3, 1)),
        (date(2025, 3, 16), date(2025, 3, 1)),
        (date(2025, 3, 31), date(2025, 3, 1)),
        (date(2024, 2, 29), date(2024, 2, 1)),
    ],
)
def test_term_covers_through_month_end(term, last):
    assert last_billed_month(term) == last


def test_coverage_months_within_a_quarter():
    q1 = (date(2025, 1, 1), date(2025, 3, 31))
    assert coverage_months(date(2024, 6, 1), None, *q1, R.FIFTEENTH) == [
        date(2025, 1, 1),
        date(2025, 2, 1),
        date(2025, 3, 1),
    ]
    assert coverage_months(date(2025, 1, 16), date(2025, 3, 2), *q1, R.FIFTEENTH) == [
        date(2025, 2, 1),
        date(2025, 3, 1),
    ]
    assert coverage_months(date(2025, 1, 15), date(2025, 1, 15), *q1, R.FIFTEENTH) == [
        date(2025, 1, 1)
    ]


def test_coverage_months_can_be_empty():
    q1 = (date(2025, 1, 1), date(2025, 3, 31))
    assert coverage_months(date(2025, 3, 20), date(2025, 3, 25), *q1, R.FIFTEENTH) == []
    assert coverage_months(date(2025, 4, 1), None, *q1, R.FIFTEENTH) == []
    assert coverage_months(date(2024, 1, 1), date(2024, 12, 31), *q1, R.FIFTEENTH) == []


@pytest.mark.parametrize(
    "start,end,month,factor",
    [
        (date(2024, 2, 15), None, date(2024, 2, 1), D(15) / D(29)),  # leap Feb: 15 of 29 days
        (date(2025, 2, 15), None, date(2025, 2, 1), D(14) / D(28)),
        (date(2024, 1, 1), date(2024, 2, 29), date(2024, 2, 1), D(1)),
        (date(2024, 1, 1), date(2024, 2, 10), date(2024, 2, 1), D(10) / D(29)),
        (date(2024, 2, 10), date(2024, 2, 10), date(2024, 2, 1), D(1) / D(29)),
        (date(2024, 3, 1), None, date(2024, 2, 1), D(0)),
    ],
)
def test_proration_factor(start, end, month, factor):
    assert proration_factor(start, end, month) == factor


def test_prorated_line_rounds_once_half_up():
    factor = proration_factor(date(2024, 2, 15), None, date(2024, 2, 1))
    assert cents(D("112.40") * factor) == D("58.14")  # 112.40 × 15/29 = 58.137...


def test_quarterly_periods():
    assert billing_periods(BillingFrequency.QUARTERLY, date(2024, 11, 1), 3) == [
        (date(2024, 11, 1), date(2025, 1, 31)),
        (date(2025, 2, 1), date(2025, 4, 30)),
        (date(2025, 5, 1), date(2025, 7, 31)),
    ]


def test_monthly_and_annual_periods():
    assert billing_periods(BillingFrequency.MONTHLY, date(2024, 2, 10), 2) == [
        (date(2024, 2, 1), date(2024, 2, 29)),
        (date(2024, 3, 1), date(2024, 3, 31)),
    ]
    assert billing_periods(BillingFrequency.ANNUAL, date(2025, 7, 1), 1) == [
        (date(2025, 7, 1), date(2026, 6, 30))
    ]


@pytest.mark.parametrize(
    "frequency,on,period",
    [
        (BillingFrequency.QUARTERLY, date(2025, 2, 1), (date(2025, 2, 1), date(2025, 4, 30))),
        (BillingFrequency.QUARTERLY, date(2025, 4, 30), (date(2025, 2, 1), date(2025, 4, 30))),
        (BillingFrequency.QUARTERLY, date(2025, 5, 1), (date(2025, 5, 1), date(2025, 7, 31))),
        (BillingFrequency.QUARTERLY, date(2025, 1, 31), (date(2024, 11, 1), date(2025, 1, 31))),
        (BillingFrequency.SEMI_ANNUAL, date(2026, 1, 5), (date(2025, 8, 1), date(2026, 1, 31))),
        (BillingFrequency.MONTHLY, date(2024, 2, 29), (date(2024, 2, 1), date(2024, 2, 29))),
    ],
)
def test_period_containing(frequency, on, period):
    assert period_containing(frequency, date(2025, 2, 1), on) == period
