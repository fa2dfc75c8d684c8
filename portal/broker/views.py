"""The broker face: the book of business, never member PII."""

from flask import render_template

from billing_core.billing.groups import group_summary, member_counts
from billing_core.models.enums import Role
from portal.broker import bp
from portal.extensions import db_session
from portal.web import load_group, my_groups, role_required, today


@bp.get("/")
@role_required(Role.BROKER)
def home():
    groups = my_groups()
    counts = member_counts(db_session(), [g.id for g in groups])
    return render_template("broker/home.html", groups=groups, counts=counts)


@bp.get("/groups/<int:group_id>")
@role_required(Role.BROKER)
def group_home(group_id: int):
    scope = load_group(group_id)
    summary = group_summary(db_session(), scope, today())
    return render_template("broker/group.html", summary=summary)
