"""Random sequences of invoice, payment, allocation, return, refund, adjustment and write-off
against one group: after every step each journal entry balances, accounts receivable equals the
sum of open invoice balances, unapplied cash is never negative and equals what the payments have
left, and cash equals what came in less what went out (no money appears or disappears)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from billing_core import ledger
from billing_core.errors import BillingError
from billing_core.ledger import Chart
from billing_core.models import Invoice, JournalEntry, Payment, PaymentAllocation, Posting, Refund
from billing_core.models.enums import (
    PaymentMethod,
    PaymentSource,
    PaymentStatus,
    Role,
)
from billing_core.money import ZERO, D
from billing_core.payments import allocation, receipts, refunds
from tests.factories import make_group, make_invoice, make_user

START = date(2027, 1, 1)
_numbers = itertools.count(1)

amounts = st.integers(min_value=1, max_value=50_000).map(lambda c: D(c) / 100)
index = st.integers(min_value=0, max_value=7)
operation = st.one_of(
    st.tuples(st.just("invoice"), amounts),
    st.tuples(st.just("adjustment"), amounts),
    st.tuples(st.just("pay"), amounts, st.booleans()),
    st.tuples(st.just("settle"), index),
    st.tuples(st.just("fail"), index),
    st.tuples(st.just("allocate"), index, index, amounts),
    st.tuples(st.just("unallocate"), index),
    st.tuples(st.just("return"), index),
    st.tuples(st.just("refund"), index, amounts, st.booleans()),
    st.tuples(st.just("write_off"), index, amounts),
    st.tuples(
        st.just("use_credit"),
    ),
)


def check_invariants(session, group, first_entry_id: int, cash_in: Decimal) -> None:
    """Read this sequence's postings once and check the books in Python (fast enough to run
    after every step of 1,000 sequences)."""
    session.flush()
    rows = session.execute(
        select(
            Posting.entry_id, Posting.account_id, Posting.invoice_id, Posting.debit, Posting.credit
        ).where(Posting.entry_id > first_entry_id)
    ).all()
    by_entry: dict[int, Decimal] = defaultdict(Decimal)
    by_account: dict[int, Decimal] = defaultdict(Decimal)
    open_items: dict[int, Decimal] = defaultdict(Decimal)
    receivable = ledger.account(session, Chart.RECEIVABLE, group).id
    for entry_id, account_id, invoice_id, debit, credit in rows:
        by_entry[entry_id] += debit - credit
        by_account[account_id] += debit - credit
        if account_id == receivable:
            assert invoice_id is not None, "a receivable posting without its open item"
            open_items[invoice_id] += debit - credit
    assert all(balance == 0 for balance in by_entry.values()), "an unbalanced entry"
    assert by_account[receivable] == sum(open_items.values(), ZERO)
    credit = -by_account[ledger.account(session, Chart.UNAPPLIED_CASH, group).id]
    assert credit >= 0, "unapplied cash went negative"
    received = session.execute(
        select(Payment.id, Payment.amount).where(
            Payment.group_id == group.id, Payment.status == PaymentStatus.SUCCEEDED
        )
    ).all()
    taken = dict(
        session.execute(
            select(PaymentAllocation.payment_id, ledger.money_sum(PaymentAllocation.amount))
            .join(Payment, Payment.id == PaymentAllocation.payment_id)
            .where(Payment.group_id == group.id)
            .group_by(PaymentAllocation.payment_id)
        ).all()
    )
    for payment_id, amount in session.execute(
        select(Refund.payment_id, Refund.amount).where(
            Refund.group_id == group.id, Refund.status.in_(allocation.REFUND_TAKEN)
        )
    ):
        taken[payment_id] = taken.get(payment_id, ZERO) + amount
    left = sum((amount - taken.get(pid, ZERO) for pid, amount in received), ZERO)
    assert credit == left, "unapplied cash differs from what the payments have left"
    assert by_account[ledger.account(session, Chart.CASH).id] == cash_in, "money appeared"


@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(operation, min_size=1, max_size=10))
def test_random_money_movements_keep_the_books_whole(unit_session, steps):
    # In-memory SQLite (tests/unit/conftest.py): the rules under test are Python's; PostgreSQL's
    # row locks have their own test (test_payments_concurrency.py).
    savepoint = unit_session.begin_nested()
    try:
        run_sequence(unit_session, steps)
    finally:
        savepoint.rollback()
        unit_session.info.pop("ledger_accounts", None)


def run_sequence(session, steps) -> None:
    group = make_group(session)
    specialist = make_user(session, Role.BILLING_SPECIALIST)
    supervisor = make_user(session, Role.SUPERVISOR)
    invoices: list[Invoice] = []
    payments: list[Payment] = []
    expected_cash = ZERO
    first_entry_id = session.scalar(select(func.max(JournalEntry.id))) or 0
    for number, step in enumerate(steps):
        day = START + timedelta(days=number)
        kind, *args = step
        try:
            with session.begin_nested():
                if kind == "invoice":
                    invoices.append(make_invoice(session, group, args[0], day))
                elif kind == "adjustment":
                    invoices.append(make_invoice(session, group, -args[0], day))
                elif kind == "pay":
                    amount, pending = args
                    payment, _ = receipts.record_payment(
                        session,
                        group=group,
                        amount=amount,
                        method=PaymentMethod.ACH_DEBIT if pending else PaymentMethod.CHECK,
                        received_on=day,
                        source=PaymentSource.STAFF,
                        pending=pending,
                    )
                    payments.append(payment)
                    if not pending:
                        expected_cash += amount
                elif kind == "settle" and payments:
                    payment = payments[args[0] % len(payments)]
                    if receipts.settle_payment(session, payment, on=day) is not None:
                        expected_cash += payment.amount
                elif kind == "fail" and payments:
                    receipts.fail_payment(session, payments[args[0] % len(payments)], reason="x")
                elif kind == "allocate" and payments and invoices:
                    payment = payments[args[0] % len(payments)]
                    invoice = invoices[args[1] % len(invoices)]
                    allocation.allocate(session, payment, invoice, args[2], on=day)
                elif kind == "unallocate" and payments:
                    live = allocation.live_allocations(session, payments[args[0] % len(payments)])
                    if live:
                        allocation.unallocate(session, live[0], on=day, reason="moved")
                elif kind == "return" and payments:
                    payment = payments[args[0] % len(payments)]
                    if receipts.return_payment(session, payment, on=day, reason="nsf"):
                        expected_cash -= payment.amount
                elif kind == "refund" and payments:
                    payment = payments[args[0] % len(payments)]
                    _, amount, paid = args
                    refund = refunds.request_refund(
                        session, payment, amount, reason="credit refund", actor=specialist
                    )
                    refunds.approve_refund(session, refund, actor=supervisor, on=day)
                    if paid:
                        refunds.mark_refund_paid(session, refund, on=day)
                        expected_cash -= amount
                elif kind == "write_off" and invoices:
                    invoice = invoices[args[0] % len(invoices)]
                    allocation.write_off(session, invoice, args[1], on=day, reason="small balance")
                elif kind == "use_credit":
                    allocation.apply_credit(session, group, on=day)
        except BillingError:
            pass  # refused as a whole: the savepoint rolled it back
        check_invariants(session, group, first_entry_id, expected_cash)
