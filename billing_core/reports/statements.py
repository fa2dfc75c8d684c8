"""The paid-vs-billed statement of one employer group over a range of coverage periods. Pure
reads of invoices, allocations and the ledger: every amount is dollars (Decimal, to the cent)
and every balance is derived from receivable postings dated on or before the statement's `end`,
so the statement ties to the ledger as of that day.

What the statement covers (decisions, so that it always adds up):
- Rows are the group's invoices whose coverage period starts on or after `start` and that were
  issued on or before `end` (a bill issued in advance for the next month is owed on `end`, so it
  is in), summed per coverage period and product. Void invoices stay in: their void is a credit
  ("other credits"), so the row nets to zero and the reader sees what happened.
- Billed = premium lines; adjusted = retro lines (by the product of their plan) and fees (under
  the product their plan names, else "Other"). Both come from the invoice's own lines.
- Paid = payments allocated to the invoice (net of allocations undone by a returned payment),
  dated on or before `end`; other credits = write-offs of short payments and voids. The
  invoice-level amounts are split across its products in proportion to each product's net
  charge (billed + adjusted) with `money.ratio_split`, so the products add back to the invoice
  to the cent; products whose net charge is zero or a credit take no share (when no product has
  a positive charge, the first product carries the whole amount).
- Opening balance = what was still owed on `start - 1` for coverage periods before `start`
  (open items of earlier invoices). Payments and credits on those earlier items within the range
  are one "earlier periods" row, so: opening - earlier paid/credited + the rows' balances =
  closing balance = the receivable balance on `end` (the sum of open items), which is also the
  aging total. `ledger_differences` checks this both ways.
- Credits: the unapplied cash (credit balance) on `end`, and the payments carrying it.
- A user limited to some locations (`subgroup_ids`) gets the statement of the bills they see
  (access.invoice_in_scope: their locations' and the group's consolidated ones) and of the
  payments they see (access.payment_in_scope); balances and aging are those bills', and the
  group's credit (kept per group, not per location) is not theirs: zero, and `limited` says so.
- Suspense: cash in suspense names no group, so an open suspense item is never shown on a
  group's statement (it may be another payer's check); once staff identify it to this group it
  becomes one of the group's payments and is listed with the payments, marked as such.

Why one module of about 730 lines: the statement's records, the builder that fills them and
`ledger_differences`, which checks them against the ledger, are one contract (the decisions
above); apart, each decision would be read in two places. Its downloads are statement_sheets.py
and the employer dashboard built on it is dashboard.py.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import Date, and_, bindparam, case, exists, select
from sqlalchemy.orm import Session, aliased

from billing_core import ledger
from billing_core.access import (
    SUBGROUP_IDS,
    USER_ID,
    invoice_in_scope,
    payment_in_scope,
    scope_values,
)
from billing_core.billing.bill_bridge import BridgeTotals, kept_bridge
from billing_core.billing.enrollment import add_months, month_start
from billing_core.billing.invoices import period_label
from billing_core.bounds import DATE_RANGE_WORDS, date_in_range
from billing_core.db import built_once
from billing_core.errors import StatementRangeError
from billing_core.ledger import Chart
from billing_core.ledger.receivables import (
    AGING_BUCKETS,
    PAYMENT_STATUS_LABELS,
    Aging,
    aging_of,
)
from billing_core.models import (
    EmployerGroup,
    Invoice,
    InvoicePlanTotal,
    JournalEntry,
    LedgerAccount,
    Payment,
    PaymentAllocation,
    Plan,
    Posting,
    Product,
    Refund,
    SuspenseItem,
)
from billing_core.models.collections_legal import CollectionRecovery
from billing_core.models.enums import (
    InvoiceSection,
    InvoiceStatus,
    PaymentStatus,
    RefundStatus,
    SuspenseStatus,
)
from billing_core.money import ZERO, ratio_split
from billing_core.payments.allocation import REFUND_TAKEN

OTHER_PRODUCT = "Other"
DEFAULT_MONTHS = 12
MAX_MONTHS = 60
PAID_SOURCES = frozenset({"allocation", "allocation_reversal"})
METHOD_LABELS = {
    "card": "Card",
    "ach_debit": "ACH debit",
    "check": "Check",
    "wire": "Wire",
    "ach_credit": "ACH credit",
    "lockbox": "Lockbox check",
}


@dataclass(frozen=True)
class StatementLine:
    """One coverage period x product (dollars). `balance` = billed + adjusted - paid - credited;
    `running_balance` is the opening balance, less what was paid on earlier periods, plus the
    balances of this and every line above it."""

    period_start: date
    period_end: date
    product: str
    billed: Decimal
    adjusted: Decimal
    paid: Decimal
    credited: Decimal
    running_balance: Decimal

    @property
    def period(self) -> str:
        return period_label(self.period_start, self.period_end)

    @property
    def charges(self) -> Decimal:
        return self.billed + self.adjusted

    @property
    def balance(self) -> Decimal:
        return self.billed + self.adjusted - self.paid - self.credited


@dataclass(frozen=True)
class StatementInvoice:
    """One invoice on the statement, with its ledger figures as of the statement's end."""

    invoice: Invoice
    charges: Decimal
    paid: Decimal
    credited: Decimal
    void_on_end: bool

    @property
    def balance(self) -> Decimal:
        return self.charges - self.paid - self.credited


