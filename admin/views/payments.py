"""Staff: cash. Record a check, wire or ACH credit; a group's ledger; one payment (allocate,
undo, return, refund, write off); the refunds queue (four eyes enforced by billing_core), the
suspense workbench and the manual reconciliation queue. Every change goes through one
billing_core use case, commits once and says what happened."""

from __future__ import annotations

from collections.abc import Callable

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from admin import bp
from admin.views.adjustments import authority_limit
from admin.views.payment_forms import (
    AllocateForm,
    ReconciledForm,
    RecordPaymentForm,
    RefundDecisionForm,
    RefundPaidForm,
    RefundRequestForm,
    ReturnForm,
    SuspenseApplyForm,
    SuspenseCloseForm,
    UndoAllocationForm,
    WriteOffForm,
)
from billing_core import audit
from billing_core.errors import BillingError
from billing_core.models import Invoice, Payment, PaymentAllocation, Refund, SuspenseItem
from billing_core.models.enums import PaymentMethod, PaymentSource
from billing_core.money import format_dollars
from billing_core.payments import review
from billing_core.payments.allocation import (
    allocate,
    open_invoices,
    unallocate,
    write_off,
)
from billing_core.payments.receipts import RETURN_REASONS, record_payment, return_payment
from billing_core.payments.refunds import (
    ONLINE_METHODS,
    RefundGateway,
    approve_refund,
    mark_refund_paid,
    reject_refund,
    request_refund,
    withdraw_refund,
)
from billing_core.payments.stripe_gateway import gateway_from_settings
from billing_core.payments.suspense import apply_suspense, close_suspense
from billing_core.receivables import (
    AGING_BUCKETS,
    Aging,
    account_summary,
    aging_by_group,
    payment_history,
)
from portal.extensions import db_session
from portal.web import client_ip, load_group, paginate, today


def refund_gateway() -> RefundGateway | None:
    """The processor refund for card and ACH debit payments, the one place it is built: Stripe
    from the app settings, or None without keys (approval then leaves the refund in refunds
    payable and staff mark it paid once refunded in the Stripe dashboard)."""
    gateway = gateway_from_settings(current_app.config["SETTINGS"])
    return gateway.refund if gateway else None


# --- plumbing --------------------------------------------------------------------------------


def _back(default: str) -> str:
    """Where to go after a POST: the form's `next` when it is a path on this site."""
    target = request.form.get("next", "")
    if target.startswith("/") and not target.startswith("//"):
        return target
    return default


def _form_errors(form) -> str:
    return " ".join(e for errors in form.errors.values() for e in errors)


def _act(action: Callable[[], str], back: str, failure: str):
    """Run one use case: commit and flash its message, or roll back and flash the domain error.
    Either way a 303 back to `back`."""
    session = db_session()
    try:
        message = action()
    except BillingError as error:
        session.rollback()
        flash(f"{failure}: {error}", "error")
        return redirect(back, 303)
    session.commit()
    flash(message, "success")
    return redirect(back, 303)


def _load_payment(payment_id: int) -> Payment:
    payment = db_session().get(Payment, payment_id)
    if payment is None:
        abort(404)
    return payment


def _method_label(method) -> str:
    return {
        "check": "Check",
        "wire": "Wire",
        "ach_credit": "ACH credit",
        "ach_debit": "ACH debit",
        "card": "Card",
        "lockbox": "Lockbox",
    }.get(method.value, method.value)


def _payment_label(payment: Payment) -> str:
    ref = f" {payment.reference}" if payment.reference else f" #{payment.id}"
    return f"{_method_label(payment.method)}{ref} of {format_dollars(payment.amount)}"


