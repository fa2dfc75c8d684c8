"""The staff work queue: each queue's count, dollars, oldest age and what is past its target,
from the same rows the queue pages list."""

from __future__ import annotations

from datetime import UTC, date, datetime

from billing_core.models import Adjustment, WebhookEvent
from billing_core.models.enums import (
    AdjustmentStatus,
    JobStatus,
    UploadStatus,
)
from billing_core.money import D
from billing_core.payments.refunds import request_refund
from billing_core.reports.work_queue import work_queue
from tests.factories import queued_upload, scenario, staff_check

TODAY = date(2027, 2, 10)  # the scenario's January bills (due Jan 1) are 40 days past due


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 15, tzinfo=UTC)


def _upload(session, cast, status, created, **extra):
    return queued_upload(
        session, cast.group_a, cast.users["employer_a"], status, _at(created), **extra
    )


def test_every_queue_counts_its_items_dollars_oldest_age_and_what_is_late(session):
    cast = scenario(session)
    staff = cast.users["billing_specialist"]
    _upload(session, cast, UploadStatus.SUBMITTED, date(2027, 2, 9))  # 1 day: on time
    _upload(session, cast, UploadStatus.SUBMITTED, date(2027, 2, 5))  # 5 days: late
    _upload(session, cast, UploadStatus.APPROVED, date(2027, 1, 5))  # done: not waiting
    _upload(
        session, cast, UploadStatus.RECEIVED, date(2027, 2, 8),
        job_status=JobStatus.FAILED, job_updated_at=_at(date(2027, 2, 8)),
    )  # fmt: skip
    for amount, requested in (("120.00", date(2027, 2, 9)), ("-900.00", date(2027, 2, 1))):
        session.add(
            Adjustment(
                group_id=cast.group_a.id,
                coverage_month=date(2027, 1, 1),
                amount=D(amount),
                reason_code="manual",
                source_type="manual",
                status=AdjustmentStatus.PENDING,
                requested_by_id=staff.id,
                created_at=_at(requested),
            )
        )
    staff_check(
        session, cast.group_b, "20.00", date(2027, 2, 6)
    )  # short outside tolerance: reconcile
    staff_check(session, None, "300.00", date(2027, 2, 9), suspense_reason="no group on the check")
    over = staff_check(
        session, cast.group_a, "200.60", date(2027, 2, 9)
    )  # 50.00 over: also flagged
    refund = request_refund(session, over, D("50.00"), reason="asked for it back", actor=staff)
    refund.created_at = _at(TODAY)
    session.add(
        WebhookEvent(
            event_id="evt_wq_1",
            event_type="charge.refunded",
            outcome="not applied, needs staff: payment 9 is already returned",
            received_at=_at(date(2027, 2, 7)),
        )
    )
    session.flush()

    queue = work_queue(session, TODAY, authority_limit=D("500.00"))
    lines = {line.key: line for line in queue.lines}
    summary = {k: (v.waiting, v.late, v.oldest_days, v.amount) for k, v in lines.items()}
    assert summary["uploads"] == (2, 1, 5, None)
    assert summary["failed_uploads"] == (1, 1, 2, None)
    assert summary["adjustments"] == (2, 1, 9, D("1020.00"))
    # One requester's pending manual adjustments are one source: 1,020.00 together, above the
    # limit, so the 120.00 needs a supervisor too (issue 16: four eyes cannot be split around).
    assert lines["adjustments"].note == "2 need a supervisor."
    assert summary["reconcile"] == (2, 1, 4, D("220.60"))
    assert summary["suspense"] == (1, 0, 1, D("300.00"))
    assert summary["refunds_to_approve"] == (1, 0, 0, D("50.00"))
    assert summary["refunds_to_pay"] == (0, 0, None, D("0.00"))
    assert summary["stripe"] == (1, 1, 3, None)
    # Group B's January bill is short 56.90 and 40 days past due (group A is paid up).
    assert summary["past_due"] == (1, 1, None, D("56.90"))
    assert "31–60 days past due" in lines["past_due"].note
    assert (queue.waiting, queue.late) == (11, 6)
