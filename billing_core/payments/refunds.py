"""Refunds of credit left on a payment. One staff user requests, another approves (four eyes,
enforced here). Approval moves the money from the group's unapplied cash to refunds payable;
the refund is paid when the check is sent or, for card and ACH debit payments, when Stripe
confirms the refund (the gateway is called at approval with an idempotency key)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core import audit, ledger, mail
from billing_core.db import utcnow
from billing_core.errors import AccessDenied
from billing_core.ledger import Chart, Leg
from billing_core.models import EmployerGroup, Payment, Refund, User
from billing_core.models.enums import STAFF_ROLES, PaymentMethod, PaymentStatus, RefundStatus
from billing_core.money import cents, format_dollars
from billing_core.payments.allocation import REFUND_HOLDS, lock_group, unallocated_amount
from billing_core.payments.clearing import clear_settled_reviews
from billing_core.payments.receipts import PaymentError

# Refunded through Stripe rather than by check.
ONLINE_METHODS = frozenset({PaymentMethod.CARD, PaymentMethod.ACH_DEBIT})

# Creates the refund at the processor: (payment, refund) -> (processor refund id, settled now?).
RefundGateway = Callable[[Payment, Refund], tuple[str, bool]]


def refundable_amount(session: Session, payment: Payment) -> Decimal:
    """Dollars of the payment still unallocated and not already asked for in another refund."""
    return unallocated_amount(session, payment, holds=REFUND_HOLDS)


def request_refund(
    session: Session, payment: Payment, amount: Decimal, *, reason: str, actor: User
) -> Refund:
    """Ask to refund `amount` dollars of a payment's unallocated credit. Posts nothing yet."""
    if actor.role not in STAFF_ROLES:
        raise AccessDenied("only billing staff can request a refund")
    if len((reason or "").strip()) < 5:
        raise PaymentError("give the reason for the refund (at least a few words)")
    if payment.group_id is None:
        raise PaymentError("a payment in suspense is refunded from the suspense workbench")
    lock_group(session, payment.group_id)
    available = refundable_amount(session, payment)
    if amount <= 0 or cents(amount) != amount or amount > available:
        raise PaymentError(
            f"this payment has {format_dollars(available)} of credit that can be refunded; "
            f"{format_dollars(amount)} was asked"
        )
    refund = Refund(
        group_id=payment.group_id,
        payment_id=payment.id,
        amount=amount,
        reason=reason.strip()[:300],
        requested_by_id=actor.id,
    )
    session.add(refund)
    session.flush()
    audit.record(
        session,
        "refund.requested",
        actor=actor,
        target=refund,
        group_id=refund.group_id,
        detail={"amount": str(amount), "payment_id": payment.id},
    )
    return refund


def _decide(session: Session, refund: Refund, actor: User, status: RefundStatus, note: str):
    if refund.status is not RefundStatus.REQUESTED:
        raise PaymentError(f"this refund is already {refund.status.value}")
    if actor.role not in STAFF_ROLES:
        raise AccessDenied("only billing staff can decide a refund")
    if actor.id == refund.requested_by_id:
        raise AccessDenied("a refund needs a second person: you requested this one")
    _record_decision(session, refund, actor, status, note, f"refund.{status.value}")
    mail.refund_decided(session, refund)


def _record_decision(session, refund, actor, status: RefundStatus, note: str, action: str):
    """Who ended the request, when, with what note, and the audit row saying so."""
    refund.status = status
    refund.decided_by_id = actor.id
    refund.decided_at = utcnow()
    refund.decision_note = note
    audit.record(
        session,
        action,
        actor=actor,
        target=refund,
        group_id=refund.group_id,
        detail={"amount": str(refund.amount), "note": note},
    )


def reject_refund(session: Session, refund: Refund, *, actor: User, reason: str) -> None:
    if len((reason or "").strip()) < 3:
        raise PaymentError("say why the refund is rejected")
    _decide(session, refund, actor, RefundStatus.REJECTED, reason.strip())
    session.flush()


