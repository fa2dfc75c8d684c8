"""Receiving money: every source records one Payment here. A received payment posts Dr cash,
Cr the group's unapplied cash (or Cr suspense when it names no group), then is applied by the
group's allocation policy. A pending payment (ACH on its way) posts nothing until it settles;
a returned one (NSF, ACH return, chargeback) reverses what it paid and the receipt itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core import audit, ledger, mail
from billing_core.billing.adjustments import charge_fee
from billing_core.bounds import DATE_RANGE_WORDS, MAX_AMOUNT, amount_in_range, date_in_range
from billing_core.errors import PaymentError
from billing_core.ledger import Chart, Leg
from billing_core.models import (
    EmployerGroup,
    Payment,
    Refund,
    SuspenseItem,
    User,
)
from billing_core.models.enums import (
    PaymentMethod,
    PaymentSource,
    PaymentStatus,
    SuspenseStatus,
)
from billing_core.money import cents, format_dollars
from billing_core.payments.allocation import (
    REFUND_TAKEN,
    Application,
    apply_payment,
    live_allocations,
    lock_group,
    unallocate,
)
from billing_core.payments.clearing import clear_settled_reviews

RETURN_REASONS = {
    "nsf": "Insufficient funds (NSF)",
    "ach_return": "ACH return",
    "chargeback": "Card chargeback",
    "stop_payment": "Stop payment",
}


def record_payment(
    session: Session,
    *,
    group: EmployerGroup | None,
    amount: Decimal,
    method: PaymentMethod,
    received_on: date,
    source: PaymentSource,
    reference: str | None = None,
    payer_name: str | None = None,
    external_id: str | None = None,
    invoice_ids: Sequence[int] = (),
    pending: bool = False,
    suspense_reason: str | None = None,
    actor: User | None = None,
    remittance_file_id: int | None = None,
) -> tuple[Payment, bool]:
    """Record money from any source and return (payment, created).

    `amount` is dollars (> 0, whole cents). `external_id` makes it idempotent: a second call
    with the same id returns the payment already recorded and `created` False. Without a group
    the cash goes to suspense with `suspense_reason`. `pending` (an ACH debit in flight) posts
    nothing until `settle_payment`. Otherwise the receipt is posted and the payment applied."""
    if external_id is not None:
        existing = session.scalar(select(Payment).where(Payment.external_id == external_id))
        if existing is not None:
            return existing, False
    if amount > 0 and not amount_in_range(amount):  # before rounding, which 1E+99999 breaks
        raise PaymentError(f"a payment is at most {MAX_AMOUNT:,} dollars, got {amount}")
    if amount <= 0 or cents(amount) != amount:
        raise PaymentError(f"a payment must be a positive amount in cents, got {amount}")
    if not date_in_range(received_on):
        raise PaymentError(f"a payment is received on a date {DATE_RANGE_WORDS}")
    payment = Payment(
        group_id=group.id if group else None,
        method=method,
        source=source,
        status=PaymentStatus.PENDING,
        amount=amount,
        received_on=received_on,
        reference=reference,
        payer_name=payer_name,
        external_id=external_id,
        invoice_choice=list(invoice_ids),
        created_by_id=actor.id if actor else None,
        remittance_file_id=remittance_file_id,
    )
    session.add(payment)
    session.flush()
    if group is None:
        session.add(
            SuspenseItem(
                payment_id=payment.id,
                reason=suspense_reason or "the payment names no group we could identify",
            )
        )
    if not pending:
        settle_payment(session, payment, on=received_on, actor=actor)
    if actor is not None:
        audit.record(
            session,
            "payment.recorded",
            actor=actor,
            target=payment,
            group_id=payment.group_id,
            detail={"amount": str(amount), "method": method.value, "reference": reference},
        )
    return payment, True


def settle_payment(
    session: Session, payment: Payment, *, on: date, actor: User | None = None
) -> Application | None:
    """A pending payment has succeeded: post the receipt and apply it. Idempotent: a payment
    already received is left alone (None)."""
    if payment.status is not PaymentStatus.PENDING:
        return None
    payment.status = PaymentStatus.SUCCEEDED
    group = session.get(EmployerGroup, payment.group_id) if payment.group_id else None
    credit = (
        ledger.account(session, Chart.UNAPPLIED_CASH, group)
        if group
        else ledger.account(session, Chart.SUSPENSE)
    )
    ledger.post_entry(
        session,
        entry_date=on,
        memo=_receipt_memo(payment, group),
        source_type="payment",
        source_id=payment.id,
        idempotency_key=f"payment-{payment.id}-receipt",
        created_by_id=actor.id if actor else None,
        legs=[
            Leg(ledger.account(session, Chart.CASH), payment.amount),
            Leg(credit, -payment.amount),
        ],
    )
    session.flush()
    if group is None:
        return Application()
    mail.payment_received(session, payment)
    return apply_payment(session, payment, on=on, actor=actor)


def _receipt_memo(payment: Payment, group: EmployerGroup | None) -> str:
    method = payment.method.value.replace("_", " ")
    who = group.group_number if group else "suspense"
    ref = f" {payment.reference}" if payment.reference else ""
    return f"Payment received ({method}{ref}) for {who}"


def fail_payment(session: Session, payment: Payment, *, reason: str) -> bool:
    """A pending payment did not go through (card declined, ACH failed before settling): nothing
    was posted, so nothing is reversed. Returns False when it was not pending (a no-op)."""
    if payment.status is not PaymentStatus.PENDING:
        return False
    payment.status = PaymentStatus.FAILED
    payment.status_reason = reason[:300]
    mail.payment_failed(session, payment, returned=False)
    session.flush()
    return True


def return_payment(
    session: Session,
    payment: Payment,
    *,
    on: date,
    reason: str,
    actor: User | None = None,
    charge_fee: bool = True,
) -> bool:
    """A received payment came back (NSF, ACH return, chargeback): every allocation it made is
    undone (the invoices it paid are open again), the receipt is reversed, and the group's
    returned-payment fee, if any, is queued for the next bill. Idempotent: False when already
    returned. A payment with money refunded from it cannot be returned (the refund must be dealt
    with first)."""
    if payment.status is PaymentStatus.RETURNED:
        return False
    if payment.status is not PaymentStatus.SUCCEEDED:
        raise PaymentError("only a received payment can be returned")
    if payment.group_id is not None:
        lock_group(session, payment.group_id)
    refunded = session.scalar(
        select(Refund.id).where(Refund.payment_id == payment.id, Refund.status.in_(REFUND_TAKEN))
    )
    if refunded is not None:
        raise PaymentError(
            "money has been refunded from this payment; reverse the refund before the return"
        )
    label = RETURN_REASONS.get(reason, reason)
    for allocation in live_allocations(session, payment):
        unallocate(session, allocation, on=on, reason=f"payment returned: {label}", actor=actor)
    group = session.get(EmployerGroup, payment.group_id) if payment.group_id else None
    suspense = session.scalar(select(SuspenseItem).where(SuspenseItem.payment_id == payment.id))
    if group is None:
        holding = ledger.account(session, Chart.SUSPENSE)
    elif suspense is not None and suspense.status is SuspenseStatus.OPEN:
        holding = ledger.account(session, Chart.SUSPENSE)
    else:
        holding = ledger.account(session, Chart.UNAPPLIED_CASH, group)
    ledger.post_entry(
        session,
        entry_date=on,
        memo=f"Payment {payment.reference or payment.id} returned: {label}"[:300],
        source_type="payment_return",
        source_id=payment.id,
        idempotency_key=f"payment-{payment.id}-return",
        created_by_id=actor.id if actor else None,
        legs=[
            Leg(holding, payment.amount),
            Leg(ledger.account(session, Chart.CASH), -payment.amount),
        ],
    )
    payment.status = PaymentStatus.RETURNED
    payment.status_reason = label[:300]
    payment.returned_on = on
    if suspense is not None and suspense.status is SuspenseStatus.OPEN:
        suspense.status = SuspenseStatus.REVERSED
        suspense.resolution_note = f"returned by the bank: {label}"
    if group is not None and charge_fee:
        _queue_returned_payment_fee(session, group, payment, on)
    if group is not None:
        clear_settled_reviews(session, group.id, on=on)
    mail.payment_failed(session, payment, returned=True)
    if actor is not None:
        audit.record(
            session,
            "payment.returned",
            actor=actor,
            target=payment,
            group_id=payment.group_id,
            detail={"reason": label},
        )
    session.flush()
    return True


def _queue_returned_payment_fee(
    session: Session, group: EmployerGroup, payment: Payment, on: date
) -> None:
    policy = group.current_policy(session, on)
    fee = policy.returned_payment_fee if policy else 0
    if not fee:
        return
    charge_fee(
        session,
        group,
        amount=fee,
        on=on,
        reason_code="returned_payment_fee",
        source_type="payment",
        source_id=payment.id,
        note=f"returned payment {payment.reference or payment.id} "
        f"({format_dollars(payment.amount)}); fee per the group's billing policy",
    )
