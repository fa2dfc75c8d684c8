"""Allocation: every payment's cash sits in the group's unapplied account until it is allocated
to an open invoice (oldest first by default, the invoices the payer chose, or by hand). What is
left stays as a credit. Allocations are append-only: undoing one is a negative allocation that
points at it, with the reversing journal entry.

Each allocation draws on one payment, so a payment's unallocated amount (its amount less its
live allocations and its approved or paid refunds) is what a return or refund can take back, and
the group's unapplied balance is the sum of those amounts over its received payments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from billing_core import audit, ledger
from billing_core.authority import DEFAULT_AUTHORITY_LIMIT
from billing_core.db import built_once
from billing_core.errors import AccessDenied, AllocationError
from billing_core.ledger import Chart, Leg
from billing_core.models import (
    EmployerGroup,
    Invoice,
    JournalEntry,
    Payment,
    PaymentAllocation,
    Posting,
    Refund,
    User,
)
from billing_core.models.enums import (
    InvoiceStatus,
    PaymentStatus,
    RefundStatus,
    ReviewCause,
    ShortPayPolicy,
)
from billing_core.money import ZERO, format_dollars

# Refunds in these states have taken (or will take) the money off the payment.
REFUND_HOLDS = (RefundStatus.REQUESTED, RefundStatus.APPROVED, RefundStatus.PAID)
REFUND_TAKEN = (RefundStatus.APPROVED, RefundStatus.PAID)


def lock_group(session: Session, group_id: int) -> EmployerGroup:
    """Serialise money movements of one group: on PostgreSQL the group row is locked until the
    transaction ends, so two staff users (or a webhook and a user) cannot both spend the same
    unapplied cash. SQLite serialises writers on its own."""
    return session.execute(
        select(EmployerGroup).where(EmployerGroup.id == group_id).with_for_update()
    ).scalar_one()


def unallocated_amount(session: Session, payment: Payment, *, holds=REFUND_TAKEN) -> Decimal:
    """Dollars of `payment` not allocated to invoices and not refunded (0 for a payment not
    received). `holds` = the refund states that count as taken."""
    if payment.status is not PaymentStatus.SUCCEEDED or payment.group_id is None:
        return ZERO
    allocated = session.scalar(
        select(ledger.money_sum(PaymentAllocation.amount)).where(
            PaymentAllocation.payment_id == payment.id
        )
    )
    refunded = session.scalar(
        select(ledger.money_sum(Refund.amount)).where(
            Refund.payment_id == payment.id, Refund.status.in_(holds)
        )
    )
    if recovered_after_charge_off(session, [payment.id]):
        return ZERO
    return payment.amount - allocated - refunded


def recovered_after_charge_off(session: Session, payment_ids: list[int]) -> set[int]:
    """Those of `payment_ids` that a recovery after a charge-off took whole to bad-debt
    recoveries: they hold no credit (the one rule for `unallocated_amount` and the statement's
    and payments page's rows)."""
    if not payment_ids:
        return set()
    return set(session.scalars(_recovered_after_charge_off(), {"payment_ids": payment_ids}))


@built_once
def _recovered_after_charge_off():
    """`recovered_after_charge_off`'s statement, built once (db.built_once)."""
    from billing_core.models.collections_legal import CollectionRecovery

    return select(CollectionRecovery.payment_id).where(
        CollectionRecovery.payment_id.in_(bindparam("payment_ids", expanding=True)),
        CollectionRecovery.after_charge_off,
    )


def open_balances(session: Session, group: EmployerGroup) -> dict[int, Decimal]:
    """Open balance of every invoice of `group` with something still owed (dollars > 0), read
    from the receivable account (debits less credits per open item)."""
    receivable = ledger.account(session, Chart.RECEIVABLE, group)
    balance = func.sum(Posting.debit) - func.sum(Posting.credit)
    rows = session.execute(
        select(
            Posting.invoice_id, ledger.money_sum(Posting.debit), ledger.money_sum(Posting.credit)
        )
        .where(Posting.account_id == receivable.id, Posting.invoice_id.is_not(None))
        .group_by(Posting.invoice_id)
        .having(balance > 0)
    )
    return {invoice_id: debit - credit for invoice_id, debit, credit in rows}


def open_invoices(session: Session, group: EmployerGroup) -> list[tuple[Invoice, Decimal]]:
    """The group's invoices with money owed, oldest due first, with their open balances."""
    balances = open_balances(session, group)
    if not balances:
        return []
    invoices = session.scalars(
        select(Invoice)
        .where(Invoice.id.in_(list(balances)), Invoice.status == InvoiceStatus.ISSUED)
        .order_by(Invoice.due_on, Invoice.id)
    )
    return [(invoice, balances[invoice.id]) for invoice in invoices]


def allocate(
    session: Session,
    payment: Payment,
    invoice: Invoice,
    amount: Decimal,
    *,
    on: date,
    actor: User | None = None,
    memo: str | None = None,
) -> PaymentAllocation:
    """Allocate `amount` dollars of `payment` to `invoice`: Dr unapplied cash, Cr receivable on
    the invoice's open item, dated `on` or the invoice's issue date if later (cash received
    before the bill existed waited as credit until then; dated earlier, the open item would
    go negative in aging between the two dates). Refused (nothing written) beyond what either
    has left. Reconciliation items of the group whose cause this settles leave the queue."""
    if payment.group_id is None or payment.status is not PaymentStatus.SUCCEEDED:
        raise AllocationError("only a received payment identified to a group can be allocated")
    if invoice.group_id != payment.group_id:
        raise AllocationError(f"invoice {invoice.invoice_number} belongs to another group")
    if invoice.status is InvoiceStatus.VOID:
        raise AllocationError(f"invoice {invoice.invoice_number} is void")
    if amount <= 0:
        raise AllocationError("allocate a positive amount")
    group = lock_group(session, payment.group_id)
    left = unallocated_amount(session, payment)
    if amount > left:
        raise AllocationError(
            f"payment {payment.reference or payment.id} has {format_dollars(left)} left to "
            f"allocate, not {format_dollars(amount)}"
        )
    owed = open_balances(session, group).get(invoice.id, ZERO)
    if amount > owed:
        raise AllocationError(
            f"invoice {invoice.invoice_number} has {format_dollars(owed)} open, "
            f"not {format_dollars(amount)}"
        )
    entry = ledger.post_entry(
        session,
        entry_date=max(on, invoice.issued_on),
        memo=memo or _allocation_memo(payment, invoice),
        source_type="allocation",
        source_id=payment.id,
        created_by_id=actor.id if actor else None,
        legs=[
            Leg(ledger.account(session, Chart.UNAPPLIED_CASH, group), amount),
            Leg(ledger.account(session, Chart.RECEIVABLE, group), -amount, invoice.id),
        ],
    )
    allocation = PaymentAllocation(
        payment_id=payment.id,
        invoice_id=invoice.id,
        amount=amount,
        journal_entry_id=entry.id,
        created_by_id=actor.id if actor else None,
    )
    session.add(allocation)
    session.flush()
    _clear_settled_reviews(session, group.id, entry.entry_date)
    return allocation


def _allocation_memo(payment: Payment, invoice: Invoice) -> str:
    return f"Payment {payment.reference or payment.id} applied to {invoice.invoice_number}"


def _clear_settled_reviews(session: Session, group_id: int, on: date) -> None:
    from billing_core.payments.clearing import clear_settled_reviews

    clear_settled_reviews(session, group_id, on=on)


def live_allocations(session: Session, payment: Payment) -> list[PaymentAllocation]:
    """The payment's allocations that have not been undone."""
    undone = select(PaymentAllocation.reverses_allocation_id).where(
        PaymentAllocation.reverses_allocation_id.is_not(None)
    )
    return list(
        session.scalars(
            select(PaymentAllocation)
            .where(
                PaymentAllocation.payment_id == payment.id,
                PaymentAllocation.amount > 0,
                PaymentAllocation.id.not_in(undone),
            )
            .order_by(PaymentAllocation.id.desc())
        )
    )


def unallocate(
    session: Session,
    allocation: PaymentAllocation,
    *,
    on: date,
    reason: str,
    actor: User | None = None,
) -> PaymentAllocation:
    """Undo an allocation: a negative allocation pointing at it and the reversal of its entry,
    so the money is back in unapplied cash and the invoice open again."""
    if allocation.amount <= 0:
        raise AllocationError("an undo cannot itself be undone; allocate again instead")
    already = session.scalar(
        select(PaymentAllocation.id).where(
            PaymentAllocation.reverses_allocation_id == allocation.id
        )
    )
    if already is not None:
        raise AllocationError("this allocation has already been undone")
    entry = session.get(JournalEntry, allocation.journal_entry_id)
    reversal = ledger.reverse_entry(
        session,
        entry,
        entry_date=on,
        memo=f"Allocation undone: {reason}"[:300],
        source_type="allocation_reversal",
        source_id=allocation.payment_id,
        created_by_id=actor.id if actor else None,
    )
    undo = PaymentAllocation(
        payment_id=allocation.payment_id,
        invoice_id=allocation.invoice_id,
        amount=-allocation.amount,
        reverses_allocation_id=allocation.id,
        journal_entry_id=reversal.id,
        created_by_id=actor.id if actor else None,
    )
    session.add(undo)
    session.flush()
    return undo


def allocate_by_hand(
    session: Session,
    payment: Payment,
    invoice: Invoice,
    amount: Decimal,
    *,
    on: date,
    actor: User,
    ip_address: str | None = None,
) -> PaymentAllocation:
    """A staff member allocates `amount` dollars of `payment` to `invoice` (`allocate`),
    audited as theirs."""
    made = allocate(session, payment, invoice, amount, on=on, actor=actor)
    audit.record(
        session,
        "payment.allocated",
        actor=actor,
        target=made,
        group_id=payment.group_id,
        ip_address=ip_address,
        detail={"payment_id": payment.id, "invoice_id": invoice.id, "amount": str(made.amount)},
    )
    return made


def unallocate_by_hand(
    session: Session,
    allocation: PaymentAllocation,
    *,
    on: date,
    reason: str,
    actor: User,
    ip_address: str | None = None,
) -> PaymentAllocation:
    """A staff member undoes an allocation, with a reason (`unallocate`), audited as theirs."""
    undo = unallocate(session, allocation, on=on, reason=reason, actor=actor)
    audit.record(
        session,
        "payment.unallocated",
        actor=actor,
        target=undo,
        group_id=allocation.payment.group_id,
        ip_address=ip_address,
        detail={"allocation_id": allocation.id, "reason": reason[:200]},
    )
    return undo


def write_off(
    session: Session,
    invoice: Invoice,
    amount: Decimal,
    *,
    on: date,
    reason: str,
    actor: User | None = None,
    authority_limit: Decimal = DEFAULT_AUTHORITY_LIMIT,
) -> ledger.JournalEntry:
    """Write off `amount` dollars of the invoice's open balance: Dr premium write-off, Cr
    receivable on the open item. Never more than is open. A person (`actor`) writes off alone
    only within the authority limit on their write-offs on the invoice and on the day
    (`write_offs.write_off_authority`, enforced here); above it, whoever they are, the
    write-off is a request a supervisor approves (`write_offs.write_off_by_hand`). Without an
    actor it is the short-pay tolerance policy writing off, already bounded by it."""
    if actor is not None:
        from billing_core.payments.write_offs import write_off_authority

        write_off_authority(
            session, invoice, amount, actor=actor, on=on, authority_limit=authority_limit
        ).check(actor)
    return post_write_off(session, invoice, amount, on=on, reason=reason, actor=actor)


def post_write_off(
    session: Session,
    invoice: Invoice,
    amount: Decimal,
    *,
    on: date,
    reason: str,
    actor: User | None = None,
) -> ledger.JournalEntry:
    """Post a write-off whose authority is settled (`write_off`, or an approved request)."""
    group = session.get(EmployerGroup, invoice.group_id)
    owed = open_balances(session, group).get(invoice.id, ZERO)
    if amount <= 0 or amount > owed:
        raise AllocationError(
            f"invoice {invoice.invoice_number} has {format_dollars(owed)} open; "
            f"cannot write off {format_dollars(amount)}"
        )
    entry = ledger.post_entry(
        session,
        entry_date=on,
        memo=f"Write-off on {invoice.invoice_number}: {reason}"[:300],
        source_type="write_off",
        source_id=invoice.id,
        created_by_id=actor.id if actor else None,
        legs=[
            Leg(ledger.account(session, Chart.WRITE_OFF), amount),
            Leg(ledger.account(session, Chart.RECEIVABLE, group), -amount, invoice.id),
        ],
    )
    _clear_settled_reviews(session, group.id, on)
    if actor is not None:
        audit.record(
            session,
            "invoice.written_off",
            actor=actor,
            target=invoice,
            group_id=group.id,
            detail={"amount": str(amount), "reason": reason},
        )
    return entry


@dataclass
class Application:
    """What applying one payment did: allocations made, a short payment written off, and why
    it went to the manual reconciliation queue (None when it did not)."""

    allocations: list[PaymentAllocation] = field(default_factory=list)
    written_off: Decimal = ZERO
    review_reason: str | None = None

    @property
    def allocated(self) -> Decimal:
        return sum((a.amount for a in self.allocations), ZERO)


def apply_payment(
    session: Session, payment: Payment, *, on: date, actor: User | None = None
) -> Application:
    """Apply a received payment by the group's policy: to the invoices the payer chose (in their
    order), else to the oldest open invoices first; what is left stays as a credit.

    The payment is compared with what it was meant to pay: the invoices the payer chose, else
    the open invoices it reaches oldest first (so a check that pays the oldest bill exactly is
    not "short" because later bills are open too). A short or over payment within the group's
    tolerance counts as paid as billed (a short one is written off on the last invoice it
    reached or carried to the next bill, per `short_pay_policy`; an over one stays as a credit);
    outside it, the payment is flagged for manual reconciliation (`payment.review_reason`)."""
    outcome = Application()
    if payment.group_id is None or payment.status is not PaymentStatus.SUCCEEDED:
        return outcome
    group = lock_group(session, payment.group_id)
    left = unallocated_amount(session, payment)
    if left <= 0:
        return outcome
    fresh = left == payment.amount
    targets = _targets(session, group, payment)
    reached: list[tuple[Invoice, Decimal]] = []
    for invoice, owed in targets:
        if left <= 0:
            break
        amount = min(left, owed)
        outcome.allocations.append(allocate(session, payment, invoice, amount, on=on, actor=actor))
        reached.append((invoice, owed))
        left -= amount
    meant_for = targets if payment.invoice_choice else reached
    owed_total = sum((owed for _, owed in meant_for), ZERO)
    difference = payment.amount - owed_total
    if not fresh or owed_total == 0 or difference == 0:
        return outcome
    policy = group.current_policy(session, on) or group.policies[-1]
    within = policy.within_tolerance(difference, owed_total)
    if not within:
        word = "short" if difference < 0 else "over"
        outcome.review_reason = (
            f"Paid {format_dollars(payment.amount)} against {format_dollars(owed_total)} owed: "
            f"{word} by {format_dollars(abs(difference))}, outside the group's tolerance"
        )
        payment.review_reason = outcome.review_reason
        payment.review_cause = (
            ReviewCause.SHORT_PAYMENT if difference < 0 else ReviewCause.OVER_PAYMENT
        )
    elif difference < 0 and policy.short_pay_policy is ShortPayPolicy.WRITE_OFF:
        outcome.written_off = -difference
        write_off(
            session,
            reached[-1][0],
            -difference,
            on=on,
            reason=f"short payment within tolerance (payment {payment.reference or payment.id})",
        )
    session.flush()
    return outcome


def _targets(
    session: Session, group: EmployerGroup, payment: Payment
) -> list[tuple[Invoice, Decimal]]:
    """The open invoices this payment is meant for, in the order to pay them."""
    open_items = open_invoices(session, group)
    if not payment.invoice_choice:
        return open_items
    by_id = {invoice.id: (invoice, owed) for invoice, owed in open_items}
    return [by_id[i] for i in payment.invoice_choice if i in by_id]


def usable_credit(session: Session, group: EmployerGroup) -> list[tuple[Payment, Decimal]]:
    """The group's credit as the payments carrying it, oldest received first, each with the
    dollars it has left: not allocated, and not refunded or asked for in a refund not yet
    decided (a requested refund holds its money until it is approved or rejected)."""
    payments = session.scalars(
        select(Payment)
        .where(Payment.group_id == group.id, Payment.status == PaymentStatus.SUCCEEDED)
        .order_by(Payment.received_on, Payment.id)
    )
    left = [(p, unallocated_amount(session, p, holds=REFUND_HOLDS)) for p in payments]
    return [(p, amount) for p, amount in left if amount > 0]


def credit_plan(
    credits: list[tuple[Any, Decimal]], targets: list[tuple[Any, Decimal]]
) -> list[tuple[Any, Any, Decimal]]:
    """Pair credit with what is owed: the targets in their order (oldest due first), each
    taking from the credits in theirs until it is paid or the credit runs out. Returns
    (credit, target, dollars) triples; pure, so a billing run can plan before it writes."""
    remaining = [[credit, left] for credit, left in credits if left > 0]
    plan: list[tuple[Any, Any, Decimal]] = []
    for target, owed in targets:
        for cell in remaining:
            if owed <= 0:
                break
            credit, left = cell
            if left <= 0:
                continue
            amount = min(left, owed)
            plan.append((credit, target, amount))
            cell[1] = left - amount
            owed -= amount
    return plan


def apply_credit(
    session: Session,
    group: EmployerGroup,
    *,
    on: date,
    actor: User | None = None,
    invoice_ids: list[int] | None = None,
    subgroup_ids: frozenset[int] | None = None,
) -> list[PaymentAllocation]:
    """Use the group's credit (payments with money left, oldest first) on its open invoices
    (the ones named, else oldest first). Returns the allocations made.

    `subgroup_ids`: the actor is limited to those locations. The credit is kept per group,
    not per location, so no part of it is theirs to use: refused (AccessDenied)."""
    if subgroup_ids is not None:
        raise AccessDenied(
            "your access covers some locations only, and the credit is the whole group's: "
            "your group's administrator can use it"
        )
    lock_group(session, group.id)
    targets = open_invoices(session, group)
    if invoice_ids:
        targets = [(i, owed) for i, owed in targets if i.id in set(invoice_ids)]
    return [
        allocate(session, payment, invoice, amount, on=on, actor=actor)
        for payment, invoice, amount in credit_plan(usable_credit(session, group), targets)
    ]


def group_credit(session: Session, group: EmployerGroup) -> Decimal:
    """The group's credit balance in dollars: the unapplied cash account, read as a liability."""
    return -ledger.account_balance(session, ledger.account(session, Chart.UNAPPLIED_CASH, group))
