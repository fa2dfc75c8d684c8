"""Staff: write-offs. Write off what a payment left open on an invoice (alone within the
authority limit, else as a request), and the queue where a supervisor who did not ask approves,
or the asker withdraws, a request above it (billing_core.payments.write_offs)."""

from __future__ import annotations

from flask import request, url_for
from flask_login import current_user

from admin import bp
from admin.actions import confirm_form, load_or_404, submit_form
from admin.forms import DecisionNoteForm, WriteOffForm
from admin.views.cash import invoice_url, next_or, render_cash_page
from billing_core.errors import NotFound
from billing_core.models import Invoice, Payment, WriteOffRequest
from billing_core.money import format_dollars
from billing_core.payments.worklists import open_balance, user_name
from billing_core.payments.write_offs import (
    approve_write_off,
    reject_write_off,
    withdraw_write_off,
    write_off_by_hand,
    write_off_queue_query,
)
from portal.confirmation import Ask, Done
from portal.extensions import db_session
from portal.web import authority_limit, paginate, today


@bp.post("/payments/<int:payment_id>/write-off")
def payment_write_off(payment_id: int):
    payment = load_or_404(Payment, payment_id)
    back = next_or(url_for("admin.payment_detail", payment_id=payment.id))
    return confirm_form(
        WriteOffForm(),
        lambda form: _written_off(payment, form, back),
        back=back,
        failure="Nothing written off",
    )


def _written_off(payment: Payment, form: WriteOffForm, back: str) -> Done:
    """Within the person's authority: written off. Above it: a request for a supervisor."""
    session = db_session()
    invoice = session.get(Invoice, form.invoice_id.data)
    if invoice is None or invoice.group_id != payment.group_id:
        raise NotFound("that invoice is not one of this group's.")
    owed = open_balance(session, invoice)
    outcome = write_off_by_hand(
        session,
        invoice,
        form.amount.data,
        on=today(),
        reason=f"{form.reason.data} (payment {payment.reference or payment.id})",
        actor=current_user,
        payment=payment,
        authority_limit=authority_limit(),
    )
    amount = format_dollars(outcome.amount)
    rows = [
        ("Invoice", invoice.invoice_number),
        ("Open balance now", owed),
        ("Reason", form.reason.data),
    ]
    if outcome.request is None:
        ask = Ask(
            title=f"Write off {amount} on {invoice.invoice_number}?",
            button=f"Confirm: write off {amount}",
            rows=[*rows, ("Open balance after", owed - outcome.amount)],
            total=("Written off", outcome.amount),
            cancel=back,
            danger=True,
        )
        return Done(
            f"Wrote off {amount} on {invoice.invoice_number}.",
            link=(invoice_url(invoice), f"Open {invoice.invoice_number}"),
            ask=ask,
        )
    ask = Ask(
        title=f"Ask a supervisor to write off {amount}?",
        button=f"Confirm: request a write-off of {amount}",
        rows=[*rows, ("Open balance meanwhile", owed)],
        total=("Write-off requested", outcome.amount),
        notes=[
            f"Above your authority: {outcome.rule.reason}. Nothing is written off until "
            "a supervisor who did not ask approves it under Write-offs."
        ],
        cancel=back,
    )
    return Done(
        f"Nothing written off: {outcome.rule.reason}. It waits as write-off request "
        f"{outcome.request.id} on {invoice.invoice_number} for a supervisor who did not ask.",
        link=(url_for("admin.write_off_queue"), "See the write-offs to approve"),
        ask=ask,
    )


@bp.get("/write-offs")
def write_off_queue():
    status = request.args.get("status", "requested")
    return render_cash_page(
        "admin/payments/write_offs.html",
        page=paginate(write_off_queue_query(status), per_page=50, rows=True),
        status=status,
        decision_form=DecisionNoteForm(),
        user_name=lambda user_id: user_name(db_session(), user_id),
    )


def _queue_back() -> str:
    return next_or(url_for("admin.write_off_queue"))


@bp.post("/write-offs/<int:request_id>/approve")
def write_off_approve(request_id: int):
    asked = load_or_404(WriteOffRequest, request_id)
    back = _queue_back()
    return confirm_form(
        DecisionNoteForm(),
        lambda form: _approved(asked, form, back),
        back=back,
        failure=f"Write-off {asked.id} not approved",
    )


def _approved(asked: WriteOffRequest, form: DecisionNoteForm, back: str) -> Done:
    session = db_session()
    invoice = session.get(Invoice, asked.invoice_id)
    owed = open_balance(session, invoice)
    approve_write_off(session, asked, actor=current_user, on=today(), note=form.note.data or "")
    amount = format_dollars(asked.amount)
    ask = Ask(
        title=f"Approve the write-off of {amount} on {invoice.invoice_number}?",
        button=f"Confirm: write off {amount}",
        rows=[
            ("Invoice", invoice.invoice_number),
            ("Asked by", user_name(session, asked.requested_by_id)),
            ("Reason", asked.reason),
            ("Open balance now", owed),
            ("Open balance after", owed - asked.amount),
        ],
        total=("Written off", asked.amount),
        cancel=back,
        danger=True,
    )
    return Done(
        f"Write-off {asked.id} approved: {amount} written off on {invoice.invoice_number}.",
        link=(invoice_url(invoice), f"Open {invoice.invoice_number}"),
        ask=ask,
    )


@bp.post("/write-offs/<int:request_id>/reject")
def write_off_reject(request_id: int):
    return _closed(request_id, reject_write_off, "rejected")


@bp.post("/write-offs/<int:request_id>/withdraw")
def write_off_withdraw(request_id: int):
    return _closed(request_id, withdraw_write_off, "withdrawn")


def _closed(request_id: int, close, closed_as: str):
    """Reject or withdraw a write-off request (`close`, a use case taking the reason): nothing
    is written off and the balance stays open."""
    asked = load_or_404(WriteOffRequest, request_id)

    def closed(form: DecisionNoteForm) -> str:
        close(db_session(), asked, actor=current_user, reason=form.note.data or "")
        return (
            f"Write-off {asked.id} of {format_dollars(asked.amount)} {closed_as}; the balance "
            "stays open."
        )

    return submit_form(
        DecisionNoteForm(),
        closed,
        back=_queue_back(),
        failure=f"Write-off {asked.id} not {closed_as}",
    )
