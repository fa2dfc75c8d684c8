"""Staff: cancellation for non-payment and reinstatement (issue 20, item 7), at
/admin/groups/<id>/collections/cancellation: a group pending cancellation with the figures a
cancellation would have, the cancellation itself (asked and confirmed first, showing the
amounts and dates), the bills issued for periods after it to review and reverse by credit
memo, and the reinstatement. Who may (a supervisor) is billing_core.collections.cancellation's
rule; the page asks `powers` only to show or hide the buttons."""

from __future__ import annotations

from flask import render_template, request, url_for
from flask_login import current_user

from admin import bp
from admin.actions import confirm_form
from admin.views.cancellation_forms import CancelForm, ReinstateForm, ReverseLaterBillsForm
from billing_core.billing.enrollment import add_months, month_start
from billing_core.collections.cancellation import (
    cancel_for_nonpayment,
    invoices_after,
    outlook,
    reinstate,
    reverse_invoices_after,
)
from billing_core.collections.overdue import position
from billing_core.money import format_dollars
from portal.confirmation import Ask, Done, Table
from portal.extensions import db_session
from portal.web import load_group, powers, today


def _page_url(group_id: int) -> str:
    return url_for("admin.collections_cancellation", group_id=group_id)


def _day(on) -> str:
    return f"{on:%b %-d, %Y}"


@bp.get("/groups/<int:group_id>/collections/cancellation")
def collections_cancellation(group_id: int):
    scope = load_group(group_id)
    session = db_session()
    on = today()
    seen = outlook(session, scope.group, on)
    reverse_form = ReverseLaterBillsForm()
    reverse_form.invoice_ids.choices = [
        (r.invoice.id, r.invoice.invoice_number) for r in seen.review
    ]
    return render_template(
        "admin/collections/cancellation.html",
        group=scope.group,
        seen=seen,
        owed=position(session, group_id, on),
        may_cancel=powers().may_cancel_for_nonpayment,
        cancel_form=CancelForm(),
        reverse_form=reverse_form,
        reinstate_form=ReinstateForm(),
        today=on,
    )


@bp.post("/groups/<int:group_id>/collections/cancel")
def collections_cancel(group_id: int):
    scope = load_group(group_id)
    back = _page_url(group_id)

    def cancelled(form: CancelForm) -> Done:
        session = db_session()
        on = today()
        owed = position(session, group_id, on)
        done = cancel_for_nonpayment(
            session, scope.group, on=on, actor=current_user, note=form.note.data or ""
        )
        later = invoices_after(session, done)
        first_unbilled = add_months(month_start(done.coverage_ends_on), 1)
        ask = Ask(
            title=f"Cancel {scope.group.name} for non-payment?",
            button="Confirm: cancel for non-payment",
            rows=[
                ("Group", f"{scope.group.name} ({scope.group.group_number})"),
                ("Bills past due", owed.past_due_bills),
                ("Overdue now (cure amount)", owed.overdue),
                ("Cancelled on", _day(on)),
                (
                    "Coverage ends on",
                    f"{_day(done.coverage_ends_on)} (the last day of the last month paid in full)"
                    if done.coverage_ends_on < on
                    else _day(done.coverage_ends_on),
                ),
                ("Coverages ended", f"{len(done.coverages)}"),
                (
                    "Billing",
                    f"stops: the billing run skips the group for periods from "
                    f"{first_unbilled:%B %Y} on",
                ),
                (
                    "Reinstatement window",
                    f"until {_day(done.reinstate_until)}: paid in full "
                    "by then, coverage and billing are restored",
                ),
                ("Bills issued for periods after the cancellation date", f"{len(later)}"),
            ],  # fmt: skip
            total=("Cure amount", owed.overdue),
            table=Table(
                ["Bill after the cancellation date", "Period", "Issued", "New charges"],
                [
                    [
                        r.invoice.invoice_number,
                        f"{r.invoice.period_start:%b %Y}",
                        _day(r.invoice.issued_on),
                        r.charges,
                    ]
                    for r in later
                ],  # fmt: skip
            )
            if later
            else None,
            notes=[
                "The bills already issued for the months up to the cancellation stay owed: "
                "they are the cure amount the notices named.",
                "The employer is sent the cancellation notice. The bills listed above stay as "
                "they are until you review them on the next page (reverse by credit memo, or "
                "keep).",
                "After the window the group stays cancelled (refer the balance to collections).",
            ],
            danger=True,
            cancel=back,
            cancel_words="Go back: do not cancel",
        )
        return Done(
            f"Cancelled {scope.group.name} for non-payment: coverage ended "
            f"{_day(done.coverage_ends_on)}; reinstatement possible until "
            f"{_day(done.reinstate_until)}.",
            ask=ask,
        )

    return confirm_form(CancelForm(), cancelled, back=back, failure="Not cancelled")


