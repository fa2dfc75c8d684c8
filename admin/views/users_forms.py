"""The staff users pages' forms (admin/views/users.py): invite a staff user and change a staff
role; inviting an employer user and the buttons share the employer team page's forms
(portal/employer/team_forms.py). Who may do what is billing_core.users' to decide."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, SelectField

from billing_core.users.management import STAFF_ROLE_CHOICES
from portal.employer.team_forms import EmployerInviteForm, PersonForm, UserActionForm

__all__ = [
    "AdministratorForm",
    "EmployerInviteForm",
    "RoleForm",
    "StaffInviteForm",
    "UserActionForm",
]


class StaffInviteForm(PersonForm):
    role = SelectField("Role", choices=lambda: [SelectChoice(v, t) for v, t in STAFF_ROLE_CHOICES])


class RoleForm(FlaskForm):
    role = SelectField(
        "New role", choices=lambda: [SelectChoice(v, t) for v, t in STAFF_ROLE_CHOICES]
    )


class AdministratorForm(FlaskForm):
    """Whether an employer user invites colleagues for one group (unticked: no longer)."""

    administrator = BooleanField("May invite colleagues")
