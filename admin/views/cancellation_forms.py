"""The cancellation page's forms (admin/views/cancellation.py): cancel for non-payment,
reverse the bills issued after the cancellation, reinstate. CSRF through FlaskForm; who may
and when are billing_core.collections.cancellation's rules."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget


class CancelForm(FlaskForm):
    note = StringField("Note for the record (optional)", validators=[Length(max=300)])


class ReverseLaterBillsForm(FlaskForm):
    invoice_ids = SelectMultipleField(
        "Bills to reverse",
        choices=[],
        coerce=int,
        validate_choice=False,
        validators=[DataRequired("Choose the bills to reverse.")],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    reason = StringField("Reason (optional)", validators=[Length(max=200)])


class ReinstateForm(FlaskForm):
    pass
