"""Cancellation for non-payment and reinstatement (issue 20, item 7): the supervisor's
cancellation of a group pending cancellation, what it does to coverage and billing, the review
of the bills issued for periods after it (reversed by credit memo), and reinstatement.

- **Who**: cancelling, reversing the later bills and reinstating by hand are a supervisor's
  decisions (`authority`, checked here whoever calls: page, CLI or test). The plan's clock (the
  sweep) asked for the cancellation; the supervisor is the second pair of eyes. The sweep itself
  reinstates a group paid in full within the window (DOMAIN.md: reinstated = paid in full
  within the window), through the same `restore_coverage`.
- **Coverage** ends on `coverage_ends_on` (the plan's rule, states.coverage_end): every coverage
  of the group in force that day gets that last covered day (the field a termination sets),
  and what it had before is kept (CancelledCoverage). No retro credit is queued for the months
  after it: the bills of the months between the coverage end and the cancellation are the
  overdue the notices named (the cure amount), and the bills for periods after the
  cancellation date are listed for review and reversed by credit memo, so a credit for the
  same months would count them twice.
- **Billing** stops: the billing run does not bill a cancelled group for a period starting
  after its coverage end (`billing_hold`, said in the run's `not_due`).
- **Reinstatement** (within `reinstate_until`, paid in full: overdue at or under the plan's
  threshold) gives every ended coverage its last day back and bills the months missed while
  cancelled: every billing period after the coverage end whose scheduled issue date (period
  start less the policy's lead days) has passed is priced member by member
  (`retro.premium_differences`, so a month billed already adds nothing) as APPROVED
  adjustments that the next invoice bills in its retro section; the run then does not bill
  those periods again (`billed_through`). After the window the group stays cancelled.

Every step is audited and every state change goes through `states.move`. Flush only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from billing_core import audit
from billing_core.authority import DEFAULT_AUTHORITY_LIMIT, authority
from billing_core.billing.adjustments import bill_reinstated_months
from billing_core.billing.enrollment import add_months, month_end, month_start
from billing_core.billing.groups import coverages_running_past
from billing_core.billing.invoicing import (
    billing_period_for,
    invoice_payments_applied,
    void_invoice,
)
from billing_core.collections.overdue import position
from billing_core.collections.payment_plans import open_plan
from billing_core.collections.plans import moratorium_on, threshold
from billing_core.collections.states import SWEEP, coverage_end, delinquency_of, move
from billing_core.db import built_once, in_ids
from billing_core.errors import ValidationFailed
from billing_core.ledger import money_sum
from billing_core.models import (
    Adjustment,
    Coverage,
    CreditMemo,
    EmployerGroup,
    Invoice,
    Member,
    User,
)
from billing_core.models.collections import (
    CancelledCoverage,
    DelinquencyState,
    GroupCancellation,
    GroupDelinquency,
)
from billing_core.models.enums import InvoiceStatus
from billing_core.money import ZERO, format_dollars

S = DelinquencyState
SUPERVISOR_RULE = "only a supervisor or an admin decides it"
# How far the missed months are looked for after the coverage end (billing periods).
MISSED_PERIODS_MAX = 36


def check_supervisor(actor: User | None, what: str) -> None:
    """Raise AccessDenied unless `actor` may take `what` (a supervisor or an admin)."""
    authority(
        what=what, exposures=[], limit=DEFAULT_AUTHORITY_LIMIT, supervisor_because=SUPERVISOR_RULE
    ).check(actor)


def _who(actor: User | None) -> str:
    return actor.email if actor is not None else SWEEP


def latest_cancellation(session: Session, group_id: int) -> GroupCancellation | None:
    """The group's latest cancellation (reinstated or not), or None."""
    return session.scalar(_latest_cancellation(), {"group_id": group_id})


@built_once
def _latest_cancellation():
    """`latest_cancellation`'s statement, built once (db.built_once)."""
    return select(GroupCancellation).where(GroupCancellation.id == latest_cancellation_id())


