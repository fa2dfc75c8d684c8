"""Reconciliation items that clear themselves. A payment flagged short or over waits in the
manual reconciliation queue; once its cause is gone (the invoices it was meant for are settled,
the credit it left is used or refunded, or the payment itself came back) it leaves the queue,
recorded, never deleted: `reviewed_at` says when, `review_resolution` why ("cleared: invoice
G-1001-202701 paid in full on Jan 9, 2027"), and the audit log has a row.

Decision: items are cleared when the money moves (every allocation, write-off, refund approval
and returned payment calls `clear_settled_reviews` for its group, under the group's lock), not
by a background job and not on reading the queue: the queue, its page and the Today counts then
read the same rows, and running it again finds nothing more to clear (idempotent). A flag whose
cause the portal cannot judge (a refund made in Stripe outside the portal) waits for staff,
unless the payment is returned or refunded in full.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core import audit, ledger
from billing_core.db import utcnow
from billing_core.ledger import Chart
from billing_core.models import EmployerGroup, Invoice, JournalEntry, Payment, Posting, Refund
from billing_core.models.enums import PaymentStatus, ReviewCause
from billing_core.money import format_dollars
from billing_core.payments.allocation import REFUND_TAKEN, live_allocations, unallocated_amount

CLEARED = "cleared: "


def _on(day: date) -> str:
    return f"{day:%b} {day.day}, {day.year}"


def waiting_reviews(session: Session, group_id: int) -> list[Payment]:
    """The group's payments flagged for reconciliation and not yet reviewed."""
    return list(
        session.scalars(
            select(Payment)
            .where(
                Payment.group_id == group_id,
                Payment.review_reason.is_not(None),
                Payment.reviewed_at.is_(None),
            )
            .order_by(Payment.id)
        )
    )


def clear_settled_reviews(session: Session, group_id: int, *, on: date) -> list[Payment]:
    """Resolve the group's waiting reconciliation items whose cause is gone, each with the
    reason and the day (`on`, the day of the money movement that settled it, unless the ledger
    says when). Returns the payments cleared (none when called again)."""
    cleared = []
    for payment in waiting_reviews(session, group_id):
        resolution = settled_resolution(session, payment, on)
        if resolution is None:
            continue
        payment.review_resolution = resolution[:300]
        payment.reviewed_at = utcnow()
        audit.record(
            session,
            "payment.review_cleared",
            target=payment,
            group_id=group_id,
            detail={"review_reason": payment.review_reason, "resolution": resolution},
        )
        cleared.append(payment)
    if cleared:
        session.flush()
    return cleared


def settled_resolution(session: Session, payment: Payment, on: date) -> str | None:
    """Why `payment`'s reconciliation item is over ("cleared: ..."), or None while its cause
    is still there."""
    if payment.status is PaymentStatus.RETURNED:
        return f"{CLEARED}the payment was returned on {_on(payment.returned_on or on)}"
    if payment.status is PaymentStatus.REFUNDED:
        return f"{CLEARED}the payment was refunded in full on {_on(on)}"
    if payment.status is not PaymentStatus.SUCCEEDED:
        return None
    if payment.review_cause is ReviewCause.SHORT_PAYMENT:
        return _short_settled(session, payment)
    if payment.review_cause is ReviewCause.OVER_PAYMENT:
        return _over_settled(session, payment, on)
    return None


def _short_settled(session: Session, payment: Payment) -> str | None:
    """A short payment's cause is gone once nothing is open on the invoices it was meant for
    (the payer's choice, else those it reached)."""
    meant = list(payment.invoice_choice or []) or list(
        dict.fromkeys(a.invoice_id for a in live_allocations(session, payment))
    )
    if not meant:
        return None
    group = session.get(EmployerGroup, payment.group_id)
    receivable = ledger.account(session, Chart.RECEIVABLE, group)
    if any(owed > 0 for owed in ledger.open_item_balances(session, receivable, meant).values()):
        return None
    numbers = list(
        session.scalars(
            select(Invoice.invoice_number).where(Invoice.id.in_(meant)).order_by(Invoice.due_on)
        )
    )
    last = session.execute(
        select(JournalEntry.entry_date, JournalEntry.source_type)
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .where(
            Posting.account_id == receivable.id,
            Posting.invoice_id.in_(meant),
            Posting.credit > 0,
        )
        .order_by(JournalEntry.id.desc())  # the last posted settled it
        .limit(1)
    ).first()
    if last is None:
        return None
    which = (
        f"invoice {numbers[0]}"
        if len(numbers) == 1
        else f"invoices {', '.join(numbers[:-1])} and {numbers[-1]}"
    )
    settled_on, source = last
    if source == "write_off":
        return f"{CLEARED}{which} settled on {_on(settled_on)} (the rest written off)"
    if source == "void":
        return f"{CLEARED}{which} voided on {_on(settled_on)}"
    return f"{CLEARED}{which} paid in full on {_on(settled_on)}"


def _over_settled(session: Session, payment: Payment, on: date) -> str | None:
    """An over payment's cause is gone once no credit is left on it (used on invoices or
    refunded)."""
    if unallocated_amount(session, payment) > 0:
        return None
    refunded = session.scalar(
        select(ledger.money_sum(Refund.amount)).where(
            Refund.payment_id == payment.id, Refund.status.in_(REFUND_TAKEN)
        )
    )
    if refunded > 0:
        return f"{CLEARED}its credit of {format_dollars(refunded)} was refunded on {_on(on)}"
    latest = next(iter(live_allocations(session, payment)), None)
    if latest is None:
        return None
    number = session.scalar(select(Invoice.invoice_number).where(Invoice.id == latest.invoice_id))
    return f"{CLEARED}the credit it left was used on invoice {number} on {_on(on)}"
