"""Reading issued invoices for people: the list with paid / balance / status, one invoice's
sections and product totals, and its member lines (searchable). Queries only; the billing run
that writes invoices is in `invoicing`.

Status words (what an HR administrator sees): void; paid (nothing open); partially paid (some
paid, some open); past due (open after the due date); open; no payment due (a credit invoice).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from billing_core.errors import NotFound
from billing_core.models import (
    BillingSubgroup,
    CreditMemo,
    EmployerGroup,
    Invoice,
    InvoiceLine,
    InvoicePlanTotal,
    Member,
    Plan,
    Product,
    User,
)
from billing_core.models.enums import BillingMethod, InvoiceSection, InvoiceStatus
from billing_core.models.ledger import KeptOpenItem
from billing_core.money import ZERO
from billing_core.paging import Page, clamp_page, page_of

STATUS_LABELS = {
    "void": "Void",
    "paid": "Paid",
    "partially_paid": "Partially paid",
    "past_due": "Past due",
    "open": "Open",
    "no_payment_due": "No payment due",
}


def period_label(start: date, end: date) -> str:
    """`Feb 2027`, `Jan–Mar 2027`, `Nov 2026–Jan 2027`: a billing period in words."""
    if (start.year, start.month) == (end.year, end.month):
        return f"{start:%b %Y}"
    if start.year == end.year:
        return f"{start:%b}–{end:%b %Y}"
    return f"{start:%b %Y}–{end:%b %Y}"


def invoice_charges(invoice: Invoice) -> Decimal:
    """The invoice's own new charges (premium + retro + fees): what it added to the receivable."""
    return invoice.current_premium + invoice.retro_total + invoice.fees_total


def invoice_status(invoice: Invoice, open_balance: Decimal, today: date) -> str:
    if invoice.status is InvoiceStatus.VOID:
        return "void"
    charges = invoice_charges(invoice)
    if charges <= 0:
        return "no_payment_due"
    if open_balance <= 0:
        return "paid"
    if today > invoice.due_on:
        return "past_due"
    if open_balance < charges:
        return "partially_paid"
    return "open"


@dataclass(frozen=True)
class InvoiceRow:
    """One invoice as a list shows it. `amount` is the invoice's new charges, `paid` what has been
    applied to them, `balance` what is still open; `total_due` is the bill's bottom line."""

    invoice: Invoice
    amount: Decimal
    paid: Decimal
    balance: Decimal
    status: str

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


def invoice_rows(
    session: Session,
    group: EmployerGroup,
    invoices: Iterable[Invoice],
    today: date,
    balances: dict[int, Decimal] | None = None,
) -> list[InvoiceRow]:
    """Each invoice as a list shows it on `today`; open balances from the kept open items
    (`KeptOpenItem`, kept with every posting: no row means nothing open), one small read, or
    `balances` when the caller read them with the invoices."""
    invoices = list(invoices)
    if balances is None:
        balances = _kept_balances(session, invoices, KeptOpenItem.group_id == group.id)
    return _rows(invoices, balances, today)


def _kept_balances(session: Session, invoices: list[Invoice], *where) -> dict[int, Decimal]:
    """Each invoice's open receivable from the kept open items (0.00 where none is kept)."""
    balances = dict.fromkeys((i.id for i in invoices), ZERO)
    if invoices:
        balances.update(
            session.execute(
                select(KeptOpenItem.invoice_id, KeptOpenItem.open_amount).where(
                    *where, KeptOpenItem.invoice_id.in_(list(balances))
                )
            ).all()
        )
    return balances


def _rows(invoices: list[Invoice], balances: dict[int, Decimal], today: date) -> list[InvoiceRow]:
    rows = []
    for invoice in invoices:
        charges = invoice_charges(invoice)
        if invoice.status is InvoiceStatus.VOID:
            paid, balance = ZERO, ZERO
        else:
            balance = balances[invoice.id]
            paid = charges - balance
        rows.append(
            InvoiceRow(invoice, charges, paid, balance, invoice_status(invoice, balance, today))
        )
    return rows


def invoice_book_query(search: str = "", period: date | None = None) -> Select:
    """Every invoice in the book (staff), newest period first; `search` matches the invoice
    number or the group's number or name, `period` is the first day of a billing period."""
    query = select(Invoice).join(EmployerGroup, EmployerGroup.id == Invoice.group_id)
    if search:
        like = f"%{search}%"
        query = query.where(
            Invoice.invoice_number.ilike(like)
            | EmployerGroup.name.ilike(like)
            | EmployerGroup.group_number.ilike(like)
        )
    if period:
        query = query.where(Invoice.period_start == period)
    return query.order_by(Invoice.period_start.desc(), Invoice.invoice_number)