def _application_summary(payment: Payment) -> str:
    """What a payment just did, in a sentence: the invoices it paid and what they still owe,
    the credit left and any reconciliation flag."""
    session = db_session()
    if payment.group_id is None:
        return "Held in suspense until it is identified."
    view = review.payment_view(session, payment, today())
    owed = {invoice.id: balance for invoice, balance in view.open_items}
    paid = [
        f"{format_dollars(line.allocation.amount)} to {line.invoice.invoice_number} ("
        + (
            f"still owes {format_dollars(owed[line.invoice.id])}"
            if line.invoice.id in owed
            else "now paid in full"
        )
        + ")"
        for line in view.lines
        if not line.undone_by
    ]
    parts = [f"Paid {', '.join(paid)}." if paid else "It paid no invoice."]
    if view.unallocated > 0:
        parts.append(f"{format_dollars(view.unallocated)} is left as credit.")
    if view.needs_review:
        parts.append(f"Flagged for reconciliation: {payment.review_reason}.")
    return " ".join(parts)


def _cash_context(**context):
    context["queues"] = review.cash_queues(db_session())
    context["method_label"] = _method_label
    return context


# --- record a payment ------------------------------------------------------------------------


@bp.route("/payments/new", methods=["GET", "POST"])
def payment_new():
    session = db_session()
    form = RecordPaymentForm()
    preset = request.args.get("group_id", type=int)
    group = load_group(preset).group if preset else None
    if request.method == "GET":
        form.received_on.data = today()
        if group:
            form.group.data = group.group_number
    open_items = open_invoices(session, group) if group else []
    if form.validate_on_submit():
        try:
            payer = None if form.unidentified.data else review.find_group(session, form.group.data)
            invoice_ids = (
                review.invoice_ids_from_numbers(session, payer, form.invoices.data) if payer else []
            )
            payment, _ = record_payment(
                session,
                group=payer,
                amount=form.amount.data,
                method=PaymentMethod(form.method.data),
                received_on=form.received_on.data,
                source=PaymentSource.STAFF,
                reference=(form.reference.data or "").strip() or None,
                payer_name=(form.payer_name.data or "").strip() or None,
                invoice_ids=invoice_ids,
                suspense_reason=(form.suspense_reason.data or "").strip() or None,
                actor=current_user,
            )
        except BillingError as error:
            session.rollback()
            form.form_errors.append(f"Not recorded: {error}")
        else:
            summary = _application_summary(payment)
            session.commit()
            who = f"for {payer.name}" if payer else "as unidentified cash"
            flash(f"{_payment_label(payment)} recorded {who}. {summary}", "success")
            return redirect(url_for("admin.payment_detail", payment_id=payment.id), 303)
    return render_template(
        "admin/payments/new.html", **_cash_context(form=form, group=group, open_items=open_items)
    )


# --- a group's ledger ------------------------------------------------------------------------


@bp.get("/groups/<int:group_id>/ledger")
def group_ledger(group_id: int):
    scope = load_group(group_id)
    session = db_session()
    group = scope.group
    on = today()
    journal = paginate(review.group_journal_query(group), per_page=25, rows=True)
    return render_template(
        "admin/payments/ledger.html",
        group=group,
        on=on,
        summary=account_summary(session, group, on),
        open_items=open_invoices(session, group),
        aging=aging_by_group(session, on, [group.id]).get(group.id, Aging()),
        buckets=AGING_BUCKETS,
        payments=payment_history(session, group, limit=25),
        journal=journal,
        account_labels=review.ACCOUNT_LABELS,
        method_label=_method_label,
    )


# --- one payment -----------------------------------------------------------------------------


@bp.get("/payments/<int:payment_id>")
def payment_detail(payment_id: int):
    payment = _load_payment(payment_id)
    view = review.payment_view(db_session(), payment, today())
    return_form = ReturnForm()
    return_form.returned_on.data = today()
    return_form.charge_fee.data = bool(view.returned_payment_fee)
    refund_form = RefundRequestForm()
    refund_form.amount.data = view.refundable if view.refundable > 0 else None
    write_off_form = WriteOffForm()
    return render_template(
        "admin/payments/detail.html",
        view=view,
        payment=payment,
        label=_payment_label(payment),
        method_label=_method_label,
        allocate_form=AllocateForm(),
        undo_form=UndoAllocationForm(),
        return_form=return_form,
        refund_form=refund_form,
        write_off_form=write_off_form,
        write_off_limit=authority_limit(),
        reconciled_form=ReconciledForm(),
        return_reasons=RETURN_REASONS,
        online=payment.method in ONLINE_METHODS,
    )


