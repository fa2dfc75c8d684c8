"""Admins: the staff accounts with their second factor, and resetting another staff member's
enrolment (a lost phone); employer groups that require a second factor of their users."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField

from admin import bp
from billing_core import audit
from billing_core.errors import ValidationFailed
from billing_core.models import User
from billing_core.models.enums import Role
from billing_core.users import second_factor
from portal.extensions import db_session
from portal.web import client_ip, load_group, role_required


class ResetForm(FlaskForm):
    """The reset button: the CSRF token only."""


class GroupSecondFactorForm(FlaskForm):
    require_second_factor = BooleanField("Its employer users log in with a second factor")


@bp.get("/staff")
@role_required(Role.ADMIN)
def staff_list():
    users = second_factor.staff_users(db_session())
    return render_template("admin/staff.html", users=users, form=ResetForm())


@bp.post("/staff/<int:user_id>/second-factor/reset")
@role_required(Role.ADMIN)
def staff_second_factor_reset(user_id: int):
    session = db_session()
    user = session.get(User, user_id)
    if user is None or not user.is_staff:
        return redirect(url_for("admin.staff_list"), code=303)
    form = ResetForm()
    if form.validate_on_submit():
        try:
            second_factor.reset(
                session, user, actor=current_user._get_current_object(), ip_address=client_ip()
            )
        except ValidationFailed as error:
            session.rollback()
            flash(str(error), "error")
        else:
            session.commit()
            flash(
                f"{user.full_name}'s second factor is reset: their sessions ended and they set "
                "up their authenticator again at their next login.",
                "success",
            )
    return redirect(url_for("admin.staff_list"), code=303)


@bp.post("/groups/<int:group_id>/second-factor")
@role_required(Role.ADMIN)
def group_second_factor(group_id: int):
    scope = load_group(group_id)
    form = GroupSecondFactorForm()
    if form.validate_on_submit():
        session = db_session()
        group = scope.group
        group.require_second_factor = bool(form.require_second_factor.data)
        audit.record(
            session,
            "group.second_factor_required"
            if group.require_second_factor
            else "group.second_factor_optional",
            actor=current_user,
            target=group,
            group_id=group.id,
            ip_address=client_ip(),
        )
        session.commit()
        flash(
            "Its employer users now log in with a second factor (those without one set it up "
            "at their next page)."
            if group.require_second_factor
            else "A second factor is now optional for its employer users.",
            "success",
        )
    return redirect(url_for("admin.group_detail", group_id=group_id), code=303)
