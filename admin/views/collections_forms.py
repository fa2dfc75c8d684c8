"""The collections pages' forms (admin/views/collections.py): log a contact, record a promise
to pay. CSRF through FlaskForm; the rules themselves (outcome required, follow-up and promised
dates not in the past, amount > 0) are billing_core.collections.contacts'."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from admin.forms import MoneyField
from billing_core.models.collections import ContactKind


class ContactForm(FlaskForm):
    kind = SelectField(
        "Kind",
        choices=[SelectChoice(k.value, k.value.capitalize()) for k in ContactKind],
        default="call",
    )
    outcome = TextAreaField(
        "Outcome",
        validators=[DataRequired("Say what came of the contact."), Length(max=1000)],
        render_kw={"rows": 3},
    )
    next_follow_up_on = DateField("Next follow-up (optional)", validators=[Optional()])


class PromiseForm(FlaskForm):
    amount = MoneyField("Promised amount ($)", validators=[InputRequired("Enter the amount.")])
    promised_on = DateField("To be paid by", validators=[InputRequired("Enter the date.")])
    note = StringField("Note (optional)", validators=[Length(max=300)])
