"""The billed-vs-paid chart is drawn once per distinct months, the bill bridge's waterfall once
per distinct bridge, and kept: what is kept must still follow the figures (a group that pays
sees its chart change; another bridge draws another waterfall)."""

from datetime import date
from decimal import Decimal
from types import SimpleNamespace

from billing_core.billing.bill_bridge import BridgeTotals, StepTotal
from billing_core.reports.statements import MonthTotal
from portal.charts import _waterfall_svg, billed_paid_svg, bridge_waterfall_svg


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


def _bridge(number: str, added: str) -> BridgeTotals:
    invoice = SimpleNamespace(invoice_number=number, period_start=date(2026, 11, 1))
    prior = SimpleNamespace(invoice_number="INV-1", period_start=date(2026, 10, 1))
    steps = [
        StepTotal("adds", "Members added", Decimal(added), 2),
        StepTotal("terms", "Members terminated", Decimal("-50.00"), 1),
    ]
    current = Decimal("1000.00") + Decimal(added) - Decimal("50.00")
    return BridgeTotals(invoice, prior, Decimal("1000.00"), current, steps)


def test_the_waterfall_is_drawn_once_per_bridge_and_follows_it():
    first = bridge_waterfall_svg(_bridge("INV-2", "200.00"))
    drawn = _waterfall_svg.cache_info().hits
    assert bridge_waterfall_svg(_bridge("INV-2", "200.00")) == first
    assert _waterfall_svg.cache_info().hits == drawn + 1  # read, not drawn again
    other = bridge_waterfall_svg(_bridge("INV-2", "300.00"))
    assert other != first and "1,250.00" in other and "1,150.00" in first
    assert "INV-3" in bridge_waterfall_svg(_bridge("INV-3", "200.00"))  # its own title
