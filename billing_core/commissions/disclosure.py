"""The compensation disclosure of one group for its broker's agency (issue 21, item 5; US
Consolidated Appropriations Act 2021 / ERISA 408(b)(2)): the direct compensation the agency
can expect for the group's plan year, in dollars, per line of coverage, from the commission
schedules in force and the group's billed premium, and the indirect compensation the carrier
knows of (none is recorded in this system: the disclosure says so).

The plan year is the policy year holding the day asked (it starts in the group's renewal
month). A month already billed counts its billed premium (premium and retro lines for the
coverage month, voided bills left out) and the members billed; a month not billed yet is
estimated at the latest billed month of that product. Each month's commission is the
governing schedule's (`ScheduleBook.governing`; graded bands carried across the plan year)
times the agency's share of the broker of record for that month (`of_record.governing_rows`),
half-up to the cent per month and product. Counts and amounts only."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_core.billing.enrollment import add_months, month_start
from billing_core.commissions.of_record import governing_rows
from billing_core.commissions.schedules import (
    HUNDRED,
    ScheduleBook,
    flat_commission,
    graded_commission,
    per_employee_commission,
    policy_year_kind,
    policy_year_start,
)
from billing_core.ledger import money_sum
from billing_core.models import (
    BrokerAgency,
    BrokerOfRecord,
    EmployerGroup,
    Invoice,
    InvoiceLine,
    Plan,
    Product,
)
from billing_core.models.commissions import (
    CommissionKind,
    CommissionLine,
    CommissionLineKind,
    CommissionSchedule,
    PolicyYear,
)
from billing_core.models.enums import InvoiceSection, InvoiceStatus, LineOfCoverage
from billing_core.money import ZERO, cents

NO_INDIRECT = (
    "None known. The carrier records no bonus, override, contingent commission or other "
    "indirect compensation to your agency on this group; any paid by a third party must be "
    "disclosed by the agency itself."
)


@dataclass
class DisclosureMonth:
    month: date
    premium: Decimal
    employees: int
    estimated: bool
    share_percent: Decimal  # the agency's share of the broker of record that month (0: none)
    commission: Decimal  # the agency's expected commission for the month


@dataclass
class DisclosureLine:
    """One line of coverage: its products, the schedule (described), the plan year's premium
    and the agency's expected commission."""

    line: LineOfCoverage
    products: list[str]
    schedule: str
    premium: Decimal = ZERO
    commission: Decimal = ZERO
    estimated_months: int = 0
    months: list[DisclosureMonth] = field(default_factory=list)


@dataclass
class Disclosure:
    group: EmployerGroup
    agency: BrokerAgency
    plan_year_start: date
    plan_year_end: date
    lines: list[DisclosureLine]
    stated_so_far: Decimal  # commission already on the agency's statements for these months
    indirect: list[str]
    as_of: date

    @property
    def direct_total(self) -> Decimal:
        return sum((x.commission for x in self.lines), ZERO)

    @property
    def premium_total(self) -> Decimal:
        return sum((x.premium for x in self.lines), ZERO)

    @property
    def indirect_text(self) -> str:
        return "; ".join(self.indirect) if self.indirect else NO_INDIRECT


def describe_schedule(
    schedule: CommissionSchedule | None, book: ScheduleBook, year: PolicyYear
) -> str:
    """A schedule's rates in words ("15% of the first $5,000, then 10% ..."), for `year`."""
    if schedule is None:
        return "no commission schedule"
    bands = book.bands_of(schedule, year)
    if not bands:
        return "no rate"
    basis = "collected" if schedule.basis.value == "collected" else "billed"
    if schedule.kind is CommissionKind.FLAT:
        return f"{bands[0].rate.normalize():f}% of premium {basis}"
    if schedule.kind is CommissionKind.PER_EMPLOYEE:
        return f"${bands[0].rate:,.2f} per employee per month (prorated to premium {basis})"
    parts = []
    for band, following in zip(bands, [*bands[1:], None], strict=True):
        rate = f"{band.rate.normalize():f}%"
        if following is None:
            parts.append(f"{rate} above ${band.floor:,.0f}")
        else:
            parts.append(f"{rate} from ${band.floor:,.0f} to ${following.floor:,.0f}")
    return f"graded on the plan year's premium {basis}: " + ", ".join(parts)


