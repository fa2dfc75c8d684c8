"""The staff cash screens' words and small reads: a payment named as people say it, what a
payment just did in a sentence, an invoice's open balance, who a refund goes to, and the
payments lately cleared from the reconciliation queue. Queries only; the lists themselves
are in `review`, the changes in the use-case modules."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from billing_core.models import EmployerGroup, Invoice, Payment, Refund, User
from billing_core.models.enums import PaymentMethod
from billing_core.money import ZERO, format_dollars
from billing_core.payments import review
from billing_core.payments.allocation import open_balances

METHOD_LABELS = {
    "check": "Check",
    "wire": "Wire",
    "ach_credit": "ACH credit",
    "ach_debit": "ACH debit",
    "card": "Card",
    "lockbox": "Lockbox",
}


def method_label(method: PaymentMethod) -> str:
    return METHOD_LABELS.get(method.value, method.value)


def payment_label(payment: Payment) -> str:
    """`Check 1042 of $1,200.00` (its id when it has no reference)."""
    ref = f" {payment.reference}" if payment.reference else f" #{payment.id}"
    return f"{method_label(payment.method)}{ref} of {format_dollars(payment.amount)}"


def application_summary(session: Session, payment: Payment, on: date) -> str:
    """What a payment just did, in a sentence: the invoices it paid and what they still owe,
    the credit left and any reconciliation flag."""
    if payment.group_id is None:
        return "Held in suspense until it is identified."
    view = review.payment_view(session, payment, on)
    owed = {invoice.id: balance for invoice, balance in view.open_items}
    paid = [
        f"{format_dollars(line.allocation.amount)} to {line.invoice.invoice_number} ("
        + (
            f"still owes {format_dollars(owed[line.invoice.id])}"
            if line.invoice.id in owed
            else "now paid in full"
        )
        + ")"
        for line in view.lines
        if not line.undone_by
    ]
    parts = [f"Paid {', '.join(paid)}." if paid else "It paid no invoice."]
    if view.unallocated > 0:
        parts.append(f"{format_dollars(view.unallocated)} is left as credit.")
    if view.needs_review:
        parts.append(f"Flagged for reconciliation: {payment.review_reason}.")
    return " ".join(parts)


def open_balance(session: Session, invoice: Invoice) -> Decimal:
    """What the invoice still owes now, in dollars (zero when paid)."""
    group = session.get(EmployerGroup, invoice.group_id)
    return open_balances(session, group).get(invoice.id, ZERO)


def refund_payee(session: Session, refund: Refund) -> str:
    """Who a refund goes to: the group, or the sender of unidentified cash."""
    if refund.group_id is None:
        payer = refund.payment.payer_name or "the sender"
        return f"{payer} (unidentified cash, suspense item {refund.suspense_item_id})"
    group = session.get(EmployerGroup, refund.group_id)
    return f"{group.group_number} {group.name}"


def user_name(session: Session, user_id: int | None) -> str:
    """A staff member's name for a queue's "asked by" column ("—" for nobody)."""
    user = session.get(User, user_id) if user_id else None
    return user.full_name if user else "—"


def cleared_reviews(session: Session, limit: int = 10) -> list:
    """The payments most recently cleared from the reconciliation queue, with their group."""
    return list(session.execute(review.cleared_reviews_query().limit(limit)).all())
