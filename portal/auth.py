"""Login, logout, password change and reset by token, and the user loader."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import EqualTo, InputRequired, Length

from billing_core import accounts, audit, mail
from billing_core.errors import AccountLocked, ValidationFailed
from billing_core.models import User
from billing_core.models.enums import Role
from portal.extensions import db_session, login_manager
from portal.web import client_ip, home_endpoint, now, role_required

bp = Blueprint("auth", __name__)
RESET_MAX_AGE_SECONDS = 3600

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
        login_user(user)
        return redirect(url_for(home_endpoint(user)), code=303)
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        session = db_session()
        audit.record(session, "logout", actor=current_user, ip_address=client_ip())
        session.commit()
    logout_user()
    flash("You have logged out.", "info")
    return redirect(url_for("auth.login"), code=303)


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
