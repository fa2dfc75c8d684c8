"""Staff reports: one small framework (framework.py: the registry, filters, columns, run_report
and the downloads' sheets) and one module per report, each registering itself when imported
here, in the order the index lists them. Every figure is derived from the ledger or the money
tables in SQL aggregates (one or two queries a report, never one per group), so a report stays
quick on a book of thousands of groups.

Adding a report (delinquency, commissions...) is one step: a module with its `rows` function
that calls `register(Report(...))`, imported below (or a feature's own module, imported the
same way). The index page, the view, sorting, paging and both downloads come with it.

Beside the reports: statements.py (the paid-vs-billed statement and the employer dashboard)
and work_queue.py (the billing specialist's queues)."""

from __future__ import annotations

from billing_core.reports.framework import (
    REPORTS,
    Filter,
    Report,
    ReportColumn,
    ReportResult,
    ReportRun,
    download_name,
    get_report,
    register,
    report_sheet,
    report_sheets,
    run_report,
    sort_label,
    sort_rows,
    sum_totals,
)

# Each module registers its report on import; the index lists them in this order.
# isort: off
from billing_core.reports import aging
from billing_core.reports import over_90
from billing_core.reports import suspense_aging
from billing_core.reports import cash_receipts
from billing_core.reports import variances
from billing_core.reports import adjustments
from billing_core.reports import stripe_events
from billing_core.reports import mail_outbox
from billing_core.reports import collections_worklist
from billing_core.reports import credit_control
from billing_core.reports import commission_payments_1099
from billing_core.reports import commissions_by_agency
from billing_core.reports import commission_holds
from billing_core.reports import commission_chargebacks
from billing_core.reports import commission_payables_aging
# isort: on

__all__ = [
    "REPORTS",
    "Filter",
    "Report",
    "ReportColumn",
    "ReportResult",
    "ReportRun",
    "adjustments",
    "aging",
    "cash_receipts",
    "collections_worklist",
    "commission_chargebacks",
    "commission_holds",
    "commission_payables_aging",
    "commission_payments_1099",
    "commissions_by_agency",
    "credit_control",
    "download_name",
    "get_report",
    "mail_outbox",
    "over_90",
    "register",
    "report_sheet",
    "report_sheets",
    "run_report",
    "sort_label",
    "sort_rows",
    "stripe_events",
    "sum_totals",
    "suspense_aging",
    "variances",
]
