"""Staff review of cash: what the payment screens read (a payment and what it paid, a group's
journal, the suspense, refund and manual reconciliation queues), turning what staff type (a
group number or name, invoice numbers) into records, and marking a flagged payment reconciled.
Money moves only through receipts, allocation, suspense and refunds; nothing here posts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, aliased

from billing_core import audit, ledger
from billing_core.db import utcnow
from billing_core.errors import PaymentError
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
    SuspenseItem,
    User,
)
from billing_core.models.enums import PaymentStatus, RefundStatus, SuspenseStatus
from billing_core.money import ZERO
from billing_core.payments.allocation import (
    live_allocations,
    open_balances,
    open_invoices,
    unallocated_amount,
)
from billing_core.payments.clearing import CLEARED
from billing_core.payments.matching import Matcher
from billing_core.payments.refunds import refundable_amount

# The group's own accounts a ledger page shows, in the order a specialist reads them.
GROUP_ACCOUNTS = (Chart.RECEIVABLE, Chart.UNAPPLIED_CASH, Chart.REFUNDS_PAYABLE)


def find_group(session: Session, text: str) -> EmployerGroup:
    """The group staff mean by `text`: by the cash matcher's rules (payments.matching: its
    number, whatever the case; else the one group of that name), else the one group whose name
    or number contains it. Raises PaymentError naming the candidates when there are none or
    several."""
    text = (text or "").strip()
    if not text:
        raise PaymentError("enter a group number or name")
    matcher = Matcher(session)
    exact = matcher.group(text) or matcher.by_name(text)
    if exact is not None:
        return exact
    like = f"%{text.lower()}%"
    matches = list(
        session.scalars(
            select(EmployerGroup)
            .where(
                or_(
                    func.lower(EmployerGroup.name).like(like),
                    func.lower(EmployerGroup.group_number).like(like),
                )
            )
            .order_by(EmployerGroup.name)
            .limit(6)
        )
    )
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise PaymentError(f"no group has the number or name “{text}”")
    names = ", ".join(f"{g.group_number} {g.name}" for g in matches[:5])
    raise PaymentError(f"“{text}” matches several groups ({names}); enter the group number")


def invoice_ids_from_numbers(session: Session, group: EmployerGroup, text: str) -> list[int]:
    """Invoice ids for the invoice numbers in `text` (separated by commas or spaces), in the
    order typed. Every number must be one of `group`'s invoices, else PaymentError."""
    numbers = [n for n in re.split(r"[\s,;]+", text or "") if n]
    if not numbers:
        return []
    found = dict(
        session.execute(
            select(Invoice.invoice_number, Invoice.id).where(
                Invoice.group_id == group.id, Invoice.invoice_number.in_(numbers)
            )
        ).all()
    )
    missing = [n for n in numbers if n not in found]
    if missing:
        raise PaymentError(
            f"{', '.join(missing)}: not an invoice of {group.group_number} {group.name}"
        )
    return list(dict.fromkeys(found[n] for n in numbers))


@dataclass(frozen=True)
class AllocationLine:
    """One allocation as the payment page shows it; `undone_by` is the negative allocation
    that reversed it (None while it stands)."""

    allocation: PaymentAllocation
    invoice: Invoice
    undone_by: PaymentAllocation | None


@dataclass(frozen=True)
class PaymentView:
    """A payment with everything the staff payment page shows about it."""

    payment: Payment
    group: EmployerGroup | None
    suspense: SuspenseItem | None
    lines: list[AllocationLine]
    applied: Decimal
    unallocated: Decimal
    refundable: Decimal
    refunds: list[Refund]
    open_items: list[tuple[Invoice, Decimal]]
    returned_payment_fee: Decimal

    @property
    def received(self) -> bool:
        return self.payment.status is PaymentStatus.SUCCEEDED

    @property
    def needs_review(self) -> bool:
        return bool(self.payment.review_reason) and self.payment.reviewed_at is None

    @property
    def in_suspense(self) -> bool:
        return self.suspense is not None and self.suspense.status is SuspenseStatus.OPEN


