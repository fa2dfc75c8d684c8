"""The web application: the portal (employers, brokers), the admin side, and the CLI."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from flask import (
    Flask,
    current_app,
    has_request_context,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from billing_core.config import Settings
from billing_core.db import make_engine, make_session_factory
from billing_core.money import format_count, format_money, format_rate
from billing_core.security import configure_vault, install_log_redaction
from billing_core.users import second_factor
from portal.extensions import close_db_session, csrf, csrf_token, htmx, login_manager

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)

HSTS = "max-age=31536000; includeSubDomains"
DOWNLOAD_CACHE_CONTROL = "no-store, private"


def create_app(overrides: dict | None = None) -> Flask:
    """Build the app. `overrides` may carry Flask config keys, `SETTINGS` (a Settings) and
    `SESSION_FACTORY` (tests bind sessions to their own transaction; background jobs then run
    inline, in the request, as with JOB_RUNNER=inline)."""
    overrides = dict(overrides or {})
    settings: Settings = overrides.pop("SETTINGS", None) or Settings.from_env()
    session_factory = overrides.pop("SESSION_FACTORY", None)
    if session_factory is not None and settings.job_runner == "thread":
        # Jobs then run inline in it: no runner thread may share a test's connection.
        settings = settings.with_overrides(job_runner="inline")

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SETTINGS=settings,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.is_production,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=settings.is_production,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
        MAX_CONTENT_LENGTH=settings.upload_max_bytes,
        ADJUSTMENT_AUTHORITY_LIMIT=settings.adjustment_authority_limit,
        WTF_CSRF_TIME_LIMIT=None,
    )
    app.config.update(overrides)

    configure_vault(settings.ssn_encryption_key, settings.ssn_encryption_old_keys)
    second_factor.configure(settings.totp_encryption_keys)
    if not settings.mail_configured:
        app.logger.warning(
            "SMTP_HOST is not set: mail (password resets, invoice and payment notices) is kept "
            "in the outbox table and written to the log, not sent"
        )
    if session_factory is None:
        engine = make_engine(settings.database_url, busy_timeout=settings.sqlite_busy_timeout)
        app.extensions["db_engine"] = engine
        session_factory = make_session_factory(engine)
    app.extensions["session_factory"] = session_factory
    app.teardown_appcontext(close_db_session)

    login_manager.init_app(app)
    csrf.init_app(app)
    # Flask-WTF's token, its signature remembered (portal.extensions.csrf_token); Flask-WTF
    # also hands its own to each template by a context processor, which this later one covers.
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.context_processor(lambda: {"csrf_token": csrf_token})
    htmx.init_app(app)
    install_log_redaction()
    _register_blueprints(app)
    _register_template_helpers(app)
    _register_errors(app)
    app.after_request(_security_headers)

    from portal.cli import register_cli

    register_cli(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from admin import bp as admin_bp
    from portal.auth import bp as auth_bp
    from portal.broker import bp as broker_bp
    from portal.employer import bp as employer_bp
    from portal.webhooks import bp as webhooks_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(employer_bp, url_prefix="/employer")
    app.register_blueprint(broker_bp, url_prefix="/broker")
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(webhooks_bp, url_prefix="/webhooks")

    @app.get("/")
    def index():
        from portal.web import elsewhere, home_endpoint

        if not current_user.is_authenticated:
            return elsewhere(url_for("auth.login"))
        return elsewhere(url_for(home_endpoint(current_user)))

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}


def _register_template_helpers(app: Flask) -> None:
    from portal.web import format_date, format_period, format_plain_decimal, powers

    @app.context_processor
    def person_powers():
        """`powers`: what the person may do, which templates ask instead of naming roles."""
        return {"powers": powers()} if has_request_context() else {}

    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["plain"] = format_plain_decimal
    app.jinja_env.filters["rate"] = format_rate
    app.jinja_env.filters["count"] = format_count
    app.jinja_env.filters["date"] = format_date
    app.jinja_env.filters["period"] = format_period
    # Money in a list of mixed values (the confirmation pages): shown with |money, right-aligned.
    app.jinja_env.tests["money_value"] = lambda value: isinstance(value, Decimal)


def _register_errors(app: Flask) -> None:
    def page(status: int, title: str, message: str):
        return render_template(
            "errors/error.html", status=status, title=title, message=message
        ), status

    app.register_error_handler(
        403, lambda e: page(403, "Not allowed", "Your account does not give access to this page.")
    )
    app.register_error_handler(
        404, lambda e: page(404, "Not found", "There is nothing here, or it is not yours to see.")
    )
    app.register_error_handler(
        405, lambda e: page(405, "Not allowed", "This address does not accept that request.")
    )
    app.register_error_handler(413, lambda e: _too_large(app))
    app.register_error_handler(
        CSRFError,
        lambda e: page(
            400,
            "Form expired",
            "The form was missing its security token or it expired. "
            "Go back, reload the page and try again.",
        ),
    )
    app.register_error_handler(
        500, lambda e: page(500, "Something went wrong", "The error was logged; nothing was saved.")
    )


def _too_large(app: Flask):
    """The upload refused for its size: the limit in words, nothing kept, and the way back to
    the page the file was sent from (the same address when it has a page, else the referrer)."""
    limit = app.config.get("MAX_CONTENT_LENGTH") or 0
    rule = request.url_rule
    back = request.path if rule is not None and "GET" in (rule.methods or ()) else None
    referrer = request.referrer or ""
    if back is None and referrer.startswith(request.host_url):
        back = referrer
    message = (
        f"The file is larger than the portal accepts: at most {format_size(limit)} per upload. "
        "Nothing was saved. Send a smaller file, or split this one and send the parts."
    )
    return render_template(
        "errors/error.html",
        status=413,
        title="File too large",
        message=message,
        back_url=back,
        back_label="Back to the upload page",
    ), 413


def format_size(size_bytes: int) -> str:
    """A byte count as people read it: 50 MB, 512 KB, 900 bytes (binary units, whole or one
    decimal place)."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size_bytes >= scale:
            tenths = (size_bytes * 10 + scale // 2) // scale
            whole, tenth = divmod(tenths, 10)
            return f"{whole:,} {unit}" if tenth == 0 else f"{whole:,}.{tenth} {unit}"
    return f"{size_bytes:,} bytes"


def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if current_app.config["SETTINGS"].is_production:
        # Production is served over HTTPS only (its cookies are Secure): browsers keep to it.
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
        response.vary.add("HX-Request")
    if response.headers.get("Content-Disposition", "").startswith("attachment"):
        # Downloads carry member names, SSN digits, premium: no shared or browser cache keeps
        # them (send_file's own no-cache still lets a cache store the file).
        response.headers["Cache-Control"] = DOWNLOAD_CACHE_CONTROL
    return response
