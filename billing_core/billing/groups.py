"""Read models of a group for the screens: summary, plans with their current rates, members,
its invoices as the list shows them (a page, the latest bill) and the names of its locations.
Each takes the reader's GroupScope, so a location's contact gets their locations' part."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from billing_core.access import GroupScope
from billing_core.billing.invoices import STATUS_LABELS, invoice_list_query, invoice_rows
from billing_core.errors import NotFound
from billing_core.models import (
    BillingSubgroup,
    BrokerOfRecord,
    Coverage,
    EmployerGroup,
    Invoice,
    Member,
    Plan,
    RateVersion,
)
from billing_core.models.enums import InvoiceStatus, MemberStatus
from billing_core.paging import Page, page_of


@dataclass(frozen=True)
class PlanSummary:
    plan: Plan
    enrolled: int
    rate_version: RateVersion | None


@dataclass(frozen=True)
class GroupSummary:
    group: EmployerGroup
    policy: object
    member_count: int
    members_by_status: dict[str, int]
    plans: list[PlanSummary]
    subgroups: list
    brokers_of_record: list[BrokerOfRecord]


def group_summary(
    session: Session, scope: GroupScope, on: date, *, with_brokers: bool = True
) -> GroupSummary:
    """Counts as of `on`, limited to the subgroups the scope allows; the brokers of record
    only `with_brokers` (the staff's group page shows them, the employer's does not)."""
    group = scope.group
    members = scope.members_query().subquery()
    by_status = dict(
        session.execute(
            select(members.c.status, func.count())
            .where(members.c.status != MemberStatus.TERMINATED.value)
            .group_by(members.c.status)
        ).all()
    )
    # Driven by the group's plans (coverage has no group column): the plan index reads the
    # group's coverages instead of a scan of every coverage in the book.
    enrolled = dict(
        session.execute(
            select(Coverage.plan_id, func.count(func.distinct(Coverage.member_id)))
            .join(members, members.c.id == Coverage.member_id)
            .where(
                Coverage.plan_id.in_(select(Plan.id).where(Plan.group_id == group.id)),
                Coverage.in_force_at(on),
            )
            .group_by(Coverage.plan_id)
        ).all()
    )
    plans = session.scalars(
        select(Plan)
        .where(Plan.group_id == group.id)
        .options(
            joinedload(Plan.product),
            selectinload(Plan.rate_versions).selectinload(RateVersion.tier_rates),
            selectinload(Plan.rate_versions).selectinload(RateVersion.age_bands),
        )
        .order_by(Plan.code)
    ).all()
    bors = (
        session.scalars(
            select(BrokerOfRecord)
            .where(BrokerOfRecord.group_id == group.id)
            .options(
                selectinload(BrokerOfRecord.agency), selectinload(BrokerOfRecord.writing_broker)
            )
            .order_by(BrokerOfRecord.effective_from.desc())
        ).all()
        if with_brokers
        else []
    )
    subgroups = [
        s for s in group.subgroups if scope.subgroup_ids is None or s.id in scope.subgroup_ids
    ]
    return GroupSummary(
        group=group,
        policy=group.current_policy(session, on),
        member_count=sum(by_status.values()),
        members_by_status={str(k): v for k, v in by_status.items()},
        plans=[PlanSummary(p, enrolled.get(p.id, 0), p.rate_version_on(on)) for p in plans],
        subgroups=subgroups,
        brokers_of_record=list(bors),
    )


def group_numbered(session: Session, number: str) -> EmployerGroup:
    """The group with `number` (the CLI's way in); NotFound when there is none."""
    group = session.scalar(select(EmployerGroup).where(EmployerGroup.group_number == number))
    if group is None:
        raise NotFound(f"no group numbered {number}")
    return group


def group_search_query(search: str = "", sort: str = "name") -> Select:
    """Groups matching `search` in name, number or tax id, for the staff group list."""
    query = select(EmployerGroup)
    if search:
        like = f"%{search.strip().lower()}%"
        query = query.where(
            or_(
                func.lower(EmployerGroup.name).like(like),
                func.lower(EmployerGroup.group_number).like(like),
                EmployerGroup.tax_id.like(like),
            )
        )
    order = {
        "name": EmployerGroup.name,
        "number": EmployerGroup.group_number,
        "effective": EmployerGroup.original_effective_date.desc(),
    }.get(sort, EmployerGroup.name)
    return query.order_by(order, EmployerGroup.id)


def member_counts(session: Session, group_ids: list[int]) -> dict[int, int]:
    """Non-terminated members per group, one query for a whole list."""
    if not group_ids:
        return {}
    return dict(
        session.execute(
            select(Member.group_id, func.count())
            .where(Member.group_id.in_(group_ids), Member.status != MemberStatus.TERMINATED)
            .group_by(Member.group_id)
        ).all()
    )


def member_search_query(scope: GroupScope, search: str = "") -> Select:
    """Members of the scope, searchable by name, member id, employee id or SSN last four."""
    query = scope.members_query().options(selectinload(Member.subgroup))
    if search:
        text = search.strip().lower()
        like = f"%{text}%"
        query = query.where(
            or_(
                func.lower(Member.last_name).like(like),
                func.lower(Member.first_name).like(like),
                func.lower(Member.member_key).like(like),
                func.lower(Member.employee_id).like(like),
                Member.ssn_last4 == text[-4:] if text[-4:].isdigit() else False,
            )
        )
    return query.order_by(Member.last_name, Member.first_name, Member.id)


def invoice_list_page(
    session: Session,
    scope: GroupScope,
    on: date,
    *,
    search: str = "",
    status: str = "",
    asked_page: int | None = 1,
    per_page: int = 24,
) -> Page:
    """A page of the invoices the scope sees, newest first, as rows (number, period, status,
    balance as of `on`), matching `search`. With a `status` (one of STATUS_LABELS), every
    invoice in it on one page: status is derived from the ledger, so the (short) list is
    filtered in Python."""
    query = invoice_list_query(scope.group.id, scope.subgroup_ids, search)
    if status in STATUS_LABELS:
        rows = [
            row
            for row in invoice_rows(session, scope.group, session.scalars(query), on)
            if row.status == status
        ]
        return Page(items=rows, page=1, per_page=max(len(rows), 1), total=len(rows))
    page = page_of(session, query, asked_page, per_page)
    page.items = invoice_rows(session, scope.group, page.items, on)
    return page


def latest_invoice_row(session: Session, scope: GroupScope, on: date):
    """The newest bill the scope sees that is not void, as the invoice list shows it (None
    before the first bill)."""
    latest = session.scalars(
        invoice_list_query(scope.group.id, scope.subgroup_ids)
        .where(Invoice.status != InvoiceStatus.VOID)
        .limit(1)
    ).first()
    return invoice_rows(session, scope.group, [latest], on)[0] if latest else None


def subgroup_names(session: Session, subgroup_ids: frozenset[int] | None) -> list[str]:
    """The names of the locations a limited reader's copy is for, by name (none for the
    whole group)."""
    if subgroup_ids is None:
        return []
    return list(
        session.scalars(
            select(BillingSubgroup.name)
            .where(BillingSubgroup.id.in_(subgroup_ids))
            .order_by(BillingSubgroup.name)
        )
    )
