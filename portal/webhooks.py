"""Stripe's webhook: the only way an online payment is recorded. The signature is verified,
the event processed once (billing_core.payments.online), then committed. No CSRF token (Stripe
cannot send one): the signature is the proof."""

from __future__ import annotations

from flask import Blueprint, current_app, request
from sqlalchemy.exc import IntegrityError

from billing_core.errors import WebhookSignatureInvalid
from billing_core.payments.online import receive_webhook
from portal.extensions import csrf, db_session

bp = Blueprint("webhooks", __name__)


@bp.post("/stripe")
@csrf.exempt
def stripe_event():
    session = db_session()
    try:
        result = receive_webhook(
            session,
            request.get_data(),
            request.headers.get("Stripe-Signature"),
            secret=current_app.config["SETTINGS"].stripe_webhook_secret,
        )
        session.commit()
    except WebhookSignatureInvalid as exc:
        session.rollback()
        return {"error": str(exc)}, 400
    except IntegrityError:
        # The same event delivered twice at once: the other delivery recorded it.
        session.rollback()
        return {"received": True, "duplicate": True}, 200
    if result.rejected:  # signed, but not an event we can read: kept for staff, refused
        return {"error": result.outcome, "duplicate": result.duplicate}, 400
    return {"received": True, "duplicate": result.duplicate, "outcome": result.outcome}, 200