def payment_view(session: Session, payment: Payment, on: date) -> PaymentView:
    group = session.get(EmployerGroup, payment.group_id) if payment.group_id else None
    allocations = list(
        session.scalars(
            select(PaymentAllocation)
            .where(PaymentAllocation.payment_id == payment.id)
            .order_by(PaymentAllocation.id)
        )
    )
    undo_of = {a.reverses_allocation_id: a for a in allocations if a.reverses_allocation_id}
    invoices = {
        i.id: i
        for i in session.scalars(
            select(Invoice).where(Invoice.id.in_({a.invoice_id for a in allocations}))
        )
    }
    lines = [
        AllocationLine(a, invoices[a.invoice_id], undo_of.get(a.id))
        for a in allocations
        if a.amount > 0
    ]
    applied = sum((line.allocation.amount for line in lines if not line.undone_by), ZERO)
    policy = group.current_policy(session, on) if group else None
    return PaymentView(
        payment=payment,
        group=group,
        suspense=session.scalar(select(SuspenseItem).where(SuspenseItem.payment_id == payment.id)),
        lines=lines,
        applied=applied,
        unallocated=unallocated_amount(session, payment),
        refundable=refundable_amount(session, payment),
        refunds=list(
            session.scalars(
                select(Refund).where(Refund.payment_id == payment.id).order_by(Refund.id)
            )
        ),
        open_items=open_invoices(session, group) if group else [],
        returned_payment_fee=(policy.returned_payment_fee or ZERO) if policy else ZERO,
    )


def group_journal_query(group: EmployerGroup) -> Select:
    """Postings on the group's receivable, unapplied cash and refunds payable accounts, newest
    first: rows of (JournalEntry, Posting, LedgerAccount, invoice number or None)."""
    return (
        select(JournalEntry, Posting, LedgerAccount, Invoice.invoice_number)
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .outerjoin(Invoice, Invoice.id == Posting.invoice_id)
        .where(
            LedgerAccount.group_id == group.id,
            LedgerAccount.code.in_([c.code for c in GROUP_ACCOUNTS]),
        )
        .order_by(JournalEntry.entry_date.desc(), JournalEntry.id.desc(), Posting.id)
    )


ACCOUNT_LABELS = {c.code: c.title for c in Chart}


def suspense_query(*, show_all: bool = False, search: str = "") -> Select:
    """Suspense items with their payments, oldest received first (open ones only unless
    `show_all`); `search` matches payer, reference or the reason."""
    query = select(SuspenseItem, Payment).join(Payment, Payment.id == SuspenseItem.payment_id)
    if not show_all:
        query = query.where(SuspenseItem.status == SuspenseStatus.OPEN)
    if search:
        like = f"%{search.strip().lower()}%"
        query = query.where(
            or_(
                func.lower(Payment.payer_name).like(like),
                func.lower(Payment.reference).like(like),
                func.lower(SuspenseItem.reason).like(like),
            )
        )
    return query.order_by(Payment.received_on, SuspenseItem.id)


REFUND_FILTERS = {
    "open": (RefundStatus.REQUESTED, RefundStatus.APPROVED),
    "requested": (RefundStatus.REQUESTED,),
    "approved": (RefundStatus.APPROVED,),
    "paid": (RefundStatus.PAID,),
    "rejected": (RefundStatus.REJECTED,),
    "all": tuple(RefundStatus),
}


def refund_queue_query(status: str = "open") -> Select:
    """Refunds in the states of REFUND_FILTERS[status], oldest first: rows of (Refund, Payment,
    EmployerGroup (None for a refund out of suspense), requester User, decider User or None)."""
    requester = aliased(User)
    decider = aliased(User)
    states = REFUND_FILTERS.get(status, REFUND_FILTERS["open"])
    return (
        select(Refund, Payment, EmployerGroup, requester, decider)
        .join(Payment, Payment.id == Refund.payment_id)
        .outerjoin(EmployerGroup, EmployerGroup.id == Refund.group_id)  # none: from suspense
        .outerjoin(requester, requester.id == Refund.requested_by_id)
        .outerjoin(decider, decider.id == Refund.decided_by_id)
        .where(Refund.status.in_(states))
        .order_by(Refund.created_at, Refund.id)
    )


def reconciliation_query() -> Select:
    """Received payments flagged for manual reconciliation and not yet reviewed, oldest first:
    rows of (Payment, EmployerGroup)."""
    return (
        select(Payment, EmployerGroup)
        .join(EmployerGroup, EmployerGroup.id == Payment.group_id)
        .where(
            Payment.review_reason.is_not(None),
            Payment.reviewed_at.is_(None),
            Payment.status == PaymentStatus.SUCCEEDED,
        )
        .order_by(Payment.received_on, Payment.id)
    )