@dataclass(frozen=True)
class MonthTotal:
    """One coverage month for the billed-vs-paid chart: billed = charges of bills not void on
    the statement's end; paid = payments applied to those bills by then."""

    month: date
    billed: Decimal
    paid: Decimal

    @property
    def label(self) -> str:
        return f"{self.month:%b %Y}"

    @property
    def open(self) -> Decimal:
        return self.billed - self.paid


@dataclass(frozen=True)
class StatementPayment:
    payment: Payment
    method_label: str
    status_label: str
    applied: tuple[tuple[str, Decimal], ...]
    unallocated: Decimal
    refunded: Decimal
    from_suspense: bool


@dataclass
class Statement:
    group: EmployerGroup
    start: date
    end: date
    today: date
    opening_balance: Decimal
    earlier_paid: Decimal
    earlier_credited: Decimal
    lines: list[StatementLine]
    invoices: list[StatementInvoice]
    months: list[MonthTotal]
    aging: Aging
    payments: list[StatementPayment]
    credit: Decimal
    ledger_receivable: Decimal
    latest_invoice: Invoice | None
    bridge: BridgeTotals | None = None
    products: list[str] = field(default_factory=list)
    # Drawn for a user limited to some locations: their bills and payments, no credit.
    limited: bool = False

    @property
    def title(self) -> str:
        return f"{self.start:%b %Y}–{self.end:%b %Y}"

    @property
    def opening_on(self) -> date:
        """The day of the opening balance: the day before the first coverage month."""
        return date.fromordinal(self.start.toordinal() - 1)

    @property
    def billed(self) -> Decimal:
        return sum((line.billed for line in self.lines), ZERO)

    @property
    def adjusted(self) -> Decimal:
        return sum((line.adjusted for line in self.lines), ZERO)

    @property
    def paid(self) -> Decimal:
        return sum((line.paid for line in self.lines), ZERO)

    @property
    def credited(self) -> Decimal:
        return sum((line.credited for line in self.lines), ZERO)

    @property
    def earlier_balance(self) -> Decimal:
        """Still owed on `end` for periods before `start`."""
        return self.opening_balance - self.earlier_paid - self.earlier_credited

    @property
    def closing_balance(self) -> Decimal:
        """Owed on `end`: the opening balance, less what was paid and credited on earlier
        periods, plus every line's balance."""
        return self.earlier_balance + sum((line.balance for line in self.lines), ZERO)

    @property
    def net_due(self) -> Decimal:
        """The closing balance less the credit waiting to be used (never below zero)."""
        return max(self.closing_balance - self.credit, ZERO)

    @property
    def payments_total(self) -> Decimal:
        return sum(
            (
                p.payment.amount
                for p in self.payments
                if p.payment.status is not PaymentStatus.FAILED
            ),
            ZERO,
        )

    @property
    def aging_rows(self) -> list[tuple[str, Decimal]]:
        return [
            (label, amount)
            for (label, _, _), amount in zip(AGING_BUCKETS, self.aging.buckets, strict=True)
        ]

    def period_totals(self) -> list[PeriodTotal]:
        """One row per coverage period (products summed), with its invoices; the running
        balance is the one after its last product line."""
        lines: dict[tuple[date, date], list[StatementLine]] = defaultdict(list)
        for line in self.lines:
            lines[(line.period_start, line.period_end)].append(line)
        invoices: dict[tuple[date, date], list[StatementInvoice]] = defaultdict(list)
        for row in self.invoices:
            invoices[(row.invoice.period_start, row.invoice.period_end)].append(row)
        return [
            PeriodTotal(
                StatementLine(
                    start,
                    end,
                    "",
                    sum((x.billed for x in group), ZERO),
                    sum((x.adjusted for x in group), ZERO),
                    sum((x.paid for x in group), ZERO),
                    sum((x.credited for x in group), ZERO),
                    group[-1].running_balance,
                ),
                invoices[(start, end)],
            )
            for (start, end), group in lines.items()
        ]

    def product_totals(self) -> list[StatementLine]:
        """One row per product over the whole range (no running balance: zero)."""
        totals: dict[str, list[Decimal]] = {}
        for line in self.lines:
            cell = totals.setdefault(line.product, [ZERO, ZERO, ZERO, ZERO])
            cell[0] += line.billed
            cell[1] += line.adjusted
            cell[2] += line.paid
            cell[3] += line.credited
        return [
            StatementLine(self.start, self.end, name, *totals[name], ZERO)
            for name in sorted(totals, key=_product_order)
        ]


