"""The group set-up screens' forms (admin/views/group_setup.py). A step's form is made from
the set-up import's own field specs (billing_core.setup.drafts.STEPS), every field optional
here: what is wrong is the import's check's to say, shown beside the field. CSRF through
FlaskForm."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from billing_core.setup.document import FieldSpec

# Words a person reads instead of the document's field names.
LABELS = {
    "group_number": "Group number",
    "tax_id": "Tax id (EIN)",
    "original_effective_date": "Coverage starts on",
    "renewal_month": "Renewal month (1-12)",
    "contact_email": "Billing contact e-mail",
    "state": "State (two letters)",
    "contact_name": "Billing contact name",
    "contact_phone": "Billing contact phone",
    "address_line1": "Mailing address, line 1",
    "address_line2": "Mailing address, line 2 (optional)",
    "city": "City",
    "address_state": "Mailing address state (two letters)",
    "zip": "ZIP code (5 or 9 digits)",
    "delinquency_plan": "Delinquency plan",
    "effective_from": "Effective from",
    "effective_to": "Effective to (optional)",
    "lead_days": "Bill this many days before the period",
    "tolerance_amount": "Short-pay tolerance, amount",
    "tolerance_percent": "Short-pay tolerance, percent",
    "tolerance_rule": "Tolerance: both (and) or either (or)",
    "retro_add_days": "Retro window for additions (days)",
    "retro_term_days": "Retro window for terminations (days)",
    "retro_change_days": "Retro window for changes (days)",
    "coverage_month_rule": "Coverage-month rule (proration)",
    "grace_days": "Grace period (days)",
    "grace_day_kind": "Grace days counted as",
    "credit_policy": "Credit policy",
    "bill_separately": "Billed on its own invoice",
    "agency": "Agency code",
    "writing_broker": "Writing broker's NPN (optional)",
    "commission_split_percent": "Commission split, percent",
    "line_of_coverage": "Line of coverage",
    "rating_basis": "Rating basis",
    "class": "Class (optional: all classes)",
    "plan": "Plan",
    "unit_rate": "Rate per unit (per $1,000 or per $10 of benefit or payroll)",
    "volume_flat_amount": "Flat volume (life: amount of insurance)",
    "volume_salary_multiple": "Volume as a multiple of salary",
    "volume_maximum": "Volume maximum",
    "volume_rounding_unit": "Round volume up to",
    "weekly_benefit_percent": "Weekly benefit, share of pay (0.6 = 60%)",
    "weekly_benefit_maximum": "Weekly benefit maximum",
    "covered_payroll_maximum": "Covered monthly payroll maximum",
    "child_rate": "Child rate (monthly)",
    "child_rate_max_age": "Child rate up to age",
    "max_charged_children": "Children charged at most",
    "age_reference": "Age taken on",
    "age_bands": "Age bands, one a line (18-29: 12.50)",
    "age_reductions": "Age reductions, one a line (65: 65 = 65% of volume from 65)",
}


def label_for(name: str) -> str:
    if name.startswith("tier_"):
        return f"Monthly rate, tier {name[5:]}"
    return LABELS.get(name, name.replace("_", " ").capitalize())


def _select(label: str, pairs: list[tuple[str, str]]) -> SelectField:
    """A choice with an empty first option; what is chosen is the import's check's to judge."""
    options = [SelectChoice("", "—")] + [SelectChoice(v, words) for v, words in pairs]
    return SelectField(label, choices=options, validate_choice=False)


def _field(spec: FieldSpec, choices: dict[str, list[tuple[str, str]]]):
    label = label_for(spec.name)
    opts = [Optional()]
    if spec.name in choices:
        return _select(label, choices[spec.name])
    if spec.kind == "enum":
        return _select(label, [(m.value, m.value.replace("_", " ")) for m in spec.enum])
    if spec.kind == "bool":
        return _select(label, [("false", "No"), ("true", "Yes")])
    if spec.name in ("age_bands", "age_reductions"):
        return TextAreaField(label, validators=opts, render_kw={"rows": 3})
    kw: dict = {}
    if spec.kind == "date":
        kw = {"type": "date"}
    elif spec.kind in ("money", "int"):
        kw = {"inputmode": "decimal" if spec.kind == "money" else "numeric"}
    elif spec.kind == "email":
        kw = {"type": "email"}
    elif spec.kind == "phone":
        kw = {"type": "tel", "autocomplete": "off"}
    elif spec.kind == "zip":
        kw = {"inputmode": "numeric", "autocomplete": "off"}
    return StringField(label, validators=opts, render_kw=kw or None)


def step_form(step, data: dict | None = None, *, prefix: str = "", choices=None) -> FlaskForm:
    """A form for one step (or one new row of a list step), filled from `data`."""

    class StepForm(FlaskForm):
        pass

    for spec in step.fields:
        setattr(StepForm, spec.name, _field(spec, choices or {}))
    return StepForm(data=data or {}, prefix=prefix)


def form_values(form: FlaskForm, step) -> dict:
    return {spec.name: form[spec.name].data for spec in step.fields}


class PlainForm(FlaskForm):
    """A button that only needs its CSRF token (start, remove a row, go live)."""


class TerminateForm(FlaskForm):
    terminated_on = DateField(
        "Last covered day (billing stops after it)",
        validators=[DataRequired("Enter the last covered day.")],
    )
    reason = StringField(
        "Why the group ends",
        validators=[DataRequired("Say why the group is terminated."), Length(max=500)],
    )
