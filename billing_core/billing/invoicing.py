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

What a run reads and the lines it prices and writes are `billing.invoice_lines`.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import cached_property

from sqlalchemy import Date, Select, and_, bindparam, select, update
from sqlalchemy.orm import Session, selectinload

from billing_core import audit, ledger, mail
from billing_core.authority import SUPERVISING_ROLES
from billing_core.billing.bill_bridge import keep_issued_bridges
from billing_core.billing.enrollment import add_months, month_end, month_start, period_containing
from billing_core.billing.invoice_lines import (
    RunData,
    adjustment_lines,
    premium_lines,
    write_lines,
    write_plan_totals,
)
from billing_core.billing.invoice_templates import (
    DEFAULT,
    TemplateChoice,
    keep_printed,
    separate_subgroups,
    templates_of,
)
from billing_core.db import built_once, in_ids, utcnow
from billing_core.errors import AccessDenied, BillingError, ImmutableRecord, RowError
from billing_core.models import (
    Adjustment,
    BillingPolicy,
    BillingSubgroup,
    CreditMemo,
    EmployerGroup,
    Invoice,
    JournalEntry,
    Plan,
    Posting,
    RateVersion,
    User,
)
from billing_core.models.enums import (
    AdjustmentStatus,
    CreditPolicy,
    InvoiceSection,
    InvoiceStatus,
)
from billing_core.money import ZERO
from billing_core.payments.allocation import allocate, credit_plan, open_invoices, usable_credit


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
    # The account's latest non-void invoice before this one (`previous_invoice`): its bill
    # bridge starts there.
    previous: Invoice | None = None
    # The group's credit used on this account at issue: (payment, invoice or draft, dollars).
    credit_uses: list[tuple] = field(default_factory=list)
    rate_version_ids: set[int] = field(default_factory=set)
    adjustment_ids: list[int] = field(default_factory=list)
    # The group's invoice template when it has one (kept with the invoice at issue).
    template: TemplateChoice | None = None
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

    def first_bill_adds(self) -> tuple[Decimal, int]:
        """A first bill's adds step of its bill bridge, every premium line an add: (its
        premium, how many member x products), as `bill_bridge._first_bill_adds` reads it."""
        added = {
            (ln["member_id"], code)
            for ln, code in zip(self.lines, self._product_codes, strict=True)
            if ln["section"] == InvoiceSection.PREMIUM
        }
        return self.current_premium, len(added)

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


# `next_bill`'s "the latest cancellation: read it here" (a caller passes None for none).
_READ_CANCELLATION = object()


def next_bill(
    session: Session,
    group: EmployerGroup,
    on: date,
    *,
    billed: Iterable[date] | None = None,
    cancellation=_READ_CANCELLATION,
) -> tuple[date, date] | None:
    """The group's next bill not yet issued as of `on`: (first day of its period, the day the
    billing run issues it: period start less the policy's lead days, which may already have
    passed when the run is late). Looks up to 13 months ahead; None without a policy, or
    while the group is cancelled for non-payment (the run does not bill it).

    A caller reading them with its own statement passes `billed` (the period starts of the
    group's consolidated bills not void from `next_bill_from(group, on)` on: the rows for
    which `billed_from_condition()` holds) and `cancellation` (the group's latest
    cancellation, None when it has none: `cancellation.latest_cancellation`); else both are
    read here."""
    first = next_bill_from(group, on)
    if billed is None:
        billed = session.scalars(_periods_billed_from(), {"group_id": group.id, "first": first})
    issued = set(billed)
    from billing_core.collections.cancellation import billing_hold, latest_cancellation

    if cancellation is _READ_CANCELLATION:
        cancellation = latest_cancellation(session, group.id)
    month = first
    for _ in range(13):
        policy = group.policy_on(month) or group.policy_on(month_end(month))
        if policy is not None:
            start, end = billing_period_for(group, policy, month)
            if (
                start == month
                and month not in issued
                and billing_hold(cancellation, start, end) is None
            ):
                return month, month - timedelta(days=policy.lead_days)
        month = add_months(month, 1)
    return None


def next_bill_from(group: EmployerGroup, on: date) -> date:
    """The first month `next_bill` looks at on `on` (its `billed` periods start from it)."""
    return month_start(max(on, group.original_effective_date))


