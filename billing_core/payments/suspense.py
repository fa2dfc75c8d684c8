"""Suspense: cash received that names no group we could identify. Staff work each item to one
end: applied to a group (Dr suspense, Cr the group's unapplied cash, then the group's policy
applies it), reversed (the bank took it back) or refunded to the sender."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core import audit, ledger
from billing_core.db import utcnow
from billing_core.ledger import Chart, Leg
from billing_core.models import EmployerGroup, Payment, SuspenseItem, User
from billing_core.models.enums import PaymentStatus, SuspenseStatus
from billing_core.payments.allocation import Application, apply_payment
from billing_core.payments.receipts import PaymentError


def open_suspense_query():
    """Open suspense items, oldest first, with their payments."""
    return (
        select(SuspenseItem, Payment)
        .join(Payment, Payment.id == SuspenseItem.payment_id)
        .where(SuspenseItem.status == SuspenseStatus.OPEN)
        .order_by(Payment.received_on, SuspenseItem.id)
    )


def _check_open(item: SuspenseItem) -> None:
    if item.status is not SuspenseStatus.OPEN:
        raise PaymentError(f"this suspense item is already {item.status.value}")


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
    apply it (to `invoice_ids` if named, else oldest first)."""
    _check_open(item)
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


def close_suspense(
    session: Session,
    item: SuspenseItem,
    *,
    refunded: bool,
    on: date,
    actor: User,
    note: str,
) -> None:
    """The cash leaves: refunded to the sender (`refunded`) or reversed by the bank. Dr suspense,
    Cr cash; the payment is marked refunded or returned."""
    _check_open(item)
    if len((note or "").strip()) < 3:
        raise PaymentError("say why the item is closed")
    payment = item.payment
    ledger.post_entry(
        session,
        entry_date=on,
        memo=f"Suspense item {item.id} {'refunded' if refunded else 'reversed'}: {note}"[:300],
        source_type="suspense_closed",
        source_id=item.id,
        idempotency_key=f"suspense-{item.id}-closed",
        created_by_id=actor.id,
        legs=[
            Leg(ledger.account(session, Chart.SUSPENSE), payment.amount),
            Leg(ledger.account(session, Chart.CASH), -payment.amount),
        ],
    )
    payment.status = PaymentStatus.REFUNDED if refunded else PaymentStatus.RETURNED
    payment.status_reason = note[:300]
    status = SuspenseStatus.REFUNDED if refunded else SuspenseStatus.REVERSED
    _resolve(session, item, status, actor, note)
    session.flush()
