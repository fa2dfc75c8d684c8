"""Dates and amounts far outside what the portal works with (year 1, year 9999, a 20-digit
amount) are refused next to the field, never an HTTP 500 (issue 17, finding 6)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from billing_core.bounds import MAX_AMOUNT
from billing_core.errors import PaymentError
from billing_core.models import Payment
from billing_core.models.enums import PaymentMethod, PaymentSource
from billing_core.money import D
from billing_core.payments.receipts import record_payment
from billing_core.reports import REPORTS
from portal.web import today
from tests.web.conftest import csrf_token

FAR = [("0001-01", "0001-02"), ("9999-01", "9999-12"), ("0001-01", "9999-12")]


@pytest.mark.parametrize(("start", "end"), FAR)
@pytest.mark.parametrize("area", ["employer", "admin"])
def test_statement_of_year_one_or_9999_says_why(client, cast, login_as, area, start, end):
    login_as(cast.users["employer_a" if area == "employer" else "supervisor"])
    base = f"/{area}/groups/{cast.group_a.id}/statement"
    page = client.get(base, query_string={"start": start, "end": end})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "between 1900-01 and 2199-12" in text or "Choose a month that has started" in text
    for suffix in (".pdf", ".csv", ".xlsx"):
        download = client.get(f"{base}{suffix}", query_string={"start": start, "end": end})
        assert download.status_code == 303, suffix


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_every_report_refuses_year_one_and_9999(client, cast, login_as, day):
    login_as(cast.users["supervisor"])
    month = day[:7]
    args = {
        "as_of": day,
        "date_from": day,
        "date_to": day,
        "period_from": month,
        "period_to": month,
    }
    for name in REPORTS:
        page = client.get(f"/admin/reports/{name}", query_string=args)
        assert page.status_code == 200, name
        used = {flt.kind for flt in REPORTS[name].filters}
        if used & {"date", "month"}:
            assert "between 1900-01" in page.get_data(as_text=True), name
        for fmt in ("csv", "xlsx"):
            download = client.get(f"/admin/reports/{name}/download/{fmt}", query_string=args)
            assert download.status_code in (200, 303), (name, fmt)


@pytest.mark.parametrize(
    ("amount", "received_on", "message"),
    [
        ("12345678901234567890", None, "at most 9,999,999,999.99"),
        ("1e999999", None, "at most 9,999,999,999.99"),
        ("100.00", "0001-01-01", "Enter a date in the last 10 years"),
        ("100.00", "9999-12-31", "That date is in the future"),
    ],
)
def test_staff_cannot_record_an_absurd_payment(
    client, cast, login_as, session, amount, received_on, message
):
    login_as(cast.users["billing_specialist"])
    before = session.scalar(select(func.count(Payment.id)))
    response = client.post(
        "/admin/payments/new",
        data={
            "csrf_token": csrf_token(client, "/admin/payments/new"),
            "method": "check",
            "amount": amount,
            "received_on": received_on or today().isoformat(),
            "group": cast.group_a.group_number,
            "reference": "77",
        },
    )
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert session.scalar(select(func.count(Payment.id))) == before


@pytest.mark.parametrize(
    ("amount", "received_on"),
    [
        (MAX_AMOUNT + D("0.01"), date(2027, 1, 5)),
        (D("1E+999999"), date(2027, 1, 5)),
        (D("10.00"), date(1, 1, 1)),
    ],
)
def test_record_payment_refuses_what_no_column_or_calendar_holds(
    session, cast, amount, received_on
):
    with pytest.raises(PaymentError):
        record_payment(
            session,
            group=cast.group_a,
            amount=amount,
            method=PaymentMethod.CHECK,
            received_on=received_on,
            source=PaymentSource.STAFF,
        )


@pytest.mark.parametrize("amount", ["1e999999", "12345678901234567890"])
def test_an_employer_cannot_start_paying_an_absurd_amount(client, cast, login_as, session, amount):
    from billing_core.models import Checkout
    from tests.web.test_online_payments import pay_form

    login_as(cast.users["employer_a"])
    url = f"/employer/groups/{cast.group_a.id}/pay"
    response = client.post(
        url,
        data={
            **pay_form(client, cast.group_a.id),
            "method": "card",
            "pay_what": "amount",
            "amount": amount,
        },
    )
    assert response.status_code == 200
    assert "at most 9,999,999,999.99" in response.get_data(as_text=True)
    assert session.scalar(select(func.count(Checkout.id))) == 0
