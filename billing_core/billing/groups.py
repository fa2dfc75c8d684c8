"""Read models of a group for the screens: summary, plans with their current rates, members,
its latest bill as the invoice list shows it and the names of its locations (the invoice list
itself: `billing_core/billing/invoices.py::group_invoice_page`).
Each takes the reader's GroupScope, so a location's contact gets their locations' part."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import (
    Date,
    Select,
    String,
    and_,
    bindparam,
    cast,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session, joinedload, selectinload

from billing_core.access import SUBGROUP_IDS, GroupScope, scope_values
from billing_core.billing.invoices import invoice_list_query, invoice_rows
from billing_core.db import built_once
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
from billing_core.models.ledger import KeptOpenItem
from billing_core.money import ZERO


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
    # The day the figures are as of: today, or the group's first day of coverage while it has
    # not started (a new group's page shows the policy, rates and enrollment it starts with,
    # not "nothing in force"); `starts_on` is that first day then, else None.
    as_of: date | None = None
    starts_on: date | None = None


def group_summary(
    session: Session,
    scope: GroupScope,
    on: date,
    *,
    with_brokers: bool = True,
    rate_history: bool = True,
) -> GroupSummary:
    """Counts as of `on` (or, for a group whose coverage starts later, as of its first day),
    limited to the subgroups the scope allows; the brokers of record
    only `with_brokers` (the staff's group page shows them, the employer's does not). Without
    `rate_history` (the employer's page shows only today's rates) each plan's rate version in
    force on `on` is read alone, in one statement with its rates, not every version's; the
    locations are read only for a scope limited to some of them."""
    group = scope.group
    starts_on = group.original_effective_date if group.original_effective_date > on else None
    on = starts_on or on
    limited = scope.subgroup_ids is not None
    values = {"group_id": group.id, "on": on}
    if limited:
        values["subgroup_ids"] = sorted(scope.subgroup_ids)
    by_status: dict[str, int] = {}
    enrolled: dict[int, int] = {}
    for kind, key, count in session.execute(_member_counts(limited), values):
        if kind == "status":
            by_status[key] = count
        else:
            enrolled[int(key)] = count
    if rate_history:
        plans = session.scalars(
            select(Plan)
            .where(Plan.group_id == group.id)
            .order_by(Plan.code)
            .options(
                joinedload(Plan.product),
                selectinload(Plan.rate_versions).selectinload(RateVersion.tier_rates),
                selectinload(Plan.rate_versions).selectinload(RateVersion.age_bands),
            )
        ).all()
        in_force = {p.id: p.rate_version_on(on) for p in plans}
    else:
        plans, in_force = _plans_and_rates_in_force(session, values)
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
    if rate_history or scope.subgroup_ids is not None:
        subgroups = [
            s for s in group.subgroups if scope.subgroup_ids is None or s.id in scope.subgroup_ids
        ]
    else:
        subgroups = []  # the employer's page names the locations of a limited scope only
    return GroupSummary(
        group=group,
        policy=group.current_policy(session, on),
        member_count=sum(by_status.values()),
        members_by_status=by_status,
        plans=[PlanSummary(p, enrolled.get(p.id, 0), in_force.get(p.id)) for p in plans],
        subgroups=subgroups,
        brokers_of_record=list(bors),
        as_of=on,
        starts_on=starts_on,
    )


def _plans_and_rates_in_force(
    session: Session, values: dict
) -> tuple[list[Plan], dict[int, RateVersion]]:
    """The group's plans (by code, with their products) and each one's rate version in force on
    `on` (the latest starting, as `Plan.rate_version_on`) with its tier rates and age bands, in
    one statement."""
    plans: dict[int, Plan] = {}
    in_force: dict[int, RateVersion] = {}
    for plan, version in session.execute(_plans_with_rates_in_force(), values).unique():
        plans.setdefault(plan.id, plan)
        if version is not None:
            in_force[plan.id] = version  # ordered by start: the latest starting wins
    return list(plans.values()), in_force


# The employer's group page's reads, built once (db.built_once); `limited`: a scope limited to
# some locations (its members only).
@built_once
def _member_counts(limited: bool):
    """The members by status (but the terminated) and the members enrolled in each plan on
    `on`, as (kind, key, count) rows of one statement: ("status", status, members) and ("plan",
    plan id, members). The enrolled are read driven by the group's plans (coverage has no
    group column): the plan index reads the group's coverages instead of a scan of every
    coverage in the book, from the index alone (ix_coverage_plan_in_force). Every member of a
    group plan's coverage is the group's, so the members are joined only to limit them to a
    location's."""
    by_status = (
        select(literal("status"), cast(Member.status, String), func.count())
        .where(
            Member.group_id == bindparam("group_id"),
            Member.status != MemberStatus.TERMINATED,
        )
        .group_by(Member.status)
    )
    by_plan = (
        select(
            literal("plan"),
            cast(Coverage.plan_id, String),
            func.count(func.distinct(Coverage.member_id)),
        )
        .where(
            Coverage.plan_id.in_(select(Plan.id).where(Plan.group_id == bindparam("group_id"))),
            Coverage.in_force_at(bindparam("on", type_=Date)),
        )
        .group_by(Coverage.plan_id)
    )
    if limited:
        in_scope = Member.subgroup_id.in_(bindparam("subgroup_ids", expanding=True))
        by_status = by_status.where(in_scope)
        by_plan = by_plan.join(Member, Member.id == Coverage.member_id).where(in_scope)
    return union_all(by_status, by_plan)


