"""Commission chargebacks (issue 21, item 7): each chargeback line of the runs in a range of
months (premium credited back, refunded, returned or written off after commission was stated):
agency, group, product, coverage month, the premium basis that fell and the commission taken
back."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core.models import BrokerAgency, EmployerGroup, Product
from billing_core.models.commissions import CommissionLine, CommissionLineKind, CommissionRun
from billing_core.money import ZERO
from billing_core.reports.commissions_by_agency import AGENCY, this_month, year_ago
from billing_core.reports.framework import Filter, Report, ReportColumn, ReportResult, register

COLUMNS = (
    ReportColumn("month", "Run month", "period"),
    ReportColumn("agency_code", "Agency", wrap=False),
    ReportColumn("group_number", "Group", wrap=False),
    ReportColumn("group_name", "Employer"),
    ReportColumn("product", "Product"),
    ReportColumn("coverage_month", "Coverage month", "period"),
    ReportColumn("premium_basis", "Premium basis", "money", total=True),
    ReportColumn("amount", "Chargeback", "money", total=True),
    ReportColumn("note", "Why"),
)


def _rows(session: Session, filters: dict) -> ReportResult:
    found = session.execute(
        select(
            CommissionRun.month,
            BrokerAgency.code,
            BrokerAgency.name,
            EmployerGroup.id,
            EmployerGroup.group_number,
            EmployerGroup.name,
            Product.name,
            CommissionLine.coverage_month,
            CommissionLine.premium_basis,
            CommissionLine.amount,
            CommissionLine.note,
        )
        .join(CommissionRun, CommissionRun.id == CommissionLine.run_id)
        .join(BrokerAgency, BrokerAgency.id == CommissionLine.agency_id)
        .join(EmployerGroup, EmployerGroup.id == CommissionLine.group_id)
        .join(Product, Product.id == CommissionLine.product_id)
        .where(
            CommissionLine.kind == CommissionLineKind.CHARGEBACK,
            CommissionRun.month >= filters["period_from"],
            CommissionRun.month <= filters["period_to"],
        )
        .order_by(
            CommissionRun.month, BrokerAgency.code, EmployerGroup.group_number, CommissionLine.id
        )
    ).all()
    rows = []
    for (
        month,
        code,
        name,
        group_id,
        number,
        group_name,
        product,
        cover,
        basis,
        amount,
        note,
    ) in found:
        if filters["agency"] and filters["agency"].lower() not in f"{code} {name}".lower():
            continue
        rows.append(
            {"month": month, "agency_code": code, "group_number": number, "group_id": group_id,
             "group_name": group_name, "product": product, "coverage_month": cover,
             "premium_basis": basis, "amount": amount, "note": note}
        )  # fmt: skip
    total = sum((r["amount"] for r in rows), ZERO)
    return ReportResult(
        rows,
        totals={
            "month": None,
            "agency_code": "Total",
            "premium_basis": sum((r["premium_basis"] for r in rows), ZERO),
            "amount": total,
        },  # fmt: skip
        highlights=[("Charged back", total, "money"), ("Lines", len(rows), "int")],
        notes=[
            "A chargeback takes back commission stated before on premium that was then "
            "credited back by a retro term, refunded, returned or written off.",
        ],
    )


register(
    Report(
        name="commission_chargebacks",
        title="Commission chargebacks",
        description="Commission taken back on premium credited, refunded or written off, by "
        "run month, agency and group.",
        columns=COLUMNS,
        filters=(
            Filter("period_from", "First run month", "month", year_ago),
            Filter("period_to", "Last run month", "month", this_month),
            AGENCY,
        ),
        rows=_rows,
        default_sort="month",
    )
)
