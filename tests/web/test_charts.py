"""The billed-vs-paid chart is drawn once per distinct months and kept: what is kept must
still follow the figures (a group that pays sees its chart change)."""

from datetime import date
from decimal import Decimal

from billing_core.reports.statements import MonthTotal
from portal.charts import billed_paid_svg


def _months(paid: str) -> list[MonthTotal]:
    return [
        MonthTotal(date(2026, 10, 1), Decimal("1200.00"), Decimal("1200.00")),
        MonthTotal(date(2026, 11, 1), Decimal("1250.00"), Decimal(paid)),
    ]


def test_the_kept_chart_follows_the_figures():
    before = billed_paid_svg(_months("0.00"))
    assert billed_paid_svg(_months("0.00")) == before  # the same months: the same drawing
    after = billed_paid_svg(_months("1250.00"))
    assert after != before
    assert "open" in before and "1,250.00 open" not in after  # nothing left open in November


def test_a_list_or_a_tuple_of_the_same_months_draws_the_same_chart():
    assert billed_paid_svg(_months("10.00")) == billed_paid_svg(tuple(_months("10.00")))
