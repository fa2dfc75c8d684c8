"""Staff: receipts. Record a check, wire or ACH credit; a group's ledger; one payment and what
it paid (allocate, undo an allocation, record its return); the manual reconciliation queue.
Each change asks first with its amounts (portal.confirmation) and goes through one
billing_core use case."""

from __future__ import annotations

from flask import abort, render_template, request, url_for
from flask_login import current_user

from admin import bp
from admin.actions import confirm_form, load_or_404, submit_form
from admin.forms import (
    AllocateForm,
    PaymentReturnForm,
    ReconciledForm,
    RecordPaymentForm,
    RefundRequestForm,
    UndoAllocationForm,
    WriteOffForm,
)
from admin.views.cash import invoice_url, next_or, render_cash_page
from billing_core.errors import NotFound
from billing_core.ledger.receivables import (
    AGING_BUCKETS,
    Aging,
    account_summary,
    aging_by_group,
    payment_history,
)
from billing_core.models import EmployerGroup, Invoice, Payment, PaymentAllocation
from billing_core.models.enums import PaymentMethod, PaymentSource
from billing_core.money import ZERO, format_dollars
from billing_core.payments import review
from billing_core.payments.allocation import (
    allocate_by_hand,
    live_allocations,
    open_invoices,
    unallocate_by_hand,
)
from billing_core.payments.receipts import RETURN_REASONS, record_payment, return_payment
from billing_core.payments.refunds import ONLINE_METHODS
from billing_core.payments.worklists import (
    application_summary,
    cleared_reviews,
    method_label,
    open_balance,
    payment_label,
)
from portal.confirmation import Ask, Done, confirm_then
from portal.extensions import db_session
from portal.web import authority_limit, client_ip, format_date, load_group, paginate, today

# --- record a payment ------------------------------------------------------------------------


@bp.route("/payments/new", methods=["GET", "POST"])
def payment_new():
    form = RecordPaymentForm()
    preset = request.args.get("group_id", type=int)
    group = load_group(preset).group if preset else None
    if request.method == "GET":
        form.received_on.data = today()
        if group:
            form.group.data = group.group_number
    if not form.validate_on_submit():
        return _payment_page(form, group)
    return confirm_then(
        db_session(),
        lambda: _recorded(form),
        back=request.full_path,
        failure="Not recorded",
        on_error=lambda error: _payment_page(form, group, f"Not recorded: {error}"),
    )


def _payment_page(form: RecordPaymentForm, group: EmployerGroup | None, error: str = ""):
    if error:
        form.form_errors.append(error)
    open_items = open_invoices(db_session(), group) if group else []
    return render_cash_page(
        "admin/payments/new.html", form=form, group=group, open_items=open_items
    )


