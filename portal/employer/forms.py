"""The employer's forms: one per action."""

from __future__ import annotations

import base64
import binascii

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.datastructures import FileStorage
from wtforms import FieldList, Form, FormField, HiddenField, SelectChoice, SelectField
from wtforms.validators import ValidationError

from billing_core.census.tabular import FIELDS

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
