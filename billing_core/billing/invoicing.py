"""The billing run: one immutable invoice per billing account (a group, or a subgroup billed
separately) per billing period, with its journal entry; and voiding by credit memo.

Sections (DOMAIN.md "Invoices"): current-period premium (member x plan x coverage month lines),
retro adjustments and fees (approved adjustments not yet billed), balance forward (the previous
invoice's total due), payments and credits since then, total due, due date.

The group's credit (payments with money left over) is used when a bill is issued, unless its
billing policy holds credit for a refund (`CreditPolicy`): allocated to the billed account's
open invoices, oldest due first, the new one included, dated the issue date; the amount is on
the invoice (`credit_applied`, inside payments and credits).

    total_due = current_premium + retro_total + fees_total + balance_forward - payments_credits

The invoice posts only its new charges (premium + retro + fees) to the group's receivable, tied
to the invoice as an open item; balance forward and payments are read from the ledger, so the
total due always equals the account's open receivable after issue.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import cached_property
from types import SimpleNamespace

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, selectinload

from billing_core import ledger, mail
from billing_core.billing.adjustments import FEE_REASONS, reason_label, source_label
from billing_core.billing.enrollment import (
    add_months,
    coverage_months,
    first_billed_month,
    month_end,
    month_start,
    period_containing,
)
from billing_core.billing.premium import MonthPremium, member_month_premium
from billing_core.billing.rating import (
    RateTable,
)
from billing_core.db import in_ids, typed_rows, utcnow
from billing_core.errors import (
    AccessDenied,
    BillingError,
    ImmutableRecord,
    RatingDataMissing,
    RowError,
)
from billing_core.models import (
    Adjustment,
    AgeReduction,
    BillingPolicy,
    BillingSubgroup,
    Coverage,
    CoveredDependent,
    CreditMemo,
    Dependent,
    EmployerGroup,
    Invoice,
    InvoiceLine,
    InvoicePlanTotal,
    JournalEntry,
    LedgerAccount,
    Member,
    Plan,
    Posting,
    RateAgeBand,
    RateTier,
    RateVersion,
    User,
)
from billing_core.models.enums import (
    AdjustmentStatus,
    CoverageMonthRule,
    CreditPolicy,
    InvoiceSection,
    InvoiceStatus,
    Relationship,
    Role,
)
from billing_core.models.product import version_in_force
from billing_core.money import ZERO
from billing_core.payments.allocation import allocate, credit_plan, open_invoices, usable_credit

VOIDING_ROLES = (Role.SUPERVISOR, Role.ADMIN)
# Line dicts carry enum values as plain strings: the COPY path writes them as they are.
PREMIUM = InvoiceSection.PREMIUM.value


@dataclass(frozen=True)
class BillingAccount:
    """Who receives one bill: the group (consolidating every subgroup not billed on its own) or
    one subgroup with `bill_separately`."""

    group: EmployerGroup
    subgroup: BillingSubgroup | None

    @property
    def subgroup_id(self) -> int | None:
        return self.subgroup.id if self.subgroup else None

    @property
    def label(self) -> str:
        name = f"{self.group.group_number} {self.group.name}"
        return f"{name} — {self.subgroup.name}" if self.subgroup else name


@dataclass
class DraftInvoice:
    """An invoice computed but not yet written. `lines` are InvoiceLine column dicts (without
    invoice_id and line_number), in invoice order once `finish()` has sorted them."""

    account: BillingAccount
    policy: BillingPolicy
    invoice_number: str
    period_start: date
    period_end: date
    issued_on: date
    due_on: date
    lines: list[dict] = field(default_factory=list)
    balance_forward: Decimal = ZERO
    prior_open: Decimal = ZERO
    # The group's credit used on this account at issue: (payment, invoice or draft, dollars).
    credit_uses: list[tuple] = field(default_factory=list)
    rate_version_ids: set[int] = field(default_factory=set)
    adjustment_ids: list[int] = field(default_factory=list)
    _sort_keys: list[tuple] = field(default_factory=list, repr=False)
    _product_codes: list[str] = field(default_factory=list, repr=False)

    def add_line(self, sort_key: tuple, product_code: str, **columns) -> None:
        self.lines.append(columns)
        self._sort_keys.append(sort_key)
        self._product_codes.append(product_code)

    def finish(self) -> None:
        """Order the lines: premium by member name, id, plan and month; then retro; then fees."""
        order = sorted(range(len(self.lines)), key=self._sort_keys.__getitem__)
        self.lines = [self.lines[i] for i in order]
        self._product_codes = [self._product_codes[i] for i in order]
        self._sort_keys = [self._sort_keys[i] for i in order]

    def _section_total(self, section: InvoiceSection) -> Decimal:
        return sum((ln["amount"] for ln in self.lines if ln["section"] == section), ZERO)

    # Totals are read only once the run has finished adding lines, so they are computed once.
    @cached_property
    def current_premium(self) -> Decimal:
        return self._section_total(InvoiceSection.PREMIUM)

    @cached_property
    def retro_total(self) -> Decimal:
        return self._section_total(InvoiceSection.RETRO)

    @cached_property
    def fees_total(self) -> Decimal:
        return self._section_total(InvoiceSection.FEE)

    @property
    def new_charges(self) -> Decimal:
        return self.current_premium + self.retro_total + self.fees_total

    @property
    def credit_applied(self) -> Decimal:
        """Dollars of the group's credit used on this account when the bill is issued."""
        return sum((amount for *_, amount in self.credit_uses), ZERO)

    @property
    def payments_credits(self) -> Decimal:
        """What reduced the account since the last bill (payments, credits, voids), with the
        credit used at issue."""
        return self.balance_forward - self.prior_open + self.credit_applied

    @property
    def total_due(self) -> Decimal:
        return self.new_charges + self.balance_forward - self.payments_credits

    def product_totals(self) -> dict[str, tuple[int, Decimal]]:
        """Premium lines per product code: (line count, amount)."""
        totals: dict[str, tuple[int, Decimal]] = {}
        for ln, code in zip(self.lines, self._product_codes, strict=True):
            if ln["section"] == InvoiceSection.PREMIUM:
                count, amount = totals.get(code, (0, ZERO))
                totals[code] = (count + 1, amount + ln["amount"])
        return dict(sorted(totals.items()))

    def as_dict(self) -> dict:
        return {
            "invoice_number": self.invoice_number,
            "group_number": self.account.group.group_number,
            "group_name": self.account.group.name,
            "subgroup": self.account.subgroup.code if self.account.subgroup else None,
            "billing_method": self.policy.billing_method.value,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "issued_on": self.issued_on.isoformat(),
            "due_on": self.due_on.isoformat(),
            "lines": len(self.lines),
            "current_premium": str(self.current_premium),
            "retro_total": str(self.retro_total),
            "fees_total": str(self.fees_total),
            "balance_forward": str(self.balance_forward),
            "payments_credits": str(self.payments_credits),
            "credit_applied": str(self.credit_applied),
            "total_due": str(self.total_due),
            "products": {
                code: {"lines": count, "amount": str(amount)}
                for code, (count, amount) in self.product_totals().items()
            },
        }


