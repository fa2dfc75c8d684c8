"""The employer face: the HR administrator's groups and their invoices (census uploads in
`uploads`, paying in `payments`, the statement in `statements`)."""

from flask import render_template, url_for

from billing_core.billing.groups import group_summary, latest_invoice_row
from billing_core.billing.invoices import period_label
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
        summary=group_summary(session, scope, today(), with_brokers=False),
        latest=latest_invoice_row(session, scope, today()),
        period_label=period_label,
        **statement_pages.dashboard_context(scope),
    )


@bp.get("/groups/<int:group_id>/invoices")
@role_required(Role.EMPLOYER)
def invoice_list(group_id: int):
    return invoice_pages.render_invoice_list(load_group(group_id), AREA)


@bp.get("/groups/<int:group_id>/invoices/<int:invoice_id>")
@role_required(Role.EMPLOYER)
def invoice_detail(group_id: int, invoice_id: int):
    return invoice_pages.render_invoice_detail(load_group(group_id), invoice_id, AREA)


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