@bp.post("/groups/<int:group_id>/collections/reverse-later-bills")
def collections_reverse_later_bills(group_id: int):
    scope = load_group(group_id)
    back = _page_url(group_id)

    def reversed_(form: ReverseLaterBillsForm) -> Done:
        session = db_session()
        memos = reverse_invoices_after(
            session,
            scope.group,
            list(form.invoice_ids.data),
            actor=current_user,
            on=today(),
            reason=form.reason.data or "",
            ip_address=request.remote_addr,
        )
        total = sum(m.amount for m in memos)
        ask = Ask(
            title=f"Reverse {len(memos)} bill{'s' if len(memos) != 1 else ''} of "
            f"{scope.group.name} issued after its cancellation?",
            button=f"Confirm: credit memo{'s' if len(memos) != 1 else ''} for "
            f"{format_dollars(total)}",
            rows=[("Group", f"{scope.group.name} ({scope.group.group_number})")],
            total=("Credited", total),
            table=Table(
                ["Credit memo", "Bill", "Period", "Amount"],
                [
                    [
                        m.memo_number,
                        m.invoice.invoice_number,
                        f"{m.invoice.period_start:%b %Y}",
                        m.amount,
                    ]
                    for m in memos
                ],  # fmt: skip
            ),
            notes=[
                "Each bill is voided by a credit memo whose ledger entry reverses the bill's; "
                "the bill is marked void, its figures kept as issued.",
            ],
            danger=True,
            cancel=back,
            cancel_words="Go back: reverse nothing",
        )
        return Done(
            f"Reversed {len(memos)} bill(s) by credit memo: {format_dollars(total)} credited.",
            ask=ask,
        )

    return confirm_form(
        ReverseLaterBillsForm(),
        reversed_,
        back=back,
        failure="Nothing reversed",
        invalid="Nothing reversed: choose the bills to reverse.",
    )


@bp.post("/groups/<int:group_id>/collections/reinstate")
def collections_reinstate(group_id: int):
    scope = load_group(group_id)
    back = _page_url(group_id)

    def reinstated(form: ReinstateForm) -> Done:
        on = today()
        done = reinstate(db_session(), scope.group, on=on, actor=current_user)
        cancellation = done.cancellation
        rows = [("Group", f"{scope.group.name} ({scope.group.group_number})")]
        if cancellation is not None:
            rows += [
                ("Cancelled on", _day(cancellation.cancelled_on)),
                ("Coverage ended on", f"{_day(cancellation.coverage_ends_on)}: restored"),
                ("Window", f"until {_day(cancellation.reinstate_until)}"),
            ]
        months = ", ".join(f"{m:%b %Y}" for m in done.months) or "none"
        rows.append(("Months checked for missed premium", months))
        ask = Ask(
            title=f"Reinstate {scope.group.name}?",
            button="Confirm: reinstate",
            rows=rows,
            total=("Missed premium billed on the next invoice", done.missed_premium),
            notes=[
                "Coverage is restored from where it stopped and the billing run bills the "
                "group again; the months above that were not billed come on the next invoice "
                "as retro lines, once.",
            ],
            cancel=back,
            cancel_words="Go back: do not reinstate",
        )
        return Done(f"Reinstated {scope.group.name} on {_day(on)}.", ask=ask)

    return confirm_form(ReinstateForm(), reinstated, back=back, failure="Not reinstated")
