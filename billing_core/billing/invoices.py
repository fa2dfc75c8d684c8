"""Reading issued invoices for people: the list with paid / balance / status, one invoice's
sections and product totals, and its member lines (searchable). Queries only; the billing run
that writes invoices is in `invoicing`.

Status words (what an HR administrator sees): void; paid (nothing open); partially paid (some
paid, some open); past due (open after the due date); open; no payment due (a credit invoice).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import Select, bindparam, func, or_, select
from sqlalchemy.orm import Session

from billing_core.access import SUBGROUP_IDS, invoice_in_scope, scope_values
from billing_core.billing.bill_bridge import with_prior_and_kept_steps
from billing_core.db import built_once
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
from billing_core.models.invoice_templates import InvoicePrint
from billing_core.models.ledger import KeptOpenItem
from billing_core.money import ZERO
from billing_core.paging import Page, clamp_page

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

    invoice: Invoice  # or a row of its columns by the same names (`group_invoice_page`)
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


@dataclass(frozen=True)
class BookGroup:
    """What the book shows of an invoice's group."""

    id: int
    name: str
    group_number: str


def invoice_book_page(
    session: Session,
    search: str,
    period: date | None,
    asked: int | None,
    per_page: int,
    today: date,
) -> tuple[Page, dict[int, BookGroup]]:
    """Page `asked` (1-based, clamped to the pages there are) of the invoice book matching
    `search` and `period` (`invoice_book_query`): its items InvoiceRows as of `today` (the
    open receivable from the kept open items, 0.00 where none is kept; a void bill owes
    nothing), and the groups they belong to by id. The page's invoices are chosen and ordered
    by the book's query alone (a subquery limited to the page), then joined to their groups
    and kept items: joining every invoice of the book before the sort costs more."""
    query = invoice_book_query(search, period)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    number = clamp_page(asked, total, per_page)
    listed = (
        query.with_only_columns(*_LISTED_COLUMNS)
        .limit(per_page)
        .offset((number - 1) * per_page)
        .subquery("listed")
    )
    found = session.execute(
        select(
            listed,
            EmployerGroup.name.label("group_name"),
            EmployerGroup.group_number.label("group_number"),
            KeptOpenItem.open_amount.label("kept_open_amount"),
        )
        .join(EmployerGroup, EmployerGroup.id == listed.c.group_id)
        .outerjoin(KeptOpenItem, KeptOpenItem.invoice_id == listed.c.id)
        .order_by(listed.c.period_start.desc(), listed.c.invoice_number)
    ).all()
    groups = {
        row.group_id: BookGroup(row.group_id, row.group_name, row.group_number) for row in found
    }
    balances = {
        row.id: ZERO if row.kept_open_amount is None else row.kept_open_amount for row in found
    }
    rows = _rows(found, balances, today)
    return Page(items=rows, page=number, per_page=per_page, total=total), groups


def invoice_list_query(
    group_id: int, subgroup_ids: frozenset[int] | None = None, search: str = ""
) -> Select:
    """A group's invoices, newest period first. A user limited to some subgroups sees the
    invoices of those subgroups and the group's consolidated invoice (whose member lines are
    then filtered to their members by `invoice_lines_query`)."""
    query = select(Invoice).where(Invoice.group_id == group_id, invoice_in_scope(subgroup_ids))
    if search:
        query = query.where(Invoice.invoice_number.ilike(f"%{search}%"))
    return query.order_by(Invoice.period_start.desc(), Invoice.invoice_number)


def find_invoice(
    session: Session, group_id: int, invoice_id: int, subgroup_ids: frozenset[int] | None = None
) -> Invoice | None:
    """The invoice if it belongs to the group (and the user's subgroups); None otherwise."""
    found = find_invoice_row(session, group_id, invoice_id, subgroup_ids)
    return None if found is None else found.invoice


