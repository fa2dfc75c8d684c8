"""The reconciliation variances report: what a self-billed employer reported against what was
billed, per invoice, converted from payroll deductions as upload reconciliation converts them
(billing_core.census.reconciliation), and whether each is within the group's tolerance."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core.billing.enrollment import add_months, month_start
from billing_core.models import (
    BillingPolicy,
    EmployerGroup,
    Invoice,
)
from billing_core.models.enums import (
    BillingMethod,
    InvoiceStatus,
    PayrollFrequency,
)
from billing_core.money import cents, percent
from billing_core.reports.framework import (
    GROUP,
    GROUP_COLUMNS,
    Filter,
    Report,
    ReportColumn,
    ReportResult,
    group_match,
    register,
    sum_totals,
)


def _twelve_months_ago(today: date) -> str:
    return f"{add_months(month_start(today), -11):%Y-%m}"


def _this_month(today: date) -> str:
    return f"{today:%Y-%m}"


VARIANCE_COLUMNS = (
    *GROUP_COLUMNS,
    ReportColumn("period", "Coverage month", "period"),
    ReportColumn("invoice_number", "Invoice", wrap=False),
    ReportColumn("billed", "Billed premium", "money", total=True),
    ReportColumn("reported", "Reported premium", "money", total=True),
    ReportColumn("variance", "Variance", "money", total=True),
    ReportColumn("variance_percent", "Variance %", "percent"),
    ReportColumn("tolerance", "Tolerance"),
)


def variance_rows(
    session: Session, first: date, last: date, group: str | None = None
) -> list[dict]:
    """Self-billed invoices (not void) for coverage periods starting from `first` to `last`
    that carry the employer's reported premium: billed (the invoice's current premium) against
    reported, the variance (reported - billed, dollars) and its percent of billed, and whether
    it is within the group's tolerance in force in the period.

    The reported figure is the remittance converted from payroll deductions exactly as upload
    reconciliation converts it (`reconciliation.monthly_premium_from_deductions` at the usual
    pay dates of the group's payroll frequency), so a three-pay-date month is no variance."""
    from billing_core.census.reconciliation import (
        monthly_premium_from_deductions,
        usual_pay_periods,
    )

    query = (
        select(
            Invoice.id,
            Invoice.group_id,
            EmployerGroup.group_number,
            EmployerGroup.name,
            Invoice.period_start,
            Invoice.invoice_number,
            Invoice.current_premium,
            Invoice.reported_premium,
        )
        .join(EmployerGroup, EmployerGroup.id == Invoice.group_id)
        .where(
            Invoice.billing_method == BillingMethod.SELF_BILL,
            Invoice.status != InvoiceStatus.VOID,
            Invoice.reported_premium.is_not(None),
            Invoice.period_start >= first,
            Invoice.period_start <= last,
        )
        .order_by(EmployerGroup.group_number, Invoice.period_start, Invoice.invoice_number)
    )
    match = group_match(group)
    if match is not None:
        query = query.where(match)
    found = session.execute(query).all()
    policies: dict[int, list[BillingPolicy]] = {}
    if found:
        for policy in session.scalars(
            select(BillingPolicy)
            .where(BillingPolicy.group_id.in_({r.group_id for r in found}))
            .order_by(BillingPolicy.effective_from)
        ):
            policies.setdefault(policy.group_id, []).append(policy)
    rows = []
    for invoice_id, group_id, number, name, period, invoice_number, billed, deducted in found:
        policy = next(
            (
                p
                for p in reversed(policies.get(group_id, []))
                if p.effective_from <= period
                and (p.effective_to is None or period <= p.effective_to)
            ),
            None,
        )
        reported = deducted
        if policy is not None:
            frequency = PayrollFrequency(policy.payroll_frequency)
            months = policy.billing_frequency.months
            reported = cents(
                monthly_premium_from_deductions(
                    deducted, usual_pay_periods(frequency) * months, frequency
                )
                * months
            )
        variance = reported - billed
        within = policy.within_tolerance(variance, billed) if policy else None
        rows.append(
            {
                "invoice_id": invoice_id,
                "group_id": group_id,
                "group_number": number,
                "group_name": name,
                "period": period,
                "invoice_number": invoice_number,
                "billed": billed,
                "reported": reported,
                "variance": variance,
                "variance_percent": percent(variance, billed),
                "tolerance": {True: "Within", False: "Outside", None: "No policy"}[within],
            }
        )
    return rows


def _variance_report(session: Session, filters: dict) -> ReportResult:
    rows = variance_rows(session, filters["period_from"], filters["period_to"], filters["group"])
    if filters["show"] == "outside":
        rows = [r for r in rows if r["tolerance"] != "Within"]
    totals = sum_totals(VARIANCE_COLUMNS, rows)
    totals["variance_percent"] = percent(totals["variance"], totals["billed"])
    outside = sum(1 for r in rows if r["tolerance"] == "Outside")
    return ReportResult(
        rows,
        totals,
        highlights=[
            ("Invoices", len(rows), "int"),
            ("Outside tolerance", outside, "int"),
            ("Net variance", totals["variance"], "money"),
        ],
        notes=[
            "Variance = reported - billed; a negative variance is an employer paying less than "
            "billed. Tolerance is the group's billing policy in force in the coverage month.",
            "Per-upload census variances (billed vs computed) are on each upload's review page.",
        ],
    )


register(
    Report(
        name="variances",
        title="Reconciliation variances",
        description="Self-billed premium: what the employer reported against what was billed, "
        "per invoice, with the group's tolerance.",
        columns=VARIANCE_COLUMNS,
        filters=(
            Filter("period_from", "First coverage month", "month", _twelve_months_ago),
            Filter("period_to", "Last coverage month", "month", _this_month),
            GROUP,
            Filter(
                "show",
                "Show",
                "choice",
                "all",
                (("all", "Every reported invoice"), ("outside", "Outside tolerance only")),
            ),
        ),
        rows=_variance_report,
        default_sort="-variance_percent",
    )
)