@dataclass(frozen=True)
class PeriodTotal:
    line: StatementLine
    invoices: list[StatementInvoice]

    @property
    def invoice_numbers(self) -> str:
        return ", ".join(i.invoice.invoice_number for i in self.invoices)

    @property
    def due_on(self) -> date | None:
        return min((i.invoice.due_on for i in self.invoices), default=None)

    @property
    def all_void(self) -> bool:
        return bool(self.invoices) and all(i.void_on_end for i in self.invoices)


def default_range(today: date, months: int = DEFAULT_MONTHS) -> tuple[date, date]:
    """The last `months` coverage months up to today's: (first day `months - 1` months before
    today's month, today)."""
    return add_months(month_start(today), -(months - 1)), today


def check_range(start: date, end: date) -> None:
    """Raise StatementRangeError unless `start`..`end` is a range a statement can cover."""
    if not (date_in_range(start) and date_in_range(end)):
        raise StatementRangeError(f"a statement covers dates {DATE_RANGE_WORDS}")
    if start > end:
        raise StatementRangeError("the statement must start on or before the day it ends")
    if add_months(month_start(start), MAX_MONTHS) <= month_start(end):
        raise StatementRangeError(f"a statement covers at most {MAX_MONTHS} months")


# The statement's values, given at execution to its kept statements (db.built_once); the
# group and a limited reader's locations and user come from `access.scope_values`.
GROUP_ID = bindparam("group_id")
START = bindparam("start", type_=Date)
END = bindparam("end", type_=Date)


def _account_activity(session: Session, group: EmployerGroup, start: date, end: date):
    """Per account (Chart.RECEIVABLE or Chart.UNAPPLIED_CASH of the group), invoice (with its
    due date, for the aging) and kind of posting: (debits - credits) before `start` and from
    `start` to `end`. Kinds: "charge" (the invoice), "paid" (allocations and their undoing),
    "other". The accounts are joined by their numbers: none is loaded (or made) first."""
    values = {
        "receivable": ledger.account_number(Chart.RECEIVABLE, group),
        "unapplied": ledger.account_number(Chart.UNAPPLIED_CASH, group),
        "start": start,
        "end": end,
    }
    for number, invoice_id, due_on, kind, is_before, debit, credit in session.execute(
        _account_activity_statement(), values
    ):
        chart = Chart.RECEIVABLE if number == values["receivable"] else Chart.UNAPPLIED_CASH
        yield chart, invoice_id, due_on, kind, bool(is_before), debit - credit


@built_once
def _account_activity_statement():
    kind = case(
        (JournalEntry.source_type == "invoice", "charge"),
        (JournalEntry.source_type.in_(PAID_SOURCES), "paid"),
        else_="other",
    )
    before = JournalEntry.entry_date < START
    return (
        select(
            LedgerAccount.number,
            Posting.invoice_id,
            Invoice.due_on,
            kind,
            before,
            ledger.money_sum(Posting.debit),
            ledger.money_sum(Posting.credit),
        )
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .outerjoin(Invoice, Invoice.id == Posting.invoice_id)
        .where(
            LedgerAccount.number.in_([bindparam("receivable"), bindparam("unapplied")]),
            JournalEntry.entry_date <= END,
        )
        .group_by(LedgerAccount.number, Posting.invoice_id, Invoice.due_on, kind, before)
    )