@dataclass(frozen=True)
class FoundInvoice:
    """An invoice as `find_invoice_row` reads it: its kept open receivable (0.00 when nothing
    is open), what it printed under its group's invoice template (None: issued without
    one), for `invoice_templates.printed`; when asked `with_bridge` its prior bill and kept
    bridge steps as `bill_bridge.kept_bridge` takes them (`read_with_bill`), and
    `with_plan_totals` its plan totals as `invoice_view` takes them (`plan_totals`)."""

    invoice: Invoice
    open_balance: Decimal
    kept_print: InvoicePrint | None
    bridge_read: tuple | None = None
    plan_totals: list[PlanTotal] | None = None


class PlanTotal(NamedTuple):
    """One of an invoice's plan totals as `invoice_view` reads it (`_PLAN_TOTAL`): a fee's has
    no plan or product."""

    section: InvoiceSection
    product_code: str | None
    product_name: str | None
    plan_name: str | None
    member_count: int
    amount: Decimal
    line_count: int


def find_invoice_row(
    session: Session,
    group_id: int,
    invoice_id: int,
    subgroup_ids: frozenset[int] | None = None,
    *,
    with_bridge: bool = False,
    with_plan_totals: bool = False,
) -> FoundInvoice | None:
    """`find_invoice` with what the invoice page reads with it in the same statement (a kept
    statement, `db.built_once`): the bill's open receivable as kept, what `invoice_view` takes
    as `open_balance`, and its kept print; `with_bridge`, also its prior bill and the step
    totals of the bridge kept from it (`bill_bridge.with_prior_and_kept_steps`);
    `with_plan_totals`, also its plan totals (a row each, the bill's columns repeated)."""
    found = session.execute(
        _invoice_with_balance(subgroup_ids is not None, with_bridge, with_plan_totals),
        {**scope_values(group_id, subgroup_ids), "invoice_id": invoice_id},
    )
    rows = found.all() if with_plan_totals else [found.first()]
    first = rows[0] if rows else None
    if first is None:
        return None
    invoice, open_amount, kept_print = first[:3]
    return FoundInvoice(
        invoice,
        open_amount if open_amount is not None else ZERO,
        kept_print,
        tuple(first[3 : -len(_PLAN_TOTAL) if with_plan_totals else None]) if with_bridge else None,
        [
            PlanTotal._make(row[-len(_PLAN_TOTAL) :])
            for row in rows
            if row[-len(_PLAN_TOTAL)] is not None
        ]
        if with_plan_totals
        else None,
    )


@built_once
def _invoice_with_balance(limited: bool, with_bridge: bool = False, with_plan_totals: bool = False):
    """One invoice of a group (of the reader's locations when `limited`), with its kept open
    receivable (none: nothing open) and its kept print (none: issued without a template);
    `with_bridge`, then its prior bill and kept bridge steps; `with_plan_totals`, then a row
    per plan total (`_PLAN_TOTAL`, by product and plan name; one row of nulls: none)."""
    query = (
        select(Invoice, KeptOpenItem.open_amount, InvoicePrint)
        .outerjoin(
            KeptOpenItem,
            (KeptOpenItem.invoice_id == Invoice.id) & (KeptOpenItem.group_id == Invoice.group_id),
        )
        .outerjoin(InvoicePrint, InvoicePrint.invoice_id == Invoice.id)
        .where(
            Invoice.group_id == bindparam("group_id"),
            Invoice.id == bindparam("invoice_id"),
            invoice_in_scope(SUBGROUP_IDS if limited else None),
        )
    )
    if with_bridge:
        query = with_prior_and_kept_steps(query, Invoice)
    if with_plan_totals:
        query = (
            query.add_columns(*_PLAN_TOTAL)
            .outerjoin(InvoicePlanTotal, InvoicePlanTotal.invoice_id == Invoice.id)
            .outerjoin(Plan, Plan.id == InvoicePlanTotal.plan_id)
            .outerjoin(Product, Product.id == Plan.product_id)
            .order_by(Product.name, Plan.name)
        )
    return query


