"""The watchlist page's forms (admin/views/watchlist.py): add an entry, change its expiry,
remove it. CSRF through FlaskForm; the rules themselves (nine-digit tax id, a reason, an
expiry not in the past, one active entry per tax id) are billing_core.collections.watchlist's."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class WatchlistAddForm(FlaskForm):
    tax_id = StringField(
        "Tax id (EIN)",
        validators=[DataRequired("Enter the employer's tax id."), Length(max=20)],
        render_kw={"placeholder": "12-3456789", "inputmode": "numeric"},
    )
    name = StringField(
        "Employer name", validators=[DataRequired("Enter the employer's name."), Length(max=200)]
    )
    reason = TextAreaField(
        "Reason",
        validators=[DataRequired("Say why the employer is watched."), Length(max=500)],
        render_kw={"rows": 2},
    )
    expires_on = DateField("Expires on (optional)", validators=[Optional()])


class WatchlistExpiryForm(FlaskForm):
    expires_on = DateField("New expiry (empty: until removed)", validators=[Optional()])


class WatchlistRemoveForm(FlaskForm):
    reason = StringField(
        "Why remove it",
        validators=[DataRequired("Say why the entry is removed."), Length(max=500)],
    )
