"""Issue 16, point 7: a reconciliation item whose cause is gone leaves the queue by itself,
recorded (when, why, an audit row), never deleted; the Today counts agree; clearing again
changes nothing."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from billing_core.models import AuditLog, Payment
from billing_core.models.enums import ReviewCause, Role
from billing_core.money import D
from billing_core.payments.allocation import write_off
from billing_core.payments.clearing import clear_settled_reviews
from billing_core.payments.receipts import return_payment
from billing_core.payments.refunds import approve_refund, request_refund
from billing_core.payments.review import (
    cleared_reviews_query,
    mark_reconciled,
    reconciliation_query,
)
from billing_core.reports.work_queue import work_queue
from tests.factories import make_user, pay_by_check, scenario

TODAY = date(2027, 1, 20)


def _waiting(session) -> list[Payment]:
    return [p for p, _ in session.execute(reconciliation_query())]


def _reconcile_line(session):
    queue = work_queue(session, TODAY, authority_limit=D("500.00"))
    return next(line for line in queue.lines if line.key == "reconcile")


def test_a_short_payment_leaves_the_queue_once_its_invoice_is_paid_in_full(session):
    cast = scenario(session)
    short = pay_by_check(session, cast.group_a, "50.00", date(2027, 1, 5), reference="1001")
    assert short.review_cause is ReviewCause.SHORT_PAYMENT
    assert _waiting(session) == [short]
    assert (_reconcile_line(session).waiting, _reconcile_line(session).amount) == (1, D("50.00"))

    rest = pay_by_check(session, cast.group_a, "100.60", date(2027, 1, 9), reference="1002")

    assert rest.review_reason is None
    assert _waiting(session) == []
    assert _reconcile_line(session).waiting == 0  # Today agrees with the queue
    # Recorded, not deleted: the flag stays, with when and why it ended.
    session.refresh(short)
    assert short.review_reason.startswith("Paid $50.00 against $150.60 owed: short by $100.60")
    assert short.reviewed_at is not None and short.reviewed_by_id is None
    assert short.review_resolution == (
        f"cleared: invoice {cast.invoice_a.invoice_number} paid in full on Jan 9, 2027"
    )
    [audit_row] = session.scalars(
        select(AuditLog).where(AuditLog.action == "payment.review_cleared")
    ).all()
    assert audit_row.target_id == short.id and audit_row.actor_id is None
    assert audit_row.detail["resolution"] == short.review_resolution
    assert [p.id for p, _ in session.execute(cleared_reviews_query())] == [short.id]
    # Idempotent: nothing more to clear, and staff cannot reconcile it a second time.
    assert clear_settled_reviews(session, cast.group_a.id, on=TODAY) == []


def test_an_item_still_caused_stays_until_the_difference_is_written_off(session):
    cast = scenario(session)
    short = pay_by_check(session, cast.group_a, "50.00", date(2027, 1, 5))
    pay_by_check(session, cast.group_a, "40.00", date(2027, 1, 7))  # still 60.60 open
    assert _waiting(session)[0] == short

    write_off(
        session,
        cast.invoice_a,
        D("60.60"),
        on=date(2027, 1, 12),
        reason="agreed with the employer",
        actor=make_user(session, Role.SUPERVISOR),
    )

    assert short.review_resolution == (
        f"cleared: invoice {cast.invoice_a.invoice_number} settled on Jan 12, 2027 "
        "(the rest written off)"
    )
    assert _waiting(session) == [] and _reconcile_line(session).waiting == 0


def test_an_over_payment_leaves_once_its_credit_is_refunded(session):
    cast = scenario(session)
    over = pay_by_check(session, cast.group_a, "300.60", date(2027, 1, 5), [cast.invoice_a])
    assert over.review_cause is ReviewCause.OVER_PAYMENT
    refund = request_refund(
        session,
        over,
        D("150.00"),
        reason="the employer wants it back",
        actor=make_user(session, Role.BILLING_SPECIALIST),
    )
    assert _waiting(session) == [over]  # asked for, not yet approved: still there

    approve_refund(session, refund, actor=make_user(session, Role.SUPERVISOR), on=date(2027, 1, 12))

    assert over.review_resolution == "cleared: its credit of $150.00 was refunded on Jan 12, 2027"
    assert _waiting(session) == []


def test_a_returned_payment_leaves_the_queue_recorded(session):
    cast = scenario(session)
    short = pay_by_check(session, cast.group_a, "50.00", date(2027, 1, 5))

    return_payment(session, short, on=date(2027, 1, 9), reason="nsf")

    assert short.review_resolution == "cleared: the payment was returned on Jan 9, 2027"
    assert short.reviewed_at is not None and _waiting(session) == []


def test_a_flag_the_portal_cannot_judge_waits_for_staff(session):
    cast = scenario(session)
    paid = pay_by_check(session, cast.group_a, "150.60", date(2027, 1, 5))
    paid.review_reason = "$10.00 refunded in Stripe outside the portal; record the refund"
    session.flush()

    assert clear_settled_reviews(session, cast.group_a.id, on=TODAY) == []
    assert _waiting(session) == [paid]
    staff = make_user(session, Role.BILLING_SPECIALIST)
    mark_reconciled(session, paid, actor=staff, note="recorded the refund by hand")
    assert paid.review_resolution == f"reconciled by {staff.full_name}: recorded the refund by hand"
    assert _waiting(session) == [] and list(session.execute(cleared_reviews_query())) == []
