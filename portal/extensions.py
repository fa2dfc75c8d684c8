"""Flask extensions and the request-scoped database session."""

from __future__ import annotations

from flask import current_app, g, has_request_context, request
from flask_htmx import HTMX
from flask_login import LoginManager
from flask_wtf import CSRFProtect
from sqlalchemy.orm import Session

from billing_core.db import WRITES

login_manager = LoginManager()
csrf = CSRFProtect()
htmx = HTMX()


def db_session() -> Session:
    """The unit of work for this request or CLI command; closed (rolled back if not committed)
    when the app context ends. A request that may write (not GET, HEAD or OPTIONS) takes
    SQLite's write lock when its transaction begins (db.WRITES): it reads, then writes, and in
    WAL mode a transaction that read before another connection committed cannot write."""
    if "db_session" not in g:
        factory = current_app.extensions["session_factory"]
        writes = has_request_context() and request.method not in ("GET", "HEAD", "OPTIONS")
        g.db_session = factory(execution_options=WRITES) if writes else factory()
    return g.db_session


def close_db_session(_exc=None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