def invoice_book_rows(
    session: Session, invoices: Sequence[Invoice], today: date
) -> tuple[list[InvoiceRow], dict[int, EmployerGroup]]:
    """A page of the invoice book as rows (in the page's order) and the groups they belong
    to: one read of the groups and one of the kept open items for the whole page (a page of
    the newest bills spans as many groups as it has rows)."""
    invoices = list(invoices)
    groups = {
        g.id: g
        for g in session.scalars(
            select(EmployerGroup).where(EmployerGroup.id.in_({i.group_id for i in invoices}))
        )
    }
    return _rows(invoices, _kept_balances(session, invoices), today), groups


def invoice_list_query(
    group_id: int, subgroup_ids: frozenset[int] | None = None, search: str = ""
) -> Select:
    """A group's invoices, newest period first. A user limited to some subgroups sees the
    invoices of those subgroups and the group's consolidated invoice (whose member lines are
    then filtered to their members by `invoice_lines_query`)."""
    query = select(Invoice).where(Invoice.group_id == group_id)
    if subgroup_ids is not None:
        query = query.where(
            or_(Invoice.subgroup_id.is_(None), Invoice.subgroup_id.in_(subgroup_ids))
        )
    if search:
        query = query.where(Invoice.invoice_number.ilike(f"%{search}%"))
    return query.order_by(Invoice.period_start.desc(), Invoice.invoice_number)


def find_invoice(
    session: Session, group_id: int, invoice_id: int, subgroup_ids: frozenset[int] | None = None
) -> Invoice | None:
    """The invoice if it belongs to the group (and the user's subgroups); None otherwise."""
    return session.scalar(
        invoice_list_query(group_id, subgroup_ids).where(Invoice.id == invoice_id)
    )


def invoice_numbered(session: Session, number: str) -> Invoice:
    """The invoice printed with `number` (the CLI's way in); NotFound when there is none."""
    invoice = session.scalar(select(Invoice).where(Invoice.invoice_number == number))
    if invoice is None:
        raise NotFound(f"no invoice numbered {number}")
    return invoice


@dataclass(frozen=True)
class ProductTotal:
    product: str
    plan: str
    lives: int
    amount: Decimal


@dataclass
class InvoiceView:
    """Everything an invoice page, PDF or CLI shows above the member lines."""

    invoice: Invoice
    group: EmployerGroup
    subgroup: BillingSubgroup | None
    row: InvoiceRow
    products: list[ProductTotal]
    retro_lines: list[InvoiceLine]
    fee_lines: list[InvoiceLine]
    line_count: int
    credit_memo: CreditMemo | None
    voided_by: User | None
    # (code, name) of the products billed in any section, by name: as `invoice_products`.
    product_choices: list[tuple[str, str]] = field(default_factory=list)

    @property
    def is_self_bill(self) -> bool:
        return self.invoice.billing_method is BillingMethod.SELF_BILL

    @property
    def premium_heading(self) -> str:
        return "Expected premium (self-administered)" if self.is_self_bill else "Current premium"


def invoice_view(session: Session, invoice: Invoice, today: date) -> InvoiceView:
    group = session.get(EmployerGroup, invoice.group_id)
    # Every plan total of the bill in one read: the premium's product table and line count,
    # and the products billed in any section (the member lines' product filter).
    totals = session.execute(
        select(
            InvoicePlanTotal.section,
            Product.code,
            Product.name,
            Plan.name,
            InvoicePlanTotal.member_count,
            InvoicePlanTotal.amount,
            InvoicePlanTotal.line_count,
        )
        .join(Plan, Plan.id == InvoicePlanTotal.plan_id)
        .join(Product, Product.id == Plan.product_id)
        .where(InvoicePlanTotal.invoice_id == invoice.id)
        .order_by(Product.name, Plan.name)
    ).all()
    premium = [row for row in totals if row[0] is InvoiceSection.PREMIUM]
    products = [
        ProductTotal(product, plan, lives, amount)
        for _, _, product, plan, lives, amount, _ in premium
    ]
    adjustment_lines = session.scalars(
        select(InvoiceLine)
        .where(
            InvoiceLine.invoice_id == invoice.id,
            InvoiceLine.section.in_([InvoiceSection.RETRO, InvoiceSection.FEE]),
        )
        .order_by(InvoiceLine.line_number)
    ).all()
    return InvoiceView(
        invoice=invoice,
        group=group,
        subgroup=session.get(BillingSubgroup, invoice.subgroup_id) if invoice.subgroup_id else None,
        row=invoice_rows(session, group, [invoice], today)[0],
        products=products,
        retro_lines=[ln for ln in adjustment_lines if ln.section is InvoiceSection.RETRO],
        fee_lines=[ln for ln in adjustment_lines if ln.section is InvoiceSection.FEE],
        line_count=sum(row[6] for row in premium),
        product_choices=sorted({(code, name) for _, code, name, *_ in totals}, key=_by_name),
        # Only a void leaves a credit memo behind.
        credit_memo=session.scalar(select(CreditMemo).where(CreditMemo.invoice_id == invoice.id))
        if invoice.status is InvoiceStatus.VOID
        else None,
        voided_by=session.get(User, invoice.voided_by_id) if invoice.voided_by_id else None,
    )


