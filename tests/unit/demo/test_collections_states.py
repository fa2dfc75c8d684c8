"""The demo book shows every collections state (issue 20): one late group at each, reached by
the real sweep over its bills and payments (and the supervisor's cancellation), with its
notices and transitions; whatever today's day of the month."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import billing_core.models  # noqa: F401  (every table on Base.metadata)
from billing_core import mail
from billing_core.collections.states import history
from billing_core.collections.sweep import run_sweep
from billing_core.db import Base, make_engine
from billing_core.demo.document import DEMO_SEED, build_document
from billing_core.demo.late_groups import (
    LATE_GROUPS,
    PLAN_GROUP,
    PROMISE_GROUP,
    late_group_login,
    load_late_groups,
)
from billing_core.demo.logins import SPECIALIST_EMAIL, SUPERVISOR_EMAIL
from billing_core.models import EmployerGroup, User
from billing_core.models.collections import (
    ActionKind,
    DelinquencyAction,
    DelinquencyState,
    GroupDelinquency,
)
from billing_core.models.user import UserGroupAccess
from billing_core.setup import import_setup
from tests.unit.conftest import DEMO_TODAY

S = DelinquencyState
STATES = [S.CURRENT, S.PAST_DUE, S.IN_GRACE, S.PENDING_CANCELLATION, S.CANCELLED, S.REINSTATED,
          S.REFERRED, S.CHARGED_OFF]  # fmt: skip
# The notices each state implies, by stage, in the episode that led there.
NOTICES = {
    S.CURRENT: [],
    S.PAST_DUE: [],
    S.IN_GRACE: ["in_grace"],
    S.PENDING_CANCELLATION: ["in_grace", "pending_cancellation"],
    S.CANCELLED: ["in_grace", "pending_cancellation", "cancelled"],
    S.REINSTATED: ["in_grace", "pending_cancellation", "cancelled"],
    S.REFERRED: ["in_grace", "pending_cancellation", "cancelled"],
    S.CHARGED_OFF: ["in_grace", "pending_cancellation", "cancelled"],
}
# Who moves a group there when the sweep does not (the bankrupt group's filing: the specialist).
ACTORS = {
    S.CANCELLED: SUPERVISOR_EMAIL,
    S.CHARGED_OFF: SUPERVISOR_EMAIL,
    S.REFERRED: SPECIALIST_EMAIL,
}


def _rows(session) -> dict[str, GroupDelinquency]:
    return {
        number: row
        for number, row in session.execute(
            select(EmployerGroup.group_number, GroupDelinquency).join(
                GroupDelinquency, GroupDelinquency.group_id == EmployerGroup.id
            )
        )
    }


def _notices(session, row) -> list[DelinquencyAction]:
    return list(
        session.scalars(
            select(DelinquencyAction)
            .where(
                DelinquencyAction.group_id == row.group_id,
                DelinquencyAction.episode == row.episode,
                DelinquencyAction.kind == ActionKind.NOTICE,
            )
            .order_by(DelinquencyAction.id)
        )
    )


def _check_late_groups(session, today: date) -> None:
    rows = _rows(session)
    for late in LATE_GROUPS:
        number, row = late.spec.number, rows[late.spec.number]
        state = S(late.state)
        assert row.state is state, (number, today)
        notices = _notices(session, row)
        # The current group was in grace before it paid: its episode kept that notice.
        expected = ["in_grace"] if state is S.CURRENT else NOTICES[state]
        assert [n.key for n in notices] == expected, number
        for notice in notices:
            assert notice.body and notice.amount > 0 and notice.done_on <= today
        # Its transitions chain from current to its state, each from the state before.
        moves = history(session, row.group_id)
        assert moves[0].from_state is S.CURRENT and moves[-1].to_state is state, number
        assert all(a.to_state is b.from_state for a, b in zip(moves, moves[1:], strict=False))
        for move in moves:
            expected = ACTORS.get(move.to_state, "sweep")
            if "bankruptcy filed" in move.reason:
                expected = SPECIALIST_EMAIL
            assert move.actor == expected and move.as_of <= today
        if state is S.PAST_DUE:
            assert row.overdue_amount > 0 and row.notice_sent_on is None
        if S.IN_GRACE in [m.to_state for m in moves]:
            # The sweep ran every day: the grace notice went out on the plan's day 10.
            assert row.notice_sent_on == row.grace_starts_on + timedelta(days=10), number
    _check_legal_groups(session, rows, today)
    _check_arrangements(session, rows, today)
    current = rows[next(g.spec.number for g in LATE_GROUPS if g.state == "current")]
    # "Current" is a group that was late: in grace, then paid, back to current.
    assert [m.to_state for m in history(session, current.group_id)] == [
        S.PAST_DUE,
        S.IN_GRACE,
        S.CURRENT,
    ]
    # A second sweep today changes nothing.
    again = run_sweep(session, today)
    assert (again.transitions, again.notices_sent, again.late_fees, again.steps) == (0, 0, 0, 0)


def _check_legal_groups(session, rows, today: date) -> None:
    """The referred group's referral, the charged-off group's balance in bad debt with a
    recovery, the bankrupt group's pre-petition bill stayed and its later one in grace."""
    from billing_core.collections.charge_off import receivable, recoveries
    from billing_core.collections.overdue import position
    from billing_core.collections.referrals import referrals

    referred, charged, bankrupt = (rows[n] for n in ("G-1107", "G-1108", "G-1109"))
    [referral] = referrals(session, referred.group_id)
    assert referral.balance_referred > 0 and referral.referred_on <= today
    group = session.get(EmployerGroup, charged.group_id)
    assert receivable(session, group).open == 0
    [recovery] = recoveries(session, charged.group_id)
    assert recovery.after_charge_off and recovery.fee == Decimal("62.50")
    owed = position(session, bankrupt.group_id, today)
    assert owed.stayed > 0 and owed.overdue > 0  # pre-petition stayed, post-petition collected


