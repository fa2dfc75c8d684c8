"""Staff: a new group set up on screens (issue 22, item 1), its termination (item 4) and its
history (item 6).

/admin/groups/new lists the drafts and starts one; /admin/setup/<id>/<step> is one step of the
guided set-up (a one-form step saved whole, a list step row by row), each problem of the
import's check shown beside its field; /admin/setup/<id>/check lists what keeps the draft from
going live, and going live writes it through the set-up import (billing_core.setup.drafts).
/admin/groups/<id>/edit starts (or resumes) a draft pre-filled from a live group, through the
same steps, check and import (billing_core.setup.editing: rates read-only, a changed billing
policy from a new date); /admin/setup/<id>/<step>/<row> changes one row of a list step.
/admin/groups/<id>/terminate ends a group at a date (asked and confirmed first; a supervisor's,
billing_core.setup.lifecycle's rule); /admin/groups/<id>/history is the readable timeline."""

from __future__ import annotations

from flask import abort, render_template, url_for
from flask_login import current_user

from admin import bp
from admin.actions import confirm_form, load_or_404, require_valid, submit_form
from admin.views.group_setup_forms import (
    PlainForm,
    TerminateForm,
    form_values,
    label_for,
    step_form,
)
from billing_core.billing.enrollment import add_months, month_start
from billing_core.collections.watchlist import matches, warning
from billing_core.models import EmployerGroup
from billing_core.models.setup_draft import GroupSetupDraft
from billing_core.setup.drafts import (
    STEP_BY_KEY,
    STEPS,
    add_row,
    check_draft,
    draft_step_problems,
    draft_summary,
    draft_warnings,
    go_live,
    known_products,
    open_drafts,
    remove_row,
    save_row,
    save_step,
    start_draft,
)
from billing_core.setup.editing import (
    LIVE_KEYS,
    delinquency_plan_choices,
    live_rate_plans,
    live_row_key,
    start_edit,
)
from billing_core.setup.history import timeline
from billing_core.setup.lifecycle import standing, terminate_group, termination_of
from billing_core.setup.words import value_words
from portal.confirmation import Ask, Done
from portal.extensions import db_session
from portal.web import load_group, run_action, today


def _draft(draft_id: int) -> GroupSetupDraft:
    return load_or_404(GroupSetupDraft, draft_id)


def _step(key: str):
    step = STEP_BY_KEY.get(key)
    if step is None:
        abort(404)
    return step


def _step_url(draft_id: int, key: str) -> str:
    return url_for("admin.group_setup_step", draft_id=draft_id, step=key)


def _choices(draft: GroupSetupDraft) -> dict:
    data = draft.document
    products = known_products(db_session())
    products += [
        (p["code"], f"{p['code']} - {p.get('name', '')} (new)")
        for p in data.get("products") or []
        if p.get("code")
    ]
    return {
        "delinquency_plan": delinquency_plan_choices(db_session()),
        "product": products,
        "plan": [
            (p["code"], f"{p['code']} - {p['name']}" if p.get("name") else p["code"])
            for p in data.get("plans") or []
            if p.get("code")
        ],
        "class": [
            (k["code"], f"{k['code']} - {k['name']}" if k.get("name") else k["code"])
            for k in data.get("classes") or []
            if k.get("code")
        ],
    }


def _to_fix(draft: GroupSetupDraft, step: str, row: int | None) -> str:
    """What the import's check finds in the row (or step) just saved, counted for the flash;
    what a later step supplies (a class waiting for a plan) is said, not counted as wrong."""
    here = [
        p
        for p in check_draft(db_session(), draft, today())
        if p.step == step and (row is None or p.row == row)
    ]
    found = [p for p in here if not p.waiting]
    waiting = "".join(f"; {_waiting_words(p)}" for p in here if p.waiting)
    if not found:
        return f": nothing to fix here{waiting}"
    return (
        f", with {len(found)} thing{'s' if len(found) != 1 else ''} to fix shown beside it{waiting}"
    )


def _awaited(step: str) -> str:
    """What a later step supplies, in words ('a plan')."""
    return {"plans": "a plan"}.get(step, f"the {STEP_BY_KEY[step].title} step")


def _waiting_words(problem) -> str:
    """A problem a later step supplies, said as waiting: 'waiting for a plan (the Plans
    step): no plan covers class FT ...'."""
    where = STEP_BY_KEY[problem.waits_for].title
    return f"waiting for {_awaited(problem.waits_for)} (the {where} step): {problem.message}"


@bp.get("/groups/new")
def group_setup_start():
    return render_template(
        "admin/setup/start.html", drafts=open_drafts(db_session()), form=PlainForm()
    )


@bp.post("/groups/new")
def group_setup_new():
    return run_action(
        lambda: start_draft(db_session(), current_user),
        to=lambda draft: _step_url(draft.id, "group"),
        done="A new set-up is started: fill in the steps in any order; it is saved as you go.",
        back=url_for("admin.group_setup_start"),
    )


