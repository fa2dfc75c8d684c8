"""Staff: submitted census uploads and their review: what each changes, how it reconciles with
the bill (billed vs computed vs reported, tolerance, trend flags, members behind each
difference), approval (enrollment updated, retro adjustments queued), return to the employer,
and a supervisor's override of the retro window."""

from __future__ import annotations

from datetime import date

from flask import abort, current_app, flash, make_response, render_template, request, url_for
from flask_login import current_user

from admin import bp
from admin.actions import submit_form
from admin.forms import RetroOverrideForm, UploadReturnForm
from admin.views.adjustments import adjustment_table
from billing_core.billing.adjustments import approval_authority
from billing_core.census.approval import (
    ApprovalPlan,
    approval_result,
    plan_approval,
    queue_approval,
)
from billing_core.census.approval import record_failure as record_approval_failure
from billing_core.census.impact import PricingLimits
from billing_core.census.kept import kept_file_gone
from billing_core.census.problems import problem_rows
from billing_core.census.processing import APPROVE_UPLOAD
from billing_core.census.uploads import (
    approve_reviewed_upload,
    failed_uploads,
    find_upload,
    keep_reconciliation,
    override_retro_window,
    return_upload,
    review_upload,
    submitted_uploads,
)
from billing_core.jobs import ensure_runner
from billing_core.models.enums import Role
from billing_core.money import ZERO, format_count, format_dollars
from portal.confirmation import Ask, Done, confirm_then, confirmed, confirming, render_ask, said
from portal.extensions import db_session
from portal.web import (
    NotYet,
    authority_limit,
    client_ip,
    dry_run,
    enqueue_upload_job,
    format_period,
    keep_after_read,
    load_group,
    paginate_list,
    render_page_or_fragment,
    role_required,
    run_action,
    see_other,
    today,
)

DISCREPANCIES_PER_PAGE = 50


@bp.get("/uploads")
def upload_queue():
    session = db_session()
    return render_template(
        "admin/uploads.html", rows=submitted_uploads(session), failed=failed_uploads(session)
    )


def _load(group_id: int, upload_id: int):
    scope = load_group(group_id)
    upload = find_upload(db_session(), scope.group.id, upload_id)
    if upload is None:
        abort(404)
    return scope, upload


def _period_arg() -> date | None:
    text = request.args.get("period", "")
    try:
        year, month = (int(part) for part in text.split("-"))
        return date(year, month, 1)
    except ValueError:
        return None


@bp.get("/groups/<int:group_id>/uploads/<int:upload_id>")
def upload_review(group_id: int, upload_id: int):
    """The review (read and reconciled, then rolled back); while the file is being approved in
    the background, its progress only (polled by htmx); once the poll sees it end, the page."""
    scope, upload = _load(group_id, upload_id)
    retention = current_app.config["SETTINGS"].census_retention_days
    if (gone := kept_file_gone(db_session(), upload, retention)) is not None:
        return render_template("admin/upload_gone.html", scope=scope, upload=upload, gone=gone)
    if upload.being_approved:
        return _approving_page(scope, upload)
    if request.headers.get("HX-Trigger") == "approval-progress":
        return _varying(make_response("", 200, {"HX-Refresh": "true"}))
    return _review_page(scope, upload)


def _varying(response):
    """The same URL answers a page or its fragment: caches keep them apart."""
    response.vary.add("HX-Request")
    return response


def _approving_page(scope, upload):
    """Its file is being applied: the progress only, nothing read again."""
    ensure_runner(current_app.config["SETTINGS"])
    page = render_page_or_fragment(
        "admin/upload_approving.html", "admin/_upload_approving.html", scope=scope, upload=upload
    )
    return _varying(make_response(page))


def _review_page(scope, upload) -> str:
    """Read and rendered in one transaction, rolled back after: the page shows the diff's
    plans and products as read, not loaded again one by one once the rollback expired them."""
    pay_periods = request.args.get("pay_periods", type=int)

    def read():
        review = review_upload(
            db_session(),
            upload,
            actor=current_user,
            today=today(),
            period=_period_arg(),
            pay_periods=pay_periods if pay_periods and 0 < pay_periods <= 60 else None,
            limits=PricingLimits.from_settings(current_app.config["SETTINGS"]),
        )
        found = review.reconciliation.discrepancies if review.reconciliation else []
        page = render_template(
            "admin/upload.html",
            scope=scope,
            upload=upload,
            recon=review.reconciliation,
            unreconciled=review.unreconciled,
            retro_exceptions=review.retro_exceptions,
            discrepancies=paginate_list(found, per_page=DISCREPANCIES_PER_PAGE),
            return_form=UploadReturnForm(),
            override_form=RetroOverrideForm(),
            approval=approval_result(upload),
            warning_rows=problem_rows([], None, review.preview.warnings),
            **vars(review.preview),
        )
        return page, review.to_keep

    page, to_keep = dry_run(read)
    if to_keep is not None:
        # The first view since what it reads changed (a new day, a bill, a rate) keeps the
        # reconciliation it computed for the default period, so the next views read it.
        keep_after_read(
            lambda: keep_reconciliation(upload, to_keep), f"upload {upload.id}'s reconciliation"
        )
    return page


