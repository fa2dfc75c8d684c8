"""Payment plans on a group's overdue balance (issue 20, item 6): `propose_schedule` (N equal
monthly installments, an optional down payment, the last installment taking the rounding
remainder), `make_plan` (staff, after confirming; the CLI could call it too) which pauses the
group's clock (`states.pause_clock`, reason "payment_plan", no end date), `cancel_plan`
(staff, audited: the clock resumes), and `check_payment_plans`, run by the daily sweep next to
`contacts.check_promises`, before the clock moves.

What the plan covers: the group's overdue balance on the day it is made (`Position.overdue`,
the cure amount: past-due bills less credits and open disputes), nothing more. The amounts
must add up to it exactly. Bills that fall due while the plan runs are not in it and must still
be paid: each installment is judged on the group's whole overdue balance, so a new bill left
unpaid counts against the plan exactly as a short installment does.

When an installment is met: the group's overdue balance (kept balances, bills due on or before
the installment's date, money as it stands) is at most what the plan still allows after it,
`balance - cumulative scheduled through it`. In other words the group has paid at least the
cumulative scheduled amount since the plan started, plus every bill that came due since. It
may be met early (paid ahead), on any sweep. It is missed when the sweep runs after its date
plus the plan's `grace_days` (GRACE_DAYS, 5 calendar days) and it is still short.

Deciding (`check_payment_plans`, idempotent and catch-up safe like check_promises): each open
installment is decided once, in order, met or missed, and stays so. A missed installment
breaks the plan: the clock resumes (`states.resume_clock`, only if it is still paused for the
plan) and the next sweep takes the group on from the dates it had (a cancellation date passed
during the plan is due at once); the break is audited and kept as a staff task (a
DelinquencyAction "task", unique per group, episode and plan), and the worklist puts the group
back on top (a call) until a contact is logged. Every installment met completes the plan: the
clock resumes and the group returns to current (the episode is over), so a bill that fell
due since, the last installment being decided late, starts a new episode from its own due
date rather than resuming the old episode's dates. A group that is back to current with the plan still open (what it owes past due is
within its tolerance) has its plan completed; one cancelled for non-payment or referred by
staff meanwhile has it cancelled. After a sweep that did not run for some days, the first one decides what each missed
day would have, with the money as it stands then (a payment that came in meanwhile counts, as
for a promise)."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, selectinload

from billing_core import audit
from billing_core.collections.contacts import paid_since
from billing_core.collections.overdue import position
from billing_core.collections.states import (
    RUNNING,
    SETTLED,
    delinquency_of,
    move,
    pause_clock,
    resume_clock,
)
from billing_core.db import built_once
from billing_core.errors import ValidationFailed
from billing_core.models import EmployerGroup, User
from billing_core.models.collections import ActionKind, DelinquencyAction, DelinquencyState
from billing_core.models.payment_plans import (
    InstallmentStatus,
    PaymentPlan,
    PaymentPlanInstallment,
    PaymentPlanStatus,
)
from billing_core.money import ZERO, cents, format_dollars

PAYMENT_PLAN = "payment_plan"
GRACE_DAYS = 5
MAX_INSTALLMENTS = 36
S = DelinquencyState
REASON_MAX = 300


@dataclass(frozen=True)
class Line:
    """One line of a schedule: `amount` dollars due on `due_on`."""

    due_on: date
    amount: Decimal
    down_payment: bool = False


def add_months(day: date, count: int) -> date:
    """The same day of the month `count` months later (the month's last day when it is
    shorter: Jan 31 + 1 month is Feb 28)."""
    index = day.year * 12 + (day.month - 1) + count
    year, month = index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def propose_schedule(
    balance: Decimal,
    count: int,
    first_on: date,
    *,
    down_payment: Decimal = ZERO,
    down_payment_on: date | None = None,
) -> list[Line]:
    """A proposal staff may edit: `down_payment` dollars on `down_payment_on` (when more than
    zero), then `count` monthly installments from `first_on` of the rest, each the rest / count
    rounded half-up to the cent, the last taking the remainder so they add up to `balance`
    exactly."""
    balance, down_payment = cents(Decimal(balance)), cents(Decimal(down_payment or 0))
    if count < 1 or count > MAX_INSTALLMENTS:
        raise ValidationFailed(f"choose between 1 and {MAX_INSTALLMENTS} installments")
    if down_payment < 0 or down_payment >= balance:
        raise ValidationFailed(
            f"a down payment must be more than $0.00 and less than the balance of "
            f"{format_dollars(balance)}"
        )
    lines = []
    if down_payment > 0:
        lines.append(Line(down_payment_on or first_on, down_payment, True))
    rest = balance - down_payment
    each = cents(rest / count)
    for k in range(count):
        amount = each if k < count - 1 else rest - each * (count - 1)
        lines.append(Line(add_months(first_on, k), amount))
    return lines


def schedule_proposal(
    balance: Decimal,
    count: int,
    first_on: date,
    *,
    down_payment: Decimal = ZERO,
    down_payment_on: date | None = None,
) -> tuple[list[Line], str | None]:
    """`propose_schedule` for a page that shows a proposal as it is asked for: the schedule and
    None, or no lines and why not in words (a proposal that cannot be made is not an error)."""
    try:
        lines = propose_schedule(
            balance, count, first_on, down_payment=down_payment, down_payment_on=down_payment_on
        )
    except ValidationFailed as error:
        return [], str(error)
    return lines, None


def check_schedule(lines: Sequence[Line], balance: Decimal, today: date) -> list[str]:
    """What is wrong with a schedule for `balance` dollars made on `today`, every problem at
    once (empty when none): amounts more than zero, dates today or later and each after the
    one before, a down payment only first, the total exactly the balance."""
    errors = []
    if not lines:
        return ["the schedule has no installment"]
    if len(lines) > MAX_INSTALLMENTS + 1:
        errors.append(f"a plan has at most {MAX_INSTALLMENTS} installments")
    for n, line in enumerate(lines, start=1):
        if line.amount <= 0:
            errors.append(f"line {n}: the amount must be more than $0.00")
        if line.due_on < today:
            errors.append(f"line {n}: {line.due_on} is in the past")
        if n > 1 and line.due_on <= lines[n - 2].due_on:
            errors.append(f"line {n}: {line.due_on} is not after the line before")
        if line.down_payment and n > 1:
            errors.append(f"line {n}: only the first line can be a down payment")
    total = sum((line.amount for line in lines), ZERO)
    if total != balance:
        errors.append(
            f"the installments add up to {format_dollars(total)}, not the overdue balance of "
            f"{format_dollars(balance)}: change them by {format_dollars(balance - total)}"
        )
    return errors


def open_plan(session: Session, group_id: int) -> PaymentPlan | None:
    """The group's plan in force, or None."""
    return session.scalar(_open_plan(), {"group_id": group_id})


