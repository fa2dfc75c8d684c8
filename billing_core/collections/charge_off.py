"""Charge-off and recoveries (issue 20, item 8). A collector asks to charge off the open
receivable of a cancelled or referred group; nothing posts until a supervisor who did not ask
approves it (the four-eyes rule of billing_core.authority, in the request shape write-offs and
refunds share: billing_core.payments.decisions). The approval posts one balanced entry, Dr bad
debt, Cr the receivable on each open bill (so the kept balances close them), and moves the
group to charged off.

A recovery is money recovered on a delinquent balance, the net arriving as a real payment
through the payments path (`receipts.record_payment`), with the agency's fee (a collection
expense) when an agency collected it:
- after the charge-off: nothing is open, so the payment waits as unapplied cash; the recovery
  moves it to bad-debt recoveries (Dr unapplied cash net, Dr collection expense fee, Cr
  recoveries gross). The receivable stays closed and premium is untouched;
- before it (referred, still owing): the payments path already applied the net to the bills;
  the fee the agency kept was paid by the group too, so it is Dr collection expense, Cr the
  receivable on the oldest open bills.

Money in dollars, to the cent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_core import audit, ledger
from billing_core.authority import DEFAULT_AUTHORITY_LIMIT, Authority, authority
from billing_core.collections.states import delinquency_of, move
from billing_core.errors import AccessDenied, ValidationFailed
from billing_core.ledger import Chart, Leg
from billing_core.models import EmployerGroup, Invoice, Payment, User
from billing_core.models.collections import DelinquencyState
from billing_core.models.collections_legal import (
    ChargeOff,
    ChargeOffStatus,
    CollectionRecovery,
    CollectionReferral,
)
from billing_core.models.enums import STAFF_ROLES, PaymentStatus
from billing_core.money import ZERO, format_dollars
from billing_core.payments import decisions
from billing_core.payments.decisions import RequestKind

S = DelinquencyState
CHARGE_OFF = RequestKind(
    "charge-off request", "charge-off", "charge_off", "asked for the charge-off"
)
# The states a balance may be charged off from: cancelled for non-payment, or referred.
CHARGEABLE = (S.CANCELLED, S.REFERRED)


@dataclass(frozen=True)
class Receivable:
    """What a group owes now, in dollars: its bills with money open (oldest due first) and
    the credit it holds (unapplied cash, credit balances on bills)."""

    bills: list[tuple[Invoice, Decimal]]
    credit: Decimal

    @property
    def open(self) -> Decimal:
        return sum((owed for _, owed in self.bills), ZERO)


def receivable(session: Session, group: EmployerGroup) -> Receivable:
    """The group's open bills and credit, from the ledger."""
    from billing_core.payments.allocation import group_credit, open_balances

    balances = open_balances(session, group)
    bills = (
        list(
            session.scalars(
                select(Invoice)
                .where(Invoice.id.in_(list(balances)))
                .order_by(Invoice.due_on, Invoice.id)
            )
        )
        if balances
        else []
    )
    bill_credit = -ledger.account_balance(session, ledger.account(session, Chart.RECEIVABLE, group))
    bill_credit += sum(balances.values(), ZERO)  # credit items: receivable below the open bills
    return Receivable(
        [(i, balances[i.id]) for i in bills], group_credit(session, group) + bill_credit
    )


def charge_offs(session: Session, group_id: int) -> list[ChargeOff]:
    """The group's charge-off requests, newest first."""
    return list(
        session.scalars(
            select(ChargeOff).where(ChargeOff.group_id == group_id).order_by(ChargeOff.id.desc())
        )
    )


def charged_off(session: Session, group_id: int) -> ChargeOff | None:
    """The group's approved (posted) charge-off, if any."""
    return session.scalar(
        select(ChargeOff)
        .where(ChargeOff.group_id == group_id, ChargeOff.status == ChargeOffStatus.APPROVED)
        .order_by(ChargeOff.id.desc())
        .limit(1)
    )


def _check_chargeable(session: Session, group: EmployerGroup, owed: Receivable) -> None:
    row = delinquency_of(session, group.id)
    if row.state not in CHARGEABLE:
        raise ValidationFailed(
            f"group {group.group_number} is {row.state.value.replace('_', ' ')}: only a "
            "cancelled or referred group's balance is charged off"
        )
    if owed.credit > 0:
        raise ValidationFailed(
            f"the group holds {format_dollars(owed.credit)} of credit: apply it to its bills "
            "first, then charge off what is left"
        )
    if owed.open <= 0:
        raise ValidationFailed(f"group {group.group_number} owes nothing to charge off")


