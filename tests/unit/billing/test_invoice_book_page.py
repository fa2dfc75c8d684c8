"""The staff's invoice book read a page at a time in two statements (invoices.
invoice_book_page) gives the same rows, groups and pages as the book's query paged whole and
its rows built from the loaded invoices (invoices.invoice_book_query and `_book_rows_loaded`,
how the book read them before): searches, a period, pages past the end, a void bill, a
part-paid and a paid one."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select

from billing_core.billing.invoices import (
    _kept_balances,
    _rows,
    invoice_book_page,
    invoice_book_query,
)
from billing_core.billing.invoicing import void_invoice
from billing_core.models import EmployerGroup
from billing_core.paging import page_of
from tests.factories import make_group, make_invoice, pay_by_check, scenario

TODAY = date(2027, 4, 20)


def _book_rows_loaded(session, invoices, today):
    """The book's rows from its Invoices loaded whole, and their groups (the old read)."""
    invoices = list(invoices)
    groups = {
        g.id: g
        for g in session.scalars(
            select(EmployerGroup).where(EmployerGroup.id.in_({i.group_id for i in invoices}))
        )
    }
    return _rows(invoices, _kept_balances(session, invoices), today), groups


def _old(session, search, period, asked, per_page):
    page = page_of(session, invoice_book_query(search, period), asked, per_page)
    rows, groups = _book_rows_loaded(session, page.items, TODAY)
    return page, rows, groups


def _figures(rows) -> list[tuple]:
    return [
        (r.invoice.id, r.invoice.invoice_number, r.invoice.group_id, r.invoice.period_start,
         r.invoice.period_end, r.invoice.due_on, r.amount, r.paid, r.balance, r.status,
         r.status_label)
        for r in rows
    ]  # fmt: skip


def test_the_book_page_equals_the_book_paged_whole(session, statements):
    cast = scenario(session)
    groups = [make_group(session, name=f"Harbor Freight {n}") for n in range(3)]
    bills = []
    for month in (1, 2, 3):
        for n, group in enumerate(groups):
            day = date(2027, month, 1)
            bills.append(make_invoice(session, group, Decimal("100.00") + n + month, day))
    pay_by_check(session, groups[0], "50.00", TODAY, [bills[0]])  # part paid
    pay_by_check(session, groups[1], str(bills[1].total_due), TODAY, [bills[1]])  # paid
    void_invoice(session, bills[2], reason="billed twice", actor=cast.users["admin"], on=TODAY)
    session.flush()

    asked = [
        ("", None, 1, 50),
        ("", None, 1, 4),
        ("", None, 2, 4),
        ("", None, 99, 4),  # past the end: the last page
        ("", None, 0, 4),
        ("harbor", None, 1, 5),
        ("Harbor Freight 1", None, 2, 2),
        (groups[2].group_number, date(2027, 2, 1), 1, 50),
        (bills[4].invoice_number, None, 1, 50),
        ("no such thing", None, 1, 50),
        ("", date(2027, 3, 1), 1, 50),
    ]
    for search, period, number, per_page in asked:
        old_page, old_rows, old_groups = _old(session, search, period, number, per_page)
        before = len(statements)
        page, new_groups = invoice_book_page(session, search, period, number, per_page, TODAY)
        assert len(statements) - before == 2
        assert (page.page, page.total, page.per_page) == (
            old_page.page, old_page.total, old_page.per_page,
        )  # fmt: skip
        assert _figures(page.items) == _figures(old_rows), (search, period, number)
        assert {i: (g.id, g.name, g.group_number) for i, g in new_groups.items()} == {
            i: (g.id, g.name, g.group_number) for i, g in old_groups.items()
        }
    statuses = {r.status for r in invoice_book_page(session, "harbor", None, 1, 50, TODAY)[0].items}
    assert len(statuses) >= 3  # void, paid and open or past due among them
