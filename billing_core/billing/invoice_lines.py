"""A billing run's invoice lines: what the run reads, once for all the groups it bills (plans
and their rates, coverages in force, covered dependents, approved adjustments not yet billed,
the accounts' earlier invoices and open items), the premium lines it prices from that (member
x plan x coverage month, each by `premium.member_month_premium`), the lines of the approved
adjustments, and how the lines are written (COPY on PostgreSQL). The run itself, issuing and
voids are `billing.invoicing`."""

from __future__ import annotations

import operator
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from types import SimpleNamespace
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from billing_core import ledger
from billing_core.billing.adjustments import FEE_REASONS, reason_label, source_label
from billing_core.billing.enrollment import coverage_months, first_billed_month, month_start
from billing_core.billing.premium import MonthPremium, member_month_premium
from billing_core.billing.rating import RateTable
from billing_core.db import copy_rows, in_ids, typed_rows
from billing_core.errors import RatingDataMissing, RowError
from billing_core.models import (
    Adjustment,
    AgeReduction,
    BillingPolicy,
    Coverage,
    CoveredDependent,
    Dependent,
    EmployerGroup,
    Invoice,
    InvoiceLine,
    InvoicePlanTotal,
    LedgerAccount,
    Member,
    Plan,
    Posting,
    RateAgeBand,
    RateTier,
    RateVersion,
)
from billing_core.models.enums import (
    AdjustmentStatus,
    CoverageMonthRule,
    InvoiceSection,
    InvoiceStatus,
    Relationship,
)
from billing_core.models.product import version_in_force
from billing_core.money import ZERO

if TYPE_CHECKING:
    from billing_core.billing.invoicing import BillingAccount, DraftInvoice

# Line dicts carry enum values as plain strings: the COPY path writes them as they are.
PREMIUM = InvoiceSection.PREMIUM.value


def _account_for_subgroup(
    accounts: dict[int | None, BillingAccount], subgroup_id: int | None
) -> BillingAccount:
    return accounts.get(subgroup_id) or accounts[None]


# --------------------------------------------------------------------------- premium lines


@dataclass(frozen=True)
class _VersionInForce:
    """A rate version that overlaps the period, with its rates as a `RateTable`."""

    id: int
    effective_from: date
    effective_to: date | None
    table: RateTable


def _rate_versions_in_force(
    session: Session, plans: dict[int, dict[int, Plan]], period: date, end: date
) -> dict[int, list[_VersionInForce]]:
    """plan id -> the plan's rate versions overlapping [period, end], latest first, read with
    Core rows (a run over thousands of plans would otherwise build an ORM object for every
    rate version, tier, band and reduction the plans ever had)."""
    basis = {
        pid: plan.product.rating_basis for by_id in plans.values() for pid, plan in by_id.items()
    }
    if not basis:
        return {}
    version = RateVersion.__table__.c
    connection = session.connection()
    rows = connection.execute(
        select(RateVersion.__table__).where(
            in_ids(version.plan_id, basis),
            version.effective_from <= end,
            (version.effective_to.is_(None)) | (version.effective_to >= period),
        )
    ).all()
    ids = [row.id for row in rows]
    children: dict[str, dict[int, list]] = {
        name: defaultdict(list) for name in ("tier", "band", "cut")
    }
    for name, table, columns in (
        ("tier", RateTier.__table__, ("tier", "monthly_rate")),
        ("band", RateAgeBand.__table__, ("min_age", "max_age", "monthly_rate")),
        ("cut", AgeReduction.__table__, ("from_age", "volume_percent")),
    ):
        for row in connection.execute(
            select(table.c.rate_version_id, *(table.c[c] for c in columns)).where(
                in_ids(table.c.rate_version_id, ids)
            )
        ):
            children[name][row[0]].append(
                SimpleNamespace(**dict(zip(columns, row[1:], strict=True)))
            )
    by_plan: dict[int, list[_VersionInForce]] = defaultdict(list)
    # Latest first; of versions starting the same day the highest revision (a correction).
    for row in sorted(rows, key=lambda r: (r.effective_from, r.revision), reverse=True):
        attributes = SimpleNamespace(
            **row._mapping,
            tier_rates=children["tier"][row.id],
            age_bands=children["band"][row.id],
            age_reductions=children["cut"][row.id],
        )
        by_plan[row.plan_id].append(
            _VersionInForce(
                row.id,
                row.effective_from,
                row.effective_to,
                RateTable.from_version(attributes, basis[row.plan_id]),
            )
        )
    return by_plan


