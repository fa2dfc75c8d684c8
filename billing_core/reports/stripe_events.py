"""The Stripe events report: every webhook event Stripe sent, once, with what the portal did
(acted on it, ignored it, or could not apply it and left it for staff)."""

from __future__ import annotations

from datetime import UTC, date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core.models import (
    WebhookEvent,
)
from billing_core.payments.online import NOT_APPLIED
from billing_core.reports.framework import (
    DATE_FROM,
    DATE_TO,
    Filter,
    Report,
    ReportColumn,
    ReportResult,
    register,
    start_of,
)

STRIPE_EVENT_COLUMNS = (
    ReportColumn("received_at", "Received (UTC)", wrap=False),
    ReportColumn("event_type", "Event", wrap=False),
    ReportColumn("result", "Result"),
    ReportColumn("outcome", "What the portal did"),
    ReportColumn("event_id", "Stripe event id", wrap=False),
)
STRIPE_RESULTS = (
    ("all", "Every event"),
    ("attention", "Not applied: needs staff"),
    ("ignored", "Ignored"),
    ("applied", "Acted on"),
)


def _stripe_result(outcome: str) -> str:
    if outcome.startswith(NOT_APPLIED):
        return "Not applied: needs staff"
    if outcome.startswith("ignored"):
        return "Ignored"
    return "Acted on"


def stripe_event_rows(session: Session, start: date, end: date, show: str = "all") -> list[dict]:
    """The Stripe webhook events received from `start` to `end` inclusive (UTC days), each as
    first processed (a redelivery changes nothing, so it is not listed twice), with what the
    portal did: acted on it, ignored it (a type or object it does not act on), or could not
    apply it (a domain error: the payment needs a person)."""
    query = (
        select(WebhookEvent)
        .where(
            WebhookEvent.received_at >= start_of(start),
            WebhookEvent.received_at < start_of(end + timedelta(days=1)),
        )
        .order_by(WebhookEvent.received_at, WebhookEvent.id)
    )
    not_applied = WebhookEvent.outcome.like(f"{NOT_APPLIED}%")
    ignored = WebhookEvent.outcome.like("ignored%")
    if show == "attention":
        query = query.where(not_applied)
    elif show == "ignored":
        query = query.where(ignored)
    elif show == "applied":
        query = query.where(~not_applied, ~ignored)
    return [
        {
            "received_at": f"{event.received_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}",
            "event_type": event.event_type,
            "result": _stripe_result(event.outcome),
            "outcome": event.outcome,
            "event_id": event.event_id,
        }
        for event in session.scalars(query)
    ]


def _stripe_event_report(session: Session, filters: dict) -> ReportResult:
    rows = stripe_event_rows(session, filters["date_from"], filters["date_to"], filters["show"])
    counts = {label: 0 for _, label in STRIPE_RESULTS[1:]}
    for row in rows:
        counts[row["result"]] += 1
    return ReportResult(
        rows,
        highlights=[(label, count, "int") for label, count in counts.items()],
        notes=[
            "Every event Stripe sent, once: a redelivered event keeps its first outcome.",
            "An event not applied changed nothing in the books; find the payment under Cash "
            "and record or fix it by hand.",
        ],
    )


register(
    Report(
        name="stripe_events",
        title="Stripe events",
        description="Online payment events from Stripe's webhook and what the portal did with "
        "each: acted on, ignored, or not applied and waiting for staff.",
        columns=STRIPE_EVENT_COLUMNS,
        filters=(
            DATE_FROM,
            DATE_TO,
            Filter("show", "Show", "choice", "all", STRIPE_RESULTS),
        ),
        rows=_stripe_event_report,
        default_sort="-received_at",
    )
)