def _line_totals(session: Session, values: dict, limited: bool):
    """(invoice id, section, product name or None, amount) for the lines of the statement's
    invoices (`_statement_invoices` with the same `values`), from the totals written when each
    invoice was issued."""
    return session.execute(_line_totals_statement(limited), values).all()


@built_once
def _line_totals_statement(limited: bool):
    return (
        select(
            InvoicePlanTotal.invoice_id,
            InvoicePlanTotal.section,
            Product.name,
            ledger.money_sum(InvoicePlanTotal.amount),
        )
        .join(Invoice, Invoice.id == InvoicePlanTotal.invoice_id)
        .outerjoin(Plan, Plan.id == InvoicePlanTotal.plan_id)
        .outerjoin(Product, Product.id == Plan.product_id)
        .where(*_statement_invoices_where(limited))
        .group_by(InvoicePlanTotal.invoice_id, InvoicePlanTotal.section, Product.name)
    )


def _voided_by_end():
    """Whether an invoice was voided on or before END (a void's journal entry by then)."""
    return (
        select(JournalEntry.id)
        .where(
            JournalEntry.source_type == "void",
            JournalEntry.source_id == Invoice.id,
            JournalEntry.entry_date <= END,
        )
        .exists()
    )


def _statement_invoices_where(limited: bool) -> tuple:
    """The statement's invoices: the group's (those a reader limited to some locations sees)
    whose period starts from START, issued by END."""
    return (
        Invoice.group_id == GROUP_ID,
        *_in_range(),
        invoice_in_scope(SUBGROUP_IDS if limited else None),
    )


def _in_range() -> tuple:
    """The statement's invoices of the group: for a period from START on, issued by END."""
    return (Invoice.period_start >= START, Invoice.issued_on <= END)


@built_once
def _statement_invoices(limited: bool):
    return (
        select(Invoice, _voided_by_end().label("voided"))
        .where(*_statement_invoices_where(limited))
        .order_by(Invoice.period_start, Invoice.invoice_number)
    )


@built_once
def _invoices_seen():
    """The ids of the group's invoices a reader limited to some locations sees."""
    return select(Invoice.id).where(Invoice.group_id == GROUP_ID, invoice_in_scope(SUBGROUP_IDS))


def _share(amount: Decimal, charges: list[Decimal]) -> list[Decimal]:
    """`amount` split across products in proportion to their positive net charges."""
    if amount == 0:
        return [ZERO] * len(charges)
    weights = [c if c > 0 else Decimal(0) for c in charges]
    if sum(weights) == 0:
        return [amount] + [ZERO] * (len(charges) - 1)
    return ratio_split(amount, weights)


def _product_order(name: str) -> tuple[int, str]:
    return (1 if name == OTHER_PRODUCT else 0, name)


