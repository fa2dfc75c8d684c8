"""What commission is owed, in total, as of a day: the premium basis of every group, product
and coverage month (billed, less written off; or collected: cash applied to it), each
schedule's commission on it, and its split between the agencies and brokers of record for the
coverage month. A run compares these totals with the lines already stated (run.py).

Collected premium by coverage month: an invoice's premium and retro lines are paid in the
proportion its allocations (net of undone ones, dated up to the day) bear to its new charges,
fees included; a credit invoice (new charges at or below zero) counts in full when issued.
Billed premium: an invoice's lines when issued, less the same proportion of what was written
off (or charged off). A voided invoice counts for nothing from its void. Dollars, half-up to
the cent per invoice, product and coverage month."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import func, select, type_coerce
from sqlalchemy.orm import Session

from billing_core.commissions.of_record import governing_rows, split_errors
from billing_core.commissions.schedules import (
    HUNDRED,
    ScheduleBook,
    flat_commission,
    graded_commission,
    per_employee_commission,
    policy_year_kind,
    policy_year_start,
)
from billing_core.db import Money, id_chunks, in_ids
from billing_core.ledger import money_sum
from billing_core.models import (
    BrokerOfRecord,
    EmployerGroup,
    Invoice,
    InvoiceLine,
    InvoicePlanTotal,
    JournalEntry,
    LedgerAccount,
    PaymentAllocation,
    Plan,
    Posting,
    Product,
)
from billing_core.models.collections import DelinquencyState, DelinquencyTransition
from billing_core.models.commissions import CommissionBasis, CommissionKind, CommissionSchedule
from billing_core.models.enums import InvoiceSection, InvoiceStatus, LineOfCoverage
from billing_core.money import ZERO, cents, ratio_split

# A group in these states has its new commission held until it is current (or reinstated)
# again. Past due alone does not hold: a payment a few days late is common, and commission on
# collected premium is not earned on what is unpaid anyway; the grace notice marks a group
# as delinquent.
HOLD_STATES = frozenset(
    {
        DelinquencyState.IN_GRACE,
        DelinquencyState.PENDING_CANCELLATION,
        DelinquencyState.CANCELLED,
        DelinquencyState.REFERRED,
        DelinquencyState.CHARGED_OFF,
    }
)
WRITE_OFF_CODES = ("5100", "5200")  # premium write-off, bad debt (charge-off)
RECEIVABLE_CODE = "1100"


@dataclass
class MonthBasis:
    """One group's premium on one product for one coverage month, in dollars."""

    billed_gross: Decimal = ZERO  # billed on issued, not voided invoices
    billed: Decimal = ZERO  # less written off
    collected: Decimal = ZERO  # cash applied to it
    employees: int = 0  # members with premium billed for the month (per-employee schedules)

    def of(self, basis: CommissionBasis) -> Decimal:
        return self.collected if basis is CommissionBasis.COLLECTED else self.billed


Key = tuple[int, int, date]  # group id, product id, coverage month


def _end_of(as_of: date) -> datetime:
    return datetime.combine(as_of + timedelta(days=1), datetime.min.time(), UTC)


