"""The delinquency clock as the employer's HR administrator sees it (issue 20, item 4): what is
overdue, the cure amount, the date of the next step and what happens then, a moratorium's hold
or a paused clock, and the group's notices.

One read model, computed from the functions the sweep and the notice use (overdue.position's
figures for the money, read with the rest in one statement and put together by
overdue.position_from; clock.py for the dates, states.coverage_end for the coverage end,
plans.threshold and plans.moratorium_on), so the page and the notice cannot disagree: the cure
amount here is `Position.overdue` on the day asked, the figure a notice sent that day says.
The views only render it. Read only: nothing here changes the group's state (the sweep does).
A late group's clock is two statements (issue 19: the employer's two busiest pages ask)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Date, and_, bindparam, exists, func, or_, select
from sqlalchemy.orm import Session, aliased, load_only

from billing_core.collections import clock
from billing_core.collections.bankruptcy import STAYING
from billing_core.collections.notices import notices, notices_seen
from billing_core.collections.overdue import Position, position_from, stayed_bill
from billing_core.collections.payment_plans import open_plan, plan_view
from billing_core.collections.plans import moratorium_on, threshold
from billing_core.collections.states import RUNNING, clock_paused, coverage_end
from billing_core.db import built_once
from billing_core.ledger import Chart, money_sum
from billing_core.models import BillingPolicy, EmployerGroup, Invoice
from billing_core.models.collections import (
    ActionKind,
    DelinquencyAction,
    DelinquencyDispute,
    DelinquencyPlan,
    DelinquencyState,
    DelinquencyTransition,
    GroupDelinquency,
    Moratorium,
)
from billing_core.models.collections_legal import BankruptcyFiling
from billing_core.models.ledger import KeptBalance, KeptOpenItem
from billing_core.models.payment_plans import PaymentPlan, PaymentPlanStatus

S = DelinquencyState
# States the employer is told about: the clock running, or cancelled (reinstatement open).
SHOWN = frozenset({*RUNNING, S.CANCELLED})
# A reinstatement is mentioned on the dashboard for this many days after it.
REINSTATED_SHOWN_DAYS = 60
PAUSE_WORDS = {
    "payment_plan": "a payment plan",
    "promise": "your promise to pay",
    "bankruptcy": "a bankruptcy filing",
}
STAGE_WORDS = {
    S.IN_GRACE.value: "Grace period notice",
    S.PENDING_CANCELLATION.value: "Final notice before cancellation",
    S.CANCELLED.value: "Cancellation notice",
}


@dataclass(frozen=True)
class OverdueBill:
    """A bill past due on the day: its invoice and what is still open on it."""

    invoice_id: int
    invoice_number: str
    subgroup_id: int | None
    due_on: date
    open_amount: Decimal
    period_start: date


@dataclass(frozen=True)
class EmployerClock:
    """Where the group stands on `on`. `cure_amount` is what to pay now (overdue bills less
    credits and open disputes: overdue.Position.overdue, the notice's cure amount);
    `caught_up` when it is at or under the plan's threshold while the clock still runs (the
    next sweep brings the group back to current). `bills`: the overdue bills to collect,
    oldest due first (none a bankruptcy stay holds: those are `position.stayed`).

    The next step and its date, by state: past due: the grace notice (`notice_on`); in grace:
    cancellation possible from `cancellable_from` unless paid by `pay_by`; pending
    cancellation: cancellation by the carrier, any day now; cancelled: coverage ended on
    `coverage_ends_on`, reinstated if paid by `reinstate_until`. `held_until`/`held_by`: a
    moratorium stops cancellation (None `held_until`: until lifted); `paused`: why the clock
    stands still (a payment plan, a promise, a bankruptcy) until `paused_until`.
    `arrangement`: the payment plan in force (payment_plans.PlanView: its next installment,
    what was paid since it started), or None."""

    state: DelinquencyState
    on: date
    position: Position
    threshold: Decimal
    bills: tuple[OverdueBill, ...]
    grace_starts_on: date | None
    grace_ends_on: date | None
    notice_on: date | None
    notice_sent: bool
    cancellable_from: date | None
    coverage_ends_on: date | None
    cancelled_on: date | None
    reinstate_until: date | None
    moratorium: Moratorium | None
    paused: str | None
    paused_until: date | None
    latest_notice: DelinquencyAction | None
    reinstated_on: date | None = None
    arrangement: object | None = field(default=None)

    @property
    def cure_amount(self) -> Decimal:
        return self.position.overdue

    @property
    def caught_up(self) -> bool:
        return self.state in RUNNING and self.cure_amount <= self.threshold

    @property
    def pay_by(self) -> date | None:
        """The last day a payment stops the cancellation from starting: the day before the
        group may be cancelled."""
        if self.cancellable_from is None:
            return None
        return self.cancellable_from - timedelta(days=1)

    @property
    def reinstatement_open(self) -> bool:
        return self.reinstate_until is not None and self.on <= self.reinstate_until

    @property
    def held_until(self) -> date | None:
        return self.moratorium.ends_on if self.moratorium is not None else None

    @property
    def held_open_ended(self) -> bool:
        """A moratorium with no end date holds the cancellation: there is no date to say."""
        return self.moratorium is not None and self.moratorium.ends_on is None

    @property
    def paused_words(self) -> str | None:
        return PAUSE_WORDS.get(self.paused, self.paused) if self.paused else None

    @property
    def notice_amount_differs(self) -> bool:
        """The latest notice asked for another amount (a payment, a credit or a bill that came
        due since): the page says both, and which one counts now."""
        return self.latest_notice is not None and self.latest_notice.amount != self.cure_amount

    @property
    def reinstated(self) -> bool:
        return self.state is S.REINSTATED


@built_once
def _clock_facts():
    """What the clock reads, in one statement built once (the employer's dashboard and
    invoice page ask on every view): a row per bill of the group (`group_id`) past due on `on`
    (due before it, still open: the notice's list of overdue bills), oldest first, or one row
    with no bill; each with the plan of the group's delinquency row, its latest notice of the
    episode (as `notices` orders them), its billing policy in force on `on` (as
    EmployerGroup.policy_on), the day it was reinstated in the episode, the figures of its
    overdue.Position besides its bills (as overdue.positions reads them: unapplied cash,
    credits left on bills, open disputes; the bankruptcy stay's filing date as
    bankruptcy.stays), whether a moratorium of `jurisdiction` may hold it on or after `on` and
    whether it has an open payment plan (each then read by its own function). The notice and
    the policy come with the columns the clock reads only (the others load when asked for)."""
    # Short names and those few columns keep its text under psycopg's 4,096 bytes, past which
    # psycopg parses it again on every execution (tests/unit/collections/
    # test_employer_clock_reads.py holds it there).
    row, on = aliased(GroupDelinquency, name="gd"), bindparam("on", type_=Date)
    plan = aliased(DelinquencyPlan, name="plan")
    notice = aliased(DelinquencyAction, name="notice")
    policy = aliased(BillingPolicy, name="policy")
    item, bill = aliased(KeptOpenItem, name="item"), aliased(Invoice, name="bill")
    group_id = row.group_id
    latest_notice = (
        select(DelinquencyAction.id)
        .where(DelinquencyAction.group_id == group_id, DelinquencyAction.episode == row.episode,
               DelinquencyAction.kind == ActionKind.NOTICE)
        .order_by(DelinquencyAction.done_on.desc(), DelinquencyAction.id.desc())
        .limit(1)
    )  # fmt: skip
    policy_in_force = (
        select(BillingPolicy.id)
        .where(BillingPolicy.group_id == group_id, BillingPolicy.effective_from <= on,
               or_(BillingPolicy.effective_to.is_(None), BillingPolicy.effective_to >= on))
        .order_by(BillingPolicy.effective_from.desc())
        .limit(1)
    )  # fmt: skip
    reinstated_on = (
        select(DelinquencyTransition.effective_on)
        .where(DelinquencyTransition.group_id == group_id,
               DelinquencyTransition.episode == row.episode,
               DelinquencyTransition.to_state == S.REINSTATED)
        .order_by(DelinquencyTransition.id.desc())
        .limit(1)
    )  # fmt: skip
    unapplied_cash = select(money_sum(-KeptBalance.balance)).where(
        KeptBalance.group_id == group_id,
        KeptBalance.code == Chart.UNAPPLIED_CASH.code,
        KeptBalance.balance < 0,
    )
    bill_credits = select(money_sum(-KeptOpenItem.open_amount)).where(
        KeptOpenItem.group_id == group_id, KeptOpenItem.open_amount < 0
    )
    disputed = select(money_sum(DelinquencyDispute.amount)).where(
        DelinquencyDispute.group_id == group_id,
        DelinquencyDispute.resolved_on.is_(None),
        DelinquencyDispute.opened_on <= on,
    )
    filed_on = select(func.max(BankruptcyFiling.filed_on)).where(
        BankruptcyFiling.group_id == group_id,
        # Each status its own comparison: an IN list would be expanded into the text anew on
        # every execution.
        or_(*(BankruptcyFiling.status == status for status in STAYING)),
        BankruptcyFiling.filed_on <= on,
    )
    moratorium_ahead = exists().where(
        Moratorium.jurisdiction == bindparam("jurisdiction"),
        or_(Moratorium.ends_on.is_(None), Moratorium.ends_on >= on),
    )
    open_plan = exists().where(
        PaymentPlan.group_id == group_id, PaymentPlan.status == PaymentPlanStatus.OPEN
    )
    scalars = (reinstated_on, unapplied_cash, bill_credits, disputed, filed_on)
    return (
        select(
            plan,
            notice,
            policy,
            *(s.correlate(row).scalar_subquery() for s in scalars),
            moratorium_ahead.correlate(row),
            open_plan.correlate(row),
            # OverdueBill's fields
            bill.id, bill.invoice_number, bill.subgroup_id, bill.due_on, item.open_amount,
            bill.period_start,
        )
        .select_from(row)
        .outerjoin(plan, plan.id == row.plan_id)
        .outerjoin(notice, notice.id == latest_notice.correlate(row).scalar_subquery())
        .outerjoin(policy, policy.id == policy_in_force.correlate(row).scalar_subquery())
        .outerjoin(item, and_(item.group_id == group_id, item.open_amount > 0, item.due_on < on))
        .outerjoin(bill, bill.id == item.invoice_id)
        .where(row.group_id == bindparam("group_id"))
        .order_by(item.due_on, bill.period_start, bill.id)
        .options(
            load_only(notice.id, notice.group_id, notice.episode, notice.kind, notice.done_on,
                      notice.amount),
            load_only(policy.id, policy.tolerance_amount),
        )
    )  # fmt: skip


def employer_clock(session: Session, group: EmployerGroup, on: date) -> EmployerClock | None:
    """The group's clock on `on` as its employer sees it, or None when there is nothing to say
    (current, never late, or reinstated more than REINSTATED_SHOWN_DAYS ago; referred and
    charged-off groups are the staff's to explain). One statement for a group with nothing to
    say, two for a late one (its delinquency row, then `_clock_facts`), one more for a
    moratorium that may hold it and three for an open payment plan; computed afresh on every
    call (nothing kept)."""
    # The row first, on its own: a current group (most of them, outside the load test) needs
    # nothing more, and this statement is the cheapest way to know.
    row = session.get(GroupDelinquency, group.id)
    if row is None or row.plan_id is None:
        return None
    if row.state is not S.REINSTATED and row.state not in SHOWN:
        return None
    rows = session.execute(
        _clock_facts(), {"group_id": group.id, "on": on, "jurisdiction": group.state}
    ).all()
    if not rows:  # gone since
        return None
    (plan, latest, policy, reinstated_on, cash, bill_credits, disputed, filed_on,
     moratorium_ahead, has_open_plan) = rows[0][:10]  # fmt: skip
    if row.state is not S.REINSTATED:
        reinstated_on = None
    elif reinstated_on is None or on > reinstated_on + timedelta(days=REINSTATED_SHOWN_DAYS):
        return None
    overdue = [OverdueBill(*r[10:]) for r in rows if r[10] is not None]
    # The bills to collect: those a bankruptcy stay holds are out of the count, the remit
    # reference and the pay link, as out of the notice (the position counts them as stayed).
    bills = tuple(b for b in overdue if not stayed_bill(b.period_start, filed_on))
    pos = position_from(
        group.id,
        ((b.period_start, b.due_on, b.open_amount) for b in overdue),
        bill_credits=bill_credits,
        unapplied_cash=cash,
        disputed=disputed,
        filed_on=filed_on,
    )
    paused = clock_paused(row, on) if row.state in RUNNING else None

    notice_on, cancellable_from = row.notice_sent_on, row.terminates_on
    if row.state is S.PAST_DUE and row.grace_starts_on is not None:
        # Not sent yet: due on its day, sent by the first sweep from then (today at the
        # earliest); cancellation then follows the notice by the plan's rule.
        notice_on = max(clock.notice_due_on(plan, row.grace_starts_on), on)
        if row.grace_ends_on is not None:
            cancellable_from = clock.terminates_on(plan, row.grace_ends_on, notice_on)
    moratorium = None
    if row.state in RUNNING and moratorium_ahead:
        moratorium = moratorium_on(session, group.state, max(on, cancellable_from or on))
        if moratorium is not None and cancellable_from is not None:
            if moratorium.ends_on is not None:
                cancellable_from = max(cancellable_from, moratorium.ends_on + timedelta(days=1))
    coverage_ends = row.coverage_ends_on
    if coverage_ends is None and row.state in RUNNING:
        # Coverage ends for the oldest overdue bill a stay does not hold, as the notice and the
        # cancellation say (its period is all coverage_end reads of it; none: coverage_end
        # looks, and finds none).
        coverage_ends = coverage_end(
            session, row, on, plan.coverage_end_rule, next(iter(bills), None)
        )
    return EmployerClock(
        state=row.state,
        on=on,
        position=pos,
        threshold=threshold(plan, policy),
        bills=bills,
        grace_starts_on=row.grace_starts_on,
        grace_ends_on=row.grace_ends_on,
        notice_on=notice_on,
        notice_sent=row.notice_sent_on is not None,
        cancellable_from=cancellable_from,
        coverage_ends_on=coverage_ends,
        cancelled_on=row.cancelled_on,
        reinstate_until=row.reinstate_until,
        moratorium=moratorium,
        paused=paused,
        paused_until=row.paused_until if paused else None,
        latest_notice=latest,
        reinstated_on=reinstated_on,
        arrangement=_arrangement(session, group.id, row, on) if has_open_plan else None,
    )


def _arrangement(session: Session, group_id: int, row: GroupDelinquency, on: date):
    """The payment plan in force while the clock runs (or is paused for it), or None."""
    if row.state not in RUNNING:
        return None
    plan = open_plan(session, group_id)
    return plan_view(session, plan, on) if plan is not None else None


# --------------------------------------------------------------------------- notices


def stage_words(action: DelinquencyAction) -> str:
    """What a kept notice is, in plain words."""
    stage = (action.content or {}).get("stage", "")
    if action.kind is ActionKind.NOTICE:
        return STAGE_WORDS.get(stage, "Past-due notice")
    return "Reminder letter" if action.kind is ActionKind.LETTER else "Reminder e-mail"


def group_notices(
    session: Session, group_id: int, subgroup_ids: frozenset[int] | None = None
) -> list[DelinquencyAction]:
    """The group's notices and reminder letters, newest first, that the user sees."""
    return notices_seen(session, group_id, notices(session, group_id), subgroup_ids)


def group_notice(
    session: Session, group_id: int, notice_id: int, subgroup_ids: frozenset[int] | None = None
) -> DelinquencyAction | None:
    """One notice of the group the user sees, or None (another group's, a fee or a task, or
    one naming a bill of a location the user does not look after)."""
    action = session.get(DelinquencyAction, notice_id)
    if action is None or action.group_id != group_id:
        return None
    if action.kind not in (ActionKind.NOTICE, ActionKind.EMAIL, ActionKind.LETTER):
        return None
    return next(iter(notices_seen(session, group_id, [action], subgroup_ids)), None)
