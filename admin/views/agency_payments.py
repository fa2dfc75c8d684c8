"""Staff: paying agencies by ACH at /admin/agency-payments (issue 21, item 6). The payables
ready to pay and "make ACH file" (confirmed first), the files made with their download and
"mark sent" (confirmed first; it posts the payments), returns entered against a sent file's
entries, changes of bank details waiting for a second person, and each payee's details page
(agency or employer group, masked) with the form to enter new details or upload many. The
rules are billing_core.commissions.payees' and disbursements'."""

from __future__ import annotations

from flask import Response, render_template, url_for
from flask_login import current_user

from admin import bp
from admin.actions import confirm_form, load_or_404, require_valid, submit_form
from admin.views.agency_payments_forms import (
    AchReturnForm,
    BankDetailsForm,
    BankDetailsUploadForm,
    DecideDetailsForm,
    MakeAchFileForm,
    MarkSentForm,
    RejectDetailsForm,
)
from billing_core.commissions import disbursements, payees
from billing_core.errors import BillingError, CommissionError
from billing_core.models import BrokerAgency, EmployerGroup
from billing_core.models.commissions import AchEntry, AchFile, PayeeAccount
from billing_core.money import format_dollars
from portal.confirmation import Ask, Done, Table
from portal.extensions import db_session
from portal.web import Reply, run_action, today


def _index_url() -> str:
    return url_for("admin.agency_payments")


@bp.get("/agency-payments")
def agency_payments():
    return _index_page()


def _index_page(upload_problem: BillingError | None = None, status: int = 200):
    session = db_session()
    make_form = MakeAchFileForm()
    make_form.effective_date.data = today()
    waiting = payees.waiting_changes(session)
    owed = disbursements.payables(session)
    agencies = payees.agency_payees(session)
    page = render_template(
        "admin/agency_payments/index.html",
        payables=owed,
        ready_total=sum((p.amount for p in owed if p.payable), start=0),
        open_file=disbursements.open_file(session),
        files=disbursements.files(session),
        waiting=waiting,
        agencies=agencies,
        agency_names={row.agency.id: row.agency.name for row in agencies},
        names=payees.user_names(session, {a.entered_by_id for a in waiting}),
        make_form=make_form,
        upload_form=BankDetailsUploadForm(),
        upload_problem=upload_problem,
        decide_form=DecideDetailsForm(),
        reject_form=RejectDetailsForm(),
        columns=", ".join(payees.UPLOAD_COLUMNS),
    )
    return page, status


def _payee_page(agency: BrokerAgency | None, group: EmployerGroup | None):
    session = db_session()
    history = payees.accounts_of(session, agency=agency, group=group)
    ids = {a.entered_by_id for a in history} | {a.decided_by_id for a in history}
    return render_template(
        "admin/agency_payments/payee.html",
        agency=agency,
        group=group,
        in_force=payees.account_in_force(session, agency=agency, group=group),
        pending=payees.pending_change(session, agency=agency, group=group),
        history=history,
        names=payees.user_names(session, ids),
        form=BankDetailsForm(),
        decide_form=DecideDetailsForm(),
        reject_form=RejectDetailsForm(),
        action=url_for("admin.agency_bank_details_enter", agency_id=agency.id)
        if agency is not None
        else url_for("admin.group_bank_details_enter", group_id=group.id),
    )


@bp.get("/agency-payments/agencies/<int:agency_id>")
def agency_payee(agency_id: int):
    return _payee_page(load_or_404(BrokerAgency, agency_id), None)


@bp.get("/agency-payments/groups/<int:group_id>")
def group_payee(group_id: int):
    return _payee_page(None, load_or_404(EmployerGroup, group_id))


