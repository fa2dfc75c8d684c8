"""The census template an employer downloads for their group: the columns the portal reads
(headers it recognises), their current members and dependents (SSNs masked) with the plan
names they see and their coverage levels, and the group's plans. Filled in and uploaded again
unchanged, it reads as "nothing would change"."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from billing_core.census.tabular.vocabulary import FIELDS, TIERED_LINES
from billing_core.exports import Column, Sheet, xlsx_bytes
from billing_core.models import BenefitClass, BillingSubgroup, Coverage, Member, Plan
from billing_core.models.enums import LineOfCoverage, MemberStatus, Relationship
from billing_core.security import mask_ssn

# The lines a census names by plan and coverage level, with their fields' columns.
_PLAN_COLUMNS = {line: (plan, tier) for line, plan, tier in TIERED_LINES}
_RELATIONSHIP_WORDS = {
    Relationship.SPOUSE: "Spouse",
    Relationship.DOMESTIC_PARTNER: "Domestic partner",
    Relationship.CHILD: "Child",
}
_PERSON_FIELDS = (
    "employee_id",
    "relationship",
    "first_name",
    "last_name",
    "birth_date",
    "gender",
    "ssn",
    "hire_date",
    "annual_salary",
    "status",
)


def census_template(
    session: Session, group_id: int, today: date, subgroup_ids: Iterable[int] | None = None
) -> bytes:
    """An XLSX workbook: "Census" (one row per covered person in force on `today`: employees,
    then each one's dependents under them), "Plans" (what to write in a plan column) and
    "Columns" (what each column means). `subgroup_ids` limits the people to those
    subgroups (a location's HR contact)."""
    plans = list(
        session.scalars(
            select(Plan)
            .where(Plan.group_id == group_id)
            .options(selectinload(Plan.product))
            .order_by(Plan.code)
        )
    )
    lines = [
        line for line in _PLAN_COLUMNS if any(p.product.line_of_coverage is line for p in plans)
    ]
    subgroups = {
        s.id: s.code
        for s in session.scalars(
            select(BillingSubgroup).where(BillingSubgroup.group_id == group_id)
        )
    }
    classes = {
        c.id: c.code
        for c in session.scalars(select(BenefitClass).where(BenefitClass.group_id == group_id))
    }
    names = list(_PERSON_FIELDS)
    if subgroups:
        names.append("subgroup_code")
    if classes:
        names.append("class_code")
    names.append("postal_code")
    for line in lines:
        names += _PLAN_COLUMNS[line]
    columns = [
        Column(FIELDS[name].label, "date" if name.endswith("date") else "text") for name in names
    ]
    return xlsx_bytes(
        [
            Sheet("Census", columns, _people(session, group_id, today, subgroup_ids, names, plans, subgroups, classes)),
            Sheet(
                "Plans",
                [Column("Line of coverage"), Column("Plan name"), Column("Plan code"), Column("Coverage levels")],
                [
                    (p.product.line_of_coverage.label, p.name, p.code, "EE, ES, EC, FAM")
                    for p in plans
                    if p.effective_to is None or p.effective_to >= today
                ],
            ),
            Sheet(
                "Columns",
                [Column("Column"), Column("What to write")],
                [(FIELDS[name].label, FIELDS[name].description) for name in names],
            ),
        ]
    )  # fmt: skip


def _people(session, group_id, today, subgroup_ids, names, plans, subgroups, classes):
    plan_by_id = {p.id: p for p in plans}
    query = (
        select(Member)
        .where(Member.group_id == group_id, Member.status != MemberStatus.TERMINATED)
        .options(selectinload(Member.dependents), selectinload(Member.coverages))
        .order_by(Member.last_name, Member.first_name, Member.id)
    )
    if subgroup_ids is not None:
        query = query.where(Member.subgroup_id.in_(list(subgroup_ids)))
    for member in session.scalars(query):
        in_force: dict[LineOfCoverage, Coverage] = {}
        for coverage in member.coverages:
            if coverage.in_force_on(today):
                in_force[plan_by_id[coverage.plan_id].product.line_of_coverage] = coverage
        if not in_force:
            continue
        values = {
            "employee_id": member.employee_id or "",
            "relationship": "Employee",
            "first_name": member.first_name,
            "last_name": member.last_name,
            "birth_date": member.birth_date,
            "gender": member.gender.value if member.gender.value != "U" else "",
            "ssn": mask_ssn(member.ssn_last4),
            "hire_date": member.hire_date,
            "annual_salary": f"{member.annual_salary:.2f}" if member.annual_salary else "",
            "status": member.status.value.title(),
            "subgroup_code": subgroups.get(member.subgroup_id, ""),
            "class_code": classes.get(member.class_id, ""),
            "postal_code": member.postal_code or "",
        }
        for line, (plan_field, tier_field) in _PLAN_COLUMNS.items():
            coverage = in_force.get(line)
            values[plan_field] = plan_by_id[coverage.plan_id].name if coverage else ""
            values[tier_field] = coverage.tier.value if coverage and coverage.tier else ""
        yield [values.get(name) for name in names]
        for dependent in member.dependents:
            if dependent.effective_to is not None and dependent.effective_to < today:
                continue
            yield [
                {
                    "employee_id": member.employee_id or "",
                    "relationship": _RELATIONSHIP_WORDS[dependent.relationship_to_member],
                    "first_name": dependent.first_name,
                    "last_name": dependent.last_name,
                    "birth_date": dependent.birth_date,
                    "gender": dependent.gender.value if dependent.gender.value != "U" else "",
                    "ssn": mask_ssn(dependent.ssn_last4),
                }.get(name)
                for name in names
            ]
