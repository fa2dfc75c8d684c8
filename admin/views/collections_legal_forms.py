"""The forms of a group's outside collections, charge-off, recoveries and bankruptcy
(admin/views/collections_legal.py). CSRF through FlaskForm; the rules themselves (who may
approve, the reinstatement window, the stay, amounts) are billing_core.collections'."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from admin.forms import MoneyField
from billing_core.models.collections_legal import BankruptcyStatus, ReferralStatus


class ReferForm(FlaskForm):
    agency = StringField(
        "Collection agency", validators=[DataRequired("Name the agency."), Length(max=200)]
    )
    notes = TextAreaField("Notes (optional)", validators=[Length(max=1000)], render_kw={"rows": 2})


class ReferralStatusForm(FlaskForm):
    status = SelectField(
        "Status",
        choices=[
            SelectChoice(s.value, s.value.replace("_", " ").capitalize()) for s in ReferralStatus
        ],
    )
    on = DateField("As of", validators=[InputRequired("Enter the date.")])
    note = StringField("Note (optional)", validators=[Length(max=500)])


class SueForm(FlaskForm):
    note = StringField("Why sue", validators=[DataRequired("Say why."), Length(max=1000)])


class ChargeOffForm(FlaskForm):
    reason = StringField(
        "Reason", validators=[DataRequired("Say why it is charged off."), Length(max=300)]
    )


class DecisionForm(FlaskForm):
    note = StringField("Note or reason", validators=[Length(max=500)])


class RecoveryForm(FlaskForm):
    payment_id = SelectField("Payment received (the net cash)", coerce=int, choices=[])
    fee = MoneyField("Agency's fee kept ($, optional)")
    referral_id = SelectField(
        "Collected by", coerce=int, choices=[SelectChoice(0, "The group itself")]
    )
    note = StringField("Note (optional)", validators=[Length(max=300)])


class BankruptcyForm(FlaskForm):
    filed_on = DateField("Filed on", validators=[InputRequired("Enter the filing date.")])
    chapter = SelectField(
        "Chapter", coerce=int, choices=[SelectChoice(c, f"Chapter {c}") for c in (7, 11, 13)]
    )
    case_number = StringField(
        "Case number", validators=[DataRequired("Enter the case number."), Length(max=60)]
    )
    court = StringField("Court (optional)", validators=[Length(max=200)])
    note = StringField("Note (optional)", validators=[Length(max=1000)])


class BankruptcyCloseForm(FlaskForm):
    status = SelectField(
        "Outcome",
        choices=[
            SelectChoice(BankruptcyStatus.DISMISSED.value, "Dismissed (collect everything again)"),
            SelectChoice(BankruptcyStatus.DISCHARGED.value, "Discharged (pre-petition debt ends)"),
        ],
    )
    on = DateField("On", validators=[InputRequired("Enter the date.")])
    note = StringField("Note (optional)", validators=[Length(max=500)])