def request_charge_off(
    session: Session, group: EmployerGroup, *, on: date, reason: str, actor: User
) -> ChargeOff:
    """Ask to charge off the group's whole open receivable (dollars, as of now) on `on`:
    posts nothing; a supervisor who did not ask decides (`approve_charge_off`). Refused
    unless the group is cancelled or referred, owes something and holds no credit, or while
    another request of the group waits."""
    if actor.role not in STAFF_ROLES:
        raise AccessDenied("only billing staff ask for a charge-off")
    if len((reason or "").strip()) < 3:
        raise ValidationFailed("say why the balance is charged off")
    waiting = session.scalar(
        select(ChargeOff.id).where(
            ChargeOff.group_id == group.id, ChargeOff.status == ChargeOffStatus.REQUESTED
        )
    )
    if waiting is not None:
        raise ValidationFailed(f"charge-off request {waiting} of this group waits for a decision")
    owed = receivable(session, group)
    _check_chargeable(session, group, owed)
    request = ChargeOff(
        group_id=group.id,
        amount=owed.open,
        reason=reason.strip()[:300],
        requested_on=on,
        requested_by_id=actor.id,
    )
    decisions.record_request(
        session, CHARGE_OFF, request, actor=actor, detail={"reason": request.reason}
    )
    session.flush()
    return request


def approval_authority(request: ChargeOff) -> Authority:
    """A charge-off is always a supervisor's decision, never its requester's."""
    return authority(
        what=f"a charge-off of {format_dollars(request.amount)}",
        exposures=(),
        limit=DEFAULT_AUTHORITY_LIMIT,
        requested_by=[request.requested_by_id],
        second_person=True,
        supervisor_because="a charge-off to bad debt is always a supervisor's decision",
    )


def approve_charge_off(
    session: Session, request: ChargeOff, *, actor: User, on: date, note: str = ""
) -> ledger.JournalEntry:
    """A supervisor who did not ask approves: one entry dated `on`, Dr bad debt the amount,
    Cr the receivable on each open bill; the group moves to charged off. Refused (nothing
    posts) if what is open is no longer the amount asked (a payment came in: reject it and
    ask again)."""
    from billing_core.payments.allocation import lock_group

    decisions.check_waiting(CHARGE_OFF, request)
    approval_authority(request).check(actor)
    group = lock_group(session, request.group_id)
    owed = receivable(session, group)
    _check_chargeable(session, group, owed)
    if owed.open != request.amount:
        raise ValidationFailed(
            f"the group owes {format_dollars(owed.open)} now, not the "
            f"{format_dollars(request.amount)} asked: reject this request and ask again"
        )
    decisions.approve(
        session,
        CHARGE_OFF,
        request,
        actor=actor,
        rule=approval_authority(request),
        note=(note or "").strip() or "approved",
    )
    receivable_account = ledger.account(session, Chart.RECEIVABLE, group)
    entry = ledger.post_entry(
        session,
        entry_date=on,
        memo=f"Charge-off of {group.group_number} to bad debt: {request.reason}",
        source_type="charge_off",
        source_id=request.id,
        idempotency_key=f"charge-off-{request.id}",
        created_by_id=actor.id,
        legs=[
            Leg(ledger.account(session, Chart.BAD_DEBT), request.amount),
            *(Leg(receivable_account, -owed_on, invoice.id) for invoice, owed_on in owed.bills),
        ],
    )
    request.journal_entry_id = entry.id
    request.charged_off_on = on
    requester = session.get(User, request.requested_by_id)
    move(
        session,
        delinquency_of(session, group.id),
        S.CHARGED_OFF,
        reason=f"{format_dollars(request.amount)} charged off to bad debt (asked by "
        f"{requester.email}, approved by {actor.email})",
        effective_on=on,
        as_of=on,
        actor=actor,
    )
    session.flush()
    return entry


def reject_charge_off(session: Session, request: ChargeOff, *, actor: User, reason: str) -> None:
    """Someone other than the requester turns it down, with a reason; nothing moves."""
    decisions.reject(session, CHARGE_OFF, request, actor=actor, reason=reason)
    session.flush()


def withdraw_charge_off(session: Session, request: ChargeOff, *, actor: User, reason: str) -> None:
    """The requester takes back a request nobody decided yet."""
    decisions.withdraw(session, CHARGE_OFF, request, actor=actor, reason=reason)
    session.flush()


# --------------------------------------------------------------------------- recoveries


def recoveries(session: Session, group_id: int) -> list[CollectionRecovery]:
    """The group's recoveries, newest first."""
    return list(
        session.scalars(
            select(CollectionRecovery)
            .where(CollectionRecovery.group_id == group_id)
            .order_by(CollectionRecovery.received_on.desc(), CollectionRecovery.id.desc())
        )
    )