def premium_basis(
    session: Session,
    as_of: date,
    *,
    employee_lines: frozenset[LineOfCoverage] | None = None,
    employee_agencies: frozenset[int] | None = None,
) -> dict[Key, MonthBasis]:
    """The premium basis of every group with a broker of record, by product and coverage
    month, counting what is dated up to `as_of` (see the module's docstring); employees are
    counted on the products of `employee_lines` (default: every line) of the groups an agency
    of `employee_agencies` is or was broker of record for (default: every group)."""
    conn = session.connection()  # column reads: no ORM rows to build
    with_broker = select(BrokerOfRecord.group_id).distinct()
    invoices = {
        row.id: row
        for row in conn.execute(
            select(
                Invoice.id,
                Invoice.group_id,
                Invoice.period_start,
                Invoice.period_end,
                Invoice.status,
                Invoice.voided_at,
                type_coerce(
                    Invoice.current_premium + Invoice.retro_total + Invoice.fees_total, Money()
                ).label("charge"),
            ).where(Invoice.issued_on <= as_of, Invoice.group_id.in_(with_broker))
        ).all()
    }
    end = _end_of(as_of)
    void = {
        i
        for i, row in invoices.items()
        if row.status is InvoiceStatus.VOID and row.voided_at is not None and row.voided_at < end
    }
    allocated = dict(
        conn.execute(
            select(PaymentAllocation.invoice_id, money_sum(PaymentAllocation.amount))
            .join(JournalEntry, JournalEntry.id == PaymentAllocation.journal_entry_id)
            .where(JournalEntry.entry_date <= as_of)
            .group_by(PaymentAllocation.invoice_id)
        ).all()
    )
    written_entries = (
        select(Posting.entry_id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(LedgerAccount.code.in_(WRITE_OFF_CODES))
    )
    written_off = dict(
        conn.execute(
            select(
                Posting.invoice_id,
                type_coerce(
                    func.coalesce(func.sum(Posting.credit), 0)
                    - func.coalesce(func.sum(Posting.debit), 0),
                    Money(),
                ),
            )
            .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
            .join(JournalEntry, JournalEntry.id == Posting.entry_id)
            .where(
                LedgerAccount.code == RECEIVABLE_CODE,
                Posting.invoice_id.is_not(None),
                Posting.entry_id.in_(written_entries),
                JournalEntry.entry_date <= as_of,
            )
            .group_by(Posting.invoice_id)
        ).all()
    )
    lines = _premium_by_month(conn, as_of, invoices, with_broker)
    basis: dict[Key, MonthBasis] = defaultdict(MonthBasis)
    for invoice_id, group_id, product_id, month, amount in lines:
        if invoice_id in void or amount == 0:
            continue
        charge = invoices[invoice_id].charge
        item = basis[(group_id, product_id, month.replace(day=1))]
        item.billed_gross += amount
        if charge <= 0:
            item.billed += amount
            item.collected += amount
            continue
        paid = min(max(allocated.get(invoice_id, ZERO), ZERO), charge)
        lost = min(max(written_off.get(invoice_id, ZERO), ZERO), charge)
        # most bills are paid in full and nothing is written off: no arithmetic for those
        item.billed += amount - cents(amount * lost / charge) if lost else amount
        item.collected += amount if paid == charge else cents(amount * paid / charge)
    if employee_lines is None or employee_lines:
        counted = _employees(session, as_of, void, employee_lines, employee_agencies)
        for (group_id, product_id, month), count in counted.items():
            if (group_id, product_id, month) in basis:
                basis[(group_id, product_id, month)].employees = count
    return dict(basis)


def _premium_by_month(conn, as_of: date, invoices: dict, with_broker) -> list[tuple]:
    """(invoice id, group id, product id, coverage month, dollars) of the premium and retro
    lines of `invoices`. A one-month bill's premium is read from the totals kept at issue
    (`InvoicePlanTotal`: its premium lines all cover its month), so a run over years of bills
    does not sum every member line again; retro lines (any month), the premium of a bill of
    several months, and bills without kept totals are read from their lines."""
    premium, retro = InvoiceSection.PREMIUM, InvoiceSection.RETRO
    totals = conn.execute(
        select(
            InvoicePlanTotal.invoice_id,
            InvoicePlanTotal.section,
            Plan.product_id,
            money_sum(InvoicePlanTotal.amount),
        )
        .join(Plan, Plan.id == InvoicePlanTotal.plan_id)
        .join(Invoice, Invoice.id == InvoicePlanTotal.invoice_id)
        .where(
            InvoicePlanTotal.section.in_((premium, retro)),
            Invoice.issued_on <= as_of,
            Invoice.group_id.in_(with_broker),
        )
        .group_by(InvoicePlanTotal.invoice_id, InvoicePlanTotal.section, Plan.product_id)
    ).all()
    rows, from_totals, to_read, kept = [], set(), set(), set()
    for invoice_id, section, product_id, amount in totals:
        kept.add(invoice_id)
        bill = invoices[invoice_id]
        one_month = (bill.period_start.year, bill.period_start.month) == (
            bill.period_end.year,
            bill.period_end.month,
        )
        if section is premium and one_month:
            from_totals.add(invoice_id)
            rows.append((invoice_id, bill.group_id, product_id, bill.period_start, amount))
        else:
            to_read.add(invoice_id)
    to_read |= invoices.keys() - kept
    for ids in id_chunks(sorted(to_read)):
        for invoice_id, section, product_id, month, amount in conn.execute(
            select(
                InvoiceLine.invoice_id,
                InvoiceLine.section,
                Plan.product_id,
                InvoiceLine.coverage_month,
                money_sum(InvoiceLine.amount),
            )
            .join(Plan, Plan.id == InvoiceLine.plan_id)
            .where(
                in_ids(InvoiceLine.invoice_id, ids),
                InvoiceLine.section.in_((premium, retro)),
                InvoiceLine.coverage_month.is_not(None),
            )
            .group_by(
                InvoiceLine.invoice_id,
                InvoiceLine.section,
                Plan.product_id,
                InvoiceLine.coverage_month,
            )
        ).all():
            if section is premium and invoice_id in from_totals:
                continue
            rows.append((invoice_id, invoices[invoice_id].group_id, product_id, month, amount))
    return rows


def _employees(
    session: Session,
    as_of: date,
    void: set[int],
    lines: frozenset[LineOfCoverage] | None,
    agencies: frozenset[int] | None,
) -> dict[Key, int]:
    """Members with premium billed (net of retro credits) for each group, product and month."""
    per_member = (
        select(
            Invoice.group_id,
            Plan.product_id,
            InvoiceLine.coverage_month,
            InvoiceLine.member_id,
        )
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .join(Plan, Plan.id == InvoiceLine.plan_id)
        .where(
            InvoiceLine.section.in_((InvoiceSection.PREMIUM, InvoiceSection.RETRO)),
            InvoiceLine.member_id.is_not(None),
            InvoiceLine.coverage_month.is_not(None),
            Invoice.issued_on <= as_of,
            Invoice.group_id.in_(select(BrokerOfRecord.group_id).distinct()),
        )
        .group_by(
            Invoice.group_id, Plan.product_id, InvoiceLine.coverage_month, InvoiceLine.member_id
        )
        .having(func.sum(InvoiceLine.amount) > 0)
    )
    if void:
        per_member = per_member.where(Invoice.id.not_in(sorted(void)))
    if lines is not None:
        products = select(Product.id).where(Product.line_of_coverage.in_(sorted(lines)))
        per_member = per_member.where(Plan.product_id.in_(products))
    if agencies is not None:
        theirs = select(BrokerOfRecord.group_id).where(
            BrokerOfRecord.agency_id.in_(sorted(agencies))
        )
        per_member = per_member.where(Invoice.group_id.in_(theirs))
    per_member = per_member.subquery()
    rows = (
        session.connection()
        .execute(
            select(
                per_member.c.group_id,
                per_member.c.product_id,
                per_member.c.coverage_month,
                func.count(),
            ).group_by(per_member.c.group_id, per_member.c.product_id, per_member.c.coverage_month)
        )
        .all()
    )
    return {(g, p, m.replace(day=1)): n for g, p, m, n in rows}


def held_groups(session: Session, as_of: date) -> set[int]:
    """Groups whose delinquency state on `as_of` (their last transition effective by then)
    holds commission (HOLD_STATES)."""
    rows = session.execute(
        select(DelinquencyTransition.group_id, DelinquencyTransition.to_state)
        .where(DelinquencyTransition.effective_on <= as_of)
        .order_by(
            DelinquencyTransition.group_id,
            DelinquencyTransition.effective_on,
            DelinquencyTransition.id,
        )
    )
    state: dict[int, DelinquencyState] = {}
    for group_id, to_state in rows:
        state[group_id] = to_state
    return {g for g, s in state.items() if s in HOLD_STATES}


class GroupYears(NamedTuple):
    """What a group's policy years are read from (`schedules.policy_year_kind`)."""

    group_number: str
    original_effective_date: date
    renewal_month: int


class Share(NamedTuple):
    """A broker of record row, read as a plain tuple (the run reads every group's)."""

    agency_id: int
    writing_broker_id: int | None
    commission_split_percent: Decimal
    effective_from: date
    effective_to: date | None


@dataclass(frozen=True)
class Target:
    """What an agency (and broker) is owed in total on one group, product and coverage month."""

    amount: Decimal
    basis: Decimal  # its share of the premium basis
    rate: Decimal | None
    employees: int | None
    schedule_id: int
    split_percent: Decimal


TargetKey = tuple[int, int | None, int, int, date]  # agency, broker, group, product, month


@dataclass(frozen=True)
class _Full:
    commission: Decimal
    basis: Decimal
    rate: Decimal | None
    employees: int | None


def _effective_rate(commission: Decimal, basis: Decimal) -> Decimal | None:
    return (commission * HUNDRED / basis).quantize(Decimal("0.0001")) if basis else None


def _full_commission(
    schedule: CommissionSchedule,
    book: ScheduleBook,
    group: GroupYears,
    months: dict[date, dict[int, MonthBasis]],
) -> dict[tuple[date, int], _Full]:
    """The schedule's commission on all of the group's premium of its line (100%), by month
    and product."""
    out: dict[tuple[date, int], _Full] = {}
    kind, basis = schedule.kind, schedule.basis
    if kind is CommissionKind.GRADED:
        cumulative, year_start = ZERO, None
        for month in sorted(months):
            start = policy_year_start(group, month)
            if start != year_start:
                cumulative, year_start = ZERO, start
            bands = book.bands_of(schedule, policy_year_kind(group, month))
            products = months[month]
            amounts = {p: b.of(basis) for p, b in products.items()}
            before = cumulative
            cumulative += sum(amounts.values(), ZERO)
            earned = graded_commission(cumulative, bands) - graded_commission(before, bands)
            parts = _split_by(earned, amounts)
            for product_id, part in parts.items():
                out[(month, product_id)] = _Full(
                    part, amounts[product_id], _effective_rate(part, amounts[product_id]), None
                )
        return out
    for month, products in months.items():
        bands = book.bands_of(schedule, policy_year_kind(group, month))
        rate = bands[0].rate if bands else ZERO
        for product_id, item in products.items():
            amount = item.of(basis)
            if kind is CommissionKind.FLAT:
                out[(month, product_id)] = _Full(flat_commission(amount, rate), amount, rate, None)
                continue
            share = (
                min(max(amount / item.billed_gross, Decimal(0)), Decimal(1))
                if item.billed_gross > 0
                else Decimal(0)
            )
            commission = per_employee_commission(item.employees, rate, share)
            out[(month, product_id)] = _Full(commission, amount, rate, item.employees)
    return out


def _split_by(total: Decimal, weights: dict[int, Decimal]) -> dict[int, Decimal]:
    """`total` shared by the products' premium (all to the largest when they do not share
    one sign)."""
    ids = sorted(weights)
    values = [weights[i] for i in ids]
    if len(ids) == 1 or total == 0:
        return {i: (total if n == 0 else ZERO) for n, i in enumerate(ids)}
    if all(v >= 0 for v in values) and sum(values) > 0:
        return dict(zip(ids, ratio_split(total, values), strict=True))
    largest = max(ids, key=lambda i: abs(weights[i]))
    return {i: (total if i == largest else ZERO) for i in ids}


def commission_targets(
    session: Session, as_of: date, book: ScheduleBook
) -> tuple[dict[TargetKey, Target], list[str]]:
    """What each agency and broker of record is owed in total, as of `as_of`, on each group,
    product and coverage month (the commission follows the broker of record of the coverage
    month, `of_record.governing_rows`), and the problems that kept a group's month out (shares
    that do not add up to 100%)."""
    employee_lines, employee_agencies = book.per_employee_scope()
    basis = premium_basis(
        session, as_of, employee_lines=employee_lines, employee_agencies=employee_agencies
    )
    group_ids = sorted({g for g, _, _ in basis})
    groups = {
        row[0]: GroupYears(*row[1:])
        for row in session.connection().execute(
            select(
                EmployerGroup.id,
                EmployerGroup.group_number,
                EmployerGroup.original_effective_date,
                EmployerGroup.renewal_month,
            ).where(EmployerGroup.id.in_(group_ids))
        ).all()
    } if group_ids else {}  # fmt: skip
    lines: dict[int, LineOfCoverage] = dict(
        session.execute(select(Product.id, Product.line_of_coverage)).all()
    )
    of_record: dict[int, list[Share]] = defaultdict(list)
    for row in (
        session.connection()
        .execute(
            select(
                BrokerOfRecord.group_id,
                BrokerOfRecord.agency_id,
                BrokerOfRecord.writing_broker_id,
                BrokerOfRecord.commission_split_percent,
                BrokerOfRecord.effective_from,
                BrokerOfRecord.effective_to,
            ).order_by(BrokerOfRecord.effective_from, BrokerOfRecord.id)
        )
        .all()
    ):
        of_record[row[0]].append(Share(*row[1:]))
    by_line: dict[tuple[int, LineOfCoverage], dict[date, dict[int, MonthBasis]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for (group_id, product_id, month), item in basis.items():
        by_line[(group_id, lines[product_id])][month][product_id] = item
    targets: dict[TargetKey, Target] = {}
    problems: list[str] = []
    for (group_id, line), months in sorted(by_line.items()):
        group = groups[group_id]
        full_of: dict[int, dict[tuple[date, int], _Full]] = {}
        checked: dict[tuple[Share, ...], list[str]] = {}
        for month in sorted(months):
            rows = tuple(governing_rows(of_record[group_id], month))
            errors = checked.get(rows)
            if errors is None:
                errors = checked[rows] = split_errors(
                    [(r.agency_id, r.writing_broker_id, r.commission_split_percent) for r in rows]
                )
            if errors:
                problems.append(
                    f"{group.group_number} {month:%b %Y} {line.value}: {'; '.join(errors)}"
                )
                continue
            by_schedule: dict[int, tuple[CommissionSchedule, list[Share]]] = {}
            for row in rows:
                schedule = book.governing(row.agency_id, line, month)
                if schedule is not None:
                    by_schedule.setdefault(schedule.id, (schedule, []))[1].append(row)
            for schedule, shared in by_schedule.values():
                if schedule.id not in full_of:
                    full_of[schedule.id] = _full_commission(schedule, book, group, months)
                full = full_of[schedule.id]
                percents = [r.commission_split_percent for r in shared]
                together = sum(percents, Decimal(0))
                for product_id in months[month]:
                    whole = full[(month, product_id)]
                    if len(shared) == 1 and together == HUNDRED:  # one agency: no split
                        amounts, bases = [whole.commission], [whole.basis]
                    else:
                        amounts = ratio_split(
                            cents(whole.commission * together / HUNDRED), percents
                        )
                        bases = ratio_split(cents(whole.basis * together / HUNDRED), percents)
                    for row, amount, share in zip(shared, amounts, bases, strict=True):
                        key = (row.agency_id, row.writing_broker_id, group_id, product_id, month)
                        targets[key] = Target(
                            amount=amount,
                            basis=share,
                            rate=whole.rate,
                            employees=whole.employees,
                            schedule_id=schedule.id,
                            split_percent=row.commission_split_percent,
                        )
    return targets, problems


def agencies_of(targets: Iterable[TargetKey]) -> set[int]:
    return {key[0] for key in targets}
