"""The book's invoice links are written from the route's shape asked of url_for once per page
(admin.views.billing._invoice_href): each is the path url_for gives for its group and bill."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask import url_for

from tests.factories import make_group, make_invoice


def test_each_book_link_is_the_invoice_page_url_for_gives(web_app, client, cast, session, login_as):
    login_as(cast.users["billing_specialist"])
    bills = [
        make_invoice(session, make_group(session), Decimal("10.00") + n, date(2027, 5, 1))
        for n in range(3)
    ]
    session.commit()
    html = client.get("/admin/invoices?period=2027-05").get_data(as_text=True)
    with web_app.test_request_context():
        for bill in bills:
            path = url_for("admin.invoice_detail", group_id=bill.group_id, invoice_id=bill.id)
            assert f'<a href="{path}">{bill.invoice_number}</a>' in html
