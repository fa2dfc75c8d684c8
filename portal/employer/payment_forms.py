"""The employer's payment forms: pay (invoices or an amount, card or bank account), the local
test checkout, and using a credit. One form per action."""

from __future__ import annotations

from decimal import Decimal

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    RadioField,
    SelectChoice,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, InputRequired, ValidationError

from billing_core.bounds import MAX_AMOUNT, amount_in_range
from billing_core.models.enums import PaymentMethod
from billing_core.money import D
from billing_core.payments.online import BANK_OUTCOMES

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