class RunData:
    """Everything a run reads, loaded once for all the groups billed (a few queries per run
    instead of a dozen per group): plans with their rates, coverages in force in the period
    and their members, covered dependents, approved unbilled adjustments, existing invoices of the period, each
    account's latest earlier invoice and its open receivable."""

    def __init__(self, session: Session, groups: list[EmployerGroup], period: date, end: date):
        ids = [g.id for g in groups]
        self.plans: dict[int, dict[int, Plan]] = defaultdict(dict)
        self.coverages: dict[int, list] = defaultdict(list)
        self.members: dict[int, tuple] = {}  # member id -> key, names, birth, salary, subgroup
        self.dependents: dict[int, list] = defaultdict(list)
        self.adjustments: dict[int, list] = defaultdict(list)
        self.existing: dict[tuple[int, int | None], list] = defaultdict(list)
        self.previous: dict[tuple[int, int | None], Invoice] = {}
        self.open: dict[tuple[int, int | None], Decimal] = defaultdict(lambda: ZERO)
        self.credit: dict[int, Decimal] = defaultdict(lambda: ZERO)  # unapplied cash
        self.rate_versions: dict[int, list[_VersionInForce]] = {}
        if not ids:
            return
        for plan in session.scalars(
            select(Plan).where(in_ids(Plan.group_id, ids)).options(selectinload(Plan.product))
        ):
            self.plans[plan.group_id][plan.id] = plan
        self.rate_versions = _rate_versions_in_force(session, self.plans, period, end)
        coverage_in_force = (
            Coverage.effective_from <= end,
            (Coverage.effective_to.is_(None)) | (Coverage.effective_to >= period),
        )
        in_force = (in_ids(Member.group_id, ids), *coverage_in_force)
        # Plain typed tuples (`typed_rows`): no ORM objects or Rows for the run's biggest reads.
        # A member's facts are read once, not with each of their coverages.
        connection = session.connection()
        coverage_columns = (
            Member.group_id,
            Coverage.id,
            Coverage.plan_id,
            Coverage.tier,
            Coverage.elected_volume,
            Coverage.effective_from,
            Coverage.effective_to,
            Coverage.member_id,
        )
        coverages = self.coverages
        for row in typed_rows(
            connection,
            select(Coverage.id).join(Member, Member.id == Coverage.member_id).where(*in_force),
            coverage_columns,
        ):
            coverages[row[0]].append(row[1:])
        member_columns = (
            Member.id,
            Member.member_key,
            Member.first_name,
            Member.last_name,
            Member.birth_date,
            Member.annual_salary,
            Member.subgroup_id,
        )
        covered = select(Coverage.id).where(Coverage.member_id == Member.id, *coverage_in_force)
        self.members = {
            row[0]: row[1:]
            for row in typed_rows(
                connection,
                select(Member.id).where(in_ids(Member.group_id, ids), covered.exists()),
                member_columns,
            )
        }
        dependent_columns = (
            CoveredDependent.coverage_id,
            Dependent.birth_date,
            Dependent.effective_from,
            Dependent.effective_to,
            Dependent.relationship_to_member,
        )
        for coverage_id, birth, dep_from, dep_to, relationship in typed_rows(
            connection,
            select(CoveredDependent.coverage_id)
            .join(Dependent, Dependent.id == CoveredDependent.dependent_id)
            .join(Coverage, Coverage.id == CoveredDependent.coverage_id)
            .join(Member, Member.id == Coverage.member_id)
            .where(*in_force),
            dependent_columns,
        ):
            self.dependents[coverage_id].append(
                (birth, dep_from, dep_to, relationship == Relationship.CHILD)
            )
        for row in session.execute(
            select(Adjustment, Member.subgroup_id, Member.member_key, Member.last_name, Plan)
            .outerjoin(Member, Member.id == Adjustment.member_id)
            .outerjoin(Plan, Plan.id == Adjustment.plan_id)
            .where(
                in_ids(Adjustment.group_id, ids),
                Adjustment.status == AdjustmentStatus.APPROVED,
                Adjustment.invoice_id.is_(None),
            )
            .options(selectinload(Plan.product))
            .order_by(Adjustment.coverage_month, Adjustment.id)
        ):
            self.adjustments[row[0].group_id].append(tuple(row))
        for group_id, subgroup_id, number, status in session.execute(
            select(
                Invoice.group_id, Invoice.subgroup_id, Invoice.invoice_number, Invoice.status
            ).where(in_ids(Invoice.group_id, ids), Invoice.period_start == period)
        ):
            self.existing[(group_id, subgroup_id)].append((number, status))
        for invoice in session.scalars(
            select(Invoice)
            .where(
                in_ids(Invoice.group_id, ids),
                Invoice.period_start < period,
                Invoice.status != InvoiceStatus.VOID,
            )
            .order_by(Invoice.period_start.desc(), Invoice.id.desc())
        ):
            self.previous.setdefault((invoice.group_id, invoice.subgroup_id), invoice)
        for group_id, subgroup_id, debit, credit in session.execute(
            select(
                Invoice.group_id,
                Invoice.subgroup_id,
                ledger.money_sum(Posting.debit),
                ledger.money_sum(Posting.credit),
            )
            .join(Invoice, Invoice.id == Posting.invoice_id)
            .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
            .where(
                in_ids(Invoice.group_id, ids), LedgerAccount.code == ledger.Chart.RECEIVABLE.code
            )
            .group_by(Invoice.group_id, Invoice.subgroup_id)
        ):
            self.open[(group_id, subgroup_id)] = debit - credit
        for group_id, debit, credit in session.execute(
            select(
                LedgerAccount.group_id,
                ledger.money_sum(Posting.debit),
                ledger.money_sum(Posting.credit),
            )
            .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
            .where(
                in_ids(LedgerAccount.group_id, ids),
                LedgerAccount.code == ledger.Chart.UNAPPLIED_CASH.code,
            )
            .group_by(LedgerAccount.group_id)
        ):
            self.credit[group_id] = credit - debit


