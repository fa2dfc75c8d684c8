from decimal import Decimal

import pytest

from billing_core.money import D, cents, format_money, ratio_split


@pytest.mark.parametrize(
    "raw,expected",
    [("1,234.50", "1234.50"), ("$12", "12"), ("(12.50)", "-12.50"), (7, "7")],
)
def test_D_reads_money_text(raw, expected):
    assert D(raw) == Decimal(expected)


def test_D_refuses_float():
    with pytest.raises(TypeError):
        D(0.1)


@pytest.mark.parametrize(
    "raw,expected", [("2.345", "2.35"), ("2.344", "2.34"), ("-2.345", "-2.35")]
)
def test_cents_rounds_half_up(raw, expected):
    assert cents(D(raw)) == Decimal(expected)


def test_ratio_split_adds_back_up():
    parts = ratio_split(D("100.00"), [D(1), D(1), D(1)])
    assert sum(parts) == D("100.00")
    assert parts == [D("33.34"), D("33.33"), D("33.33")]


def test_format_money_has_separator():
    assert format_money(D("-1234.5")) == "-1,234.50"


def test_format_rate_keeps_the_places_a_rate_has():
    from billing_core.money import format_rate

    assert format_rate(D("1302.750000")) == "1,302.75"
    assert format_rate(D("0.120000")) == "0.12"
    assert format_rate(D("0.225000")) == "0.225"
    assert format_rate(D("150.125")) == "150.125"
    assert format_rate(D("40")) == "40.00"
    assert format_rate(None) == ""


def test_a_count_takes_the_singular_for_one():
    from billing_core.money import format_count

    assert format_count(1, "term") == "1 term"
    assert format_count(0, "add") == "0 adds"
    assert format_count(1250, "employee") == "1,250 employees"
    assert format_count(2, "child", "children") == "2 children"


def test_a_percent_is_rounded_half_up_once_for_every_page_and_report():
    # Issue 18: the review page (half-even) and the aging report (half-up) disagreed on 1/800.
    from billing_core.money import percent

    assert percent(Decimal("1"), Decimal("800")) == Decimal("0.13")
    assert percent(Decimal("-1"), Decimal("-800")) == Decimal("-0.13")
    assert percent(Decimal("5"), Decimal("0")) is None
