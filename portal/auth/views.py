"""Login (with the second factor's step), logout, password change and reset by token, the
second factor's enrolment, and the user loader."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask import session as cookie_session
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired, Length

from billing_core import audit, mail
from billing_core.errors import AccountLocked, ValidationFailed
from billing_core.models import User
from billing_core.models.enums import Role
from billing_core.money import format_count
from billing_core.users import accounts, second_factor
from portal.extensions import db_session, login_manager
from portal.web import client_ip, home_endpoint, now, role_required

bp = Blueprint("auth", __name__)
RESET_MAX_AGE_SECONDS = 3600
# Between the password and the code: who, and since when (seconds); after this, start again.
PENDING_LOGIN_KEY = "second_factor_pending"
PENDING_LOGIN_SECONDS = 300
# What a user who must set up a second factor may still open before doing so.
BEFORE_ENROLMENT = frozenset(
    {"auth.second_factor", "auth.logout", "auth.login", "auth.login_code", "static", "healthz"}
)

login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see this page."
login_manager.login_message_category = "info"
login_manager.session_protection = "strong"


@login_manager.user_loader
def load_user(identity: str) -> User | None:
    user_id, _, stamp = identity.partition(":")
    if not user_id.isdigit():
        return None
    user = db_session().get(User, int(user_id))
    if user is None or not user.is_active or user.get_id() != identity:
        return None
    return user


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[InputRequired(), Length(max=200)])


class CodeForm(FlaskForm):
    code = StringField(
        "Authentication code",
        validators=[InputRequired("Enter the code from your authenticator app."), Length(max=20)],
    )


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[InputRequired()])
    new_password = PasswordField("New password", validators=[InputRequired(), Length(max=200)])
    confirm = PasswordField(
        "Repeat the new password",
        validators=[InputRequired(), EqualTo("new_password", "The two passwords differ.")],
    )


class ResetRequestForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired(), Length(max=254)])


class ResetForm(FlaskForm):
    new_password = PasswordField("New password", validators=[InputRequired(), Length(max=200)])
    confirm = PasswordField(
        "Repeat the new password",
        validators=[InputRequired(), EqualTo("new_password", "The two passwords differ.")],
    )


# One checkbox per kind of message an employer user may turn off (billing_core.mail.KINDS).
MailPreferencesForm = type(
    "MailPreferencesForm",
    (FlaskForm,),
    {kind: BooleanField(label) for kind, label in mail.KINDS.items()},
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


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for(home_endpoint(current_user)))
    form = LoginForm()
    if form.validate_on_submit():
        settings = current_app.config["SETTINGS"]
        session = db_session()
        try:
            user = accounts.authenticate(
                session,
                form.email.data,
                form.password.data,
                now=now(),
                max_failures=settings.login_max_failures,
                lockout_minutes=settings.lockout_minutes,
                ip_address=client_ip(),
            )
        except (ValidationFailed, AccountLocked) as error:
            session.commit()  # keep the failure count and the audit row
            form.password.errors.append(str(error))
            return render_template("auth/login.html", form=form), 200
        session.commit()
        if user.second_factor_enrolled:
            cookie_session[PENDING_LOGIN_KEY] = {"user": user.get_id(), "at": now().timestamp()}
            return redirect(url_for("auth.login_code"), code=303)
        login_user(user)
        return redirect(url_for(home_endpoint(user)), code=303)
    return render_template("auth/login.html", form=form)


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
        return redirect(url_for(home_endpoint(current_user)))
    user = _pending_user()
    if user is None:
        cookie_session.pop(PENDING_LOGIN_KEY, None)
        flash("Log in again: the code was not entered in time.", "info")
        return redirect(url_for("auth.login"), code=303)
    form = CodeForm()
    if form.validate_on_submit():
        settings = current_app.config["SETTINGS"]
        session = db_session()
        try:
            accounts.complete_second_factor(
                session,
                user,
                form.code.data,
                now=now(),
                max_failures=settings.login_max_failures,
                lockout_minutes=settings.lockout_minutes,
                ip_address=client_ip(),
            )
        except AccountLocked as error:
            session.commit()
            cookie_session.pop(PENDING_LOGIN_KEY, None)
            flash(str(error), "error")
            return redirect(url_for("auth.login"), code=303)
        except ValidationFailed as error:
            session.commit()  # the failure counts towards the lockout
            form.code.errors.append(str(error))
            return render_template("auth/login_code.html", form=form), 200
        session.commit()
        cookie_session.pop(PENDING_LOGIN_KEY, None)
        login_user(user)
        left = second_factor.recovery_codes_left(user)
        if left <= 3:
            flash(
                f"{format_count(left, 'recovery code')} left: make new ones on the Second "
                "factor page (under Account).",
                "info",
            )
        return redirect(url_for(home_endpoint(user)), code=303)
    return render_template("auth/login_code.html", form=form)


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        session = db_session()
        accounts.end_sessions(session, current_user, ip_address=client_ip())
        session.commit()
    logout_user()
    cookie_session.pop(PENDING_LOGIN_KEY, None)
    flash("You have logged out.", "info")
    return redirect(url_for("auth.login"), code=303)


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
    return redirect(url_for("auth.second_factor"))


@bp.route("/account/second-factor", methods=["GET", "POST"], endpoint="second_factor")
@login_required
def second_factor_page():
    """Set up the authenticator (QR code and text secret, confirmed by its first code, then ten
    recovery codes shown once); once set up, make new recovery codes or (where it is not
    required) turn it off, each with a current code."""
    session = db_session()
    user = current_user._get_current_object()
    form = CodeForm()
    action = request.form.get("action", "confirm")
    required = second_factor.required_for(session, user)
    if form.validate_on_submit():
        try:
            if action == "renew":
                codes = second_factor.renew_recovery_codes(
                    session, user, form.code.data, now=now(), ip_address=client_ip()
                )
            elif action == "turn_off":
                second_factor.turn_off(
                    session, user, form.code.data, now=now(), ip_address=client_ip()
                )
                session.commit()
                login_user(user)  # this session goes on under the new session version
                flash("Your second factor is turned off.", "success")
                return redirect(url_for("auth.second_factor"), code=303)
            else:
                codes = second_factor.confirm_enrolment(
                    session, user, form.code.data, now=now(), ip_address=client_ip()
                )
        except ValidationFailed as error:
            session.rollback()
            form.code.errors.append(str(error))
        else:
            session.commit()
            return render_template("auth/recovery_codes.html", codes=codes)
    if user.second_factor_enrolled:
        return render_template(
            "auth/second_factor.html",
            form=form,
            user=user,
            required=required,
            left=second_factor.recovery_codes_left(user),
        )
    secret = second_factor.start_enrolment(user, again=request.args.get("again") == "1")
    session.commit()
    uri = second_factor.provisioning_uri(user, secret)
    return render_template(
        "auth/second_factor_setup.html",
        form=form,
        secret=secret,
        qr=second_factor.qr_code_data_uri(uri),
        required=required,
    )


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password_change():
    form = PasswordChangeForm()
    if form.validate_on_submit():
        session = db_session()
        try:
            accounts.change_password(
                session, current_user, form.current_password.data, form.new_password.data, now=now()
            )
        except ValidationFailed as error:
            form.new_password.errors.append(str(error))
        else:
            session.commit()
            # The session identity changed with the password: renew this session only.
            login_user(current_user._get_current_object())
            flash("Your password has been changed.", "success")
            return redirect(url_for(home_endpoint(current_user)), code=303)
    return render_template("auth/password_change.html", form=form)


@bp.route("/password/reset", methods=["GET", "POST"])
def password_reset_request():
    form = ResetRequestForm()
    if form.validate_on_submit():
        session = db_session()
        user = accounts.find_user_by_email(session, form.email.data)
        if user is not None and user.is_active:
            link = url_for("auth.password_reset", token=make_reset_token(user), _external=True)
            message = accounts.queue_password_reset(
                session, user, link, expires_in=timedelta(seconds=RESET_MAX_AGE_SECONDS)
            )
            session.commit()
            settings = current_app.config["SETTINGS"]
            if settings.mail_configured:
                # Sent now (or by the mail worker), not at the next `flask mail send`.
                mail.send_soon(settings, current_app.extensions["session_factory"], [message.id])
            else:
                current_app.logger.info(
                    "password reset mail kept in the outbox for user %s: %s", user.id, link
                )
        flash(
            "If that address has an account, a reset link is on its way. It works for one hour.",
            "info",
        )
        return redirect(url_for("auth.login"), code=303)
    return render_template("auth/reset_request.html", form=form)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def password_reset(token: str):
    user = _user_from_token(token)
    if user is None:
        flash("That reset link has expired or was already used. Ask for a new one.", "error")
        return redirect(url_for("auth.password_reset_request"), code=303)
    form = ResetForm()
    if form.validate_on_submit():
        session = db_session()
        try:
            accounts.set_password(session, user, form.new_password.data, now=now())
        except ValidationFailed as error:
            form.new_password.errors.append(str(error))
        else:
            audit.record(session, "password.reset", actor=user, ip_address=client_ip())
            session.commit()
            flash("Your password has been reset. Log in with the new one.", "success")
            return redirect(url_for("auth.login"), code=303)
    return render_template("auth/reset_form.html", form=form, token=token)


@bp.route("/account/notifications", methods=["GET", "POST"])
@role_required(Role.EMPLOYER)
def mail_preferences():
    """Which messages an employer user receives by mail (all until turned off)."""
    session = db_session()
    form = MailPreferencesForm()
    if form.validate_on_submit():
        chosen = {kind: bool(form[kind].data) for kind in mail.KINDS}
        off = mail.set_preferences(session, current_user, chosen)
        session.commit()
        if off:
            flash(
                f"Saved. You receive {len(mail.KINDS) - len(off)} of the "
                f"{len(mail.KINDS)} kinds of message by mail.",
                "success",
            )
        else:
            flash("Saved. You receive every kind of message by mail.", "success")
        return redirect(url_for("auth.mail_preferences"), code=303)
    if not form.is_submitted():
        for kind, receive in mail.preferences(session, current_user).items():
            form[kind].data = receive
    return render_template("auth/mail_preferences.html", form=form, kinds=mail.KINDS)
