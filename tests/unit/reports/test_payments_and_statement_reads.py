"""The employer's payments page and statement read less (issue 19) and show the same figures:
`receivables.payments_account` is `account_summary`, `open_items`, `pay_options` and
`credit_outlook` read together; the statement's aging, aged from the balances it sums, is
`aging_by_group`'s; its payment rows (allocations and recoveries read with the payments) are
what `allocation.unallocated_amount` and the live allocations say of each payment."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billing_core.collections.charge_off import (
    approve_charge_off,
    record_recovery,
    request_charge_off,
)
from billing_core.collections.referrals import refer
from billing_core.ledger.receivables import (
    account_summary,
    aging_by_group,
    credit_outlook,
    open_items,
    payments_account,
)
from billing_core.models import Invoice
from billing_core.models.enums import Role
from billing_core.payments.allocation import live_allocations, unallocated_amount
from billing_core.payments.online import pay_options
from billing_core.payments.refunds import request_refund
from billing_core.reports.statements import paid_vs_billed, payment_rows
from tests.factories import make_invoice, make_user, pay_by_check, scenario
from tests.unit.collections.legal import cancelled_group, late_group, staff

DAYS = [date(2026, 12, 15), date(2027, 1, 1), date(2027, 1, 20), date(2027, 3, 1)]


def _same_account(session, group, day, subgroup_ids=None, user_id=None) -> None:
    seen = {"subgroup_ids": subgroup_ids, "user_id": user_id}
    account = payments_account(session, group, day, **seen)
    assert account.summary == account_summary(session, group, day, **seen)
    assert account.open_items == open_items(session, group, subgroup_ids)
    assert account.payable == pay_options(session, group, subgroup_ids).open_items
    assert account.summary.credit == pay_options(session, group, subgroup_ids).credit
    if subgroup_ids is None:
        assert account.outlook == credit_outlook(session, group, day)
    else:
        assert account.outlook is None  # the group's credit is not a location's


@pytest.mark.parametrize("day", DAYS)
def test_the_payments_account_is_the_summary_open_items_and_outlook_read_apart(session, day):
    """A group with a bill past due and a credit (an overpayment) partly asked back in a
    refund: every figure as the separate reads give it; its payment rows as allocation's."""
    group, january = late_group(session)
    february = make_invoice(session, group, Decimal("300.00"), date(2027, 2, 1))
    pay_by_check(session, group, "900.00", date(2027, 1, 5), [january])
    overpaid = pay_by_check(session, group, "400.00", date(2027, 1, 6), [february])
    clerk = make_user(session, Role.BILLING_SPECIALIST)
    request_refund(session, overpaid, Decimal("60.00"), reason="overpaid", actor=clerk)
    session.flush()
    account = payments_account(session, group, day)
    assert account.outlook.being_refunded == Decimal("60.00")
    assert account.outlook.credit == Decimal("100.00")
    if day > date(2027, 1, 1):
        assert account.summary.past_due == Decimal("100.00")
    _same_account(session, group, day)
    # One check over two bills.
    march = make_invoice(session, group, Decimal("200.00"), date(2027, 3, 1))
    april = make_invoice(session, group, Decimal("200.00"), date(2027, 4, 1))
    pay_by_check(session, group, "300.00", date(2027, 1, 7), [march, april], reference="both")
    rows = _rows_agree(session, group)
    assert {row.payment.reference for row in rows} >= {"both"}
    assert [len(row.applied) for row in rows if row.payment.reference == "both"] == [2]


def test_the_payments_account_of_a_cancelled_group_and_of_a_location(session):
    group, _ = cancelled_group(session)
    for day in DAYS:
        _same_account(session, group, day)
    cast = scenario(session)
    east = frozenset({cast.sub_east.id})
    user = cast.users["employer_a_east"]
    pay_by_check(session, cast.group_a, "20.00", date(2027, 1, 3), [cast.invoice_a])
    for day in DAYS:
        _same_account(session, cast.group_a, day)
        _same_account(session, cast.group_a, day, east, user.id)


def _same_aging(session, group, start, end, subgroup_ids=None) -> None:
    statement = paid_vs_billed(session, group, start, end, end, subgroup_ids=subgroup_ids)
    expected = aging_by_group(session, end, [group.id], subgroup_ids=subgroup_ids)
    assert statement.aging.buckets == (
        expected[group.id].buckets if group.id in expected else [0] * 6
    )


@pytest.mark.parametrize("end", DAYS)
def test_the_statements_aging_is_aging_by_group(session, end):
    """Past `end` entries exist (aging_by_group then sums postings; on the last day it reads
    the kept open items): the statement ages the balances it summed the same way, for the
    whole group and for a location."""
    group, january = late_group(session)
    make_invoice(session, group, Decimal("300.00"), date(2027, 2, 1))
    pay_by_check(session, group, "250.00", date(2027, 1, 5), [january])
    session.flush()
    _same_aging(session, group, date(2026, 12, 1), end)
    _same_aging(session, group, min(date(2027, 1, 1), end), end)
    cast = scenario(session)
    pay_by_check(session, cast.group_a, "20.00", date(2027, 1, 3), [cast.invoice_a])
    session.flush()
    for subgroup_ids in (None, frozenset({cast.sub_east.id})):
        _same_aging(session, cast.group_a, date(2026, 12, 1), end, subgroup_ids)


def _rows_agree(session, group) -> list:
    rows = payment_rows(session, group)
    for row in rows:
        payment = row.payment
        assert row.unallocated == unallocated_amount(session, payment), payment.reference
        paid: dict[str, Decimal] = {}
        for allocation in live_allocations(session, payment):
            number = session.get(Invoice, allocation.invoice_id).invoice_number
            paid[number] = paid.get(number, Decimal(0)) + allocation.amount
        assert dict(row.applied) == {n: a for n, a in paid.items() if a}, payment.reference
    return rows


def test_payment_rows_are_what_allocation_says_of_each_payment(session):
    """What each payment paid (its live allocations, by invoice number) and the credit it
    holds (unallocated_amount: none once a recovery after a charge-off took it), read with
    the payments in one statement."""
    group, _ = cancelled_group(session)
    collector, _, supervisor = staff(session)
    referral = refer(session, group, agency="Summit Recovery", on=date(2027, 3, 8), actor=collector)
    asked = request_charge_off(
        session, group, on=date(2027, 3, 20), reason="uncollectible", actor=collector
    )
    approve_charge_off(session, asked, actor=supervisor, on=date(2027, 3, 22))
    taken = pay_by_check(session, group, "600.00", date(2027, 4, 1), reference="agency-1")
    record_recovery(session, group, taken, on=date(2027, 4, 1), actor=collector, referral=referral)
    pay_by_check(session, group, "75.00", date(2027, 4, 2), reference="credit")
    session.flush()
    rows = _rows_agree(session, group)
    assert len(rows) == 3  # December's check, the agency's (the recovery), the credit
    by_reference = {row.payment.reference: row for row in rows}
    assert by_reference["agency-1"].unallocated == 0
    assert by_reference["credit"].unallocated == Decimal("75.00")
