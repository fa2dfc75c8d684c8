"""The year-end 1099-NEC figure (issue 21, item 6): commission paid to each agency by ACH in a
calendar year (files marked sent that year, less entries the bank returned that year), with
the agency's tax id, from `billing_core/commissions/disbursements.py::paid_in_year`."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from billing_core.commissions.disbursements import paid_in_year
from billing_core.money import ZERO
from billing_core.reports.framework import Filter, Report, ReportColumn, ReportResult, register

YEARS = tuple((str(y), str(y)) for y in range(2020, 2041))
COLUMNS = (
    ReportColumn("agency_code", "Agency", wrap=False),
    ReportColumn("agency_name", "Agency name"),
    ReportColumn("tax_id", "Tax id (TIN)", wrap=False),
    ReportColumn("payments", "ACH payments", "int", total=True),
    ReportColumn("paid", "Paid in the year (1099-NEC box 1)", "money", total=True),
)


def _this_year(today: date) -> str:
    return str(today.year)


def _rows(session: Session, filters: dict) -> ReportResult:
    year = int(filters["year"])
    rows = paid_in_year(session, year)
    total = sum((r["paid"] for r in rows), ZERO)
    return ReportResult(
        rows,
        totals={
            "agency_code": "Total",
            "payments": sum(r["payments"] for r in rows),
            "paid": total,
        },  # fmt: skip
        highlights=[("Agencies paid", len(rows), "int"), (f"Paid in {year}", total, "money")],
        notes=[
            "Commission paid by ACH: a file counts on the day it was marked sent; an entry the "
            "bank returned is taken off in the year of the return.",
            "An agency paid $600.00 or more in the year gets a 1099-NEC; check its tax id first.",
        ],
    )


register(
    Report(
        name="commission_payments_1099",
        title="Commission paid per agency (1099-NEC)",
        description="Commission paid to each agency by ACH in a calendar year, less returns: "
        "the 1099-NEC figure.",
        columns=COLUMNS,
        filters=(Filter("year", "Calendar year", "choice", _this_year, YEARS),),
        rows=_rows,
        default_sort="agency_code",
    )
)
