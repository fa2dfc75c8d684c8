"""What a person types on the set-up screens for the example document's group
(tests/data/setup_example.yaml), step by step, under another group number: a group set up by
the import and the same group set up on the screens must bill alike."""

from __future__ import annotations

import copy

from sqlalchemy import select

from billing_core.models import EmployerGroup, Invoice, Plan

GROUP = {
    "group_number": "G-3001",
    "name": "Cedar Valley Dental Lab (screens)",
    "tax_id": "36-4455667",
    "original_effective_date": "2024-01-01",
    "renewal_month": "1",
    "contact_email": "hr@cedarvalley.example.com",
    "state": "IL",
}
BILLING = {
    "effective_from": "2024-01-01",
    "billing_method": "list_bill",
    "billing_frequency": "monthly",
    "lead_days": "15",
    "tolerance_amount": "50.00",
    "tolerance_percent": "10.00",
    "tolerance_rule": "and",
    "coverage_month_rule": "fifteenth",
    "grace_days": "31",
    "grace_day_kind": "calendar",
    "payroll_frequency": "bi_weekly",
}
ROWS = {
    "subgroups": [{"code": "MAIN", "name": "Main office", "kind": "location"}],
    "classes": [{"code": "FT", "name": "Full-time employees"}],
    "brokers": [
        {
            "agency": "HARBOR",
            "writing_broker": "17234560",
            "effective_from": "2024-01-01",
            "commission_split_percent": "100",
        }
    ],
    "plans": [
        {"code": "DEN", "name": "Dental PPO", "product": "DEN-PPO", "effective_from": "2024-01-01"},
        {
            "code": "LIFE",
            "name": "Basic Life 2x salary",
            "product": "LIFE-BASIC",
            "effective_from": "2024-01-01",
        },
        {
            "code": "LTD",
            "name": "LTD 60% to $10,000 covered payroll",
            "product": "LTD-60",
            "class": "FT",
            "effective_from": "2024-01-01",
        },
    ],
    "rates": [
        {
            "plan": "DEN",
            "effective_from": "2024-01-01",
            "effective_to": "2024-12-31",
            "tier_EE": "38.20",
            "tier_ES": "76.10",
            "tier_EC": "84.60",
            "tier_FAM": "106.90",
        },
        {
            "plan": "DEN",
            "effective_from": "2025-01-01",
            "tier_EE": "40.15",
            "tier_ES": "80.00",
            "tier_EC": "88.90",
            "tier_FAM": "112.40",
        },
        {
            "plan": "LIFE",
            "effective_from": "2024-01-01",
            "unit_rate": "0.12",
            "volume_salary_multiple": "2",
            "volume_rounding_unit": "1000",
            "volume_maximum": "200000",
            "age_reductions": "65: 65\n70: 50",
        },
        {
            "plan": "LTD",
            "effective_from": "2024-01-01",
            "unit_rate": "0.35",
            "covered_payroll_maximum": "10000",
        },
    ],
}


def members_document(example: dict, group_number: str) -> dict:
    """The example's members under `group_number` (members come by census or import, not these
    screens): a set-up document naming the group as the screens made it."""
    g = dict(GROUP, group_number=group_number)
    g["renewal_month"] = int(g["renewal_month"])
    g["members"] = copy.deepcopy(example["groups"][0]["members"])
    return {"groups": [g]}


def invoice_lines(session, group_number: str) -> list[tuple]:
    """Every line billed to the group, without what names the group or the bill, sorted."""
    invoices = session.scalars(
        select(Invoice).join(EmployerGroup).where(EmployerGroup.group_number == group_number)
    ).all()
    plan_code = dict(session.execute(select(Plan.id, Plan.code)).all())
    out = []
    for invoice in invoices:
        for line in invoice.lines:
            out.append(
                (
                    invoice.period_start,
                    line.line_number,
                    line.section,
                    plan_code.get(line.plan_id),
                    line.coverage_month,
                    line.tier,
                    line.volume,
                    line.rate,
                    line.amount,
                    line.description,
                )
            )
    return sorted(out, key=repr)