def billed_from_condition():
    """Whether an Invoice row is one of `next_bill`'s billed periods: a consolidated bill of
    the group (the caller's own condition) not void, for a period from the bindparam `first`
    (`next_bill_from`) on."""
    return and_(
        Invoice.subgroup_id.is_(None),
        Invoice.status != InvoiceStatus.VOID,
        Invoice.period_start >= bindparam("first", type_=Date),
    )


@built_once
def _periods_billed_from():
    """`next_bill`'s consolidated bills not void from a month on, built once (db.built_once)."""
    return select(Invoice.period_start).where(
        Invoice.group_id == bindparam("group_id"), billed_from_condition()
    )


def billing_accounts(
    group: EmployerGroup, template: TemplateChoice = DEFAULT
) -> list[BillingAccount]:
    """The consolidated account first, then each subgroup billed separately: as each subgroup
    is set up (`bill_separately`), unless the group's invoice template consolidates them all
    or bills every one on its own (`invoice_templates.separate_subgroups`)."""
    return [BillingAccount(group, None)] + [
        BillingAccount(group, s) for s in separate_subgroups(group, template)
    ]


# --------------------------------------------------------------------------- balances


def previous_invoice(session: Session, invoice: Invoice) -> Invoice | None:
    """The latest non-void invoice of `invoice`'s billing account for an earlier period (the
    bill bridge's prior bill: every invoice page asks, so the statement is built once)."""
    values = {"group_id": invoice.group_id, "period_start": invoice.period_start}
    if invoice.subgroup_id is not None:
        values["subgroup_id"] = invoice.subgroup_id
    return session.scalar(_previous_invoice(invoice.subgroup_id is not None), values)


@built_once
def _previous_invoice(billed_separately: bool):
    """`previous_invoice`'s statement for a subgroup billed separately or the group's own
    account (db.built_once)."""
    same_account = (
        Invoice.subgroup_id == bindparam("subgroup_id")
        if billed_separately
        else Invoice.subgroup_id.is_(None)
    )
    return previous_bill(
        Invoice,
        Invoice,
        group_id=bindparam("group_id"),
        same_account=same_account,
        period_start=bindparam("period_start", type_=Date),
    )


