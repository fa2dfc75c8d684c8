"""Refunds of credit left on a payment, and of cash in suspense back to its sender. One staff
user requests, another approves (four eyes, billing_core.authority, enforced in the shape
refunds share with write-off requests: billing_core.payments.decisions; above the authority
limit a supervisor). Approval moves the money from the group's unapplied cash (or
suspense) to refunds payable; the refund is paid when the check is sent or, for card and ACH
debit payments, when Stripe confirms the refund (the gateway is called at approval with an
idempotency key)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core import audit, ledger, mail
from billing_core.authority import DEFAULT_AUTHORITY_LIMIT, Authority, Exposure, authority
from billing_core.errors import AccessDenied, PaymentError
from billing_core.ledger import Chart, Leg
from billing_core.models import EmployerGroup, Payment, Refund, SuspenseItem, User
from billing_core.models.enums import STAFF_ROLES, PaymentMethod, PaymentStatus, RefundStatus
from billing_core.money import cents, format_dollars
from billing_core.payments import decisions
from billing_core.payments.allocation import REFUND_HOLDS, lock_group, unallocated_amount
from billing_core.payments.clearing import clear_settled_reviews
from billing_core.payments.decisions import REFUND

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
    check_asker(actor, reason)
    if payment.group_id is None:
        raise PaymentError("a payment in suspense is refunded from the suspense workbench")
    lock_group(session, payment.group_id)
    available = refundable_amount(session, payment)
    if amount <= 0 or cents(amount) != amount or amount > available:
        raise PaymentError(
            f"this payment has {format_dollars(available)} of credit that can be refunded; "
            f"{format_dollars(amount)} was asked"
        )
    return write_refund_request(session, payment, amount, reason=reason, actor=actor)


def check_asker(actor: User, reason: str) -> None:
    """Who may ask for a refund (billing staff) and what they must say (a few words why)."""
    if actor.role not in STAFF_ROLES:
        raise AccessDenied("only billing staff can request a refund")
    if len((reason or "").strip()) < 5:
        raise PaymentError("give the reason for the refund (at least a few words)")


def write_refund_request(
    session: Session,
    payment: Payment,
    amount: Decimal,
    *,
    reason: str,
    actor: User,
    suspense_item: SuspenseItem | None = None,
) -> Refund:
    """The one place a refund request is written, once its checks passed (`request_refund`
    for a group's credit, `suspense.request_suspense_refund` for cash in suspense, which goes
    back to its sender: no group): REQUESTED, posting nothing, with its audit row."""
    refund = Refund(
        group_id=payment.group_id if suspense_item is None else None,
        payment_id=payment.id,
        suspense_item_id=suspense_item.id if suspense_item is not None else None,
        amount=amount,
        reason=reason.strip()[:300],
        requested_by_id=actor.id,
    )
    where = (
        {"suspense_item_id": suspense_item.id}
        if suspense_item is not None
        else {"payment_id": payment.id}
    )
    decisions.record_request(session, REFUND, refund, actor=actor, detail=where)
    return refund


def _approved_by(session: Session, actor: User, *, payment_id: int | None = None, on=None):
    """Dollars of refunds `actor` approved (from one payment, or on the day `on`, UTC)."""
    query = select(ledger.money_sum(Refund.amount)).where(
        Refund.decided_by_id == actor.id,
        Refund.status.in_([RefundStatus.APPROVED, RefundStatus.PAID]),
    )
    if payment_id is not None:
        query = query.where(Refund.payment_id == payment_id)
    if on is not None:
        start = datetime.combine(on, time.min, tzinfo=UTC)
        query = query.where(Refund.decided_at >= start, Refund.decided_at < start + timedelta(1))
    return session.scalar(query)


def refund_authority(
    session: Session,
    refund: Refund,
    approver: User,
    *,
    on: date,
    authority_limit: Decimal = DEFAULT_AUTHORITY_LIMIT,
) -> Authority:
    """Who may approve `refund`: never its requester; above the authority limit a supervisor,
    the limit measured on what its requester asks from the same payment (refunds not yet
    decided) and on what `approver` approves from the same payment and on the day `on`, this
    refund included, so a refund split into parts needs the same approver as the whole."""
    source = (
        f"suspense item {refund.suspense_item_id}"
        if refund.suspense_item_id
        else f"payment {refund.payment_id}"
    )
    asked = session.scalar(
        select(ledger.money_sum(Refund.amount)).where(
            Refund.payment_id == refund.payment_id,
            Refund.requested_by_id == refund.requested_by_id,
            Refund.status == RefundStatus.REQUESTED,
        )
    )
    exposures = [
        Exposure(asked, f"the refunds one person asks from {source}"),
        Exposure(
            _approved_by(session, approver, payment_id=refund.payment_id) + refund.amount,
            f"the refunds you approve from {source}, this one included,",
        ),
        Exposure(
            _approved_by(session, approver, on=on) + refund.amount,
            "the refunds you approve today, this one included,",
        ),
    ]
    return authority(
        what=f"a refund of {format_dollars(refund.amount)}",
        exposures=exposures,
        limit=authority_limit,
        requested_by=[refund.requested_by_id],
        second_person=True,
    )


def _decided(session: Session, refund: Refund) -> None:
    if refund.group_id is not None:
        mail.refund_decided(session, refund)


def reject_refund(session: Session, refund: Refund, *, actor: User, reason: str) -> None:
    """Someone other than the requester turns the refund down, with a reason; the credit (or
    the suspense item) stays."""
    decisions.reject(session, REFUND, refund, actor=actor, reason=reason)
    _decided(session, refund)
    session.flush()


def withdraw_refund(session: Session, refund: Refund, *, actor: User, reason: str) -> None:
    """The requester takes back a refund nobody has decided yet (asked in error, or the group
    wants the credit kept after all); the credit stays."""
    decisions.withdraw(session, REFUND, refund, actor=actor, reason=reason)
    session.flush()


def approve_refund(
    session: Session,
    refund: Refund,
    *,
    actor: User,
    on: date,
    note: str = "",
    gateway: RefundGateway | None = None,
    authority_limit: Decimal = DEFAULT_AUTHORITY_LIMIT,
) -> None:
    """Approve (by someone other than the requester; above the authority limit a supervisor,
    `refund_authority`): Dr unapplied cash, Cr refunds payable. A card or ACH debit payment is
    refunded through `gateway` at once; other methods wait for `mark_refund_paid` when the
    check goes out. A refund out of suspense: Dr suspense, Cr refunds payable (unidentified
    cash), and the suspense item is closed as refunded."""
    rule = refund_authority(session, refund, actor, on=on, authority_limit=authority_limit)
    if refund.suspense_item_id is not None:
        _approve_from_suspense(session, refund, actor=actor, on=on, note=note, rule=rule)
        return
    payment = refund.payment
    group = lock_group(session, refund.group_id)
    _approve(session, refund, actor, note, rule)
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


def _approve(session: Session, refund: Refund, actor: User, note: str, rule: Authority) -> None:
    decisions.approve(
        session, REFUND, refund, actor=actor, rule=rule, note=note.strip() or "approved"
    )
    _decided(session, refund)


def _approve_from_suspense(
    session: Session, refund: Refund, *, actor: User, on: date, note: str, rule: Authority
) -> None:
    from billing_core.payments.suspense import resolve_refunded

    item = session.get(SuspenseItem, refund.suspense_item_id)
    _approve(session, refund, actor, note, rule)
    resolve_refunded(session, item, refund, actor=actor, on=on)
    session.flush()


def mark_refund_paid(
    session: Session, refund: Refund, *, on: date, actor: User | None = None
) -> bool:
    """The money has left (check sent, or Stripe says the refund succeeded): Dr refunds payable,
    Cr cash. Idempotent: False when already paid."""
    if refund.status is RefundStatus.PAID:
        return False
    if refund.status is not RefundStatus.APPROVED:
        raise PaymentError("only an approved refund can be paid")
    if refund.group_id is None:  # out of suspense: to the sender no group was found for
        group = None
        payee = refund.payment.payer_name or f"the sender of payment {refund.payment_id}"
        payable = ledger.account(session, Chart.SUSPENSE_REFUNDS_PAYABLE)
    else:
        group = session.get(EmployerGroup, refund.group_id)
        payee = group.name
        payable = ledger.account(session, Chart.REFUNDS_PAYABLE, group)
    ledger.post_entry(
        session,
        entry_date=on,
        memo=f"Refund {refund.id} paid to {payee}"[:300],
        source_type="refund_paid",
        source_id=refund.id,
        idempotency_key=f"refund-{refund.id}-paid",
        created_by_id=actor.id if actor else None,
        legs=[
            Leg(payable, refund.amount),
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
        audit.record(
            session,
            "refund.paid",
            actor=actor,
            target=refund,
            group_id=group.id if group else None,
        )
    session.flush()
    return True
