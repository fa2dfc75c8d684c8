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
(`billing_core.ledger.kept`), not the book's postings (bench/today_page.py). The page reads it
through `kept_work_queue`: kept per process while TODAY_MARKER, one statement of every queue's
figures, reads the same (billing_core.kept_reads)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import Date, String, bindparam, cast, func, literal_column, select
from sqlalchemy.orm import Session

from billing_core.billing.adjustments import needs_supervisor, pending_source_totals, source_key
from billing_core.db import UTCDateTime, built_once
from billing_core.kept_reads import KeptReads, Marker
from billing_core.ledger.receivables import (
    AGING_BUCKETS,
    AGING_KEYS,
    PAST_DUE_LATE_DAYS,
    PastDueGroups,
    past_due_groups,
)
from billing_core.models import (
    Adjustment,
    EmployerGroup,
    JournalEntry,
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


def kept_work_queue(session: Session, today: date, *, authority_limit: Decimal) -> WorkQueue:
    """`work_queue`'s answer, kept per process while TODAY_MARKER reads the same for `today`
    (and on PostgreSQL no writer it saw running has finished since: billing_core.kept_reads),
    per day and authority limit: a view that finds it kept runs one statement. What
    invalidates it: any change to a queue's count, late count, oldest item or dollars, a new
    adjustment or one decided, any journal entry (TODAY_MARKER's comment says why these
    suffice). The WorkQueue is shared by later views: read it, never change it."""
    return _KEPT_QUEUES.get(
        session,
        ("today", today, authority_limit),
        lambda: work_queue(session, today, authority_limit=authority_limit),
        _marker_params(today),
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


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _marker_params(today: date) -> dict:
    """The values TODAY_MARKER binds for `today`: per queue, the day an item must have started
    waiting before to be late (its age more than the target: `_line`), as a UTC midnight for a
    timestamp, and the Stripe queue's first moment."""
    params = {f"late_{key}": today - timedelta(days=days) for key, days in TARGET_DAYS.items()}
    for key in _TIMESTAMPED:
        params[f"late_{key}"] = _midnight(params[f"late_{key}"])
    params["since"] = _midnight(today - timedelta(days=STRIPE_LOOKBACK_DAYS))
    return params


_SEPARATOR = literal_column("':'", String())
# Queues whose items start waiting at a timestamp (the rest: at a date, a payment's receipt).
_TIMESTAMPED = (
    "uploads",
    "failed_uploads",
    "adjustments",
    "refunds_to_approve",
    "refunds_to_pay",
    "write_offs_to_approve",
    "stripe",
)


def _marker_columns() -> list:
    """What Today shows changes only with one of these (see TODAY_MARKER)."""

    def queue(key, started, where, amount=None, join=None):
        """A queue's count, late count, oldest start and dollars, as `_line` figures them, in
        one text (one scan, and a statement short enough for psycopg's parse cache, 4,096
        bytes). An empty queue reads NULL: no oldest start (the started column, or what the
        amounts are summed from, is never NULL on a counted item)."""
        cutoff = bindparam(f"late_{key}", type_=UTCDateTime() if key in _TIMESTAMPED else Date())
        counts = [func.count(started), func.count(started).filter(started < cutoff)]
        figures = [cast(count, String) for count in counts]
        figures.append(cast(func.min(started), String))
        if amount is not None:
            figures.append(cast(func.sum(amount), String))
        text = figures[0]
        for figure in figures[1:]:
            text = text.concat(_SEPARATOR).concat(figure)
        query = select(text.label("f"))
        if join is not None:
            query = query.select_from(join)
        return query.where(*where).scalar_subquery().label(f"q{list(TARGET_DAYS).index(key)}")

    submitted = Upload.status == UploadStatus.SUBMITTED
    failed = (Upload.job_status == JobStatus.FAILED, Upload.status == UploadStatus.RECEIVED)
    pending = Adjustment.status == AdjustmentStatus.PENDING
    flagged = reconciliation_query().whereclause
    flagged_from = Payment.__table__.join(
        EmployerGroup.__table__, EmployerGroup.id == Payment.group_id
    )
    suspense_from = Payment.__table__.join(
        SuspenseItem.__table__, SuspenseItem.payment_id == Payment.id
    )
    asked = Refund.status == RefundStatus.REQUESTED
    approved = Refund.status == RefundStatus.APPROVED
    not_applied = (
        WebhookEvent.outcome.like(f"{NOT_APPLIED}%"),
        WebhookEvent.received_at >= bindparam("since", type_=UTCDateTime()),
    )
    return [
        queue("uploads", Upload.created_at, [submitted]),
        queue("failed_uploads", Upload.job_updated_at, failed),
        queue("adjustments", Adjustment.created_at, [pending], func.abs(Adjustment.amount)),
        select(func.max(Adjustment.id)).scalar_subquery(),
        queue("reconcile", Payment.received_on, [flagged], Payment.amount, flagged_from),
        queue(
            "suspense",
            Payment.received_on,
            [SuspenseItem.status == SuspenseStatus.OPEN],
            Payment.amount,
            suspense_from,
        ),
        queue("refunds_to_approve", Refund.created_at, [asked], Refund.amount),
        queue(
            "refunds_to_pay",
            func.coalesce(Refund.decided_at, Refund.created_at),
            [approved],
            Refund.amount,
        ),
        queue(
            "write_offs_to_approve",
            WriteOffRequest.created_at,
            [WriteOffRequest.status == WriteOffStatus.REQUESTED],
            WriteOffRequest.amount,
        ),
        queue("stripe", WebhookEvent.received_at, not_applied),
        select(func.max(JournalEntry.id)).scalar_subquery(),
    ]


# Today shows, besides the day: per queue, how many items wait, how many are late, the oldest's
# age and their dollars, each a function of the queue's count, late count (started before the
# day's cutoff), oldest start and sum, all read by the marker itself for the day asked (so a
# new upload submitted, a payment flagged or cleared, cash to suspense or out of it, a refund
# asked, approved or paid, a write-off asked or decided, a Stripe event not applied, each moves
# its queue's figures whether it came by an insert or an update in place). The adjustments'
# note (how many need a supervisor) reads each pending adjustment: adjustments enter pending
# only when inserted (the highest id moves) and leave it in place, never to return (decided,
# then billed, reversed or approved again by a void: the count of pending ones falls), and a
# pending one is never edited. The past-due groups read the kept open items (changed only by
# postings, each a journal entry, or their rebuild, a repair) and whether an entry is dated
# after the day (a journal entry too). A new queue on Today must add its figures here.
TODAY_MARKER = Marker(_marker_columns, coalesce=False)
_KEPT_QUEUES = KeptReads(TODAY_MARKER, size=16)


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
