"""Receipts, allocation, tolerance, returns, suspense and refunds, each checked against the
ledger: what an invoice still owes, what credit the group holds, what cash came in."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from billing_core import ledger
from billing_core.errors import AccessDenied, AllocationError, PaymentError
from billing_core.ledger import Chart
from billing_core.ledger.receivables import account_summary, aging_by_group, payment_history
from billing_core.models import Adjustment, PaymentAllocation, SuspenseItem
from billing_core.models.enums import (
    PaymentMethod,
    PaymentSource,
    PaymentStatus,
    RefundStatus,
    ShortPayPolicy,
    SuspenseStatus,
)
from billing_core.money import D
from billing_core.payments.allocation import (
    allocate,
    apply_credit,
    group_credit,
    open_balances,
)
from billing_core.payments.receipts import (
    fail_payment,
    record_payment,
    return_payment,
    settle_payment,
)
from billing_core.payments.refunds import (
    approve_refund,
    mark_refund_paid,
    reject_refund,
    request_refund,
)
from billing_core.payments.suspense import (
    apply_suspense,
    close_suspense,
    request_suspense_refund,
)
from tests.factories import scenario

ON = date(2027, 1, 5)
INVOICE_A_TOTAL = D("150.60")  # East FAM 112.40 + West EE 38.20


@pytest.fixture
def cast(session):
    return scenario(session)


def owed(session, group, invoice):
    return open_balances(session, group).get(invoice.id, Decimal("0.00"))


def cash(session):
    return ledger.account_balance(session, ledger.account(session, Chart.CASH))


def pay(session, group, amount, **kw):
    kw.setdefault("method", PaymentMethod.CHECK)
    kw.setdefault("received_on", ON)
    kw.setdefault("source", PaymentSource.STAFF)
    payment, _ = record_payment(session, group=group, amount=D(amount), **kw)
    return payment


def test_a_payment_in_full_pays_the_oldest_invoice_and_posts_cash(session, cast):
    before = cash(session)
    payment = pay(session, cast.group_a, "150.60", reference="1001")
    assert payment.status is PaymentStatus.SUCCEEDED
    assert owed(session, cast.group_a, cast.invoice_a) == 0
    assert cash(session) - before == INVOICE_A_TOTAL
    assert group_credit(session, cast.group_a) == 0
    assert payment.review_reason is None


def test_an_overpayment_leaves_a_credit_that_can_be_used_later(session, cast):
    payment = pay(session, cast.group_a, "400.00")
    assert owed(session, cast.group_a, cast.invoice_a) == 0
    assert group_credit(session, cast.group_a) == D("249.40")
    assert "over by $249.40" in payment.review_reason
    rows = payment_history(session, cast.group_a)
    assert rows[0].applied == ((cast.invoice_a.invoice_number, INVOICE_A_TOTAL),)
    assert rows[0].unallocated == D("249.40")


def test_a_short_payment_within_tolerance_is_paid_as_billed(session, cast):
    pay(session, cast.group_a, "149.60")  # $1 short; tolerance $50 and 10%
    assert owed(session, cast.group_a, cast.invoice_a) == 0
    write_off = ledger.account_balance(session, ledger.account(session, Chart.WRITE_OFF))
    assert write_off == D("1.00")


def test_a_short_payment_carried_forward_stays_open(session, cast):
    policy = cast.group_a.policies[-1]
    policy.short_pay_policy = ShortPayPolicy.CARRY_FORWARD
    payment = pay(session, cast.group_a, "149.60")
    assert owed(session, cast.group_a, cast.invoice_a) == D("1.00")
    assert payment.review_reason is None


def test_a_short_payment_outside_tolerance_goes_to_review(session, cast):
    payment = pay(session, cast.group_a, "50.00")
    assert owed(session, cast.group_a, cast.invoice_a) == D("100.60")
    assert "short by $100.60" in payment.review_reason


def test_a_pending_ach_posts_nothing_until_it_settles(session, cast):
    before = cash(session)
    payment = pay(session, cast.group_a, "150.60", method=PaymentMethod.ACH_DEBIT, pending=True)
    assert cash(session) == before
    assert owed(session, cast.group_a, cast.invoice_a) == INVOICE_A_TOTAL
    assert account_summary(session, cast.group_a, ON).pending == INVOICE_A_TOTAL
    settle_payment(session, payment, on=date(2027, 1, 8))
    settle_payment(session, payment, on=date(2027, 1, 8))  # a second success changes nothing
    assert cash(session) - before == INVOICE_A_TOTAL
    assert owed(session, cast.group_a, cast.invoice_a) == 0


def test_a_failed_pending_payment_posts_nothing(session, cast):
    before = cash(session)
    payment = pay(session, cast.group_a, "150.60", method=PaymentMethod.ACH_DEBIT, pending=True)
    assert fail_payment(session, payment, reason="account closed")
    assert payment.status is PaymentStatus.FAILED
    assert cash(session) == before
    assert not fail_payment(session, payment, reason="again")


def test_the_same_external_id_records_one_payment(session, cast):
    first = pay(session, cast.group_a, "150.60", external_id="pi_123")
    again, created = record_payment(
        session,
        group=cast.group_a,
        amount=D("150.60"),
        method=PaymentMethod.CARD,
        received_on=ON,
        source=PaymentSource.ONLINE,
        external_id="pi_123",
    )
    assert again.id == first.id and not created
    assert cash(session) == INVOICE_A_TOTAL


def test_payer_chosen_invoices_are_paid_and_not_the_oldest(session, cast):
    # Group A has one invoice; choosing another group's invoice id must not pay it.
    payment = pay(session, cast.group_a, "10.00", invoice_ids=[cast.invoice_b.id])
    assert owed(session, cast.group_b, cast.invoice_b) == D("76.90")
    assert owed(session, cast.group_a, cast.invoice_a) == INVOICE_A_TOTAL
    assert group_credit(session, cast.group_a) == D("10.00")
    assert payment.review_reason is None  # nothing targeted, nothing to compare


def test_allocation_is_refused_beyond_what_is_left_or_owed(session, cast):
    payment = pay(session, cast.group_a, "400.00")
    with pytest.raises(AllocationError, match="has \\$249.40 left"):
        allocate(session, payment, cast.invoice_a, D("300.00"), on=ON)
    with pytest.raises(AllocationError, match="another group"):
        allocate(session, payment, cast.invoice_b, D("1.00"), on=ON)


def test_a_returned_payment_reopens_the_invoice_and_queues_the_fee(session, cast):
    cast.group_a.policies[-1].returned_payment_fee = D("25.00")
    payment = pay(session, cast.group_a, "150.60")
    assert return_payment(session, payment, on=date(2027, 1, 12), reason="nsf")
    assert not return_payment(session, payment, on=date(2027, 1, 12), reason="nsf")
    assert payment.status is PaymentStatus.RETURNED
    assert owed(session, cast.group_a, cast.invoice_a) == INVOICE_A_TOTAL
    assert cash(session) == 0
    allocations = session.scalars(
        select(PaymentAllocation).where(PaymentAllocation.payment_id == payment.id)
    ).all()
    assert sum(a.amount for a in allocations) == 0 and len(allocations) == 2
    fee = session.scalar(select(Adjustment).where(Adjustment.source_id == payment.id))
    assert fee.amount == D("25.00") and fee.reason_code == "returned_payment_fee"


def test_unidentified_cash_goes_to_suspense_and_is_applied_later(session, cast):
    staff = cast.users["billing_specialist"]
    payment = pay(session, None, "150.60", suspense_reason="no group on the check")
    item = session.scalar(select(SuspenseItem).where(SuspenseItem.payment_id == payment.id))
    assert item.status is SuspenseStatus.OPEN
    assert -ledger.account_balance(session, ledger.account(session, Chart.SUSPENSE)) == D("150.60")
    apply_suspense(session, item, cast.group_a, on=ON, actor=staff, note="called the employer")
    assert item.status is SuspenseStatus.APPLIED
    assert ledger.account_balance(session, ledger.account(session, Chart.SUSPENSE)) == 0
    assert owed(session, cast.group_a, cast.invoice_a) == 0
    with pytest.raises(PaymentError, match="already applied"):
        close_suspense(session, item, refunded=True, on=ON, actor=staff, note="twice")


def test_a_suspense_item_refunded_leaves_no_cash(session, cast):
    staff = cast.users["billing_specialist"]
    payment = pay(session, None, "80.00")
    item = session.scalar(select(SuspenseItem).where(SuspenseItem.payment_id == payment.id))
    # A refund out of suspense is never one person's close: it is requested, then approved.
    with pytest.raises(AccessDenied, match="second person"):
        close_suspense(session, item, refunded=True, on=ON, actor=staff, note="not our customer")
    refund = request_suspense_refund(session, item, reason="not our customer", actor=staff)
    assert item.status is SuspenseStatus.OPEN and cash(session) == D("80.00")
    with pytest.raises(AccessDenied, match="second person"):
        approve_refund(session, refund, actor=staff, on=ON)
    approve_refund(session, refund, actor=cast.users["supervisor"], on=ON)
    assert item.status is SuspenseStatus.REFUNDED
    assert mark_refund_paid(session, refund, on=ON)
    assert cash(session) == 0 and payment.status is PaymentStatus.REFUNDED


def test_a_refund_needs_a_second_person_and_posts_each_step(session, cast):
    specialist = cast.users["billing_specialist"]
    supervisor = cast.users["supervisor"]
    payment = pay(session, cast.group_a, "400.00")
    with pytest.raises(PaymentError, match="\\$249.40 of credit"):
        request_refund(session, payment, D("300.00"), reason="overpaid in error", actor=specialist)
    refund = request_refund(
        session, payment, D("249.40"), reason="overpaid in error", actor=specialist
    )
    with pytest.raises(AccessDenied, match="second person"):
        approve_refund(session, refund, actor=specialist, on=ON)
    approve_refund(session, refund, actor=supervisor, on=ON)
    assert group_credit(session, cast.group_a) == 0
    payable = ledger.account(session, Chart.REFUNDS_PAYABLE, cast.group_a)
    assert ledger.account_balance(session, payable) == D("-249.40")
    assert mark_refund_paid(session, refund, on=date(2027, 1, 9))
    assert not mark_refund_paid(session, refund, on=date(2027, 1, 9))
    assert ledger.account_balance(session, payable) == 0
    assert cash(session) == INVOICE_A_TOTAL
    assert refund.status is RefundStatus.PAID


def test_a_rejected_refund_leaves_the_credit(session, cast):
    payment = pay(session, cast.group_a, "400.00")
    refund = request_refund(
        session, payment, D("100.00"), reason="asked by HR", actor=cast.users["billing_specialist"]
    )
    reject_refund(session, refund, actor=cast.users["supervisor"], reason="credit is needed")
    assert group_credit(session, cast.group_a) == D("249.40")


def test_a_payment_with_a_refund_cannot_be_returned(session, cast):
    payment = pay(session, cast.group_a, "400.00")
    refund = request_refund(
        session, payment, D("100.00"), reason="asked by HR", actor=cast.users["billing_specialist"]
    )
    approve_refund(session, refund, actor=cast.users["supervisor"], on=ON)
    with pytest.raises(PaymentError, match="refunded"):
        return_payment(session, payment, on=ON, reason="nsf")


def test_credit_is_used_on_the_next_open_invoice(session, cast):
    pay(session, cast.group_b, "100.00")  # 76.90 owed: 23.10 over, inside $50
    assert group_credit(session, cast.group_b) == D("23.10")
    apply_credit(session, cast.group_b, on=ON)  # nothing open: nothing happens
    assert group_credit(session, cast.group_b) == D("23.10")


def test_aging_buckets_by_days_past_due(session, cast):
    due = cast.invoice_a.due_on
    assert aging_by_group(session, due, [cast.group_a.id])[cast.group_a.id].buckets[0] == (
        INVOICE_A_TOTAL
    )
    later = aging_by_group(session, date(2027, 3, 2), [cast.group_a.id])[cast.group_a.id]
    assert later.buckets[2] == INVOICE_A_TOTAL  # 60 days past a 1 January due date
    pay(session, cast.group_a, "150.60")
    assert cast.group_a.id not in aging_by_group(session, date(2027, 3, 2), [cast.group_a.id])


def test_cash_received_before_the_bill_is_applied_on_the_bill_date(session, cast):
    """A check that arrived before the invoice was issued (recorded later) waits as credit:
    the allocation is dated the issue date, so aging never shows the bill below zero."""
    issued = cast.invoice_a.issued_on
    early = date.fromordinal(issued.toordinal() - 5)
    payment = pay(session, cast.group_a, "150.60", received_on=early)
    [allocation] = session.scalars(
        select(PaymentAllocation).where(PaymentAllocation.payment_id == payment.id)
    )
    entry = session.get(ledger.JournalEntry, allocation.journal_entry_id)
    assert entry.entry_date == issued
    between = date.fromordinal(issued.toordinal() - 2)
    assert cast.group_a.id not in aging_by_group(session, between, [cast.group_a.id])
    assert owed(session, cast.group_a, cast.invoice_a) == 0


def test_paying_the_oldest_bill_exactly_is_not_short_because_later_bills_are_open(session, cast):
    from tests.factories import make_invoice

    make_invoice(session, cast.group_a, D("150.60"), date(2027, 2, 1))
    payment = pay(session, cast.group_a, "150.60")
    assert payment.review_reason is None
    assert owed(session, cast.group_a, cast.invoice_a) == 0


def test_a_payment_short_on_the_second_bill_it_reaches_writes_off_there(session, cast):
    from tests.factories import make_invoice

    february = make_invoice(session, cast.group_a, D("150.60"), date(2027, 2, 1))
    payment = pay(session, cast.group_a, "300.00")  # 1.20 short of both: inside tolerance
    assert payment.review_reason is None
    assert owed(session, cast.group_a, cast.invoice_a) == 0
    assert owed(session, cast.group_a, february) == 0
    write_off = ledger.account_balance(session, ledger.account(session, Chart.WRITE_OFF))
    assert write_off == D("1.20")
