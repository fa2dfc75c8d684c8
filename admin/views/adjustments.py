"""Staff: the future-bill adjustment queue. Approve, reject or reverse, each with the four-eyes
rules of billing_core.adjustments enforced on the server (the buttons only mirror them)."""

from __future__ import annotations

from decimal import Decimal

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import aliased
from wtforms import TextAreaField
from wtforms.validators import Length

from admin import bp
from billing_core import audit
from billing_core.adjustments import (
    DEFAULT_AUTHORITY_LIMIT,
    SUPERVISING_ROLES,
    approve_adjustment,
    needs_supervisor,
    reason_label,
    reject_adjustment,
    reverse_adjustment,
    source_label,
)
from billing_core.errors import BillingError
from billing_core.models import Adjustment, EmployerGroup, Member, Plan, User
from billing_core.models.enums import AdjustmentStatus
from portal.extensions import db_session
from portal.web import client_ip, paginate

STATUSES = [s.value for s in AdjustmentStatus]


class DecisionForm(FlaskForm):
    note = TextAreaField("Note or reason", validators=[Length(max=500)])


def authority_limit() -> Decimal:
    return Decimal(
        str(current_app.config.get("ADJUSTMENT_AUTHORITY_LIMIT", DEFAULT_AUTHORITY_LIMIT))
    )


@bp.get("/adjustments")
def adjustment_queue():
    status = request.args.get("status", "pending")
    group_q = request.args.get("group", "").strip()
    requester = aliased(User)
    query = (
        select(Adjustment, EmployerGroup, Member, Plan, requester)
        .join(EmployerGroup, EmployerGroup.id == Adjustment.group_id)
        .outerjoin(Member, Member.id == Adjustment.member_id)
        .outerjoin(Plan, Plan.id == Adjustment.plan_id)
        .outerjoin(requester, requester.id == Adjustment.requested_by_id)
    )
    if status in STATUSES:
        query = query.where(Adjustment.status == AdjustmentStatus(status))
    if group_q:
        like = f"%{group_q}%"
        query = query.where(EmployerGroup.group_number.ilike(like) | EmployerGroup.name.ilike(like))
    query = query.order_by(EmployerGroup.group_number, Adjustment.coverage_month, Adjustment.id)
    page = paginate(query, per_page=50, rows=True)
    limit = authority_limit()
    return render_template(
        "admin/adjustments.html",
        page=page,
        status=status,
        statuses=STATUSES,
        group_q=group_q,
        form=DecisionForm(),
        limit=limit,
        needs_supervisor=lambda a: needs_supervisor(a, limit),
        may_supervise=current_user.role in SUPERVISING_ROLES,
        reason_label=reason_label,
        source_label=source_label,
    )


def _decide(adjustment_id: int, action: str):
    session = db_session()
    adjustment = session.get(Adjustment, adjustment_id)
    back = request.form.get("next") or url_for("admin.adjustment_queue")
    if adjustment is None:
        flash("That adjustment no longer exists.", "error")
        return redirect(back)
    form = DecisionForm()
    if not form.validate():
        flash("The note is too long (500 characters at most).", "error")
        return redirect(back)
    note = form.note.data or ""
    try:
        if action == "approve":
            approve_adjustment(
                adjustment, actor=current_user, note=note, authority_limit=authority_limit()
            )
            message = "approved; the next invoice bills it"
        elif action == "reject":
            reject_adjustment(adjustment, actor=current_user, reason=note)
            message = "rejected"
        else:
            opposite = reverse_adjustment(session, adjustment, actor=current_user, reason=note)
            message = (
                f"reversed; adjustment {opposite.id} credits it on the next invoice"
                if opposite
                else "reversed before billing; it will not be billed"
            )
    except BillingError as error:
        session.rollback()
        flash(f"Adjustment {adjustment_id} not changed: {error}", "error")
        return redirect(back)
    audit.record(
        session,
        f"adjustment.{action}",
        actor=current_user,
        target=adjustment,
        group_id=adjustment.group_id,
        ip_address=client_ip(),
        detail={"amount": str(adjustment.amount), "note": note[:200]},
    )
    session.commit()
    flash(f"Adjustment {adjustment.id} of {adjustment.amount:,.2f} {message}.", "success")
    return redirect(back)


@bp.post("/adjustments/<int:adjustment_id>/approve")
def adjustment_approve(adjustment_id: int):
    return _decide(adjustment_id, "approve")


@bp.post("/adjustments/<int:adjustment_id>/reject")
def adjustment_reject(adjustment_id: int):
    return _decide(adjustment_id, "reject")


@bp.post("/adjustments/<int:adjustment_id>/reverse")
def adjustment_reverse(adjustment_id: int):
    return _decide(adjustment_id, "reverse")
