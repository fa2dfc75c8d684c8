"""Forms shared by the employer portal and the admin side: the statement's date range (one GET
form; both show the same statement of one group)."""

from __future__ import annotations

from datetime import date

from flask_wtf import FlaskForm
from wtforms import MonthField
from wtforms.validators import Optional, ValidationError

from billing_core.bounds import MONTH_RANGE_WORDS, date_in_range


def _month_in_range(form, field):
    if field.data and not date_in_range(field.data):
        raise ValidationError(f"Choose a month {MONTH_RANGE_WORDS}.")


class StatementRangeForm(FlaskForm):
    """Coverage months from and to (`YYYY-MM`; browsers without a month picker show a text box).
    A reading form sent by GET: no CSRF token, and a bookmarkable URL."""

    class Meta:
        csrf = False

    start = MonthField("From coverage month", validators=[Optional(), _month_in_range])
    end = MonthField("To coverage month", validators=[Optional(), _month_in_range])

    def months(self, default_start: date, default_end: date) -> tuple[date, date]:
        """(first month, last month), each the first of its month; the defaults where empty."""
        start = self.start.data or default_start
        end = self.end.data or default_end
        return start.replace(day=1), end.replace(day=1)