def _watched(data: dict) -> list[str]:
    """The credit-control watchlist's warnings for the tax id typed on the group step."""
    if not data.get("tax_id"):
        return []
    return [
        warning(data.get("group_number", ""), data.get("name", ""), entry)
        for entry in matches(db_session(), data["tax_id"], today())
    ]


def _editing(draft: GroupSetupDraft) -> EmployerGroup | None:
    return db_session().get(EmployerGroup, draft.edits_group_id) if draft.edits_group_id else None


@bp.post("/groups/<int:group_id>/edit")
def group_setup_edit(group_id: int):
    scope = load_group(group_id)
    return run_action(
        lambda: start_edit(db_session(), scope.group, current_user, today()),
        to=lambda draft: _step_url(draft.id, "group"),
        done=f"Editing {scope.group.name}'s set-up: change any step, then check and apply. "
        "Nothing changes on the group until you apply.",
        back=url_for("admin.group_detail", group_id=group_id),
    )


@bp.get("/setup/<int:draft_id>/<step>")
def group_setup_step(draft_id: int, step: str):
    draft = _draft(draft_id)
    this = _step(step)
    problems = check_draft(db_session(), draft, today())
    # A step's badge counts what is wrong there; what a later step supplies waits (a class
    # no plan covers yet): shown as waiting on the steps, a problem on the check page.
    wrong = [p for p in problems if not p.waiting]
    per_step = {s.key: sum(1 for p in wrong if p.step == s.key) for s in STEPS}
    per_step_waiting = {}
    for s in STEPS:
        ws = [p for p in problems if p.step == s.key and p.waiting]
        if ws:
            per_step_waiting[s.key] = f"{len(ws)} waiting for {_awaited(ws[0].waits_for)}"
    mine = draft_step_problems(wrong, step)
    waiting = {}
    for p in problems:
        if p.step == step and p.waiting:
            waiting.setdefault(p.row, []).append(_waiting_words(p))
    awaited = [str(p) for p in problems if p.waits_for == step]
    data = draft.document.get(step) or ({} if not this.many else [])
    choices = _choices(draft)
    if this.many:
        form = step_form(this, prefix="add", choices=choices)
        rows = data
    else:
        form = step_form(this, data, choices=choices)
        rows = []
        if data:  # an untouched step says nothing yet; the check page lists all
            for (_, fname), messages in mine.items():
                if fname and fname in form:
                    form[fname].errors = list(messages)
    watched = _watched(data) if step == "group" else []
    editing = _editing(draft)
    return render_template(
        "admin/setup/step.html",
        draft=draft,
        step=this,
        steps=STEPS,
        per_step=per_step,
        per_step_waiting=per_step_waiting,
        form=form,
        rows=rows,
        mine=mine,
        waiting=waiting,
        awaited=awaited,
        shown=lambda name, value: value_words(name, value, choices),
        label_for=label_for,
        remove_form=PlainForm(),
        watched=watched,
        live=draft.group_id is not None,
        editing=editing,
        live_rates=live_rate_plans(db_session(), editing) if step == "rates" else [],
        live_keys=set(((draft.document.get("edit") or {}).get("live") or {}).get(step) or []),
        row_key=lambda row: live_row_key(step, row),
        keyed=step in LIVE_KEYS,
    )


def _row_of(draft: GroupSetupDraft, step, row: int) -> dict:
    rows = draft.document.get(step.key) or []
    if not step.many or not 1 <= row <= len(rows):
        abort(404)
    return rows[row - 1]


@bp.get("/setup/<int:draft_id>/<step>/<int:row>")
def group_setup_row(draft_id: int, step: str, row: int):
    draft = _draft(draft_id)
    this = _step(step)
    values = _row_of(draft, this, row)
    found = check_draft(db_session(), draft, today())
    problems = draft_step_problems([p for p in found if not p.waiting], step)
    form = step_form(this, values, prefix="row", choices=_choices(draft))
    for (r, fname), messages in problems.items():
        if r == row and fname and fname in form:
            form[fname].errors = list(messages)
    waiting = [_waiting_words(p) for p in found if p.step == step and p.row == row and p.waiting]
    return render_template(
        "admin/setup/row.html",
        draft=draft,
        step=this,
        steps=STEPS,
        row=row,
        form=form,
        general=problems.get((row, None), []),
        waiting=waiting,
        live=draft.group_id is not None,
        editing=_editing(draft),
    )


@bp.post("/setup/<int:draft_id>/<step>/<int:row>")
def group_setup_row_save(draft_id: int, step: str, row: int):
    draft = _draft(draft_id)
    this = _step(step)
    _row_of(draft, this, row)
    form = step_form(this, prefix="row", choices=_choices(draft))

    def saved(f) -> str:
        save_row(db_session(), draft, step, row, form_values(f, this))
        return f"{this.title}: row {row} saved{_to_fix(draft, step, row)}."

    return submit_form(
        form,
        saved,
        back=_step_url(draft_id, step),
        failure="Not saved",
    )


