"""The agency payments pages' forms (admin/views/agency_payments.py). CSRF through FlaskForm;
the rules (ABA check digit, a second person, what may be paid or returned) are
billing_core.commissions.payees' and disbursements'."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length

from billing_core.commissions.disbursements import RETURN_CODES


class BankDetailsForm(FlaskForm):
    name_on_account = StringField(
        "Name on the account",
        validators=[DataRequired("Enter the name on the account."), Length(max=22)],
        render_kw={"maxlength": 22},
    )
    routing_number = StringField(
        "Routing number (ABA, 9 digits)",
        validators=[DataRequired("Enter the routing number.")],
        render_kw={"inputmode": "numeric", "maxlength": 9, "autocomplete": "off"},
    )
    account_number = PasswordField(
        "Account number",
        validators=[DataRequired("Enter the account number.")],
        render_kw={"inputmode": "numeric", "maxlength": 17, "autocomplete": "off"},
    )
    account_type = SelectField(
        "Account type",
        choices=[SelectChoice("checking", "Checking"), SelectChoice("savings", "Savings")],
    )
    payee_kind = SelectField(
        "Paid as",
        choices=[
            SelectChoice("company", "A company (CCD)"),
            SelectChoice("person", "A person (PPD)"),
        ],
    )


class BankDetailsUploadForm(FlaskForm):
    file = FileField("CSV or XLSX file", validators=[FileRequired("Choose a file.")])


class DecideDetailsForm(FlaskForm):
    """Confirm pending bank details (nothing to fill in but the CSRF token)."""


class RejectDetailsForm(FlaskForm):
    reason = StringField(
        "Why reject them",
        validators=[DataRequired("Say why the details are rejected."), Length(max=300)],
    )


class MakeAchFileForm(FlaskForm):
    effective_date = DateField(
        "Pay on (effective entry date)",
        validators=[DataRequired("Enter the day the payments should settle.")],
    )


class MarkSentForm(FlaskForm):
    sent_on = DateField("Sent to the bank on", validators=[DataRequired("Enter the day sent.")])


class AchReturnForm(FlaskForm):
    code = SelectField(
        "Return reason code",
        choices=[SelectChoice(c, f"{c} {words}") for c, words in RETURN_CODES.items()],
    )
    returned_on = DateField("Returned on", validators=[DataRequired("Enter the return's date.")])