def _recorded(form: RecordPaymentForm) -> Done:
    session = db_session()
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
    summary = application_summary(session, payment, today())
    who = f"for {payer.name}" if payer else "as unidentified cash"
    detail = url_for("admin.payment_detail", payment_id=payment.id)
    ask = Ask(
        title=f"Record this {method_label(payment.method).lower()}?",
        button=f"Confirm: record {format_dollars(payment.amount)} {who}",
        rows=[
            ("Method", method_label(payment.method)),
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
        f"{payment_label(payment)} recorded {who}. {summary}",
        link=(detail, "Open the payment"),
        then=detail,
        ask=ask,
    )


# --- a group's ledger ------------------------------------------------------------------------


@bp.get("/groups/<int:group_id>/ledger")
def group_ledger(group_id: int):
    group = load_group(group_id).group
    session = db_session()
    on = today()
    return render_template(
        "admin/payments/ledger.html",
        group=group,
        on=on,
        summary=account_summary(session, group, on),
        open_items=open_invoices(session, group),
        aging=aging_by_group(session, on, [group.id]).get(group.id, Aging()),
        buckets=AGING_BUCKETS,
        payments=payment_history(session, group, limit=25),
        journal=paginate(review.group_journal_query(group), per_page=25, rows=True),
        account_labels=review.ACCOUNT_LABELS,
        method_label=method_label,
    )


# --- one payment -----------------------------------------------------------------------------


@bp.get("/payments/<int:payment_id>")
def payment_detail(payment_id: int):
    payment = load_or_404(Payment, payment_id)
    view = review.payment_view(db_session(), payment, today())
    return render_template(
        "admin/payments/detail.html",
        view=view,
        payment=payment,
        label=payment_label(payment),
        method_label=method_label,
        write_off_limit=authority_limit(),
        return_reasons=RETURN_REASONS,
        online=payment.method in ONLINE_METHODS,
        **_payment_forms(view),
    )


def _payment_forms(view) -> dict:
    """The forms of what can be done with a payment, filled in with what it suggests."""
    return_form = PaymentReturnForm()
    return_form.returned_on.data = today()
    return_form.charge_fee.data = bool(view.returned_payment_fee)
    refund_form = RefundRequestForm()
    refund_form.amount.data = view.refundable if view.refundable > 0 else None
    return {
        "allocate_form": AllocateForm(),
        "undo_form": UndoAllocationForm(),
        "return_form": return_form,
        "refund_form": refund_form,
        "write_off_form": WriteOffForm(),
        "reconciled_form": ReconciledForm(),
    }


def _payment_url(payment: Payment) -> str:
    return url_for("admin.payment_detail", payment_id=payment.id)


@bp.post("/payments/<int:payment_id>/allocate")
def payment_allocate(payment_id: int):
    payment = load_or_404(Payment, payment_id)
    back = _payment_url(payment)
    return confirm_form(
        AllocateForm(),
        lambda form: _allocated(payment, form, back),
        back=back,
        failure="Not allocated",
    )


def _allocated(payment: Payment, form: AllocateForm, back: str) -> Done:
    session = db_session()
    invoice = session.get(Invoice, form.invoice_id.data)
    if invoice is None:
        raise NotFound("that invoice does not exist.")
    owed = open_balance(session, invoice)
    left = review.payment_view(session, payment, today()).unallocated
    made = allocate_by_hand(
        session,
        payment,
        invoice,
        form.amount.data,
        on=today(),
        actor=current_user,
        ip_address=client_ip(),
    )
    ask = Ask(
        title=f"Allocate {format_dollars(made.amount)} to {invoice.invoice_number}?",
        button=f"Confirm: allocate {format_dollars(made.amount)} to {invoice.invoice_number}",
        rows=[
            ("Payment", payment_label(payment)),
            ("Left on the payment now", left),
            (f"{invoice.invoice_number} owes now", owed),
            (f"{invoice.invoice_number} owes after", owed - made.amount),
            ("Left on the payment after", left - made.amount),
        ],
        total=("Allocated", made.amount),
        cancel=back,
    )
    return Done(
        f"Allocated {format_dollars(form.amount.data)} of {payment_label(payment)} "
        f"to {invoice.invoice_number}.",
        link=(invoice_url(invoice), f"Open {invoice.invoice_number}"),
        ask=ask,
    )


@bp.post("/payments/<int:payment_id>/allocations/<int:allocation_id>/undo")
def allocation_undo(payment_id: int, allocation_id: int):
    payment = load_or_404(Payment, payment_id)
    allocation = load_or_404(PaymentAllocation, allocation_id)
    if allocation.payment_id != payment.id:
        abort(404)
    back = _payment_url(payment)
    return confirm_form(
        UndoAllocationForm(),
        lambda form: _undone(payment, allocation, form, back),
        back=back,
        failure="Not undone",
    )


def _undone(
    payment: Payment, allocation: PaymentAllocation, form: UndoAllocationForm, back: str
) -> Done:
    session = db_session()
    invoice = session.get(Invoice, allocation.invoice_id)
    owed = open_balance(session, invoice)
    unallocate_by_hand(
        session,
        allocation,
        on=today(),
        reason=form.reason.data,
        actor=current_user,
        ip_address=client_ip(),
    )
    ask = Ask(
        title=f"Undo {format_dollars(allocation.amount)} on {invoice.invoice_number}?",
        button=f"Confirm: undo {format_dollars(allocation.amount)}",
        rows=[
            ("Payment", payment_label(payment)),
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


@bp.post("/payments/<int:payment_id>/return")
def payment_return(payment_id: int):
    payment = load_or_404(Payment, payment_id)
    back = _payment_url(payment)
    return confirm_form(
        PaymentReturnForm(),
        lambda form: _returned(payment, form, back),
        back=back,
        failure="Return not recorded",
    )


def _returned(payment: Payment, form: PaymentReturnForm, back: str) -> Done:
    session = db_session()
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
        message = f"{payment_label(payment)} was already returned; nothing changed."
        return Done(message, link=link, ask=Ask(title=message, button="Back", cancel=back))
    fee = " The returned-payment fee is queued for the next bill." if form.charge_fee.data else ""
    ask = Ask(
        title=f"Record the return of {payment_label(payment)}?",
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
        f"{payment_label(payment)} returned ({RETURN_REASONS[form.reason.data]}): "
        f"what it paid is open again.{fee}",
        link=link,
        ask=ask,
    )


# --- manual reconciliation -------------------------------------------------------------------


@bp.post("/payments/<int:payment_id>/reconciled")
def payment_mark_reconciled(payment_id: int):
    payment = load_or_404(Payment, payment_id)

    def reconciled(form: ReconciledForm) -> str:
        review.mark_reconciled(db_session(), payment, actor=current_user, note=form.note.data)
        return f"{payment_label(payment)} marked reconciled."

    return submit_form(
        ReconciledForm(),
        reconciled,
        back=next_or(url_for("admin.reconciliation_queue")),
        failure="Not marked reconciled",
    )


@bp.get("/reconciliation")
def reconciliation_queue():
    page = paginate(review.reconciliation_query(), per_page=25, rows=True)
    page.items = review.reconciliation_rows(db_session(), page.items)
    return render_cash_page(
        "admin/payments/reconciliation.html",
        page=page,
        cleared=cleared_reviews(db_session(), limit=10),
        write_off_form=WriteOffForm(),
        write_off_limit=authority_limit(),
        reconciled_form=ReconciledForm(),
    )