def premium_lines(
    data: RunData,
    group: EmployerGroup,
    policy: BillingPolicy,
    period_start: date,
    period_end: date,
    accounts: dict[int | None, BillingAccount],
    drafts: dict[int | None, DraftInvoice],
    errors: list[RowError],
) -> None:
    """Rate every coverage in force in the period into member x plan x month lines on the
    draft of the member's billing account. Problems are appended to `errors`."""
    plans = data.plans[group.id]
    rated_memo: dict[tuple, MonthPremium] = {}  # rating is pure: one per rating key
    rule = CoverageMonthRule(policy.coverage_month_rule)
    coverages = data.coverages[group.id]
    dependents_by_coverage = data.dependents
    versions: dict[tuple[int, date], _VersionInForce] = {}
    plan_codes: dict[int, tuple[str, str]] = {}
    one_month = month_start(period_end) == period_start
    first_months: dict[date, date] = {}
    draft_of: dict[int | None, DraftInvoice] = {}  # by the member's subgroup
    sort_of: dict[int, tuple[str, str, str]] = {}  # by member: name order, then key
    members = data.members
    for coverage_id, plan_id, tier, elected_volume, cov_from, cov_to, member_id in coverages:
        member_key, first_name, last_name, birth_date, salary, subgroup_id = members[member_id]
        plan = plans[plan_id]
        plan_code, product_code = plan_codes.get(plan_id) or plan_codes.setdefault(
            plan_id, (plan.code, plan.product.code)
        )
        draft = draft_of.get(subgroup_id)
        if draft is None:
            draft = draft_of[subgroup_id] = drafts[
                _account_for_subgroup(accounts, subgroup_id).subgroup_id
            ]
        member_sort = sort_of.get(member_id)
        if member_sort is None:
            member_sort = sort_of[member_id] = (last_name.lower(), first_name.lower(), member_key)
        name_key = (*member_sort, plan_code)
        tier_value = tier.value if tier else None
        if one_month:
            # The common case, without the general month walk.
            first = first_months.get(cov_from)
            if first is None:
                first = first_months[cov_from] = first_billed_month(cov_from, rule)
            in_period = (cov_to is None or cov_to >= period_start) and first <= period_start
            months = (period_start,) if in_period else ()
        else:
            months = coverage_months(cov_from, cov_to, period_start, period_end, rule)
        for month in months:
            version = versions.get((plan_id, month))
            if version is None:
                version = version_in_force(data.rate_versions.get(plan_id, ()), month)
                if version is None:
                    errors.append(
                        RowError(
                            row=member_key,
                            column=plan.code,
                            message=(
                                f"plan {plan.code} has no rate version in force for {month:%b %Y}"
                            ),
                        )
                    )
                    continue
                versions[(plan_id, month)] = version
            try:
                premium = member_month_premium(
                    version.id,
                    version.table,
                    month,
                    birth_date=birth_date,
                    annual_salary=salary,
                    tier=tier,
                    elected_volume=elected_volume,
                    covered=dependents_by_coverage.get(coverage_id),
                    coverage_from=cov_from,
                    coverage_to=cov_to,
                    rule=rule,
                    memo=rated_memo,
                )
            except RatingDataMissing as problem:
                errors.append(RowError(row=member_key, column=plan.code, message=str(problem)))
                continue
            rated = premium.rated
            draft.rate_version_ids.add(version.id)
            draft.add_line(
                (0, *name_key, month),
                product_code,
                section=PREMIUM,
                member_id=member_id,
                plan_id=plan_id,
                rate_version_id=version.id,
                coverage_month=month,
                tier=tier_value,
                volume=rated.volume or rated.weekly_benefit or rated.covered_payroll,
                rate=rated.rate,
                amount=premium.amount,
                description=premium.description,
                reason_code=None,
                adjustment_id=None,
            )


