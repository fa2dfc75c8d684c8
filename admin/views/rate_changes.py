"""Staff: a group's rates, renewals and mid-year corrections (issue 22, item 2).

/admin/groups/<id>/rates lists the plans with their rate versions (dates, billed marker) and
the rate changes, and starts a renewal or a correction; /admin/groups/<id>/rates/<change> shows
a change's proposed rates and its premium impact (per plan, in total, per member on request,
the retro differences of billed months) with submit, approve (asked and confirmed first, with
the figures) and withdraw; /admin/groups/<id>/rates/<change>/plans/<plan> edits one plan's
proposed rates, each problem of the import's check beside its field. Every rule (four eyes,
who edits, what approval writes) is billing_core.setup.rate_changes'."""

from __future__ import annotations

from flask import abort, render_template, request, url_for
from flask_login import current_user

from admin import bp
from admin.actions import confirm_form, load_or_404, require_valid, submit_form
from admin.views.rate_changes_forms import (
    ButtonForm,
    CorrectionForm,
    RenewalForm,
    plan_rates_form,
)
from billing_core.errors import BillingError, ValidationFailed
from billing_core.models.rate_changes import RateChange
from billing_core.money import format_dollars
from billing_core.setup.rate_changes import (
    FORM_FIELDS,
    approval_authority,
    approve,
    edit_plan_rates,
    form_values,
    impact,
    impact_or_problem,
    next_renewal_date,
    plans_with_rates,
    rate_changes_of,
    start_correction,
    start_renewal,
    submit,
    version_rates,
    withdraw,
)
from portal.confirmation import Ask, Done, Table
from portal.extensions import db_session
from portal.web import load_group, run_action, today


def _rates_url(group_id: int) -> str:
    return url_for("admin.group_rates", group_id=group_id)


def _change_url(change: RateChange) -> str:
    return url_for("admin.rate_change", group_id=change.group_id, change_id=change.id)


def _beside(form, error: BillingError) -> list[str]:
    """A refusal's problems beside the form's fields; those of no field are returned."""
    rest = []
    problems = error.errors if isinstance(error, ValidationFailed) else []
    for problem in problems:
        if problem.column and problem.column in form:
            form[problem.column].errors = [*form[problem.column].errors, problem.message]
        else:
            rest.append(problem.message)
    if not problems and not form.errors:
        rest.append(str(error))
    return rest


def short_label(label: str) -> str:
    """A field's label without its hint, for a summary (Age bands, Child rate)."""
    return label.split(" (")[0]


def _versions_text(plan) -> list[dict]:
    basis = plan.product.rating_basis
    labels = {name: short_label(label) for name, label, _ in FORM_FIELDS[basis]}
    rows = []
    for version in reversed(plan.rate_versions):
        values = form_values(version_rates(version, basis), basis)
        rows.append(
            {
                "version": version,
                "rates": [(labels[k], v) for k, v in values.items() if v],
            }
        )
    return rows


def _rates_page(group, renewal=None, correction=None, problems=(), status=200):
    session = db_session()
    plans = plans_with_rates(session, group.id)
    return render_template(
        "admin/rates/group.html",
        group=group,
        plans=[(p, _versions_text(p)) for p in plans],
        changes=rate_changes_of(session, group),
        renewal=renewal or RenewalForm(prefix="renewal"),
        correction=correction or CorrectionForm(prefix="correction"),
        next_renewal=next_renewal_date(group, today()),
        problems=list(problems),
    ), status


@bp.get("/groups/<int:group_id>/rates")
def group_rates(group_id: int):
    return _rates_page(load_group(group_id).group)


@bp.post("/groups/<int:group_id>/rates/renew")
def rates_start_renewal(group_id: int):
    group = load_group(group_id).group
    form = RenewalForm(prefix="renewal")

    def act() -> RateChange:
        require_valid(form)
        return start_renewal(
            db_session(), group, actor=current_user, today=today(),
            effective_from=form.effective_from.data, ip_address=request.remote_addr,
        )  # fmt: skip

    return run_action(
        act,
        to=_change_url,
        done=lambda c: (
            f"Renewal started, effective {c.effective_from:%b %-d, %Y}: the rates "
            "in force that day are copied; edit them, then submit for a second person's approval."
        ),
        refused=lambda e: _rates_page(group, renewal=form, problems=_beside(form, e), status=422),
    )


@bp.post("/groups/<int:group_id>/rates/correct")
def rates_start_correction(group_id: int):
    group = load_group(group_id).group
    form = CorrectionForm(prefix="correction")

    def act() -> RateChange:
        require_valid(form)
        return start_correction(
            db_session(), group, actor=current_user, today=today(),
            effective_from=form.effective_from.data, reason=form.reason.data,
            ip_address=request.remote_addr,
        )  # fmt: skip

    def refused(error: BillingError):
        form.validate()  # the form's own messages beside their fields too
        return _rates_page(group, correction=form, problems=_beside(form, error), status=422)

    return run_action(
        act,
        to=_change_url,
        done=lambda c: (
            f"Correction started from {c.effective_from:%b %-d, %Y}: edit the rates, "
            "then submit; a supervisor approves it."
        ),
        refused=refused,
    )


def _load_change(group_id: int, change_id: int):
    """The group (authorised) and its rate change; another group's change is a 404."""
    group = load_group(group_id).group
    change = load_or_404(RateChange, change_id)
    if change.group_id != group.id:
        abort(404)
    return group, change


