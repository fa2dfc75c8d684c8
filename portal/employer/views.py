"""The employer face: the HR administrator's groups and their invoices (census uploads in
`uploads`, paying in `payments`, the statement in `statements`)."""

from flask import Response, abort, current_app, render_template, url_for

from billing_core.billing.groups import group_summary, latest_invoice_row
from billing_core.billing.invoices import period_label
from billing_core.collections.employer_clock import (
    employer_clock,
    group_notice,
    group_notices,
    stage_words,
)
from billing_core.collections.notices import notice_pdf
from billing_core.models.enums import Role
from portal import invoice_pages, statement_pages
from portal.employer import bp
from portal.extensions import db_session
from portal.web import elsewhere, load_group, my_groups, role_required, today

AREA = "employer"


@bp.get("/")
@role_required(Role.EMPLOYER)
def home():
    groups = my_groups()
    if len(groups) == 1:
        return elsewhere(url_for("employer.group_home", group_id=groups[0].id))
    return render_template("employer/home.html", groups=groups)


@bp.get("/groups/<int:group_id>")
@role_required(Role.EMPLOYER)
def group_home(group_id: int):
    scope = load_group(group_id)
    session = db_session()
    return render_template(
        "employer/group.html",
        scope=scope,
        summary=group_summary(session, scope, today(), with_brokers=False, rate_history=False),
        latest=latest_invoice_row(session, scope, today()),
        period_label=period_label,
        **_clock_context(scope),
        **statement_pages.dashboard_context(scope),
    )


def _clock_context(scope) -> dict:
    """The delinquency clock (billing_core.collections.employer_clock) and what its block
    needs: the remit details quoting the overdue bills, the pay link's invoices (those the
    user sees) or, when credits or disputes make the cure amount differ from their sum, the
    amount."""
    clock = employer_clock(db_session(), scope.group, today())
    if clock is None:
        return {"clock": None}
    seen = [b for b in clock.bills if scope.whole_group or b.subgroup_id is None
            or b.subgroup_id in scope.subgroup_ids]  # fmt: skip
    remit = current_app.config["SETTINGS"].remit_instructions
    if scope.whole_group and sum(b.open_amount for b in seen) != clock.cure_amount:
        pay_args = {"amount": str(clock.cure_amount)}
    else:
        pay_args = {"invoice": [b.invoice_id for b in seen]}
    return {
        "clock": clock,
        "clock_pay_url": url_for("employer.payment_start", group_id=scope.group.id, **pay_args),
        "remit": remit,
        "remit_reference": remit.reference(
            scope.group.group_number, ", ".join(b.invoice_number for b in seen)
        ),
    }


@bp.get("/groups/<int:group_id>/invoices")
@role_required(Role.EMPLOYER)
def invoice_list(group_id: int):
    return invoice_pages.render_invoice_list(load_group(group_id), AREA)


@bp.get("/groups/<int:group_id>/invoices/<int:invoice_id>")
@role_required(Role.EMPLOYER)
def invoice_detail(group_id: int, invoice_id: int):
    scope = load_group(group_id)
    clock = _clock_context(scope)
    return invoice_pages.render_invoice_detail(
        scope, invoice_id, AREA, clock=clock["clock"], clock_pay_url=clock.get("clock_pay_url")
    )


@bp.get("/groups/<int:group_id>/notices")
@role_required(Role.EMPLOYER)
def notice_list(group_id: int):
    """The group's past-due notices (date, what, amount), each with its PDF letter."""
    scope = load_group(group_id)
    return render_template(
        "employer/notices.html",
        scope=scope,
        notices=group_notices(db_session(), scope.group.id, scope.subgroup_ids),
        stage_words=stage_words,
    )


@bp.get("/groups/<int:group_id>/notices/<int:notice_id>/notice.pdf")
@role_required(Role.EMPLOYER)
def notice_download(group_id: int, notice_id: int):
    scope = load_group(group_id)
    action = group_notice(db_session(), scope.group.id, notice_id, scope.subgroup_ids)
    if action is None:
        abort(404)
    return Response(
        notice_pdf(action),
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="notice-{action.done_on}-{action.id}.pdf"',
            "Cache-Control": "no-store, private",
        },
    )


@bp.get("/groups/<int:group_id>/invoices/<int:invoice_id>/lines")
@role_required(Role.EMPLOYER)
def invoice_lines(group_id: int, invoice_id: int):
    return invoice_pages.render_invoice_lines(load_group(group_id), invoice_id, AREA)


@bp.get("/groups/<int:group_id>/invoices/<int:invoice_id>/bridge/<step>")
@role_required(Role.EMPLOYER)
def invoice_bridge_step(group_id: int, invoice_id: int, step: str):
    return invoice_pages.render_bridge_step(load_group(group_id), invoice_id, step, AREA)


@bp.get("/groups/<int:group_id>/invoices/<int:invoice_id>/invoice.pdf")
@role_required(Role.EMPLOYER)
def invoice_pdf(group_id: int, invoice_id: int):
    return invoice_pages.send_invoice_pdf(load_group(group_id), invoice_id)


@bp.get("/groups/<int:group_id>/invoices/<int:invoice_id>/lines.<any(csv, xlsx):fmt>")
@role_required(Role.EMPLOYER)
def invoice_lines_download(group_id: int, invoice_id: int, fmt: str):
    return invoice_pages.send_invoice_lines(load_group(group_id), invoice_id, fmt)
