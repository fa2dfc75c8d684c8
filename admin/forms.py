"""Every form of the staff side, one per action, by area: cash (receipts, refunds, suspense,
write-offs, bank files), billing (the run, voids), adjustments, census uploads, staff
security. Views read plain values out of them (`amount` fields hold a Decimal) and pass those
to billing_core, never the form."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import HiddenInput

from billing_core.bounds import MAX_AMOUNT, amount_in_range, years_before
from billing_core.money import D, cents
from billing_core.payments.receipts import RETURN_REASONS

# --- cash ------------------------------------------------------------------------------------

# Methods staff record by hand (card and ACH debit come through Stripe, lockbox from files).
MANUAL_METHODS = [
    SelectChoice("check", "Check"),
    SelectChoice("wire", "Wire"),
    SelectChoice("ach_credit", "ACH credit"),
]


class MoneyField(StringField):
    """Dollars as a person types them (`1,234.56`, `$1234.56`); `data` is a Decimal > 0 in
    whole cents, or None when the field was left empty."""

    def process_formdata(self, valuelist):
        self.data = None
        text = (valuelist[0] if valuelist else "").strip()
        if not text:
            return
        try:
            value = D(text)
        except (TypeError, ValueError):
            raise ValueError("Enter an amount in dollars and cents, like 1,234.56.") from None
        if value > 0 and not amount_in_range(value):  # before rounding: 1e999999 cannot be rounded
            raise ValueError(f"Enter an amount of at most {MAX_AMOUNT:,}.")
        if value <= 0 or cents(value) != value:
            raise ValueError("Enter a positive amount in whole cents, like 1,234.56.")
        self.data = value

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else f"{self.data:.2f}"


# Money is recorded as it moves: a date further back than this is a typing mistake.
OLDEST_CASH_YEARS = 10


def _not_in_future(form, field):
    """A date that has come (today or before), within the last OLDEST_CASH_YEARS years."""
    from portal.web import today

    if not field.data:
        return
    if field.data > today():
        raise ValidationError("That date is in the future.")
    oldest = years_before(today(), OLDEST_CASH_YEARS)
    if field.data < oldest:
        raise ValidationError(
            f"Enter a date in the last {OLDEST_CASH_YEARS} years (on or after "
            f"{oldest.isoformat()})."
        )


class RecordPaymentForm(FlaskForm):
    method = SelectField("Method", choices=MANUAL_METHODS, default="check")
    amount = MoneyField("Amount ($)", validators=[InputRequired("Enter the amount received.")])
    received_on = DateField(
        "Received on", validators=[InputRequired("Enter the date received."), _not_in_future]
    )
    group = StringField("Group number or name", validators=[Length(max=200)])
    unidentified = BooleanField("Unidentified: hold the cash in suspense")
    suspense_reason = StringField(
        "If unidentified: why it cannot be identified", validators=[Length(max=300)]
    )
    reference = StringField("Check number / wire or trace reference", validators=[Length(max=100)])
    payer_name = StringField("Payer (as on the check or wire)", validators=[Length(max=200)])
    invoices = StringField(
        "Invoices the payer chose (optional, invoice numbers)", validators=[Length(max=500)]
    )

    def validate_group(self, field):
        if self.unidentified.data and (field.data or "").strip():
            raise ValidationError("Leave the group empty for unidentified cash, or untick it.")
        if not self.unidentified.data and not (field.data or "").strip():
            raise ValidationError("Enter the group, or tick “Unidentified” to hold it in suspense.")

    def validate_invoices(self, field):
        if self.unidentified.data and (field.data or "").strip():
            raise ValidationError("Unidentified cash cannot name invoices; apply it from suspense.")


class AllocateForm(FlaskForm):
    invoice_id = IntegerField(widget=HiddenInput(), validators=[DataRequired()])
    amount = MoneyField("Amount to allocate ($)", validators=[InputRequired("Enter an amount.")])


class UndoAllocationForm(FlaskForm):
    reason = StringField(
        "Reason for undoing",
        validators=[DataRequired("Say why the allocation is undone."), Length(min=3, max=200)],
    )


class PaymentReturnForm(FlaskForm):
    reason = SelectField(
        "Why it came back",
        choices=[SelectChoice(code, label) for code, label in RETURN_REASONS.items()],
    )
    returned_on = DateField(
        "Returned on", validators=[InputRequired("Enter the date of the return."), _not_in_future]
    )
    charge_fee = BooleanField("Charge the returned-payment fee on the next bill", default=True)


class RefundRequestForm(FlaskForm):
    amount = MoneyField("Amount to refund ($)", validators=[InputRequired("Enter an amount.")])
    reason = StringField(
        "Reason",
        validators=[DataRequired("Give the reason for the refund."), Length(min=5, max=300)],
    )


class DecisionNoteForm(FlaskForm):
    """A decision on a request (refund, write-off, adjustment): the note or reason given."""

    note = StringField("Note or reason", validators=[Length(max=500)])


class RefundPaidForm(FlaskForm):
    paid_on = DateField(
        "Check sent on", validators=[InputRequired("Enter the date sent."), _not_in_future]
    )


class SuspenseApplyForm(FlaskForm):
    group = StringField(
        "Group number or name",
        validators=[DataRequired("Enter the group the cash belongs to."), Length(max=200)],
    )
    invoices = StringField("Invoices to pay (optional)", validators=[Length(max=500)])
    note = StringField("How it was identified", validators=[Length(max=300)])


class SuspenseCloseForm(FlaskForm):
    outcome = RadioField(
        "Outcome",
        choices=[
            SelectChoice("refunded", "Refunded to the sender"),
            SelectChoice("reversed", "Reversed by the bank"),
        ],
        validators=[InputRequired("Choose refunded or reversed.")],
    )
    note = StringField(
        "Note", validators=[DataRequired("Say why the item is closed."), Length(min=3, max=300)]
    )


class WriteOffForm(FlaskForm):
    invoice_id = IntegerField("Invoice", validators=[DataRequired("Choose the invoice.")])
    amount = MoneyField("Amount to write off ($)", validators=[InputRequired("Enter an amount.")])
    reason = StringField(
        "Reason", validators=[DataRequired("Say why it is written off."), Length(min=3, max=200)]
    )
    next = HiddenField()


class ReconciledForm(FlaskForm):
    note = StringField("Note (what was done)", validators=[Optional(), Length(max=300)])
    next = HiddenField()


class RemittanceImportForm(FlaskForm):
    file = FileField("Bank, lockbox or 820 file", validators=[FileRequired("Choose a file.")])


# --- billing ---------------------------------------------------------------------------------


class BillingRunForm(FlaskForm):
    period = StringField(
        "Billing period (month)",
        validators=[DataRequired(), Regexp(r"^\d{4}-\d{2}$", message="Use YYYY-MM, e.g. 2027-01.")],
    )
    group = StringField("Only group number (optional)", validators=[Length(max=20)])


class InvoiceVoidForm(FlaskForm):
    reason = TextAreaField(
        "Reason for the void",
        validators=[DataRequired(message="Say why the invoice is voided."), Length(min=5, max=500)],
    )


# --- census uploads --------------------------------------------------------------------------


class UploadReturnForm(FlaskForm):
    reason = TextAreaField(
        "What the employer should correct (they see this)",
        validators=[DataRequired(), Length(min=10, max=1000)],
    )


class RetroOverrideForm(FlaskForm):
    reason = TextAreaField(
        "Why the retro window is overridden", validators=[DataRequired(), Length(min=5, max=500)]
    )


# --- staff security --------------------------------------------------------------------------


class SecondFactorResetForm(FlaskForm):
    """The reset button: the CSRF token only."""


class GroupSecondFactorForm(FlaskForm):
    require_second_factor = BooleanField("Its employer users log in with a second factor")