def _enter(agency: BrokerAgency | None, group: EmployerGroup | None, back: str):
    def entered(form: BankDetailsForm) -> str:
        details = payees.BankDetails.of(
            name_on_account=form.name_on_account.data,
            routing_number=form.routing_number.data,
            account_number=form.account_number.data,
            account_type=form.account_type.data,
            payee_kind=form.payee_kind.data,
        )
        account = payees.enter_bank_details(
            db_session(), details, actor=current_user, agency=agency, group=group
        )
        return (
            f"New bank details (account {account.account_masked}) are waiting for a second "
            "staff member to confirm them; until then payments go to the details in force."
        )

    return submit_form(BankDetailsForm(), entered, back=back, failure="Bank details not kept")


@bp.post("/agency-payments/agencies/<int:agency_id>/bank-details")
def agency_bank_details_enter(agency_id: int):
    agency = load_or_404(BrokerAgency, agency_id)
    return _enter(agency, None, url_for("admin.agency_payee", agency_id=agency.id))


@bp.post("/agency-payments/groups/<int:group_id>/bank-details")
def group_bank_details_enter(group_id: int):
    group = load_or_404(EmployerGroup, group_id)
    return _enter(None, group, url_for("admin.group_payee", group_id=group.id))


def _payee_url(account: PayeeAccount) -> str:
    if account.agency_id is not None:
        return url_for("admin.agency_payee", agency_id=account.agency_id)
    return url_for("admin.group_payee", group_id=account.group_id)


@bp.post("/agency-payments/bank-details/<int:account_id>/confirm")
def bank_details_confirm(account_id: int):
    account = load_or_404(PayeeAccount, account_id)

    def confirmed(_form) -> str:
        payees.confirm_bank_details(db_session(), account, actor=current_user)
        return f"Bank details {account.account_masked} confirmed: payments go there from now on."

    return submit_form(
        DecideDetailsForm(), confirmed, back=_payee_url(account), failure="Not confirmed"
    )


@bp.post("/agency-payments/bank-details/<int:account_id>/reject")
def bank_details_reject(account_id: int):
    account = load_or_404(PayeeAccount, account_id)

    def rejected(form: RejectDetailsForm) -> str:
        payees.reject_bank_details(
            db_session(), account, actor=current_user, reason=form.reason.data
        )
        return f"Bank details {account.account_masked} rejected; the details in force stay."

    return submit_form(
        RejectDetailsForm(), rejected, back=_payee_url(account), failure="Not rejected"
    )


@bp.post("/agency-payments/bank-details/upload")
def bank_details_upload():
    form = BankDetailsUploadForm()

    def uploaded() -> str:
        require_valid(form)
        upload = form.file.data
        kept = payees.upload_bank_details(
            db_session(), upload.filename or "upload", upload.read(), actor=current_user
        )
        return (
            f"Bank details for {len(kept)} agenc{'y' if len(kept) == 1 else 'ies'} kept from "
            f"{upload.filename}; each waits for a second staff member to confirm it."
        )

    # A refused file is answered with the page listing every bad row and column.
    return run_action(
        uploaded,
        to=_index_url(),
        done=lambda said: said,
        refused=lambda error: _index_page(upload_problem=error, status=422),
    )


@bp.post("/agency-payments/files")
def ach_file_make():
    def made(form: MakeAchFileForm) -> Done:
        file = disbursements.make_ach_file(
            db_session(), actor=current_user, effective_date=form.effective_date.data
        )
        rows = [[e.payee_account.name_on_account, e.payee_account.account_masked, e.amount]
                for e in file.entries]  # fmt: skip
        ask = Ask(
            title="Make the ACH file?",
            button=f"Confirm: make the ACH file of {format_dollars(file.total_credit)}",
            rows=[("Pay on", f"{file.effective_date:%b %-d, %Y}"), ("Entries", file.entry_count)],
            total=("Total credits", file.total_credit),
            table=Table(["Payee (name on account)", "Account", "Amount"], rows),
            notes=[
                "Nothing is paid in the ledger yet: download the file, send it to the bank, "
                "then mark it sent (that posts the payments).",
                "Making the file again before it is sent gives this same file.",
            ],
            cancel=_index_url(),
        )
        return Done(
            f"{disbursements.describe(file)} made; download it, send it to the bank, then mark "
            "it sent.",
            link=(url_for("admin.ach_file_detail", file_id=file.id), "See the file"),
            then=url_for("admin.ach_file_detail", file_id=file.id),
            ask=ask,
        )

    return confirm_form(MakeAchFileForm(), made, back=_index_url(), failure="No file made")