def invoice_lines_query(
    invoice: Invoice,
    *,
    search: str = "",
    product: str = "",
    subgroup_ids: frozenset[int] | None = None,
) -> Select:
    """Member premium lines of an invoice with the member and plan, ordered as billed. `search`
    matches last or first name, member id or employee id; `product` is a product code."""
    query = (
        select(InvoiceLine, Member, Plan, Product)
        .join(Member, Member.id == InvoiceLine.member_id)
        .join(Plan, Plan.id == InvoiceLine.plan_id)
        .join(Product, Product.id == Plan.product_id)
        .where(
            InvoiceLine.invoice_id == invoice.id,
            InvoiceLine.section == InvoiceSection.PREMIUM,
        )
    )
    if subgroup_ids is not None:
        query = query.where(Member.subgroup_id.in_(subgroup_ids))
    if search:
        like = f"%{search}%"
        query = query.where(
            or_(
                Member.last_name.ilike(like),
                Member.first_name.ilike(like),
                Member.member_key.ilike(like),
                Member.employee_id.ilike(like),
            )
        )
    if product:
        query = query.where(Product.code == product)
    return query.order_by(InvoiceLine.line_number)


def invoice_lines_page(
    session: Session,
    invoice: Invoice,
    asked_page: int | None,
    per_page: int,
    *,
    search: str = "",
    product: str = "",
    subgroup_ids: frozenset[int] | None = None,
    line_count: int | None = None,
) -> Page:
    """A page of `invoice_lines_query`'s rows (line, member, plan, product). Unfiltered and for
    the whole group, the count is the premium line count kept at issue (`InvoicePlanTotal`,
    or `line_count` when the caller has it: `InvoiceView.line_count`), not a count of every
    line: on a 10,000-line bill that count was most of the invoice page's time."""
    query = invoice_lines_query(invoice, search=search, product=product, subgroup_ids=subgroup_ids)
    if search or product or subgroup_ids is not None:
        return page_of(session, query, asked_page, per_page, rows=True)
    total = line_count if line_count is not None else premium_line_count(session, invoice)
    page = clamp_page(asked_page, total, per_page)
    items = list(session.execute(query.limit(per_page).offset((page - 1) * per_page)).all())
    return Page(items=items, page=page, per_page=per_page, total=total)


def premium_line_count(session: Session, invoice: Invoice) -> int:
    """The invoice's premium (member) lines, as kept at issue in its plan totals."""
    return session.scalar(
        select(func.coalesce(func.sum(InvoicePlanTotal.line_count), 0)).where(
            InvoicePlanTotal.invoice_id == invoice.id,
            InvoicePlanTotal.section == InvoiceSection.PREMIUM,
        )
    )


def _by_name(choice: tuple[str, str]) -> tuple[str, str]:
    return choice[1], choice[0]


def invoice_products(session: Session, invoice: Invoice) -> list[tuple[str, str]]:
    """(code, name) of the products billed on the invoice, for a filter (from the invoice's
    plan totals, kept at issue, rather than every line)."""
    return list(
        session.execute(
            select(Product.code, Product.name)
            .join(Plan, Plan.product_id == Product.id)
            .join(InvoicePlanTotal, InvoicePlanTotal.plan_id == Plan.id)
            .where(InvoicePlanTotal.invoice_id == invoice.id)
            .distinct()
            .order_by(Product.name)
        ).all()
    )
