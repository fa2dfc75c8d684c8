"""The staff's commission pages' forms (admin/views/commissions.py). CSRF through FlaskForm;
the rules (a month before the latest run is refused, four eyes on approval) are
billing_core.commissions.run's."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import MonthField
from wtforms.validators import DataRequired, ValidationError

from billing_core.bounds import MONTH_RANGE_WORDS, date_in_range


def _month_in_range(form, field):
    if field.data and not date_in_range(field.data):
        raise ValidationError(f"Choose a month {MONTH_RANGE_WORDS}.")


class PreviewForm(FlaskForm):
    """The month to preview: a reading form sent by GET (no CSRF token; a bookmarkable URL)."""

    class Meta:
        csrf = False

    month = MonthField(
        "Month", validators=[DataRequired("Choose the month (YYYY-MM)."), _month_in_range]
    )


class RunForm(FlaskForm):
    month = MonthField(
        "Month", validators=[DataRequired("Choose the month (YYYY-MM)."), _month_in_range]
    )


class ApproveForm(FlaskForm):
    """Approve a run (nothing to fill in but the CSRF token)."""
