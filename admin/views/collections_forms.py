"""The collections pages' forms (admin/views/collections.py): log a contact, record a promise
to pay, propose, make and cancel a payment plan. CSRF through FlaskForm; the rules themselves
(outcome required, follow-up and promised dates not in the past, amount > 0, a schedule adding
up to the overdue balance) are billing_core.collections.contacts' and payment_plans'."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from admin.forms import MoneyField
from billing_core.collections.payment_plans import MAX_INSTALLMENTS, Line
from billing_core.errors import ValidationFailed
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


class PlanProposalForm(FlaskForm):
    """What the schedule is proposed from (a reading form sent by GET: no CSRF token): N equal
    monthly installments from a date, an optional down payment."""

    class Meta:
        csrf = False

    installments = IntegerField(
        "Monthly installments",
        validators=[Optional(), NumberRange(1, MAX_INSTALLMENTS)],
        default=3,
    )
    first_on = DateField("First installment on", validators=[Optional()])
    down_payment = MoneyField("Down payment ($, optional)", validators=[Optional()])
    down_payment_on = DateField("Down payment on", validators=[Optional()])


class PlanLineForm(Form):
    """One line of the schedule; a line left empty is dropped."""

    due_on = DateField("Due on", validators=[Optional()])
    amount = MoneyField("Amount ($)", validators=[Optional()])


class PlanForm(FlaskForm):
    """The schedule as staff edited it; the rules (dates, amounts adding up to the overdue
    balance) are billing_core.collections.payment_plans'."""

    lines = FieldList(FormField(PlanLineForm), min_entries=1, max_entries=MAX_INSTALLMENTS + 1)
    first_is_down_payment = BooleanField("The first line is a down payment")
    note = StringField("Note (optional)", validators=[Length(max=300)])

    def schedule(self) -> list[Line]:
        """The lines filled in; one with only a date or only an amount is refused."""
        lines = []
        for n, entry in enumerate(self.lines.entries, start=1):
            due_on, amount = entry.form.due_on.data, entry.form.amount.data
            if due_on is None and amount is None:
                continue
            if due_on is None or amount is None:
                raise ValidationFailed(f"line {n}: give both the date and the amount")
            lines.append(Line(due_on, amount, not lines and self.first_is_down_payment.data))
        if not lines:
            raise ValidationFailed("the schedule has no installment")
        return lines


class CancelPlanForm(FlaskForm):
    reason = StringField(
        "Why cancel it",
        validators=[DataRequired("Say why the plan is cancelled."), Length(max=300)],
    )
