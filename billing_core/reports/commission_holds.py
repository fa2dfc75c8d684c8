"""Commission holds outstanding (issue 21, item 7): per agency and group, commission held
while the group is delinquent and not yet released (held less released, over every run's lines,
open runs included), with the first coverage month held and the group's state of delinquency.
Its total is what the agencies' held accounts (`2310-<agency>`) carry."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_core.ledger import money_sum
from billing_core.models import BrokerAgency, EmployerGroup
from billing_core.models.commissions import CommissionLine, CommissionLineKind
from billing_core.money import ZERO
from billing_core.reports.commissions_by_agency import AGENCY, agency_matches
from billing_core.reports.framework import Report, ReportColumn, ReportResult, register

COLUMNS = (
    ReportColumn("agency_code", "Agency", wrap=False),
    ReportColumn("agency_name", "Agency name"),
    ReportColumn("group_number", "Group", wrap=False),
    ReportColumn("group_name", "Employer"),
    ReportColumn("first_month", "First month held", "period"),
    ReportColumn("held", "Held", "money", total=True),
    ReportColumn("released", "Released", "money", total=True),
    ReportColumn("outstanding", "Held outstanding", "money", total=True),
)


def _rows(session: Session, filters: dict) -> ReportResult:
    found = session.execute(
        select(
            CommissionLine.agency_id,
            CommissionLine.group_id,
            CommissionLine.kind,
            money_sum(CommissionLine.amount),
            func.min(CommissionLine.coverage_month),
        )
        .where(CommissionLine.kind.in_([CommissionLineKind.HOLD, CommissionLineKind.RELEASE]))
        .group_by(CommissionLine.agency_id, CommissionLine.group_id, CommissionLine.kind)
    ).all()
    sums: dict[tuple[int, int], dict] = {}
    for agency_id, group_id, kind, amount, first in found:
        item = sums.setdefault((agency_id, group_id), {"held": ZERO, "released": ZERO,
                                                       "first": None})  # fmt: skip
        if CommissionLineKind(kind) is CommissionLineKind.HOLD:
            item["held"] -= amount  # a hold line is negative
            item["first"] = first
        else:
            item["released"] += amount
    agencies = {a.id: a for a in session.scalars(select(BrokerAgency))}
    group_ids = sorted({g for _, g in sums})
    groups = (
        {
            g.id: g
            for g in session.scalars(select(EmployerGroup).where(EmployerGroup.id.in_(group_ids)))
        }
        if group_ids
        else {}
    )
    rows = []
    for (agency_id, group_id), item in sums.items():
        outstanding = item["held"] - item["released"]
        agency = agencies[agency_id]
        if outstanding <= 0 or not agency_matches(agency, filters["agency"]):
            continue
        group = groups[group_id]
        rows.append(
            {"agency_code": agency.code, "agency_name": agency.name,
             "group_number": group.group_number, "group_name": group.name, "group_id": group.id,
             "first_month": item["first"], "held": item["held"], "released": item["released"],
             "outstanding": outstanding}
        )  # fmt: skip
    rows.sort(key=lambda r: (r["agency_code"], r["group_number"]))
    total = sum((r["outstanding"] for r in rows), ZERO)
    return ReportResult(
        rows,
        totals={
            "agency_code": "Total",
            "held": sum((r["held"] for r in rows), ZERO),
            "released": sum((r["released"] for r in rows), ZERO),
            "outstanding": total,
        },  # fmt: skip
        highlights=[("Held outstanding", total, "money"), ("Groups", len(rows), "int")],
        notes=[
            "Commission on a group in grace or later is held until the group is current "
            "again (or set against a chargeback); open runs' lines are included.",
        ],
    )


register(
    Report(
        name="commission_holds",
        title="Commission holds outstanding",
        description="Commission held on delinquent groups and not yet released, per agency "
        "and group.",
        columns=COLUMNS,
        filters=(AGENCY,),
        rows=_rows,
        default_sort="agency_code",
    )
)
