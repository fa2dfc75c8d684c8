"""The staff's invoice book, a page at a time (issue 19): which invoices and in what order is
`invoices.invoice_book_query`'s rule and each row's figures are `invoices._rows`' (the lists'
one row builder); this reads a page in two statements, the count and the page's invoices (only
the columns a list shows, `invoices._LISTED_COLUMNS`, no Invoice loaded) with each one's group
name and kept open receivable, instead of four with every Invoice and group loaded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_core.billing.invoices import _LISTED_COLUMNS, _rows, invoice_book_query
from billing_core.models import EmployerGroup
from billing_core.models.ledger import KeptOpenItem
from billing_core.money import ZERO
from billing_core.paging import Page, clamp_page


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