@bp.post("/setup/<int:draft_id>/<step>")
def group_setup_save(draft_id: int, step: str):
    draft = _draft(draft_id)
    this = _step(step)
    back = _step_url(draft_id, step)
    choices = _choices(draft)

    if this.many:
        form = step_form(this, prefix="add", choices=choices)

        def added(f) -> str:
            n = add_row(db_session(), draft, step, form_values(f, this))
            return f"{this.title}: row {n} added{_to_fix(draft, step, n)}."

        return submit_form(form, added, back=back, failure="Not added")

    form = step_form(this, choices=choices)

    def saved(f) -> str:
        save_step(db_session(), draft, step, form_values(f, this))
        return f"{this.title} saved{_to_fix(draft, step, None)}."

    return submit_form(form, saved, back=back, failure="Not saved")


@bp.post("/setup/<int:draft_id>/<step>/<int:row>/remove")
def group_setup_remove_row(draft_id: int, step: str, row: int):
    draft = _draft(draft_id)
    this = _step(step)

    def removed(_f) -> str:
        remove_row(db_session(), draft, step, row)
        return f"{this.title}: row {row} removed."

    return submit_form(PlainForm(), removed, back=_step_url(draft_id, step), failure="Not removed")


@bp.get("/setup/<int:draft_id>/check")
def group_setup_check(draft_id: int):
    draft = _draft(draft_id)
    problems = check_draft(db_session(), draft, today())
    return render_template(
        "admin/setup/check.html",
        draft=draft,
        steps=STEPS,
        problems=problems,
        summary=draft_summary(draft, db_session()),
        form=PlainForm(),
        live=draft.group_id is not None,
        watched=_watched(draft.document.get("group") or {}),
        warnings=draft_warnings(draft),
        editing=_editing(draft),
    )


@bp.post("/setup/<int:draft_id>/live")
def group_setup_live(draft_id: int):
    draft = _draft(draft_id)
    back = url_for("admin.group_setup_check", draft_id=draft_id)

    def live(_f) -> str:
        editing = draft.edits_group_id is not None
        group, summary = go_live(db_session(), draft, actor=current_user, on=today())
        said = (
            f"{group.name} ({group.group_number}): the set-up changes are applied and kept in "
            "its history."
            if editing
            else f"{group.name} ({group.group_number}) is live: it is billed in the next run."
        )
        if summary.warnings:
            said += " Note: " + " ".join(summary.warnings)
        return said

    form = PlainForm()

    def act() -> str:
        require_valid(form)
        return live(form)

    return run_action(
        act,
        to=lambda _said: url_for("admin.group_detail", group_id=draft.group_id),
        done=lambda said: said,
        back=back,
        failed="Not live",
    )


# --------------------------------------------------------------------------- termination


@bp.get("/groups/<int:group_id>/terminate")
def group_terminate_page(group_id: int):
    return _terminate_page(load_group(group_id).group, TerminateForm())


def _terminate_page(group, form: TerminateForm):
    """The termination form (after a refused one: each error beside its field)."""
    session = db_session()
    return render_template(
        "admin/setup/terminate.html",
        group=group,
        done=termination_of(session, group.id),
        standing=standing(session, group),
        form=form,
    )


@bp.post("/groups/<int:group_id>/terminate")
def group_terminate(group_id: int):
    scope = load_group(group_id)
    group = scope.group
    back = url_for("admin.group_terminate_page", group_id=group_id)

    def terminated(form: TerminateForm) -> Done:
        session = db_session()
        day = form.terminated_on.data
        done = terminate_group(
            session, group, terminated_on=day, reason=form.reason.data, actor=current_user
        )
        now = standing(session, group)
        ask = Ask(
            title=f"Terminate {group.name}?",
            button="Confirm: terminate the group",
            rows=[
                ("Group", f"{group.name} ({group.group_number})"),
                ("Last covered day", f"{day:%b %-d, %Y}"),
                ("Coverages ending that day", f"{done.coverages_ended}"),
                ("Final bill", f"the period holding {month_start(day):%B %Y}"),
                (
                    "Billing",
                    f"stops: nothing is billed from {add_months(month_start(day), 1):%B %Y} on",
                ),
                ("Open bills", now.open_bills),
                ("Unapplied credit", now.credit),
                ("Today", now.words),
                ("Reason", form.reason.data),
            ],  # fmt: skip
            notes=[
                "The final bill is issued by the billing run as usual. A balance left after it "
                "is collected; a credit left is refunded from the refunds page.",
                "Only a supervisor or an admin terminates a group. It is kept in the group's "
                "history.",
            ],
            danger=True,
            cancel=back,
            cancel_words="Go back: do not terminate",
        )
        return Done(
            f"{group.name} is terminated: its last covered day is {day:%b %-d, %Y}.", ask=ask
        )

    form = TerminateForm()
    if not form.validate_on_submit():  # the form again, each error beside its field
        return _terminate_page(group, form)
    return confirm_form(form, terminated, back=back, failure="Not terminated")


@bp.get("/groups/<int:group_id>/history")
def group_history(group_id: int):
    scope = load_group(group_id)
    return render_template(
        "admin/setup/history.html",
        group=scope.group,
        events=timeline(db_session(), group_id),
    )
