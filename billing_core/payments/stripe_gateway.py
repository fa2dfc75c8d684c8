"""Stripe, and only here: Checkout Sessions for online payments, refunds of card and ACH debit
payments, and webhook signature checks. Amounts cross the boundary as integer cents; every
create call carries an idempotency key, so a retry or a double click replays the same object.
The API base address is configuration (a local fake of the Stripe API in tests)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import stripe

from billing_core.errors import GatewayError, WebhookSignatureInvalid
from billing_core.models import Checkout, Payment, Refund
from billing_core.models.enums import PaymentMethod
from billing_core.money import to_cents_int

# Stripe's payment method type for each way an employer can pay online.
METHOD_TYPES = {PaymentMethod.CARD: "card", PaymentMethod.ACH_DEBIT: "us_bank_account"}


@dataclass(frozen=True)
class CheckoutSession:
    session_id: str
    url: str


@dataclass(frozen=True)
class StripeGateway:
    """A configured connection to Stripe: `api_base` empty means Stripe itself."""

    secret_key: str
    api_base: str = ""

    @contextmanager
    def _client(self) -> Iterator[stripe.StripeClient]:
        # One HTTP session per use, closed afterwards: no pooled sockets outlive the request.
        http_client = stripe.RequestsClient()
        options: dict = {"http_client": http_client, "max_network_retries": 2}
        if self.api_base:
            options["base_addresses"] = {"api": self.api_base}
        try:
            yield stripe.StripeClient(self.secret_key, **options)
        except stripe.StripeError as exc:
            message = getattr(exc, "user_message", None) or "the payment service refused it"
            raise GatewayError(
                f"Stripe could not take this request ({message}). Nothing was charged; "
                "try again in a few minutes."
            ) from exc
        finally:
            http_client.close()

    def create_checkout_session(
        self,
        checkout: Checkout,
        *,
        group_number: str,
        description: str,
        success_url: str,
        cancel_url: str,
    ) -> CheckoutSession:
        """A hosted Checkout Session collecting `checkout.amount` (dollars, sent as cents) by the
        checkout's method. The metadata (on the session and on its PaymentIntent, so every later
        event can be tied back) names the checkout, the group and the invoices chosen."""
        metadata = {
            "checkout_id": str(checkout.id),
            "group_number": group_number,
            "invoice_ids": ",".join(str(i) for i in checkout.invoice_ids),
        }
        params = {
            "mode": "payment",
            "payment_method_types": [METHOD_TYPES[checkout.method]],
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": to_cents_int(checkout.amount),
                        "product_data": {"name": description[:250]},
                    },
                }
            ],
            "client_reference_id": str(checkout.id),
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata, "description": description[:250]},
            "success_url": success_url,
            "cancel_url": cancel_url,
        }
        with self._client() as client:
            created = client.v1.checkout.sessions.create(
                params=params, options={"idempotency_key": checkout.idempotency_key}
            )
        return CheckoutSession(session_id=created.id, url=created.url)

    def refund(self, payment: Payment, refund: Refund) -> tuple[str, bool]:
        """The RefundGateway of `refunds.approve_refund`: refund `refund.amount` of the payment's
        PaymentIntent. Returns (Stripe refund id, settled now?); a refund still pending is
        marked paid by the `charge.refunded` webhook."""
        if not payment.external_id:
            raise GatewayError("this payment has no Stripe PaymentIntent to refund")
        with self._client() as client:
            created = client.v1.refunds.create(
                params={
                    "payment_intent": payment.external_id,
                    "amount": to_cents_int(refund.amount),
                    "metadata": {"refund_id": str(refund.id), "payment_id": str(payment.id)},
                },
                options={"idempotency_key": f"refund-{refund.id}"},
            )
        return created.id, created.status == "succeeded"


def gateway_from_settings(settings) -> StripeGateway | None:
    """The gateway the app's settings configure (`stripe_secret_key`, `stripe_api_base`), or
    None without a key: then there is no Stripe, and refunds wait in refunds payable."""
    if not settings.stripe_secret_key:
        return None
    return StripeGateway(settings.stripe_secret_key, settings.stripe_api_base)


def verify_event(payload: bytes, sig_header: str | None, secret: str) -> dict:
    """The event in a webhook body, as plain JSON data, once its Stripe-Signature header
    verifies against `secret` (and its timestamp is within Stripe's five-minute tolerance).
    Anything else raises WebhookSignatureInvalid."""
    if not secret or not sig_header:
        raise WebhookSignatureInvalid("the webhook carries no valid signature")
    try:
        text = payload.decode("utf-8")
        # The check stripe.Webhook.construct_event makes (signature and tolerance), without
        # building its Event: that crashes on signed JSON that is not an object, which
        # online.handle_event keeps as rejected instead.
        stripe.WebhookSignature.verify_header(
            text, sig_header, secret, stripe.Webhook.DEFAULT_TOLERANCE
        )
        return json.loads(text)
    except (stripe.SignatureVerificationError, ValueError, UnicodeDecodeError) as exc:
        raise WebhookSignatureInvalid("the webhook signature does not verify") from exc


def sign_payload(payload: str, secret: str, timestamp: int) -> str:
    """A Stripe-Signature header for `payload` (Stripe's scheme: t=<ts>,v1=HMAC-SHA256 of
    "<ts>.<payload>"). Used by the local test checkout, which has no Stripe to sign for it."""
    digest = hmac.new(
        secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"
