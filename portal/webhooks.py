"""Stripe's webhook: the only way an online payment is recorded. The signature is verified,
the event processed once (billing_core.payments.online), then committed. No CSRF token (Stripe
cannot send one): the signature is the proof."""

from __future__ import annotations

from flask import Blueprint, current_app, request
from sqlalchemy.exc import IntegrityError

from billing_core.errors import WebhookSignatureInvalid
from billing_core.payments.online import receive_webhook
from portal.extensions import csrf, db_session
from portal.web import NotYet, Reply, run_action

bp = Blueprint("webhooks", __name__)


@bp.post("/stripe")
@csrf.exempt
def stripe_event():
    return run_action(_receive, refused=_refused)


def _refused(error):
    """A signature (or body) that does not verify: 400, nothing read. Anything else is ours
    to fix (500, and Stripe delivers the event again)."""
    if not isinstance(error, WebhookSignatureInvalid):
        raise error
    return {"error": str(error)}, 400


def _receive():
    """The event processed and committed: its answer for Stripe (400 for a signed event we
    cannot read, which is kept for staff)."""
    try:
        result = receive_webhook(
            db_session(),
            request.get_data(),
            request.headers.get("Stripe-Signature"),
            secret=current_app.config["SETTINGS"].stripe_webhook_secret,
        )
    except IntegrityError:
        # The same event delivered twice at once: the other delivery recorded it.
        return NotYet(lambda: ({"received": True, "duplicate": True}, 200))
    if result.rejected:
        return Reply(lambda: ({"error": result.outcome, "duplicate": result.duplicate}, 400))
    return Reply(
        lambda: (
            {"received": True, "duplicate": result.duplicate, "outcome": result.outcome},
            200,
        )
    )
