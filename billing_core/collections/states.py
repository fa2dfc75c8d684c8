"""A group's delinquency state and its transitions: the one place GroupDelinquency changes
(`move`, which records every transition with its reason, effective date, as-of date and who),
the pause hook the later slices set (payment plans, promises, a bankruptcy's automatic stay),
and the coverage end a cancellation for non-payment would have (collections.cancellation
cancels).

States: current -> past_due (a bill unpaid after its due date, over the threshold) -> in_grace
(the grace notice sent) -> pending_cancellation (grace over and the notice period served, no
moratorium) -> cancelled (by a supervisor, collections.cancellation: coverage ends per the
plan's rule, billing stops) -> reinstated (paid in full within the reinstatement window) or
referred -> charged_off (later slices). Paid (overdue at or under the threshold) before cancellation: back to current."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core import audit
from billing_core.db import utcnow
from billing_core.models import EmployerGroup, Invoice, User
from billing_core.models.collections import (
    CoverageEndRule,
    DelinquencyState,
    DelinquencyTransition,
    GroupDelinquency,
)
from billing_core.models.ledger import KeptOpenItem

S = DelinquencyState
# States whose clock runs: the sweep moves them on, and a payment brings them back to current.
RUNNING = frozenset({S.PAST_DUE, S.IN_GRACE, S.PENDING_CANCELLATION})
# States a new episode may start from.
SETTLED = frozenset({S.CURRENT, S.REINSTATED})
SWEEP = "sweep"
PAUSE_REASONS = ("payment_plan", "promise", "bankruptcy")


def delinquency_of(session: Session, group_id: int) -> GroupDelinquency:
    """The group's delinquency row, made (current, episode 0) when it has none yet."""
    row = session.get(GroupDelinquency, group_id)
    if row is None:
        row = GroupDelinquency(group_id=group_id, state=S.CURRENT, episode=0)
        session.add(row)
        session.flush()
    return row


def move(
    session: Session,
    row: GroupDelinquency,
    to: DelinquencyState,
    *,
    reason: str,
    effective_on: date,
    as_of: date,
    actor: User | None = None,
) -> DelinquencyTransition:
    """Move the group to `to` and record it (flush only): `effective_on` is the day the plan's
    rules date it, `as_of` the day it was decided; `actor` a user, or the sweep when None."""
    transition = DelinquencyTransition(
        group_id=row.group_id,
        episode=row.episode,
        from_state=row.state,
        to_state=to,
        reason=reason[:300],
        effective_on=effective_on,
        as_of=as_of,
        actor_id=actor.id if actor is not None else None,
        actor=actor.email if actor is not None else SWEEP,
    )
    session.add(transition)
    row.state = to
    row.changed_at = utcnow()
    return transition


def history(session: Session, group_id: int) -> list[DelinquencyTransition]:
    """Every transition of the group, oldest first."""
    return list(
        session.scalars(
            select(DelinquencyTransition)
            .where(DelinquencyTransition.group_id == group_id)
            .order_by(DelinquencyTransition.id)
        )
    )


# --------------------------------------------------------------------------- the pause hook


def clock_paused(row: GroupDelinquency, on: date) -> str | None:
    """Why the group's clock stands still on `on` (a payment plan, a promise to pay, a
    bankruptcy's automatic stay), or None. While paused the sweep sends no notice, charges no
    fee and moves the group nowhere but back to current when it is paid."""
    if row.paused_reason and (row.paused_until is None or on <= row.paused_until):
        return row.paused_reason
    return None


def pause_clock(
    session: Session,
    group: EmployerGroup,
    reason: str,
    *,
    until: date | None,
    actor: User | None,
    note: str = "",
) -> GroupDelinquency:
    """Stop the group's clock for `reason` (PAUSE_REASONS) until `until` inclusive (None: until
    `resume_clock`); the later slices call this when a payment plan or a promise is made or a
    bankruptcy is filed. Audited."""
    if reason not in PAUSE_REASONS:
        raise ValueError(f"{reason!r} is not a reason to pause the clock")
    row = delinquency_of(session, group.id)
    row.paused_reason, row.paused_until = reason, until
    audit.record(
        session,
        "collections.paused",
        actor=actor,
        actor_email=None if actor else SWEEP,
        group_id=group.id,
        detail={"reason": reason, "until": until.isoformat() if until else None, "note": note},
    )
    session.flush()
    return row


def resume_clock(session: Session, group: EmployerGroup, *, actor: User | None, note: str = ""):
    """Start the group's clock again (a broken promise, a missed installment, a stay lifted):
    the next sweep takes it on from the dates it had."""
    row = delinquency_of(session, group.id)
    if row.paused_reason is None:
        return row
    audit.record(
        session,
        "collections.resumed",
        actor=actor,
        actor_email=None if actor else SWEEP,
        group_id=group.id,
        detail={"reason": row.paused_reason, "note": note},
    )
    row.paused_reason, row.paused_until = None, None
    session.flush()
    return row


# --------------------------------------------------------------------------- cancellation


def oldest_unpaid(session: Session, group_id: int, as_of: date) -> Invoice | None:
    """The group's oldest bill (by due date) still owing and due before `as_of`, from the kept
    open items; under a bankruptcy stay, the oldest post-petition one (a pre-petition bill
    is not what coverage ends for)."""
    from billing_core.collections.bankruptcy import stays

    query = (
        select(Invoice)
        .join(KeptOpenItem, KeptOpenItem.invoice_id == Invoice.id)
        .where(
            KeptOpenItem.group_id == group_id,
            KeptOpenItem.open_amount > 0,
            KeptOpenItem.due_on < as_of,
        )
        .order_by(KeptOpenItem.due_on, Invoice.period_start, Invoice.id)
        .limit(1)
    )
    filed = stays(session, [group_id], on=as_of).get(group_id)
    if filed is not None:
        query = query.where(Invoice.period_start >= filed)
    return session.scalar(query)


def coverage_end(
    session: Session,
    row: GroupDelinquency,
    as_of: date,
    rule: CoverageEndRule,
    oldest: Invoice | None = None,
) -> date | None:
    """The last day of coverage if the group is cancelled for non-payment: the day before the
    first month of the oldest unpaid bill (`oldest`, read when not given; the last day of the
    last month paid in full), or the last day of grace under CoverageEndRule.GRACE_END."""
    if rule is CoverageEndRule.GRACE_END:
        return row.grace_ends_on
    if oldest is None:
        oldest = oldest_unpaid(session, row.group_id, as_of)
    if oldest is None:
        return row.grace_ends_on
    return oldest.period_start.replace(day=1) - timedelta(days=1)


def cancel_for_nonpayment(
    session: Session, group: EmployerGroup, *, on: date, actor: User | None, note: str = ""
):
    """A supervisor cancels a group pending cancellation for non-payment: see
    `collections.cancellation.cancel_for_nonpayment` (kept here under its first name)."""
    from billing_core.collections import cancellation

    return cancellation.cancel_for_nonpayment(session, group, on=on, actor=actor, note=note)