@built_once
def _open_plan():
    """`open_plan`'s statement, built once (db.built_once: the employer's clock asks)."""
    return (
        select(PaymentPlan)
        .where(
            PaymentPlan.group_id == bindparam("group_id"),
            PaymentPlan.status == PaymentPlanStatus.OPEN,
        )
        .options(selectinload(PaymentPlan.installments))
    )


def plans(session: Session, group_id: int) -> list[PaymentPlan]:
    """The group's plans, newest first, with their installments."""
    return list(
        session.scalars(
            select(PaymentPlan)
            .where(PaymentPlan.group_id == group_id)
            .options(selectinload(PaymentPlan.installments))
            .order_by(PaymentPlan.id.desc())
        )
    )


def make_plan(
    session: Session,
    group: EmployerGroup,
    lines: Sequence[Line],
    *,
    actor: User,
    today: date,
    note: str = "",
    grace_days: int = GRACE_DAYS,
) -> PaymentPlan:
    """Put the group on a payment plan of `lines` (amounts in dollars adding up to its overdue
    balance today, the cure amount) and pause its clock until the plan ends. Refused unless
    the group is past due, in grace or pending cancellation with an overdue balance, while
    another plan is open or while a bankruptcy stays collection. Flush only; audited."""
    row = delinquency_of(session, group.id)
    if row.state not in RUNNING:
        raise ValidationFailed(
            f"group {group.group_number} is {row.state.value.replace('_', ' ')}: a payment plan "
            "is for a group past due, in grace or pending cancellation"
        )
    if row.paused_reason == "bankruptcy":
        raise ValidationFailed(
            "a bankruptcy filing stays collection for this group: no payment plan meanwhile"
        )
    existing = open_plan(session, group.id)
    if existing is not None:
        raise ValidationFailed(
            f"group {group.group_number} already has a payment plan in force (made "
            f"{existing.starts_on}): cancel it first"
        )
    balance = position(session, group.id, today).overdue
    if balance <= 0:
        raise ValidationFailed(f"group {group.group_number} has no overdue balance to plan")
    lines = [Line(line.due_on, cents(Decimal(line.amount)), line.down_payment) for line in lines]
    errors = check_schedule(lines, balance, today)
    if errors:
        raise ValidationFailed("; ".join(errors))
    plan = PaymentPlan(
        group_id=group.id,
        episode=row.episode,
        balance=balance,
        starts_on=today,
        grace_days=grace_days,
        status=PaymentPlanStatus.OPEN,
        made_by_id=actor.id,
        made_by=actor.email,
        note=(note or "").strip()[:REASON_MAX],
        closed_reason="",
    )
    cumulative = ZERO
    for seq, line in enumerate(lines, start=0 if lines[0].down_payment else 1):
        cumulative += line.amount
        plan.installments.append(
            PaymentPlanInstallment(
                seq=seq,
                due_on=line.due_on,
                amount=line.amount,
                cumulative=cumulative,
                down_payment=line.down_payment,
                status=InstallmentStatus.OPEN,
            )
        )
    session.add(plan)
    session.flush()
    audit.record(
        session,
        "collections.payment_plan_made",
        actor=actor,
        target=plan,
        group_id=group.id,
        detail={
            "balance": str(balance),
            "installments": [[i.due_on.isoformat(), str(i.amount)] for i in plan.installments],
        },
    )
    last = plan.installments[-1]
    pause_clock(
        session,
        group,
        PAYMENT_PLAN,
        until=None,
        actor=actor,
        note=f"payment plan of {format_dollars(balance)} in {len(lines)} installments to "
        f"{last.due_on}",
    )
    return plan


