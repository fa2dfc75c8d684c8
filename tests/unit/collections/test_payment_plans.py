"""Payment plans (billing_core.collections.payment_plans) with exact dates: the schedule adds
up to the overdue balance (the last installment takes the rounding remainder); making a plan
pauses the clock, so the sweep sends nothing while it is kept; a missed installment (after its
date plus 5 days of grace) breaks it, resumes the clock and the group moves on from the dates
it had, back on top of the worklist; a completed plan returns the group to current; a new bill
left unpaid during the plan counts against it; the sweep run twice a day, or once after missed
days, decides each installment once."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billing_core.collections.contacts import log_contact
from billing_core.collections.employer_clock import employer_clock
from billing_core.collections.payment_plans import (
    Line,
    add_months,
    cancel_plan,
    check_payment_plans,
    check_schedule,
    make_plan,
    propose_schedule,
)
from billing_core.collections.states import history
from billing_core.collections.sweep import run_sweep
from billing_core.collections.worklist import worklist
from billing_core.errors import ValidationFailed
from billing_core.models import AuditLog
from billing_core.models.collections import (
    ActionKind,
    DelinquencyAction,
    DelinquencyState,
    GroupDelinquency,
)
from billing_core.models.enums import Role
from billing_core.models.payment_plans import InstallmentStatus, PaymentPlanStatus
from tests.factories import make_group, make_invoice, make_user, pay_by_check

S = DelinquencyState
D = Decimal
DEC1, JAN1, JAN15 = date(2026, 12, 1), date(2027, 1, 1), date(2027, 1, 15)
JAN25, FEB25, MAR25 = date(2027, 1, 25), date(2027, 2, 25), date(2027, 3, 25)


def days(start: date, end: date):
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


@pytest.fixture
def late(session):
    """A California group billed 1,000.00 for December (paid) and January (due Jan 1, 2027,
    unpaid), swept daily to Jan 15: in grace since Jan 11, cancellation possible from Feb 2.
    A collector puts it on a plan on Jan 15: 333.33 on Jan 25 and Feb 25, 333.34 on Mar 25."""
    group = make_group(session, state="CA", contact_email="ap@plan.test", name="Plan Co")
    make_user(session, Role.EMPLOYER, groups=[group], email="hr@plan.test")
    december = make_invoice(session, group, D("1000.00"), DEC1)
    pay_by_check(session, group, "1000.00", DEC1, [december])
    january = make_invoice(session, group, D("1000.00"), JAN1)
    for day in days(date(2027, 1, 2), JAN15):
        run_sweep(session, day)
    row = session.get(GroupDelinquency, group.id)
    assert (row.state, row.terminates_on) == (S.IN_GRACE, date(2027, 2, 2))
    collector = make_user(session, Role.BILLING_SPECIALIST, email="plans@carrier.test")
    plan = make_plan(
        session, group, propose_schedule(D("1000.00"), 3, JAN25), actor=collector, today=JAN15
    )
    return group, january, plan, collector


def state(session, group) -> GroupDelinquency:
    session.flush()
    return session.get(GroupDelinquency, group.id)


def audits(session, action: str) -> int:
    return session.scalar(select(func.count()).where(AuditLog.action == action))


# --------------------------------------------------------------------------- the schedule


def test_the_schedule_adds_up_with_the_remainder_on_the_last():
    lines = propose_schedule(D("1000.00"), 3, JAN25)
    assert [(x.due_on, x.amount) for x in lines] == [
        (JAN25, D("333.33")), (FEB25, D("333.33")), (MAR25, D("333.34")),
    ]  # fmt: skip
    six = propose_schedule(D("100.00"), 6, date(2027, 1, 31))
    assert [x.amount for x in six] == [D("16.67")] * 5 + [D("16.65")]  # half-up, then the rest
    assert sum(x.amount for x in six) == D("100.00")
    assert [x.due_on for x in six][:3] == [date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31)]
    down = propose_schedule(D("1000.01"), 3, FEB25, down_payment=D("250.00"), down_payment_on=JAN25)
    assert [(x.due_on, x.amount, x.down_payment) for x in down] == [
        (JAN25, D("250.00"), True), (FEB25, D("250.00"), False),
        (MAR25, D("250.00"), False), (date(2027, 4, 25), D("250.01"), False),
    ]  # fmt: skip
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    with pytest.raises(ValidationFailed, match="down payment"):
        propose_schedule(D("100.00"), 2, JAN25, down_payment=D("100.00"))


def test_a_schedule_names_everything_wrong_with_it():
    lines = [Line(JAN15, D("500.00")), Line(date(2027, 1, 10), D("0.00"), True)]
    errors = check_schedule(lines, D("1000.00"), JAN15)
    assert errors == [
        "line 2: the amount must be more than $0.00",
        "line 2: 2027-01-10 is in the past",
        "line 2: 2027-01-10 is not after the line before",
        "line 2: only the first line can be a down payment",
        "the installments add up to $500.00, not the overdue balance of $1,000.00: change them "
        "by $500.00",
    ]
    assert check_schedule(propose_schedule(D("1000.00"), 3, JAN25), D("1000.00"), JAN15) == []


def test_a_plan_is_made_on_the_overdue_balance_only_and_one_at_a_time(session, late):
    group, _, plan, collector = late
    assert (plan.balance, plan.starts_on, plan.status, plan.grace_days) == (
        D("1000.00"), JAN15, PaymentPlanStatus.OPEN, 5,
    )  # fmt: skip
    assert [(i.seq, i.amount, i.cumulative) for i in plan.installments] == [
        (1, D("333.33"), D("333.33")), (2, D("333.33"), D("666.66")), (3, D("333.34"), D("1000.00")),
    ]  # fmt: skip
    assert audits(session, "collections.payment_plan_made") == 1
    with pytest.raises(ValidationFailed, match="already has a payment plan in force"):
        make_plan(session, group, propose_schedule(D("1000.00"), 2, JAN25), actor=collector,
                  today=JAN15)  # fmt: skip
    cancel_plan(session, plan, actor=collector, today=JAN15, reason="agreed a new schedule")
    with pytest.raises(ValidationFailed, match="not the overdue balance of \\$1,000.00"):
        make_plan(session, group, propose_schedule(D("900.00"), 2, JAN25), actor=collector,
                  today=JAN15)  # fmt: skip
    current = make_group(session, name="Paid Up Co")
    with pytest.raises(ValidationFailed, match="is current"):
        make_plan(session, current, [Line(JAN25, D("10.00"))], actor=collector, today=JAN15)


# --------------------------------------------------------------------------- the clock


def test_a_kept_plan_pauses_the_clock_then_completes_and_the_group_is_current(session, late):
    group, january, plan, _ = late
    row = state(session, group)
    assert (row.paused_reason, row.paused_until) == ("payment_plan", None)
    payments = {JAN25: "333.33", FEB25: "333.33", MAR25: "333.34"}
    for day in days(JAN15, MAR25):
        if day in payments:
            pay_by_check(session, group, payments[day], day, [january])
        for _ in range(2):  # twice a day: nothing happens twice
            swept = run_sweep(session, day)
            if day < MAR25:
                # Feb 2 would have made it pending cancellation: the plan holds the clock.
                assert (swept.transitions, swept.notices_sent, swept.late_fees) == (0, 0, 0)
    first, second, last = plan.installments
    assert [(i.status, i.decided_on) for i in plan.installments] == [
        (InstallmentStatus.MET, JAN25), (InstallmentStatus.MET, FEB25),
        (InstallmentStatus.MET, MAR25),
    ]  # fmt: skip
    assert (first.overdue_then, second.overdue_then, last.overdue_then) == (
        D("666.67"), D("333.34"), D("0.00"),
    )  # fmt: skip
    assert (plan.status, plan.decided_on) == (PaymentPlanStatus.COMPLETED, MAR25)
    row = state(session, group)
    assert (row.state, row.paused_reason) == (S.CURRENT, None)
    last_move = history(session, group.id)[-1]
    assert (last_move.from_state, last_move.to_state, last_move.effective_on) == (
        S.IN_GRACE, S.CURRENT, MAR25,
    )  # fmt: skip
    assert audits(session, "collections.payment_plan_completed") == 1
    assert audits(session, "collections.resumed") == 1


def test_a_missed_installment_breaks_the_plan_and_the_clock_moves_on(session, late):
    group, january, plan, collector = late
    pay_by_check(session, group, "333.33", JAN25, [january])
    for day in days(JAN15, date(2027, 3, 2)):  # Feb 25 + 5 days of grace: still open
        swept = run_sweep(session, day)
        assert (swept.transitions, swept.notices_sent, swept.plans_broken) == (0, 0, 0)
    assert plan.installments[1].status is InstallmentStatus.OPEN
    pay_by_check(session, group, "333.32", date(2027, 3, 2), [january])  # a cent short

    swept = run_sweep(session, date(2027, 3, 3))
    assert (swept.plans_broken, swept.as_dict()["plans_broken"]) == (1, 1)
    missed = plan.installments[1]
    assert (missed.status, missed.decided_on, missed.overdue_then) == (
        InstallmentStatus.MISSED, date(2027, 3, 3), D("333.35"),
    )  # fmt: skip
    assert (plan.status, plan.decided_on) == (PaymentPlanStatus.BROKEN, date(2027, 3, 3))
    assert "installment 2 of $333.33 due 2027-02-25 missed" in plan.closed_reason
    # The clock resumed and the group moved on from the dates it had: cancellation was
    # possible from Feb 2, so it is pending cancellation now, dated Feb 2.
    row = state(session, group)
    assert (row.paused_reason, row.state) == (None, S.PENDING_CANCELLATION)
    move = history(session, group.id)[-1]
    assert (move.to_state, move.effective_on, move.as_of) == (
        S.PENDING_CANCELLATION, date(2027, 2, 2), date(2027, 3, 3),
    )  # fmt: skip
    assert swept.notices_sent == 1
    task = session.scalars(
        select(DelinquencyAction).where(
            DelinquencyAction.group_id == group.id, DelinquencyAction.kind == ActionKind.TASK
        )
    ).one()
    assert task.key == f"plan-{plan.id}-broken" and task.subject.startswith("Payment plan broken")
    # Back on top of the worklist: a call, before any cancellation, until a contact is logged.
    other = make_group(session, state="CA", name="Other Co")
    make_invoice(session, other, D("5000.00"), DEC1)
    for day in ("2026-12-02", "2026-12-11", "2027-01-02", "2027-03-03"):
        run_sweep(session, date.fromisoformat(day), group_ids=[other.id])
    rows = worklist(session, date(2027, 3, 3))
    assert [r["group_id"] for r in rows] == [group.id, other.id]
    assert (rows[0]["action"], rows[0]["plan_status"]) == ("call", "broken")
    assert rows[0]["why"] == "payment plan broken on Mar 3, 2027: call now"
    assert rows[0]["plan"] == "broken Mar 3, 2027: $1,000.00 (1 of 3 met)"
    log_contact(session, group, kind="call", outcome="asked for the rest by Friday",
                actor=collector, today=date(2027, 3, 3))  # fmt: skip
    mine = next(r for r in worklist(session, date(2027, 3, 3)) if r["group_id"] == group.id)
    assert mine["action"] == "cancel"
    # Decided once: more sweeps change nothing.
    before = session.scalar(select(func.count()).select_from(AuditLog))
    assert run_sweep(session, date(2027, 3, 3)).plans_broken == 0
    assert run_sweep(session, date(2027, 3, 4)).plans_broken == 0
    assert check_payment_plans(session, date(2027, 3, 5)).broken == 0
    assert session.scalar(select(func.count()).select_from(AuditLog)) == before


def test_after_missed_days_one_sweep_decides_each_installment_once(session, late):
    group, january, plan, _ = late
    pay_by_check(session, group, "333.33", JAN25, [january])
    # No sweep from Jan 16 to Mar 9: the first one decides Jan 25 (met) and Feb 25 (missed).
    swept = run_sweep(session, date(2027, 3, 10))
    assert (swept.plans_broken, swept.transitions, swept.notices_sent) == (1, 1, 1)
    assert [(i.status, i.decided_on) for i in plan.installments] == [
        (InstallmentStatus.MET, date(2027, 3, 10)), (InstallmentStatus.MISSED, date(2027, 3, 10)),
        (InstallmentStatus.OPEN, None),
    ]  # fmt: skip
    assert state(session, group).state is S.PENDING_CANCELLATION
    again = run_sweep(session, date(2027, 3, 10))
    assert (again.plans_broken, again.transitions, again.notices_sent) == (0, 0, 0)
    assert audits(session, "collections.payment_plan_broken") == 1
    assert audits(session, "collections.resumed") == 1


@pytest.mark.parametrize("pays_new_bill", [True, False])
def test_a_bill_falling_due_during_the_plan_must_be_paid_too(session, late, pays_new_bill):
    group, january, plan, _ = late
    february = make_invoice(session, group, D("1000.00"), date(2027, 2, 1))
    for day in days(JAN15, date(2027, 3, 3)):  # each payment recorded on its day
        if day in (JAN25, FEB25):
            pay_by_check(session, group, "333.33", day, [january])
        if pays_new_bill and day == date(2027, 2, 20):
            pay_by_check(session, group, "1000.00", day, [february])
        run_sweep(session, day)
    second = plan.installments[1]
    if pays_new_bill:
        assert (second.status, second.decided_on) == (InstallmentStatus.MET, FEB25)
        assert plan.status is PaymentPlanStatus.OPEN
        assert state(session, group).state is S.IN_GRACE
    else:
        # 333.34 of January's plan balance plus February's 1,000.00: more than the 333.34 the
        # plan allows after Feb 25.
        assert (second.status, second.overdue_then) == (InstallmentStatus.MISSED, D("1333.34"))
        assert plan.status is PaymentPlanStatus.BROKEN
        assert state(session, group).state is S.PENDING_CANCELLATION


def test_a_cancelled_plan_resumes_the_clock(session, late):
    group, _, plan, collector = late
    with pytest.raises(ValidationFailed, match="say why"):
        cancel_plan(session, plan, actor=collector, today=JAN15, reason=" ")
    cancel_plan(session, plan, actor=collector, today=date(2027, 2, 3), reason="group asked")
    assert (plan.status, plan.decided_on, plan.closed_reason) == (
        PaymentPlanStatus.CANCELLED, date(2027, 2, 3), "group asked",
    )  # fmt: skip
    assert audits(session, "collections.payment_plan_cancelled") == 1
    assert state(session, group).paused_reason is None
    assert run_sweep(session, date(2027, 2, 3)).transitions == 1  # Feb 2's cancellation step
    assert state(session, group).state is S.PENDING_CANCELLATION
    with pytest.raises(ValidationFailed, match="not in force"):
        cancel_plan(session, plan, actor=collector, today=date(2027, 2, 3), reason="again")


def test_the_employer_sees_the_next_installment(session, late):
    group, january, plan, _ = late
    pay_by_check(session, group, "333.33", JAN25, [january])
    run_sweep(session, JAN25)
    clock = employer_clock(session, group, date(2027, 1, 26))
    assert clock.paused == "payment_plan" and clock.paused_words == "a payment plan"
    view = clock.arrangement
    assert (view.next.due_on, view.next.amount, view.last_day) == (
        FEB25, D("333.33"), date(2027, 3, 2),
    )  # fmt: skip
    assert (view.paid, view.met, view.count, view.scheduled_left) == (
        D("333.33"), 1, 3, D("666.67"),
    )  # fmt: skip


def test_a_group_back_to_current_within_its_tolerance_completes_its_plan(session, late):
    group, january, plan, _ = late
    make_invoice(session, group, D("20.00"), date(2027, 2, 1))  # a small bill, left unpaid
    pay_by_check(session, group, "333.33", JAN25, [january])
    run_sweep(session, JAN25)
    pay_by_check(session, group, "666.67", FEB25, [january])  # the plan paid ahead
    swept = run_sweep(session, FEB25)
    # 20.00 overdue: within the $50.00 tolerance (current), but more than the plan's last
    # installment allows (0.00), so the plan was still open when the sweep moved the group.
    assert swept.transitions == 1 and state(session, group).state is S.CURRENT
    assert plan.status is PaymentPlanStatus.OPEN
    done = run_sweep(session, date(2027, 2, 26))
    assert (done.plans_completed, plan.status, plan.decided_on) == (
        1, PaymentPlanStatus.COMPLETED, date(2027, 2, 26),
    )  # fmt: skip
    assert "within its tolerance" in plan.closed_reason
    assert state(session, group).paused_reason is None
    assert run_sweep(session, date(2027, 4, 1)).plans_broken == 0  # nothing left to miss