def _check_arrangements(session, rows, today: date) -> None:
    """A payment plan in force (its first installment met, the clock paused, nothing missed)
    and a promise to pay in force (open, its date still to come), each on its group's page."""
    from billing_core.collections.employer_clock import employer_clock
    from billing_core.collections.payment_plans import open_plan
    from billing_core.models.collections import PromiseStatus, PromiseToPay
    from billing_core.models.payment_plans import InstallmentStatus

    planned, promised = rows[PLAN_GROUP], rows[PROMISE_GROUP]
    plan = open_plan(session, planned.group_id)
    assert plan is not None and planned.paused_reason == "payment_plan"
    assert plan.installments[0].status is InstallmentStatus.MET
    assert InstallmentStatus.MISSED not in {i.status for i in plan.installments}
    clock = employer_clock(session, session.get(EmployerGroup, planned.group_id), today)
    assert clock.arrangement is not None and clock.arrangement.next is not None
    [promise] = session.scalars(
        select(PromiseToPay).where(PromiseToPay.group_id == promised.group_id)
    ).all()
    assert promise.status is PromiseStatus.OPEN and promise.promised_on >= today
    assert promised.paused_reason == "promise" and promise.amount == promised.overdue_amount


def test_the_demo_has_a_group_at_every_collections_state_with_its_notices(demo_book):
    session = demo_book.session
    rows = _rows(session)
    for state in STATES:
        assert any(row.state is state for row in rows.values()), state
    for state, stages in NOTICES.items():
        if stages:
            late = [row for row in rows.values() if row.state is state]
            assert all(_notices(session, row) for row in late), state
    try:
        _check_late_groups(session, DEMO_TODAY)
    finally:
        session.rollback()  # the shared book is only read: undo the second sweep's flush
    # The whole book was swept today too: Bayview, which stopped paying, is late.
    assert rows["G-1007"].state in (S.PAST_DUE, S.IN_GRACE)
    assert demo_book.first.history["sweep"]["as_of"] == DEMO_TODAY.isoformat()


@pytest.mark.parametrize("today", [date(2026, 6, 3), date(2026, 8, 31)])
def test_the_late_groups_reach_their_states_whatever_the_day_of_the_month(today):
    """June 3rd: the latest bill is 2 days past due; August 31st: 30 days."""
    engine = make_engine("sqlite://")
    Base.metadata.create_all(engine)
    document, _ = build_document(today, DEMO_SEED)
    base = {
        "products": document["products"],
        "broker_agencies": document["broker_agencies"],
        "groups": [],
        "users": [
            u for u in document["users"] if u["email"] in (SUPERVISOR_EMAIL, SPECIALIST_EMAIL)
        ],
    }
    with Session(engine) as session, mail.suppressed(session):
        import_setup(session, base, source="test")
        done = load_late_groups(session, today, history_months=2)
        assert done["cancelled"] == 4 and done["invoices"] > 0
        _check_late_groups(session, today)
    engine.dispose()


def test_each_late_group_has_an_hr_login_that_sees_it_and_no_other_group(demo_book):
    """So a new user can open a late group's dashboard and see its clock and notices."""
    session = demo_book.session
    logins = {login["email"]: login for login in demo_book.first.logins}
    for late in LATE_GROUPS:
        email = late_group_login(late)
        assert logins[email]["role"] == "employer"
        assert logins[email]["group"].startswith(late.spec.number)
        assert late.state.replace("_", " ") in logins[email]["story"]
        user = session.scalar(select(User).where(User.email == email))
        seen = session.scalars(
            select(EmployerGroup.group_number)
            .join(UserGroupAccess, UserGroupAccess.group_id == EmployerGroup.id)
            .where(UserGroupAccess.user_id == user.id)
        ).all()
        assert seen == [late.spec.number]