def group_invoice_page(
    session: Session,
    group: EmployerGroup,
    subgroup_ids: frozenset[int] | None,
    on: date,
    *,
    search: str = "",
    status: str = "",
    asked_page: int | None = 1,
    per_page: int = 24,
) -> Page:
    """A page of the group's invoices the reader sees (`subgroup_ids`: a reader limited to
    some locations), newest first, as rows (number, period, status, balance as of `on`),
    matching `search` in the number. With a `status` (one of STATUS_LABELS), every invoice in
    it on one page: status is derived from the balance, so the (short) list is filtered in
    Python. One kept statement: the page's invoices with how many there are in all and their
    kept open balances (only the columns a list shows, no Invoice loaded); a page past the
    last is counted first and the last page read instead."""
    limited, searching = subgroup_ids is not None, bool(search)
    values = scope_values(group.id, subgroup_ids)
    if searching:
        values["number_like"] = f"%{search}%"
    if status in STATUS_LABELS:
        listed = session.execute(_invoice_list_rows(limited, searching, paged=False), values)
        rows = [row for row in _listed_rows(listed, on) if row.status == status]
        return Page(items=rows, page=1, per_page=max(len(rows), 1), total=len(rows))
    paged = _invoice_list_rows(limited, searching, paged=True)
    page = max(asked_page or 1, 1)
    found = session.execute(paged, {**values, "limit": per_page, "offset": (page - 1) * per_page})
    found = found.all()
    if found:
        total = found[0].listed
    else:
        total = session.scalar(_invoice_list_count(limited, searching), values)
        if total and page > 1:
            page = clamp_page(page, total, per_page)
            values.update(limit=per_page, offset=(page - 1) * per_page)
            found = session.execute(paged, values).all()
        else:
            page = 1
    return Page(items=_listed_rows(found, on), page=page, per_page=per_page, total=total)


# What an invoice list row shows of a bill (and `invoice_status` reads): Core columns, read
# by name as the Invoice's attributes would be.
_LISTED_COLUMNS = (
    Invoice.id,
    Invoice.group_id,
    Invoice.invoice_number,
    Invoice.period_start,
    Invoice.period_end,
    Invoice.due_on,
    Invoice.status,
    Invoice.current_premium,
    Invoice.retro_total,
    Invoice.fees_total,
    Invoice.total_due,
)


def _invoice_list_where(limited: bool, searching: bool) -> list:
    where = [Invoice.group_id == bindparam("group_id")]
    if limited:
        where.append(invoice_in_scope(SUBGROUP_IDS))
    if searching:
        where.append(Invoice.invoice_number.ilike(bindparam("number_like")))
    return where


@built_once
def _invoice_list_count(limited: bool, searching: bool):
    return select(func.count(Invoice.id)).where(*_invoice_list_where(limited, searching))


@built_once
def _invoice_list_rows(limited: bool, searching: bool, paged: bool):
    """`invoice_list_query`'s invoices (as `_LISTED_COLUMNS`) with their kept open amount."""
    query = (
        select(*_LISTED_COLUMNS, KeptOpenItem.open_amount)
        .outerjoin(
            KeptOpenItem,
            (KeptOpenItem.invoice_id == Invoice.id) & (KeptOpenItem.group_id == Invoice.group_id),
        )
        .where(*_invoice_list_where(limited, searching))
        .order_by(Invoice.period_start.desc(), Invoice.invoice_number)
    )
    if paged:
        query = (
            query.add_columns(func.count().over().label("listed"))
            .limit(bindparam("limit"))
            .offset(bindparam("offset"))
        )
    return query


def _listed_rows(found, on: date) -> list[InvoiceRow]:
    rows = list(found)
    return _rows(rows, {row.id: row.open_amount or ZERO for row in rows}, on)


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


