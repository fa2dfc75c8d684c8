"""The broker face: the book of business, never member PII. Each group shows where it stands in
collections (its delinquency state, days past due and overdue amount: counts and amounts
only, billing_core.collections.standing); a broker sees only their agency's groups (another
group's id is a 404)."""

from flask import render_template, request

from billing_core.billing.groups import group_summary, member_counts
from billing_core.collections.standing import standings
from billing_core.models.enums import Role
from billing_core.money import ZERO
from portal.broker import bp
from portal.extensions import db_session
from portal.web import load_group, my_groups, role_required, today

# The book's orders: by name, or the latest / most overdue first (then by name).
SORTS = {
    "name": lambda standing: lambda g: g.name.casefold(),
    "days_past_due": lambda standing: lambda g: (-standing[g.id].days_past_due, g.name.casefold()),
    "overdue": lambda standing: lambda g: (-standing[g.id].overdue, g.name.casefold()),
}


@bp.get("/")
@role_required(Role.BROKER)
def home():
    session, on = db_session(), today()
    groups = my_groups()
    counts = member_counts(session, [g.id for g in groups])
    standing = standings(session, on, [g.id for g in groups])
    late = [g for g in groups if standing[g.id].late]
    late_only = request.args.get("late") == "1"
    sort = request.args.get("sort", "name")
    if sort not in SORTS:
        sort = "name"
    shown = sorted(late if late_only else groups, key=SORTS[sort](standing))
    return render_template(
        "broker/home.html",
        groups=shown,
        sort=sort,
        counts=counts,
        standings=standing,
        late_count=len(late),
        late_overdue=sum((standing[g.id].overdue for g in late), ZERO),
        late_only=late_only,
    )


@bp.get("/groups/<int:group_id>")
@role_required(Role.BROKER)
def group_home(group_id: int):
    scope = load_group(group_id)
    session, on = db_session(), today()
    summary = group_summary(session, scope, on)
    standing = standings(session, on, [group_id])[group_id]
    return render_template("broker/group.html", summary=summary, standing=standing)
