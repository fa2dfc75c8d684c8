"""Staff: the billing run (preview, then issue in chunks; its progress and failed chunks, and
their retry), every invoice, one invoice, and voids."""

from __future__ import annotations

from datetime import date, datetime

from flask import current_app, render_template, request, url_for
from flask_login import current_user

from admin import bp
from admin.actions import confirm_form, load_or_404
from admin.forms import BillingRunForm, InvoiceVoidForm
from billing_core.access import GroupScope
from billing_core.billing.enrollment import add_months
from billing_core.billing.invoices import invoice_book_page, period_label
from billing_core.billing.invoicing import prepare_billing_run, void_invoice
from billing_core.billing.run import (
    RunProgress,
    execute_run,
    progress,
    recent_runs,
    retry_failed,
    start_run,
)
from billing_core.models import BillingRun, Invoice
from billing_core.models.enums import Role
from billing_core.money import format_dollars
from portal import invoice_pages
from portal.confirmation import Ask, Done, confirmed_digest, confirming, digest_of, said
from portal.extensions import db_session
from portal.web import (
    NotYet,
    client_ip,
    load_group,
    role_required,
    run_action,
    today,
)

AREA = "admin"


def _period(value: str) -> date | None:
    try:
        return datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        return None


def _invoice_href():
    """An invoice's staff link (group id, invoice id) -> path, its text around the two ids
    asked of url_for once per page with stand-in ids (url_for per row costs more than the
    rest of the row): the same text url_for gives, ids being plain digits."""
    group_id, invoice_id = 900000001, 900000002
    shape = url_for("admin.invoice_detail", group_id=group_id, invoice_id=invoice_id)
    before, rest = shape.split(str(group_id))
    middle, after = rest.split(str(invoice_id))
    return lambda group, invoice: f"{before}{group}{middle}{invoice}{after}"


def _run_facts(period: date, groups, outcome) -> list:
    """What the preview shows and the Issue button confirms: each invoice with its lines and
    amounts, and the run's totals."""
    return [
        "billing-run",
        period.isoformat(),
        groups,
        [
            [d.invoice_number, len(d.lines), str(d.new_charges), str(d.total_due)]
            for d in outcome.drafts
        ],
        str(outcome.total_new_charges),
    ]


@bp.route("/billing", methods=["GET", "POST"])
def billing_run():
    """GET with a period shows the preview (a dry run, nothing written), which is the run's
    confirmation: its Issue button posts `confirm=1` with a digest of the invoices and totals
    shown. POST issues only with both, and only what the preview showed: a run that comes to
    anything else (a payment came in, a group was issued meanwhile) is rolled back and the new
    preview shown instead. A POST without the confirmation shows the preview."""
    form = BillingRunForm(request.values, meta={"csrf": request.method == "POST"})
    if not form.period.data:
        form.period.data = f"{add_months(today(), 1):%Y-%m}"
    period = _period(form.period.data or "")
    groups = [form.group.data.strip()] if form.group.data and form.group.data.strip() else None
    if request.method == "POST" and form.validate() and period and confirming():
        return run_action(
            lambda: _issued(form, period, groups),
            to=url_for("admin.invoice_list", period=form.period.data),
            done=lambda outcome: _issued_said(form, period, outcome),
            back=url_for("admin.billing_run", period=form.period.data),
        )
    return _preview(form, period, groups)


def _issued(form: BillingRunForm, period: date, groups):
    """Only what the preview showed is issued: the run is prepared again and compared with the
    confirmed digest before its first chunk is written (each chunk commits on its own)."""
    session = db_session()
    outcome = prepare_billing_run(session, period, group_numbers=groups, run_date=today())
    if not confirmed_digest(_run_facts(period, groups, outcome)):
        return NotYet(lambda: _preview(form, period, groups, changed=True))
    del outcome
    settings = current_app.config["SETTINGS"]
    run = start_run(
        session,
        period,
        group_numbers=groups,
        run_date=today(),
        chunk_groups=settings.billing_run_chunk_groups,
        actor_id=current_user.id,
        ip_address=client_ip(),
    )
    execute_run(session, run, settings=settings)
    return progress(session, run)


def _issued_said(form: BillingRunForm, period: date, run: RunProgress):
    if not run.finished:
        return said(
            f"Billing run {run.run.id} for {period:%b %Y} started: {run.chunks} chunk(s) of "
            "groups queued for the workers. Its progress is below.",
            (url_for("admin.billing_run"), "See the run's progress"),
        )
    failed = len(run.failed_chunks)
    return said(
        f"Issued {run.issued} invoice(s) for {period:%b %Y}, "
        f"{run.line_count:,} lines, new charges {run.new_charges:,.2f}."
        + (f" {run.held} group(s) held: see the preview." if run.held else "")
        + (f" {failed} chunk(s) failed: retry them on the billing page." if failed else ""),
        (url_for("admin.invoice_list", period=form.period.data), "See the invoices issued"),
    )


@bp.post("/billing/runs/<int:run_id>/retry")
def billing_run_retry(run_id: int):
    """Issue a run's failed chunks again, alone (the chunks done are not touched). The run was
    confirmed from its preview when it started; a chunk issues only what is still unissued."""
    run = load_or_404(BillingRun, run_id)
    back = url_for("admin.billing_run")
    return run_action(
        lambda: _retried(run),
        to=back,
        done=lambda result: (
            f"Billing run {run_id}: {result.done} of {result.chunks} chunk(s) done, "
            f"{len(result.failed_chunks)} failed."
        ),
        failed="Not retried",
    )