@built_once
def _plans_with_rates_in_force():
    on = bindparam("on", type_=Date)
    return (
        select(Plan, RateVersion)
        .outerjoin(
            RateVersion,
            and_(
                RateVersion.plan_id == Plan.id,
                RateVersion.effective_from <= on,
                or_(RateVersion.effective_to.is_(None), RateVersion.effective_to >= on),
            ),
        )
        .where(Plan.group_id == bindparam("group_id"))
        .options(
            joinedload(Plan.product),
            joinedload(RateVersion.tier_rates),
            joinedload(RateVersion.age_bands),
        )
        .order_by(
            Plan.code,
            Plan.id,
            RateVersion.effective_from,
            RateVersion.revision,
            RateVersion.id,
        )
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


def latest_invoice_row(session: Session, scope: GroupScope, on: date):
    """The newest bill the scope sees that is not void, as the invoice list shows it (None
    before the first bill)."""
    latest = session.execute(
        _latest_invoice(scope.subgroup_ids is not None),
        scope_values(scope.group.id, scope.subgroup_ids),
    ).first()
    if latest is None:
        return None
    invoice, open_amount = latest  # its open balance read with it (no kept row: none open)
    return invoice_rows(session, scope.group, [invoice], on, {invoice.id: open_amount or ZERO})[0]


@built_once
def _latest_invoice(limited: bool):
    """`latest_invoice_row`'s statement, built once (db.built_once: the employer's group page)."""
    group_id = bindparam("group_id")
    return (
        invoice_list_query(group_id, SUBGROUP_IDS if limited else None)
        .add_columns(KeptOpenItem.open_amount)
        .outerjoin(
            KeptOpenItem,
            (KeptOpenItem.invoice_id == Invoice.id) & (KeptOpenItem.group_id == group_id),
        )
        .where(Invoice.status != InvoiceStatus.VOID)
        .limit(1)
    )


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


def coverages_running_past(session: Session, group_id: int, day: date) -> list[Coverage]:
    """The group's coverages in force on `day` that run past it (open-ended or ending later),
    oldest first: what ending the group's coverage on `day` changes (a cancellation for
    non-payment, a group's termination)."""
    return list(
        session.scalars(
            select(Coverage)
            .join(Member, Member.id == Coverage.member_id)
            .where(
                Member.group_id == group_id,
                Coverage.effective_from <= day,
                or_(Coverage.effective_to.is_(None), Coverage.effective_to > day),
            )
            .order_by(Coverage.id)
        )
    )