def record_recovery(
    session: Session,
    group: EmployerGroup,
    payment: Payment,
    *,
    on: date,
    actor: User,
    fee: Decimal = ZERO,
    referral: CollectionReferral | None = None,
    note: str = "",
) -> CollectionRecovery:
    """Record `payment` (the net cash, received through the payments path) as money recovered
    on the group's delinquent balance, with the agency's `fee` (dollars, kept out of what it
    collected; gross = payment + fee). See the module docstring for the postings before and
    after a charge-off. Refused for a payment not the group's, not received, already a
    recovery, or (after a charge-off) partly applied to bills."""
    from billing_core.payments.allocation import lock_group, unallocated_amount

    if actor.role not in STAFF_ROLES:
        raise AccessDenied("only billing staff record recoveries")
    if payment.group_id != group.id or payment.status is not PaymentStatus.SUCCEEDED:
        raise ValidationFailed("choose a payment this group made that has been received")
    if referral is not None and referral.group_id != group.id:
        raise ValidationFailed("that referral is another group's")
    if fee < 0:
        raise ValidationFailed("the agency's fee cannot be negative")
    taken = session.scalar(
        select(CollectionRecovery.id).where(CollectionRecovery.payment_id == payment.id)
    )
    if taken is not None:
        raise ValidationFailed(f"payment {payment.reference or payment.id} is already a recovery")
    lock_group(session, group.id)
    gross = payment.amount + fee
    after = charged_off(session, group.id) is not None
    expense = ledger.account(session, Chart.COLLECTION_EXPENSE)
    memo = f"Recovery on {group.group_number} (payment {payment.reference or payment.id})"
    if after:
        left = unallocated_amount(session, payment)
        if left != payment.amount:
            raise ValidationFailed(
                f"only {format_dollars(left)} of the payment's {format_dollars(payment.amount)} "
                "is unapplied: a recovery after the charge-off takes the whole payment"
            )
        legs = [Leg(ledger.account(session, Chart.UNAPPLIED_CASH, group), payment.amount)]
        if fee:
            legs.append(Leg(expense, fee))
        legs.append(Leg(ledger.account(session, Chart.RECOVERIES), -gross))
    else:
        owed = receivable(session, group)
        if fee > owed.open:
            raise ValidationFailed(
                f"the agency's fee of {format_dollars(fee)} is more than the "
                f"{format_dollars(owed.open)} the group still owes"
            )
        legs, left = ([Leg(expense, fee)] if fee else []), fee
        receivable_account = ledger.account(session, Chart.RECEIVABLE, group)
        for invoice, owed_on in owed.bills:
            if left <= 0:
                break
            part = min(left, owed_on)
            legs.append(Leg(receivable_account, -part, invoice.id))
            left -= part
    entry = (
        ledger.post_entry(
            session,
            entry_date=on,
            memo=memo,
            source_type="collection_recovery",
            source_id=payment.id,
            created_by_id=actor.id,
            legs=legs,
        )
        if legs
        else None
    )
    recovery = CollectionRecovery(
        group_id=group.id,
        referral_id=referral.id if referral else None,
        payment_id=payment.id,
        amount=gross,
        fee=fee,
        received_on=payment.received_on,
        after_charge_off=after,
        journal_entry_id=entry.id if entry else None,
        recorded_by_id=actor.id,
        recorded_by=actor.email,
        note=(note or "").strip()[:300],
    )
    session.add(recovery)
    session.flush()
    audit.record(
        session,
        "collections.recovery",
        actor=actor,
        target=recovery,
        group_id=group.id,
        detail={"amount": str(gross), "fee": str(fee), "after_charge_off": after},
    )
    return recovery


def decline_charge_off(session: Session, request: ChargeOff, *, actor: User, reason: str) -> str:
    """End a waiting request without posting: withdrawn when `actor` asked for it, else
    rejected (by anyone on the staff but the requester). Returns "withdrawn" or "rejected"."""
    if actor.id == request.requested_by_id:
        withdraw_charge_off(session, request, actor=actor, reason=reason)
        return "withdrawn"
    reject_charge_off(session, request, actor=actor, reason=reason)
    return "rejected"


def recoverable_payments(session: Session, group_id: int, limit: int = 30) -> list[Payment]:
    """The group's received payments a recovery may name, newest first: received since it was
    first referred (or, never referred, cancelled for non-payment) and not yet a recovery.
    None for a group neither referred nor cancelled."""
    from billing_core.models.collections import GroupDelinquency

    referred = session.scalar(
        select(func.min(CollectionReferral.referred_on)).where(
            CollectionReferral.group_id == group_id
        )
    )
    row = session.get(GroupDelinquency, group_id)
    since = referred or (row.cancelled_on if row is not None else None)
    if since is None:
        return []
    taken = select(CollectionRecovery.payment_id).where(CollectionRecovery.payment_id.is_not(None))
    return list(
        session.scalars(
            select(Payment)
            .where(
                Payment.group_id == group_id,
                Payment.status == PaymentStatus.SUCCEEDED,
                Payment.received_on >= since,
                Payment.id.not_in(taken),
            )
            .order_by(Payment.received_on.desc(), Payment.id.desc())
            .limit(limit)
        )
    )
