"""The billing specialist's work queue (JOURNEYS: "what is due today and what is late, across
uploads to reconcile, variances, suspense, refunds, requests and delinquency actions"): one line
per queue with how many items wait, their dollars where money is waiting, the oldest item's age
and how many are past the queue's turnaround target. Each line leads to the page that works it.

Ages are whole days from when the item started waiting: an upload from when it was received
(it is submitted the same day as a rule), an adjustment or refund request from when it was
asked for, an approved refund from its approval, a flagged payment or suspense item from the
day the money was received. The targets are the team's turnaround in days (TARGET_DAYS); a
past-due group is late once any of its bills is more than 30 days past due (the notice stage).
A few small queries (the queues hold tens or hundreds of items; each is found through an index
over its waiting items, e.g. the payments to reconcile, not a read of the book), and one
aggregate row for the past-due groups, read as of today from the kept open items
(`billing_core.ledger.kept`), not the book's postings (bench/today_page.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from billing_core.billing.adjustments import needs_supervisor, pending_source_totals, source_key
from billing_core.db import built_once
from billing_core.ledger.receivables import (
    AGING_BUCKETS,
    AGING_KEYS,
    PAST_DUE_LATE_DAYS,
    PastDueGroups,
    past_due_groups,
)
from billing_core.models import (
    Adjustment,
    Payment,
    Refund,
    SuspenseItem,
    Upload,
    WebhookEvent,
    WriteOffRequest,
)
from billing_core.models.enums import (
    AdjustmentStatus,
    JobStatus,
    RefundStatus,
    SuspenseStatus,
    UploadStatus,
    WriteOffStatus,
)
from billing_core.money import ZERO
from billing_core.payments.online import NOT_APPLIED
from billing_core.payments.review import reconciliation_query
from billing_core.reports.aging import aging_rows

TARGET_DAYS = {
    "uploads": 2,
    "failed_uploads": 1,
    "adjustments": 3,
    "reconcile": 2,
    "suspense": 5,
    "refunds_to_approve": 2,
    "refunds_to_pay": 3,
    "write_offs_to_approve": 2,
    "stripe": 1,
}
STRIPE_LOOKBACK_DAYS = 30


@dataclass(frozen=True)
class QueueLine:
    """One queue: `waiting` items, `late` of them past `target_days`, the oldest `oldest_days`
    old, `amount` dollars (None where no money waits), and where to work it (`endpoint` with
    `args`, for url_for). `note` says what else matters (e.g. how many need a supervisor)."""

    key: str
    title: str
    waiting: int
    late: int
    oldest_days: int | None
    amount: Decimal | None
    target_days: int | None
    endpoint: str
    args: dict
    note: str = ""


@dataclass(frozen=True)
class WorkQueue:
    today: date
    lines: list[QueueLine]

    @property
    def waiting(self) -> int:
        return sum(line.waiting for line in self.lines)

    @property
    def late(self) -> int:
        return sum(line.late for line in self.lines)


def _day(value: date | datetime) -> date:
    return value.astimezone(UTC).date() if isinstance(value, datetime) else value


def _line(key, title, started, today, endpoint, args=None, amount=None, note="") -> QueueLine:
    """A queue line from the days its items started waiting."""
    ages = [(today - _day(day)).days for day in started]
    target = TARGET_DAYS[key]
    return QueueLine(
        key,
        title,
        waiting=len(ages),
        late=sum(1 for age in ages if age > target),
        oldest_days=max(ages) if ages else None,
        amount=amount,
        target_days=target,
        endpoint=endpoint,
        args=args or {},
        note=note,
    )


def work_queue(session: Session, today: date, *, authority_limit: Decimal) -> WorkQueue:
    """Every queue as of `today`, in the order a specialist works them."""
    lines = []

    statements = _queue_statements()
    uploads = session.scalars(statements["uploads"]).all()
    lines.append(_line("uploads", "Census uploads to review", uploads, today, "admin.upload_queue"))
    failed = session.scalars(statements["failed_uploads"]).all()
    lines.append(
        _line(
            "failed_uploads",
            "Uploads that could not be read",
            [when for when in failed if when is not None],
            today,
            "admin.upload_queue",
            note="The sender was asked to upload again; follow up if they have not.",
        )
    )

    pending = session.scalars(statements["adjustments"]).all()
    by_source = pending_source_totals(session, pending)
    supervised = sum(
        1 for a in pending if needs_supervisor(a, authority_limit, by_source[source_key(a)])
    )
    lines.append(
        _line(
            "adjustments",
            "Future-bill adjustments to decide",
            [a.created_at for a in pending],
            today,
            "admin.adjustment_queue",
            amount=sum((abs(a.amount) for a in pending), ZERO),
            note=f"{supervised} need a supervisor." if supervised else "",
        )
    )

    flagged = session.execute(statements["reconcile"]).all()
    lines.append(
        _line(
            "reconcile",
            "Payments to reconcile (short or over)",
            [received for received, _ in flagged],
            today,
            "admin.reconciliation_queue",
            amount=sum((amount for _, amount in flagged), ZERO),
        )
    )
    suspense = session.execute(statements["suspense"]).all()
    lines.append(
        _line(
            "suspense",
            "Suspense: cash not yet identified",
            [received for received, _ in suspense],
            today,
            "admin.suspense_workbench",
            amount=sum((amount for _, amount in suspense), ZERO),
        )
    )

    refunds = session.scalars(statements["refunds"]).all()
    asked = [r for r in refunds if r.status is RefundStatus.REQUESTED]
    approved = [r for r in refunds if r.status is RefundStatus.APPROVED]
    lines.append(
        _line(
            "refunds_to_approve",
            "Refunds to approve (a second person)",
            [r.created_at for r in asked],
            today,
            "admin.refund_queue",
            {"status": "requested"},
            amount=sum((r.amount for r in asked), ZERO),
        )
    )
    lines.append(
        _line(
            "refunds_to_pay",
            "Approved refunds to pay",
            [r.decided_at or r.created_at for r in approved],
            today,
            "admin.refund_queue",
            {"status": "approved"},
            amount=sum((r.amount for r in approved), ZERO),
        )
    )

    write_offs = session.scalars(statements["write_offs"]).all()
    lines.append(
        _line(
            "write_offs_to_approve",
            "Write-offs to approve (a supervisor who did not ask)",
            [w.created_at for w in write_offs],
            today,
            "admin.write_off_queue",
            amount=sum((w.amount for w in write_offs), ZERO),
        )
    )

    first_day = today - timedelta(days=STRIPE_LOOKBACK_DAYS)
    since = datetime.combine(first_day, time.min, tzinfo=UTC)
    not_applied = session.scalars(statements["stripe"], {"since": since}).all()
    lines.append(
        _line(
            "stripe",
            f"Online payment events not applied (last {STRIPE_LOOKBACK_DAYS} days)",
            not_applied,
            today,
            "admin.report_view",
            {"name": "stripe_events", "show": "attention", "date_from": first_day.isoformat()},
        )
    )

    lines.append(_past_due(session, today))
    return WorkQueue(today, lines)


@built_once
def _queue_statements() -> dict:
    """Each queue's statement, built once (db.built_once: Today is every specialist's first
    page, and building the ten statements cost more than running them)."""
    return {
        "uploads": select(Upload.created_at).where(Upload.status == UploadStatus.SUBMITTED),
        "failed_uploads": select(Upload.job_updated_at).where(
            Upload.job_status == JobStatus.FAILED, Upload.status == UploadStatus.RECEIVED
        ),
        "adjustments": select(Adjustment).where(Adjustment.status == AdjustmentStatus.PENDING),
        "reconcile": reconciliation_query().with_only_columns(Payment.received_on, Payment.amount),
        "suspense": select(Payment.received_on, Payment.amount)
        .join(SuspenseItem, SuspenseItem.payment_id == Payment.id)
        .where(SuspenseItem.status == SuspenseStatus.OPEN),
        "refunds": select(Refund).where(
            Refund.status.in_([RefundStatus.REQUESTED, RefundStatus.APPROVED])
        ),
        "write_offs": select(WriteOffRequest).where(
            WriteOffRequest.status == WriteOffStatus.REQUESTED
        ),
        "stripe": select(WebhookEvent.received_at).where(
            WebhookEvent.outcome.like(f"{NOT_APPLIED}%"),
            WebhookEvent.received_at >= bindparam("since"),
        ),
    }


def _past_due(session: Session, today: date) -> QueueLine:
    """Groups with a bill past due today: late once any is more than 30 days past due. As of
    today one aggregate row over the kept open items (`receivables.past_due_groups`); when an
    entry is dated after today, from the aging report's rows (postings)."""
    summary = past_due_groups(session, today)
    if summary is None:
        rows = [row for row in aging_rows(session, today) if row["past_due"] > 0]
        beyond_30 = AGING_KEYS[2:]
        summary = PastDueGroups(
            groups=len(rows),
            late=sum(1 for row in rows if sum((row[k] for k in beyond_30), ZERO) > 0),
            amount=sum((row["past_due"] for row in rows), ZERO),
            oldest_bucket=max(
                (max(i for i, key in enumerate(AGING_KEYS) if row[key] > 0) for row in rows),
                default=0,
            ),
        )
    oldest = summary.oldest_bucket
    return QueueLine(
        "past_due",
        "Groups with bills past due",
        waiting=summary.groups,
        late=summary.late,
        oldest_days=None,
        amount=summary.amount,
        target_days=None,
        endpoint="admin.report_view",
        args={"name": "aging", "sort": "-past_due_percent"},
        note=(
            f"The oldest are {AGING_BUCKETS[oldest][0]} days past due; late means more than "
            f"{PAST_DUE_LATE_DAYS} days."
            if oldest
            else ""
        ),
    )
