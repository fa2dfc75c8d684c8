"""Paying online through the portal: the pay page, Stripe Checkout against the local fake of
Stripe's API, the signed webhook endpoint, the local test checkout, the success page (which
records nothing) and the employer's payments page."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import func, select

from billing_core.models import Checkout, JournalEntry, Payment, WebhookEvent
from billing_core.models.enums import CheckoutStatus, PaymentMethod, PaymentSource, PaymentStatus
from billing_core.money import D
from billing_core.payments.allocation import live_allocations, open_balances, unallocate
from billing_core.payments.receipts import record_payment
from portal import create_app
from tests.factories import PRODUCTION_ENV
from tests.fake_stripe import TEST_WEBHOOK_SECRET, event, serve_fake_stripe, signed
from tests.web.conftest import csrf_token, logout


@pytest.fixture
def fake_stripe():
    state, stop = serve_fake_stripe()
    yield state
    stop()


@pytest.fixture
def stripe_app(session_factory, fake_stripe):
    from billing_core.config import Settings

    settings = Settings.from_env({}).with_overrides(
        stripe_secret_key="sk_test_fake",
        stripe_api_base=fake_stripe.url,
        stripe_webhook_secret=TEST_WEBHOOK_SECRET,
    )
    return create_app(
        {
            "TESTING": True,
            "SESSION_FACTORY": session_factory,
            "SERVER_NAME": "portal.test",
            "SETTINGS": settings,
        }
    )


@pytest.fixture
def stripe_client(stripe_app):
    return stripe_app.test_client()


def pay_form(client, group_id: int) -> dict:
    html = client.get(f"/employer/groups/{group_id}/pay").get_data(as_text=True)
    return {
        "csrf_token": re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)[1],
        "nonce": re.search(r'name="nonce" type="hidden" value="([^"]+)"', html)[1],
    }


def owed(session, cast):
    return open_balances(session, cast.group_a).get(cast.invoice_a.id, D("0.00"))


def count(session, model) -> int:
    return session.scalar(select(func.count(model.id)))


def post_event(client, evt, secret=TEST_WEBHOOK_SECRET):
    body, header = signed(evt, secret)
    return client.post(
        "/webhooks/stripe",
        data=body,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )


def completed_for(checkout, intent="pi_web_1", paid=True):
    return event(
        "checkout.session.completed",
        {
            "id": checkout.session_id,
            "object": "checkout.session",
            "amount_total": int(checkout.amount * 100),
            "payment_intent": intent,
            "payment_status": "paid" if paid else "unpaid",
            "metadata": {
                "checkout_id": str(checkout.id),
                "invoice_ids": ",".join(map(str, checkout.invoice_ids)),
            },
        },
    )


def start_checkout(client, cast, session, **choice) -> Checkout:
    """Post the pay form for group A (by default: invoice A by card); the checkout it began."""
    choice = choice or {"pay_what": "invoices", "invoice_ids": cast.invoice_a.id}
    form = pay_form(client, cast.group_a.id)
    client.post(
        f"/employer/groups/{cast.group_a.id}/pay", data={**form, "method": "card", **choice}
    )
    return session.scalars(select(Checkout).order_by(Checkout.id.desc())).first()


def start_paid_checkout(client, cast, session):
    checkout = start_checkout(client, cast, session, pay_what="amount", amount="10.00")
    assert post_event(client, completed_for(checkout, intent="pi_web_late")).status_code == 200
    session.refresh(checkout)
    return checkout


@pytest.fixture
def login_stripe(stripe_client, cast):
    from tests.factories import PASSWORD

    def go(role="employer_a"):
        logout(stripe_client)
        token = csrf_token(stripe_client, "/login")
        response = stripe_client.post(
            "/login",
            data={"email": cast.users[role].email, "password": PASSWORD, "csrf_token": token},
        )
        assert response.status_code == 303

    return go


# --- Stripe Checkout (keys set, the fake API) -------------------------------------------------


def test_pay_page_preselects_the_oldest_open_invoice(stripe_client, login_stripe, cast):
    login_stripe()
    html = stripe_client.get(f"/employer/groups/{cast.group_a.id}/pay").get_data(as_text=True)
    assert cast.invoice_a.invoice_number in html
    assert re.search(rf'value="{cast.invoice_a.id}" id="invoice-{cast.invoice_a.id}" checked', html)
    assert "150.60" in html and "Credit available" in html
    assert "Test checkout" not in html  # Stripe keys are set: the real checkout


def test_a_double_submit_creates_one_checkout_and_one_stripe_session(
    stripe_client, login_stripe, cast, session, fake_stripe
):
    login_stripe()
    form = pay_form(stripe_client, cast.group_a.id)
    data = {**form, "pay_what": "invoices", "invoice_ids": cast.invoice_a.id, "method": "card"}
    url = f"/employer/groups/{cast.group_a.id}/pay"
    first = stripe_client.post(url, data=data)
    second = stripe_client.post(url, data=data)
    assert first.status_code == second.status_code == 303
    assert first.location == second.location
    assert first.location.startswith(fake_stripe.url + "/pay/cs_test_fake_")
    assert count(session, Checkout) == 1
    assert len(fake_stripe.created("checkout.session")) == 1
    create = [r for r in fake_stripe.requests if r.method == "POST"]
    assert len(create) == 1
    checkout = session.scalar(select(Checkout))
    assert create[0].headers["Idempotency-Key"] == checkout.idempotency_key
    assert create[0].params["metadata"]["group_number"] == cast.group_a.group_number
    assert (
        create[0]
        .params["success_url"]
        .endswith(f"/employer/groups/{cast.group_a.id}/checkouts/{checkout.id}/success")
    )
    assert checkout.amount == D("150.60") and checkout.session_id.startswith("cs_test_fake_")


def test_the_success_page_without_a_webhook_records_nothing(
    stripe_client, login_stripe, cast, session
):
    login_stripe()
    checkout = start_checkout(stripe_client, cast, session)
    page = stripe_client.get(f"/employer/groups/{cast.group_a.id}/checkouts/{checkout.id}/success")
    assert page.status_code == 200
    assert "it will show as paid once confirmed" in page.get_data(as_text=True)
    assert count(session, Payment) == 0
    assert owed(session, cast) == D("150.60")
    session.refresh(checkout)
    assert checkout.status is CheckoutStatus.OPEN
    cancelled = stripe_client.get(
        f"/employer/groups/{cast.group_a.id}/checkouts/{checkout.id}/cancelled"
    )
    assert "Nothing was charged" in cancelled.get_data(as_text=True)
    assert count(session, Payment) == 0


def test_a_checkout_that_expires_unpaid_says_nothing_was_charged(
    stripe_client, login_stripe, cast, session
):
    login_stripe()
    checkout = start_checkout(stripe_client, cast, session)
    expired = event(
        "checkout.session.expired",
        {
            "id": checkout.session_id,
            "object": "checkout.session",
            "status": "expired",
            "payment_status": "unpaid",
            "payment_intent": None,
            "metadata": {"checkout_id": str(checkout.id)},
        },
    )
    first, second = post_event(stripe_client, expired), post_event(stripe_client, expired)
    assert first.status_code == second.status_code == 200
    assert first.get_json()["outcome"] == (
        f"checkout {checkout.id} expired unpaid: $150.60 not charged"
    )
    assert second.get_json()["duplicate"] is True
    session.refresh(checkout)
    assert checkout.status is CheckoutStatus.CANCELLED and checkout.payment_id is None
    page = stripe_client.get(f"/employer/groups/{cast.group_a.id}/checkouts/{checkout.id}/success")
    html = page.get_data(as_text=True)
    assert "Payment not made" in html and "expired before it was paid: nothing was charged" in html
    assert count(session, Payment) == 0 and owed(session, cast) == D("150.60")

    # A paid checkout is not undone by a late expiry event for it.
    paid = start_paid_checkout(stripe_client, cast, session)
    late = event("checkout.session.expired", {"id": paid.session_id, "metadata": {}})
    assert post_event(stripe_client, late).get_json()["outcome"] == (
        f"ignored: checkout {paid.id} is completed"
    )


def test_amount_errors_are_shown_on_the_form(stripe_client, login_stripe, cast, session):
    login_stripe()
    form = pay_form(stripe_client, cast.group_a.id)
    url = f"/employer/groups/{cast.group_a.id}/pay"
    for amount, message in [
        ("abc", "dollars and cents"),
        ("-5", "above zero"),
        ("1.234", "two decimals"),
        ("2000000", "limited to $999,999.99"),
    ]:
        response = stripe_client.post(
            url, data={**form, "pay_what": "amount", "amount": amount, "method": "card"}
        )
        assert response.status_code == 200
        assert message in response.get_data(as_text=True), amount
    assert count(session, Checkout) == 0


def test_the_webhook_records_a_payment_once(stripe_client, login_stripe, cast, session):
    login_stripe()
    checkout = start_checkout(stripe_client, cast, session)
    evt = completed_for(checkout)
    first, second = post_event(stripe_client, evt), post_event(stripe_client, evt)
    assert first.status_code == second.status_code == 200
    assert second.get_json()["duplicate"] is True
    payments = session.scalars(select(Payment)).all()
    assert len(payments) == 1 and payments[0].status is PaymentStatus.SUCCEEDED
    receipts = session.scalar(
        select(func.count(JournalEntry.id)).where(
            JournalEntry.source_type == "payment", JournalEntry.source_id == payments[0].id
        )
    )
    assert receipts == 1
    assert owed(session, cast) == 0
    assert count(session, WebhookEvent) == 1
    page = stripe_client.get(f"/employer/groups/{cast.group_a.id}/checkouts/{checkout.id}/success")
    assert "has been received and applied" in page.get_data(as_text=True)


def test_a_bad_signature_is_refused_with_400(stripe_client, cast, session):
    from billing_core.payments.online import start_checkout

    checkout, _ = start_checkout(
        session,
        group=cast.group_a,
        user=cast.users["employer_a"],
        method=PaymentMethod.CARD,
        invoice_ids=[cast.invoice_a.id],
        amount=None,
        nonce="x",
    )
    session.commit()
    forged = post_event(stripe_client, completed_for(checkout), secret="whsec_forged")
    unsigned = stripe_client.post("/webhooks/stripe", data=b"{}")
    assert forged.status_code == unsigned.status_code == 400
    assert count(session, Payment) == 0 and count(session, WebhookEvent) == 0
    assert owed(session, cast) == D("150.60")


def test_another_groups_employer_cannot_pay_or_see_group_a(
    stripe_client, login_stripe, cast, session, fake_stripe
):
    login_stripe("employer_a")
    checkout = start_checkout(stripe_client, cast, session)
    login_stripe("employer_b")
    a, b = cast.group_a.id, cast.group_b.id
    for url in [
        f"/employer/groups/{a}/pay",
        f"/employer/groups/{a}/payments",
        f"/employer/groups/{a}/checkouts/{checkout.id}/success",
        f"/employer/groups/{b}/checkouts/{checkout.id}/success",
        f"/employer/groups/{b}/checkouts/{checkout.id}/cancelled",
    ]:
        assert stripe_client.get(url).status_code == 404, url
    token = csrf_token(stripe_client, f"/employer/groups/{b}/pay")
    paying_a = stripe_client.post(
        f"/employer/groups/{a}/pay",
        data={
            "csrf_token": token,
            "nonce": "n",
            "pay_what": "amount",
            "amount": "10",
            "method": "card",
        },
    )
    assert paying_a.status_code == 404
    # B's own pay form cannot name A's invoice either.
    form_b = pay_form(stripe_client, b)
    via_b = stripe_client.post(
        f"/employer/groups/{b}/pay",
        data={**form_b, "pay_what": "invoices", "invoice_ids": cast.invoice_a.id, "method": "card"},
    )
    assert via_b.status_code == 200 and "not open" in via_b.get_data(as_text=True)
    assert count(session, Checkout) == 1
    assert len(fake_stripe.created("checkout.session")) == 1


def test_the_local_test_checkout_is_not_there_with_stripe_keys(
    stripe_client, login_stripe, cast, session
):
    login_stripe()
    checkout = start_checkout(stripe_client, cast, session)
    url = f"/employer/groups/{cast.group_a.id}/checkouts/{checkout.id}/test"
    assert stripe_client.get(url).status_code == 404


# --- the local test checkout (no keys: `make serve`) ----------------------------------------


def start_local(client, cast, method="card"):
    form = pay_form(client, cast.group_a.id)
    response = client.post(
        f"/employer/groups/{cast.group_a.id}/pay",
        data={**form, "pay_what": "invoices", "invoice_ids": cast.invoice_a.id, "method": method},
    )
    assert response.status_code == 303
    return response.location


def test_paying_through_the_local_test_checkout(client, login_as, cast, session):
    login_as(cast.users["employer_a"])
    location = start_local(client, cast)
    assert "/checkouts/" in location and location.endswith("/test")
    page = client.get(location).get_data(as_text=True)
    assert "Test checkout — no real money moves" in page
    assert "4242 4242 4242 4242" in page and "$150.60" in page or "150.60" in page
    assert count(session, Payment) == 0
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)[1]
    paid = client.post(location, data={"csrf_token": token, "bank_outcome": "succeeds"})
    assert paid.status_code == 303 and paid.location.endswith("/success")
    assert owed(session, cast) == 0
    events = session.scalars(select(WebhookEvent.event_type)).all()
    assert events == ["checkout.session.completed"]
    again = client.post(location, data={"csrf_token": token, "bank_outcome": "succeeds"})
    assert again.status_code == 303 and count(session, Payment) == 1
    payments = client.get(f"/employer/groups/{cast.group_a.id}/payments").get_data(as_text=True)
    assert "Succeeded" in payments and cast.invoice_a.invoice_number in payments


def test_a_local_ach_payment_stays_pending(client, login_as, cast, session):
    login_as(cast.users["employer_a"])
    location = start_local(client, cast, method="ach_debit")
    token = csrf_token(client, location)
    client.post(location, data={"csrf_token": token, "bank_outcome": "pending"})
    payment = session.scalar(select(Payment))
    assert payment.status is PaymentStatus.PENDING
    assert owed(session, cast) == D("150.60")
    html = client.get(f"/employer/groups/{cast.group_a.id}/payments").get_data(as_text=True)
    assert "Pending" in html and "Applied when the bank confirms it" in html
    success = client.get(location.replace("/test", "/success")).get_data(as_text=True)
    assert "pending" in success


def test_the_local_test_checkout_is_404_in_production(session_factory, cast, session, monkeypatch):
    from billing_core import security
    from billing_core.config import Settings
    from billing_core.payments.online import start_checkout
    from billing_core.users import second_factor

    # The production app configures its own keys: the process gets its own back afterwards.
    monkeypatch.setattr(security, "_vault", security.vault())
    monkeypatch.setattr(second_factor, "_cipher", second_factor._cipher)

    checkout, _ = start_checkout(
        session,
        group=cast.group_a,
        user=cast.users["employer_a"],
        method=PaymentMethod.CARD,
        invoice_ids=[cast.invoice_a.id],
        amount=None,
        nonce="p",
    )
    session.commit()
    settings = Settings.from_env(PRODUCTION_ENV)
    assert settings.stripe_webhook_secret == ""
    app = create_app(
        {
            "TESTING": True,
            "SESSION_FACTORY": session_factory,
            "SERVER_NAME": "portal.test",
            "SETTINGS": settings,
            "SESSION_COOKIE_SECURE": False,
        }
    )
    client = app.test_client()
    from tests.factories import PASSWORD

    token = csrf_token(client, "/login")
    client.post(
        "/login",
        data={"email": cast.users["employer_a"].email, "password": PASSWORD, "csrf_token": token},
    )
    url = f"/employer/groups/{cast.group_a.id}/checkouts/{checkout.id}/test"
    assert client.get(url).status_code == 404
    # Without a webhook secret in production, every webhook is refused.
    assert post_event(client, completed_for(checkout)).status_code == 400


def test_using_credit_pays_the_open_invoice(client, login_as, cast, session):
    payment, _ = record_payment(
        session,
        group=cast.group_a,
        amount=D("200.00"),
        method=PaymentMethod.CHECK,
        received_on=date(2027, 1, 5),
        source=PaymentSource.STAFF,
        reference="1001",
    )
    for allocation in live_allocations(session, payment):
        unallocate(session, allocation, on=date(2027, 1, 6), reason="test: keep as credit")
    session.commit()
    assert owed(session, cast) == D("150.60")
    login_as(cast.users["employer_a"])
    url = f"/employer/groups/{cast.group_a.id}/payments"
    html = client.get(url).get_data(as_text=True)
    assert "Use my credit" in html and "$200.00" in html or "200.00" in html
    token = csrf_token(client, url)
    refused = client.post(
        f"/employer/groups/{cast.group_a.id}/credit/apply", data={"csrf_token": token}
    )
    assert refused.status_code == 303 and owed(session, cast) == D("150.60")
    used = client.post(
        f"/employer/groups/{cast.group_a.id}/credit/apply",
        data={"csrf_token": token, "confirm": "y"},
    )
    assert used.status_code == 303
    assert owed(session, cast) == 0
    after = client.get(url).get_data(as_text=True)
    assert "$150.60 of credit was applied" in after


def test_forms_need_their_csrf_token(client, login_as, cast, session):
    login_as(cast.users["employer_a"])
    response = client.post(
        f"/employer/groups/{cast.group_a.id}/pay",
        data={"nonce": "n", "pay_what": "amount", "amount": "10", "method": "card"},
    )
    assert response.status_code == 400
    assert (
        client.post(
            f"/employer/groups/{cast.group_a.id}/credit/apply", data={"confirm": "y"}
        ).status_code
        == 400
    )
    assert count(session, Checkout) == 0
