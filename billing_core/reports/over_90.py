"""The balances-over-90-days report: the groups of the aging report (aging.py) owing on invoices
more than 90 days past due, largest first, with each one's oldest unpaid due date."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_core.ledger import Chart
from billing_core.ledger.receivables import dated_on_or_before
from billing_core.models import Invoice, LedgerAccount, Posting
from billing_core.reports.aging import aging_rows
from billing_core.reports.framework import (
    AS_OF,
    GROUP,
    GROUP_COLUMNS,
    Report,
    ReportColumn,
    ReportResult,
    register,
    sum_totals,
)


def _oldest_past_due(session: Session, as_of: date, group_ids: list[int]) -> dict[int, date]:
    """The earliest due date before `as_of` of an invoice still owing on `as_of`, per group in
    `group_ids` (one query over those groups' receivable postings)."""
    if not group_ids:
        return {}
    owed = func.sum(Posting.debit) - func.sum(Posting.credit)
    open_items = dated_on_or_before(
        session,
        select(Invoice.group_id.label("group_id"), Invoice.due_on.label("due_on"))
        .select_from(Posting)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .join(Invoice, Invoice.id == Posting.invoice_id)
        .where(
            LedgerAccount.code == Chart.RECEIVABLE.code,
            LedgerAccount.group_id.in_(group_ids),
            Invoice.due_on < as_of,
        )
        .group_by(Invoice.group_id, Invoice.id, Invoice.due_on)
        .having(owed > 0),
        as_of,
    ).subquery()
    return dict(
        session.execute(
            select(open_items.c.group_id, func.min(open_items.c.due_on)).group_by(
                open_items.c.group_id
            )
        ).all()
    )


OVER_90_COLUMNS = (
    *GROUP_COLUMNS,
    ReportColumn("over_90", "Over 90 days past due", "money", total=True),
    ReportColumn("days_91_120", "91–120 days", "money", total=True, label="of which 91–120"),
    ReportColumn("over_120", "Over 120 days", "money", total=True, label="of which over 120"),
    ReportColumn("total_open", "Open receivable", "money", total=True),
    ReportColumn("credit", "Unapplied credit", "money", total=True),
    ReportColumn("net_balance", "Net balance", "money", total=True),
    ReportColumn("oldest_due_on", "Oldest unpaid due date", "date"),
    ReportColumn("days_past_due", "Days past due", "int"),
)


def _over_90_report(session: Session, filters: dict) -> ReportResult:
    as_of = filters["as_of"]
    rows = [r for r in aging_rows(session, as_of, filters["group"]) if r["over_90"]]
    oldest = _oldest_past_due(session, as_of, [r["group_id"] for r in rows if r["past_due"]])
    for row in rows:
        row["oldest_due_on"] = oldest.get(row["group_id"])
        row["days_past_due"] = (
            (as_of - row["oldest_due_on"]).days if row["oldest_due_on"] is not None else None
        )
    totals = sum_totals(OVER_90_COLUMNS, rows)
    return ReportResult(
        rows,
        totals,
        highlights=[
            ("Over 90 days past due", totals["over_90"], "money"),
            ("Groups", len(rows), "int"),
        ],
        notes=["Groups with any invoice more than 90 days past its due date on the as-of date."],
    )


register(
    Report(
        name="over_90",
        title="Balances over 90 days",
        description="Groups owing on invoices more than 90 days past due, largest first, with "
        "the oldest unpaid due date.",
        columns=OVER_90_COLUMNS,
        filters=(AS_OF, GROUP),
        rows=_over_90_report,
        default_sort="-over_90",
    )
)
