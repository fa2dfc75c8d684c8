"""The staff side at /admin. Only staff get past before_request; every change is audited."""

from flask import Blueprint, abort
from flask_login import current_user

bp = Blueprint("admin", __name__, template_folder="templates")


@bp.before_request
def admit_staff_only():
    if not current_user.is_authenticated:
        from flask import current_app

        return current_app.login_manager.unauthorized()
    if not current_user.is_staff:
        abort(403)


from admin.views import (  # noqa: E402,F401
    adjustments,
    agency_payments,
    billing,
    cancellation,
    collections,
    collections_legal,
    commissions,
    group_setup,
    groups,
    invoice_templates,
    rate_changes,
    receipts,
    refunds,
    remittance,
    reports,
    staff,
    statements,
    suspense,
    uploads,
    users,
    watchlist,
    work,
    write_offs,
)


@bp.after_request
def audit_staff_changes(response):
    """Every staff request that changes something leaves an audit row, besides the specific
    rows the use cases write."""
    from flask import g, request

    changed = request.method not in {"GET", "HEAD", "OPTIONS"} and response.status_code < 400
    # A money action's confirmation page (portal.confirmation) asks; it changes nothing.
    changed = changed and not g.get("confirmation_only")
    # An anonymous request is redirected to the login page by before_request: nothing happened.
    if changed and current_user.is_authenticated:
        from billing_core import audit
        from portal.extensions import db_session

        session = db_session()
        audit.record(
            session,
            "staff.request",
            actor=current_user,
            ip_address=request.remote_addr,
            detail={"endpoint": request.endpoint, "method": request.method, "path": request.path},
        )
        session.commit()
    return response
