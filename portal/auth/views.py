"""Login (with the second factor's step), logout, password change and reset by token, the
second factor's enrolment, and an employer user's mail preferences."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, flash, render_template, request, url_for
from flask import session as cookie_session
from flask_login import current_user, login_required, login_user, logout_user
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from billing_core import mail
from billing_core.errors import AccountLocked
from billing_core.mail.delivery import send_soon
from billing_core.models import User
from billing_core.models.enums import Role
from billing_core.money import format_count
from billing_core.users import accounts, second_factor
from portal.auth import bp, load_user
from portal.auth.forms import (
    CodeForm,
    LoginForm,
    MailPreferencesForm,
    PasswordChangeForm,
    ResetForm,
    ResetRequestForm,
)
from portal.extensions import db_session
from portal.web import (
    Reply,
    client_ip,
    elsewhere,
    home_endpoint,
    now,
    role_required,
    run_action,
    see_other,
)

RESET_MAX_AGE_SECONDS = 3600
# Between the password and the code: who, and since when (seconds); after this, start again.
PENDING_LOGIN_KEY = "second_factor_pending"
PENDING_LOGIN_SECONDS = 300
# What a user who must set up a second factor may still open before doing so.
BEFORE_ENROLMENT = frozenset(
    {"auth.second_factor", "auth.logout", "auth.login", "auth.login_code", "static", "healthz"}
)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="password-reset")


def make_reset_token(user: User) -> str:
    # Bound to the current password hash: the token dies once it has been used.
    return _serializer().dumps({"uid": user.id, "pw": user.password_hash[-16:]})


def _user_from_token(token: str) -> User | None:
    try:
        data = _serializer().loads(token, max_age=RESET_MAX_AGE_SECONDS)
    except (BadSignature, SignatureExpired):
        return None
    user = db_session().get(User, data.get("uid"))
    if user is None or user.password_hash[-16:] != data.get("pw"):
        return None
    return user


def _field_refused(field, template: str, form, **context):
    """A refusal shown beside `field` on the form again (200)."""

    def refused(error):
        field.errors.append(str(error))
        return render_template(template, form=form, **context), 200

    return refused


def _home() -> str:
    return url_for(home_endpoint(current_user))


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return elsewhere(_home())
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form)
    return run_action(
        lambda: _authenticate(form),
        after=_password_accepted,
        to=lambda user: url_for(
            "auth.login_code" if user.second_factor_enrolled else home_endpoint(user)
        ),
        refused=_field_refused(form.password, "auth/login.html", form),
        keep_refused=True,  # the failure count and its audit row
    )


def _authenticate(form: LoginForm) -> User:
    settings = current_app.config["SETTINGS"]
    return accounts.authenticate(
        db_session(),
        form.email.data,
        form.password.data,
        now=now(),
        max_failures=settings.login_max_failures,
        lockout_minutes=settings.lockout_minutes,
        ip_address=client_ip(),
    )


def _password_accepted(user: User) -> None:
    """Logged in now, or (with a second factor) remembered for the code's step."""
    if user.second_factor_enrolled:
        cookie_session[PENDING_LOGIN_KEY] = {"user": user.get_id(), "at": now().timestamp()}
    else:
        login_user(user)


def _pending_user() -> User | None:
    """The user whose password was accepted a moment ago in this browser (None if nobody, too
    long ago, or the account changed since: a new password, a logout, a reset)."""
    pending = cookie_session.get(PENDING_LOGIN_KEY)
    if not isinstance(pending, dict):
        return None
    if now().timestamp() - float(pending.get("at") or 0) > PENDING_LOGIN_SECONDS:
        return None
    user = load_user(str(pending.get("user") or ""))
    if user is None or not user.second_factor_enrolled:
        return None
    return user


@bp.route("/login/code", methods=["GET", "POST"])
def login_code():
    """The login's second step: the authenticator's code (or a recovery code)."""
    if current_user.is_authenticated:
        return elsewhere(_home())
    user = _pending_user()
    if user is None:
        return _too_late()
    form = CodeForm()
    if not form.validate_on_submit():
        return render_template("auth/login_code.html", form=form)
    return run_action(
        lambda: _complete_second_factor(user, form.code.data),
        after=lambda _: _code_accepted(user),
        done=lambda _: _recovery_codes_note(user),
        to=url_for(home_endpoint(user)),
        refused=lambda error: _code_refused(form, error),
        keep_refused=True,  # the failure counts towards the lockout
    )