@dataclass
class RunOutcome:
    """What a billing run for one period found and (unless a dry run) issued."""

    period: date
    run_date: date | None  # None: each group's scheduled date (period start - lead days)
    dry_run: bool
    drafts: list[DraftInvoice] = field(default_factory=list)
    issued: list[Invoice] = field(default_factory=list)
    already_issued: list[str] = field(default_factory=list)
    held: dict[str, list[RowError]] = field(default_factory=dict)
    not_due: dict[str, str] = field(default_factory=dict)

    @property
    def line_count(self) -> int:
        return sum(len(d.lines) for d in self.drafts)

    @property
    def total_new_charges(self) -> Decimal:
        return sum((d.new_charges for d in self.drafts), ZERO)

    def as_dict(self) -> dict:
        return {
            "period": f"{self.period:%Y-%m}",
            "run_date": self.run_date.isoformat() if self.run_date else None,
            "dry_run": self.dry_run,
            "invoices": [d.as_dict() for d in self.drafts],
            "issued": [i.invoice_number for i in self.issued],
            "already_issued": self.already_issued,
            "held": {g: [str(e) for e in errors] for g, errors in self.held.items()},
            "not_due": self.not_due,
            "line_count": self.line_count,
            "total_new_charges": str(self.total_new_charges),
        }


