"""Staff: submitted census uploads, each with what it changes, and approval (enrollment updated,
retro adjustments queued for the adjustment queue)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from admin import bp
from billing_core import audit
from billing_core.census.uploads import approve_upload, find_upload, preview_upload
from billing_core.errors import BillingError
from billing_core.models import EmployerGroup, Upload
from billing_core.models.enums import UploadStatus
from portal.extensions import db_session
from portal.web import client_ip, load_group, today


@bp.get("/uploads")
def upload_queue():
    rows = (
        db_session()
        .execute(
            select(Upload, EmployerGroup)
            .join(EmployerGroup, EmployerGroup.id == Upload.group_id)
            .where(Upload.status == UploadStatus.SUBMITTED)
            .order_by(Upload.created_at)
        )
        .all()
    )
    return render_template("admin/uploads.html", rows=rows)


def _load(group_id: int, upload_id: int):
    scope = load_group(group_id)
    upload = find_upload(db_session(), scope.group.id, upload_id)
    if upload is None:
        abort(404)
    return scope, upload


@bp.get("/groups/<int:group_id>/uploads/<int:upload_id>")
def upload_review(group_id: int, upload_id: int):
    scope, upload = _load(group_id, upload_id)
    session = db_session()
    preview = preview_upload(
        session, upload, actor=current_user, today=today(), priced_status=UploadStatus.SUBMITTED
    )
    session.rollback()
    return render_template("admin/upload.html", scope=scope, upload=upload, **vars(preview))


@bp.post("/groups/<int:group_id>/uploads/<int:upload_id>/approve")
def upload_approve(group_id: int, upload_id: int):
    scope, upload = _load(group_id, upload_id)
    session = db_session()
    back = url_for("admin.upload_review", group_id=group_id, upload_id=upload_id)
    try:
        result = approve_upload(session, upload, actor=current_user, as_of=today(), today=today())
    except BillingError as error:
        session.rollback()
        flash(f"Not approved: {error}", "error")
        return redirect(back)
    audit.record(
        session,
        "upload.approved",
        actor=current_user,
        target=upload,
        group_id=group_id,
        ip_address=client_ip(),
        detail=result.as_dict(),
    )
    session.commit()
    flash(
        f"{upload.original_filename} approved: {result.members_added} added, "
        f"{result.members_changed} changed, {result.members_termed} termed; "
        f"{len(result.adjustments)} adjustment(s) are pending in the adjustment queue.",
        "success",
    )
    return redirect(url_for("admin.adjustment_queue", group=scope.group.group_number))
