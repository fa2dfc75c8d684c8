"""The rates pages' forms (admin/views/rate_changes.py). A plan's proposed-rates form is made
from the fields of its rating basis (billing_core.setup.rate_changes.FORM_FIELDS), every field
optional here: what is wrong is the import's check's to say, shown beside the field. CSRF
through FlaskForm."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from billing_core.models.enums import RatingBasis
from billing_core.setup.rate_changes import FORM_FIELDS


class RenewalForm(FlaskForm):
    effective_from = DateField(
        "Renewal effective on (a first of month; empty: the group's next renewal month)",
        validators=[Optional()],
    )


class CorrectionForm(FlaskForm):
    effective_from = DateField(
        "Corrected rates apply from (a first of month, past or this month)",
        validators=[DataRequired("Enter the first month the corrected rates apply to.")],
    )
    reason = StringField(
        "Why the rates are corrected",
        validators=[DataRequired("Say why the rates are corrected."), Length(max=500)],
    )


class ButtonForm(FlaskForm):
    """A button that only needs its CSRF token (submit, approve, withdraw)."""


def plan_rates_form(basis: RatingBasis, data: dict | None = None) -> FlaskForm:
    """The proposed-rates form of a plan on `basis`, filled with `data` (None: the request's)."""
    attrs = {}
    for name, label, kind in FORM_FIELDS[basis]:
        if kind == "lines":
            attrs[name] = TextAreaField(label, render_kw={"rows": 5}, validators=[Optional()])
        else:
            attrs[name] = StringField(
                label,
                validators=[Optional(), Length(max=30)],
                render_kw={"inputmode": "decimal" if kind == "money" else "numeric"},
            )
    form_class = type(f"PlanRatesForm_{basis.value}", (FlaskForm,), attrs)
    return form_class(data=data) if data is not None else form_class()