def cleared_reviews_query() -> Select:
    """Reconciliation items that left the queue by themselves (their cause gone: see
    `clearing`), most recently cleared first: rows of (Payment, EmployerGroup)."""
    return (
        select(Payment, EmployerGroup)
        .join(EmployerGroup, EmployerGroup.id == Payment.group_id)
        .where(
            Payment.review_reason.is_not(None),
            Payment.reviewed_at.is_not(None),
            Payment.reviewed_by_id.is_(None),
            Payment.review_resolution.like(f"{CLEARED}%"),
        )
        .order_by(Payment.reviewed_at.desc(), Payment.id.desc())
    )


@dataclass(frozen=True)
class ReconciliationRow:
    """A flagged payment: what it paid, what is still open on the invoices it was meant for
    (a short payment's difference) and what is left on it as credit (an over payment's)."""

    payment: Payment
    group: EmployerGroup
    paid: list[tuple[Invoice, Decimal]]
    still_open: list[tuple[Invoice, Decimal]]
    credit_left: Decimal

    @property
    def still_open_total(self) -> Decimal:
        return sum((owed for _, owed in self.still_open), ZERO)


def reconciliation_rows(
    session: Session, rows: list[tuple[Payment, EmployerGroup]]
) -> list[ReconciliationRow]:
    result = []
    for payment, group in rows:
        by_invoice: dict[int, Decimal] = {}
        for allocation in live_allocations(session, payment):
            by_invoice[allocation.invoice_id] = (
                by_invoice.get(allocation.invoice_id, ZERO) + allocation.amount
            )
        wanted = list(dict.fromkeys([*by_invoice, *(payment.invoice_choice or [])]))
        invoices = {i.id: i for i in session.scalars(select(Invoice).where(Invoice.id.in_(wanted)))}
        balances = open_balances(session, group)
        result.append(
            ReconciliationRow(
                payment=payment,
                group=group,
                paid=[(invoices[i], amount) for i, amount in by_invoice.items()],
                still_open=[
                    (invoices[i], balances[i]) for i in wanted if balances.get(i, ZERO) > 0
                ],
                credit_left=unallocated_amount(session, payment),
            )
        )
    return result


def mark_reconciled(session: Session, payment: Payment, *, actor: User, note: str) -> None:
    """Close a payment's manual reconciliation: staff have dealt with the difference (allocated,
    written off or left as credit). Records who and when, and audits the note."""
    if not payment.review_reason:
        raise PaymentError("this payment is not waiting for reconciliation")
    if payment.reviewed_at is not None:
        raise PaymentError("this payment has already been reconciled")
    payment.reviewed_by_id = actor.id
    payment.reviewed_at = utcnow()
    payment.review_resolution = (
        f"reconciled by {actor.full_name}" + (f": {note.strip()}" if (note or "").strip() else "")
    )[:300]
    audit.record(
        session,
        "payment.reconciled",
        actor=actor,
        target=payment,
        group_id=payment.group_id,
        detail={"review_reason": payment.review_reason, "note": (note or "")[:300]},
    )
    session.flush()


@dataclass(frozen=True)
class CashQueues:
    """How much work waits in each cash queue (the counts on the staff cash pages)."""

    suspense_open: int
    suspense_amount: Decimal
    refunds_to_approve: int
    refunds_to_pay: int
    to_reconcile: int


def cash_queues(session: Session) -> CashQueues:
    suspense_count, suspense_amount = session.execute(
        select(func.count(SuspenseItem.id), ledger.money_sum(Payment.amount))
        .join(Payment, Payment.id == SuspenseItem.payment_id)
        .where(SuspenseItem.status == SuspenseStatus.OPEN)
    ).one()
    refunds = dict(
        session.execute(
            select(Refund.status, func.count(Refund.id))
            .where(Refund.status.in_([RefundStatus.REQUESTED, RefundStatus.APPROVED]))
            .group_by(Refund.status)
        ).all()
    )
    to_reconcile = session.scalar(
        select(func.count()).select_from(reconciliation_query().subquery())
    )
    return CashQueues(
        suspense_open=suspense_count,
        suspense_amount=suspense_amount,
        refunds_to_approve=refunds.get(RefundStatus.REQUESTED, 0),
        refunds_to_pay=refunds.get(RefundStatus.APPROVED, 0),
        to_reconcile=to_reconcile,
    )
