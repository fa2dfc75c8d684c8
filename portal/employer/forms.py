"""The employer's forms, one per action: the census upload (its columns and plan names, the
sender's decisions), and paying (invoices or an amount, card or bank account), the local test
checkout and using a credit."""

from __future__ import annotations

import base64
import binascii
from decimal import Decimal

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.datastructures import FileStorage
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, InputRequired, ValidationError

from billing_core.bounds import MAX_AMOUNT, amount_in_range
from billing_core.census.tabular import FIELDS
from billing_core.models.enums import PaymentMethod
from billing_core.money import D
from billing_core.payments.online import BANK_OUTCOMES

# The choices of a column's select: ignore it, or read it as one census field.
FIELD_CHOICES = [("", "Ignore this column")] + [(f.name, f.label) for f in FIELDS.values()]


class ColumnForm(Form):
    """One header of the file and the field it is read as ("" to ignore it)."""

    header = HiddenField()
    field = SelectField(choices=[SelectChoice(value, label) for value, label in FIELD_CHOICES])


def _chosen(columns: FieldList) -> dict[str, str | None] | None:
    entries = [entry.form for entry in columns.entries if entry.form.header.data]
    if not entries:
        return None
    return {entry.header.data: entry.field.data or None for entry in entries}


class UploadForm(FlaskForm):
    census_file = FileField("Census or change file (CSV, XLSX or X12 834)")
    kind = SelectField(
        "What the file is",
        choices=[
            SelectChoice("", "Let the portal tell (CSV/XLSX: it guesses; an 834 says itself)"),
            SelectChoice("snapshot", "Full census: everyone covered today"),
            SelectChoice("change", "Change file: only adds, terms and changes"),
        ],
    )
    # A refused file is not kept anywhere: the page carries it (base64) so the sender can fix
    # how its columns are read and check it again without choosing it again.
    kept_file = HiddenField()
    kept_name = HiddenField()
    columns = FieldList(FormField(ColumnForm))

    def has_new_file(self) -> bool:
        data = self.census_file.data
        return isinstance(data, FileStorage) and bool(data.filename)

    def validate_census_file(self, field) -> None:
        if not self.has_new_file() and not self.kept_file.data:
            raise ValidationError("Choose a file to upload.")

    def validate_kept_file(self, field) -> None:
        if field.data and not self.has_new_file():
            try:
                base64.b64decode(field.data, validate=True)
            except (binascii.Error, ValueError):
                raise ValidationError("Choose the file again.") from None

    def file(self) -> tuple[bytes, str]:
        """The bytes and name of the file to check: a newly chosen one, else the kept one."""
        if self.has_new_file():
            return self.census_file.data.read(), self.census_file.data.filename or "upload"
        return base64.b64decode(self.kept_file.data), self.kept_name.data or "upload"

    def keep(self, data: bytes, filename: str, limit: int) -> bool:
        """Carry a refused file on the page when it is small enough; True when it is."""
        kept = len(data) <= limit
        self.kept_file.data = base64.b64encode(data).decode("ascii") if kept else ""
        self.kept_name.data = filename if kept else ""
        return kept

    def chosen(self) -> dict[str, str | None] | None:
        """The sender's columns (header -> field name, None to ignore), None when not shown."""
        return _chosen(self.columns)


class MappingForm(FlaskForm):
    """The columns of a kept upload, changed before it is submitted."""

    columns = FieldList(FormField(ColumnForm))

    def chosen(self) -> dict[str, str | None] | None:
        return _chosen(self.columns)


class UploadDecisionForm(FlaskForm):
    """A sender's decision on a kept upload (read it as, confirm, discard): the CSRF token."""


class PlanNameForm(Form):
    """One plan value a file wrote and the group's plan it means ("" to leave it)."""

    value = HiddenField()
    plan = SelectField(choices=[], validate_choice=False)


class PlanNamesForm(FlaskForm):
    """The plan names of a file mapped to the group's plans, remembered for the group."""

    plans = FieldList(FormField(PlanNameForm))

    def aliases(self) -> dict[str, str]:
        return {
            entry.form.value.data: entry.form.plan.data
            for entry in self.plans.entries
            if entry.form.value.data and entry.form.plan.data
        }


# --- paying ----------------------------------------------------------------------------------

METHOD_CHOICES = [
    SelectChoice(PaymentMethod.CARD.value, "Card (credit or debit)"),
    SelectChoice(PaymentMethod.ACH_DEBIT.value, "US bank account (ACH debit)"),
]


class PayForm(FlaskForm):
    # One random value per page shown: the same submission twice (a double click, a resent
    # form) is one checkout and one Stripe session.
    nonce = HiddenField(validators=[DataRequired()])
    pay_what = RadioField(
        "What to pay",
        choices=[
            SelectChoice("invoices", "The invoices I choose"),
            SelectChoice("amount", "Another amount"),
        ],
        default="invoices",
        validators=[InputRequired()],
    )
    invoice_ids = SelectMultipleField("Invoices", choices=[], coerce=int, validate_choice=False)
    amount = StringField("Amount (USD)")
    method = RadioField(
        "How to pay",
        choices=METHOD_CHOICES,
        default=PaymentMethod.CARD.value,
        validators=[InputRequired()],
    )

    def validate_invoice_ids(self, field) -> None:
        if self.pay_what.data == "invoices" and not field.data:
            raise ValidationError("Choose at least one invoice, or enter another amount.")

    def validate_amount(self, field) -> None:
        if self.pay_what.data != "amount":
            return
        try:
            value = D(field.data or "")
        except ValueError:
            raise ValidationError("Enter an amount in dollars and cents, e.g. 1,250.00.") from None
        if value <= 0:
            raise ValidationError("Enter an amount above zero.")
        if not amount_in_range(value):  # before rounding: 1e999999 cannot be rounded
            raise ValidationError(f"Enter an amount of at most {MAX_AMOUNT:,}.")
        if value != value.quantize(Decimal("0.01")):
            raise ValidationError("Enter dollars and cents only (two decimals at most).")

    def chosen_amount(self) -> Decimal | None:
        if self.pay_what.data != "amount":
            return None
        value = D(self.amount.data)
        if not amount_in_range(value):
            raise ValueError(f"not an amount the portal takes: {self.amount.data!r}")
        return value

    def chosen_invoices(self) -> list[int]:
        return list(self.invoice_ids.data or []) if self.pay_what.data == "invoices" else []


class LocalCheckoutForm(FlaskForm):
    card_number = StringField("Card number (test)", default="4242 4242 4242 4242")
    bank_outcome = RadioField(
        "What the bank does",
        choices=[SelectChoice(value, label) for value, label in BANK_OUTCOMES.items()],
        default="succeeds",
        validators=[InputRequired()],
    )


class UseCreditForm(FlaskForm):
    confirm = BooleanField(
        "Yes, use my credit on my oldest open invoices",
        validators=[DataRequired("Tick the box to confirm.")],
    )
