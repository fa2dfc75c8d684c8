"""The employer face: the HR administrator's groups."""

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import select
from wtforms import SelectChoice, SelectField

from billing_core.census.uploads import (
    find_upload,
    preview_upload,
    receive_upload,
    submit_upload,
)
from billing_core.errors import BillingError, ValidationFailed
from billing_core.groups import group_summary
from billing_core.invoices import invoice_list_query, invoice_rows, period_label
from billing_core.models import Invoice, Upload
from billing_core.models.enums import InvoiceStatus, Role, UploadKind, UploadStatus
from portal import invoice_pages
from portal.employer import bp
from portal.extensions import db_session
from portal.web import load_group, my_groups, role_required, today

AREA = "employer"


@bp.get("/")
@role_required(Role.EMPLOYER)
def home():
    groups = my_groups()
    if len(groups) == 1:
        return redirect(url_for("employer.group_home", group_id=groups[0].id))
    return render_template("employer/home.html", groups=groups)


@bp.get("/groups/<int:group_id>")
@role_required(Role.EMPLOYER)
def group_home(group_id: int):
    scope = load_group(group_id)
    session = db_session()
    summary = group_summary(session, scope, today())
    latest = session.scalars(
        invoice_list_query(scope.group.id, scope.subgroup_ids)
        .where(Invoice.status != InvoiceStatus.VOID)
        .limit(1)
    ).first()
    latest_row = invoice_rows(session, scope.group, [latest], today())[0] if latest else None
    return render_template(
        "employer/group.html",
        scope=scope,
        summary=summary,
        latest=latest_row,
        period_label=period_label,
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


class UploadForm(FlaskForm):
    census_file = FileField(
        "Census or change file (CSV, XLSX or X12 834)",
        validators=[FileRequired(message="Choose a file to upload.")],
    )
    kind = SelectField(
        "What the file is",
        choices=[
            SelectChoice("", "Let the portal tell (CSV/XLSX: it guesses; an 834 says itself)"),
            SelectChoice("snapshot", "Full census: everyone covered today"),
            SelectChoice("change", "Change file: only adds, terms and changes"),
        ],
    )


def _uploads(group_id: int):
    return (
        db_session()
        .scalars(
            select(Upload).where(Upload.group_id == group_id).order_by(Upload.created_at.desc())
        )
        .all()
    )


@bp.route("/groups/<int:group_id>/uploads", methods=["GET", "POST"])
@role_required(Role.EMPLOYER)
def upload_list(group_id: int):
    """Upload a file: it is read and compared with enrollment at once. A bad file is shown
    row by row and nothing is kept; a good one is kept as a preview to submit."""
    scope = load_group(group_id)
    form = UploadForm()
    problems = []
    if form.validate_on_submit():
        if scope.subgroup_ids is not None:
            flash(
                "Your access covers some locations only; ask your group's administrator "
                "to upload the census for the whole group.",
                "error",
            )
            return redirect(url_for("employer.upload_list", group_id=group_id))
        file = form.census_file.data
        session = db_session()
        try:
            received = receive_upload(
                session,
                scope.group,
                file.read(),
                file.filename or "upload",
                uploaded_by=current_user,
                kind=UploadKind(form.kind.data) if form.kind.data else None,
                as_of=today(),
                status=UploadStatus.RECEIVED,
            )
        except ValidationFailed as rejected:
            session.rollback()
            problems = rejected.errors
            flash(f"{rejected.args[0]}. Fix the rows below and upload it again.", "error")
        else:
            session.commit()
            return redirect(
                url_for("employer.upload_detail", group_id=group_id, upload_id=received.upload.id)
            )
    return render_template(
        "employer/uploads.html",
        scope=scope,
        form=form,
        uploads=_uploads(group_id),
        problems=problems,
    )


def _load_upload(group_id: int, upload_id: int) -> tuple:
    scope = load_group(group_id)
    upload = find_upload(db_session(), scope.group.id, upload_id)
    if upload is None:
        abort(404)
    return scope, upload


@bp.get("/groups/<int:group_id>/uploads/<int:upload_id>")
@role_required(Role.EMPLOYER)
def upload_detail(group_id: int, upload_id: int):
    scope, upload = _load_upload(group_id, upload_id)
    session = db_session()
    preview = preview_upload(
        session, upload, actor=current_user, today=today(), priced_status=UploadStatus.RECEIVED
    )
    session.rollback()
    return render_template("employer/upload.html", scope=scope, upload=upload, **vars(preview))


@bp.post("/groups/<int:group_id>/uploads/<int:upload_id>/submit")
@role_required(Role.EMPLOYER)
def upload_submit(group_id: int, upload_id: int):
    scope, upload = _load_upload(group_id, upload_id)
    session = db_session()
    if scope.subgroup_ids is not None:
        flash(
            "Your access covers some locations only; the group's administrator submits the "
            "census for the whole group.",
            "error",
        )
        return redirect(url_for("employer.upload_detail", group_id=group_id, upload_id=upload_id))
    try:
        submit_upload(upload)
    except BillingError as error:
        flash(str(error), "error")
    else:
        session.commit()
        flash(f"{upload.original_filename} was submitted; billing will review it.", "success")
    return redirect(url_for("employer.upload_detail", group_id=group_id, upload_id=upload_id))
