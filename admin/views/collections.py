"""Staff: collections (issue 20, item 5). The collector's worklist at /admin/collections
(billing_core.collections.worklist: filters, sort, CSV/XLSX through the "collections_worklist"
report), and a group's collections page: its delinquency state and history, notices, contacts
and promises, with the forms to log a contact and to record a promise to pay (asked and
confirmed first: it pauses the group's clock)."""

from __future__ import annotations

from flask import render_template, request, url_for
from flask_login import current_user

from admin import bp
from admin.actions import confirm_form, submit_form
from admin.views.collections_forms import ContactForm, PromiseForm
from billing_core.collections.contacts import contacts, log_contact, promises, take_promise
from billing_core.collections.notices import notices
from billing_core.collections.overdue import position
from billing_core.collections.states import clock_paused, history
from billing_core.collections.worklist import (
    ACTION_LABELS,
    SORT_KEYS,
    STATE_LABELS,
    WORKLIST_STATES,
    worklist,
    worklist_totals,
)
from billing_core.models.collections import GroupDelinquency
from billing_core.money import format_dollars
from portal.confirmation import Ask, Done
from portal.extensions import db_session
from portal.web import load_group, paginate_list, today

PER_PAGE = 50
FILTERS = ("state", "action", "broker", "group")


@bp.get("/collections")
def collections_worklist():
    args = {k: request.args.get(k, "").strip() for k in FILTERS}
    sort = request.args.get("sort", "rank")
    if sort.lstrip("-") not in SORT_KEYS:
        sort = "rank"
    rows = worklist(db_session(), today(), args, sort)
    export = {k: v for k, v in args.items() if v}
    export.update(as_of=today().isoformat(), sort=sort)
    return render_template(
        "admin/collections/worklist.html",
        rows=rows,
        page=paginate_list(rows, per_page=PER_PAGE),
        totals=worklist_totals(rows),
        args=args,
        sort=sort,
        export=export,
        states=[(s.value, STATE_LABELS[s]) for s in WORKLIST_STATES],
        actions=list(ACTION_LABELS.items()),
    )


def _group_page_url(group_id: int) -> str:
    return url_for("admin.group_collections", group_id=group_id)


@bp.get("/groups/<int:group_id>/collections")
def group_collections(group_id: int):
    scope = load_group(group_id)
    session = db_session()
    on = today()
    row = session.get(GroupDelinquency, group_id)
    return render_template(
        "admin/collections/group.html",
        group=scope.group,
        row=row,
        paused=clock_paused(row, on) if row is not None else None,
        owed=position(session, group_id, on),
        transitions=list(reversed(history(session, group_id))),
        notices=notices(session, group_id),
        contacts=contacts(session, group_id),
        promises=promises(session, group_id),
        contact_form=ContactForm(),
        promise_form=PromiseForm(),
        today=on,
    )


@bp.post("/groups/<int:group_id>/collections/contacts")
def collections_log_contact(group_id: int):
    scope = load_group(group_id)
    back = _group_page_url(group_id)

    def logged(form: ContactForm) -> str:
        contact = log_contact(
            db_session(),
            scope.group,
            kind=form.kind.data,
            outcome=form.outcome.data,
            actor=current_user,
            today=today(),
            next_follow_up_on=form.next_follow_up_on.data,
        )
        follow = f"; follow up on {contact.next_follow_up_on}" if contact.next_follow_up_on else ""
        return f"Logged the {contact.kind.value} with {scope.group.name}{follow}."

    return submit_form(ContactForm(), logged, back=back, failure="Contact not logged")


@bp.post("/groups/<int:group_id>/collections/promises")
def collections_take_promise(group_id: int):
    scope = load_group(group_id)
    back = _group_page_url(group_id)

    def taken(form: PromiseForm) -> Done:
        session = db_session()
        owed = position(session, group_id, today())
        promise = take_promise(
            session,
            scope.group,
            amount=form.amount.data,
            promised_on=form.promised_on.data,
            actor=current_user,
            today=today(),
            note=form.note.data or "",
        )
        amount = format_dollars(promise.amount)
        ask = Ask(
            title=f"Record {scope.group.name}'s promise to pay {amount} by "
            f"{promise.promised_on:%b %-d, %Y}?",
            button=f"Confirm: promise of {amount}",
            rows=[
                ("Group", f"{scope.group.name} ({scope.group.group_number})"),
                ("Overdue now (cure amount)", owed.overdue),
                ("To be paid by", promise.promised_on.isoformat()),
            ],
            total=("Promised", promise.amount),
            notes=[
                f"The collections clock stops until {promise.promised_on}: no notice, fee or "
                "cancellation step meanwhile.",
                "Kept once the group has paid the amount from today on; broken if the date "
                "passes short of it: the clock resumes and the group goes to the top of the "
                "worklist.",
                "An open promise of the group is replaced by this one.",
            ],
            cancel=back,
        )
        return Done(f"Recorded the promise to pay {amount} by {promise.promised_on}.", ask=ask)

    return confirm_form(PromiseForm(), taken, back=back, failure="Promise not recorded")
