"""The cash receipts report: money received by day and method over a date range, with what has
since been returned (NSF, ACH return, chargeback) and the net, in one aggregate query."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from billing_core.ledger import money_sum
from billing_core.models import (
    EmployerGroup,
    Payment,
)
from billing_core.models.enums import (
    PaymentMethod,
    PaymentStatus,
)
from billing_core.money import ZERO
from billing_core.reports.framework import (
    DATE_FROM,
    DATE_TO,
    GROUP,
    METHOD_CHOICES,
    METHOD_LABELS,
    Filter,
    Report,
    ReportColumn,
    ReportResult,
    group_match,
    register,
    sum_totals,
)

RECEIVED_STATUSES = (PaymentStatus.SUCCEEDED, PaymentStatus.RETURNED, PaymentStatus.REFUNDED)

CASH_COLUMNS = (
    ReportColumn("received_on", "Date received", "date"),
    ReportColumn("method", "Method", wrap=False),
    ReportColumn("payments", "Payments", "int", total=True),
    ReportColumn("received", "Received", "money", total=True),
    ReportColumn("returned", "Since returned", "money", total=True),
    ReportColumn("net", "Net of returns", "money", total=True),
)


def cash_receipts_rows(
    session: Session, start: date, end: date, method: str = "all", group: str | None = None
) -> list[dict]:
    """Money received from `start` to `end` inclusive (by received date), per day and method:
    the number of payments, dollars received, dollars of those payments since returned (NSF,
    ACH return, chargeback) and the net. Pending and failed payments never arrived and are not
    counted; suspense cash is (unless a group is asked for). One aggregate query."""
    returned = case((Payment.status == PaymentStatus.RETURNED, Payment.amount), else_=0)
    query = (
        select(
            Payment.received_on,
            Payment.method,
            func.count(Payment.id),
            money_sum(Payment.amount),
            money_sum(returned),
        )
        .where(
            Payment.received_on >= start,
            Payment.received_on <= end,
            Payment.status.in_(RECEIVED_STATUSES),
        )
        .group_by(Payment.received_on, Payment.method)
        .order_by(Payment.received_on, Payment.method)
    )
    if method != "all":
        query = query.where(Payment.method == PaymentMethod(method))
    match = group_match(group)
    if match is not None:
        query = query.join(EmployerGroup, EmployerGroup.id == Payment.group_id).where(match)
    return [
        {
            "received_on": day,
            "method": METHOD_LABELS[PaymentMethod(how)],
            "payments": count,
            "received": received,
            "returned": back,
            "net": received - back,
        }
        for day, how, count, received, back in session.execute(query)
    ]


def _cash_report(session: Session, filters: dict) -> ReportResult:
    rows = cash_receipts_rows(
        session, filters["date_from"], filters["date_to"], filters["method"], filters["group"]
    )
    totals = sum_totals(CASH_COLUMNS, rows)
    by_method: dict[str, Decimal] = {}
    for row in rows:
        by_method[row["method"]] = by_method.get(row["method"], ZERO) + row["received"]
    return ReportResult(
        rows,
        totals,
        highlights=[
            ("Received", totals["received"], "money"),
            ("Net of returns", totals["net"], "money"),
            *((label, amount, "money") for label, amount in sorted(by_method.items())),
        ],
        notes=[
            "By the date the money was received; pending and failed payments are left out.",
            "Refunds paid out are not deducted (see the refunds queue).",
        ],
    )


register(
    Report(
        name="cash_receipts",
        title="Cash receipts",
        description="Money received by day and method over a date range, with returns.",
        columns=CASH_COLUMNS,
        filters=(
            DATE_FROM,
            DATE_TO,
            Filter("method", "Method", "choice", "all", METHOD_CHOICES),
            GROUP,
        ),
        rows=_cash_report,
        default_sort="received_on",
    )
)