def previous_bill(what, earlier, *, group_id, same_account, period_start) -> Select:
    """The rule of a bill's previous bill (the bill bridge's prior), in the shape of a
    statement of its own (`previous_invoice`) or of a subquery read with the bill
    (`billing_core/billing/bill_bridge.py::previous_invoice_id`): `what` of `earlier` (Invoice
    or an alias), the same billing account's (`same_account`) non-void bill for the latest
    period before `period_start`, the latest issued of a period first."""
    return (
        select(what)
        .where(
            earlier.group_id == group_id,
            same_account,
            earlier.period_start < period_start,
            earlier.status != InvoiceStatus.VOID,
        )
        .order_by(earlier.period_start.desc(), earlier.id.desc())
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
    data = RunData(session, [group], start, end)
    accounts = {account.subgroup_id: account for account in billing_accounts(group)}
    drafts = {
        subgroup_id: DraftInvoice(account, policy, "", start, end, start, start)
        for subgroup_id, account in accounts.items()
    }
    errors: list[RowError] = []
    premium_lines(data, group, policy, start, end, accounts, drafts, errors)
    lines = [line for draft in drafts.values() for line in draft.lines]
    return lines, data.plans[group.id], errors


def prepare_billing_run(
    session: Session,
    period: date,
    *,
    group_numbers: Iterable[str] | None = None,
    run_date: date | None = None,
    templates: dict[int, TemplateChoice] | None = None,
) -> RunOutcome:
    """Compute the invoices for billing periods starting in `period`'s month, writing nothing.

    A group is billed when a billing period of its policy starts that month, unless cancelled
    for non-payment with coverage ended before it (or reinstated with that period billed as
    missed months: collections.cancellation.billing_hold), said in `not_due`. A billing account
    that already has a non-void invoice for the period is reported in `already_issued` (the run
    is idempotent). A group with any rating problem is held whole, with every problem listed.
    `run_date` (default: the period's scheduled issue date, first of period minus lead days)
    is the issue date printed on the invoices."""
    from billing_core.collections.cancellation import billing_hold, billing_holds

    period = period.replace(day=1)
    outcome = RunOutcome(period=period, run_date=run_date, dry_run=True)
    due: list[tuple[EmployerGroup, BillingPolicy, date, date]] = []
    groups = _groups_for_run(session, group_numbers)
    cancellations = billing_holds(session, [g.id for g in groups])
    for group in groups:
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
        hold = billing_hold(cancellations.get(group.id), period_start, period_end)
        if hold is not None:
            outcome.not_due[group.group_number] = hold
            continue
        if month_end(period_end) < group.original_effective_date:
            outcome.not_due[group.group_number] = (
                f"coverage starts {group.original_effective_date:%b %d, %Y}"
            )
            continue
        due.append((group, policy, period_start, period_end))
    longest_end = max((end for *_, end in due), default=period)
    data = RunData(session, [g for g, *_ in due], period, longest_end)
    if templates is None:  # `templates`: the preview's unsaved template
        templates = templates_of(session, [g.id for g, *_ in due])
    for group, policy, period_start, period_end in due:
        issued_on = run_date or (period_start - timedelta(days=policy.lead_days))
        template = templates.get(group.id)
        accounts = {a.subgroup_id: a for a in billing_accounts(group, template or DEFAULT)}
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
                template=template,
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
        premium_lines(data, group, policy, period_start, period_end, accounts, scratch, errors)
        adjustment_lines(data, group, accounts, scratch)
        if errors:
            outcome.held[group.group_number] = errors
            continue
        for subgroup_id, draft in drafts.items():
            draft.finish()
            previous = data.previous.get((group.id, subgroup_id))
            draft.previous = previous
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
    actor_email: str | None = None,
    ip_address: str | None = None,
) -> RunOutcome:
    """Prepare the run and issue every draft: the invoice and its lines, the journal entry
    (receivable against premium revenue and fee income), approved adjustments marked billed,
    and the rate versions used marked billed (frozen). Running it again issues nothing new.
    A run someone started (`actor_id` staff, or `actor_email` such as "cli") is audited."""
    outcome = prepare_billing_run(session, period, group_numbers=group_numbers, run_date=run_date)
    outcome.dry_run = False
    outcome.issued = _issue_all(session, outcome.drafts, actor_id)
    mail.invoices_ready(session, outcome.issued)
    if actor_id is not None or actor_email is not None:
        audit.record(
            session,
            "billing.run",
            actor=session.get(User, actor_id) if actor_id is not None else None,
            actor_email=actor_email,
            ip_address=ip_address,
            detail={
                "period": f"{period:%Y-%m}",
                "issued": [i.invoice_number for i in outcome.issued],
            },
        )
    return outcome


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
        invoice_id = invoice.id  # an ORM attribute: read once, not once per line
        for number, row in enumerate(draft.lines, start=1):
            row["invoice_id"] = invoice_id
            row["line_number"] = number
        rows.extend(draft.lines)
    write_lines(session, rows)
    write_plan_totals(
        session,
        [(invoice.id, draft.lines) for invoice, draft in zip(invoices, drafts, strict=True)],
    )
    keep_printed(session, invoices, drafts)
    keep_issued_bridges(
        session,
        [(invoice, draft.previous) for invoice, draft in zip(invoices, drafts, strict=True)],
        first_adds={
            invoice.id: draft.first_bill_adds()
            for invoice, draft in zip(invoices, drafts, strict=True)
            if draft.previous is None
        },
    )

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
    session: Session,
    invoice: Invoice,
    *,
    reason: str,
    actor: User,
    on: date,
    ip_address: str | None = None,
) -> CreditMemo:
    """Void an issued invoice: a supervisor (never the system, never a specialist) gives a
    reason; the invoice's entry is reversed by a new entry, a credit memo for its new charges is
    issued, and adjustments it billed return to approved so the next invoice bills them again.
    An invoice with payments applied cannot be voided until they are moved. Audited."""
    if actor.role not in SUPERVISING_ROLES:
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
    audit.record(
        session,
        "invoice.voided",
        actor=actor,
        target=invoice,
        group_id=invoice.group_id,
        ip_address=ip_address,
        detail={"invoice": invoice.invoice_number, "credit_memo": memo_number},
    )
    session.flush()
    return credit_memo