def invoice_number_for(account: BillingAccount, period_start: date, reissue: int = 0) -> str:
    """`G-1001-202701`, `G-1008-202701-DC` for a separately billed subgroup, and `-R2`, `-R3` ...
    for the invoices issued after a void of the same period."""
    number = f"{account.group.group_number}-{period_start:%Y%m}"
    if account.subgroup is not None:
        number += f"-{account.subgroup.code}"
    if reissue:
        number += f"-R{reissue + 1}"
    return number


def billing_period_for(
    group: EmployerGroup, policy: BillingPolicy, month: date
) -> tuple[date, date]:
    """The group's billing period holding `month`; periods align on the group's original
    effective month (a quarterly group effective in February bills Feb-Apr, May-Jul ...)."""
    return period_containing(policy.billing_frequency, group.original_effective_date, month)


def next_bill(session: Session, group: EmployerGroup, on: date) -> tuple[date, date] | None:
    """The group's next bill not yet issued as of `on`: (first day of its period, the day the
    billing run issues it: period start less the policy's lead days, which may already have
    passed when the run is late). Looks up to 13 months ahead; None without a policy."""
    first = month_start(max(on, group.original_effective_date))
    issued = set(
        session.scalars(
            select(Invoice.period_start).where(
                Invoice.group_id == group.id,
                Invoice.subgroup_id.is_(None),
                Invoice.status != InvoiceStatus.VOID,
                Invoice.period_start >= first,
            )
        )
    )
    month = first
    for _ in range(13):
        policy = group.policy_on(month) or group.policy_on(month_end(month))
        if policy is not None:
            start, _ = billing_period_for(group, policy, month)
            if start == month and month not in issued:
                return month, month - timedelta(days=policy.lead_days)
        month = add_months(month, 1)
    return None


def billing_accounts(group: EmployerGroup) -> list[BillingAccount]:
    """The consolidated account first, then each subgroup billed separately."""
    return [BillingAccount(group, None)] + [
        BillingAccount(group, s) for s in group.subgroups if s.bill_separately
    ]


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
    for row in sorted(rows, key=lambda r: r.effective_from, reverse=True):
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


class _RunData:
    """Everything a run reads, loaded once for all the groups billed (a few queries per run
    instead of a dozen per group): plans with their rates, coverages in force in the period,
    covered dependents, approved unbilled adjustments, existing invoices of the period, each
    account's latest earlier invoice and its open receivable."""

    def __init__(self, session: Session, groups: list[EmployerGroup], period: date, end: date):
        ids = [g.id for g in groups]
        self.plans: dict[int, dict[int, Plan]] = defaultdict(dict)
        self.coverages: dict[int, list] = defaultdict(list)
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
        in_force = (
            in_ids(Member.group_id, ids),
            Coverage.effective_from <= end,
            (Coverage.effective_to.is_(None)) | (Coverage.effective_to >= period),
        )
        # Plain typed tuples (`typed_rows`): no ORM objects or Rows for the run's biggest reads.
        connection = session.connection()
        coverage_columns = (
            Member.group_id,
            Coverage.id,
            Coverage.plan_id,
            Coverage.tier,
            Coverage.elected_volume,
            Coverage.effective_from,
            Coverage.effective_to,
            Member.id,
            Member.member_key,
            Member.first_name,
            Member.last_name,
            Member.birth_date,
            Member.annual_salary,
            Member.subgroup_id,
        )
        coverages = self.coverages
        for row in typed_rows(
            connection,
            select(Coverage.id).join(Member, Member.id == Coverage.member_id).where(*in_force),
            coverage_columns,
        ):
            coverages[row[0]].append(row[1:])
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