def _back(group_id: int, upload_id: int) -> str:
    return url_for("admin.upload_review", group_id=group_id, upload_id=upload_id)


@bp.post("/groups/<int:group_id>/uploads/<int:upload_id>/approve")
def upload_approve(group_id: int, upload_id: int):
    """Approval asks first: the file is applied and rolled back to show what it does (members
    added, changed and termed; the adjustments it queues and their total), then applied for
    good once that is confirmed. A file beyond the pricing bounds is approved in the
    background instead."""
    scope, upload = _load(group_id, upload_id)
    back = _back(group_id, upload_id)
    if upload.being_approved:
        return _already_approving(upload, back)
    limits = PricingLimits.from_settings(current_app.config["SETTINGS"])
    plan = plan_approval(db_session(), upload, today=today(), limits=limits)
    if plan is not None and plan.background:
        return _approve_in_background(upload, plan, limits, back)
    return confirm_then(
        db_session(), lambda: _approved(scope, upload, back), back=back, failure="Not approved"
    )


def _already_approving(upload, back: str):
    """Confirmed twice, or approved again while its job runs: it was queued once."""
    ensure_runner(current_app.config["SETTINGS"])
    flash(
        f"{upload.original_filename} is already being approved in the background "
        f"({upload.job_progress or 0}%); it was queued once.",
        "info",
    )
    return see_other(back)


def _approved(scope, upload, back: str) -> Done:
    session = db_session()
    result = approve_reviewed_upload(
        session, upload, actor=current_user, today=today(), ip_address=client_ip()
    )
    adjustments = result.adjustments
    net = sum((a.amount for a in adjustments), ZERO)
    rule = approval_authority(session, adjustments, authority_limit()) if adjustments else None
    notes = [
        "Enrollment changes take effect as of their dates (history kept); the adjustments "
        "wait in the adjustment queue for a decision before any bill carries them."
        if adjustments
        else "Enrollment changes take effect as of their dates (history kept)."
    ]
    if rule is not None and rule.needs_supervisor:
        notes.append(
            f"Deciding them: {rule.reason[0].lower()}{rule.reason[1:]}, so a supervisor "
            "who did not request them (you request them by approving) must approve them."
        )
    if adjustments:
        button = (
            f"Confirm: approve and queue {format_count(len(adjustments), 'adjustment')} "
            f"({format_dollars(net)} net)"
        )
    else:
        button = f"Confirm: approve {_counted(result)}{_lands(result)}"
        notes.insert(
            0, f"No month already billed changes, so no adjustment is queued{_lands(result)}."
        )
    ask = Ask(
        title=f"Approve {upload.original_filename}?",
        button=button,
        rows=[
            ("Members added", format_count(result.members_added, "member")),
            ("Members changed", format_count(result.members_changed, "member")),
            ("Members termed", format_count(result.members_termed, "member")),
            ("Adjustments queued", format_count(len(adjustments), "adjustment")),
            ("Charges (premium owed)", sum((a.amount for a in adjustments if a.amount > 0), ZERO)),
            (
                "Credits (premium returned)",
                sum((a.amount for a in adjustments if a.amount < 0), ZERO),
            ),
        ],
        total=("Net of the adjustments queued", net),
        table=adjustment_table(session, adjustments, queued=True) if adjustments else None,
        notes=notes,
        cancel=back,
    )
    if not adjustments:
        # Nothing waits in the queue: say where what it applied is billed, and stay on the
        # upload (now approved) rather than open an empty adjustment queue.
        return Done(
            f"{upload.original_filename} approved: {result.members_added} added, "
            f"{result.members_changed} changed, {result.members_termed} termed; no adjustment "
            f"queued{_lands(result)}.",
            ask=ask,
        )
    return Done(
        f"{upload.original_filename} approved: {result.members_added} added, "
        f"{result.members_changed} changed, {result.members_termed} termed; "
        f"{len(adjustments)} adjustment(s) are pending in the adjustment queue "
        f"({format_dollars(net)} net).",
        link=(
            url_for("admin.adjustment_queue", source=f"upload:{upload.id}"),
            "Decide this upload's adjustments",
        ),
        then=url_for("admin.adjustment_queue", group=scope.group.group_number),
        ask=ask,
    )


def _counted(result) -> str:
    return (
        f"{format_count(result.members_added, 'add')}, {format_count(result.members_termed, 'term')}"
        f", {format_count(result.members_changed, 'change')}"
    )


