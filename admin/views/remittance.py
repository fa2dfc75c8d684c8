"""Importing bank, lockbox and 820 remittance files (staff): upload, then see each line matched,
partially matched or sent to suspense. The same file twice changes nothing."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user

from admin import bp
from admin.forms import RemittanceImportForm
from billing_core.errors import BillingError, ValidationFailed
from billing_core.payments import review
from billing_core.payments.imports import ImportOutcome, import_remittance_file
from portal.extensions import db_session
from portal.web import Reply, run_action, today

RESULT_LABELS = {
    "matched": "Matched",
    "partial": "Partly matched",
    "suspense": "To suspense",
    "duplicate": "Already recorded",
    "advice": "Remittance advice",
}


@bp.route("/payments/import", methods=["GET", "POST"])
def remittance_import():
    form = RemittanceImportForm()
    if not form.validate_on_submit():
        return _import_page(form)
    upload = form.file.data

    def imported() -> Reply:
        outcome = import_remittance_file(
            db_session(), upload.read(), upload.filename or "upload", actor=current_user, on=today()
        )
        return Reply(lambda: _import_page(form, outcome=outcome))

    return run_action(imported, refused=lambda error: _import_page(form, problems=_problems(error)))


def _problems(error: BillingError) -> list[str]:
    """A refused file: what is wrong with it, then every row and column named."""
    if isinstance(error, ValidationFailed):
        return [str(error).splitlines()[0], *(str(e) for e in error.errors)]
    return [str(error)]


def _import_page(form, *, outcome: ImportOutcome | None = None, problems=()) -> str:
    return render_template(
        "admin/payments/import.html",
        form=form,
        outcome=outcome,
        problems=list(problems),
        result_labels=RESULT_LABELS,
        queues=review.cash_queues(db_session()),
    )