def _premium_lines(
    data: _RunData,
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
    for (
        coverage_id,
        plan_id,
        tier,
        elected_volume,
        cov_from,
        cov_to,
        member_id,
        member_key,
        first_name,
        last_name,
        birth_date,
        salary,
        subgroup_id,
    ) in coverages:
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


def _adjustment_lines(
    data: _RunData,
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


# --------------------------------------------------------------------------- balances


def previous_invoice(session: Session, invoice: Invoice) -> Invoice | None:
    """The latest non-void invoice of `invoice`'s billing account for an earlier period."""
    same_account = (
        Invoice.subgroup_id.is_(None)
        if invoice.subgroup_id is None
        else Invoice.subgroup_id == invoice.subgroup_id
    )
    return session.scalar(
        select(Invoice)
        .where(Invoice.group_id == invoice.group_id, same_account)
        .where(Invoice.period_start < invoice.period_start, Invoice.status != InvoiceStatus.VOID)
        .order_by(Invoice.period_start.desc(), Invoice.id.desc())
        .limit(1)
    )


# --------------------------------------------------------------------------- the run


def _groups_for_run(session: Session, group_numbers: Iterable[str] | None) -> list[EmployerGroup]:
    query = (
        select(EmployerGroup)
        .options(selectinload(EmployerGroup.policies), selectinload(EmployerGroup.subgroups))
        .order_by(EmployerGroup.group_number)
    )
    wanted = None if group_numbers is None else sorted(set(group_numbers))
    if wanted is not None:
        query = query.where(EmployerGroup.group_number.in_(wanted))
    groups = list(session.scalars(query))
    if wanted is not None:
        missing = set(wanted) - {g.group_number for g in groups}
        if missing:
            raise BillingError(f"no group numbered {', '.join(sorted(missing))}")
    return groups


def rate_period(
    session: Session, group: EmployerGroup, policy: BillingPolicy, start: date, end: date
) -> tuple[list[dict], dict[int, Plan], list[RowError]]:
    """The premium lines the billing run would write for `group`'s period `start`-`end` if it
    ran now (nothing is written): (lines as the run builds them, the group's plans by id, the
    members that cannot be rated). For comparing a census with what was billed."""
    data = _RunData(session, [group], start, end)
    accounts = {account.subgroup_id: account for account in billing_accounts(group)}
    drafts = {
        subgroup_id: DraftInvoice(account, policy, "", start, end, start, start)
        for subgroup_id, account in accounts.items()
    }
    errors: list[RowError] = []
    _premium_lines(data, group, policy, start, end, accounts, drafts, errors)
    lines = [line for draft in drafts.values() for line in draft.lines]
    return lines, data.plans[group.id], errors


def prepare_billing_run(
    session: Session,
    period: date,
    *,
    group_numbers: Iterable[str] | None = None,
    run_date: date | None = None,
) -> RunOutcome:
    """Compute the invoices for billing periods starting in `period`'s month, writing nothing.

    A group is billed when a billing period of its policy starts that month. A billing account
    that already has a non-void invoice for the period is reported in `already_issued` (the run
    is idempotent). A group with any rating problem is held whole, with every problem listed.
    `run_date` (default: the period's scheduled issue date, first of period minus lead days)
    is the issue date printed on the invoices."""
    period = period.replace(day=1)
    outcome = RunOutcome(period=period, run_date=run_date, dry_run=True)
    due: list[tuple[EmployerGroup, BillingPolicy, date, date]] = []
    for group in _groups_for_run(session, group_numbers):
        policy = group.policy_on(period)
        if policy is None:
            outcome.not_due[group.group_number] = f"no billing policy in force in {period:%b %Y}"
            continue
        period_start, period_end = billing_period_for(group, policy, period)
        if period_start != period:
            outcome.not_due[group.group_number] = (
                f"billed {policy.billing_frequency.value.replace('_', '-')}; "
                f"the period holding {period:%b %Y} started {period_start:%b %Y}"
            )
            continue
        if month_end(period_end) < group.original_effective_date:
            outcome.not_due[group.group_number] = (
                f"coverage starts {group.original_effective_date:%b %d, %Y}"
            )
            continue
        due.append((group, policy, period_start, period_end))
    longest_end = max((end for *_, end in due), default=period)
    data = _RunData(session, [g for g, *_ in due], period, longest_end)
    for group, policy, period_start, period_end in due:
        issued_on = run_date or (period_start - timedelta(days=policy.lead_days))
        accounts = {a.subgroup_id: a for a in billing_accounts(group)}
        drafts: dict[int | None, DraftInvoice] = {}
        for subgroup_id, account in accounts.items():
            existing = data.existing[(group.id, subgroup_id)]
            live = [number for number, status in existing if status is not InvoiceStatus.VOID]
            if live:
                outcome.already_issued.extend(live)
                continue
            drafts[subgroup_id] = DraftInvoice(
                account=account,
                policy=policy,
                invoice_number=invoice_number_for(account, period_start, reissue=len(existing)),
                period_start=period_start,
                period_end=period_end,
                issued_on=issued_on,
                due_on=period_start,
            )
        if not drafts:
            continue
        errors: list[RowError] = []
        # Lines for accounts already issued are computed into a scratch draft and dropped.
        scratch = {
            sid: drafts.get(sid)
            or DraftInvoice(a, policy, "", period_start, period_end, issued_on, period_start)
            for sid, a in accounts.items()
        }
        _premium_lines(data, group, policy, period_start, period_end, accounts, scratch, errors)
        _adjustment_lines(data, group, accounts, scratch)
        if errors:
            outcome.held[group.group_number] = errors
            continue
        for subgroup_id, draft in drafts.items():
            draft.finish()
            previous = data.previous.get((group.id, subgroup_id))
            draft.balance_forward = previous.total_due if previous else ZERO
            draft.prior_open = data.open[(group.id, subgroup_id)]
            outcome.drafts.append(draft)
        if policy.credit_policy is CreditPolicy.APPLY_TO_NEXT_BILL and data.credit[group.id] > 0:
            _plan_credit(session, group, drafts)
    return outcome


def _plan_credit(
    session: Session, group: EmployerGroup, drafts: dict[int | None, DraftInvoice]
) -> None:
    """Plan the use of the group's credit on the accounts being billed: their open invoices
    and the new ones, oldest due first (the allocation policy's order, `credit_plan`), each
    use kept on its account's draft so the bill's total due shows it before anything is
    written. The group's credit is one (the ledger keeps unapplied cash per group, not per
    subgroup), so with separately billed subgroups it goes to whichever bill is oldest."""
    targets = [
        ((invoice.due_on, 0, invoice.id), invoice, owed)
        for invoice, owed in open_invoices(session, group)
        if invoice.subgroup_id in drafts
    ]
    targets += [
        ((draft.due_on, 1, index), draft, draft.new_charges)
        for index, draft in enumerate(drafts.values())
        if draft.new_charges > 0
    ]
    targets.sort(key=operator.itemgetter(0))
    plan = credit_plan(usable_credit(session, group), [(t, owed) for _, t, owed in targets])
    for payment, target, amount in plan:
        is_new = isinstance(target, DraftInvoice)
        account = target.account.subgroup_id if is_new else target.subgroup_id
        drafts[account].credit_uses.append((payment, target, amount))


def issue_billing_run(
    session: Session,
    period: date,
    *,
    group_numbers: Iterable[str] | None = None,
    run_date: date | None = None,
    actor_id: int | None = None,
) -> RunOutcome:
    """Prepare the run and issue every draft: the invoice and its lines, the journal entry
    (receivable against premium revenue and fee income), approved adjustments marked billed,
    and the rate versions used marked billed (frozen). Running it again issues nothing new."""
    outcome = prepare_billing_run(session, period, group_numbers=group_numbers, run_date=run_date)
    outcome.dry_run = False
    outcome.issued = _issue_all(session, outcome.drafts, actor_id)
    mail.invoices_ready(session, outcome.issued)
    return outcome


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


def _write_lines(session: Session, rows: list[dict]) -> None:
    """Insert invoice lines: PostgreSQL COPY (several times faster than INSERTs for a run's
    hundreds of thousands of lines), a Core executemany elsewhere. Values are already exact:
    amounts in cents, rates as stored, enums written as their values."""
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        # Core executemany: the ORM bulk path splits rows by which columns are None.
        session.execute(insert(InvoiceLine.__table__), rows)
        return
    driver = connection.connection.driver_connection
    columns = ", ".join(INVOICE_LINE_COLUMNS)
    values_of = operator.itemgetter(*INVOICE_LINE_COLUMNS)
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY invoice_line ({columns}) FROM STDIN") as copy,
    ):
        copy.set_types(list(INVOICE_LINE_COLUMNS.values()))
        for row in rows:
            copy.write_row(values_of(row))


def _write_plan_totals(session: Session, invoice_ids: list[int]) -> None:
    """The invoices' lines summed per section and plan (`InvoicePlanTotal`), summed by the
    database from the lines just written: what statements and the invoice page read instead
    of every member line."""
    lines = InvoiceLine.__table__.c
    key = (lines.invoice_id, lines.section, lines.plan_id)
    session.execute(
        insert(InvoicePlanTotal.__table__).from_select(
            ["invoice_id", "section", "plan_id", "amount", "line_count", "member_count"],
            select(
                *key,
                func.sum(lines.amount),
                func.count(),
                func.count(func.distinct(lines.member_id)),
            )
            .where(in_ids(lines.invoice_id, invoice_ids))
            .group_by(*key),
        )
    )


def _issue_all(session: Session, drafts: list[DraftInvoice], actor_id: int | None) -> list[Invoice]:
    """Write the drafts: invoices, their lines, one journal entry each (receivable against
    premium revenue and fee income), adjustments marked billed and rate versions frozen."""
    if not drafts:
        return []
    invoices = [
        Invoice(
            invoice_number=draft.invoice_number,
            group_id=draft.account.group.id,
            subgroup_id=draft.account.subgroup_id,
            billing_method=draft.policy.billing_method,
            period_start=draft.period_start,
            period_end=draft.period_end,
            issued_on=draft.issued_on,
            due_on=draft.due_on,
            current_premium=draft.current_premium,
            retro_total=draft.retro_total,
            fees_total=draft.fees_total,
            balance_forward=draft.balance_forward,
            payments_credits=draft.payments_credits,
            credit_applied=draft.credit_applied,
            total_due=draft.total_due,
            status=InvoiceStatus.ISSUED,
        )
        for draft in drafts
    ]
    session.add_all(invoices)
    session.flush()
    rows = []
    for invoice, draft in zip(invoices, drafts, strict=True):
        for number, row in enumerate(draft.lines, start=1):
            row["invoice_id"] = invoice.id
            row["line_number"] = number
        rows.extend(draft.lines)
    _write_lines(session, rows)
    _write_plan_totals(session, [invoice.id for invoice in invoices])

    groups = {d.account.group.id: d.account.group for d in drafts}
    receivables = ledger.group_accounts(session, ledger.Chart.RECEIVABLE, groups.values())
    revenue = ledger.account(session, ledger.Chart.PREMIUM_REVENUE)
    fee_income = ledger.account(session, ledger.Chart.FEE_INCOME)
    entries = []
    for invoice, draft in zip(invoices, drafts, strict=True):
        premium = draft.current_premium + draft.retro_total
        legs = [
            ledger.Leg(receivables[invoice.group_id], draft.new_charges, invoice_id=invoice.id),
            ledger.Leg(revenue, -premium),
            ledger.Leg(fee_income, -draft.fees_total),
        ]
        legs = [leg for leg in legs if leg.amount]
        if legs:
            entries.append(
                ledger.EntrySpec(
                    entry_date=draft.issued_on,
                    memo=f"Invoice {invoice.invoice_number}",
                    source_type="invoice",
                    source_id=invoice.id,
                    legs=legs,
                    idempotency_key=f"invoice:{invoice.invoice_number}",
                    created_by_id=actor_id,
                )
            )
    ledger.post_entries(session, entries)
    _use_credit(session, invoices, drafts)

    for invoice, draft in zip(invoices, drafts, strict=True):
        if draft.adjustment_ids:
            session.execute(
                update(Adjustment)
                .where(Adjustment.id.in_(draft.adjustment_ids))
                .values(status=AdjustmentStatus.BILLED, invoice_id=invoice.id)
                .execution_options(synchronize_session=False)
            )
    by_issue_date: dict[date, set[int]] = defaultdict(set)
    for draft in drafts:
        by_issue_date[draft.issued_on] |= draft.rate_version_ids
    for issued_on, version_ids in sorted(by_issue_date.items()):
        session.execute(
            update(RateVersion)
            .where(in_ids(RateVersion.id, version_ids), RateVersion.first_billed_on.is_(None))
            .values(first_billed_on=issued_on)
            .execution_options(synchronize_session=False)
        )
    # The bulk updates skipped the identity map: reload those attributes on next access, so a
    # billed rate version's guard sees that it is billed.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, RateVersion):
            session.expire(obj, ["first_billed_on"])
        elif isinstance(obj, Adjustment):
            session.expire(obj, ["status", "invoice_id"])
    return invoices


def _use_credit(session: Session, invoices: list[Invoice], drafts: list[DraftInvoice]) -> None:
    """Allocate the credit each draft planned (`_plan_credit`), dated its issue date, now that
    its invoice and receivable are posted: exactly what the printed total due assumed."""
    invoice_of = {id(draft): invoice for invoice, draft in zip(invoices, drafts, strict=True)}
    for invoice, draft in zip(invoices, drafts, strict=True):
        for payment, target, amount in draft.credit_uses:
            paid = invoice_of[id(target)] if isinstance(target, DraftInvoice) else target
            allocate(
                session,
                payment,
                paid,
                amount,
                on=draft.issued_on,
                memo=(
                    f"Credit from payment {payment.reference or payment.id} used on "
                    f"{paid.invoice_number} at the issue of {invoice.invoice_number}"
                ),
            )


# --------------------------------------------------------------------------- void


def invoice_entry(session: Session, invoice: Invoice) -> JournalEntry | None:
    """The journal entry that issued `invoice` (None for an invoice with no new charges)."""
    return session.scalar(
        select(JournalEntry).where(
            JournalEntry.source_type == "invoice",
            JournalEntry.source_id == invoice.id,
            JournalEntry.reverses_entry_id.is_(None),
        )
    )


def invoice_payments_applied(session: Session, invoice: Invoice) -> Decimal:
    """Credits on the invoice's open item other than its own entry and a void (cash applied
    to it, write-offs), net of those undone (an allocation undone posts the debit back)."""
    receivable = ledger.account(session, ledger.Chart.RECEIVABLE, _group(session, invoice))
    credit, debit = session.execute(
        select(ledger.money_sum(Posting.credit), ledger.money_sum(Posting.debit))
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(
            Posting.account_id == receivable.id,
            Posting.invoice_id == invoice.id,
            JournalEntry.source_type.not_in(("invoice", "void")),
        )
    ).one()
    return credit - debit


def _group(session: Session, invoice: Invoice) -> EmployerGroup:
    return session.get(EmployerGroup, invoice.group_id)


def void_invoice(
    session: Session, invoice: Invoice, *, reason: str, actor: User, on: date
) -> CreditMemo:
    """Void an issued invoice: a supervisor (never the system, never a specialist) gives a
    reason; the invoice's entry is reversed by a new entry, a credit memo for its new charges is
    issued, and adjustments it billed return to approved so the next invoice bills them again.
    An invoice with payments applied cannot be voided until they are moved."""
    if actor.role not in VOIDING_ROLES:
        raise AccessDenied("only a supervisor can void an invoice")
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise BillingError("give the reason for the void (at least a few words)")
    if invoice.status is InvoiceStatus.VOID:
        raise ImmutableRecord(f"invoice {invoice.invoice_number} is already void")
    applied = invoice_payments_applied(session, invoice)
    if applied:
        raise BillingError(
            f"invoice {invoice.invoice_number} has {applied:,.2f} of payments applied; "
            "move them to unapplied cash before voiding"
        )
    charges = invoice.current_premium + invoice.retro_total + invoice.fees_total
    memo_number = f"CM-{invoice.invoice_number}"
    entry = invoice_entry(session, invoice)
    reversal = None
    if entry is not None:
        reversal = ledger.reverse_entry(
            session,
            entry,
            entry_date=on,
            memo=f"Void of invoice {invoice.invoice_number} (credit memo {memo_number})",
            source_type="void",
            source_id=invoice.id,
            created_by_id=actor.id,
        )
    invoice.status = InvoiceStatus.VOID
    invoice.void_reason = reason
    invoice.voided_by_id = actor.id
    invoice.voided_at = utcnow()
    credit_memo = CreditMemo(
        memo_number=memo_number,
        invoice_id=invoice.id,
        amount=charges,
        reason=reason,
        issued_on=on,
        journal_entry_id=reversal.id if reversal else None,
        created_by_id=actor.id,
    )
    session.add(credit_memo)
    session.execute(
        update(Adjustment)
        .where(Adjustment.invoice_id == invoice.id)
        .values(status=AdjustmentStatus.APPROVED, invoice_id=None)
    )
    session.flush()
    return credit_memo