@bp.get("/agency-payments/files/<int:file_id>")
def ach_file_detail(file_id: int):
    file = load_or_404(AchFile, file_id)
    sent_form = MarkSentForm()
    sent_form.sent_on.data = today()
    return_form = AchReturnForm()
    return_form.returned_on.data = today()
    return render_template(
        "admin/agency_payments/file.html",
        file=file,
        sent_form=sent_form,
        return_form=return_form,
        advice=disbursements.return_advice,
        codes=disbursements.RETURN_CODES,
    )


@bp.get("/agency-payments/files/<int:file_id>/download")
def ach_file_download(file_id: int):
    file = load_or_404(AchFile, file_id)

    def downloaded() -> Reply:
        text = disbursements.download_ach_file(db_session(), file, actor=current_user)
        return Reply(
            lambda: Response(
                text,
                mimetype="text/plain",
                headers={"Content-Disposition": f'attachment; filename="ach-{file.id:05d}.txt"'},
            )
        )

    return run_action(downloaded, back=url_for("admin.ach_file_detail", file_id=file.id))


@bp.post("/agency-payments/files/<int:file_id>/sent")
def ach_file_sent(file_id: int):
    file = load_or_404(AchFile, file_id)
    back = url_for("admin.ach_file_detail", file_id=file.id)

    def sent(form: MarkSentForm) -> Done:
        if not disbursements.mark_sent(
            db_session(), file, actor=current_user, on=form.sent_on.data
        ):
            raise CommissionError(f"ACH file {file.id} was already marked sent; nothing posted")
        ask = Ask(
            title=f"Mark ACH file {file.id} sent?",
            button=f"Confirm: it was sent; post {format_dollars(file.total_credit)} paid",
            rows=[("Sent on", f"{form.sent_on.data:%b %-d, %Y}"), ("Entries", file.entry_count)],
            total=("Paid from cash", file.total_credit),
            notes=["Each entry posts Dr its payable, Cr cash. A return later reopens it."],
            cancel=back,
        )
        return Done(f"{disbursements.describe(file)} marked sent; the payments are posted.",
                    ask=ask)  # fmt: skip

    return confirm_form(MarkSentForm(), sent, back=back, failure="Not marked sent")


@bp.post("/agency-payments/entries/<int:entry_id>/return")
def ach_entry_return(entry_id: int):
    entry = load_or_404(AchEntry, entry_id)
    back = url_for("admin.ach_file_detail", file_id=entry.file_id)

    def returned(form: AchReturnForm) -> Done:
        disbursements.record_return(
            db_session(), entry, code=form.code.data, actor=current_user,
            on=form.returned_on.data,
        )  # fmt: skip
        ask = Ask(
            title=f"Record return {entry.return_code} of trace {entry.trace_number}?",
            button=f"Confirm: returned; owe {format_dollars(entry.amount)} again",
            rows=[
                ("Payee", entry.payee_account.name_on_account),
                ("Reason", f"{entry.return_code} {disbursements.RETURN_CODES[entry.return_code]}"),
            ],  # fmt: skip
            total=("Reopened", entry.amount),
            notes=[
                "The payment is reversed by a new entry: Dr cash, Cr the payable.",
                f"Then: {disbursements.return_advice(entry.return_code)}.",
            ],  # fmt: skip
            cancel=back,
        )
        return Done(
            f"Return {entry.return_code} recorded: {format_dollars(entry.amount)} is owed again. "
            f"{disbursements.return_advice(entry.return_code)}",
            ask=ask,
        )

    return confirm_form(AchReturnForm(), returned, back=back, failure="Return not recorded")
