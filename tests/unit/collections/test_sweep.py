"""The daily sweep walks a group through its plan with exact dates: past due the day after the
due date, the grace notice on day 10 of grace, pending cancellation the day after grace ends,
cancellation (coverage ending on the last day of the last month paid in full) and
reinstatement; a payment brings it back to current; a moratorium holds the cancellation; the
threshold, credits and disputes keep a group out of collections. Run twice a day, every day,
or once after ten missed days, it sends each stage's notice once and charges one late fee per
stage; a notice arrives at an SMTP server."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billing_core.collections import plans
from billing_core.collections.notices import notice_pdf, notices
from billing_core.collections.states import cancel_for_nonpayment, history, pause_clock
from billing_core.collections.sweep import run_sweep
from billing_core.config import Settings
from billing_core.errors import ValidationFailed
from billing_core.mail import delivery
from billing_core.models import Adjustment, OutboxMessage
from billing_core.models.collections import (
    ActionKind,
    DelinquencyAction,
    DelinquencyDispute,
    DelinquencyState,
    GroupDelinquency,
    LateFeeKind,
)
from billing_core.models.enums import GraceDayKind, Role
from tests.factories import make_group, make_invoice, make_user, pay_by_check
from tests.smtp_server import SmtpServer

S = DelinquencyState
DEC1, JAN1 = date(2026, 12, 1), date(2027, 1, 1)


def days(start: date, end: date):
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


@pytest.fixture
def late_group(session):
    """A California group billed 1,000.00 for December (paid) and for January, due Jan 1,
    2027 (unpaid), with one HR user and a contact address."""
    group = make_group(session, state="CA", contact_email="ap@harbor.test", name="Harbor Co")
    make_user(session, Role.EMPLOYER, groups=[group], email="hr@harbor.test")
    december = make_invoice(session, group, Decimal("1000.00"), DEC1)
    pay_by_check(session, group, "1000.00", DEC1, [december])
    january = make_invoice(session, group, Decimal("1000.00"), JAN1)
    session.flush()
    return group, january


def state(session, group) -> GroupDelinquency:
    session.flush()
    return session.get(GroupDelinquency, group.id)


def test_a_group_walks_through_every_state_with_exact_dates(session, late_group):
    group, january = late_group
    assert run_sweep(session, JAN1).transitions == 0  # due today: not yet late

    first = run_sweep(session, date(2027, 1, 2))
    row = state(session, group)
    assert (first.transitions, row.state, row.episode) == (1, S.PAST_DUE, 1)
    assert row.grace_starts_on == JAN1 and row.grace_ends_on == date(2027, 2, 1)
    assert row.overdue_amount == Decimal("1000.00")

    assert run_sweep(session, date(2027, 1, 10)).transitions == 0
    grace = run_sweep(session, date(2027, 1, 11))
    assert (grace.transitions, grace.notices_sent) == (1, 1)
    assert grace.messages == 2  # the HR user and the contact address
    row = state(session, group)
    assert row.state is S.IN_GRACE
    assert (row.notice_sent_on, row.terminates_on) == (date(2027, 1, 11), date(2027, 2, 2))

    assert run_sweep(session, date(2027, 2, 1)).transitions == 0  # the last day of grace
    final = run_sweep(session, date(2027, 2, 2))
    assert (final.transitions, final.notices_sent) == (1, 1)
    assert state(session, group).state is S.PENDING_CANCELLATION

    cancel_for_nonpayment(
        session, group, on=date(2027, 2, 5), actor=make_user(session, Role.SUPERVISOR)
    )
    row = state(session, group)
    assert row.state is S.CANCELLED
    assert row.coverage_ends_on == date(2026, 12, 31)  # December was the last month paid
    assert row.reinstate_until == date(2027, 3, 7)

    pay_by_check(session, group, "1000.00", date(2027, 2, 20), [january])
    assert run_sweep(session, date(2027, 2, 20)).transitions == 1
    assert state(session, group).state is S.REINSTATED

    moves = [
        (t.from_state, t.to_state, t.effective_on, t.as_of) for t in history(session, group.id)
    ]
    assert moves == [
        (S.CURRENT, S.PAST_DUE, date(2027, 1, 2), date(2027, 1, 2)),
        (S.PAST_DUE, S.IN_GRACE, date(2027, 1, 11), date(2027, 1, 11)),
        (S.IN_GRACE, S.PENDING_CANCELLATION, date(2027, 2, 2), date(2027, 2, 2)),
        (S.PENDING_CANCELLATION, S.CANCELLED, date(2026, 12, 31), date(2027, 2, 5)),
        (S.CANCELLED, S.REINSTATED, date(2027, 2, 20), date(2027, 2, 20)),
    ]
    kept = notices(session, group.id)
    assert [n.key for n in kept] == ["cancelled", "pending_cancellation", "in_grace"]
    actors = [t.actor for t in history(session, group.id)]
    assert actors[3].startswith("supervisor") and {*actors[:3], actors[4]} == {"sweep"}


def test_the_grace_notice_lists_bills_credits_cure_amount_and_dates(session, late_group):
    group, january = late_group
    february = make_invoice(session, group, Decimal("1000.00"), date(2027, 2, 1))
    pay_by_check(session, group, "250.00", date(2027, 1, 5), [january])
    session.add(
        DelinquencyDispute(
            group_id=group.id, invoice_id=january.id, amount=Decimal("100.00"),
            opened_on=date(2027, 1, 3), reason="two members billed after their term",
        )
    )  # fmt: skip
    run_sweep(session, date(2027, 1, 11))
    [notice] = notices(session, group.id)
    content = notice.content
    assert [b["invoice"] for b in content["overdue_bills"]] == [january.invoice_number]
    assert february.invoice_number not in notice.body  # not yet due
    assert content["cure_amount"] == "650.00" and notice.amount == Decimal("650.00")
    assert content["disputed"] == "100.00"
    assert content["dates"]["grace_ends_on"] == "2027-02-01"
    assert content["dates"]["terminates_on"] == "2027-02-02"
    assert content["dates"]["coverage_ends_on"] == "2026-12-31"
    assert "$650.00" in notice.subject
    assert "10 days late: $750.00 open" in notice.body
    assert "In dispute (not collected while open): -$100.00" in notice.body
    assert "ends Feb 1, 2027" in notice.body and "from Feb 2, 2027" in notice.body
    assert "coverage would then end on Dec 31, 2026" in notice.body
    pdf = notice_pdf(notice)
    assert pdf.startswith(b"%PDF") and len(pdf) > 1000


def test_payment_in_grace_brings_the_group_back_to_current(session, late_group):
    group, january = late_group
    run_sweep(session, date(2027, 1, 11))
    assert state(session, group).state is S.IN_GRACE
    # 20.00 short: inside the group's tolerance, written off as paid as billed.
    pay_by_check(session, group, "980.00", date(2027, 1, 15), [january])
    cured = run_sweep(session, date(2027, 1, 15))
    assert cured.transitions == 1
    row = state(session, group)
    assert row.state is S.CURRENT and row.overdue_amount == Decimal("0.00")
    [*_, last] = history(session, group.id)
    assert (last.to_state, last.effective_on) == (S.CURRENT, date(2027, 1, 15))
    assert "paid" in last.reason
    # A new bill unpaid later starts a new episode, whose notice is sent again.
    make_invoice(session, group, Decimal("1000.00"), date(2027, 2, 1))
    run_sweep(session, date(2027, 2, 11))
    row = state(session, group)
    assert (row.state, row.episode, row.grace_starts_on) == (S.IN_GRACE, 2, date(2027, 2, 1))
    assert [n.episode for n in notices(session, group.id)] == [2, 1]


def test_partial_payment_over_the_threshold_does_not_stop_the_clock(session, late_group):
    group, january = late_group
    run_sweep(session, date(2027, 1, 11))
    pay_by_check(session, group, "900.00", date(2027, 1, 20), [january])
    run_sweep(session, date(2027, 2, 2))
    row = state(session, group)
    assert row.state is S.PENDING_CANCELLATION and row.overdue_amount == Decimal("100.00")


def test_under_the_threshold_credit_or_dispute_a_group_is_not_delinquent(session):
    small = make_group(session)
    make_invoice(session, small, Decimal("40.00"), JAN1)  # tolerance is 50.00
    credited = make_group(session)
    make_invoice(session, credited, Decimal("-600.00"), DEC1)  # a credit left on a bill
    make_invoice(session, credited, Decimal("1000.00"), JAN1)
    disputed = make_group(session)
    make_invoice(session, disputed, Decimal("300.00"), JAN1)
    session.add(
        DelinquencyDispute(
            group_id=disputed.id, amount=Decimal("280.00"), opened_on=JAN1, reason="rate"
        )
    )
    result = run_sweep(session, date(2027, 1, 2))
    assert result.transitions == 1
    assert state(session, credited).overdue_amount == Decimal("400.00")
    assert state(session, credited).state is S.PAST_DUE
    assert state(session, small).state is S.CURRENT
    assert state(session, disputed).state is S.CURRENT


def _with_late_fees(session, group):
    plans.new_plan_version(
        session, "fees", date(2026, 1, 1),
        late_fee_kind=LateFeeKind.FLAT, late_fee_amount=Decimal("25.00"),
        late_fee_stages=["in_grace", "pending_cancellation"],
        steps=[(5, "email", "Friendly reminder"), (20, "task", "Call the HR contact"),
               (25, "letter", "Letter before cancellation")],
    )  # fmt: skip
    plans.set_group_plan(session, group, "fees", date(2026, 1, 1), "contract")


def _counts(session, group) -> dict:
    rows = session.execute(
        select(DelinquencyAction.kind, func.count())
        .where(DelinquencyAction.group_id == group.id)
        .group_by(DelinquencyAction.kind)
    ).all()
    return {kind.value: n for kind, n in rows}


def test_swept_twice_every_day_each_notice_and_fee_happens_once(session, late_group):
    group, _ = late_group
    _with_late_fees(session, group)
    for day in days(JAN1, date(2027, 2, 28)):
        run_sweep(session, day)
        again = run_sweep(session, day)
        assert (again.transitions, again.notices_sent, again.late_fees, again.steps) == (0,) * 4
    assert state(session, group).state is S.PENDING_CANCELLATION
    assert _counts(session, group) == {
        "notice": 2,
        "late_fee": 2,
        "email": 1,
        "task": 1,
        "letter": 1,
    }
    fees = session.scalars(
        select(Adjustment).where(
            Adjustment.group_id == group.id, Adjustment.reason_code == "late_fee"
        )
    ).all()
    assert sorted(f.amount for f in fees) == [Decimal("25.00"), Decimal("25.00")]
    assert {f.source_type for f in fees} == {"collections"}
    # Two notices and one reminder e-mail, each to the HR user and the contact address.
    sent = session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.group_id == group.id, OutboxMessage.kind == "delinquency_notice")
    )
    assert sent == 6


def test_after_ten_missed_days_the_sweep_catches_up_once(session, late_group):
    group, _ = late_group
    _with_late_fees(session, group)
    run_sweep(session, date(2027, 1, 2))
    caught_up = run_sweep(session, date(2027, 1, 13))  # Jan 3 to Jan 12 missed
    assert (caught_up.transitions, caught_up.notices_sent, caught_up.late_fees) == (1, 1, 1)
    assert caught_up.steps == 1  # the day-5 reminder, once
    row = state(session, group)
    assert row.notice_sent_on == date(2027, 1, 13) and row.terminates_on == date(2027, 2, 2)
    for day in days(date(2027, 1, 13), date(2027, 1, 23)):
        assert run_sweep(session, day).late_fees == 0
    assert _counts(session, group)["notice"] == 1 and _counts(session, group)["late_fee"] == 1
    # Never swept back in time.
    assert run_sweep(session, date(2027, 1, 5)).skipped == 1


def test_a_late_notice_moves_termination_so_the_notice_period_is_served(session, late_group):
    group, _ = late_group
    result = run_sweep(session, date(2027, 1, 25))  # first run since the bill fell due
    assert [m["to"] for m in result.moves] == ["past_due", "in_grace"]
    row = state(session, group)
    assert row.terminates_on == date(2027, 2, 9)  # 15 days after the notice, not Feb 2
    assert run_sweep(session, date(2027, 2, 8)).transitions == 0
    assert run_sweep(session, date(2027, 2, 9)).transitions == 1


def test_business_day_grace_from_the_group_policy_across_holidays(session, late_group):
    group, _ = late_group
    group.policies[0].grace_day_kind = GraceDayKind.BUSINESS
    run_sweep(session, date(2027, 1, 11))
    row = state(session, group)
    assert row.grace_ends_on == date(2027, 2, 17)  # MLK Day and Presidents' Day skipped
    assert row.terminates_on == date(2027, 2, 18)
    assert run_sweep(session, date(2027, 2, 17)).transitions == 0
    assert run_sweep(session, date(2027, 2, 18)).transitions == 1


def test_a_moratorium_holds_the_cancellation(session, late_group):
    group, _ = late_group
    plans.add_moratorium(session, "CA", date(2027, 1, 20), date(2027, 2, 15), "wildfires")
    run_sweep(session, date(2027, 1, 11))
    held = run_sweep(session, date(2027, 2, 2))
    assert (held.transitions, held.held) == (0, 1)
    row = state(session, group)
    assert row.state is S.IN_GRACE and row.held_by_moratorium_id is not None
    assert run_sweep(session, date(2027, 2, 3)).held == 0  # held once, recorded once
    assert run_sweep(session, date(2027, 2, 15)).transitions == 0
    released = run_sweep(session, date(2027, 2, 16))
    assert released.moves == [
        {"group_id": group.id, "from": "in_grace", "to": "pending_cancellation",
         "effective_on": "2027-02-16"}
    ]  # fmt: skip
    assert _counts(session, group)["hold"] == 1


def test_cancellation_is_refused_during_a_moratorium(session, late_group):
    group, _ = late_group
    run_sweep(session, date(2027, 1, 11))
    run_sweep(session, date(2027, 2, 2))
    plans.add_moratorium(session, "CA", date(2027, 2, 3), None, "state of emergency")
    with pytest.raises(ValidationFailed, match="moratorium in CA"):
        cancel_for_nonpayment(
            session, group, on=date(2027, 2, 4), actor=make_user(session, Role.SUPERVISOR)
        )
    assert state(session, group).state is S.PENDING_CANCELLATION


def test_a_paused_clock_sends_nothing_but_a_payment_still_cures(session, late_group):
    group, january = late_group
    run_sweep(session, date(2027, 1, 2))
    pause_clock(session, group, "bankruptcy", until=None, actor=None)
    assert run_sweep(session, date(2027, 1, 20)).notices_sent == 0
    assert state(session, group).state is S.PAST_DUE
    pay_by_check(session, group, "1000.00", date(2027, 1, 21), [january])
    assert run_sweep(session, date(2027, 1, 21)).transitions == 1
    assert state(session, group).state is S.CURRENT


def test_the_notice_arrives_at_an_smtp_server(session, late_group):
    group, _ = late_group
    run_sweep(session, date(2027, 1, 11))
    session.commit()
    server = SmtpServer().start()
    try:
        settings = Settings().with_overrides(
            smtp_host="127.0.0.1", smtp_port=server.port, smtp_tls="none",
            mail_from="Premium Billing <billing@carrier.test>", portal_url="https://portal.test",
        )  # fmt: skip
        run = delivery.send_queued(session, settings, now=datetime.now(UTC))
        arrived = {a.to: a for a in server.arrived if "grace period notice" in a.subject}
    finally:
        server.stop()
    assert len(run.sent) == 3  # the two notices, and the December payment's receipt
    assert set(arrived) == {"hr@harbor.test", "ap@harbor.test"}
    notice = arrived["hr@harbor.test"]
    assert notice.subject == "Premium past due: grace period notice: $1,000.00 for group " + (
        group.group_number
    )
    assert "Amount to pay now to bring your account up to date (the cure amount): $1,000.00" in (
        notice.body
    )
    assert notice.body.startswith("Hello ")
    kept = session.scalar(
        select(DelinquencyAction).where(DelinquencyAction.kind == ActionKind.NOTICE)
    )
    assert kept.messages == 2