def _retried(run: BillingRun) -> RunProgress:
    session = db_session()
    retry_failed(session, run, settings=current_app.config["SETTINGS"])
    return progress(session, run)


def _preview(form: BillingRunForm, period: date | None, groups, *, changed: bool = False):
    """The run as it would be (a dry run, rolled back), or just the form before a period is
    chosen; a refusal shows beside the group field."""
    previewing = request.method == "POST" or "period" in request.args
    if not (previewing and form.validate() and period):
        return _run_page(form, period, groups, None, changed)

    def dry_run() -> NotYet:
        outcome = prepare_billing_run(db_session(), period, group_numbers=groups, run_date=today())
        return NotYet(lambda: _run_page(form, period, groups, outcome, changed))

    def refused(error):
        form.group.errors = [str(error)]
        return _run_page(form, period, groups, None, changed)

    return run_action(dry_run, to=request.full_path, refused=refused)


def _run_page(form: BillingRunForm, period: date | None, groups, outcome, changed: bool) -> str:
    return render_template(
        "admin/billing_run.html",
        form=form,
        outcome=outcome,
        period=period,
        changed=changed,
        asking=request.method == "POST",
        run_digest=digest_of(_run_facts(period, groups, outcome)) if outcome else "",
        runs=recent_runs(db_session()),
    )


@bp.get("/invoices")
def invoice_list():
    """Every invoice in the book, newest first; search by invoice or group number or name."""
    search = request.args.get("q", "").strip()
    page, groups = invoice_book_page(
        db_session(),
        search,
        _period(request.args.get("period", "")),
        request.args.get("page", 1, type=int) or 1,
        50,
        today(),
    )
    return render_template(
        "admin/all_invoices.html",
        page=page,
        groups=groups,
        invoice_href=_invoice_href(),
        search=search,
        period=request.args.get("period", ""),
        period_label=period_label,
    )


@bp.get("/groups/<int:group_id>/invoices")
def group_invoice_list(group_id: int):
    return invoice_pages.render_invoice_list(load_group(group_id), AREA)


@bp.get("/groups/<int:group_id>/invoices/<int:invoice_id>")
def invoice_detail(group_id: int, invoice_id: int):
    return invoice_pages.render_invoice_detail(
        load_group(group_id), invoice_id, AREA, void_form=InvoiceVoidForm()
    )


@bp.post("/groups/<int:group_id>/invoices/<int:invoice_id>/void")
@role_required(Role.SUPERVISOR, Role.ADMIN)
def invoice_void(group_id: int, invoice_id: int):
    scope = load_group(group_id)
    invoice = invoice_pages.load_invoice(scope, invoice_id)
    back = url_for("admin.invoice_detail", group_id=group_id, invoice_id=invoice_id)
    return confirm_form(
        InvoiceVoidForm(),
        lambda form: _voided(scope, invoice, form, back),
        back=back,
        failure="Not voided",
    )


def _voided(scope: GroupScope, invoice: Invoice, form: InvoiceVoidForm, back: str) -> Done:
    memo = void_invoice(
        db_session(),
        invoice,
        reason=form.reason.data,
        actor=current_user,
        on=today(),
        ip_address=client_ip(),
    )
    ask = Ask(
        title=f"Void invoice {invoice.invoice_number}?",
        button=(
            f"Confirm: void {invoice.invoice_number} with a credit memo of "
            f"{format_dollars(memo.amount)}"
        ),
        rows=[
            ("Invoice", invoice.invoice_number),
            ("Group", scope.group.name),
            ("Period", period_label(invoice.period_start, invoice.period_end)),
            ("Reason", form.reason.data),
        ],
        total=("Credit memo reversing it", memo.amount),
        notes=[
            "Nothing is deleted: a reversing journal entry and a credit memo. Retro "
            "adjustments on it go back to the queue for the next bill; billing the period "
            "again issues a replacement."
        ],
        cancel=back,
        danger=True,
    )
    return Done(
        f"Invoice {invoice.invoice_number} voided; credit memo {memo.memo_number} for "
        f"{memo.amount:,.2f} reverses it. Run billing for the period to issue a replacement.",
        link=(back, f"Open {invoice.invoice_number}"),
        ask=ask,
    )


@bp.get("/groups/<int:group_id>/invoices/<int:invoice_id>/lines")
def invoice_lines(group_id: int, invoice_id: int):
    return invoice_pages.render_invoice_lines(load_group(group_id), invoice_id, AREA)


@bp.get("/groups/<int:group_id>/invoices/<int:invoice_id>/bridge/<step>")
def invoice_bridge_step(group_id: int, invoice_id: int, step: str):
    return invoice_pages.render_bridge_step(load_group(group_id), invoice_id, step, AREA)


@bp.get("/groups/<int:group_id>/invoices/<int:invoice_id>/invoice.pdf")
def invoice_pdf(group_id: int, invoice_id: int):
    return invoice_pages.send_invoice_pdf(load_group(group_id), invoice_id)


@bp.get("/groups/<int:group_id>/invoices/<int:invoice_id>/lines.<any(csv, xlsx):fmt>")
def invoice_lines_download(group_id: int, invoice_id: int, fmt: str):
    return invoice_pages.send_invoice_lines(load_group(group_id), invoice_id, fmt)