@bp.get("/groups/<int:group_id>/rates/<int:change_id>")
def rate_change(group_id: int, change_id: int):
    group, change = _load_change(group_id, change_id)
    per_member = request.args.get("members") == "1"
    result, problem = impact_or_problem(db_session(), change, per_member=per_member)
    authority = approval_authority(db_session(), change)
    return render_template(
        "admin/rates/change.html",
        group=group,
        change=change,
        impact=result,
        problem=problem,
        per_member=per_member,
        plans=[
            (
                item,
                [
                    (short_label(label), value)
                    for (_name, label, _), value in zip(
                        FORM_FIELDS[item.plan.product.rating_basis],
                        form_values(item.rates, item.plan.product.rating_basis).values(),
                        strict=True,
                    )
                    if value
                ],
            )
            for item in change.plans
        ],
        form=ButtonForm(),
        mine=change.proposed_by_id == current_user.id,
        refusal=authority.refusal(current_user),
    )


def _plan_page(group, change, item, form, problems=(), status=200):
    return render_template(
        "admin/rates/plan.html",
        group=group,
        change=change,
        item=item,
        form=form,
        fields=[name for name, _, _ in FORM_FIELDS[item.plan.product.rating_basis]],
        problems=list(problems),
    ), status


def _item(change, plan_id: int):
    for item in change.plans:
        if item.plan_id == plan_id:
            return item
    abort(404)


@bp.get("/groups/<int:group_id>/rates/<int:change_id>/plans/<int:plan_id>")
def rate_change_plan(group_id: int, change_id: int, plan_id: int):
    group, change = _load_change(group_id, change_id)
    item = _item(change, plan_id)
    basis = item.plan.product.rating_basis
    return _plan_page(group, change, item, plan_rates_form(basis, form_values(item.rates, basis)))


@bp.post("/groups/<int:group_id>/rates/<int:change_id>/plans/<int:plan_id>")
def rate_change_plan_save(group_id: int, change_id: int, plan_id: int):
    group, change = _load_change(group_id, change_id)
    item = _item(change, plan_id)
    form = plan_rates_form(item.plan.product.rating_basis)

    def act():
        require_valid(form)
        values = {name: form[name].data or "" for name in form.data if name != "csrf_token"}
        return edit_plan_rates(
            db_session(), change, plan_id, values, actor=current_user,
            ip_address=request.remote_addr,
        )  # fmt: skip

    return run_action(
        act,
        to=_change_url(change),
        done=f"The proposed rates of plan {item.plan.code} are saved.",
        refused=lambda e: _plan_page(
            group, change, item, form, problems=_beside(form, e), status=422
        ),
    )


@bp.post("/groups/<int:group_id>/rates/<int:change_id>/submit")
def rate_change_submit(group_id: int, change_id: int):
    _group, change = _load_change(group_id, change_id)
    return submit_form(
        ButtonForm(),
        lambda _f: (
            submit(db_session(), change, actor=current_user, ip_address=request.remote_addr)
            and "Submitted: another staff member approves it"
            + (" (a supervisor, for a correction)." if change.kind.value == "correction" else ".")
        ),
        back=_change_url(change),
        failure="Not submitted",
    )


@bp.post("/groups/<int:group_id>/rates/<int:change_id>/withdraw")
def rate_change_withdraw(group_id: int, change_id: int):
    _group, change = _load_change(group_id, change_id)
    return submit_form(
        ButtonForm(),
        lambda _f: (
            withdraw(db_session(), change, actor=current_user, ip_address=request.remote_addr)
            and "Withdrawn: nothing it proposed was written."
        ),
        back=_change_url(change),
        failure="Not withdrawn",
    )


@bp.post("/groups/<int:group_id>/rates/<int:change_id>/approve")
def rate_change_approve(group_id: int, change_id: int):
    group, change = _load_change(group_id, change_id)
    back = _change_url(change)

    def approved(_form) -> Done:
        session = db_session()
        figures = impact(session, change)
        approve(session, change, actor=current_user, ip_address=request.remote_addr)
        rows = [
            ("Group", f"{group.name} ({group.group_number})"),
            ("Kind", change.kind.value),
            ("Effective", f"{change.effective_from:%b %-d, %Y}"),
            (f"Premium of {figures.month:%B %Y} now", figures.old),
            ("With the new rates", figures.new),
        ]
        if figures.billed_months:
            rows.append(
                (
                    f"Retro for {len(figures.billed_months)} billed month(s), on the next invoice",
                    figures.retro,
                )
            )
        ask = Ask(
            title=f"Approve the rate {change.kind.value} of {group.name}?",
            button=f"Confirm: approve the {change.kind.value}",
            rows=rows,
            total=("Change a month", figures.total_change),
            table=Table(
                ["Plan", "Members", "Now", "New", "Change"],
                [[p.plan.code, p.members, p.old, p.new, p.change] for p in figures.plans],
            ),
            notes=[
                "The new rate versions are written; the rates billed so far are never edited.",
                "Proposed by someone else: you are the second person.",
            ],
            cancel=back,
            cancel_words="Go back: do not approve",
        )
        return Done(
            f"Approved: the new rates apply from {change.effective_from:%b %-d, %Y} "
            f"({format_dollars(figures.total_change)} a month).",
            ask=ask,
        )

    return confirm_form(ButtonForm(), approved, back=back, failure="Not approved")
