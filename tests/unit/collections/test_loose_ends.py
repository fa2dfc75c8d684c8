"""Loose ends of collections (issue 20), each closed in billing_core and tested here: a promise
to pay is refused for a group with nothing overdue; a supervisor cannot cancel a group whose
payment plan is in force; a plan completed after a newer bill fell due starts a new episode
from that bill's due date (not the old episode's dates); the whole book's sweep refuses a day
before the last sweep; two supervisors cancelling at once: the second is told it is done."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from billing_core.collections.cancellation import cancel_for_nonpayment
from billing_core.collections.contacts import take_promise
from billing_core.collections.payment_plans import cancel_plan, make_plan, propose_schedule
from billing_core.collections.sweep import run_sweep, sweep_book, sweep_job
from billing_core.errors import ValidationFailed
from billing_core.models.collections import DelinquencyState, GroupCancellation, GroupDelinquency
from billing_core.models.enums import Role
from billing_core.models.payment_plans import PaymentPlanStatus
from tests.factories import make_group, make_invoice, make_user, pay_by_check
from tests.unit.collections.legal import late_group
from tests.unit.db_helpers import own_postgres_database

S = DelinquencyState
D = Decimal
JAN15, JAN25, FEB25, MAR25 = (date(2027, 1, 15), date(2027, 1, 25), date(2027, 2, 25),
                              date(2027, 3, 25))  # fmt: skip


def days(start: date, end: date):
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


def row_of(session, group) -> GroupDelinquency:
    session.flush()
    return session.get(GroupDelinquency, group.id)


def test_a_promise_is_refused_when_nothing_is_overdue(session):
    group = make_group(session, name="Current Co")
    bill = make_invoice(session, group, D("500.00"), date(2027, 1, 1))
    collector = make_user(session, Role.BILLING_SPECIALIST)
    # Billed but not yet due on Dec 20: nothing overdue.
    with pytest.raises(ValidationFailed, match="nothing overdue today"):
        take_promise(session, group, amount=D("500.00"), promised_on=date(2027, 1, 5),
                     actor=collector, today=date(2026, 12, 20))  # fmt: skip
    # Past due on Jan 3: the same promise is taken.
    promise = take_promise(session, group, amount=D("500.00"), promised_on=date(2027, 1, 5),
                           actor=collector, today=date(2027, 1, 3))  # fmt: skip
    assert promise.id and row_of(session, group).paused_reason == "promise"
    pay_by_check(session, group, "500.00", date(2027, 1, 4), [bill])
    with pytest.raises(ValidationFailed, match="nothing overdue today"):
        take_promise(session, group, amount=D("10.00"), promised_on=date(2027, 1, 9),
                     actor=collector, today=date(2027, 1, 5))  # fmt: skip


def test_a_group_on_a_payment_plan_is_not_cancelled(session):
    group, _ = late_group(session)
    for day in (date(2027, 1, 2), date(2027, 1, 11), date(2027, 2, 2)):
        run_sweep(session, day, group_ids=[group.id])
    assert row_of(session, group).state is S.PENDING_CANCELLATION
    collector, supervisor = (
        make_user(session, Role.BILLING_SPECIALIST),
        make_user(session, Role.SUPERVISOR),
    )
    plan = make_plan(session, group, propose_schedule(D("1000.00"), 2, date(2027, 2, 10)),
                     actor=collector, today=date(2027, 2, 3))  # fmt: skip
    with pytest.raises(ValidationFailed, match="payment plan in force .*cancel the plan first"):
        cancel_for_nonpayment(session, group, on=date(2027, 2, 5), actor=supervisor)
    assert row_of(session, group).state is S.PENDING_CANCELLATION
    assert session.scalar(select(func.count()).select_from(GroupCancellation)) == 0
    cancel_plan(session, plan, actor=collector, today=date(2027, 2, 5), reason="no money")
    done = cancel_for_nonpayment(session, group, on=date(2027, 2, 5), actor=supervisor)
    assert done.coverage_ends_on == date(2026, 12, 31)
    with pytest.raises(ValidationFailed, match="was cancelled for non-payment on 2027-02-05"):
        cancel_for_nonpayment(session, group, on=date(2027, 2, 6), actor=supervisor)


def test_a_plan_completed_late_starts_a_new_episode_for_a_newer_bill(session):
    """The last installment (Mar 25) is paid on its day but the sweep next runs on Mar 28,
    after a new bill fell due on Mar 26: the plan completes, and the new bill's clock starts
    on Mar 26 (past due, episode 2), rather than the old episode's Feb 2 termination date
    making the group pending cancellation at once."""
    group, january = late_group(session, name="Plan Co")
    for day in days(date(2027, 1, 2), JAN15):
        run_sweep(session, day, group_ids=[group.id])
    row = row_of(session, group)
    assert (row.state, row.episode, row.terminates_on) == (S.IN_GRACE, 1, date(2027, 2, 2))
    collector = make_user(session, Role.BILLING_SPECIALIST)
    plan = make_plan(session, group, propose_schedule(D("1000.00"), 3, JAN25),
                     actor=collector, today=JAN15)  # fmt: skip
    payments = {JAN25: "333.33", FEB25: "333.33", MAR25: "333.34"}
    for day in days(JAN15, date(2027, 3, 24)):
        if day in payments:
            pay_by_check(session, group, payments[day], day, [january])
        run_sweep(session, day, group_ids=[group.id])
    pay_by_check(session, group, payments[MAR25], MAR25, [january])
    make_invoice(session, group, D("1000.00"), date(2027, 3, 26))  # unpaid
    run_sweep(session, date(2027, 3, 28), group_ids=[group.id])
    assert (plan.status, plan.decided_on) == (PaymentPlanStatus.COMPLETED, date(2027, 3, 28))
    row = row_of(session, group)
    assert (row.state, row.episode, row.grace_starts_on, row.paused_reason) == (
        S.PAST_DUE, 2, date(2027, 3, 26), None,
    )  # fmt: skip
    assert row.grace_ends_on == date(2027, 4, 26)  # 31 calendar days


def test_the_book_is_not_swept_as_of_a_day_before_its_last_sweep(session):
    group, _ = late_group(session)
    sweep_book(session, date(2027, 1, 11))
    with pytest.raises(ValidationFailed, match="last swept as of 2027-01-11.*2027-01-11 or later"):
        sweep_book(session, date(2027, 1, 5))
    assert sweep_book(session, date(2027, 1, 11)).transitions == 0  # the same day: fine
    assert row_of(session, group).last_swept_on == date(2027, 1, 11)
    # The job too (it rolls back what it was given).
    with pytest.raises(ValidationFailed, match="last swept as of 2027-01-11"):
        sweep_job(session, "2027-01-10")


# --------------------------------------------------------------------------- two at once


@pytest.fixture
def own_database(engine):
    with own_postgres_database(engine, "coll_cancel_race", pool_size=3) as own:
        yield own


def _waits_for_a_lock(engine, waiter: threading.Thread, within: float = 60.0) -> bool:
    """Whether another backend of this database comes to wait on a lock: asked until it does,
    or until `waiter` (the thread expected to wait) ends without having waited (no sleep, the
    answer is the database's). Not a fixed number of tries: with the suite on several
    processes (make test) a loaded machine may take the thread longer than thousands of quick
    queries to reach the row; `within` seconds only keep a broken lock from hanging the run."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + within
    with engine.connect() as watcher:
        while time.monotonic() < deadline:
            if watcher.execute(query).scalar():
                return True
            # PostgreSQL reads pg_stat_activity once per transaction: a poll made before the
            # waiter reached the lock would otherwise be all this loop ever sees.
            watcher.rollback()
            if not waiter.is_alive():
                return False
    return False


def test_two_supervisors_cancelling_at_once_the_second_is_told(own_database):
    """PostgreSQL: the first supervisor's cancellation holds the group's row until it commits;
    the second, confirming meanwhile, waits and is then refused in words (not a key error)."""
    with Session(own_database) as session:
        group, _ = late_group(session)
        for day in (date(2027, 1, 2), date(2027, 1, 11), date(2027, 2, 2)):
            run_sweep(session, day, group_ids=[group.id])
        first_id = make_user(session, Role.SUPERVISOR, email="first@carrier.test").id
        second_id = make_user(session, Role.SUPERVISOR, email="second@carrier.test").id
        group_id = group.id
        session.commit()
    from billing_core.models import EmployerGroup, User

    outcome: list[BaseException | None] = []

    def second() -> None:
        with Session(own_database) as other:
            try:
                cancel_for_nonpayment(other, other.get(EmployerGroup, group_id),
                                      on=date(2027, 2, 5), actor=other.get(User, second_id))  # fmt: skip
                other.commit()
                outcome.append(None)
            except BaseException as error:  # reported below
                other.rollback()
                outcome.append(error)

    with Session(own_database) as first:
        cancel_for_nonpayment(first, first.get(EmployerGroup, group_id), on=date(2027, 2, 5),
                              actor=first.get(User, first_id))  # fmt: skip
        thread = threading.Thread(target=second)
        thread.start()
        assert _waits_for_a_lock(own_database, thread)  # the second is held at the row
        first.commit()
    thread.join(timeout=30)
    [error] = outcome
    assert isinstance(error, ValidationFailed), error
    assert "was cancelled for non-payment on 2027-02-05 by first@carrier.test" in str(error)
    with Session(own_database) as session:
        assert session.scalar(select(func.count()).select_from(GroupCancellation)) == 1


def test_ten_missed_days_across_termination_one_notice_and_one_fee_per_stage(session):
    """Swept daily to Jan 24, then not until Feb 4 (Jan 25 to Feb 3 missed, termination on
    Feb 2 among them): one catch-up sweep makes it pending cancellation with that stage's one
    notice and one late fee; the days after add none; each stage has exactly one of each."""
    from billing_core.collections import plans
    from billing_core.models import Adjustment
    from billing_core.models.collections import DelinquencyAction, LateFeeKind

    group, _ = late_group(session, name="Fee Co")
    plans.new_plan_version(session, "fees", date(2026, 1, 1), late_fee_kind=LateFeeKind.FLAT,
                           late_fee_amount=D("25.00"),
                           late_fee_stages=["in_grace", "pending_cancellation"])  # fmt: skip
    plans.set_group_plan(session, group, "fees", date(2026, 1, 1), "contract")
    for day in days(date(2027, 1, 2), date(2027, 1, 24)):
        run_sweep(session, day, group_ids=[group.id])
    caught_up = run_sweep(session, date(2027, 2, 4), group_ids=[group.id])
    assert (caught_up.transitions, caught_up.notices_sent, caught_up.late_fees) == (1, 1, 1)
    assert row_of(session, group).state is S.PENDING_CANCELLATION
    for day in days(date(2027, 2, 4), date(2027, 2, 14)):
        again = run_sweep(session, day, group_ids=[group.id])
        assert (again.notices_sent, again.late_fees) == (0, 0)
    kept = session.execute(
        select(DelinquencyAction.kind, DelinquencyAction.key).where(
            DelinquencyAction.group_id == group.id
        )
    ).all()
    assert sorted((k.value, key) for k, key in kept) == [
        ("late_fee", "in_grace"), ("late_fee", "pending_cancellation"),
        ("notice", "in_grace"), ("notice", "pending_cancellation"),
    ]  # fmt: skip
    fees = session.scalars(
        select(Adjustment.amount).where(
            Adjustment.group_id == group.id, Adjustment.reason_code == "late_fee"
        )
    ).all()
    assert fees == [D("25.00"), D("25.00")]