@bp.post("/payments/<int:payment_id>/allocate")
def payment_allocate(payment_id: int):
    payment = _load_payment(payment_id)
    back = url_for("admin.payment_detail", payment_id=payment.id)
    form = AllocateForm()
    if not form.validate():
        flash(f"Not allocated: {_form_errors(form)}", "error")
        return redirect(back, 303)
    session = db_session()
    invoice = session.get(Invoice, form.invoice_id.data)
    if invoice is None:
        flash("Not allocated: that invoice does not exist.", "error")
        return redirect(back, 303)

    def act():
        made = allocate(session, payment, invoice, form.amount.data, on=today(), actor=current_user)
        audit.record(
            session,
            "payment.allocated",
            actor=current_user,
            target=made,
            group_id=payment.group_id,
            ip_address=client_ip(),
            detail={"payment_id": payment.id, "invoice_id": invoice.id, "amount": str(made.amount)},
        )
        return (
            f"Allocated {format_dollars(form.amount.data)} of {_payment_label(payment)} "
            f"to {invoice.invoice_number}."
        )

    return _act(act, back, "Not allocated")


@bp.post("/payments/<int:payment_id>/allocations/<int:allocation_id>/undo")
def allocation_undo(payment_id: int, allocation_id: int):
    payment = _load_payment(payment_id)
    session = db_session()
    allocation = session.get(PaymentAllocation, allocation_id)
    if allocation is None or allocation.payment_id != payment.id:
        abort(404)
    back = url_for("admin.payment_detail", payment_id=payment.id)
    form = UndoAllocationForm()
    if not form.validate():
        flash(f"Not undone: {_form_errors(form)}", "error")
        return redirect(back, 303)
    invoice = session.get(Invoice, allocation.invoice_id)

    def act():
        undo = unallocate(
            session, allocation, on=today(), reason=form.reason.data, actor=current_user
        )
        audit.record(
            session,
            "payment.unallocated",
            actor=current_user,
            target=undo,
            group_id=payment.group_id,
            ip_address=client_ip(),
            detail={"allocation_id": allocation.id, "reason": form.reason.data[:200]},
        )
        return (
            f"Undid {format_dollars(allocation.amount)} on {invoice.invoice_number}: the invoice "
            "is open again for that amount and the money is back as credit on the payment."
        )

    return _act(act, back, "Not undone")


@bp.post("/payments/<int:payment_id>/return")
def payment_return(payment_id: int):
    payment = _load_payment(payment_id)
    back = url_for("admin.payment_detail", payment_id=payment.id)
    form = ReturnForm()
    if not form.validate():
        flash(f"Return not recorded: {_form_errors(form)}", "error")
        return redirect(back, 303)
    session = db_session()

    def act():
        done = return_payment(
            session,
            payment,
            on=form.returned_on.data,
            reason=form.reason.data,
            actor=current_user,
            charge_fee=form.charge_fee.data,
        )
        if not done:
            return f"{_payment_label(payment)} was already returned; nothing changed."
        fee = (
            " The returned-payment fee is queued for the next bill." if form.charge_fee.data else ""
        )
        return (
            f"{_payment_label(payment)} returned ({RETURN_REASONS[form.reason.data]}): "
            f"what it paid is open again.{fee}"
        )

    return _act(act, back, "Return not recorded")


@bp.post("/payments/<int:payment_id>/refund")
def refund_request(payment_id: int):
    payment = _load_payment(payment_id)
    back = url_for("admin.payment_detail", payment_id=payment.id)
    form = RefundRequestForm()
    if not form.validate():
        flash(f"Refund not requested: {_form_errors(form)}", "error")
        return redirect(back, 303)
    session = db_session()

    def act():
        refund = request_refund(
            session, payment, form.amount.data, reason=form.reason.data, actor=current_user
        )
        return (
            f"Refund {refund.id} of {format_dollars(refund.amount)} requested; another staff "
            "member approves it in the refunds queue."
        )

    return _act(act, back, "Refund not requested")