def withdraw_refund(session: Session, refund: Refund, *, actor: User, reason: str) -> None:
    """The requester takes back a refund nobody has decided yet (asked in error, or the group
    wants the credit kept after all). Recorded as rejected by the requester, which no decision
    can be (`_decide` refuses the requester), so it reads as withdrawn; the credit stays."""
    if refund.status is not RefundStatus.REQUESTED:
        raise PaymentError(f"this refund is already {refund.status.value}")
    if actor.id != refund.requested_by_id:
        raise AccessDenied("only the person who requested a refund can withdraw it; reject it")
    if len((reason or "").strip()) < 3:
        raise PaymentError("say why the refund is withdrawn")
    _record_decision(
        session, refund, actor, RefundStatus.REJECTED, reason.strip()[:500], "refund.withdrawn"
    )
    session.flush()


def approve_refund(
    session: Session,
    refund: Refund,
    *,
    actor: User,
    on: date,
    note: str = "",
    gateway: RefundGateway | None = None,
) -> None:
    """Approve (by someone other than the requester): Dr unapplied cash, Cr refunds payable.
    A card or ACH debit payment is refunded through `gateway` at once; other methods wait for
    `mark_refund_paid` when the check goes out."""
    payment = refund.payment
    group = lock_group(session, refund.group_id)
    _decide(session, refund, actor, RefundStatus.APPROVED, note.strip() or "approved")
    left = unallocated_amount(session, payment)  # now counts this refund as taken
    if left < 0:
        raise PaymentError(
            f"the payment no longer has {format_dollars(refund.amount)} unallocated; "
            "undo allocations first or refund less"
        )
    ledger.post_entry(
        session,
        entry_date=on,
        memo=f"Refund {refund.id} approved: {format_dollars(refund.amount)} to {group.name}"[:300],
        source_type="refund_approved",
        source_id=refund.id,
        idempotency_key=f"refund-{refund.id}-approved",
        created_by_id=actor.id,
        legs=[
            Leg(ledger.account(session, Chart.UNAPPLIED_CASH, group), refund.amount),
            Leg(ledger.account(session, Chart.REFUNDS_PAYABLE, group), -refund.amount),
        ],
    )
    session.flush()
    clear_settled_reviews(session, group.id, on=on)
    if payment.method in ONLINE_METHODS and gateway is not None:
        refund.external_id, settled = gateway(payment, refund)
        if settled:
            mark_refund_paid(session, refund, on=on)


def mark_refund_paid(
    session: Session, refund: Refund, *, on: date, actor: User | None = None
) -> bool:
    """The money has left (check sent, or Stripe says the refund succeeded): Dr refunds payable,
    Cr cash. Idempotent: False when already paid."""
    if refund.status is RefundStatus.PAID:
        return False
    if refund.status is not RefundStatus.APPROVED:
        raise PaymentError("only an approved refund can be paid")
    group = session.get(EmployerGroup, refund.group_id)
    ledger.post_entry(
        session,
        entry_date=on,
        memo=f"Refund {refund.id} paid to {group.name}"[:300],
        source_type="refund_paid",
        source_id=refund.id,
        idempotency_key=f"refund-{refund.id}-paid",
        created_by_id=actor.id if actor else None,
        legs=[
            Leg(ledger.account(session, Chart.REFUNDS_PAYABLE, group), refund.amount),
            Leg(ledger.account(session, Chart.CASH), -refund.amount),
        ],
    )
    refund.status = RefundStatus.PAID
    refund.paid_on = on
    payment = refund.payment
    paid_back = session.scalar(
        select(ledger.money_sum(Refund.amount)).where(
            Refund.payment_id == payment.id, Refund.status == RefundStatus.PAID
        )
    )
    if paid_back >= payment.amount:
        payment.status = PaymentStatus.REFUNDED
    if actor is not None:
        audit.record(session, "refund.paid", actor=actor, target=refund, group_id=group.id)
    session.flush()
    return True
