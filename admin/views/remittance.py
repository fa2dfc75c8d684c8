"""Importing bank, lockbox and 820 remittance files (staff): upload, then see each line matched,
partially matched or sent to suspense. The same file twice changes nothing."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired

from admin import bp
from billing_core.errors import BillingError, ValidationFailed
from billing_core.payments import review
from billing_core.payments.imports import import_remittance_file
from portal.extensions import db_session
from portal.web import today

RESULT_LABELS = {
    "matched": "Matched",
    "partial": "Partly matched",
    "suspense": "To suspense",
    "duplicate": "Already recorded",
    "advice": "Remittance advice",
}


class RemittanceImportForm(FlaskForm):
    file = FileField("Bank, lockbox or 820 file", validators=[FileRequired("Choose a file.")])


@bp.route("/payments/import", methods=["GET", "POST"])
def remittance_import():
    session = db_session()
    form = RemittanceImportForm()
    outcome, problems = None, []
    if form.validate_on_submit():
        upload = form.file.data
        try:
            outcome = import_remittance_file(
                session, upload.read(), upload.filename or "upload", actor=current_user, on=today()
            )
        except ValidationFailed as error:
            session.rollback()
            problems = [str(str(error).splitlines()[0]), *(str(e) for e in error.errors)]
        except BillingError as error:
            session.rollback()
            problems = [str(error)]
        else:
            session.commit()
    return render_template(
        "admin/payments/import.html",
        form=form,
        outcome=outcome,
        problems=problems,
        result_labels=RESULT_LABELS,
        queues=review.cash_queues(session),
    )