@bp.post("/payments/<int:payment_id>/write-off")
def payment_write_off(payment_id: int):
    payment = _load_payment(payment_id)
    back = _back(url_for("admin.payment_detail", payment_id=payment.id))
    form = WriteOffForm()
    if not form.validate():
        flash(f"Nothing written off: {_form_errors(form)}", "error")
        return redirect(back, 303)
    session = db_session()
    invoice = session.get(Invoice, form.invoice_id.data)
    if invoice is None or invoice.group_id != payment.group_id:
        flash("Nothing written off: that invoice is not one of this group's.", "error")
        return redirect(back, 303)

    def act():
        reason = f"{form.reason.data} (payment {payment.reference or payment.id})"
        write_off(
            session,
            invoice,
            form.amount.data,
            on=today(),
            reason=reason,
            actor=current_user,
            authority_limit=authority_limit(),
        )
        return f"Wrote off {format_dollars(form.amount.data)} on {invoice.invoice_number}."

    return _act(act, back, "Nothing written off")


@bp.post("/payments/<int:payment_id>/reconciled")
def payment_mark_reconciled(payment_id: int):
    payment = _load_payment(payment_id)
    back = _back(url_for("admin.reconciliation_queue"))
    form = ReconciledForm()
    if not form.validate():
        flash(f"Not marked reconciled: {_form_errors(form)}", "error")
        return redirect(back, 303)

    def act():
        review.mark_reconciled(db_session(), payment, actor=current_user, note=form.note.data)
        return f"{_payment_label(payment)} marked reconciled."

    return _act(act, back, "Not marked reconciled")


# --- refunds queue ---------------------------------------------------------------------------


@bp.get("/refunds")
def refund_queue():
    status = request.args.get("status", "open")
    if status not in review.REFUND_FILTERS:
        status = "open"
    page = paginate(review.refund_queue_query(status), per_page=50, rows=True)
    paid_form = RefundPaidForm()
    paid_form.paid_on.data = today()
    return render_template(
        "admin/payments/refunds.html",
        **_cash_context(
            page=page,
            status=status,
            filters=list(review.REFUND_FILTERS),
            decision_form=RefundDecisionForm(),
            paid_form=paid_form,
            online_methods=ONLINE_METHODS,
        ),
    )


def _load_refund(refund_id: int) -> Refund:
    refund = db_session().get(Refund, refund_id)
    if refund is None:
        abort(404)
    return refund


@bp.post("/refunds/<int:refund_id>/approve")
def refund_approve(refund_id: int):
    refund = _load_refund(refund_id)
    back = _back(url_for("admin.refund_queue"))
    form = RefundDecisionForm()
    if not form.validate():
        flash(f"Refund {refund.id} not approved: {_form_errors(form)}", "error")
        return redirect(back, 303)
    session = db_session()

    def act():
        approve_refund(
            session,
            refund,
            actor=current_user,
            on=today(),
            note=form.note.data or "",
            gateway=refund_gateway(),
        )
        if refund.status.value == "paid":
            return f"Refund {refund.id} of {format_dollars(refund.amount)} approved and paid."
        return (
            f"Refund {refund.id} of {format_dollars(refund.amount)} approved: it is in refunds "
            "payable until you mark the check sent."
        )

    return _act(act, back, f"Refund {refund.id} not approved")


@bp.post("/refunds/<int:refund_id>/reject")
def refund_reject(refund_id: int):
    refund = _load_refund(refund_id)
    back = _back(url_for("admin.refund_queue"))
    form = RefundDecisionForm()
    if not form.validate():
        flash(f"Refund {refund.id} not rejected: {_form_errors(form)}", "error")
        return redirect(back, 303)
    session = db_session()

    def act():
        reject_refund(session, refund, actor=current_user, reason=form.note.data or "")
        return f"Refund {refund.id} of {format_dollars(refund.amount)} rejected; the credit stays."

    return _act(act, back, f"Refund {refund.id} not rejected")


@bp.post("/refunds/<int:refund_id>/withdraw")
def refund_withdraw(refund_id: int):
    refund = _load_refund(refund_id)
    back = _back(url_for("admin.refund_queue"))
    form = RefundDecisionForm()
    if not form.validate():
        flash(f"Refund {refund.id} not withdrawn: {_form_errors(form)}", "error")
        return redirect(back, 303)
    session = db_session()

    def act():
        withdraw_refund(session, refund, actor=current_user, reason=form.note.data or "")
        return f"Refund {refund.id} of {format_dollars(refund.amount)} withdrawn; the credit stays."

    return _act(act, back, f"Refund {refund.id} not withdrawn")


