"""Staff: collections (issue 20, item 5). The collector's worklist at /admin/collections
(billing_core.collections.worklist: filters, sort, CSV/XLSX through the "collections_worklist"
report), and a group's collections page: its delinquency state and history, notices, contacts
and promises, with the forms to log a contact and to record a promise to pay (asked and
confirmed first: it pauses the group's clock); its payment plans, with the form that proposes
N equal monthly installments, lets staff edit them and makes the plan (asked and confirmed
first: a money commitment that pauses the clock), and the form to cancel a plan in force."""

from __future__ import annotations

from datetime import timedelta

from flask import abort, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup

from admin import bp
from admin.actions import confirm_form, submit_form
from admin.views.collections_forms import (
    CancelPlanForm,
    ContactForm,
    PlanForm,
    PlanProposalForm,
    PromiseForm,
)
from admin.views.collections_legal import legal_context
from billing_core.collections.contacts import contacts, log_contact, promises, take_promise
from billing_core.collections.notices import notices
from billing_core.collections.overdue import position
from billing_core.collections.payment_plans import (
    GRACE_DAYS,
    cancel_plan,
    make_plan,
    open_plan,
    plan_view,
    plans,
    schedule_proposal,
)
from billing_core.collections.states import RUNNING, clock_paused, history
from billing_core.collections.worklist import (
    ACTION_LABELS,
    SORT_KEYS,
    STATE_LABELS,
    WORKLIST_STATES,
)
from billing_core.collections.worklist_page import kept_worklist_page
from billing_core.models.collections import GroupDelinquency
from billing_core.models.payment_plans import PaymentPlan
from billing_core.money import format_dollars
from portal.confirmation import Ask, Done, Table
from portal.extensions import db_session
from portal.web import DrawnOnce, load_group, today

PER_PAGE = 50
FILTERS = ("state", "action", "broker", "group")


@bp.get("/collections")
def collections_worklist():
    args = {k: request.args.get(k, "").strip() for k in FILTERS}
    sort = request.args.get("sort", "rank")
    if sort.lstrip("-") not in SORT_KEYS:
        sort = "rank"
    # One page ranked in SQL, the totals over the whole filtered list (issue 19: a view's work
    # is bounded by the page, not the number of delinquent groups), kept while nothing it read
    # changed.
    page, totals = kept_worklist_page(
        db_session(), today(), args, sort, request.args.get("page", 1, type=int), PER_PAGE
    )
    export = {k: v for k, v in args.items() if v}
    export.update(as_of=today().isoformat(), sort=sort)
    return render_template(
        "admin/collections/worklist.html",
        page=page,
        rows_html=_rows_html(page, args),
        totals=totals,
        args=args,
        sort=sort,
        export=export,
        states=[(s.value, STATE_LABELS[s]) for s in WORKLIST_STATES],
        actions=list(ACTION_LABELS.items()),
    )


# The worklist's rows drawn once per kept page and filters (portal.web.DrawnOnce).
_ROWS_DRAWN = DrawnOnce(64)


def _rows_html(page, args: dict) -> Markup:
    """The page's rows (_worklist_rows.html), drawn once per page and filters:
    kept_worklist_page answers the same Page while nothing it read has changed, and a new one
    otherwise. Fifty rows of the template cost more CPU than the rest of the view."""
    return _ROWS_DRAWN.get(
        (page,),
        tuple(sorted(args.items())),
        # the output of an autoescaping template
        lambda: Markup(  # nosec B704
            render_template("admin/collections/_worklist_rows.html", page=page, args=args)
        ),
    )


def _group_page_url(group_id: int) -> str:
    return url_for("admin.group_collections", group_id=group_id)


@bp.get("/groups/<int:group_id>/collections")
def group_collections(group_id: int):
    scope = load_group(group_id)
    session = db_session()
    on = today()
    row = session.get(GroupDelinquency, group_id)
    owed = position(session, group_id, on)
    in_force = open_plan(session, group_id)
    plannable = row is not None and row.state in RUNNING and owed.overdue > 0 and not in_force
    return render_template(
        "admin/collections/group.html",
        group=scope.group,
        row=row,
        paused=clock_paused(row, on) if row is not None else None,
        owed=owed,
        transitions=list(reversed(history(session, group_id))),
        notices=notices(session, group_id),
        contacts=contacts(session, group_id),
        promises=promises(session, group_id),
        contact_form=ContactForm(),
        promise_form=PromiseForm(),
        plans=plans(session, group_id),
        in_force=plan_view(session, in_force, on) if in_force else None,
        cancel_form=CancelPlanForm(),
        plannable=plannable,
        grace_days=GRACE_DAYS,
        **(_plan_forms(owed.overdue, on) if plannable else {}),
        **legal_context(scope.group, row),
        today=on,
    )


