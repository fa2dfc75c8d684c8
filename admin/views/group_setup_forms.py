"""The group set-up screens' forms (admin/views/group_setup.py). A step's form is made from
the set-up import's own field specs (billing_core.setup.drafts.STEPS), every field optional
here: what is wrong is the import's check's to say, shown beside the field. CSRF through
FlaskForm."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from billing_core.setup.document import FieldSpec
from billing_core.setup.words import enum_choices, label_for

__all__ = ["PlainForm", "TerminateForm", "form_values", "label_for", "step_form"]


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
        return _select(label, enum_choices(spec.enum))  # words shown, the code sent
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
