"""Staff: refunds. Ask to refund a payment's credit; the refunds queue, where another staff
member approves (a supervisor above the authority limit: four eyes enforced by
billing_core.payments.refunds), rejects or withdraws a request, and marks a check sent."""

from __future__ import annotations

from flask import current_app, request, url_for
from flask_login import current_user

from admin import bp
from admin.actions import confirm_form, load_or_404, submit_form
from admin.forms import DecisionNoteForm, RefundPaidForm, RefundRequestForm
from admin.views.cash import next_or, render_cash_page
from billing_core.errors import BillingError
from billing_core.models import Payment, Refund
from billing_core.models.enums import RefundStatus
from billing_core.money import format_dollars
from billing_core.payments import review
from billing_core.payments.refunds import (
    ONLINE_METHODS,
    RefundGateway,
    approve_refund,
    mark_refund_paid,
    refund_authority,
    reject_refund,
    request_refund,
    withdraw_refund,
)
from billing_core.payments.stripe_gateway import gateway_from_settings
from billing_core.payments.worklists import (
    method_label,
    payment_label,
    refund_payee,
    user_name,
)
from portal.confirmation import Ask, Done
from portal.extensions import db_session
from portal.web import authority_limit, format_date, paginate, today


def refund_gateway() -> RefundGateway | None:
    """The processor refund for card and ACH debit payments, the one place it is built: Stripe
    from the app settings, or None without keys (approval then leaves the refund in refunds
    payable and staff mark it paid once refunded in the Stripe dashboard)."""
    gateway = gateway_from_settings(current_app.config["SETTINGS"])
    return gateway.refund if gateway else None


@bp.post("/payments/<int:payment_id>/refund")
def refund_request(payment_id: int):
    payment = load_or_404(Payment, payment_id)
    back = url_for("admin.payment_detail", payment_id=payment.id)
    return confirm_form(
        RefundRequestForm(),
        lambda form: _requested(payment, form, back),
        back=back,
        failure="Refund not requested",
    )


def _requested(payment: Payment, form: RefundRequestForm, back: str) -> Done:
    refund = request_refund(
        db_session(), payment, form.amount.data, reason=form.reason.data, actor=current_user
    )
    ask = Ask(
        title=f"Ask to refund {format_dollars(refund.amount)}?",
        button=f"Confirm: request a refund of {format_dollars(refund.amount)}",
        rows=[("From payment", payment_label(payment)), ("Reason", refund.reason)],
        total=("Refund requested", refund.amount),
        notes=[
            "Nothing is paid yet: another staff member approves it in the refunds queue "
            f"(a supervisor above {format_dollars(authority_limit())})."
        ],
        cancel=back,
    )
    return Done(
        f"Refund {refund.id} of {format_dollars(refund.amount)} requested; another staff "
        "member approves it in the refunds queue.",
        link=(url_for("admin.refund_queue", status="requested"), "See the refunds queue"),
        ask=ask,
    )


@bp.get("/refunds")
def refund_queue():
    status = request.args.get("status", "open")
    if status not in review.REFUND_FILTERS:
        status = "open"
    paid_form = RefundPaidForm()
    paid_form.paid_on.data = today()
    return render_cash_page(
        "admin/payments/refunds.html",
        page=paginate(review.refund_queue_query(status), per_page=50, rows=True),
        status=status,
        filters=list(review.REFUND_FILTERS),
        decision_form=DecisionNoteForm(),
        paid_form=paid_form,
        online_methods=ONLINE_METHODS,
        refusal=_refusal,
    )


def _refusal(refund: Refund) -> str | None:
    """Why the current person may not approve `refund` (None: they may)."""
    return refund_authority(
        db_session(), refund, current_user, on=today(), authority_limit=authority_limit()
    ).refusal(current_user)


def _queue_back() -> str:
    return next_or(url_for("admin.refund_queue"))


@bp.post("/refunds/<int:refund_id>/approve")
def refund_approve(refund_id: int):
    refund = load_or_404(Refund, refund_id)
    back = _queue_back()
    return confirm_form(
        DecisionNoteForm(),
        lambda form: _approved(refund, form),
        ask=lambda form: _approval_ask(refund, back),
        back=back,
        failure=f"Refund {refund.id} not approved",
    )