@bp.post("/refunds/<int:refund_id>/paid")
def refund_mark_paid(refund_id: int):
    refund = _load_refund(refund_id)
    back = _back(url_for("admin.refund_queue"))
    form = RefundPaidForm()
    if not form.validate():
        flash(f"Refund {refund.id} not marked paid: {_form_errors(form)}", "error")
        return redirect(back, 303)
    session = db_session()

    def act():
        mark_refund_paid(session, refund, on=form.paid_on.data, actor=current_user)
        return f"Refund {refund.id} of {format_dollars(refund.amount)} marked paid (check sent)."

    return _act(act, back, f"Refund {refund.id} not marked paid")


# --- suspense workbench ----------------------------------------------------------------------


@bp.get("/suspense")
def suspense_workbench():
    show = "all" if request.args.get("show") == "all" else "open"
    search = request.args.get("q", "").strip()
    page = paginate(
        review.suspense_query(show_all=show == "all", search=search), per_page=50, rows=True
    )
    return render_template(
        "admin/payments/suspense.html",
        **_cash_context(
            page=page,
            show=show,
            search=search,
            on=today(),
            apply_form=SuspenseApplyForm(),
            close_form=SuspenseCloseForm(),
        ),
    )


def _load_suspense(item_id: int) -> SuspenseItem:
    item = db_session().get(SuspenseItem, item_id)
    if item is None:
        abort(404)
    return item


@bp.post("/suspense/<int:item_id>/apply")
def suspense_apply(item_id: int):
    item = _load_suspense(item_id)
    back = _back(url_for("admin.suspense_workbench"))
    form = SuspenseApplyForm()
    if not form.validate():
        flash(f"Suspense item {item.id} not applied: {_form_errors(form)}", "error")
        return redirect(back, 303)
    session = db_session()

    def act():
        group = review.find_group(session, form.group.data)
        invoice_ids = review.invoice_ids_from_numbers(session, group, form.invoices.data)
        apply_suspense(
            session,
            item,
            group,
            on=today(),
            actor=current_user,
            note=(form.note.data or "").strip(),
            invoice_ids=invoice_ids,
        )
        return (
            f"Suspense item {item.id} ({format_dollars(item.payment.amount)}) applied to "
            f"{group.group_number} {group.name}. {_application_summary(item.payment)}"
        )

    return _act(act, back, f"Suspense item {item.id} not applied")


@bp.post("/suspense/<int:item_id>/close")
def suspense_close(item_id: int):
    item = _load_suspense(item_id)
    back = _back(url_for("admin.suspense_workbench"))
    form = SuspenseCloseForm()
    if not form.validate():
        flash(f"Suspense item {item.id} not closed: {_form_errors(form)}", "error")
        return redirect(back, 303)
    session = db_session()
    refunded = form.outcome.data == "refunded"

    def act():
        close_suspense(
            session, item, refunded=refunded, on=today(), actor=current_user, note=form.note.data
        )
        return (
            f"Suspense item {item.id} ({format_dollars(item.payment.amount)}) closed as "
            f"{'refunded to the sender' if refunded else 'reversed by the bank'}."
        )

    return _act(act, back, f"Suspense item {item.id} not closed")


# --- manual reconciliation -------------------------------------------------------------------


@bp.get("/reconciliation")
def reconciliation_queue():
    page = paginate(review.reconciliation_query(), per_page=25, rows=True)
    page.items = review.reconciliation_rows(db_session(), page.items)
    cleared = db_session().execute(review.cleared_reviews_query().limit(10)).all()
    return render_template(
        "admin/payments/reconciliation.html",
        **_cash_context(
            page=page,
            cleared=cleared,
            write_off_form=WriteOffForm(),
            write_off_limit=authority_limit(),
            reconciled_form=ReconciledForm(),
        ),
    )