def paid_vs_billed(
    session: Session,
    group: EmployerGroup,
    start: date,
    end: date,
    today: date,
    *,
    with_bridge: bool = True,
    subgroup_ids: frozenset[int] | None = None,
    user_id: int | None = None,
) -> Statement:
    """The paid-vs-billed statement of `group` for coverage periods from `start`'s month,
    with every balance as of `end` (end of day). See the module docstring for what is counted
    where; amounts in dollars. `today` only labels payment statuses ("as of today").
    `with_bridge`: also total the latest invoice's bill bridge by step (for the PDF chart).
    `subgroup_ids` and `user_id`: the statement of a user limited to some locations."""
    check_range(start, end)
    start = month_start(start)
    limited = subgroup_ids is not None
    values = {**scope_values(group.id, subgroup_ids), "start": start, "end": end}
    found = session.execute(_statement_invoices(limited), values).all()
    invoices = [invoice for invoice, _ in found]
    voided = {invoice.id for invoice, was_voided in found if was_voided}
    in_range = {i.id for i in invoices}
    seen: set[int] | None = None
    if limited:
        seen = set(session.scalars(_invoices_seen(), scope_values(group.id, subgroup_ids)))
    seen_receivable = ZERO
    ledger_receivable = unapplied = ZERO

    charge: dict[int, Decimal] = defaultdict(lambda: ZERO)
    paid: dict[int, Decimal] = defaultdict(lambda: ZERO)
    credited: dict[int, Decimal] = defaultdict(lambda: ZERO)
    opening = earlier_paid = earlier_credited = ZERO
    # Each invoice's receivable balance on `end` (seen by the reader), with its due date: the
    # aging, as aging_by_group would sum the same postings.
    owed: dict[int, list] = {}
    activity = _account_activity(session, group, start, end)
    for chart, invoice_id, due_on, kind, before, amount in activity:
        if chart is Chart.UNAPPLIED_CASH:
            unapplied += amount
            continue
        ledger_receivable += amount
        if seen is not None and invoice_id not in seen:
            continue
        seen_receivable += amount
        if invoice_id is not None:
            owed.setdefault(invoice_id, [due_on, ZERO])[1] += amount
        if invoice_id in in_range:
            if kind == "charge":
                charge[invoice_id] += amount
            elif kind == "paid":
                paid[invoice_id] -= amount
            else:
                credited[invoice_id] -= amount
        elif before:
            opening += amount
        elif kind == "paid":
            earlier_paid -= amount
        else:
            # A charge dated in range on an earlier period cannot happen (invoices are dated
            # when issued, before their period); counted as a negative credit if it ever does.
            earlier_credited -= amount

    by_invoice: dict[int, dict[str, list[Decimal]]] = defaultdict(dict)
    for invoice_id, section, product, amount in _line_totals(session, values, limited):
        name = product or OTHER_PRODUCT
        cell = by_invoice[invoice_id].setdefault(name, [ZERO, ZERO])
        cell[0 if section is InvoiceSection.PREMIUM else 1] += amount

    # period -> product -> [billed, adjusted, paid, credited]
    cells: dict[tuple[date, date], dict[str, list[Decimal]]] = {}
    months: dict[date, list[Decimal]] = {}
    rows: list[StatementInvoice] = []
    products: set[str] = set()
    for invoice in invoices:
        per_product = by_invoice.get(invoice.id) or {OTHER_PRODUCT: [ZERO, ZERO]}
        names = sorted(per_product, key=_product_order)
        charges = [per_product[n][0] + per_product[n][1] for n in names]
        paid_split = _share(paid[invoice.id], charges)
        credit_split = _share(credited[invoice.id], charges)
        period = cells.setdefault((invoice.period_start, invoice.period_end), {})
        for name, paid_part, credit_part in zip(names, paid_split, credit_split, strict=True):
            cell = period.setdefault(name, [ZERO, ZERO, ZERO, ZERO])
            cell[0] += per_product[name][0]
            cell[1] += per_product[name][1]
            cell[2] += paid_part
            cell[3] += credit_part
            products.add(name)
        is_void = invoice.id in voided
        month = months.setdefault(month_start(invoice.period_start), [ZERO, ZERO])
        if not is_void:
            month[0] += sum(charges, ZERO)
        month[1] += paid[invoice.id]
        rows.append(
            StatementInvoice(
                invoice=invoice,
                charges=sum(charges, ZERO),
                paid=paid[invoice.id],
                credited=credited[invoice.id],
                void_on_end=is_void,
            )
        )

    running = opening - earlier_paid - earlier_credited
    lines: list[StatementLine] = []
    for (period_start, period_end), period in sorted(cells.items()):
        for name in sorted(period, key=_product_order):
            billed, adjusted, paid_part, credit_part = period[name]
            running += billed + adjusted - paid_part - credit_part
            lines.append(
                StatementLine(
                    period_start,
                    period_end,
                    name,
                    billed,
                    adjusted,
                    paid_part,
                    credit_part,
                    running,
                )
            )

    aging = aging_of(owed.values(), end)
    # The receivable's and the unapplied cash's balances on `end`: every posting to them by
    # then, summed above. A limited reader's are their bills', without the group's credit.
    if seen is None:
        credit = -unapplied
    else:
        ledger_receivable, credit = seen_receivable, ZERO
    latest = next(
        (r.invoice for r in reversed(rows) if r.invoice.status is not InvoiceStatus.VOID), None
    )
    return Statement(
        group=group,
        start=start,
        end=end,
        today=today,
        opening_balance=opening,
        earlier_paid=earlier_paid,
        earlier_credited=earlier_credited,
        lines=lines,
        invoices=rows,
        months=[MonthTotal(m, b, p) for m, (b, p) in sorted(months.items())],
        aging=aging,
        payments=statement_payments(
            session, group, start, end, subgroup_ids=subgroup_ids, user_id=user_id
        ),
        credit=credit,
        ledger_receivable=ledger_receivable,
        latest_invoice=latest,
        bridge=kept_bridge(session, latest) if with_bridge and latest is not None else None,
        products=sorted(products, key=_product_order),
        limited=subgroup_ids is not None,
    )


