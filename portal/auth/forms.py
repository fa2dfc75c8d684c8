"""The forms of logging in, the second factor, passwords and mail preferences."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired, Length

from billing_core import mail


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
