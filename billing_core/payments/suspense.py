"""Suspense: cash received that names no group we could identify. Staff work each item to one
end: applied to a group (Dr suspense, Cr the group's unapplied cash, then the group's policy
applies it), reversed (the bank took it back) or refunded to the sender. A refund is money
leaving on a person's say-so, so it is a refund request that a second person approves (the
four-eyes rule of every refund, billing_core.payments.refunds); only approval closes the item."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core import audit, ledger
from billing_core.db import utcnow
from billing_core.errors import AccessDenied, PaymentError
from billing_core.ledger import Chart, Leg
from billing_core.models import EmployerGroup, Refund, SuspenseItem, User
from billing_core.models.enums import PaymentStatus, RefundStatus, SuspenseStatus
from billing_core.money import format_dollars
from billing_core.payments.allocation import Application, apply_payment
from billing_core.payments.refunds import check_asker, write_refund_request


def _check_open(item: SuspenseItem) -> None:
    if item.status is not SuspenseStatus.OPEN:
        raise PaymentError(f"this suspense item is already {item.status.value}")


def pending_refund(session: Session, item: SuspenseItem) -> Refund | None:
    """The refund of this item waiting for a second person's decision, if any."""
    return session.scalar(
        select(Refund).where(
            Refund.suspense_item_id == item.id, Refund.status == RefundStatus.REQUESTED
        )
    )


def _check_no_refund_waiting(session: Session, item: SuspenseItem) -> None:
    waiting = pending_refund(session, item)
    if waiting is not None:
        raise PaymentError(
            f"refund {waiting.id} of this item is waiting for approval; it must be rejected "
            "or withdrawn first"
        )


def _resolve(session: Session, item: SuspenseItem, status: SuspenseStatus, actor: User, note: str):
    item.status = status
    item.resolved_by_id = actor.id
    item.resolved_at = utcnow()
    item.resolution_note = note
    audit.record(
        session,
        f"suspense.{status.value}",
        actor=actor,
        target=item,
        group_id=item.payment.group_id,
        detail={"payment_id": item.payment_id, "note": note},
    )


def apply_suspense(
    session: Session,
    item: SuspenseItem,
    group: EmployerGroup,
    *,
    on: date,
    actor: User,
    note: str,
    invoice_ids: Sequence[int] = (),
) -> Application:
    """Identify the cash as `group`'s: move it from suspense to the group's unapplied cash and
    apply it (to `invoice_ids` if named, else oldest first). Refused while a refund of the item
    waits for approval."""
    _check_open(item)
    _check_no_refund_waiting(session, item)
    payment = item.payment
    payment.group_id = group.id
    payment.invoice_choice = list(invoice_ids)
    ledger.post_entry(
        session,
        entry_date=on,
        memo=f"Suspense item {item.id} identified as {group.group_number}",
        source_type="suspense_applied",
        source_id=item.id,
        idempotency_key=f"suspense-{item.id}-applied",
        created_by_id=actor.id,
        legs=[
            Leg(ledger.account(session, Chart.SUSPENSE), payment.amount),
            Leg(ledger.account(session, Chart.UNAPPLIED_CASH, group), -payment.amount),
        ],
    )
    _resolve(session, item, SuspenseStatus.APPLIED, actor, note or f"applied to {group.name}")
    session.flush()
    return apply_payment(session, payment, on=on, actor=actor)


def request_suspense_refund(
    session: Session, item: SuspenseItem, *, reason: str, actor: User
) -> Refund:
    """Ask to send the item's whole amount back to its sender. Posts nothing: the item stays
    open (nothing can apply it meanwhile) until a second person approves the refund in the
    refunds queue (`refunds.approve_refund`, which closes the item as refunded) or it is
    rejected or withdrawn."""
    check_asker(actor, reason)
    _check_open(item)
    _check_no_refund_waiting(session, item)
    payment = item.payment
    return write_refund_request(
        session, payment, payment.amount, reason=reason, actor=actor, suspense_item=item
    )


def resolve_refunded(
    session: Session, item: SuspenseItem, refund: Refund, *, actor: User, on: date
) -> None:
    """Close the item as refunded once its refund is approved (by `refunds.approve_refund`,
    after the four-eyes check): Dr suspense, Cr refunds payable (unidentified cash); the check
    going out is `refunds.mark_refund_paid`."""
    _check_open(item)
    payment = item.payment
    ledger.post_entry(
        session,
        entry_date=on,
        memo=(
            f"Suspense item {item.id} refunded to the sender: refund {refund.id} of "
            f"{format_dollars(refund.amount)}"
        )[:300],
        source_type="suspense_closed",
        source_id=item.id,
        idempotency_key=f"suspense-{item.id}-closed",
        created_by_id=actor.id,
        legs=[
            Leg(ledger.account(session, Chart.SUSPENSE), payment.amount),
            Leg(ledger.account(session, Chart.SUSPENSE_REFUNDS_PAYABLE), -payment.amount),
        ],
    )
    note = f"refund {refund.id} approved: {refund.reason}"[:300]
    _resolve(session, item, SuspenseStatus.REFUNDED, actor, note)


def close_suspense(
    session: Session,
    item: SuspenseItem,
    *,
    refunded: bool = False,
    on: date,
    actor: User,
    note: str,
) -> None:
    """The bank took the cash back (reversed): Dr suspense, Cr cash; the payment is marked
    returned. A refund to the sender is never a close by one person: `refunded` is refused
    (request it with `request_suspense_refund`; a second person approves it)."""
    _check_open(item)
    if refunded:
        raise AccessDenied(
            "a refund out of suspense needs a second person: request it, and another staff "
            "member approves it in the refunds queue"
        )
    _check_no_refund_waiting(session, item)
    if len((note or "").strip()) < 3:
        raise PaymentError("say why the item is closed")
    payment = item.payment
    ledger.post_entry(
        session,
        entry_date=on,
        memo=f"Suspense item {item.id} reversed: {note}"[:300],
        source_type="suspense_closed",
        source_id=item.id,
        idempotency_key=f"suspense-{item.id}-closed",
        created_by_id=actor.id,
        legs=[
            Leg(ledger.account(session, Chart.SUSPENSE), payment.amount),
            Leg(ledger.account(session, Chart.CASH), -payment.amount),
        ],
    )
    payment.status = PaymentStatus.RETURNED
    payment.status_reason = note[:300]
    _resolve(session, item, SuspenseStatus.REVERSED, actor, note)
    session.flush()