def month_totals(
    session: Session,
    group: EmployerGroup,
    start: date,
    end: date,
    *,
    subgroup_ids: frozenset[int] | None = None,
) -> list[MonthTotal]:
    """The statement's `months` alone (billed vs paid per coverage month, dollars, balances as
    of `end`), as `paid_vs_billed(...).months` counts them, in one small kept read instead
    of the whole statement: the employer's dashboard shows only these. Billed = the new
    charges of the invoices not void on `end`; paid = receivable postings of allocations (and
    their undoing) dated on or before `end`, summed beside each invoice."""
    values = month_values(group, start, end, subgroup_ids)
    return months_of(session.execute(_month_invoices(subgroup_ids is not None), values))


def month_values(
    group: EmployerGroup, start: date, end: date, subgroup_ids: frozenset[int] | None
) -> dict:
    """`month_totals`' bindparams' values (the range's first month, its end, the group's
    receivable by its number, the scope's)."""
    check_range(start, end)
    return {
        **scope_values(group.id, subgroup_ids),
        "start": month_start(start),
        "end": end,
        # The group's receivable by its number, joined: no read of the account first.
        "receivable": ledger.account_number(Chart.RECEIVABLE, group),
    }


def months_of(rows: Iterable) -> list[MonthTotal]:
    """MonthTotals from `month_columns()` rows (the invoices of `month_in_range()`, any
    order): billed = the new charges of those not void by END, paid = what was paid on them
    by END, per coverage month."""
    months: dict[date, list[Decimal]] = {}
    for period_start, premium, retro, fees, voided, paid in rows:
        month = months.setdefault(month_start(period_start), [ZERO, ZERO])
        if not voided:
            month[0] += premium + retro + fees
        month[1] += paid
    return [MonthTotal(m, b, p) for m, (b, p) in sorted(months.items())]


def month_columns() -> list:
    """An invoice's new charges (premium + retro + fees) are the sum of its plan totals, which
    the statement reads (ledger_differences checks the two agree): read from the invoice, with
    whether it was voided by END and what was paid on it by END (`_paid_by_end`), as
    `months_of` takes them."""
    return [
        Invoice.period_start,
        Invoice.current_premium,
        Invoice.retro_total,
        Invoice.fees_total,
        _voided_by_end(),
        _paid_by_end(),
    ]


def month_in_range():
    """Whether an invoice of the group (and scope: the caller's) is one `month_totals` counts:
    for a period from START on, issued by END (`month_values`)."""
    return and_(*_in_range())


@built_once
def _month_invoices(limited: bool):
    """`month_totals`' statement (db.built_once)."""
    return (
        select(*month_columns())
        .where(*_statement_invoices_where(limited))
        .order_by(Invoice.period_start, Invoice.invoice_number)
    )


def _paid_by_end():
    """Allocations (and their undoing) posted to the receivable (the bindparam `receivable`,
    its number) by END on the invoice of the enclosing row: credits - debits (dollars, 0.00
    when none), as a correlated scalar subquery."""
    return (
        select(ledger.money_sum(Posting.credit - Posting.debit))
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(
            LedgerAccount.number == bindparam("receivable"),
            Posting.invoice_id == Invoice.id,
            JournalEntry.source_type.in_(PAID_SOURCES),
            JournalEntry.entry_date <= END,
        )
        .scalar_subquery()
    )


def payment_rows(
    session: Session,
    group: EmployerGroup,
    *,
    subgroup_ids: frozenset[int] | None = None,
    user_id: int | None = None,
) -> list[StatementPayment]:
    """Every payment of the group, newest first, as the statement lists them (what each paid
    by invoice, its credit left, what was refunded): the employer's payment history, in three
    reads whatever the number of payments (`ledger.receivables.payment_history` asks two
    more per payment). `subgroup_ids`, `user_id`: as `statement_payments`."""
    return statement_payments(
        session, group, None, None, subgroup_ids=subgroup_ids, user_id=user_id, newest_first=True
    )


