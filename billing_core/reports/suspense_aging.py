"""The suspense aging report: unidentified cash still open on any date, item by item, by days
in suspense (from the day the money arrived)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from billing_core.models import (
    Payment,
    SuspenseItem,
)
from billing_core.models.enums import (
    PaymentMethod,
    PaymentStatus,
    SuspenseStatus,
)
from billing_core.reports.framework import (
    AS_OF,
    METHOD_CHOICES,
    METHOD_LABELS,
    Filter,
    Report,
    ReportColumn,
    ReportResult,
    register,
    start_of,
    sum_totals,
)

# Suspense is aged from the day the cash arrived.
SUSPENSE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0–30 days", 0, 30),
    ("31–60 days", 31, 60),
    ("61–90 days", 61, 90),
    ("Over 90 days", 91, None),
)
SUSPENSE_KEYS = ("days_0_30", "days_31_60", "days_61_90", "over_90")


def _suspense_bucket(days: int) -> int:
    for index, (_, low, high) in enumerate(SUSPENSE_BUCKETS):
        if days >= low and (high is None or days <= high):
            return index
    return 0  # received after the as-of date cannot be listed; a negative age never occurs


SUSPENSE_COLUMNS = (
    ReportColumn("received_on", "Received", "date"),
    ReportColumn("days_open", "Days in suspense", "int"),
    ReportColumn("payer_name", "Payer"),
    ReportColumn("reference", "Reference", wrap=False),
    ReportColumn("method", "Method", wrap=False),
    ReportColumn("reason", "Why in suspense"),
    *(
        ReportColumn(
            key, label, "money", total=True, label=label.replace(" days", ""), group="Days open"
        )
        for key, (label, _, _) in zip(SUSPENSE_KEYS, SUSPENSE_BUCKETS, strict=True)
    ),
    ReportColumn("amount", "Amount", "money", total=True),
)


def suspense_aging_rows(session: Session, as_of: date, method: str = "all") -> list[dict]:
    """Suspense items open at the end of `as_of`: cash received on or before it and not yet
    applied, reversed or refunded by then (an item resolved later counts as open). Each with
    its days in suspense (as_of - received_on) and its amount in its SUSPENSE_BUCKETS column."""
    query = (
        select(SuspenseItem, Payment)
        .join(Payment, Payment.id == SuspenseItem.payment_id)
        .where(
            Payment.received_on <= as_of,
            Payment.status.not_in([PaymentStatus.PENDING, PaymentStatus.FAILED]),
            or_(
                SuspenseItem.status == SuspenseStatus.OPEN,
                SuspenseItem.resolved_at >= start_of(as_of + timedelta(days=1)),
            ),
        )
        .order_by(Payment.received_on, SuspenseItem.id)
    )
    if method != "all":
        query = query.where(Payment.method == PaymentMethod(method))
    rows = []
    for item, payment in session.execute(query):
        days = (as_of - payment.received_on).days
        row = {
            "payment_id": payment.id,
            "suspense_item_id": item.id,
            "received_on": payment.received_on,
            "days_open": days,
            "payer_name": payment.payer_name or "",
            "reference": payment.reference or "",
            "method": METHOD_LABELS[payment.method],
            "reason": item.reason,
            **dict.fromkeys(SUSPENSE_KEYS),
            "amount": payment.amount,
        }
        row[SUSPENSE_KEYS[_suspense_bucket(days)]] = payment.amount
        rows.append(row)
    return rows


def _suspense_report(session: Session, filters: dict) -> ReportResult:
    rows = suspense_aging_rows(session, filters["as_of"], filters["method"])
    totals = sum_totals(SUSPENSE_COLUMNS, rows)
    return ReportResult(
        rows,
        totals,
        highlights=[
            ("Open items", len(rows), "int"),
            ("In suspense", totals["amount"], "money"),
            ("Over 90 days", totals["over_90"], "money"),
        ],
        notes=["Cash that named no group we could identify, still unresolved on the as-of date."],
    )


register(
    Report(
        name="suspense_aging",
        title="Suspense aging",
        description="Unidentified cash still open, item by item, by days in suspense.",
        columns=SUSPENSE_COLUMNS,
        filters=(AS_OF, Filter("method", "Method", "choice", "all", METHOD_CHOICES)),
        rows=_suspense_report,
        default_sort="received_on",
    )
)
