"""The Stripe gateway against the local fake of Stripe's API, and the webhook dispatch against
signed Stripe-shaped events: payments recorded once, ACH pending until it settles, failures,
chargebacks and refunds, each checked against the ledger."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import func, select

from billing_core import ledger
from billing_core.errors import CheckoutError, GatewayError, WebhookSignatureInvalid
from billing_core.ledger import Chart
from billing_core.models import Checkout, JournalEntry, Payment, WebhookEvent
from billing_core.models.enums import (
    CheckoutStatus,
    PaymentMethod,
    PaymentSource,
    PaymentStatus,
    RefundStatus,
)
from billing_core.money import D
from billing_core.payments.allocation import open_balances
from billing_core.payments.online import (
    handle_event,
    pay_local_test_checkout,
    receive_webhook,
    start_checkout,
)
from billing_core.payments.receipts import record_payment
from billing_core.payments.refunds import approve_refund, request_refund
from billing_core.payments.stripe_gateway import (
    StripeGateway,
    sign_payload,
)
from tests.factories import PRODUCTION_ENV, scenario
from tests.fake_stripe import TEST_WEBHOOK_SECRET, event, serve_fake_stripe, signed

ON = date(2027, 1, 5)
CREATED = 1_799_000_000  # 2027-01-03 UTC


@pytest.fixture
def cast(session):
    return scenario(session)


@pytest.fixture
def fake_stripe():
    state, stop = serve_fake_stripe()
    yield state
    stop()


def owed(session, cast, invoice=None):
    invoice = invoice or cast.invoice_a
    return open_balances(session, cast.group_a).get(invoice.id, D("0.00"))


def receipts(session, payment) -> int:
    return session.scalar(
        select(func.count(JournalEntry.id)).where(
            JournalEntry.source_type == "payment", JournalEntry.source_id == payment.id
        )
    )


def checkout_a(session, cast, method=PaymentMethod.CARD, nonce="n1"):
    checkout, _ = start_checkout(
        session,
        group=cast.group_a,
        user=cast.users["employer_a"],
        method=method,
        invoice_ids=[cast.invoice_a.id],
        amount=None,
        nonce=nonce,
    )
    return checkout


def completed(checkout, *, intent="pi_1", paid=True, event_id=None):
    return event(
        "checkout.session.completed",
        {
            "id": "cs_test_1",
            "object": "checkout.session",
            "amount_total": int(checkout.amount * 100),
            "payment_intent": intent,
            "payment_status": "paid" if paid else "unpaid",
            "metadata": {
                "checkout_id": str(checkout.id),
                "group_number": "",
                "invoice_ids": ",".join(map(str, checkout.invoice_ids)),
            },
            "payment_method_types": ["card" if paid else "us_bank_account"],
        },
        event_id=event_id,
        created=CREATED,
    )


def intent_event(kind, intent="pi_1", amount=15060, **extra):
    obj = {"id": intent, "object": "payment_intent", "amount": amount, "metadata": {}, **extra}
    return event(kind, obj, created=CREATED)


def deliver(session, evt, secret=TEST_WEBHOOK_SECRET):
    body, header = signed(evt, secret)
    return receive_webhook(session, body, header, secret=TEST_WEBHOOK_SECRET)


# --- checkout sessions and refunds through the fake ------------------------------------------


def test_checkout_session_is_created_with_an_idempotency_key(session, cast, fake_stripe):
    checkout = checkout_a(session, cast)
    gateway = StripeGateway("sk_test_fake", fake_stripe.url)
    created = gateway.create_checkout_session(
        checkout,
        group_number=cast.group_a.group_number,
        description="Premium",
        success_url="https://portal.test/ok",
        cancel_url="https://portal.test/cancel",
    )
    again = gateway.create_checkout_session(
        checkout,
        group_number=cast.group_a.group_number,
        description="Premium",
        success_url="https://portal.test/ok",
        cancel_url="https://portal.test/cancel",
    )
    assert again == created
    assert len(fake_stripe.created("checkout.session")) == 1
    posts = [r for r in fake_stripe.requests if r.method == "POST"]
    assert [r.headers["Idempotency-Key"] for r in posts] == [checkout.idempotency_key] * 2
    params = posts[0].params
    assert params["line_items"]["0"]["price_data"]["unit_amount"] == "15060"
    assert params["payment_method_types"] == {"0": "card"}
    assert params["metadata"]["checkout_id"] == str(checkout.id)
    assert params["payment_intent_data"]["metadata"]["invoice_ids"] == str(cast.invoice_a.id)
    assert params["success_url"] == "https://portal.test/ok"
    assert posts[0].headers["Authorization"] == "Bearer sk_test_fake"


def test_ach_checkout_asks_for_a_us_bank_account(session, cast, fake_stripe):
    checkout = checkout_a(session, cast, PaymentMethod.ACH_DEBIT)
    StripeGateway("sk_test_fake", fake_stripe.url).create_checkout_session(
        checkout, group_number="G", description="d", success_url="s", cancel_url="c"
    )
    assert fake_stripe.requests[0].params["payment_method_types"] == {"0": "us_bank_account"}


def test_stripe_refusing_is_a_gateway_error(session, cast, fake_stripe):
    checkout = checkout_a(session, cast)
    gateway = StripeGateway("sk_test_fake", fake_stripe.url + "/nothing-here")
    with pytest.raises(GatewayError, match="Nothing was charged"):
        gateway.create_checkout_session(
            checkout, group_number="G", description="d", success_url="s", cancel_url="c"
        )


def test_refund_goes_through_the_gateway_with_its_idempotency_key(session, cast, fake_stripe):
    payment, _ = record_payment(
        session,
        group=cast.group_a,
        amount=D("200.60"),
        method=PaymentMethod.CARD,
        received_on=ON,
        source=PaymentSource.ONLINE,
        external_id="pi_refund_me",
    )
    refund = request_refund(
        session, payment, D("50.00"), reason="overpaid January", actor=cast.users["supervisor"]
    )
    gateway = StripeGateway("sk_test_fake", fake_stripe.url)
    approve_refund(session, refund, actor=cast.users["admin"], on=ON, gateway=gateway.refund)
    assert refund.status is RefundStatus.PAID
    assert refund.external_id.startswith("re_fake_")
    post = fake_stripe.requests[-1]
    assert post.path == "/v1/refunds"
    assert post.headers["Idempotency-Key"] == f"refund-{refund.id}"
    assert post.params["payment_intent"] == "pi_refund_me"
    assert post.params["amount"] == "5000"
    # The same refund asked again is the same Stripe refund.
    assert gateway.refund(payment, refund) == (refund.external_id, True)
    assert len(fake_stripe.created("refund")) == 1


def test_a_pending_stripe_refund_is_paid_by_charge_refunded(session, cast, fake_stripe):
    fake_stripe.refund_status = "pending"
    payment, _ = record_payment(
        session,
        group=cast.group_a,
        amount=D("200.60"),
        method=PaymentMethod.CARD,
        received_on=ON,
        source=PaymentSource.ONLINE,
        external_id="pi_r2",
    )
    refund = request_refund(
        session, payment, D("50.00"), reason="overpaid January", actor=cast.users["supervisor"]
    )
    gateway = StripeGateway("sk_test_fake", fake_stripe.url)
    approve_refund(session, refund, actor=cast.users["admin"], on=ON, gateway=gateway.refund)
    assert refund.status is RefundStatus.APPROVED
    refunded = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": "pi_r2",
        "amount_refunded": 5000,
        "refunds": {"data": [{"id": refund.external_id, "status": "succeeded"}]},
    }
    result = deliver(session, event("charge.refunded", refunded, created=CREATED))
    assert refund.status is RefundStatus.PAID, result.outcome
    assert "outside the portal" not in (payment.review_reason or "")


def test_a_refund_made_outside_the_portal_flags_the_payment(session, cast):
    payment, _ = record_payment(
        session,
        group=cast.group_a,
        amount=D("150.60"),
        method=PaymentMethod.CARD,
        received_on=ON,
        source=PaymentSource.ONLINE,
        external_id="pi_dash",
    )
    cash_before = ledger.account_balance(session, ledger.account(session, Chart.CASH))
    obj = {"id": "ch_2", "payment_intent": "pi_dash", "amount_refunded": 2000, "refunds": {}}
    result = deliver(session, event("charge.refunded", obj, created=CREATED))
    assert "outside the portal" in payment.review_reason
    assert "$20.00" in result.outcome
    outcome = session.scalar(
        select(WebhookEvent.outcome).where(WebhookEvent.event_id == result.event_id)
    )
    assert "flagged" in outcome
    # Nothing posted on its own: staff record it.
    assert ledger.account_balance(session, ledger.account(session, Chart.CASH)) == cash_before


# --- webhook verification and dispatch -------------------------------------------------------


def test_a_card_payment_delivered_twice_is_recorded_once(session, cast):
    checkout = checkout_a(session, cast)
    evt = completed(checkout)
    first = deliver(session, evt)
    second = deliver(session, evt)
    assert not first.duplicate and second.duplicate
    payments = session.scalars(select(Payment).where(Payment.external_id == "pi_1")).all()
    assert len(payments) == 1
    payment = payments[0]
    assert payment.status is PaymentStatus.SUCCEEDED
    assert payment.source is PaymentSource.ONLINE and payment.method is PaymentMethod.CARD
    assert payment.invoice_choice == [cast.invoice_a.id]
    assert receipts(session, payment) == 1
    assert owed(session, cast) == 0
    assert checkout.status is CheckoutStatus.COMPLETED and checkout.payment_id == payment.id
    assert session.scalar(select(func.count(WebhookEvent.id))) == 1


def test_the_same_payment_in_two_events_is_one_payment(session, cast):
    checkout = checkout_a(session, cast)
    deliver(session, completed(checkout))
    metadata = {"checkout_id": str(checkout.id)}
    deliver(session, intent_event("payment_intent.succeeded", metadata=metadata))
    assert session.scalar(select(func.count(Payment.id))) == 1


def test_a_bad_signature_is_refused_and_records_nothing(session, cast):
    checkout = checkout_a(session, cast)
    body, header = signed(completed(checkout), "whsec_someone_else")
    with pytest.raises(WebhookSignatureInvalid):
        receive_webhook(session, body, header, secret=TEST_WEBHOOK_SECRET)
    tampered_body, good_header = signed(completed(checkout))
    with pytest.raises(WebhookSignatureInvalid):
        receive_webhook(
            session, tampered_body.replace(b"15060", b"1"), good_header, secret=TEST_WEBHOOK_SECRET
        )
    with pytest.raises(WebhookSignatureInvalid):
        receive_webhook(session, body, None, secret=TEST_WEBHOOK_SECRET)
    assert session.scalar(select(func.count(Payment.id))) == 0
    assert session.scalar(select(func.count(WebhookEvent.id))) == 0
    assert owed(session, cast) == D("150.60")


def test_an_old_signature_is_refused(session, cast):
    checkout = checkout_a(session, cast)
    payload = json.dumps(completed(checkout))
    stale = sign_payload(payload, TEST_WEBHOOK_SECRET, 1_000_000_000)
    with pytest.raises(WebhookSignatureInvalid):
        receive_webhook(session, payload.encode(), stale, secret=TEST_WEBHOOK_SECRET)


def test_ach_stays_pending_until_it_succeeds(session, cast):
    checkout = checkout_a(session, cast, PaymentMethod.ACH_DEBIT)
    deliver(session, completed(checkout, paid=False))
    metadata = {"checkout_id": str(checkout.id)}
    deliver(session, intent_event("payment_intent.processing", metadata=metadata))
    payment = session.scalar(select(Payment).where(Payment.external_id == "pi_1"))
    assert payment.status is PaymentStatus.PENDING
    assert payment.method is PaymentMethod.ACH_DEBIT
    assert receipts(session, payment) == 0
    assert owed(session, cast) == D("150.60")
    deliver(session, intent_event("payment_intent.succeeded", metadata=metadata))
    assert payment.status is PaymentStatus.SUCCEEDED
    assert receipts(session, payment) == 1
    assert owed(session, cast) == 0


def test_processing_before_the_session_event_records_it_pending(session, cast):
    checkout = checkout_a(session, cast, PaymentMethod.ACH_DEBIT)
    metadata = {"checkout_id": str(checkout.id), "invoice_ids": str(cast.invoice_a.id)}
    deliver(session, intent_event("payment_intent.processing", metadata=metadata))
    deliver(session, completed(checkout, paid=False))
    payment = session.scalar(select(Payment))
    assert payment.status is PaymentStatus.PENDING
    assert checkout.status is CheckoutStatus.COMPLETED


def test_a_failed_ach_debit_posts_nothing(session, cast):
    checkout = checkout_a(session, cast, PaymentMethod.ACH_DEBIT)
    cash_before = ledger.account_balance(session, ledger.account(session, Chart.CASH))
    deliver(session, completed(checkout, paid=False))
    failure = {"message": "Insufficient funds", "code": "insufficient_funds"}
    deliver(session, intent_event("payment_intent.payment_failed", last_payment_error=failure))
    payment = session.scalar(select(Payment))
    assert payment.status is PaymentStatus.FAILED
    assert payment.status_reason == "Insufficient funds"
    assert receipts(session, payment) == 0
    assert ledger.account_balance(session, ledger.account(session, Chart.CASH)) == cash_before
    assert owed(session, cast) == D("150.60")
    # A late success for a failed debit changes nothing.
    deliver(session, intent_event("payment_intent.succeeded"))
    assert payment.status is PaymentStatus.FAILED and receipts(session, payment) == 0


def test_a_declined_attempt_with_no_payment_is_only_logged(session, cast):
    result = deliver(session, intent_event("payment_intent.payment_failed", intent="pi_x"))
    assert result.outcome.startswith("ignored")
    assert session.scalar(select(func.count(Payment.id))) == 0


def test_a_dispute_returns_the_payment_and_reopens_the_invoice(session, cast):
    checkout = checkout_a(session, cast)
    deliver(session, completed(checkout))
    assert owed(session, cast) == 0
    dispute = {"id": "dp_1", "object": "dispute", "payment_intent": "pi_1", "amount": 15060}
    deliver(session, event("charge.dispute.created", dispute, created=CREATED))
    payment = session.scalar(select(Payment))
    assert payment.status is PaymentStatus.RETURNED
    assert payment.status_reason == "Card chargeback"
    assert owed(session, cast) == D("150.60")
    again = deliver(session, event("charge.dispute.created", dispute, created=CREATED))
    assert "already returned" in again.outcome


def test_unknown_events_are_acknowledged_and_kept_as_ignored(session, cast):
    result = deliver(session, event("customer.created", {"id": "cus_1"}))
    assert result.outcome.startswith("ignored")
    row = session.scalar(select(WebhookEvent).where(WebhookEvent.event_id == result.event_id))
    assert row.event_type == "customer.created"


def test_a_payment_naming_no_checkout_goes_to_suspense(session, cast):
    deliver(session, intent_event("payment_intent.succeeded", intent="pi_stray", amount=999))
    payment = session.scalar(select(Payment).where(Payment.external_id == "pi_stray"))
    assert payment.group_id is None and payment.amount == D("9.99")
    assert payment.status is PaymentStatus.SUCCEEDED


# --- starting a checkout ---------------------------------------------------------------------


def test_checkout_defaults_to_the_open_balance_of_the_invoices_chosen(session, cast):
    checkout = checkout_a(session, cast)
    assert checkout.amount == D("150.60") and checkout.invoice_ids == [cast.invoice_a.id]
    same, created = start_checkout(
        session,
        group=cast.group_a,
        user=cast.users["employer_a"],
        method=PaymentMethod.CARD,
        invoice_ids=[],
        amount=D("5.00"),
        nonce="n1",
    )
    assert same is checkout and not created
    assert session.scalar(select(func.count(Checkout.id))) == 1


@pytest.mark.parametrize(
    "amount, invoices, message",
    [
        (None, [], "choose at least one invoice"),
        (D("0"), [], "above zero"),
        (D("-5"), [], "above zero"),
        (D("10.005"), [], "dollars and cents"),
        (D("1000000.00"), [], "limited to"),
        (None, ["B"], "not open"),
    ],
)
def test_checkout_refuses_what_cannot_be_paid(session, cast, amount, invoices, message):
    ids = [cast.invoice_b.id if i == "B" else i for i in invoices]
    with pytest.raises(CheckoutError, match=message):
        start_checkout(
            session,
            group=cast.group_a,
            user=cast.users["employer_a"],
            method=PaymentMethod.CARD,
            invoice_ids=ids,
            amount=amount,
            nonce="n2",
        )


def test_the_local_test_checkout_takes_the_webhook_path(session, cast):
    from datetime import UTC, datetime

    checkout = checkout_a(session, cast, PaymentMethod.ACH_DEBIT)
    checkout.session_id = "cs_local_x"
    results = pay_local_test_checkout(
        session,
        checkout,
        secret=TEST_WEBHOOK_SECRET,
        bank_outcome="succeeds",
        now=datetime.now(UTC),
    )
    assert [r.event_type for r in results] == [
        "checkout.session.completed",
        "payment_intent.processing",
        "payment_intent.succeeded",
    ]
    assert owed(session, cast) == 0
    again = pay_local_test_checkout(
        session,
        checkout,
        secret=TEST_WEBHOOK_SECRET,
        bank_outcome="succeeds",
        now=datetime.now(UTC),
    )
    assert all(r.duplicate for r in again)
    assert session.scalar(select(func.count(Payment.id))) == 1


def test_handle_event_keeps_what_is_not_an_event_as_rejected(session):
    from billing_core.models import WebhookEvent
    from billing_core.payments.online import REJECTED

    result = handle_event(session, {"hello": "world"})
    assert result.rejected and result.event_id.startswith("malformed-")
    kept = session.scalar(select(WebhookEvent).where(WebhookEvent.event_id == result.event_id))
    assert kept.outcome.startswith(REJECTED)
    assert handle_event(session, {"hello": "world"}).duplicate


# --- configuration and boundaries ------------------------------------------------------------


def test_only_the_gateway_imports_stripe():
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    importers = [
        str(path.relative_to(root))
        for folder in ("billing_core", "portal", "admin")
        for path in (root / folder).rglob("*.py")
        if any(
            line.strip().startswith(("import stripe", "from stripe"))
            for line in path.read_text().splitlines()
        )
    ]
    assert importers == ["billing_core/payments/stripe_gateway.py"]


def test_webhook_secret_defaults_for_development_only():
    from billing_core.config import DEV_STRIPE_WEBHOOK_SECRET, Settings
    from billing_core.errors import ConfigurationError

    assert Settings.from_env({}).stripe_webhook_secret == DEV_STRIPE_WEBHOOK_SECRET
    production = PRODUCTION_ENV
    assert Settings.from_env(production).stripe_webhook_secret == ""
    with pytest.raises(ConfigurationError, match="STRIPE_WEBHOOK_SECRET"):
        Settings.from_env({**production, "STRIPE_SECRET_KEY": "sk_live_x"})