def _approval_ask(refund: Refund, back: str) -> Ask:
    """Read-only: approval may refund through Stripe, which is never run to be undone."""
    if refund.status is not RefundStatus.REQUESTED:
        raise BillingError(f"this refund is already {refund.status.value}")
    refund_authority(
        db_session(), refund, current_user, on=today(), authority_limit=authority_limit()
    ).check(current_user)
    payment = refund.payment
    online = payment.method in ONLINE_METHODS and refund.suspense_item_id is None
    how = (
        f"It goes back to the {method_label(payment.method).lower()} through Stripe now."
        if online
        else "It waits in refunds payable until you mark the check sent."
    )
    amount = format_dollars(refund.amount)
    return Ask(
        title=f"Approve refund {refund.id} of {amount}?",
        button=f"Confirm: approve the refund of {amount}",
        rows=[
            ("To", refund_payee(db_session(), refund)),
            ("From", payment_label(payment)),
            ("Reason", refund.reason),
            ("Requested by", user_name(db_session(), refund.requested_by_id)),
        ],
        total=("Refund", refund.amount),
        notes=[how],
        cancel=back,
    )


def _approved(refund: Refund, form: DecisionNoteForm) -> Done:
    approve_refund(
        db_session(),
        refund,
        actor=current_user,
        on=today(),
        note=form.note.data or "",
        gateway=refund_gateway(),
        authority_limit=authority_limit(),
    )
    amount = format_dollars(refund.amount)
    link = (url_for("admin.refund_queue", status="all"), "See the refunds")
    if refund.status.value == "paid":
        return Done(f"Refund {refund.id} of {amount} approved and paid.", link=link)
    return Done(
        f"Refund {refund.id} of {amount} approved: it is in refunds payable until you mark "
        "the check sent.",
        link=link,
    )


@bp.post("/refunds/<int:refund_id>/reject")
def refund_reject(refund_id: int):
    return _closed(refund_id, reject_refund, "rejected")


@bp.post("/refunds/<int:refund_id>/withdraw")
def refund_withdraw(refund_id: int):
    return _closed(refund_id, withdraw_refund, "withdrawn")


def _closed(refund_id: int, close, closed_as: str):
    """Reject or withdraw a refund request (`close`, a use case taking the reason): nothing
    is paid and the credit stays."""
    refund = load_or_404(Refund, refund_id)

    def closed(form: DecisionNoteForm) -> str:
        close(db_session(), refund, actor=current_user, reason=form.note.data or "")
        return (
            f"Refund {refund.id} of {format_dollars(refund.amount)} {closed_as}; the credit stays."
        )

    return submit_form(
        DecisionNoteForm(),
        closed,
        back=_queue_back(),
        failure=f"Refund {refund.id} not {closed_as}",
    )


@bp.post("/refunds/<int:refund_id>/paid")
def refund_mark_paid(refund_id: int):
    refund = load_or_404(Refund, refund_id)
    back = _queue_back()
    return confirm_form(
        RefundPaidForm(),
        lambda form: _marked_paid(refund, form, back),
        back=back,
        failure=f"Refund {refund.id} not marked paid",
    )


def _marked_paid(refund: Refund, form: RefundPaidForm, back: str) -> Done:
    mark_refund_paid(db_session(), refund, on=form.paid_on.data, actor=current_user)
    amount = format_dollars(refund.amount)
    ask = Ask(
        title=f"Mark refund {refund.id} of {amount} paid?",
        button=f"Confirm: {amount} has gone out",
        rows=[
            ("To", refund_payee(db_session(), refund)),
            ("Sent on", format_date(form.paid_on.data)),
        ],
        total=("Paid out of cash", refund.amount),
        cancel=back,
    )
    return Done(
        f"Refund {refund.id} of {amount} marked paid (check sent).",
        link=(url_for("admin.refund_queue", status="paid"), "See the paid refunds"),
        ask=ask,
    )
