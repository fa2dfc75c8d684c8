"""The broker's book of business in figures (issue 21, item 5): the groups an agency is broker
of record for today and was for some months before, premium billed and collected by month for
the months it was of record, the next renewal date, the agency's commission statements (closed
runs only) and its year-to-date summary. Counts and amounts only: nothing here reads a member.

Premium billed for a month: the premium and retro of the group's bills for periods starting in
that month (fees aside), voided bills left out. Collected: what was applied to those bills,
in the proportion their premium bears to their new charges (fees included), dated up to the
day asked; dollars, half-up to the cent per bill."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core.billing.enrollment import add_months, month_start
from billing_core.commissions.disbursements import paid_in_year
from billing_core.commissions.statements import AgencyStatement, agency_statement
from billing_core.db import in_ids
from billing_core.ledger import money_sum
from billing_core.models import (
    Broker,
    BrokerAgency,
    BrokerOfRecord,
    EmployerGroup,
    Invoice,
    JournalEntry,
    PaymentAllocation,
    User,
)
from billing_core.models.commissions import (
    CommissionLine,
    CommissionLineKind,
    CommissionRun,
    CommissionRunStatus,
)
from billing_core.models.enums import InvoiceStatus
from billing_core.money import ZERO, cents

K = CommissionLineKind


def agency_of(session: Session, user: User) -> BrokerAgency | None:
    """The agency of a broker login (None: a user who is no agency's broker)."""
    if user.broker_id is None:
        return None
    return session.scalar(
        select(BrokerAgency)
        .join(Broker, Broker.agency_id == BrokerAgency.id)
        .where(Broker.id == user.broker_id)
    )


@dataclass(frozen=True)
class BookGroup:
    """One group of an agency's book: of record today (`current`) or for earlier months only;
    `of_record_from`/`of_record_to` bound the months the agency was of record (inclusive; None:
    still is), `split_percent` the agency's share today (or its last), `renews_on` the next
    renewal on or after the day asked."""

    group: EmployerGroup
    current: bool
    of_record_from: date
    of_record_to: date | None
    split_percent: Decimal
    renews_on: date
    periods: tuple[tuple[date, date | None], ...] = ()

    def of_record_in(self, month: date) -> bool:
        """The agency was of record on some day of coverage `month`."""
        end = add_months(month, 1)
        return any(start < end and (stop is None or stop >= month) for start, stop in self.periods)


def next_renewal(group: EmployerGroup, on: date) -> date:
    """The first of the group's renewal month on or after `on`."""
    this_year = date(on.year, group.renewal_month, 1)
    return this_year if this_year >= on else date(on.year + 1, group.renewal_month, 1)


def book_of_business(session: Session, agency_id: int, on: date) -> list[BookGroup]:
    """Every group `agency_id` is or was broker of record for, by name: in force on `on`
    (`current`), else for earlier months (a group it takes over later is not shown before)."""
    rows = session.execute(
        select(BrokerOfRecord, EmployerGroup)
        .join(EmployerGroup, EmployerGroup.id == BrokerOfRecord.group_id)
        .where(BrokerOfRecord.agency_id == agency_id, BrokerOfRecord.effective_from <= on)
        .order_by(BrokerOfRecord.effective_from, BrokerOfRecord.id)
    ).all()
    by_group: dict[int, list[BrokerOfRecord]] = defaultdict(list)
    groups: dict[int, EmployerGroup] = {}
    for row, group in rows:
        by_group[group.id].append(row)
        groups[group.id] = group
    book = []
    for group_id, records in by_group.items():
        group = groups[group_id]
        in_force = [r for r in records if r.effective_to is None or r.effective_to >= on]
        last_from = max(r.effective_from for r in records)
        latest = in_force or [r for r in records if r.effective_from == last_from]
        ends = [r.effective_to for r in records]
        book.append(
            BookGroup(
                group=group,
                current=bool(in_force),
                of_record_from=min(r.effective_from for r in records),
                of_record_to=None if in_force else max(e for e in ends if e is not None),
                split_percent=sum((r.commission_split_percent for r in latest), Decimal(0)),
                renews_on=next_renewal(group, on),
                periods=tuple((r.effective_from, r.effective_to) for r in records),
            )
        )
    return sorted(book, key=lambda b: (not b.current, b.group.name.casefold()))


def book_group(session: Session, agency_id: int, group_id: int, on: date) -> BookGroup | None:
    """One group of the agency's book (None: the agency never was its broker of record: the
    page answers 404)."""
    return next((b for b in book_of_business(session, agency_id, on) if b.group.id == group_id),
                None)  # fmt: skip


@dataclass
class PremiumMonth:
    """A month of a group's (or the book's) premium in dollars."""

    month: date
    billed: Decimal = ZERO
    collected: Decimal = ZERO

    @property
    def outstanding(self) -> Decimal:
        return self.billed - self.collected


def premium_months(
    session: Session, book: Iterable[BookGroup], start: date, end: date, on: date
) -> dict[int, list[PremiumMonth]]:
    """Per group of `book`: premium billed and collected (as of `on`) for each month from
    `start` to `end` (their months) in which the agency was of record, oldest first, from the
    group's first bill in the range (see the module's docstring). Two reads whatever the
    number of groups."""
    start, end = month_start(start), month_start(end)
    book = list(book)
    ids = [b.group.id for b in book]
    if not ids:
        return {}
    bills = session.execute(
        select(
            Invoice.id,
            Invoice.group_id,
            Invoice.period_start,
            Invoice.current_premium,
            Invoice.retro_total,
            Invoice.fees_total,
        ).where(
            in_ids(Invoice.group_id, ids),
            Invoice.status != InvoiceStatus.VOID,
            Invoice.issued_on.is_not(None),
            Invoice.issued_on <= on,
            Invoice.period_start >= start,
            Invoice.period_start < add_months(end, 1),
        )
    ).all()
    bill_ids = [b.id for b in bills]
    applied: dict[int, Decimal] = {}
    if bill_ids:
        applied = dict(
            session.execute(
                select(PaymentAllocation.invoice_id, money_sum(PaymentAllocation.amount))
                .join(JournalEntry, JournalEntry.id == PaymentAllocation.journal_entry_id)
                .where(
                    in_ids(PaymentAllocation.invoice_id, bill_ids), JournalEntry.entry_date <= on
                )
                .group_by(PaymentAllocation.invoice_id)
            ).all()
        )
    months: dict[int, dict[date, PremiumMonth]] = {gid: {} for gid in ids}
    for bill in bills:
        premium = bill.current_premium + bill.retro_total
        charge = premium + bill.fees_total
        paid = min(max(applied.get(bill.id, ZERO), ZERO), charge) if charge > 0 else ZERO
        month = month_start(bill.period_start)
        item = months[bill.group_id].setdefault(month, PremiumMonth(month))
        item.billed += premium
        if charge <= 0:
            item.collected += premium  # a credit bill: nothing to collect, counted as is
        else:
            item.collected += premium if paid == charge else cents(premium * paid / charge)
    out = {}
    for entry in book:
        found, month = [], start
        while month <= end:
            if entry.of_record_in(month):
                found.append(months[entry.group.id].get(month, PremiumMonth(month)))
            month = add_months(month, 1)
        billed_months = months[entry.group.id]
        while found and found[0].month not in billed_months:  # before its first bill: nothing
            found.pop(0)
        out[entry.group.id] = found
    return out


def book_months(per_group: dict[int, list[PremiumMonth]]) -> list[PremiumMonth]:
    """The book's months: each group's months added up (only months some group was of
    record), oldest first."""
    total: dict[date, PremiumMonth] = {}
    for months in per_group.values():
        for m in months:
            item = total.setdefault(m.month, PremiumMonth(m.month))
            item.billed += m.billed
            item.collected += m.collected
    return [total[m] for m in sorted(total)]


@dataclass(frozen=True)
class StatementSummary:
    """One closed commission statement of the agency: the run's month and its net by kind."""

    month: date
    approved_on: date | None
    lines: int
    earned: Decimal
    held: Decimal  # holds less releases of the run (negative: more released than held)
    charged_back: Decimal
    net: Decimal


def _by_kind(rows) -> dict[CommissionLineKind, Decimal]:
    out: dict[CommissionLineKind, Decimal] = defaultdict(lambda: ZERO)
    for kind, amount in rows:
        out[kind] += amount
    return out


def agency_statements(session: Session, agency_id: int) -> list[StatementSummary]:
    """The agency's statements: every approved (closed) run with a line of theirs, newest
    first. An open run is not a statement yet (it may still change) and is not listed."""
    rows = session.execute(
        select(
            CommissionRun.id,
            CommissionRun.month,
            CommissionRun.approved_at,
            CommissionLine.kind,
            CommissionLine.amount,
        )
        .join(CommissionLine, CommissionLine.run_id == CommissionRun.id)
        .where(
            CommissionLine.agency_id == agency_id,
            CommissionRun.status == CommissionRunStatus.APPROVED,
        )
    ).all()
    runs: dict[int, list] = defaultdict(list)
    meta = {}
    for run_id, month, approved_at, kind, amount in rows:
        runs[run_id].append((kind, amount))
        meta[run_id] = (month, approved_at)
    out = []
    for run_id, lines in runs.items():
        month, approved_at = meta[run_id]
        kinds = _by_kind(lines)
        out.append(
            StatementSummary(
                month=month,
                approved_on=approved_at.date() if approved_at else None,
                lines=len(lines),
                earned=kinds[K.EARNED] + kinds[K.ADJUSTMENT],
                held=-(kinds[K.HOLD] + kinds[K.RELEASE]),
                charged_back=-kinds[K.CHARGEBACK],
                net=sum(kinds.values(), ZERO),
            )
        )
    return sorted(out, key=lambda s: s.month, reverse=True)


def closed_statement(session: Session, agency: BrokerAgency, month: date) -> AgencyStatement | None:
    """The agency's statement for `month`'s run when that run is approved and has a line of
    theirs; None otherwise (an open run, another agency's only, no run: the page's 404)."""
    run = session.scalar(
        select(CommissionRun).where(
            CommissionRun.month == month_start(month),
            CommissionRun.status == CommissionRunStatus.APPROVED,
        )
    )
    if run is None:
        return None
    statement = agency_statement(session, run, agency)
    return statement if statement.lines else None


@dataclass
class YearToDate:
    """An agency's commission in calendar `year` (by the runs' months, closed runs only), in
    dollars: earned (with adjustments), held (holds taken less released: still held by the
    year's runs), released, charged back, the net approved, and paid by ACH (sent in the year,
    less returns in it: the 1099-NEC figure)."""

    year: int
    earned: Decimal = ZERO
    held: Decimal = ZERO
    released: Decimal = ZERO
    charged_back: Decimal = ZERO
    net: Decimal = ZERO
    paid: Decimal = ZERO
    statements: int = 0
    months: list[date] = field(default_factory=list)

    @property
    def approved_not_paid(self) -> Decimal:
        return self.net - self.paid


def year_to_date(session: Session, agency: BrokerAgency, year: int) -> YearToDate:
    """The agency's year-to-date summary for calendar `year` (see YearToDate)."""
    summary = YearToDate(year)
    rows = session.execute(
        select(CommissionRun.month, CommissionLine.kind, money_sum(CommissionLine.amount))
        .join(CommissionLine, CommissionLine.run_id == CommissionRun.id)
        .where(
            CommissionLine.agency_id == agency.id,
            CommissionRun.status == CommissionRunStatus.APPROVED,
            CommissionRun.month >= date(year, 1, 1),
            CommissionRun.month <= date(year, 12, 1),
        )
        .group_by(CommissionRun.month, CommissionLine.kind)
    ).all()
    kinds: dict[CommissionLineKind, Decimal] = defaultdict(lambda: ZERO)
    months = set()
    for month, kind, amount in rows:
        kinds[kind] += amount
        months.add(month)
    summary.earned = kinds[K.EARNED] + kinds[K.ADJUSTMENT]
    summary.held = -kinds[K.HOLD]
    summary.released = kinds[K.RELEASE]
    summary.charged_back = -kinds[K.CHARGEBACK]
    summary.net = sum(kinds.values(), ZERO)
    summary.months = sorted(months)
    summary.statements = len(months)
    summary.paid = next(
        (row["paid"] for row in paid_in_year(session, year) if row["agency_code"] == agency.code),
        ZERO,
    )
    return summary


__all__ = [
    "BookGroup",
    "PremiumMonth",
    "StatementSummary",
    "YearToDate",
    "agency_of",
    "agency_statements",
    "book_group",
    "book_months",
    "book_of_business",
    "closed_statement",
    "next_renewal",
    "premium_months",
    "year_to_date",
]
