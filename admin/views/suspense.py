"""Staff: the suspense workbench. Cash nobody could identify waits here until it is applied to
the group it belongs to, or closed: refunded to the sender (a request another person
approves) or reversed by the bank."""

from __future__ import annotations

from flask import request, url_for
from flask_login import current_user

from admin import bp
from admin.actions import confirm_form, load_or_404
from admin.forms import SuspenseApplyForm, SuspenseCloseForm
from admin.views.cash import next_or, render_cash_page
from billing_core.models import SuspenseItem
from billing_core.money import format_dollars
from billing_core.payments import review
from billing_core.payments.suspense import (
    apply_suspense,
    close_suspense,
    pending_refund,
    request_suspense_refund,
)
from billing_core.payments.worklists import application_summary, payment_label
from portal.confirmation import Ask, Done
from portal.extensions import db_session
from portal.web import authority_limit, paginate, today


@bp.get("/suspense")
def suspense_workbench():
    show = "all" if request.args.get("show") == "all" else "open"
    search = request.args.get("q", "").strip()
    page = paginate(
        review.suspense_query(show_all=show == "all", search=search), per_page=50, rows=True
    )
    session = db_session()
    return render_cash_page(
        "admin/payments/suspense.html",
        page=page,
        refund_waiting={item.id: pending_refund(session, item) for item, _payment in page.items},
        show=show,
        search=search,
        on=today(),
        apply_form=SuspenseApplyForm(),
        close_form=SuspenseCloseForm(),
    )


def _workbench_back() -> str:
    return next_or(url_for("admin.suspense_workbench"))


@bp.post("/suspense/<int:item_id>/apply")
def suspense_apply(item_id: int):
    item = load_or_404(SuspenseItem, item_id)
    back = _workbench_back()
    return confirm_form(
        SuspenseApplyForm(),
        lambda form: _applied(item, form, back),
        back=back,
        failure=f"Suspense item {item.id} not applied",
    )


def _applied(item: SuspenseItem, form: SuspenseApplyForm, back: str) -> Done:
    session = db_session()
    group = review.find_group(session, form.group.data)
    apply_suspense(
        session,
        item,
        group,
        on=today(),
        actor=current_user,
        note=(form.note.data or "").strip(),
        invoice_ids=review.invoice_ids_from_numbers(session, group, form.invoices.data),
    )
    summary = application_summary(session, item.payment, today())
    amount = format_dollars(item.payment.amount)
    ask = Ask(
        title=f"Apply {amount} from suspense to {group.name}?",
        button=f"Confirm: apply {amount} to {group.group_number}",
        rows=[
            ("Suspense item", f"{item.id}: {payment_label(item.payment)}"),
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


@bp.post("/suspense/<int:item_id>/close")
def suspense_close(item_id: int):
    item = load_or_404(SuspenseItem, item_id)
    back = _workbench_back()
    return confirm_form(
        SuspenseCloseForm(),
        lambda form: _closed(item, form, back),
        back=back,
        failure=f"Suspense item {item.id} not closed",
    )


def _closed(item: SuspenseItem, form: SuspenseCloseForm, back: str) -> Done:
    """Refunded: money leaving, so a request another person approves. Reversed by the bank:
    closed now."""
    session = db_session()
    amount = format_dollars(item.payment.amount)
    rows = [("Suspense item", f"{item.id}: {payment_label(item.payment)}")]
    if form.outcome.data == "refunded":
        refund = request_suspense_refund(session, item, reason=form.note.data, actor=current_user)
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
