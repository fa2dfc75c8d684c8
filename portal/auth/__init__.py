"""Logging in and out, passwords, the second factor and mail preferences (`views`, `forms`),
and who the session cookie says is logged in (`load_user`)."""

from __future__ import annotations

from flask import Blueprint

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
    user = second_factor.load_user(db_session(), int(user_id))
    if user is None or not user.is_active or user.get_id() != identity:
        return None
    return user


from portal.auth import invitation, views  # noqa: E402,F401
