"""The invoice template page's form (admin/views/invoice_templates.py): which sections show,
subtotals, how subgroups are billed, four reference fields, remit-to and message. CSRF through
FlaskForm; the rules (lengths, a label for every value, known choices) are
billing_core.billing.invoice_templates', shown beside each field by its name."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import Length

from billing_core.billing.invoice_templates import (
    DIMENSIONS,
    MAX_REFERENCE_FIELDS,
    SECTIONS,
    SUBGROUP_BILLING,
    TemplateChoice,
)

REFERENCE_NUMBERS = range(1, MAX_REFERENCE_FIELDS + 1)


class InvoiceTemplateForm(FlaskForm):
    subtotal_by = SelectField(
        "Subtotals of the premium by",
        choices=[SelectChoice("", "No subtotals")]
        + [SelectChoice(key, label) for key, label in DIMENSIONS.items()],
    )
    subgroup_billing = SelectField(
        "Subgroups are billed",
        choices=[SelectChoice(key, label) for key, label in SUBGROUP_BILLING.items()],
    )
    remit_to = TextAreaField(
        "Remit-to text printed on the bill (optional, up to 6 lines)",
        validators=[Length(max=400)],
        render_kw={"rows": 4},
    )
    message = TextAreaField(
        "Message printed on the bill (optional)",
        validators=[Length(max=1000)],
        render_kw={"rows": 3},
    )


for _key, _label in SECTIONS.items():
    setattr(InvoiceTemplateForm, f"show_{_key}", BooleanField(_label, default=True))
for _n in REFERENCE_NUMBERS:
    setattr(
        InvoiceTemplateForm,
        f"reference_label_{_n}",
        StringField(
            f"Reference field {_n}: label",
            validators=[Length(max=40)],
            render_kw={"placeholder": "PO number" if _n == 1 else ""},
        ),
    )
    setattr(
        InvoiceTemplateForm,
        f"reference_value_{_n}",
        StringField(f"Reference field {_n}: value", validators=[Length(max=60)]),
    )


def section_fields(form: InvoiceTemplateForm) -> list:
    return [form[f"show_{key}"] for key in SECTIONS]


def reference_fields(form: InvoiceTemplateForm) -> list[tuple]:
    return [(form[f"reference_label_{n}"], form[f"reference_value_{n}"]) for n in REFERENCE_NUMBERS]


def fill(form: InvoiceTemplateForm, choice: TemplateChoice) -> None:
    """The form showing a saved template (on a GET)."""
    for key in SECTIONS:
        form[f"show_{key}"].data = choice.shows(key)
    form.subtotal_by.data = choice.subtotal_by or ""
    form.subgroup_billing.data = choice.subgroup_billing
    pairs = list(choice.reference_fields)
    for n in REFERENCE_NUMBERS:
        label, value = pairs[n - 1] if n <= len(pairs) else ("", "")
        form[f"reference_label_{n}"].data = label
        form[f"reference_value_{n}"].data = value
    form.remit_to.data = choice.remit_to
    form.message.data = choice.message


def choice_of(form: InvoiceTemplateForm) -> TemplateChoice:
    """What the form asks for (checked by billing_core when previewed or saved)."""
    return TemplateChoice(
        sections=tuple(key for key in SECTIONS if form[f"show_{key}"].data),
        subtotal_by=form.subtotal_by.data or None,
        subgroup_billing=form.subgroup_billing.data,
        reference_fields=tuple(
            (form[f"reference_label_{n}"].data or "", form[f"reference_value_{n}"].data or "")
            for n in REFERENCE_NUMBERS
        ),
        remit_to=form.remit_to.data or "",
        message=form.message.data or "",
    )


def show_refusal(form: InvoiceTemplateForm, errors: dict[str, str]) -> None:
    """Each problem beside its field (`sections` beside the first section's box)."""
    for name, message in errors.items():
        target = form[f"show_{next(iter(SECTIONS))}"] if name == "sections" else form[name]
        target.errors = [*target.errors, message]