def _plan_forms(balance, on) -> dict:
    """The proposal form (from the query string) and the schedule it proposes, to edit: three
    monthly installments from a week today unless asked otherwise, two empty lines to add."""
    proposal = PlanProposalForm(formdata=request.args)
    proposed, problem = [], None
    if proposal.validate():
        proposed, problem = schedule_proposal(
            balance,
            proposal.installments.data or 3,
            proposal.first_on.data or on + timedelta(days=7),
            down_payment=proposal.down_payment.data or 0,
            down_payment_on=proposal.down_payment_on.data,
        )
    lines = [{"due_on": x.due_on, "amount": x.amount} for x in proposed]
    lines += [{"due_on": None, "amount": None}] * 2
    form = PlanForm(
        data={"lines": lines, "first_is_down_payment": bool(proposed and proposed[0].down_payment)}
    )
    return {"proposal_form": proposal, "plan_form": form, "proposal_problem": problem}


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


@bp.post("/groups/<int:group_id>/collections/plans")
def collections_make_plan(group_id: int):
    scope = load_group(group_id)
    back = _group_page_url(group_id)

    def made(form: PlanForm) -> Done:
        session = db_session()
        plan = make_plan(
            session,
            scope.group,
            form.schedule(),
            actor=current_user,
            today=today(),
            note=form.note.data or "",
        )
        lines = plan.installments
        last = lines[-1]
        ask = Ask(
            title=f"Put {scope.group.name} on a payment plan of {format_dollars(plan.balance)} "
            f"in {len(lines)} installments to {last.due_on:%b %-d, %Y}?",
            button=f"Confirm: payment plan of {format_dollars(plan.balance)}",
            rows=[
                ("Group", f"{scope.group.name} ({scope.group.group_number})"),
                ("Overdue now (the plan's balance)", plan.balance),
                ("Installments", str(len(lines))),
            ],
            table=Table(
                ["Installment", "Due on", "Amount", "Scheduled to date"],
                [
                    [
                        "Down payment" if i.down_payment else str(i.seq),
                        i.due_on.isoformat(),
                        i.amount,
                        i.cumulative,
                    ]
                    for i in lines
                ],
            ),
            total=("Plan balance", plan.balance),
            notes=[
                "The collections clock stops while the plan runs: no notice, fee or "
                "cancellation step meanwhile.",
                f"An installment is met when the group has paid the plan down to what is left "
                f"after it, and missed {plan.grace_days} days after its date if not: the plan "
                "is broken, the clock resumes from the dates it had and the group goes to the "
                "top of the worklist.",
                "Bills that fall due during the plan are not in it: they must be paid too, or "
                "the next installment is missed.",
                "When every installment is met the plan is completed and the group is current.",
            ],
            cancel=back,
        )
        return Done(
            f"{scope.group.name} is on a payment plan of {format_dollars(plan.balance)}: "
            f"{len(lines)} installments to {last.due_on}.",
            ask=ask,
        )

    return confirm_form(PlanForm(), made, back=back, failure="Payment plan not made")


@bp.post("/groups/<int:group_id>/collections/plans/<int:plan_id>/cancel")
def collections_cancel_plan(group_id: int, plan_id: int):
    scope = load_group(group_id)
    plan = db_session().get(PaymentPlan, plan_id)
    if plan is None or plan.group_id != scope.group.id:
        abort(404)
    back = _group_page_url(group_id)

    def cancelled(form: CancelPlanForm) -> str:
        cancel_plan(db_session(), plan, actor=current_user, today=today(), reason=form.reason.data)
        return f"Cancelled {scope.group.name}'s payment plan: the collections clock runs again."

    return submit_form(CancelPlanForm(), cancelled, back=back, failure="Plan not cancelled")