def latest_cancellation_id():
    """The id of the latest cancellation of the group of the bindparam `group_id`, as a scalar
    subquery (NULL when it has none): `latest_cancellation`'s rule, for a statement that
    joins it to its own row (the payments page's account row)."""
    return (
        select(GroupCancellation.id)
        .where(GroupCancellation.group_id == bindparam("group_id"))
        .order_by(GroupCancellation.cancelled_on.desc(), GroupCancellation.id.desc())
        .limit(1)
        .scalar_subquery()
    )


# --------------------------------------------------------------------------- cancelling


def cancel_for_nonpayment(
    session: Session, group: EmployerGroup, *, on: date, actor: User | None, note: str = ""
) -> GroupCancellation:
    """Cancel a group pending cancellation for non-payment, decided by `actor` (a supervisor)
    on `on`: coverage ends per the plan's rule (the transition's effective date) on every
    coverage in force then, billing stops after it, the reinstatement window runs
    `reinstatement_days` from `on`, the cancellation notice goes out. Refused to anyone but a
    supervisor, while a moratorium covers the group's state, while a payment plan is in force,
    or unless pending cancellation (a second supervisor at the same moment waits for the row's
    lock and is told it is cancelled already). Audited. Returns the cancellation's record."""
    check_supervisor(actor, "cancelling a group for non-payment")
    delinquency_of(session, group.id)
    # Locked (PostgreSQL) and read afresh: a second supervisor confirming at the same moment
    # waits for the first and is then told the group is cancelled already.
    row = session.scalars(
        select(GroupDelinquency)
        .where(GroupDelinquency.group_id == group.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if row.state is S.CANCELLED and row.cancelled_on is not None:
        done = latest_cancellation(session, group.id)
        who = f" by {done.cancelled_by}" if done is not None else ""
        raise ValidationFailed(
            f"group {group.group_number} was cancelled for non-payment on {row.cancelled_on}"
            f"{who} already: nothing more to do (reload the page to see it)"
        )
    if row.state is not S.PENDING_CANCELLATION:
        raise ValidationFailed(
            f"group {group.group_number} is {row.state.value.replace('_', ' ')}, not pending "
            "cancellation"
        )
    in_force = open_plan(session, group.id)
    if in_force is not None:
        raise ValidationFailed(
            f"group {group.group_number} has a payment plan in force (made {in_force.starts_on}): "
            "cancel the plan first (saying why) or wait for the sweep to find it broken"
        )
    held = moratorium_on(session, group.state, on)
    if held is not None:
        ends = f" until {held.ends_on}" if held.ends_on else ""
        raise ValidationFailed(
            f"a moratorium in {held.jurisdiction}{ends} holds cancellations for non-payment "
            f"({held.reason}); the group stays pending cancellation"
        )
    plan = row.plan
    row.coverage_ends_on = coverage_end(session, row, on, plan.coverage_end_rule)
    row.cancelled_on = on
    row.reinstate_until = on + timedelta(days=plan.reinstatement_days)
    cancellation = GroupCancellation(
        group_id=group.id,
        episode=row.episode,
        cancelled_on=on,
        coverage_ends_on=row.coverage_ends_on,
        reinstate_until=row.reinstate_until,
        overdue=position(session, group.id, on).overdue,
        cancelled_by_id=actor.id,
        cancelled_by=actor.email,
        note=(note or "").strip()[:300],
    )
    session.add(cancellation)
    ended = _end_coverages(session, group, cancellation)
    move(
        session,
        row,
        S.CANCELLED,
        reason=f"cancelled for non-payment; coverage ends {row.coverage_ends_on}",
        effective_on=row.coverage_ends_on,
        as_of=on,
        actor=actor,
    )
    audit.record(
        session,
        "collections.cancelled",
        actor=actor,
        group_id=group.id,
        detail={
            "coverage_ends_on": row.coverage_ends_on.isoformat(),
            "reinstate_until": row.reinstate_until.isoformat(),
            "overdue": str(cancellation.overdue),
            "coverages_ended": ended,
            "episode": row.episode,
        },
    )
    from billing_core.collections.notices import send_stage_notice

    send_stage_notice(session, group, row, S.CANCELLED, on)
    session.flush()
    return cancellation


def _end_coverages(session: Session, group: EmployerGroup, cancellation: GroupCancellation) -> int:
    """Give every coverage of the group in force on the coverage end that day as its last
    covered day, keeping the day it had (a coverage starting later bills nothing: the run
    does not bill the group). Returns how many were ended."""
    ends = cancellation.coverage_ends_on
    coverages = coverages_running_past(session, group.id, ends)
    for coverage in coverages:
        cancellation.coverages.append(
            CancelledCoverage(coverage_id=coverage.id, effective_to_before=coverage.effective_to)
        )
        coverage.effective_to = ends
    session.flush()
    return len(coverages)


# --------------------------------------------------------------------------- billing


def billing_hold(
    cancellation: GroupCancellation | None, period_start: date, period_end: date
) -> str | None:
    """Why the billing run does not bill the period `period_start`-`period_end` of a group
    whose latest cancellation is `cancellation` (None: it bills it): cancelled and the period
    starts after the coverage end; or reinstated and the period's months were billed as the
    reinstatement's missed months."""
    if cancellation is None:
        return None
    if cancellation.reinstated_on is None:
        if period_start > cancellation.coverage_ends_on:
            return (
                f"cancelled for non-payment on {cancellation.cancelled_on:%b %-d, %Y}: "
                f"coverage ended {cancellation.coverage_ends_on:%b %-d, %Y}"
            )
        return None
    through = cancellation.billed_through
    if through is not None and cancellation.coverage_ends_on < period_start <= through:
        return (
            f"reinstated {cancellation.reinstated_on:%b %-d, %Y}: {period_start:%b %Y} is billed "
            "with the missed months on the next invoice"
        )
    return None


def billing_holds(session: Session, group_ids: list[int]) -> dict[int, GroupCancellation]:
    """The latest cancellation of each of `group_ids` that has one (for `billing_hold`)."""
    if not group_ids:
        return {}
    found: dict[int, GroupCancellation] = {}
    for cancellation in session.scalars(
        select(GroupCancellation)
        .where(in_ids(GroupCancellation.group_id, group_ids))
        .order_by(GroupCancellation.cancelled_on, GroupCancellation.id)
    ):
        found[cancellation.group_id] = cancellation
    return found


# --------------------------------------------------------------------------- the later bills


@dataclass(frozen=True)
class ReviewRow:
    """A bill issued for a period after the cancellation date: its new charges (what a credit
    memo would credit) and the payments applied to it (moved to unapplied cash before)."""

    invoice: Invoice
    charges: Decimal
    applied: Decimal


def invoices_after(session: Session, cancellation: GroupCancellation) -> list[ReviewRow]:
    """Every non-void bill of the group for a period starting after the cancellation date,
    oldest period first: the bills to review (reverse by credit memo, or keep)."""
    invoices = session.scalars(
        select(Invoice)
        .where(
            Invoice.group_id == cancellation.group_id,
            Invoice.status != InvoiceStatus.VOID,
            Invoice.period_start > cancellation.cancelled_on,
        )
        .order_by(Invoice.period_start, Invoice.id)
    ).all()
    return [
        ReviewRow(
            invoice,
            invoice.current_premium + invoice.retro_total + invoice.fees_total,
            invoice_payments_applied(session, invoice),
        )
        for invoice in invoices
    ]


def reverse_invoices_after(
    session: Session,
    group: EmployerGroup,
    invoice_ids: list[int],
    *,
    actor: User | None,
    on: date,
    reason: str = "",
    ip_address: str | None = None,
) -> list[CreditMemo]:
    """Reverse the bills `invoice_ids` of the group's cancellation review (each issued for a
    period after the cancellation date): a credit memo each, whose entry reverses the bill's
    (the ledger's own reversal, balanced); the bills themselves are not edited but voided
    (`billing.invoicing.void_invoice`). A supervisor's decision, refused for a bill not on the
    review, once reinstated, or for a bill with payments applied. Audited."""
    check_supervisor(actor, "reversing the bills issued after a cancellation")
    cancellation = latest_cancellation(session, group.id)
    if cancellation is None or cancellation.reinstated_on is not None:
        raise ValidationFailed(f"group {group.group_number} is not cancelled for non-payment")
    if not invoice_ids:
        raise ValidationFailed("choose the bills to reverse")
    review = {row.invoice.id: row for row in invoices_after(session, cancellation)}
    unknown = [i for i in invoice_ids if i not in review]
    if unknown:
        raise ValidationFailed(
            "only the bills issued for periods after the cancellation date can be reversed "
            "here; reload the page"
        )
    words = f"cancelled for non-payment on {cancellation.cancelled_on}"
    reason = (reason or "").strip()
    memos = []
    for invoice_id in sorted(set(invoice_ids), key=lambda i: review[i].invoice.period_start):
        invoice = review[invoice_id].invoice
        memos.append(
            void_invoice(
                session,
                invoice,
                reason=f"{words}: {reason}" if reason else words,
                actor=actor,
                on=on,
                ip_address=ip_address,
            )
        )
    audit.record(
        session,
        "collections.invoices_reversed",
        actor=actor,
        group_id=group.id,
        ip_address=ip_address,
        detail={
            "cancellation_id": cancellation.id,
            "credit_memos": [m.memo_number for m in memos],
            "amount": str(sum((m.amount for m in memos), ZERO)),
        },
    )
    session.flush()
    return memos


# --------------------------------------------------------------------------- reinstatement


def missed_months(session: Session, group: EmployerGroup, cancellation, on: date) -> list[date]:
    """The months of every billing period after the coverage end whose scheduled issue date
    (period start less the policy's lead days) is on or before `on`: what the run would have
    billed by now had the group not been cancelled (first days, oldest first)."""
    months: list[date] = []
    month = add_months(month_start(cancellation.coverage_ends_on), 1)
    for _ in range(MISSED_PERIODS_MAX):
        policy = group.policy_on(month) or group.policy_on(month_end(month))
        if policy is None:
            break
        start, end = billing_period_for(group, policy, month)
        if start != month:
            month = add_months(month, 1)
            continue
        if start - timedelta(days=policy.lead_days) > on:
            break
        while month <= end:
            months.append(month)
            month = add_months(month, 1)
    return months


def restore_coverage(
    session: Session, group: EmployerGroup, row: GroupDelinquency, *, on: date, actor: User | None
) -> GroupCancellation | None:
    """The reinstatement's work, for the sweep and for `reinstate`: every coverage the
    cancellation ended gets its last day back (unless changed since), the missed months are
    queued approved for the next invoice (`missed_months`, member by member), the
    cancellation is marked reinstated. Audited. None when the group has no open cancellation
    (nothing to restore). Does not move the state (the caller does, through `move`)."""
    cancellation = latest_cancellation(session, group.id)
    if cancellation is None or cancellation.reinstated_on is not None:
        return None
    members: set[int] = set()
    restored = 0
    for ended in cancellation.coverages:
        coverage = session.get(Coverage, ended.coverage_id)
        if coverage is None or coverage.effective_to != cancellation.coverage_ends_on:
            continue  # ended or changed since by a census: that later change stands
        coverage.effective_to = ended.effective_to_before
        members.add(coverage.member_id)
        restored += 1
    session.flush()
    months = missed_months(session, group, cancellation, on)
    queued = []
    if months:
        note = (
            f"reinstated {on} after the cancellation of {cancellation.cancelled_on}: months "
            "not billed while cancelled"
        )
        for member_id in sorted(members):
            queued += bill_reinstated_months(
                session,
                group,
                session.get(Member, member_id),
                months,
                cancellation_id=cancellation.id,
                decided_by_id=actor.id if actor is not None else None,
                note=note,
            )
    cancellation.reinstated_on = on
    cancellation.reinstated_by = _who(actor)
    cancellation.billed_through = month_end(months[-1]) if months else None
    total = sum((a.amount for a in queued), ZERO)
    audit.record(
        session,
        "collections.reinstated",
        actor=actor,
        actor_email=None if actor else SWEEP,
        group_id=group.id,
        detail={
            "cancellation_id": cancellation.id,
            "coverages_restored": restored,
            "missed_months": [m.isoformat() for m in months],
            "missed_premium": str(total),
            "adjustments": len(queued),
        },
    )
    session.flush()
    return cancellation


@dataclass(frozen=True)
class Reinstatement:
    """What a reinstatement did: the cancellation it undid, the months billed as missed and
    their premium (dollars, on the next invoice)."""

    cancellation: GroupCancellation | None
    months: list[date]
    missed_premium: Decimal


def reinstate(
    session: Session, group: EmployerGroup, *, on: date, actor: User | None
) -> Reinstatement:
    """A supervisor reinstates a cancelled group on `on` (without waiting for the sweep):
    refused after the reinstatement window, and unless paid in full (overdue at or under the
    plan's threshold). Coverage and billing are restored as `restore_coverage` says; the
    group moves to reinstated. Audited."""
    check_supervisor(actor, "reinstating a cancelled group")
    row = delinquency_of(session, group.id)
    if row.state is not S.CANCELLED:
        raise ValidationFailed(
            f"group {group.group_number} is {row.state.value.replace('_', ' ')}, not cancelled"
        )
    if row.reinstate_until is None or on > row.reinstate_until:
        until = f" closed on {row.reinstate_until:%b %-d, %Y}" if row.reinstate_until else ""
        raise ValidationFailed(
            f"the reinstatement window{until}: group {group.group_number} stays cancelled "
            "(refer the balance to collections)"
        )
    overdue = position(session, group.id, on).overdue
    limit = threshold(row.plan, group.policy_on(on))
    if overdue > limit:
        raise ValidationFailed(
            f"group {group.group_number} still owes {format_dollars(overdue)} overdue; it is "
            f"reinstated once paid in full (at most {format_dollars(limit)} left)"
        )
    cancellation = restore_coverage(session, group, row, on=on, actor=actor)
    move(
        session,
        row,
        S.REINSTATED,
        reason=f"reinstated by a supervisor: paid in full within the window (to "
        f"{row.reinstate_until})",
        effective_on=on,
        as_of=on,
        actor=actor,
    )
    session.flush()
    months = []
    if cancellation is not None and cancellation.billed_through is not None:
        months = missed_months(session, group, cancellation, on)
    premium = ZERO
    if cancellation is not None:
        premium = _missed_premium(session, cancellation)
    return Reinstatement(cancellation, months, premium)


def _missed_premium(session: Session, cancellation: GroupCancellation) -> Decimal:
    return session.scalar(
        select(money_sum(Adjustment.amount)).where(
            Adjustment.source_type == "reinstatement",
            Adjustment.source_id == cancellation.id,
        )
    )


# --------------------------------------------------------------------------- the staff page


@dataclass(frozen=True)
class Outlook:
    """What the group's collections page shows of cancellation on `on`: pending (the coverage
    end a cancellation would have, the window it would open), or the latest cancellation with
    its bills to review and whether it can still be reinstated."""

    state: DelinquencyState | None
    cancellation: GroupCancellation | None
    coverage_would_end: date | None = None
    window_days: int | None = None
    review: tuple[ReviewRow, ...] = ()
    reinstatable: bool = False  # cancelled and within the window
    paid_in_full: bool = False  # overdue at or under the plan's threshold

    @property
    def cancelled(self) -> bool:
        return self.cancellation is not None and self.cancellation.reinstated_on is None

    @property
    def review_total(self) -> Decimal:
        return sum((r.charges for r in self.review), ZERO)


def outlook(session: Session, group: EmployerGroup, on: date) -> Outlook:
    """The cancellation part of the group's collections page (read only)."""
    row = session.get(GroupDelinquency, group.id)
    cancellation = latest_cancellation(session, group.id)
    if row is None:
        return Outlook(None, cancellation)
    if row.state is S.PENDING_CANCELLATION and row.plan is not None:
        return Outlook(
            row.state,
            cancellation,
            coverage_would_end=coverage_end(session, row, on, row.plan.coverage_end_rule),
            window_days=row.plan.reinstatement_days,
        )
    if cancellation is None:
        return Outlook(row.state, None)
    open_ = cancellation.reinstated_on is None
    paid = row.plan is not None and position(session, group.id, on).overdue <= threshold(
        row.plan, group.policy_on(on)
    )
    return Outlook(
        row.state,
        cancellation,
        review=tuple(invoices_after(session, cancellation)) if open_ else (),
        reinstatable=open_ and row.state is S.CANCELLED and on <= cancellation.reinstate_until,
        paid_in_full=paid,
    )
