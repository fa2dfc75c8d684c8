"""The staff page that imports bank, lockbox and 820 files."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from billing_core.models import Payment, SuspenseItem
from tests.web.conftest import csrf_token


def upload(client, text: bytes, name="lockbox.csv"):
    token = csrf_token(client, "/admin/payments/import")
    return client.post(
        "/admin/payments/import",
        data={"csrf_token": token, "file": (io.BytesIO(text), name)},
        content_type="multipart/form-data",
    )


def test_staff_import_a_lockbox_file_and_see_each_line(client, login_as, cast, session):
    login_as(cast.users["billing_specialist"])
    text = (
        "deposit_date,check_number,amount,payer_name,group_number,invoice_number\n"
        f"2027-01-05,4021,150.60,Acme,,{cast.invoice_a.invoice_number}\n"
        "2027-01-05,4023,412.00,Unknown Payer Co,,\n"
    ).encode()
    html = upload(client, text).get_data(as_text=True)
    assert "1 matched, 0 partly matched, 1 to suspense" in html
    assert "no group matches Unknown Payer Co" in html
    assert session.scalar(select(func.count()).select_from(SuspenseItem)) == 1
    again = upload(client, text, "renamed.csv").get_data(as_text=True)
    assert "already imported" in again
    assert session.scalar(select(func.count()).select_from(Payment)) == 2


def test_a_bad_file_is_refused_whole_with_its_rows_named(client, login_as, cast, session):
    login_as(cast.users["billing_specialist"])
    text = b"deposit_date,check_number,amount\n2027-01-05,1,5.00\n2027-13-45,2,5.00\n"
    html = upload(client, text).get_data(as_text=True)
    assert "nothing was imported" in html and "row" in html and "deposit_date" in html
    assert session.scalar(select(func.count()).select_from(Payment)) == 0
