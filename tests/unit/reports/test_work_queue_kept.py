"""Today's queues kept per process (work_queue.kept_work_queue, under TODAY_MARKER): a second
view finds the same answer in one statement, and every change to what a queue counts between
two views (an upload submitted, approved or failed, an adjustment queued or decided, a payment
flagged or to suspense, a refund asked or approved, a write-off asked, a Stripe event not
applied, a payment on a past-due bill) shows on the next, equal to the queues read afresh."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from billing_core.models import Adjustment, Invoice, Upload, WebhookEvent, WriteOffRequest
from billing_core.models.enums import (
    AdjustmentStatus,
    JobStatus,
    RefundStatus,
    UploadStatus,
    WriteOffStatus,
)
from billing_core.money import D
from billing_core.payments.refunds import request_refund
from billing_core.reports.work_queue import kept_work_queue, work_queue
from tests.factories import queued_upload, scenario, staff_check

TODAY = date(2027, 2, 10)  # the scenario's January bills (due Jan 1) are 40 days past due
LIMIT = D("500.00")


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 15, tzinfo=UTC)


def _upload(session, cast, status, created, **extra) -> Upload:
    return queued_upload(
        session, cast.group_a, cast.users["employer_a"], status, _at(created), **extra
    )


def _adjustment(session, cast, amount, requested) -> Adjustment:
    adjustment = Adjustment(
        group_id=cast.group_a.id,
        coverage_month=date(2027, 1, 1),
        amount=D(amount),
        reason_code="manual",
        source_type="manual",
        status=AdjustmentStatus.PENDING,
        requested_by_id=cast.users["billing_specialist"].id,
        created_at=_at(requested),
    )
    session.add(adjustment)
    return adjustment


def _figures(queue) -> dict:
    return {
        line.key: (line.waiting, line.late, line.oldest_days, line.amount, line.note)
        for line in queue.lines
    }


def _view(session, statements, day=TODAY):
    """Today's kept answer, checked equal to the queues read afresh; and its statements."""
    session.flush()
    before = len(statements)
    kept = kept_work_queue(session, day, authority_limit=LIMIT)
    ran = len(statements) - before
    assert kept == work_queue(session, day, authority_limit=LIMIT)
    return _figures(kept), ran


def test_today_is_kept_and_follows_every_queue_it_counts(session, statements):
    cast = scenario(session)
    staff = cast.users["billing_specialist"]
    on_time = _upload(session, cast, UploadStatus.SUBMITTED, date(2027, 2, 9))
    _upload(session, cast, UploadStatus.SUBMITTED, date(2027, 2, 5))
    received = _upload(session, cast, UploadStatus.RECEIVED, date(2027, 2, 6))
    small = _adjustment(session, cast, "120.00", date(2027, 2, 9))
    first, computed = _view(session, statements)
    assert first["uploads"][:3] == (2, 1, 5)
    assert first["adjustments"] == (1, 0, 1, D("120.00"), "")
    again, kept = _view(session, statements)
    assert again == first and kept == 1 < computed

    # One upload approved and another submitted in place: as many waiting, the same oldest,
    # one more late.
    on_time.status = UploadStatus.APPROVED
    received.status = UploadStatus.SUBMITTED
    swapped, _ = _view(session, statements)
    assert swapped["uploads"][:3] == (2, 2, 5)
    assert _view(session, statements)[1] == 1

    received.status = UploadStatus.RECEIVED
    received.job_status = JobStatus.FAILED
    received.job_updated_at = _at(date(2027, 2, 8))
    failed, _ = _view(session, statements)
    assert failed["failed_uploads"][:3] == (1, 1, 2)

    # A second pending adjustment of the same source puts both over the limit together.
    _adjustment(session, cast, "-900.00", date(2027, 2, 1))
    queued, _ = _view(session, statements)
    assert queued["adjustments"] == (2, 1, 9, D("1020.00"), "2 need a supervisor.")
    small.status = AdjustmentStatus.APPROVED
    decided, _ = _view(session, statements)
    assert decided["adjustments"] == (1, 1, 9, D("900.00"), "1 need a supervisor.")
    assert decided["past_due"][:4] == (2, 2, None, D("227.50"))

    # Group A pays its January bill exactly: nothing flagged or cleared, only postings move.
    staff_check(session, cast.group_a, "150.60", TODAY)
    settled, _ = _view(session, statements)
    assert settled["past_due"][:4] == (1, 1, None, D("76.90"))
    assert {k: v for k, v in settled.items() if k != "past_due"} == {
        k: v for k, v in decided.items() if k != "past_due"
    }

    staff_check(session, None, "300.00", date(2027, 2, 9), suspense_reason="no group on the check")
    suspense, _ = _view(session, statements)
    assert suspense["suspense"][:4] == (1, 0, 1, D("300.00"))
    assert suspense["past_due"][:4] == (1, 1, None, D("76.90"))

    # Group B pays 20.00 of its January bill (76.90): flagged to reconcile, less past due.
    staff_check(session, cast.group_b, "20.00", date(2027, 2, 6))
    paid, _ = _view(session, statements)
    assert paid["reconcile"][:4] == (1, 1, 4, D("20.00"))
    assert paid["past_due"][:4] == (1, 1, None, D("56.90"))

    over = staff_check(session, cast.group_a, "200.60", date(2027, 2, 9))
    refund = request_refund(session, over, D("50.00"), reason="asked for it back", actor=staff)
    refund.created_at = _at(TODAY)
    asked, _ = _view(session, statements)
    assert asked["refunds_to_approve"][:4] == (1, 0, 0, D("50.00"))
    assert asked["past_due"][:4] == (1, 1, None, D("56.90"))
    refund.status = RefundStatus.APPROVED
    refund.decided_at = _at(date(2027, 2, 6))
    approved, _ = _view(session, statements)
    assert approved["refunds_to_approve"][0] == 0
    assert approved["refunds_to_pay"][:4] == (1, 1, 4, D("50.00"))

    session.add(
        WriteOffRequest(
            group_id=cast.group_b.id,
            invoice_id=session.scalars(
                select(Invoice.id).where(Invoice.group_id == cast.group_b.id)
            ).first(),
            amount=D("36.90"),
            reason="small balance",
            status=WriteOffStatus.REQUESTED,
            requested_by_id=staff.id,
            created_at=_at(date(2027, 2, 9)),
        )
    )
    written, _ = _view(session, statements)
    assert written["write_offs_to_approve"][:4] == (1, 0, 1, D("36.90"))

    session.add(
        WebhookEvent(
            event_id="evt_wq_kept",
            event_type="charge.refunded",
            outcome="not applied, needs staff: payment 9 is already returned",
            received_at=_at(date(2027, 2, 7)),
        )
    )
    stripe, _ = _view(session, statements)
    assert stripe["stripe"][:3] == (1, 1, 3)
    assert _view(session, statements)[1] == 1

    # Another day is another answer: ages and lateness move with it.
    later, _ = _view(session, statements, date(2027, 2, 12))
    assert later["suspense"][:3] == (1, 0, 3)
