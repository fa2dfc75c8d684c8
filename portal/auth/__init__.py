"""Logging in and out, passwords, the second factor and mail preferences (`views`, `forms`),
and who the session cookie says is logged in (`load_user`)."""

from __future__ import annotations

from flask import Blueprint, has_request_context, request

from billing_core.models import User
from billing_core.users import second_factor
from portal.extensions import db_session, login_manager

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see this page."
login_manager.login_message_category = "info"
login_manager.session_protection = "strong"


@login_manager.user_loader
def load_user(identity: str) -> User | None:
    """The user of a session identity `<id>:<session version>`: none once the version moved on
    (a logout everywhere, a new password, a reset)."""
    user_id, _, _stamp = identity.partition(":")
    if not user_id.isdigit():
        return None
    # A group's page (its address names the group): the employer's grants of it read with
    # the user, for load_group.
    group_id = (request.view_args or {}).get("group_id") if has_request_context() else None
    if not isinstance(group_id, int):
        group_id = None
    reading = has_request_context() and request.method in ("GET", "HEAD")
    user = second_factor.load_user(db_session(), int(user_id), group_id, reading=reading)
    if user is None or not user.is_active or user.get_id() != identity:
        return None
    return user


from portal.auth import invitation, views  # noqa: E402,F401