def _lands(result) -> str:
    """Where what an approval applies is billed: the bill its adds (else its changes) first
    land on (census.impact.landing_period), in words; '' when there is none."""
    landing = result.lands_on
    if landing is None or not (
        result.members_added or result.members_changed or result.members_termed
    ):
        return ""
    month = format_period(landing.period)
    which = (
        "the group's first bill"
        if landing.first_bill
        else "the next bill"
        if landing.next_bill
        else f"the {month} bill"
    )
    if result.members_added:
        return f"; the adds are billed from {month} on {which}"
    return f"; they count from the {month} bill on"


def _approve_in_background(upload, plan: ApprovalPlan, limits: PricingLimits, back: str):
    """Approval of an upload beyond the pricing bounds: the confirmation shows what the diff
    counts and what applying it costs (not the adjustments: computing them is the cost), and
    Confirm queues the job (census.approval), once: the job is sent after the commit, since
    it reads the upload from the database."""
    question = _background_question(upload, plan, limits, back)

    def queue():
        if not confirmed(question):
            return NotYet(lambda: render_ask(question, changed=confirming()))
        return queue_approval(
            db_session(), upload, actor=current_user, today=today(), ip=client_ip(), plan=plan
        )

    def queued_once(queued: bool):
        if not queued:
            return (
                f"{upload.original_filename} is already being approved; it was queued once.",
                "info",
            )
        return said(
            f"{upload.original_filename} is being approved in the background; its page shows "
            "the progress, then the adjustments it queued.",
            (
                url_for("admin.adjustment_queue", source=f"upload:{upload.id}"),
                "This upload's adjustments",
            ),
        )

    def send_job(queued: bool) -> None:
        if queued:
            enqueue_upload_job(
                db_session(), APPROVE_UPLOAD, upload.id, record_approval_failure, "approval"
            )

    return run_action(queue, to=back, done=queued_once, after=send_job, failed="Not approved")


def _background_question(upload, plan: ApprovalPlan, limits: PricingLimits, back: str) -> Ask:
    cost = plan.cost
    counts = plan.counts
    return Ask(
        title=f"Approve {upload.original_filename} in the background?",
        button=(
            f"Confirm: approve {format_count(counts['add'], 'add')}, "
            f"{format_count(counts['term'], 'term')}, {format_count(counts['change'], 'change')} "
            "in the background"
        ),
        rows=[
            ("Members added", format_count(counts["add"], "member")),
            ("Members changed", format_count(counts["change"], "member")),
            ("Members termed", format_count(counts["term"], "member")),
            (
                "Next bill priced",
                f"{format_count(cost.members, 'member')} over "
                f"{format_count(cost.period_months, 'month')}, before and after "
                f"({cost.member_months:,} member-months; at most "
                f"{limits.max_member_months:,} in a request)",
            ),
            (
                "Changes reaching back into billed months",
                f"{format_count(cost.retro_members, 'change')}, each repriced on its own "
                f"(at most {limits.max_retro_members:,} in a request)",
            ),
        ],
        notes=[
            "This file is too large to apply while you wait, so its adjustments are not listed "
            "here: confirming queues the approval and it is applied in the background, under "
            "the same rules. This upload's page shows its progress, then the adjustments it "
            "queued; they wait in the adjustment queue for a decision before any bill carries "
            "them.",
        ],
        cancel=back,
    )


@bp.post("/groups/<int:group_id>/uploads/<int:upload_id>/return")
def upload_return(group_id: int, upload_id: int):
    _scope, upload = _load(group_id, upload_id)
    return submit_form(
        UploadReturnForm(),
        lambda form: _returned(upload, form),
        back=_back(group_id, upload_id),
        failure="Not returned",
        invalid="say what the employer should correct (10 to 1,000 characters).",
    )


def _returned(upload, form: UploadReturnForm) -> str:
    return_upload(upload, actor=current_user, reason=form.reason.data, ip_address=client_ip())
    return (
        f"{upload.original_filename} was returned to the employer with your reason; "
        "nothing was applied."
    )


@bp.post("/groups/<int:group_id>/uploads/<int:upload_id>/retro-override")
@role_required(Role.SUPERVISOR, Role.ADMIN)
def upload_retro_override(group_id: int, upload_id: int):
    _scope, upload = _load(group_id, upload_id)
    return submit_form(
        RetroOverrideForm(),
        lambda form: _overridden(upload, form),
        back=_back(group_id, upload_id),
        failure="Not overridden",
        invalid="say why (5 to 500 characters).",
    )


def _overridden(upload, form: RetroOverrideForm) -> str:
    covered = override_retro_window(
        db_session(),
        upload,
        actor=current_user,
        reason=form.reason.data,
        today=today(),
        ip_address=client_ip(),
    )
    return (
        f"Retro window overridden for {len(covered)} change(s); the upload can now be "
        "approved and their older months wait for a supervisor in the adjustment queue."
    )
