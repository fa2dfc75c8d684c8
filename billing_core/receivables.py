"""What a group owes and has paid, derived from the ledger: the account summary an employer and
staff see, the payment history with each payment's status and what it paid, and aging of open
invoices into DOMAIN.md's buckets as of any date."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core import ledger
from billing_core.ledger import Chart
from billing_core.models import (
    EmployerGroup,
    Invoice,
    JournalEntry,
    LedgerAccount,
    Payment,
    PaymentAllocation,
    Posting,
    Refund,
)
from billing_core.models.enums import PaymentStatus, RefundStatus
from billing_core.money import ZERO
from billing_core.payments.allocation import open_invoices, unallocated_amount

# (label, first day past due, last day past due or None): DOMAIN.md's buckets.
AGING_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("Current", -10_000, 0),
    ("1–30", 1, 30),
    ("31–60", 31, 60),
    ("61–90", 61, 90),
    ("91–120", 91, 120),
    ("Over 120", 121, None),
)
PAYMENT_STATUS_LABELS = {
    PaymentStatus.PENDING: "Pending",
    PaymentStatus.SUCCEEDED: "Succeeded",
    PaymentStatus.FAILED: "Failed",
    PaymentStatus.RETURNED: "Returned",
    PaymentStatus.REFUNDED: "Refunded",
}


def bucket_for(days_past_due: int) -> int:
    """Index into AGING_BUCKETS for an item `days_past_due` days after its due date."""
    for index, (_, low, high) in enumerate(AGING_BUCKETS):
        if days_past_due >= low and (high is None or days_past_due <= high):
            return index
    return len(AGING_BUCKETS) - 1


@dataclass
class Aging:
    """Open receivable in each bucket (dollars), in AGING_BUCKETS order."""

    buckets: list[Decimal] = field(default_factory=lambda: [ZERO] * len(AGING_BUCKETS))

    @property
    def total(self) -> Decimal:
        return sum(self.buckets, ZERO)

    @property
    def past_due(self) -> Decimal:
        return sum(self.buckets[1:], ZERO)

    def add(self, amount: Decimal, days_past_due: int) -> None:
        self.buckets[bucket_for(days_past_due)] += amount


def aging_by_group(
    session: Session, as_of: date, group_ids: Iterable[int] | None = None
) -> dict[int, Aging]:
    """Aging of every group's open invoices as of `as_of` (end of day): each invoice's balance
    from postings dated on or before `as_of`, bucketed by days past its due date. One query."""
    query = (
        select(
            LedgerAccount.group_id,
            Invoice.due_on,
            ledger.money_sum(Posting.debit),
            ledger.money_sum(Posting.credit),
        )
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .join(Invoice, Invoice.id == Posting.invoice_id)
        .where(LedgerAccount.code == Chart.RECEIVABLE.code, JournalEntry.entry_date <= as_of)
        .group_by(LedgerAccount.group_id, Invoice.id, Invoice.due_on)
    )
    if group_ids is not None:
        query = query.where(LedgerAccount.group_id.in_(list(group_ids)))
    result: dict[int, Aging] = {}
    for group_id, due_on, debit, credit in session.execute(query):
        owed = debit - credit
        if owed == 0:
            continue
        result.setdefault(group_id, Aging()).add(owed, (as_of - due_on).days)
    return result


@dataclass(frozen=True)
class AccountSummary:
    """A group's position: what is owed on open invoices, the credit waiting to be used,
    pending payments on their way, the next due date and the last payment received."""

    open_balance: Decimal
    credit: Decimal
    pending: Decimal
    past_due: Decimal
    next_due_on: date | None
    next_due_amount: Decimal
    last_payment: Payment | None

    @property
    def net_due(self) -> Decimal:
        """Owed after the credit is used (never below zero)."""
        return max(self.open_balance - self.credit, ZERO)


def account_summary(session: Session, group: EmployerGroup, today: date) -> AccountSummary:
    items = open_invoices(session, group)
    open_balance = sum((owed for _, owed in items), ZERO)
    past_due = sum((owed for invoice, owed in items if invoice.due_on < today), ZERO)
    upcoming = [(i, owed) for i, owed in items if i.due_on >= today]
    next_item = upcoming[0] if upcoming else (items[0] if items else None)
    credit = -ledger.account_balance(session, ledger.account(session, Chart.UNAPPLIED_CASH, group))
    pending = session.scalar(
        select(ledger.money_sum(Payment.amount)).where(
            Payment.group_id == group.id, Payment.status == PaymentStatus.PENDING
        )
    )
    last_payment = session.scalar(
        select(Payment)
        .where(Payment.group_id == group.id, Payment.status != PaymentStatus.FAILED)
        .order_by(Payment.received_on.desc(), Payment.id.desc())
        .limit(1)
    )
    return AccountSummary(
        open_balance=open_balance,
        credit=credit,
        pending=pending,
        past_due=past_due,
        next_due_on=next_item[0].due_on if next_item else None,
        next_due_amount=next_item[1] if next_item else ZERO,
        last_payment=last_payment,
    )


@dataclass(frozen=True)
class PaymentRow:
    """One payment as a history shows it: what it paid (invoice numbers and amounts), what is
    left as credit, and what was refunded."""

    payment: Payment
    applied: tuple[tuple[str, Decimal], ...]
    unallocated: Decimal
    refunded: Decimal

    @property
    def status_label(self) -> str:
        return PAYMENT_STATUS_LABELS[self.payment.status]


def payment_history(
    session: Session, group: EmployerGroup, *, limit: int | None = None
) -> list[PaymentRow]:
    """The group's payments, newest first, each with its live allocations by invoice."""
    query = (
        select(Payment)
        .where(Payment.group_id == group.id)
        .order_by(Payment.received_on.desc(), Payment.id.desc())
    )
    if limit:
        query = query.limit(limit)
    payments = list(session.scalars(query))
    ids = [p.id for p in payments]
    applied: dict[int, dict[str, Decimal]] = {pid: {} for pid in ids}
    refunded: dict[int, Decimal] = dict.fromkeys(ids, ZERO)
    if ids:
        for payment_id, number, amount in session.execute(
            select(PaymentAllocation.payment_id, Invoice.invoice_number, PaymentAllocation.amount)
            .join(Invoice, Invoice.id == PaymentAllocation.invoice_id)
            .where(PaymentAllocation.payment_id.in_(ids))
            .order_by(PaymentAllocation.id)
        ):
            by_invoice = applied[payment_id]
            by_invoice[number] = by_invoice.get(number, ZERO) + amount
        for payment_id, amount in session.execute(
            select(Refund.payment_id, Refund.amount).where(
                Refund.payment_id.in_(ids), Refund.status == RefundStatus.PAID
            )
        ):
            refunded[payment_id] += amount
    return [
        PaymentRow(
            payment=p,
            applied=tuple((n, a) for n, a in applied[p.id].items() if a != 0),
            unallocated=unallocated_amount(session, p),
            refunded=refunded[p.id],
        )
        for p in payments
    ]