def _billed(session: Session, group_id: int, start: date, end: date, as_of: date):
    """(product id, coverage month) -> (premium dollars, members billed), bills issued by
    `as_of`, not voided."""
    rows = session.execute(
        select(
            Plan.product_id,
            InvoiceLine.coverage_month,
            money_sum(InvoiceLine.amount),
            func.count(func.distinct(InvoiceLine.member_id)).filter(
                InvoiceLine.section == InvoiceSection.PREMIUM
            ),
        )
        .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
        .join(Plan, Plan.id == InvoiceLine.plan_id)
        .where(
            Invoice.group_id == group_id,
            Invoice.status != InvoiceStatus.VOID,
            Invoice.issued_on <= as_of,
            InvoiceLine.section.in_((InvoiceSection.PREMIUM, InvoiceSection.RETRO)),
            InvoiceLine.coverage_month >= start,
            InvoiceLine.coverage_month < add_months(end, 1),
        )
        .group_by(Plan.product_id, InvoiceLine.coverage_month)
    ).all()
    out: dict[tuple[int, date], tuple[Decimal, int]] = {}
    for product_id, month, amount, members in rows:
        key = (product_id, month_start(month))
        was = out.get(key, (ZERO, 0))
        out[key] = (was[0] + amount, was[1] + members)
    return out


def compensation_disclosure(
    session: Session, group: EmployerGroup, agency: BrokerAgency, on: date
) -> Disclosure:
    """The disclosure of `group` for `agency` for the plan year holding `on` (see the module's
    docstring): expected direct compensation per line of coverage in dollars."""
    start = policy_year_start(group, month_start(on))
    months = [add_months(start, n) for n in range(12)]
    end = months[-1]
    products = {
        p.id: p
        for p in session.scalars(
            select(Product)
            .join(Plan, Plan.product_id == Product.id)
            .where(Plan.group_id == group.id)
            .distinct()
        )
    }
    billed = _billed(session, group.id, add_months(start, -12), end, on)
    # products billed in the year but no longer offered still count
    for product_id, _ in billed:
        if product_id not in products:
            products[product_id] = session.get(Product, product_id)
    of_record = list(
        session.scalars(select(BrokerOfRecord).where(BrokerOfRecord.group_id == group.id))
    )
    book = ScheduleBook(session)
    by_line: dict[LineOfCoverage, list[Product]] = defaultdict(list)
    for product in products.values():
        by_line[product.line_of_coverage].append(product)
    lines = []
    for line in sorted(by_line, key=lambda x: x.value):
        items = sorted(by_line[line], key=lambda p: p.name)
        year = policy_year_kind(group, on if on >= start else start)
        schedule_now = book.governing(agency.id, line, month_start(on))
        entry = DisclosureLine(line, [p.name for p in items],
                               describe_schedule(schedule_now, book, year))  # fmt: skip
        cumulative: dict[int, Decimal] = defaultdict(lambda: ZERO)  # per schedule
        # the latest month billed before the plan year: what an unbilled month starts from
        last_known: dict[int, tuple[Decimal, int]] = {}
        for month in (add_months(start, -n) for n in range(12, 0, -1)):
            for product in items:
                if (product.id, month) in billed:
                    last_known[product.id] = billed[(product.id, month)]
        for month in months:
            premium, employees, estimated = ZERO, 0, False
            for product in items:
                found = billed.get((product.id, month))
                if found is not None:
                    last_known[product.id] = found
                elif month >= month_start(on):  # not billed yet: as the latest month billed
                    found = last_known.get(product.id)
                    estimated = estimated or found is not None
                if found is not None:
                    premium += found[0]
                    employees += found[1]
            rows = governing_rows(of_record, month)
            share = sum(
                (r.commission_split_percent for r in rows if r.agency_id == agency.id),
                Decimal(0),
            )
            schedule = book.governing(agency.id, line, month)
            full = ZERO
            if schedule is not None:
                bands = book.bands_of(schedule, policy_year_kind(group, month))
                if bands and schedule.kind is CommissionKind.FLAT:
                    full = flat_commission(premium, bands[0].rate)
                elif bands and schedule.kind is CommissionKind.PER_EMPLOYEE:
                    full = per_employee_commission(employees, bands[0].rate, Decimal(1))
                elif bands:
                    before = cumulative[schedule.id]
                    cumulative[schedule.id] = before + premium
                    full = graded_commission(before + premium, bands) - graded_commission(
                        before, bands
                    )
            commission = cents(full * share / HUNDRED)
            entry.months.append(
                DisclosureMonth(month, premium, employees, estimated, share, commission)
            )
            entry.premium += premium
            entry.commission += commission
            entry.estimated_months += int(estimated)
        lines.append(entry)
    stated = session.scalar(
        select(money_sum(CommissionLine.amount)).where(
            CommissionLine.agency_id == agency.id,
            CommissionLine.group_id == group.id,
            CommissionLine.coverage_month >= start,
            CommissionLine.coverage_month <= end,
            CommissionLine.kind.in_(
                (CommissionLineKind.EARNED, CommissionLineKind.ADJUSTMENT,
                 CommissionLineKind.CHARGEBACK)
            ),
        )
    )  # fmt: skip
    return Disclosure(
        group=group,
        agency=agency,
        plan_year_start=start,
        plan_year_end=add_months(start, 12) - timedelta(days=1),
        lines=lines,
        stated_so_far=stated or ZERO,
        indirect=[],
        as_of=on,
    )


__all__ = ["NO_INDIRECT", "Disclosure", "compensation_disclosure", "describe_schedule"]
