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
from billing_core.ledger.receivables import (
    AGING_BUCKETS,
    Aging,
    account_summary,
    aging_by_group,
    payment_history,
)
from billing_core.models import (
    EmployerGroup,
    Invoice,
    Payment,
    PaymentAllocation,
    Refund,
    SuspenseItem,
    User,
    WriteOffRequest,
)
from billing_core.models.enums import PaymentMethod, PaymentSource, RefundStatus
from billing_core.money import ZERO, format_dollars
from billing_core.payments import review
from billing_core.payments.allocation import (
    allocate,
    live_allocations,
    open_balances,
    open_invoices,
    unallocate,
)
from billing_core.payments.receipts import RETURN_REASONS, record_payment, return_payment
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
from billing_core.payments.suspense import (
    apply_suspense,
    close_suspense,
    pending_refund,
    request_suspense_refund,
)
from billing_core.payments.write_offs import (
    approve_write_off,
    reject_write_off,
    waiting_write_offs,
    withdraw_write_off,
    write_off_by_hand,
    write_off_queue_query,
)
from portal.confirmation import Ask, Done, confirm_then
from portal.extensions import db_session
from portal.web import client_ip, format_date, load_group, paginate, same_site_path, today


def refund_gateway() -> RefundGateway | None:
    """The processor refund for card and ACH debit payments, the one place it is built: Stripe
    from the app settings, or None without keys (approval then leaves the refund in refunds
    payable and staff mark it paid once refunded in the Stripe dashboard)."""
    gateway = gateway_from_settings(current_app.config["SETTINGS"])
    return gateway.refund if gateway else None


# --- plumbing --------------------------------------------------------------------------------


def _back(default: str) -> str:
    """Where to go after a POST: the form's `next` when it is a path on this site."""
    return same_site_path(request.form.get("next"), default)


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


def _owed(invoice: Invoice):
    """The invoice's open balance now, in dollars."""
    session = db_session()
    group = session.get(EmployerGroup, invoice.group_id)
    return open_balances(session, group).get(invoice.id, ZERO)


def _invoice_url(invoice: Invoice) -> str:
    return url_for("admin.invoice_detail", group_id=invoice.group_id, invoice_id=invoice.id)