def adjustment_lines(
    data: RunData,
    group: EmployerGroup,
    accounts: dict[int | None, BillingAccount],
    drafts: dict[int | None, DraftInvoice],
) -> None:
    """Approved, not yet billed adjustments of the group onto the retro or fees section."""
    rows = data.adjustments[group.id]
    for adjustment, member_subgroup_id, member_key, last_name, plan in rows:
        subgroup_id = adjustment.subgroup_id or member_subgroup_id
        draft = drafts[_account_for_subgroup(accounts, subgroup_id).subgroup_id]
        is_fee = adjustment.reason_code in FEE_REASONS
        what = reason_label(adjustment.reason_code)
        source = source_label(adjustment.source_type)
        draft.adjustment_ids.append(adjustment.id)
        draft.add_line(
            (
                2 if is_fee else 1,
                adjustment.coverage_month,
                (last_name or "").lower(),
                member_key or "",
                adjustment.id,
            ),
            plan.product.code if plan else "",
            section=(InvoiceSection.FEE if is_fee else InvoiceSection.RETRO).value,
            member_id=adjustment.member_id,
            plan_id=adjustment.plan_id,
            rate_version_id=None,
            coverage_month=adjustment.coverage_month,
            tier=None,
            volume=None,
            rate=None,
            amount=adjustment.amount,
            description=f"{what} ({source})" if source else what,
            reason_code=adjustment.reason_code,
            adjustment_id=adjustment.id,
        )


# The columns a run writes, with their PostgreSQL types (told to COPY, so it need not work out
# a type for each of millions of values).
INVOICE_LINE_COLUMNS = {
    "invoice_id": "int4",
    "line_number": "int4",
    "section": "varchar",
    "member_id": "int4",
    "plan_id": "int4",
    "rate_version_id": "int4",
    "coverage_month": "date",
    "tier": "varchar",
    "volume": "numeric",
    "rate": "numeric",
    "amount": "numeric",
    "description": "varchar",
    "reason_code": "varchar",
    "adjustment_id": "int4",
}


def write_lines(session: Session, rows: list[dict]) -> None:
    """Insert invoice lines (COPY on PostgreSQL: `db.copy_rows`). Values are already exact:
    Decimal amounts, rates as stored, enums written as their values."""
    copy_rows(
        session,
        InvoiceLine.__table__,
        INVOICE_LINE_COLUMNS,
        map(operator.itemgetter(*INVOICE_LINE_COLUMNS), rows),
    )


# The plan totals' columns with their PostgreSQL types (see `INVOICE_LINE_COLUMNS`).
PLAN_TOTAL_COLUMNS = {
    "invoice_id": "int4",
    "section": "varchar",
    "plan_id": "int4",
    "amount": "numeric",
    "line_count": "int4",
    "member_count": "int4",
}


def write_plan_totals(session: Session, invoice_lines: list[tuple[int, list[dict]]]) -> None:
    """Each invoice's lines (invoice id, its line dicts) summed per section and plan
    (`InvoicePlanTotal`: the amount, the lines, the distinct members): what statements and the
    invoice page read instead of every member line. Summed here from the lines just written
    rather than read back from the database (a chunk's 29,000 lines cost PostgreSQL more to
    group again than Python to add up once)."""
    rows = []
    for invoice_id, lines in invoice_lines:
        totals: dict[tuple, list] = {}
        for line in lines:
            key = (line["section"], line["plan_id"])
            total = totals.get(key)
            if total is None:
                total = totals[key] = [ZERO, 0, set()]
            total[0] += line["amount"]
            total[1] += 1
            total[2].add(line["member_id"])
        for (section, plan_id), (amount, count, members) in sorted(
            totals.items(), key=lambda item: (item[0][0], item[0][1] or 0)
        ):
            members.discard(None)  # counted as SQL's count(DISTINCT member_id) counts
            rows.append((invoice_id, section, plan_id, amount, count, len(members)))
    copy_rows(session, InvoicePlanTotal.__table__, PLAN_TOTAL_COLUMNS, rows)
