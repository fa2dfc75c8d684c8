"""Staff: the monthly commission run at /admin/commissions (issue 21, item 3). The months' runs
(status, totals, who ran and approved), the preview of a month before it is run (what a pass
would write per agency, computed by the run's own calculation without writing), "run"
(confirmed first) and "approve" (confirmed first; a supervisor who did not run it: the engine
refuses anyone else, in words), each run's totals per agency with the agency's statement page
and its PDF/CSV/XLSX, and each agency's schedules and broker-of-record groups (read-only). The
rules are billing_core.commissions.run's; the reads are billing_core.commissions.preview's."""

from __future__ import annotations

from flask import Response, render_template, request, url_for
from flask_login import current_user

from admin import bp
from admin.actions import confirm_form, load_or_404
from admin.views.commissions_forms import ApproveForm, PreviewForm, RunForm
from billing_core.commissions import preview as previews
from billing_core.commissions.run import agency_summaries, approve_run, run_commissions
from billing_core.commissions.statement_pdf import statement_pdf
from billing_core.commissions.statements import agency_statement, statement_csv, statement_xlsx
from billing_core.errors import CommissionError
from billing_core.models import BrokerAgency
from billing_core.models.commissions import CommissionRun
from billing_core.money import D, format_dollars
from portal.confirmation import Ask, Done, Table
from portal.extensions import db_session

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SUMMARY_COLUMNS = ["Agency", "New lines", "Earned", "Adjustments", "Held", "Released",
                   "Chargebacks", "Net"]  # fmt: skip


def _index_url() -> str:
    return url_for("admin.commissions")


def _run_url(run: CommissionRun) -> str:
    return url_for("admin.commission_run_detail", run_id=run.id)


@bp.get("/commissions")
def commissions():
    session = db_session()
    rows = previews.run_rows(session)
    preview_form = PreviewForm(formdata=None)
    preview_form.month.data = previews.month_to_run(session)
    return render_template(
        "admin/commissions/index.html",
        rows=rows,
        preview_form=preview_form,
        agencies=previews.all_agencies(session),
    )


@bp.get("/commissions/preview")
def commission_preview():
    form = PreviewForm(request.args)
    preview = previews.preview_month(db_session(), form.month.data) if form.validate() else None
    run_form = RunForm(formdata=None)
    if preview is not None:
        run_form.month.data = preview.month
    return render_template(
        "admin/commissions/preview.html", form=form, preview=preview, run_form=run_form
    )


def _summary_rows(summaries: list[dict]) -> list[list]:
    return [
        [f"{s['agency']} {s['name']}", s["lines"], D(s["earned"]), D(s["adjustment"]),
         D(s["hold"]), D(s["release"]), D(s["chargeback"]), D(s["net"])]
        for s in summaries
    ]  # fmt: skip


@bp.post("/commissions/run")
def commission_run():
    def ran(form: RunForm) -> Done:
        session = db_session()
        result = run_commissions(session, form.month.data, actor=current_user)
        run = result.run
        if result.closed:
            raise CommissionError(
                f"the {run.month:%b %Y} commission run is approved and closed: nothing is "
                "added (a correction appears in the next month's run)"
            )
        summaries = agency_summaries(session, run, result.lines)
        ask = Ask(
            title=f"Run commissions for {run.month:%b %Y}?",
            button=f"Confirm: run {run.month:%b %Y} ({len(result.lines)} new lines)",
            rows=[
                ("Premium counted through", f"{run.as_of:%b %-d, %Y}"),
                ("New lines", len(result.lines)),
                ("Agencies", len(summaries)),
            ],
            total=("Net commission of these lines", result.commission_total),
            table=Table(SUMMARY_COLUMNS, _summary_rows(summaries)),
            notes=[
                "Each line posts to the agency's commission awaiting approval (a hold to its "
                "held account). Nothing is payable until a supervisor who did not run it "
                "approves the month.",
                "Running the month again later adds only what changed since.",
            ],
            cancel=url_for("admin.commission_preview", month=f"{run.month:%Y-%m}"),
        )
        if result.lines:
            message = (
                f"Commissions run for {run.month:%b %Y}: {len(result.lines)} new line(s), "
                f"{format_dollars(result.commission_total)} net to {len(summaries)} agenc"
                f"{'y' if len(summaries) == 1 else 'ies'}. A supervisor who did not run it "
                "approves it."
            )
        else:
            message = f"Commissions run for {run.month:%b %Y}: nothing changed since the last pass."
        return Done(message, link=(_run_url(run), "See the run"), then=_run_url(run), ask=ask)

    return confirm_form(RunForm(), ran, back=_index_url(), failure="Commissions not run")