def cancel_plan(
    session: Session, plan: PaymentPlan, *, actor: User, today: date, reason: str
) -> PaymentPlan:
    """Withdraw an open plan (staff; the reason is required): the clock resumes from the dates
    it had. Flush only; audited."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("say why the plan is cancelled")
    if plan.status is not PaymentPlanStatus.OPEN:
        raise ValidationFailed(f"the plan is {plan.status.value}, not in force")
    plan.status, plan.decided_on, plan.closed_reason = (
        PaymentPlanStatus.CANCELLED, today, reason[:REASON_MAX]
    )  # fmt: skip
    audit.record(
        session,
        "collections.payment_plan_cancelled",
        actor=actor,
        target=plan,
        group_id=plan.group_id,
        detail={"reason": reason[:REASON_MAX], "on": today.isoformat()},
    )
    _resume(session, plan, actor, f"payment plan cancelled: {reason[:200]}")
    session.flush()
    return plan


def _resume(session: Session, plan: PaymentPlan, actor: User | None, note: str) -> None:
    if delinquency_of(session, plan.group_id).paused_reason == PAYMENT_PLAN:
        resume_clock(session, session.get(EmployerGroup, plan.group_id), actor=actor, note=note)


def allowed_after(plan: PaymentPlan, installment: PaymentPlanInstallment) -> Decimal:
    """What the group may still owe past due once `installment` is met."""
    return plan.balance - installment.cumulative


@dataclass
class PlanCheck:
    met: int = 0
    broken: int = 0
    completed: int = 0
    open: int = 0
    broken_group_ids: list[int] = field(default_factory=list)


def check_payment_plans(session: Session, as_of: date) -> PlanCheck:
    """Decide every open plan's installments as of `as_of` (see the module docstring); flush
    only. Returns how many installments were met and plans broken, completed or left open."""
    result = PlanCheck()
    open_plans = list(
        session.scalars(
            select(PaymentPlan)
            .where(PaymentPlan.status == PaymentPlanStatus.OPEN, PaymentPlan.starts_on <= as_of)
            .options(selectinload(PaymentPlan.installments))
            .order_by(PaymentPlan.id)
        )
    )
    for plan in open_plans:
        state = delinquency_of(session, plan.group_id).state
        if state not in RUNNING:
            _overtaken(session, plan, state, as_of)
            result.completed += state in SETTLED
            continue
        for installment in plan.installments:
            if installment.status is not InstallmentStatus.OPEN:
                continue
            # Bills due on or before the installment's date (or today, before it) count.
            bills_through = min(as_of, installment.due_on)
            overdue = position(session, plan.group_id, bills_through + timedelta(days=1)).overdue
            if overdue <= allowed_after(plan, installment):
                installment.status, installment.decided_on = InstallmentStatus.MET, as_of
                installment.overdue_then = overdue
                result.met += 1
                continue
            if as_of > installment.due_on + timedelta(days=plan.grace_days):
                installment.status, installment.decided_on = InstallmentStatus.MISSED, as_of
                installment.overdue_then = overdue
                _broken(session, plan, installment, overdue, as_of)
                result.broken += 1
                result.broken_group_ids.append(plan.group_id)
            break
        if plan.status is PaymentPlanStatus.OPEN:
            if all(i.status is InstallmentStatus.MET for i in plan.installments):
                _completed(session, plan, as_of)
                result.completed += 1
            else:
                result.open += 1
    session.flush()
    return result


def _broken(session, plan: PaymentPlan, installment, overdue: Decimal, as_of: date) -> None:
    plan.status, plan.decided_on = PaymentPlanStatus.BROKEN, as_of
    words = (
        f"installment {installment.seq} of {format_dollars(installment.amount)} due "
        f"{installment.due_on} missed: {format_dollars(overdue)} overdue, the plan allows "
        f"{format_dollars(allowed_after(plan, installment))}"
    )
    if installment.down_payment:
        words = words.replace(f"installment {installment.seq}", "the down payment", 1)
    plan.closed_reason = words[:REASON_MAX]
    audit.record(
        session,
        "collections.payment_plan_broken",
        actor_email="sweep",
        target=plan,
        group_id=plan.group_id,
        detail={
            "installment": installment.seq,
            "due_on": installment.due_on.isoformat(),
            "scheduled_through": str(installment.cumulative),
            "overdue": str(overdue),
            "paid_since_start": str(paid_since(session, plan.group_id, plan.starts_on, as_of)),
            "as_of": as_of.isoformat(),
        },
    )
    episode = delinquency_of(session, plan.group_id).episode
    task = (plan.group_id, episode, ActionKind.TASK, f"plan-{plan.id}-broken")
    exists = session.scalar(
        select(DelinquencyAction.id).where(
            DelinquencyAction.group_id == task[0],
            DelinquencyAction.episode == task[1],
            DelinquencyAction.kind == task[2],
            DelinquencyAction.key == task[3],
        )
    )
    if exists is None:
        session.add(
            DelinquencyAction(
                group_id=plan.group_id, episode=episode, kind=ActionKind.TASK, key=task[3],
                done_on=as_of, amount=overdue, subject=f"Payment plan broken: call ({words})"[:300],
                content={"plan_id": plan.id, "installment": installment.seq},
            )
        )  # fmt: skip
    _resume(session, plan, None, f"payment plan broken: {words}")


def _overtaken(session, plan: PaymentPlan, state, as_of: date) -> None:
    """The group left the running clock while the plan was open: back to current (what it
    owes past due is within its tolerance: the plan has done its work, completed) or moved on
    by staff (cancelled for non-payment, referred: the plan is cancelled)."""
    words = state.value.replace("_", " ")
    if state in SETTLED:
        plan.status, plan.closed_reason = (
            PaymentPlanStatus.COMPLETED, f"the group is {words}: what is overdue is within its "
            "tolerance"
        )  # fmt: skip
    else:
        plan.status, plan.closed_reason = PaymentPlanStatus.CANCELLED, f"the group is {words}"
    plan.decided_on = as_of
    audit.record(
        session,
        f"collections.payment_plan_{plan.status.value}",
        actor_email="sweep",
        target=plan,
        group_id=plan.group_id,
        detail={"state": state.value, "as_of": as_of.isoformat()},
    )
    _resume(session, plan, None, f"payment plan {plan.status.value}: the group is {words}")


def _completed(session, plan: PaymentPlan, as_of: date) -> None:
    plan.status, plan.decided_on = PaymentPlanStatus.COMPLETED, as_of
    plan.closed_reason = "every installment met"
    audit.record(
        session,
        "collections.payment_plan_completed",
        actor_email="sweep",
        target=plan,
        group_id=plan.group_id,
        detail={"balance": str(plan.balance), "as_of": as_of.isoformat()},
    )
    _resume(session, plan, None, "payment plan completed: every installment met")
    # The episode the plan settled ends here: a bill that fell due since (the sweep having
    # decided the last installment late) starts a new episode from its own due date.
    row = delinquency_of(session, plan.group_id)
    if row.state in RUNNING:
        move(
            session,
            row,
            S.CURRENT,
            reason=f"payment plan of {format_dollars(plan.balance)} completed: every "
            "installment met",
            effective_on=as_of,
            as_of=as_of,
        )


# --------------------------------------------------------------------------- what people see


@dataclass(frozen=True)
class PlanView:
    """A plan as the employer and staff see it on `on`: the next installment to pay (`next`,
    None when every one is met), what the group has paid since the plan started (succeeded
    payments received), what is still scheduled, and the last day the next one may be paid
    before it counts as missed (`last_day`)."""

    plan: PaymentPlan
    on: date
    paid: Decimal
    next: PaymentPlanInstallment | None
    met: int

    @property
    def scheduled_left(self) -> Decimal:
        return self.plan.balance - (
            self.plan.installments[self.met - 1].cumulative if self.met else ZERO
        )

    @property
    def last_day(self) -> date | None:
        if self.next is None:
            return None
        return self.next.due_on + timedelta(days=self.plan.grace_days)

    @property
    def count(self) -> int:
        return len(self.plan.installments)


def plan_view(session: Session, plan: PaymentPlan, on: date) -> PlanView:
    """`plan` as of `on` (see PlanView)."""
    open_ones = [i for i in plan.installments if i.status is InstallmentStatus.OPEN]
    met = sum(1 for i in plan.installments if i.status is InstallmentStatus.MET)
    return PlanView(
        plan=plan,
        on=on,
        paid=paid_since(session, plan.group_id, plan.starts_on, on),
        next=open_ones[0] if open_ones and plan.status is PaymentPlanStatus.OPEN else None,
        met=met,
    )
