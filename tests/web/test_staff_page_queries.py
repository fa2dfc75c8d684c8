"""Staff pages under load (issue 19, items 2 and 6): the book's invoice list reads the page's
groups and their open balances once for the whole page (the kept open items), so a page whose
bills span many groups runs as many SQL statements as one whose bills are all one group's."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from tests.factories import make_group, make_invoice


def _statements_for(client, statements, url: str) -> tuple[int, str]:
    client.get(url)  # the first request of a session loads what every page needs
    statements.clear()
    response = client.get(url)
    assert response.status_code == 200, url
    return len(statements), response.get_data(as_text=True)


def test_the_invoice_book_runs_as_many_queries_for_1_or_8_groups_on_the_page(
    client, cast, session, login_as, statements
):
    login_as(cast.users["billing_specialist"])
    one = make_group(session)
    for n in range(8):
        make_invoice(session, one, Decimal("100.00") + n, date(2027, 3, 1))
    session.commit()
    url = "/admin/invoices?period=2027-03-01"
    few, html = _statements_for(client, statements, url)
    assert html.count(one.group_number) >= 8

    for _ in range(8):
        make_invoice(session, make_group(session), Decimal("55.00"), date(2027, 3, 1))
    session.commit()
    many, html = _statements_for(client, statements, url)
    assert html.count("55.00") >= 8
    assert many == few, f"{few} statements for one group's bills, {many} for nine groups'"