def statement_payments(
    session: Session,
    group: EmployerGroup,
    start: date | None,
    end: date | None,
    *,
    subgroup_ids: frozenset[int] | None = None,
    user_id: int | None = None,
    newest_first: bool = False,
) -> list[StatementPayment]:
    """The group's payments received from `start` to `end` (None: no bound), oldest first
    (`newest_first`: the other way), with what each paid by invoice, what is left of it as
    credit and what was refunded (as they stand today: a returned payment pays nothing), and
    whether it reached the group through suspense. One kept statement whatever the number
    of payments (a row per allocation). `subgroup_ids`, `user_id`: the payments a user limited to some locations sees
    (access.payment_in_scope)."""
    values = scope_values(group.id, subgroup_ids, user_id)
    with_user = subgroup_ids is not None and user_id is not None
    if start is not None:
        values["start"] = start
    if end is not None:
        values["end"] = end
    shape = (subgroup_ids is not None, with_user, start is not None, end is not None)
    # payment -> (its row's figures, what it paid by invoice number, in the order allocated)
    found: dict[Payment, tuple] = {}
    for payment, taken, refunded, from_suspense, recovered, number, amount in session.execute(
        _payments(*shape, newest_first), values
    ):
        figures = found.get(payment)
        if figures is None:
            figures = found[payment] = (taken, refunded, from_suspense, recovered, {})
        if number is not None:
            by_invoice = figures[4]
            by_invoice[number] = by_invoice.get(number, ZERO) + amount
    rows = []
    for payment, (taken, refunded, from_suspense, recovered, by_invoice) in found.items():
        allocated = sum(by_invoice.values(), ZERO)
        received = payment.status is PaymentStatus.SUCCEEDED and not recovered
        rows.append(
            StatementPayment(
                payment=payment,
                method_label=METHOD_LABELS.get(payment.method.value, payment.method.value),
                status_label=PAYMENT_STATUS_LABELS[payment.status],
                applied=tuple((n, a) for n, a in by_invoice.items() if a != 0),
                # as allocation.unallocated_amount: only a received payment holds credit, and
                # not one a recovery after a charge-off took
                unallocated=payment.amount - allocated - taken if received else ZERO,
                refunded=refunded,
                from_suspense=bool(from_suspense),
            )
        )
    return rows


def _payments_where(limited: bool, with_user: bool, from_start: bool, to_end: bool) -> list:
    """`statement_payments`' payments: those a reader limited to some locations sees (and
    their own checkouts' `with_user`), received from START and to END when bounded."""
    where = [
        Payment.group_id == GROUP_ID,
        payment_in_scope(SUBGROUP_IDS if limited else None, USER_ID if with_user else None),
    ]
    if from_start:
        where.append(Payment.received_on >= START)
    if to_end:
        where.append(Payment.received_on <= END)
    return where


@built_once
def _payments(limited: bool, with_user: bool, from_start: bool, to_end: bool, newest_first: bool):
    """The payments (`_payments_where`), each with what refunds took of it (approved or
    paid), what was refunded (paid), whether it came through suspense and whether a recovery
    after a charge-off took it (allocation.recovered_after_charge_off's condition), one row
    per allocation (its invoice's number and amount, in the order allocated; NULLs for a
    payment that paid no invoice)."""
    taken = (
        select(ledger.money_sum(Refund.amount))
        .where(Refund.payment_id == Payment.id, Refund.status.in_(REFUND_TAKEN))
        .scalar_subquery()
    )
    refunded = (
        select(ledger.money_sum(Refund.amount))
        .where(Refund.payment_id == Payment.id, Refund.status == RefundStatus.PAID)
        .scalar_subquery()
    )
    from_suspense = exists().where(
        SuspenseItem.payment_id == Payment.id, SuspenseItem.status == SuspenseStatus.APPLIED
    )
    order = (
        (Payment.received_on.desc(), Payment.id.desc())
        if newest_first
        else (Payment.received_on, Payment.id)
    )
    recovered = exists().where(
        CollectionRecovery.payment_id == Payment.id, CollectionRecovery.after_charge_off
    )
    # Aliased: a limited reader's access.payment_in_scope reads allocations and invoices in
    # subqueries of its own, which must not correlate to these.
    allocation, paid = aliased(PaymentAllocation), aliased(Invoice)
    return (
        select(
            Payment,
            taken.label("taken"),
            refunded.label("refunded"),
            from_suspense.label("from_suspense"),
            recovered.label("recovered"),
            paid.invoice_number,
            allocation.amount,
        )
        .outerjoin(allocation, allocation.payment_id == Payment.id)
        .outerjoin(paid, paid.id == allocation.invoice_id)
        .where(*_payments_where(limited, with_user, from_start, to_end))
        .order_by(*order, allocation.id)
    )


