"""The staff report of the mail outbox (billing_core.mail): every message queued over a date
range with where it stands (queued, sending, sent, failed), its attempts, its next attempt and
the last error, so staff can see what did not reach an employer and why."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_core.mail import PASSWORD_RESET
from billing_core.models import EmployerGroup, OutboxMessage
from billing_core.models.enums import MailStatus
from billing_core.reports.framework import (
    Filter,
    Report,
    ReportColumn,
    ReportResult,
    register,
    start_of,
    today_text,
)

KIND_LABELS = {
    PASSWORD_RESET: "Password reset",
    "invoice_ready": "Invoice ready",
    "upload_received": "Upload received",
    "upload_returned": "Upload returned",
    "upload_approved": "Upload approved",
    "payment_received": "Payment received",
    "payment_failed": "Payment failed or returned",
    "refund_decided": "Refund decided",
}
STATUS_LABELS = {
    MailStatus.QUEUED: "Queued",
    MailStatus.SENDING: "Sending",
    MailStatus.SENT: "Sent",
    MailStatus.FAILED: "Failed",
}
SHOW = (("all", "Every message"), *((s.value, STATUS_LABELS[s]) for s in MailStatus))

COLUMNS = (
    ReportColumn("created_at", "Queued (UTC)", wrap=False),
    ReportColumn("kind", "Kind"),
    ReportColumn("to_address", "To"),
    ReportColumn("group_number", "Group", wrap=False),
    ReportColumn("subject", "Subject"),
    ReportColumn("status", "Status"),
    ReportColumn("attempts", "Attempts", "int", total=True),
    ReportColumn("next_attempt_at", "Next attempt (UTC)", wrap=False),
    ReportColumn("sent_at", "Sent (UTC)", wrap=False),
    ReportColumn("last_error", "Last error"),
)


def _stamp(value: datetime | None) -> str | None:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M}" if value is not None else None


def outbox_rows(session: Session, start: date, end: date, show: str = "all") -> list[dict]:
    """The messages queued from `start` to `end` inclusive (UTC days), oldest first; `show` a
    status value to list only those."""
    query = (
        select(OutboxMessage, EmployerGroup.group_number)
        .outerjoin(EmployerGroup, EmployerGroup.id == OutboxMessage.group_id)
        .where(
            OutboxMessage.created_at >= start_of(start),
            OutboxMessage.created_at < start_of(end + timedelta(days=1)),
        )
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
    )
    if show != "all":
        query = query.where(OutboxMessage.status == MailStatus(show))
    return [
        {
            "created_at": _stamp(message.created_at),
            "kind": KIND_LABELS.get(message.kind, message.kind),
            "to_address": message.to_address,
            "group_number": group_number,
            "subject": message.subject,
            "status": STATUS_LABELS[message.status],
            "attempts": message.attempts,
            "next_attempt_at": _stamp(message.next_attempt_at)
            if message.status is MailStatus.QUEUED
            else None,
            "sent_at": _stamp(message.sent_at),
            "last_error": message.last_error,
        }
        for message, group_number in session.execute(query)
    ]


def _outbox_report(session: Session, filters: dict) -> ReportResult:
    start, end = filters["date_from"], filters["date_to"]
    rows = outbox_rows(session, start, end, filters["show"])
    counts = dict(
        session.execute(
            select(OutboxMessage.status, func.count())
            .where(
                OutboxMessage.created_at >= start_of(start),
                OutboxMessage.created_at < start_of(end + timedelta(days=1)),
            )
            .group_by(OutboxMessage.status)
        ).all()
    )
    return ReportResult(
        rows,
        highlights=[(STATUS_LABELS[s], counts.get(s, 0), "int") for s in MailStatus],
        notes=[
            "Queued messages are sent by `flask mail send` (cron); a failed attempt is tried "
            "again later, up to six times. Without SMTP_HOST nothing is sent and messages stay "
            "queued.",
            "Failed: out of attempts, refused by the mail server, or expired unsent; the last "
            "error says which.",
        ],
    )


def _week_ago(today: date) -> str:
    return (today - timedelta(days=7)).isoformat()


register(
    Report(
        name="mail_outbox",
        title="Mail outbox",
        description="Mail the portal queued (password resets, invoices ready, uploads, "
        "payments, refunds) and whether it was sent, with attempts and the last error.",
        columns=COLUMNS,
        filters=(
            Filter("date_from", "Queued from", "date", _week_ago),
            Filter("date_to", "Queued to", "date", today_text),
            Filter("show", "Show", "choice", "all", SHOW),
        ),
        rows=_outbox_report,
        default_sort="-created_at",
    )
)
