"""Admins: the staff accounts with their second factor, and resetting another staff member's
enrolment (a lost phone); employer groups that require a second factor of their users."""

from __future__ import annotations

from flask import render_template, url_for
from flask_login import current_user

from admin import bp
from admin.forms import GroupSecondFactorForm, SecondFactorResetForm
from billing_core.models import User
from billing_core.models.enums import Role
from billing_core.users import second_factor
from portal.extensions import db_session
from portal.web import client_ip, load_group, role_required, run_action, see_other


@bp.get("/staff")
@role_required(Role.ADMIN)
def staff_list():
    users = second_factor.staff_users(db_session())
    return render_template("admin/staff.html", users=users, form=SecondFactorResetForm())


@bp.post("/staff/<int:user_id>/second-factor/reset")
@role_required(Role.ADMIN)
def staff_second_factor_reset(user_id: int):
    user = db_session().get(User, user_id)
    if user is None or not user.is_staff:
        return see_other(url_for("admin.staff_list"))
    return run_action(
        lambda: second_factor.reset(
            db_session(), user, actor=current_user._get_current_object(), ip_address=client_ip()
        ),
        to=url_for("admin.staff_list"),
        done=f"{user.full_name}'s second factor is reset: their sessions ended and they set "
        "up their authenticator again at their next login.",
    )


@bp.post("/groups/<int:group_id>/second-factor")
@role_required(Role.ADMIN)
def group_second_factor(group_id: int):
    group = load_group(group_id).group
    required = bool(GroupSecondFactorForm().require_second_factor.data)
    return run_action(
        lambda: second_factor.require_for_group(
            db_session(), group, required, actor=current_user, ip_address=client_ip()
        ),
        to=url_for("admin.group_detail", group_id=group_id),
        done="Its employer users now log in with a second factor (those without one set it up "
        "at their next page)."
        if required
        else "A second factor is now optional for its employer users.",
    )