def _too_late():
    cookie_session.pop(PENDING_LOGIN_KEY, None)
    flash("Log in again: the code was not entered in time.", "info")
    return see_other(url_for("auth.login"))


def _complete_second_factor(user: User, code: str) -> None:
    settings = current_app.config["SETTINGS"]
    accounts.complete_second_factor(
        db_session(),
        user,
        code,
        now=now(),
        max_failures=settings.login_max_failures,
        lockout_minutes=settings.lockout_minutes,
        ip_address=client_ip(),
    )


def _code_accepted(user: User) -> None:
    cookie_session.pop(PENDING_LOGIN_KEY, None)
    login_user(user)


def _recovery_codes_note(user: User):
    left = second_factor.recovery_codes_left(user)
    if left > 3:
        return None
    note = (
        f"{format_count(left, 'recovery code')} left: make new ones on the Second "
        "factor page (under Account)."
    )
    return note, "info"


def _code_refused(form: CodeForm, error):
    """A wrong code: said beside the field; locked out: back to the login page."""
    if isinstance(error, AccountLocked):
        cookie_session.pop(PENDING_LOGIN_KEY, None)
        flash(str(error), "error")
        return see_other(url_for("auth.login"))
    form.code.errors.append(str(error))
    return render_template("auth/login_code.html", form=form), 200


@bp.post("/logout")
def logout():
    return run_action(
        _end_sessions,
        after=lambda _: _forget_login(),
        done=("You have logged out.", "info"),
        to=url_for("auth.login"),
    )


def _end_sessions() -> None:
    if current_user.is_authenticated:
        accounts.end_sessions(db_session(), current_user, ip_address=client_ip())


def _forget_login() -> None:
    logout_user()
    cookie_session.pop(PENDING_LOGIN_KEY, None)


@bp.before_app_request
def require_second_factor():
    """Someone who must log in with a second factor (staff; employer users of a group that
    requires it) and has none yet sets it up before any other page."""
    if not current_user.is_authenticated or current_user.second_factor_enrolled:
        return None
    if request.endpoint in BEFORE_ENROLMENT:
        return None
    if not second_factor.required_for(db_session(), current_user):
        return None
    flash("Set up your second factor before you continue.", "info")
    return elsewhere(url_for("auth.second_factor"))


@bp.route("/account/second-factor", methods=["GET", "POST"], endpoint="second_factor")
@login_required
def second_factor_page():
    """Set up the authenticator (QR code and text secret, confirmed by its first code, then ten
    recovery codes shown once); once set up, make new recovery codes or (where it is not
    required) turn it off, each with a current code."""
    user = current_user._get_current_object()
    form = CodeForm()
    if not form.validate_on_submit():
        return _second_factor_form(user, form)
    action = request.form.get("action", "confirm")
    return run_action(
        lambda: _second_factor_act(user, action, form.code.data),
        after=lambda _: login_user(user) if action == "turn_off" else None,
        done="Your second factor is turned off.",
        to=url_for("auth.second_factor"),
        refused=lambda error: _second_factor_form(user, form, error),
    )


def _second_factor_act(user: User, action: str, code: str):
    """Turn it off (this session goes on under the new session version), or confirm the
    enrolment or renew the recovery codes: the new codes, shown once."""
    session = db_session()
    if action == "turn_off":
        return second_factor.turn_off(session, user, code, now=now(), ip_address=client_ip())
    if action == "renew":
        codes = second_factor.renew_recovery_codes(
            session, user, code, now=now(), ip_address=client_ip()
        )
    else:
        codes = second_factor.confirm_enrolment(
            session, user, code, now=now(), ip_address=client_ip()
        )
    return Reply(lambda: render_template("auth/recovery_codes.html", codes=codes))


def _second_factor_form(user: User, form: CodeForm, error=None):
    """The page managing a second factor once set up, else the set-up page with a new secret
    (kept on the user until confirmed); `error` beside the code."""
    if error is not None:
        form.code.errors.append(str(error))
    required = second_factor.required_for(db_session(), user)
    if user.second_factor_enrolled:
        return render_template(
            "auth/second_factor.html",
            form=form,
            user=user,
            required=required,
            left=second_factor.recovery_codes_left(user),
        )
    return run_action(lambda: _enrolment_page(user, form, required))