def _cash_context(**context):
    context["queues"] = review.cash_queues(db_session())
    context["write_offs_waiting"] = waiting_write_offs(db_session())
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

    def page():
        return render_template(
            "admin/payments/new.html",
            **_cash_context(form=form, group=group, open_items=open_items),
        )

    if not form.validate_on_submit():
        return page()

    def act() -> Done:
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
        summary = _application_summary(payment)
        who = f"for {payer.name}" if payer else "as unidentified cash"
        detail = url_for("admin.payment_detail", payment_id=payment.id)
        ask = Ask(
            title=f"Record this {_method_label(payment.method).lower()}?",
            button=f"Confirm: record {format_dollars(payment.amount)} {who}",
            rows=[
                ("Method", _method_label(payment.method)),
                ("Received on", format_date(payment.received_on)),
                ("Group", f"{payer.group_number} {payer.name}" if payer else "unidentified"),
                ("Reference", payment.reference or "—"),
                ("Payer", payment.payer_name or "—"),
                ("What it does", summary),
            ],
            total=("Amount received", payment.amount),
            cancel=request.full_path.rstrip("?"),
        )
        return Done(
            f"{_payment_label(payment)} recorded {who}. {summary}",
            link=(detail, "Open the payment"),
            then=detail,
            ask=ask,
        )

    def refused(error):
        form.form_errors.append(f"Not recorded: {error}")
        return page()

    return confirm_then(
        session, act, back=request.full_path, failure="Not recorded", on_error=refused
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

    def act() -> Done:
        owed = _owed(invoice)
        left = review.payment_view(session, payment, today()).unallocated
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
        ask = Ask(
            title=f"Allocate {format_dollars(made.amount)} to {invoice.invoice_number}?",
            button=f"Confirm: allocate {format_dollars(made.amount)} to {invoice.invoice_number}",
            rows=[
                ("Payment", _payment_label(payment)),
                ("Left on the payment now", left),
                (f"{invoice.invoice_number} owes now", owed),
                (f"{invoice.invoice_number} owes after", owed - made.amount),
                ("Left on the payment after", left - made.amount),
            ],
            total=("Allocated", made.amount),
            cancel=back,
        )
        return Done(
            f"Allocated {format_dollars(form.amount.data)} of {_payment_label(payment)} "
            f"to {invoice.invoice_number}.",
            link=(_invoice_url(invoice), f"Open {invoice.invoice_number}"),
            ask=ask,
        )

    return confirm_then(session, act, back=back, failure="Not allocated")


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

    def act() -> Done:
        owed = _owed(invoice)
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
        ask = Ask(
            title=f"Undo {format_dollars(allocation.amount)} on {invoice.invoice_number}?",
            button=f"Confirm: undo {format_dollars(allocation.amount)}",
            rows=[
                ("Payment", _payment_label(payment)),
                ("Reason", form.reason.data),
                (f"{invoice.invoice_number} owes now", owed),
                (f"{invoice.invoice_number} owes after", owed + allocation.amount),
            ],
            total=("Back as credit on the payment", allocation.amount),
            cancel=back,
            danger=True,
        )
        return Done(
            f"Undid {format_dollars(allocation.amount)} on {invoice.invoice_number}: the invoice "
            "is open again for that amount and the money is back as credit on the payment.",
            link=(back, "Open the payment"),
            ask=ask,
        )

    return confirm_then(session, act, back=back, failure="Not undone")


@bp.post("/payments/<int:payment_id>/return")
def payment_return(payment_id: int):
    payment = _load_payment(payment_id)
    back = url_for("admin.payment_detail", payment_id=payment.id)
    form = ReturnForm()
    if not form.validate():
        flash(f"Return not recorded: {_form_errors(form)}", "error")
        return redirect(back, 303)
    session = db_session()

    def act() -> Done:
        paid = sum((a.amount for a in live_allocations(session, payment)), ZERO)
        done = return_payment(
            session,
            payment,
            on=form.returned_on.data,
            reason=form.reason.data,
            actor=current_user,
            charge_fee=form.charge_fee.data,
        )
        link = (back, "Open the payment")
        if not done:
            message = f"{_payment_label(payment)} was already returned; nothing changed."
            return Done(message, link=link, ask=Ask(title=message, button="Back", cancel=back))
        fee = (
            " The returned-payment fee is queued for the next bill." if form.charge_fee.data else ""
        )
        ask = Ask(
            title=f"Record the return of {_payment_label(payment)}?",
            button=f"Confirm: record the return of {format_dollars(payment.amount)}",
            rows=[
                ("Why it came back", RETURN_REASONS[form.reason.data]),
                ("Returned on", format_date(form.returned_on.data)),
                ("Paid on invoices, open again", paid),
                ("Returned-payment fee on the next bill", "yes" if form.charge_fee.data else "no"),
            ],
            total=("Receipt reversed", payment.amount),
            cancel=back,
            danger=True,
        )
        return Done(
            f"{_payment_label(payment)} returned ({RETURN_REASONS[form.reason.data]}): "
            f"what it paid is open again.{fee}",
            link=link,
            ask=ask,
        )

    return confirm_then(session, act, back=back, failure="Return not recorded")


@bp.post("/payments/<int:payment_id>/refund")
def refund_request(payment_id: int):
    payment = _load_payment(payment_id)
    back = url_for("admin.payment_detail", payment_id=payment.id)
    form = RefundRequestForm()
    if not form.validate():
        flash(f"Refund not requested: {_form_errors(form)}", "error")
        return redirect(back, 303)
    session = db_session()

    def act() -> Done:
        refund = request_refund(
            session, payment, form.amount.data, reason=form.reason.data, actor=current_user
        )
        ask = Ask(
            title=f"Ask to refund {format_dollars(refund.amount)}?",
            button=f"Confirm: request a refund of {format_dollars(refund.amount)}",
            rows=[("From payment", _payment_label(payment)), ("Reason", refund.reason)],
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

    return confirm_then(session, act, back=back, failure="Refund not requested")


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

    def act() -> Done:
        reason = f"{form.reason.data} (payment {payment.reference or payment.id})"
        owed = _owed(invoice)
        outcome = write_off_by_hand(
            session,
            invoice,
            form.amount.data,
            on=today(),
            reason=reason,
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
        if outcome.request is not None:
            request_id = outcome.request.id
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
            message = (
                f"Nothing written off: {outcome.rule.reason}. It waits as write-off request "
                f"{request_id} on {invoice.invoice_number} for a supervisor who did not ask."
            )
            link = (url_for("admin.write_off_queue"), "See the write-offs to approve")
        else:
            ask = Ask(
                title=f"Write off {amount} on {invoice.invoice_number}?",
                button=f"Confirm: write off {amount}",
                rows=[*rows, ("Open balance after", owed - outcome.amount)],
                total=("Written off", outcome.amount),
                cancel=back,
                danger=True,
            )
            message = f"Wrote off {amount} on {invoice.invoice_number}."
            link = (_invoice_url(invoice), f"Open {invoice.invoice_number}")
        return Done(message, link=link, ask=ask)

    return confirm_then(session, act, back=back, failure="Nothing written off")


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
            refusal=lambda refund: refund_authority(
                db_session(), refund, current_user, on=today(), authority_limit=authority_limit()
            ).refusal(current_user),
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

    amount = format_dollars(refund.amount)

    def ask() -> Ask:
        """Read-only: approval may refund through Stripe, which is never run to be undone."""
        if refund.status is not RefundStatus.REQUESTED:
            raise BillingError(f"this refund is already {refund.status.value}")
        refund_authority(
            session, refund, current_user, on=today(), authority_limit=authority_limit()
        ).check(current_user)
        payment = refund.payment
        online = payment.method in ONLINE_METHODS and refund.suspense_item_id is None
        how = (
            f"It goes back to the {_method_label(payment.method).lower()} through Stripe now."
            if online
            else "It waits in refunds payable until you mark the check sent."
        )
        return Ask(
            title=f"Approve refund {refund.id} of {amount}?",
            button=f"Confirm: approve the refund of {amount}",
            rows=[
                ("To", _refund_payee(refund)),
                ("From", _payment_label(payment)),
                ("Reason", refund.reason),
                ("Requested by", _user_name(refund.requested_by_id)),
            ],
            total=("Refund", refund.amount),
            notes=[how],
            cancel=back,
        )

    def act() -> Done:
        approve_refund(
            session,
            refund,
            actor=current_user,
            on=today(),
            note=form.note.data or "",
            gateway=refund_gateway(),
            authority_limit=authority_limit(),
        )
        link = (url_for("admin.refund_queue", status="all"), "See the refunds")
        if refund.status.value == "paid":
            return Done(f"Refund {refund.id} of {amount} approved and paid.", link=link)
        return Done(
            f"Refund {refund.id} of {amount} approved: it is in refunds payable until you mark "
            "the check sent.",
            link=link,
        )

    return confirm_then(
        session, act, ask=ask, back=back, failure=f"Refund {refund.id} not approved"
    )


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

    def act() -> Done:
        mark_refund_paid(session, refund, on=form.paid_on.data, actor=current_user)
        amount = format_dollars(refund.amount)
        ask = Ask(
            title=f"Mark refund {refund.id} of {amount} paid?",
            button=f"Confirm: {amount} has gone out",
            rows=[("To", _refund_payee(refund)), ("Sent on", format_date(form.paid_on.data))],
            total=("Paid out of cash", refund.amount),
            cancel=back,
        )
        return Done(
            f"Refund {refund.id} of {amount} marked paid (check sent).",
            link=(url_for("admin.refund_queue", status="paid"), "See the paid refunds"),
            ask=ask,
        )

    return confirm_then(session, act, back=back, failure=f"Refund {refund.id} not marked paid")


def _refund_payee(refund: Refund) -> str:
    if refund.group_id is None:
        payer = refund.payment.payer_name or "the sender"
        return f"{payer} (unidentified cash, suspense item {refund.suspense_item_id})"
    group = db_session().get(EmployerGroup, refund.group_id)
    return f"{group.group_number} {group.name}"


def _user_name(user_id: int | None) -> str:
    user = db_session().get(User, user_id) if user_id else None
    return user.full_name if user else "—"


# --- suspense workbench ----------------------------------------------------------------------


@bp.get("/suspense")
def suspense_workbench():
    show = "all" if request.args.get("show") == "all" else "open"
    search = request.args.get("q", "").strip()
    page = paginate(
        review.suspense_query(show_all=show == "all", search=search), per_page=50, rows=True
    )
    session = db_session()
    waiting = {item.id: pending_refund(session, item) for item, _payment in page.items}
    return render_template(
        "admin/payments/suspense.html",
        **_cash_context(
            page=page,
            refund_waiting=waiting,
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

    def act() -> Done:
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
        summary = _application_summary(item.payment)
        amount = format_dollars(item.payment.amount)
        ask = Ask(
            title=f"Apply {amount} from suspense to {group.name}?",
            button=f"Confirm: apply {amount} to {group.group_number}",
            rows=[
                ("Suspense item", f"{item.id}: {_payment_label(item.payment)}"),
                ("Group", f"{group.group_number} {group.name}"),
                ("What it does", summary),
            ],
            total=("Applied from suspense", item.payment.amount),
            cancel=back,
        )
        return Done(
            f"Suspense item {item.id} ({amount}) applied to "
            f"{group.group_number} {group.name}. {summary}",
            link=(url_for("admin.payment_detail", payment_id=item.payment_id), "Open the payment"),
            ask=ask,
        )

    return confirm_then(session, act, back=back, failure=f"Suspense item {item.id} not applied")


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

    def act() -> Done:
        amount = format_dollars(item.payment.amount)
        rows = [("Suspense item", f"{item.id}: {_payment_label(item.payment)}")]
        if refunded:  # money leaving: a request a second person approves
            refund = request_suspense_refund(
                session, item, reason=form.note.data, actor=current_user
            )
            ask = Ask(
                title=f"Ask to refund {amount} to the sender?",
                button=f"Confirm: request a refund of {amount}",
                rows=[*rows, ("Reason", refund.reason)],
                total=("Refund requested", refund.amount),
                notes=[
                    "Nothing leaves yet: another staff member approves it in the refunds "
                    f"queue (a supervisor above {format_dollars(authority_limit())}); "
                    "approval closes the item as refunded."
                ],
                cancel=back,
            )
            return Done(
                f"Refund {refund.id} of {amount} from suspense item {item.id} requested; "
                "another staff member approves it in the refunds queue.",
                link=(url_for("admin.refund_queue", status="requested"), "See the refunds queue"),
                ask=ask,
            )
        close_suspense(session, item, on=today(), actor=current_user, note=form.note.data)
        ask = Ask(
            title=f"Close suspense item {item.id} as reversed by the bank?",
            button=f"Confirm: {amount} was taken back by the bank",
            rows=[*rows, ("Note", form.note.data)],
            total=("Out of cash", item.payment.amount),
            cancel=back,
            danger=True,
        )
        return Done(
            f"Suspense item {item.id} ({amount}) closed as reversed by the bank.",
            link=(url_for("admin.payment_detail", payment_id=item.payment_id), "Open the payment"),
            ask=ask,
        )

    return confirm_then(session, act, back=back, failure=f"Suspense item {item.id} not closed")


# --- write-offs above a requester's authority ---------------------------------------------------


@bp.get("/write-offs")
def write_off_queue():
    status = request.args.get("status", "requested")
    page = paginate(write_off_queue_query(status), per_page=50, rows=True)
    return render_template(
        "admin/payments/write_offs.html",
        **_cash_context(
            page=page,
            status=status,
            decision_form=RefundDecisionForm(),
            user_name=_user_name,
        ),
    )


def _load_write_off(request_id: int) -> WriteOffRequest:
    found = db_session().get(WriteOffRequest, request_id)
    if found is None:
        abort(404)
    return found


@bp.post("/write-offs/<int:request_id>/approve")
def write_off_approve(request_id: int):
    asked = _load_write_off(request_id)
    back = _back(url_for("admin.write_off_queue"))
    form = RefundDecisionForm()
    if not form.validate():
        flash(f"Write-off {asked.id} not approved: {_form_errors(form)}", "error")
        return redirect(back, 303)
    session = db_session()

    def act() -> Done:
        invoice = session.get(Invoice, asked.invoice_id)
        owed = _owed(invoice)
        approve_write_off(session, asked, actor=current_user, on=today(), note=form.note.data or "")
        amount = format_dollars(asked.amount)
        ask = Ask(
            title=f"Approve the write-off of {amount} on {invoice.invoice_number}?",
            button=f"Confirm: write off {amount}",
            rows=[
                ("Invoice", invoice.invoice_number),
                ("Asked by", _user_name(asked.requested_by_id)),
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
            link=(_invoice_url(invoice), f"Open {invoice.invoice_number}"),
            ask=ask,
        )

    return confirm_then(session, act, back=back, failure=f"Write-off {asked.id} not approved")


@bp.post("/write-offs/<int:request_id>/reject")
def write_off_reject(request_id: int):
    asked = _load_write_off(request_id)
    back = _back(url_for("admin.write_off_queue"))
    form = RefundDecisionForm()
    if not form.validate():
        flash(f"Write-off {asked.id} not rejected: {_form_errors(form)}", "error")
        return redirect(back, 303)

    def act():
        reject_write_off(db_session(), asked, actor=current_user, reason=form.note.data or "")
        return (
            f"Write-off {asked.id} of {format_dollars(asked.amount)} rejected; the balance "
            "stays open."
        )

    return _act(act, back, f"Write-off {asked.id} not rejected")


@bp.post("/write-offs/<int:request_id>/withdraw")
def write_off_withdraw(request_id: int):
    asked = _load_write_off(request_id)
    back = _back(url_for("admin.write_off_queue"))
    form = RefundDecisionForm()
    if not form.validate():
        flash(f"Write-off {asked.id} not withdrawn: {_form_errors(form)}", "error")
        return redirect(back, 303)

    def act():
        withdraw_write_off(db_session(), asked, actor=current_user, reason=form.note.data or "")
        return (
            f"Write-off {asked.id} of {format_dollars(asked.amount)} withdrawn; the balance "
            "stays open."
        )

    return _act(act, back, f"Write-off {asked.id} not withdrawn")


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
