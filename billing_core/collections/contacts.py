"""The collector's contact log and promises to pay (issue 20, item 5): `log_contact` records a
call, email, letter or meeting with its outcome and follow-up date (append-only); `take_promise`
records a group's promise to pay an amount by a date (refused when nothing is overdue) and pauses its collections clock to that
date (`states.pause_clock`, reason "promise"); `check_promises` (run first by the daily sweep)
decides each open promise:

- kept: the group has paid at least the promised amount since the day the promise was taken
  (its succeeded payments received from `taken_on` to the as-of date, returned or failed ones
  not counted), whenever that happens, on or before the promised date or after;
- broken: the promised date has passed (as-of date after it) short of the amount.

Either way the promise's pause ends (`states.resume_clock`, only if the clock is still paused
for a promise: a payment plan's or a bankruptcy's pause is not touched): a broken promise puts
the group back at the top of the worklist (billing_core.collections.worklist). A promise
decided stays decided, so a second run on the same day, or a later one, changes nothing.
Every contact and promise is audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_core import audit
from billing_core.collections.overdue import position
from billing_core.collections.states import delinquency_of, pause_clock, resume_clock
from billing_core.db import utcnow
from billing_core.errors import ValidationFailed
from billing_core.models import EmployerGroup, Payment, User
from billing_core.models.collections import (
    CollectionContact,
    ContactKind,
    PromiseStatus,
    PromiseToPay,
)
from billing_core.models.enums import PaymentStatus
from billing_core.money import ZERO, cents, format_dollars

PROMISE = "promise"
OUTCOME_MAX = 1000


def log_contact(
    session: Session,
    group: EmployerGroup,
    *,
    kind: ContactKind | str,
    outcome: str,
    actor: User,
    today: date,
    next_follow_up_on: date | None = None,
    at: datetime | None = None,
) -> CollectionContact:
    """Record a contact with `group` (flush only; audited). The outcome is required; the
    follow-up date may not be in the past. `at` defaults to now on `today` (the business day
    the pages and the sweep run as: today's UTC date in production)."""
    kind = ContactKind(kind)
    outcome = (outcome or "").strip()
    if not outcome:
        raise ValidationFailed("say what came of the contact")
    if len(outcome) > OUTCOME_MAX:
        raise ValidationFailed(f"the outcome is longer than {OUTCOME_MAX} characters")
    if next_follow_up_on is not None and next_follow_up_on < today:
        raise ValidationFailed(f"the follow-up date {next_follow_up_on} is in the past")
    row = delinquency_of(session, group.id)
    contact = CollectionContact(
        group_id=group.id,
        episode=row.episode,
        kind=kind,
        at=at or datetime.combine(today, utcnow().time(), tzinfo=UTC),
        by_id=actor.id,
        by=actor.email,
        outcome=outcome,
        next_follow_up_on=next_follow_up_on,
    )
    session.add(contact)
    session.flush()
    audit.record(
        session,
        "collections.contact_logged",
        actor=actor,
        target=contact,
        group_id=group.id,
        detail={
            "kind": kind.value,
            "next_follow_up_on": next_follow_up_on.isoformat() if next_follow_up_on else None,
        },
    )
    return contact


def take_promise(
    session: Session,
    group: EmployerGroup,
    *,
    amount: Decimal,
    promised_on: date,
    actor: User,
    today: date,
    note: str = "",
) -> PromiseToPay:
    """Record the group's promise to pay `amount` (dollars, > 0) by `promised_on` (today or
    later) and pause its clock to that date. An open promise of the group is cancelled (the new
    one replaces it). Flush only; audited."""
    amount = cents(Decimal(amount))
    if amount <= 0:
        raise ValidationFailed("the promised amount must be more than $0.00")
    if promised_on < today:
        raise ValidationFailed(f"the promised date {promised_on} is in the past")
    if position(session, group.id, today).overdue <= 0:
        raise ValidationFailed(
            f"group {group.group_number} has nothing overdue today: a promise to pay is taken "
            "for an overdue balance (log the call as a contact instead)"
        )
    row = delinquency_of(session, group.id)
    for earlier in session.scalars(
        select(PromiseToPay).where(
            PromiseToPay.group_id == group.id, PromiseToPay.status == PromiseStatus.OPEN
        )
    ):
        earlier.status, earlier.checked_on = PromiseStatus.CANCELLED, today
    promise = PromiseToPay(
        group_id=group.id,
        episode=row.episode,
        amount=amount,
        promised_on=promised_on,
        taken_by_id=actor.id,
        taken_by=actor.email,
        taken_on=today,
        status=PromiseStatus.OPEN,
        paid=ZERO,
        note=(note or "").strip()[:300],
    )
    session.add(promise)
    session.flush()
    audit.record(
        session,
        "collections.promise_taken",
        actor=actor,
        target=promise,
        group_id=group.id,
        detail={"amount": str(amount), "promised_on": promised_on.isoformat()},
    )
    pause_clock(
        session,
        group,
        PROMISE,
        until=promised_on,
        actor=actor,
        note=f"promise to pay {format_dollars(amount)} by {promised_on}",
    )
    return promise


def paid_since(session: Session, group_id: int, since: date, as_of: date) -> Decimal:
    """What the group paid (succeeded payments received from `since` to `as_of` inclusive)."""
    total = session.scalar(
        select(func.coalesce(func.sum(Payment.amount), 0)).where(
            Payment.group_id == group_id,
            Payment.status == PaymentStatus.SUCCEEDED,
            Payment.received_on >= since,
            Payment.received_on <= as_of,
        )
    )
    return cents(Decimal(total or 0))


@dataclass
class PromiseCheck:
    kept: int = 0
    broken: int = 0
    open: int = 0
    broken_group_ids: list[int] | None = None


def check_promises(session: Session, as_of: date) -> PromiseCheck:
    """Decide every open promise as of `as_of` (see the module docstring); flush only."""
    result = PromiseCheck(broken_group_ids=[])
    promises = list(
        session.scalars(
            select(PromiseToPay)
            .where(PromiseToPay.status == PromiseStatus.OPEN, PromiseToPay.taken_on <= as_of)
            .order_by(PromiseToPay.id)
        )
    )
    for promise in promises:
        paid = paid_since(session, promise.group_id, promise.taken_on, as_of)
        if paid != promise.paid:
            promise.paid = paid
        if paid >= promise.amount:
            status = PromiseStatus.KEPT
        elif as_of > promise.promised_on:
            status = PromiseStatus.BROKEN
        else:
            result.open += 1
            continue
        promise.status, promise.checked_on = status, as_of
        group = session.get(EmployerGroup, promise.group_id)
        audit.record(
            session,
            f"collections.promise_{status.value}",
            actor_email="sweep",
            target=promise,
            group_id=promise.group_id,
            detail={"amount": str(promise.amount), "paid": str(paid), "as_of": as_of.isoformat()},
        )
        if delinquency_of(session, group.id).paused_reason == PROMISE:
            resume_clock(
                session,
                group,
                actor=None,
                note=f"promise of {format_dollars(promise.amount)} by {promise.promised_on} "
                f"{status.value}: {format_dollars(paid)} paid",
            )
        if status is PromiseStatus.KEPT:
            result.kept += 1
        else:
            result.broken += 1
            result.broken_group_ids.append(promise.group_id)
    session.flush()
    return result


def contacts(session: Session, group_id: int) -> list[CollectionContact]:
    """The group's contacts, newest first."""
    return list(
        session.scalars(
            select(CollectionContact)
            .where(CollectionContact.group_id == group_id)
            .order_by(CollectionContact.id.desc())
        )
    )


def promises(session: Session, group_id: int) -> list[PromiseToPay]:
    """The group's promises, newest first."""
    return list(
        session.scalars(
            select(PromiseToPay)
            .where(PromiseToPay.group_id == group_id)
            .order_by(PromiseToPay.id.desc())
        )
    )
