"""The employer face: the HR administrator's groups."""

from flask import redirect, render_template, url_for

from billing_core.groups import group_summary
from billing_core.models.enums import Role
from portal.employer import bp
from portal.extensions import db_session
from portal.web import load_group, my_groups, role_required, today


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
    summary = group_summary(db_session(), scope, today())
    return render_template("employer/group.html", scope=scope, summary=summary)