def invoice_view(
    session: Session,
    invoice: Invoice,
    today: date,
    open_balance: Decimal | None = None,
    plan_totals: list[PlanTotal] | None = None,
) -> InvoiceView:
    """`open_balance`, `plan_totals`: the bill's kept open receivable and its plan totals when
    the caller read them with the bill (`find_invoice_row`), else read here."""
    group = session.get(EmployerGroup, invoice.group_id)
    # Every plan total of the bill in one read: the premium's product table and line count,
    # the products billed in any section (the member lines' product filter), and whether it
    # has retro or fee lines at all (a fee's total has no plan).
    totals = (
        session.execute(_plan_totals(), {"invoice_id": invoice.id}).all()
        if plan_totals is None
        else plan_totals
    )
    premium = [row for row in totals if row.section is InvoiceSection.PREMIUM]
    products = [
        ProductTotal(row.product_name, row.plan_name, row.member_count, row.amount)
        for row in premium
    ]
    adjustment_lines = (
        session.scalars(_adjustment_lines(), {"invoice_id": invoice.id}).all()
        if any(row.section is not InvoiceSection.PREMIUM for row in totals)
        else []
    )
    balances = (
        {invoice.id: open_balance}
        if open_balance is not None
        else _kept_balances(session, [invoice], KeptOpenItem.group_id == group.id)
    )
    return InvoiceView(
        invoice=invoice,
        group=group,
        subgroup=session.get(BillingSubgroup, invoice.subgroup_id) if invoice.subgroup_id else None,
        row=_rows([invoice], balances, today)[0],
        products=products,
        retro_lines=[ln for ln in adjustment_lines if ln.section is InvoiceSection.RETRO],
        fee_lines=[ln for ln in adjustment_lines if ln.section is InvoiceSection.FEE],
        line_count=sum(row.line_count for row in premium),
        product_choices=sorted(
            {(row.product_code, row.product_name) for row in totals if row.product_code},
            key=_by_name,
        ),
        # Only a void leaves a credit memo behind.
        credit_memo=session.scalar(select(CreditMemo).where(CreditMemo.invoice_id == invoice.id))
        if invoice.status is InvoiceStatus.VOID
        else None,
        voided_by=session.get(User, invoice.voided_by_id) if invoice.voided_by_id else None,
    )


# A plan total as `invoice_view` reads it (`PlanTotal`), with its plan and product (none for a
# fee's).
_PLAN_TOTAL = (
    InvoicePlanTotal.section,
    Product.code.label("product_code"),
    Product.name.label("product_name"),
    Plan.name.label("plan_name"),
    InvoicePlanTotal.member_count,
    InvoicePlanTotal.amount,
    InvoicePlanTotal.line_count,
)


@built_once
def _plan_totals():
    """An invoice's plan totals with their plan and product (none for a fee's), by product and
    plan name."""
    return (
        select(*_PLAN_TOTAL)
        .outerjoin(Plan, Plan.id == InvoicePlanTotal.plan_id)
        .outerjoin(Product, Product.id == Plan.product_id)
        .where(InvoicePlanTotal.invoice_id == bindparam("invoice_id"))
        .order_by(Product.name, Plan.name)
    )


@built_once
def _adjustment_lines():
    return (
        select(InvoiceLine)
        .where(
            InvoiceLine.invoice_id == bindparam("invoice_id"),
            InvoiceLine.section.in_([InvoiceSection.RETRO, InvoiceSection.FEE]),
        )
        .order_by(InvoiceLine.line_number)
    )


