"""Commissions by agency and month (issue 21, item 7): each run's lines per agency totalled by
kind (earned, adjustments, held, released, chargebacks) and the net, with the run's status;
the figures each agency's statement adds up to (`billing_core/commissions/statements.py`)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_core.commissions.schedules import add_months
from billing_core.ledger import money_sum
from billing_core.models import BrokerAgency
from billing_core.models.commissions import CommissionLine, CommissionLineKind, CommissionRun
from billing_core.money import ZERO
from billing_core.reports.framework import Filter, Report, ReportColumn, ReportResult, register

KINDS = ("earned", "adjustment", "hold", "release", "chargeback")
COLUMNS = (
    ReportColumn("month", "Run month", "period"),
    ReportColumn("agency_code", "Agency", wrap=False),
    ReportColumn("agency_name", "Agency name"),
    ReportColumn("status", "Run status"),
    ReportColumn("lines", "Lines", "int", total=True),
    ReportColumn("earned", "Earned", "money", total=True),
    ReportColumn("adjustment", "Adjustments", "money", total=True),
    ReportColumn("hold", "Held", "money", total=True),
    ReportColumn("release", "Released", "money", total=True),
    ReportColumn("chargeback", "Chargebacks", "money", total=True),
    ReportColumn("net", "Net", "money", total=True),
)
AGENCY = Filter("agency", "Agency", "group", help="Part of the agency's code or name.")


def year_ago(today: date) -> str:
    return f"{add_months(today.replace(day=1), -11):%Y-%m}"


def this_month(today: date) -> str:
    return f"{today:%Y-%m}"


def agency_matches(agency: BrokerAgency, text: str | None) -> bool:
    return not text or text.lower() in f"{agency.code} {agency.name}".lower()


def _rows(session: Session, filters: dict) -> ReportResult:
    start, end = filters["period_from"], filters["period_to"]
    found = session.execute(
        select(
            CommissionRun.month,
            CommissionRun.status,
            CommissionLine.agency_id,
            CommissionLine.kind,
            money_sum(CommissionLine.amount),
            func.count(),
        )
        .join(CommissionRun, CommissionRun.id == CommissionLine.run_id)
        .where(CommissionRun.month >= start, CommissionRun.month <= end)
        .group_by(
            CommissionRun.month, CommissionRun.status, CommissionLine.agency_id, CommissionLine.kind
        )
    ).all()
    agencies = {a.id: a for a in session.scalars(select(BrokerAgency))}
    rows: dict[tuple, dict] = {}
    for month, status, agency_id, kind, amount, count in found:
        agency = agencies[agency_id]
        if not agency_matches(agency, filters["agency"]):
            continue
        row = rows.setdefault(
            (month, agency.code),
            {"month": month, "agency_code": agency.code, "agency_name": agency.name,
             "status": status.value, "lines": 0, **{k: ZERO for k in KINDS}, "net": ZERO},
        )  # fmt: skip
        row["lines"] += count
        row[CommissionLineKind(kind).value] += amount
        row["net"] += amount
    out = [rows[key] for key in sorted(rows, key=lambda k: (k[0], k[1]))]
    totals = {"month": None, "agency_code": "Total", "lines": sum(r["lines"] for r in out),
              **{k: sum((r[k] for r in out), ZERO) for k in (*KINDS, "net")}}  # fmt: skip
    return _result(out, totals)


def _result(rows: list[dict], totals: dict) -> ReportResult:
    return ReportResult(
        rows,
        totals=totals,
        highlights=[
            ("Net commission", totals["net"], "money"),
            ("Held", totals["hold"], "money"),
            ("Chargebacks", totals["chargeback"], "money"),
        ],
        notes=[
            "Each run month's lines per agency; an open run's figures may still grow until a "
            "supervisor approves it. Net = earned + adjustments + held + released + "
            "chargebacks (held and chargebacks are negative).",
        ],
    )


register(
    Report(
        name="commissions_by_agency",
        title="Commissions by agency and month",
        description="Each month's commission run per agency: earned, adjustments, held, "
        "released, chargebacks and net.",
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
