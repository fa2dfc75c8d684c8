"""Every bill can be paid (issue 16, point 2): the remittance instructions (wire, ACH credit,
check, the reference to quote) from configuration on the invoice page, the invoice PDF and the
pay page whenever online payment does not take the amount; ACH offered between the card and
ACH limits. The scenario's group A owes 150.60 on invoice A; the limits are set around it."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import func, select

from billing_core.config import Settings
from billing_core.models import Checkout
from billing_core.models.enums import PaymentMethod
from billing_core.money import D
from portal import create_app
from portal.documents import render_invoice_pdf
from tests.web.conftest import log_in, logout
from tests.web.test_invoice_documents import _pdf_text, _save_page_one

CARRIER = {
    "REMIT_TO_NAME": "Evergreen Mutual Life - Premium Receipts",
    "REMIT_TO_ADDRESS": "PO Box 4417\\nHartford, CT 06101-4417",
    "REMIT_BANK_NAME": "First Harbor Trust Bank",
    "REMIT_ABA_ROUTING": "021000021",
    "REMIT_ACCOUNT_NUMBER": "7512906634",
}


def _app(session_factory, **limits):
    settings = Settings.from_env(CARRIER).with_overrides(**limits)
    return create_app(
        {
            "TESTING": True,
            "SESSION_FACTORY": session_factory,
            "SERVER_NAME": "portal.test",
            "SETTINGS": settings,
        }
    )


def _logged_in(app, user):
    client = app.test_client()
    logout(client)
    assert log_in(client, user.email).status_code == 303
    return client


def _flat(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _remit_block(html: str) -> str:
    match = re.search(r'<(section|details) class="card remit" id="remit-to".*?</\1>', html, re.S)
    assert match, "no remittance instructions on the page"
    return _flat(match.group(0))


def _assert_carrier_instructions(text: str, reference: str) -> None:
    assert "First Harbor Trust Bank" in text
    assert "021000021" in text
    assert "7512906634" in text  # in full: a receiving account is printed, not hidden
    assert "Evergreen Mutual Life - Premium Receipts" in text
    assert "PO Box 4417" in text and "Hartford, CT 06101-4417" in text
    assert reference in text
    assert "Sample" not in text and "SAMPLE" not in text


@pytest.mark.parametrize("who", ["employer_a", "billing_specialist"])
def test_the_invoice_page_says_where_to_wire_or_mail(session_factory, cast, who):
    app = _app(session_factory)
    client = _logged_in(app, cast.users[who])
    invoice = cast.invoice_a
    area = "employer" if who.startswith("employer") else "admin"
    html = client.get(f"/{area}/groups/{cast.group_a.id}/invoices/{invoice.id}").get_data(
        as_text=True
    )
    reference = f"Group {cast.group_a.group_number}, invoice {invoice.invoice_number}"
    _assert_carrier_instructions(_remit_block(html), reference)
    # 150.60 is well within the online limits: no "too large to pay online" note.
    assert "more than can be paid online" not in html


def test_an_invoice_above_every_online_limit_says_so_on_its_page(session_factory, cast):
    app = _app(session_factory, online_card_limit=D("50.00"), online_ach_limit=D("100.00"))
    client = _logged_in(app, cast.users["employer_a"])
    html = client.get(f"/employer/groups/{cast.group_a.id}/invoices/{cast.invoice_a.id}").get_data(
        as_text=True
    )
    assert "more than can be paid online" in _flat(html)
    assert 'href="#remit-to"' in html


def test_the_invoice_pdf_prints_the_remittance_instructions(
    session_factory, session, cast, tmp_path
):
    app = _app(session_factory)
    with app.app_context():
        pdf = render_invoice_pdf(session, cast.invoice_a, date(2026, 12, 20))
    flat = " ".join(_pdf_text(pdf, tmp_path).split())
    reference = f"Group {cast.group_a.group_number}, invoice {cast.invoice_a.invoice_number}"
    _assert_carrier_instructions(flat, reference)
    assert "ABA routing 021000021" in flat and "Account 7512906634" in flat
    _save_page_one(pdf, tmp_path, "invoice-pdf-remit-to")


def test_development_sample_instructions_are_marked_as_samples(client, login_as, cast):
    login_as(cast.users["employer_a"])
    html = client.get(f"/employer/groups/{cast.group_a.id}/invoices/{cast.invoice_a.id}").get_data(
        as_text=True
    )
    block = _remit_block(html)
    assert "Sample details (development): not a real account" in block
    assert "110000000" in block


def _pay_page(client, cast) -> str:
    return client.get(f"/employer/groups/{cast.group_a.id}/pay").get_data(as_text=True)


def _post_pay(client, cast, method: str):
    html = _pay_page(client, cast)
    form = {
        "csrf_token": re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)[1],
        "nonce": re.search(r'name="nonce" type="hidden" value="([^"]+)"', html)[1],
        "pay_what": "invoices",
        "invoice_ids": cast.invoice_a.id,
        "method": method,
    }
    return client.post(f"/employer/groups/{cast.group_a.id}/pay", data=form)


def _checkouts(session) -> int:
    return session.scalar(select(func.count(Checkout.id)))


def test_within_both_limits_the_pay_page_offers_card_and_bank(session_factory, cast):
    app = _app(session_factory, online_card_limit=D("500.00"), online_ach_limit=D("1000.00"))
    client = _logged_in(app, cast.users["employer_a"])
    html = _pay_page(client, cast)
    verdict = _flat(re.search(r'<p class="pay-verdict[^"]*".*?</p>', html, re.S)[0])
    assert "can be paid online by card or from a US bank account" in verdict
    assert "150.60" in verdict and cast.invoice_a.invoice_number in verdict
    # The other ways to pay are there, folded away.
    assert '<details class="card remit" id="remit-to">' in html
    assert "021000021" in _remit_block(html)


def test_between_the_card_and_ach_limits_only_the_bank_account_is_offered(
    session_factory, session, cast
):
    app = _app(session_factory, online_card_limit=D("100.00"), online_ach_limit=D("200.00"))
    client = _logged_in(app, cast.users["employer_a"])
    html = _pay_page(client, cast)
    flat = _flat(html)
    assert "can be paid online from a US bank account (ACH debit) only" in flat
    assert re.search(r'id="method-ach_debit" name="method" value="ach_debit" checked', html)
    assert "card payments are limited to $100.00" in flat
    assert "up to $100.00: not for the $150.60 selected" in flat  # beside the card choice

    refused = _post_pay(client, cast, "card")
    assert refused.status_code == 200
    assert (
        "Card payments are limited to $100.00; pay $150.60 from a US bank account (ACH debit)"
        in _flat(refused.get_data(as_text=True))
    )
    assert _checkouts(session) == 0

    started = _post_pay(client, cast, "ach_debit")
    assert started.status_code == 303, started.get_data(as_text=True)[:400]
    checkout = session.scalars(select(Checkout)).one()
    assert checkout.method is PaymentMethod.ACH_DEBIT and checkout.amount == D("150.60")


def test_above_every_online_limit_the_pay_page_shows_the_wire_and_check_instructions(
    session_factory, session, cast
):
    app = _app(session_factory, online_card_limit=D("50.00"), online_ach_limit=D("100.00"))
    client = _logged_in(app, cast.users["employer_a"])
    html = _pay_page(client, cast)
    flat = _flat(html)
    assert (
        "is more than can be paid online (a card up to $50.00, a bank account up to $100.00)"
        in (flat)
    )
    # Shown open, before the form, not folded away.
    assert '<section class="card remit" id="remit-to"' in html
    pay_form = f'action="/employer/groups/{cast.group_a.id}/pay"'
    assert html.index('id="remit-to"') < html.index(pay_form)
    reference = f"Group {cast.group_a.group_number}, invoice {cast.invoice_a.invoice_number}"
    _assert_carrier_instructions(_remit_block(html), reference)

    for method in ("card", "ach_debit"):
        refused = _flat(_post_pay(client, cast, method).get_data(as_text=True))
        assert "no online payment takes $150.60: pay it by wire, ACH credit or check" in refused
        assert "021000021" in refused
    assert _checkouts(session) == 0