def _enrolment_page(user: User, form: CodeForm, required: bool) -> Reply:
    secret = second_factor.start_enrolment(user, again=request.args.get("again") == "1")
    uri = second_factor.provisioning_uri(user, secret)
    return Reply(
        lambda: render_template(
            "auth/second_factor_setup.html",
            form=form,
            secret=secret,
            qr=second_factor.qr_code_data_uri(uri),
            required=required,
        )
    )


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password_change():
    form = PasswordChangeForm()
    if not form.validate_on_submit():
        return render_template("auth/password_change.html", form=form)
    user = current_user._get_current_object()
    return run_action(
        lambda: accounts.change_password(
            db_session(), user, form.current_password.data, form.new_password.data, now=now()
        ),
        # The session identity changed with the password: renew this session only.
        after=lambda _: login_user(user),
        done="Your password has been changed.",
        to=lambda _: _home(),
        refused=_field_refused(form.new_password, "auth/password_change.html", form),
    )


@bp.route("/password/reset", methods=["GET", "POST"])
def password_reset_request():
    form = ResetRequestForm()
    if not form.validate_on_submit():
        return render_template("auth/reset_request.html", form=form)
    return run_action(
        lambda: _queue_reset(form.email.data),
        after=_send_reset,
        done=(
            "If that address has an account, a reset link is on its way. It works for one hour.",
            "info",
        ),
        to=url_for("auth.login"),
    )


def _queue_reset(email: str):
    """(the user, the link, the queued message), or None for an unknown or inactive address
    (which is told the same as a known one)."""
    session = db_session()
    user = accounts.find_user_by_email(session, email)
    if user is None or not user.is_active:
        return None
    link = url_for("auth.password_reset", token=make_reset_token(user), _external=True)
    message = accounts.queue_password_reset(
        session, user, link, expires_in=timedelta(seconds=RESET_MAX_AGE_SECONDS)
    )
    return user, link, message


def _send_reset(queued) -> None:
    """Sent now (or by the mail worker), not at the next `flask mail send`."""
    if queued is None:
        return
    user, link, message = queued
    settings = current_app.config["SETTINGS"]
    if settings.mail_configured:
        send_soon(settings, current_app.extensions["session_factory"], [message.id])
    else:
        current_app.logger.info(
            "password reset mail kept in the outbox for user %s: %s", user.id, link
        )


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def password_reset(token: str):
    user = _user_from_token(token)
    if user is None:
        flash("That reset link has expired or was already used. Ask for a new one.", "error")
        return see_other(url_for("auth.password_reset_request"))
    form = ResetForm()
    if not form.validate_on_submit():
        return render_template("auth/reset_form.html", form=form, token=token)
    return run_action(
        lambda: accounts.reset_password(
            db_session(), user, form.new_password.data, now=now(), ip_address=client_ip()
        ),
        done="Your password has been reset. Log in with the new one.",
        to=url_for("auth.login"),
        refused=_field_refused(form.new_password, "auth/reset_form.html", form, token=token),
    )


@bp.route("/account/notifications", methods=["GET", "POST"])
@role_required(Role.EMPLOYER)
def mail_preferences():
    """Which messages an employer user receives by mail (all until turned off)."""
    form = MailPreferencesForm()
    if form.validate_on_submit():
        chosen = {kind: bool(form[kind].data) for kind in mail.KINDS}
        return run_action(
            lambda: mail.set_preferences(db_session(), current_user, chosen),
            done=_preferences_saved,
            to=url_for("auth.mail_preferences"),
        )
    if not form.is_submitted():
        for kind, receive in mail.preferences(db_session(), current_user).items():
            form[kind].data = receive
    return render_template("auth/mail_preferences.html", form=form, kinds=mail.KINDS)


def _preferences_saved(off: list[str]) -> str:
    if not off:
        return "Saved. You receive every kind of message by mail."
    return (
        f"Saved. You receive {len(mail.KINDS) - len(off)} of the "
        f"{len(mail.KINDS)} kinds of message by mail."
    )
