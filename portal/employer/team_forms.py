"""Inviting an employer user (the team page here and the staff's invite page in
admin/views/users.py): the person, the locations to limit them to (chosen from those the
inviter reaches), whether they invite colleagues in turn; and the CSRF-only form of a button
that changes one account. Who may do what is billing_core.users.invitations' to decide."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, IntegerField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, Regexp
from wtforms.widgets import CheckboxInput, HiddenInput, ListWidget


class PersonForm(FlaskForm):
    full_name = StringField(
        "Full name", validators=[DataRequired("Enter the person's name."), Length(max=200)]
    )
    email = EmailField(
        "E-mail address",
        validators=[
            DataRequired("Enter the person's e-mail address."),
            Regexp(
                r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message="Enter an address like name@example.com."
            ),
            Length(max=254),
        ],
    )


class EmployerInviteForm(PersonForm):
    subgroup_ids = SelectMultipleField(
        "Limit to these locations (none chosen: the whole group)",
        coerce=int,
        choices=[],
        validate_choice=True,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    administrator = BooleanField("May invite colleagues (within the access given here)")


class UserActionForm(FlaskForm):
    """A button that changes one account (resend, disable, enable, reset): CSRF only."""


class ResendForm(FlaskForm):
    """Send a colleague's invitation again (the team page): which colleague."""

    user = IntegerField(validators=[InputRequired()], widget=HiddenInput())
