"""Staff: the group list with search, and a group's set-up (policy, plans, rates, members)."""

from flask import render_template, request

from admin import bp
from billing_core.audit import audit_log_query
from billing_core.billing.groups import (
    group_search_query,
    group_summary,
    member_counts,
    member_search_query,
)
from billing_core.collections.watchlist import matches, warning
from billing_core.models.enums import Role
from portal.extensions import db_session
from portal.web import load_group, paginate, render_page_or_fragment, role_required, today


@bp.get("/")
def home():
    search = request.args.get("q", "").strip()
    sort = request.args.get("sort", "name")
    page = paginate(group_search_query(search, sort), per_page=25)
    counts = member_counts(db_session(), [g.id for g in page.items])
    return render_page_or_fragment(
        "admin/home.html",
        "admin/_group_rows.html",
        page=page,
        counts=counts,
        search=search,
        sort=sort,
    )


@bp.get("/groups/<int:group_id>")
def group_detail(group_id: int):
    scope = load_group(group_id)
    summary = group_summary(db_session(), scope, today())
    search = request.args.get("q", "").strip()
    members = paginate(member_search_query(scope, search), per_page=25)
    group = scope.group
    watched = [
        warning(group.group_number, group.name, entry)
        for entry in matches(db_session(), group.tax_id, today())
    ]
    return render_template(
        "admin/group.html",
        scope=scope,
        summary=summary,
        members=members,
        search=search,
        watched=watched,
    )


@bp.get("/groups/<int:group_id>/members")
def group_members(group_id: int):
    scope = load_group(group_id)
    search = request.args.get("q", "").strip()
    members = paginate(member_search_query(scope, search), per_page=25)
    return render_page_or_fragment(
        "admin/members.html", "admin/_members.html", scope=scope, members=members, search=search
    )


@bp.get("/audit")
@role_required(Role.SUPERVISOR, Role.ADMIN)
def audit_log():
    action = request.args.get("action", "").strip()
    page = paginate(audit_log_query(action), per_page=50)
    return render_template("admin/audit.html", page=page, action=action)
