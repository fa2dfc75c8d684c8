"""A webhook body signed with the right secret but not shaped as a Stripe event answers 400 and
is kept as rejected for staff to see, never an HTTP 500 (issue 17, finding 6)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from billing_core.models import Payment, WebhookEvent
from billing_core.payments.online import REJECTED
from tests.fake_stripe import signature

INTENT = {"id": "pi_ok", "amount": 100}
BODIES = {
    "a list": [1, 2],
    "a string": "hello",
    "data is a list": {
        "id": "evt_m1",
        "type": "payment_intent.succeeded",
        "created": 1,
        "data": [],
    },
    "object is a list": {
        "id": "evt_m2",
        "type": "payment_intent.succeeded",
        "created": 1,
        "data": {"object": [1]},
    },
    "created is text": {
        "id": "evt_m3",
        "type": "payment_intent.succeeded",
        "created": "abc",
        "data": {"object": INTENT},
    },
    "created is past year 9999": {
        "id": "evt_m4",
        "type": "payment_intent.succeeded",
        "created": 10**20,
        "data": {"object": INTENT},
    },
    "intent without id": {
        "id": "evt_m5",
        "type": "payment_intent.succeeded",
        "created": 1,
        "data": {"object": {"amount": 100}},
    },
    "amount is text": {
        "id": "evt_m6",
        "type": "payment_intent.succeeded",
        "created": 1,
        "data": {"object": {"id": "pi_m6", "amount": "lots"}},
    },
    "metadata is a list": {
        "id": "evt_m7",
        "type": "payment_intent.succeeded",
        "created": 1,
        "data": {"object": {"id": "pi_m7", "amount": 100, "metadata": [1]}},
    },
    "intent id is a number": {
        "id": "evt_m8",
        "type": "payment_intent.succeeded",
        "created": 1,
        "data": {"object": {"id": 5, "amount": 100}},
    },
    "payment_intent is an object": {
        "id": "evt_m9",
        "type": "checkout.session.completed",
        "created": 1,
        "data": {"object": {"payment_intent": {"a": 1}, "amount_total": 100}},
    },
    "method types is a number": {
        "id": "evt_m10",
        "type": "payment_intent.succeeded",
        "created": 1,
        "data": {"object": {"id": "pi_m10", "amount": 100, "payment_method_types": 5}},
    },
    "an id too long to keep": {
        "id": "evt_" + "x" * 500,
        "type": "payment_intent.succeeded",
        "created": 1,
        "data": {"object": INTENT},
    },
}


def _post(web_app, client, body):
    payload = json.dumps(body)
    secret = web_app.config["SETTINGS"].stripe_webhook_secret
    return client.post(
        "/webhooks/stripe",
        data=payload.encode(),
        headers={
            "Stripe-Signature": signature(payload, secret),
            "Content-Type": "application/json",
        },
    )


@pytest.mark.parametrize("name", list(BODIES))
def test_a_signed_malformed_event_is_400_and_kept_as_rejected(web_app, client, session, name):
    response = _post(web_app, client, BODIES[name])
    assert response.status_code == 400
    assert response.get_json()["error"].startswith(REJECTED)
    kept = session.scalars(select(WebhookEvent)).all()
    assert len(kept) == 1 and kept[0].outcome.startswith(REJECTED)
    assert session.scalar(select(func.count(Payment.id))) == 0
    again = _post(web_app, client, BODIES[name])  # Stripe retries: the same answer, one row
    assert again.status_code == 400 and again.get_json()["duplicate"] is True
    assert session.scalar(select(func.count(WebhookEvent.id))) == 1


def test_staff_see_rejected_events_with_those_not_applied(web_app, client, cast, login_as):
    _post(web_app, client, BODIES["amount is text"])
    login_as(cast.users["supervisor"])
    page = client.get("/admin/reports/stripe_events", query_string={"show": "attention"})
    assert "evt_m6" in page.get_data(as_text=True)
