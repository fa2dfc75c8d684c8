"""The employer's group page, first screen: the account's position on a day (from
ledger.receivables.account_summary_with), billed vs paid for the last 12 coverage months (the
statement's month totals, as reports/statements.py::month_totals counts them) and the latest
census upload they may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session, aliased

from billing_core.access import SUBGROUP_IDS, USER_ID, invoice_in_scope, upload_in_scope
from billing_core.db import built_once
from billing_core.ledger.receivables import AccountSummary, account_summary_with, is_open_item
from billing_core.models import EmployerGroup, Invoice, Upload
from billing_core.models.enums import JobStatus, UploadStatus
from billing_core.models.ledger import KeptOpenItem
from billing_core.reports.statements import (
    MonthTotal,
    default_range,
    month_columns,
    month_in_range,
    month_values,
    months_of,
)

UPLOAD_STATUS_LABELS = {
    "received": "Not submitted yet",
    "submitted": "With billing for review",
    "approved": "Approved",
    "returned": "Returned to you",
    "rejected": "Rejected",
}


@dataclass(frozen=True)
class Dashboard:
    """What the employer's group page shows first: the account, the last 12 months billed vs
    paid, and the latest census upload."""

    summary: AccountSummary
    months: list[MonthTotal]
    latest_upload: Upload | None

    @property
    def upload_status_label(self) -> str:
        if self.latest_upload is None:
            return ""
        return UPLOAD_STATUS_LABELS.get(
            self.latest_upload.status.value, self.latest_upload.status.value
        )


def group_dashboard(
    session: Session,
    group: EmployerGroup,
    today: date,
    *,
    subgroup_ids: frozenset[int] | None = None,
    user_id: int | None = None,
) -> Dashboard:
    """The dashboard of `group` on `today`: the account's position (dollars: total due, past
    due, next due, credit, all from `account_summary`, limited to `subgroup_ids`' bills for a
    location's contact), billed vs paid for the 12 coverage months up to today's (and a bill
    already issued for next month), and the newest census upload (for a location's contact
    `user_id`, of those they may see). Two statements: the invoices of the month totals
    with the open items (`_dashboard_invoices`), and the account's payments and credit with
    the upload joined to them (`account_summary_with`)."""
    start, end = default_range(today)
    limited = subgroup_ids is not None
    rows = session.execute(
        _dashboard_invoices(limited), month_values(group, start, end, subgroup_ids)
    ).all()
    months = months_of(row[:6] for row in rows if row[6])
    summary, latest_upload = account_summary_with(
        session,
        group,
        today,
        _latest_upload,
        subgroup_ids=subgroup_ids,
        user_id=user_id,
        open_due_dates=[(due_on, owed) for *_, due_on, owed in rows if owed],
    )
    return Dashboard(summary=summary, months=months, latest_upload=latest_upload)


@built_once
def _dashboard_invoices(limited: bool):
    """The group's invoices (those a location's contact sees: `limited`) that `month_totals`
    counts or that are open items (`receivables.is_open_item`), oldest due first: the month
    columns (`statements.month_columns`), whether it is one of the months', its due date and
    kept open amount (None: none kept); built once (db.built_once). The open amount is looked
    up per invoice (its key): joined, the OR would read every kept item of the book."""
    open_amount = (
        select(KeptOpenItem.open_amount)
        .where(KeptOpenItem.invoice_id == Invoice.id)
        .scalar_subquery()
    )
    return (
        select(
            *month_columns(),
            month_in_range().label("in_range"),
            Invoice.due_on,
            open_amount.label("open_amount"),
        )
        .where(
            Invoice.group_id == bindparam("group_id"),
            invoice_in_scope(SUBGROUP_IDS if limited else None),
            or_(month_in_range(), is_open_item(open_amount)),
        )
        .order_by(Invoice.due_on, Invoice.id)
    )


def _latest_upload(limited: bool, with_user: bool):
    """The newest census upload a reader sees (the whole group's, or a location contact's:
    `limited`, by `with_user`), as `account_summary_with` joins it: an alias of Upload and
    a scalar subquery of its id."""
    return aliased(Upload), (
        select(Upload.id)
        .where(
            # A refused, failed or put-away file is not "the latest upload" (its sender saw
            # why on its page, and it is listed with the others).
            upload_in_scope(
                bindparam("group_id"),
                SUBGROUP_IDS if limited else None,
                USER_ID if with_user else None,
            ),
            Upload.status != UploadStatus.REJECTED,
            Upload.error_count == 0,
            Upload.discarded_at.is_(None),
            # (a failed background approval leaves its upload submitted: still the latest)
            or_(
                Upload.job_status.is_distinct_from(JobStatus.FAILED),
                Upload.status != UploadStatus.RECEIVED,
            ),
        )
        .order_by(Upload.created_at.desc(), Upload.id.desc())
        .limit(1)
        .scalar_subquery()
    )