def ledger_differences(session: Session, statement: Statement) -> list[str]:
    """Every way the statement fails to tie to the ledger (empty: it ties). Checked both ways:
    the statement's closing balance against the receivable account's balance on `end`, its
    aging total and last running balance; each invoice's charges against its posted charge and
    the lines of its products; its paid column against the allocations recorded by `end`; the
    opening balance against the earlier invoices' open items on the day before `start`."""
    problems: list[str] = []
    s = statement
    closing = s.closing_balance
    if closing != s.ledger_receivable:
        problems.append(f"closing {closing} != receivable on {s.end}: {s.ledger_receivable}")
    if s.aging.total != closing:
        problems.append(f"aging total {s.aging.total} != closing {closing}")
    if s.lines and s.lines[-1].running_balance != closing:
        problems.append(f"last running balance {s.lines[-1].running_balance} != {closing}")
    if not s.lines and s.earlier_balance != closing:
        problems.append(f"earlier balance {s.earlier_balance} != {closing}")
    for name, by_lines, by_invoices in (
        ("charges", s.billed + s.adjusted, sum((i.charges for i in s.invoices), ZERO)),
        ("paid", s.paid, sum((i.paid for i in s.invoices), ZERO)),
        ("credited", s.credited, sum((i.credited for i in s.invoices), ZERO)),
    ):
        if by_lines != by_invoices:
            problems.append(f"{name}: lines {by_lines} != invoices {by_invoices}")
    ids = [i.invoice.id for i in s.invoices]
    if ids:
        posted = dict(
            session.execute(
                select(JournalEntry.source_id, ledger.money_sum(Posting.debit))
                .join(Posting, Posting.entry_id == JournalEntry.id)
                .where(
                    JournalEntry.source_type == "invoice",
                    JournalEntry.source_id.in_(ids),
                    Posting.invoice_id == JournalEntry.source_id,
                )
                .group_by(JournalEntry.source_id)
            ).all()
        )
        allocated = dict(
            session.execute(
                select(PaymentAllocation.invoice_id, ledger.money_sum(PaymentAllocation.amount))
                .join(JournalEntry, JournalEntry.id == PaymentAllocation.journal_entry_id)
                .where(PaymentAllocation.invoice_id.in_(ids), JournalEntry.entry_date <= s.end)
                .group_by(PaymentAllocation.invoice_id)
            ).all()
        )
        for row in s.invoices:
            number = row.invoice.invoice_number
            expected = (
                row.invoice.current_premium + row.invoice.retro_total + row.invoice.fees_total
            )
            if row.charges != expected:
                problems.append(f"{number}: lines {row.charges} != invoice totals {expected}")
            if expected > 0 and posted.get(row.invoice.id, ZERO) != expected:
                problems.append(f"{number}: posted {posted.get(row.invoice.id)} != {expected}")
            if row.paid != allocated.get(row.invoice.id, ZERO):
                problems.append(
                    f"{number}: paid {row.paid} != allocated {allocated.get(row.invoice.id)}"
                )
    earlier = session.execute(
        select(ledger.money_sum(Posting.debit), ledger.money_sum(Posting.credit))
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .join(Invoice, Invoice.id == Posting.invoice_id)
        .where(
            Posting.account_id == ledger.account(session, Chart.RECEIVABLE, s.group).id,
            JournalEntry.entry_date < s.start,
            Invoice.period_start < s.start,
        )
    ).one()
    if earlier[0] - earlier[1] != s.opening_balance:
        problems.append(
            f"opening {s.opening_balance} != earlier open items {earlier[0] - earlier[1]}"
        )
    return problems