def _line_filters(search_like, product, subgroup_ids) -> list:
    """Which premium lines a reader asks for: a reader limited to `subgroup_ids` sees their
    members' lines; `search_like` (a LIKE pattern) matches last or first name, member id or
    employee id; `product` is a product code. Values, or bindparams for a kept statement."""
    where = []
    if subgroup_ids is not None:
        where.append(Member.subgroup_id.in_(subgroup_ids))
    if search_like is not None:
        where.append(
            or_(
                Member.last_name.ilike(search_like),
                Member.first_name.ilike(search_like),
                Member.member_key.ilike(search_like),
                Member.employee_id.ilike(search_like),
            )
        )
    if product is not None:
        where.append(Product.code == product)
    return where


def invoice_lines_query(
    invoice: Invoice,
    *,
    search: str = "",
    product: str = "",
    subgroup_ids: frozenset[int] | None = None,
) -> Select:
    """Member premium lines of an invoice with the member and plan, ordered as billed. `search`
    matches last or first name, member id or employee id; `product` is a product code."""
    return (
        select(InvoiceLine, Member, Plan, Product)
        .join(Member, Member.id == InvoiceLine.member_id)
        .join(Plan, Plan.id == InvoiceLine.plan_id)
        .join(Product, Product.id == Plan.product_id)
        .where(
            InvoiceLine.invoice_id == invoice.id,
            InvoiceLine.section == InvoiceSection.PREMIUM,
            *_line_filters(f"%{search}%" if search else None, product or None, subgroup_ids),
        )
        .order_by(InvoiceLine.line_number)
    )


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
    """A page of the invoice's member premium lines as the page shows them (`_MEMBER_LINE`
    rows, ordered as billed; filtered as `invoice_lines_query`). Unfiltered and for the whole
    group, the count is the premium line count kept at issue (`InvoicePlanTotal`, or
    `line_count` when the caller has it: `InvoiceView.line_count`), not a count of every
    line: on a 10,000-line bill that count was most of the invoice page's time. Kept
    statements, one per kind of filter."""
    shape = (bool(search), bool(product), subgroup_ids is not None)
    values = {"invoice_id": invoice.id}
    if search:
        values["search_like"] = f"%{search}%"
    if product:
        values["product"] = product
    if subgroup_ids is not None:
        values["subgroup_ids"] = sorted(subgroup_ids)
    if any(shape):
        total = session.scalar(_member_lines(*shape, counted=True), values)
    elif line_count is not None:
        total = line_count
    else:
        total = premium_line_count(session, invoice)
    page = clamp_page(asked_page, total, per_page)
    values.update(limit=per_page, offset=(page - 1) * per_page)
    items = session.execute(_member_lines(*shape, counted=False), values).all()
    return Page(items=items, page=page, per_page=per_page, total=total)


# A member line as the invoice page shows it.
_MEMBER_LINE = (
    Member.last_name,
    Member.first_name,
    Member.member_key,
    Member.employee_id,
    Product.name.label("product_name"),
    InvoiceLine.description,
    InvoiceLine.coverage_month,
    InvoiceLine.tier,
    InvoiceLine.volume,
    InvoiceLine.rate,
    InvoiceLine.amount,
)


@built_once
def _member_lines(searching: bool, by_product: bool, limited: bool, *, counted: bool):
    """An invoice's premium lines filtered as asked (`_line_filters`): their count, or a page
    of `_MEMBER_LINE` rows in billing order."""
    where = _line_filters(
        bindparam("search_like") if searching else None,
        bindparam("product") if by_product else None,
        SUBGROUP_IDS if limited else None,
    )
    query = (
        (select(func.count()) if counted else select(*_MEMBER_LINE))
        .select_from(InvoiceLine)
        .join(Member, Member.id == InvoiceLine.member_id)
        .join(Plan, Plan.id == InvoiceLine.plan_id)
        .join(Product, Product.id == Plan.product_id)
        .where(
            InvoiceLine.invoice_id == bindparam("invoice_id"),
            InvoiceLine.section == InvoiceSection.PREMIUM,
            *where,
        )
    )
    if counted:
        return query
    return (
        query.order_by(InvoiceLine.line_number)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )


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
