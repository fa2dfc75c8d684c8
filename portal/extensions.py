"""Flask extensions and the request-scoped database session."""

from __future__ import annotations

from flask import current_app, g
from flask_htmx import HTMX
from flask_login import LoginManager
from flask_wtf import CSRFProtect
from sqlalchemy.orm import Session

login_manager = LoginManager()
csrf = CSRFProtect()
htmx = HTMX()


def db_session() -> Session:
    """The unit of work for this request or CLI command; closed (rolled back if not committed)
    when the app context ends."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["session_factory"]()
    return g.db_session


def close_db_session(_exc=None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