@bp.get("/commissions/runs/<int:run_id>")
def commission_run_detail(run_id: int):
    run = load_or_404(CommissionRun, run_id)
    session = db_session()
    totals = previews.agency_totals(session, run)
    may_approve = run.status.value == "open" and not run.ran(current_user.id)
    return render_template(
        "admin/commissions/run.html",
        run=run,
        row=next(r for r in previews.run_rows(session) if r.run.id == run.id),
        totals=totals,
        approve_form=ApproveForm(),
        ran_it=run.ran(current_user.id),
        may_approve=may_approve,
    )


@bp.post("/commissions/runs/<int:run_id>/approve")
def commission_run_approve(run_id: int):
    run = load_or_404(CommissionRun, run_id)
    back = _run_url(run)

    def approved(_form) -> Done:
        session = db_session()
        nets = approve_run(session, run, actor=current_user)
        summaries = agency_summaries(session, run)
        total = sum(nets.values(), D("0.00"))
        ask = Ask(
            title=f"Approve the {run.month:%b %Y} commission run?",
            button=f"Confirm: approve; {format_dollars(total)} becomes payable",
            rows=[("Run by", run.run_by), ("Agencies", len(nets))],
            total=("Payable to agencies", total),
            table=Table(SUMMARY_COLUMNS, _summary_rows(summaries)),
            notes=[
                "The month closes: its statements never change; a correction found later "
                "appears in the next month's run as an adjustment.",
                "Each agency's net moves to commission payable, ready to pay by ACH.",
            ],
            cancel=back,
        )
        return Done(
            f"Approved the {run.month:%b %Y} commission run: {format_dollars(total)} payable "
            f"to {len(nets)} agenc{'y' if len(nets) == 1 else 'ies'}.",
            link=(url_for("admin.agency_payments"), "Pay agencies"),
            ask=ask,
        )

    return confirm_form(ApproveForm(), approved, back=back, failure="Not approved")


def _statement(run_id: int, agency_id: int):
    run = load_or_404(CommissionRun, run_id)
    agency = load_or_404(BrokerAgency, agency_id)
    return agency_statement(db_session(), run, agency)


@bp.get("/commissions/runs/<int:run_id>/agencies/<int:agency_id>")
def commission_statement(run_id: int, agency_id: int):
    statement = _statement(run_id, agency_id)
    return render_template(
        "admin/commissions/statement.html",
        statement=statement,
        run=statement.run,
        agency=statement.agency,
        totals=statement.totals,
        earned=statement.totals["earned"] + statement.totals["adjustment"],
    )


@bp.get("/commissions/runs/<int:run_id>/agencies/<int:agency_id>/<any(pdf, csv, xlsx):fmt>")
def commission_statement_download(run_id: int, agency_id: int, fmt: str):
    statement = _statement(run_id, agency_id)
    name = f"commission-statement-{statement.agency.code}-{statement.run.month:%Y-%m}.{fmt}"
    if fmt == "pdf":
        content, mimetype = (
            statement_pdf(db_session(), statement.run, statement.agency),
            "application/pdf",
        )
    elif fmt == "xlsx":
        content, mimetype = statement_xlsx(statement), XLSX_MIMETYPE
    else:
        content, mimetype = statement_csv(statement), "text/csv"
    return Response(
        content,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.get("/commissions/agencies/<int:agency_id>")
def commission_agency(agency_id: int):
    agency = load_or_404(BrokerAgency, agency_id)
    return render_template(
        "admin/commissions/agency.html",
        setup=previews.agency_setup(db_session(), agency),
        agency=agency,
    )
