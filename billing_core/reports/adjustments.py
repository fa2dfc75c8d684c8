"""The adjustments report: future-bill adjustments queued over a date range, by reason and
status, with charges, credits and the net."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from billing_core.billing.adjustments import REASONS as ADJUSTMENT_REASONS
from billing_core.billing.adjustments import reason_label
from billing_core.billing.enrollment import add_months, month_start
from billing_core.ledger import money_sum
from billing_core.models import (
    Adjustment,
    EmployerGroup,
)
from billing_core.models.enums import (
    AdjustmentStatus,
)
from billing_core.money import ZERO
from billing_core.reports.framework import (
    GROUP,
    Filter,
    Report,
    ReportColumn,
    ReportResult,
    group_match,
    register,
    start_of,
    sum_totals,
    today_text,
)

ADJUSTMENT_STATUS_LABELS = {s: s.value.capitalize() for s in AdjustmentStatus}


def _three_months_ago(today: date) -> str:
    return add_months(month_start(today), -2).isoformat()


ADJUSTMENT_COLUMNS = (
    ReportColumn("reason", "Reason"),
    ReportColumn("status", "Status"),
    ReportColumn("count", "Adjustments", "int", total=True),
    ReportColumn("charges", "Charges", "money", total=True),
    ReportColumn("credits", "Credits", "money", total=True),
    ReportColumn("net", "Net", "money", total=True),
)


def adjustment_rows(
    session: Session,
    start: date,
    end: date,
    status: str = "all",
    group: str | None = None,
) -> list[dict]:
    """Future-bill adjustments queued from `start` to `end` inclusive (by the day they were
    queued, UTC), per reason and status: how many, charges (positive amounts), credits
    (negative amounts, shown negative) and the net, in dollars. One aggregate query."""
    query = (
        select(
            Adjustment.reason_code,
            Adjustment.status,
            func.count(Adjustment.id),
            money_sum(case((Adjustment.amount > 0, Adjustment.amount), else_=0)),
            money_sum(case((Adjustment.amount < 0, Adjustment.amount), else_=0)),
        )
        .where(
            Adjustment.created_at >= start_of(start),
            Adjustment.created_at < start_of(end + timedelta(days=1)),
        )
        .group_by(Adjustment.reason_code, Adjustment.status)
    )
    if status != "all":
        query = query.where(Adjustment.status == AdjustmentStatus(status))
    match = group_match(group)
    if match is not None:
        query = query.join(EmployerGroup, EmployerGroup.id == Adjustment.group_id).where(match)
    order = {code: n for n, code in enumerate(ADJUSTMENT_REASONS)}
    status_order = {s: n for n, s in enumerate(AdjustmentStatus)}
    found = sorted(
        session.execute(query),
        key=lambda r: (order.get(r[0], len(order)), r[0], status_order[AdjustmentStatus(r[1])]),
    )
    return [
        {
            "reason_code": code,
            "reason": reason_label(code),
            "status": ADJUSTMENT_STATUS_LABELS[AdjustmentStatus(state)],
            "count": count,
            "charges": charges,
            "credits": credits,
            "net": charges + credits,
        }
        for code, state, count, charges, credits in found
    ]


def _adjustment_report(session: Session, filters: dict) -> ReportResult:
    rows = adjustment_rows(
        session, filters["date_from"], filters["date_to"], filters["status"], filters["group"]
    )
    totals = sum_totals(ADJUSTMENT_COLUMNS, rows)
    pending = sum((r["net"] for r in rows if r["status"] == "Pending"), ZERO)
    return ReportResult(
        rows,
        totals,
        highlights=[
            ("Adjustments", totals["count"], "int"),
            ("Net", totals["net"], "money"),
            ("Pending (net)", pending, "money"),
        ],
        notes=["By the day the adjustment was queued; the status is today's."],
    )


register(
    Report(
        name="adjustments",
        title="Adjustments by reason and status",
        description="Future-bill adjustments queued over a date range, by reason and status, "
        "with charges, credits and the net.",
        columns=ADJUSTMENT_COLUMNS,
        filters=(
            Filter("date_from", "Queued from", "date", _three_months_ago),
            Filter("date_to", "Queued to", "date", today_text),
            Filter(
                "status",
                "Status",
                "choice",
                "all",
                (
                    ("all", "All statuses"),
                    *((s.value, ADJUSTMENT_STATUS_LABELS[s]) for s in AdjustmentStatus),
                ),
            ),
            GROUP,
        ),
        rows=_adjustment_report,
        default_sort="reason",
    )
)
