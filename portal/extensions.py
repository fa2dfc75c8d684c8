"""Flask extensions and the request-scoped database session."""

from __future__ import annotations

from flask import current_app, g, has_request_context, request, session
from flask_htmx import HTMX
from flask_login import LoginManager
from flask_wtf import CSRFProtect
from flask_wtf.csrf import generate_csrf
from sqlalchemy.orm import Session

from billing_core.db import WRITES

login_manager = LoginManager()
csrf = CSRFProtect()
htmx = HTMX()


# A session's signed CSRF token per (secret key, raw token), see `csrf_token`; bounded: cleared
# whole when full (a miss only signs again).
_SIGNED_CSRF_TOKENS: dict[tuple[str, str], str] = {}
_SIGNED_CSRF_TOKENS_KEPT = 4096


def csrf_token() -> str:
    """The form token every page prints (the templates' `csrf_token()`): Flask-WTF's
    `generate_csrf`, whose signing (an HMAC over a fresh timestamp) cost every page about 2% of
    its CPU, remembered per process for the session's raw token. Sound only because tokens do
    not expire here (WTF_CSRF_TIME_LIMIT is None: `validate_csrf` checks the signature, never
    the timestamp); with a time limit set, every page signs anew."""
    if "csrf_token" in g or current_app.config.get("WTF_CSRF_TIME_LIMIT") is not None:
        return generate_csrf()
    raw = session.get("csrf_token")
    key = (str(current_app.secret_key), raw)
    signed = _SIGNED_CSRF_TOKENS.get(key) if isinstance(raw, str) else None
    if signed is None:
        signed = generate_csrf()  # makes the raw token when the session has none yet
        if len(_SIGNED_CSRF_TOKENS) >= _SIGNED_CSRF_TOKENS_KEPT:
            _SIGNED_CSRF_TOKENS.clear()
        _SIGNED_CSRF_TOKENS[(str(current_app.secret_key), session["csrf_token"])] = signed
    g.csrf_token = signed  # where generate_csrf (the forms' hidden field) finds it
    return signed


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
