"""The employer face: the HR administrator's groups."""

import io

from flask import (
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user

from billing_core.billing.groups import group_summary
from billing_core.billing.invoices import invoice_list_query, invoice_rows, period_label
from billing_core.census.kept import kept_file_gone
from billing_core.census.processing import (
    PENDING,
    PROCESS_UPLOAD,
    CensusLimits,
    keep_for_processing,
    queue_for_new_columns,
    reads_in_background,
    record_failure,
    refuse_over_limits,
)
from billing_core.census.template import census_template
from billing_core.census.uploads import (
    Check,
    acknowledgement_for,
    check_upload,
    confirm_complete_list,
    discard_upload,
    find_upload,
    group_plans,
    group_uploads,
    kept_problems_csv,
    preview_upload,
    problem_rows,
    problems_csv,
    read_as,
    recheck_upload,
    remap_upload,
    remember_plan_aliases,
    saved_mapping,
    submit_and_remember,
    upload_columns,
    upload_problems,
)
from billing_core.errors import BillingError, ValidationFailed
from billing_core.jobs import ensure_runner
from billing_core.models import Invoice
from billing_core.models.enums import InvoiceStatus, JobStatus, Role, UploadKind, UploadStatus
from portal import invoice_pages, statement_pages
from portal.employer import bp
from portal.employer.forms import (
    FIELD_CHOICES,
    MappingForm,
    PlanNamesForm,
    UploadDecisionForm,
    UploadForm,
)
from portal.extensions import db_session, htmx
from portal.web import (
    enqueue_upload_job,
    load_group,
    my_groups,
    render_page_or_fragment,
    role_required,
    today,
)

AREA = "employer"


@bp.get("/")
@role_required(Role.EMPLOYER)
def home():
    groups = my_groups()
    if len(groups) == 1:
        return redirect(url_for("employer.group_home", group_id=groups[0].id))
    return render_template("employer/home.html", groups=groups)


@bp.get("/groups/<int:group_id>")
@role_required(Role.EMPLOYER)
def group_home(group_id: int):
    scope = load_group(group_id)
    session = db_session()
    summary = group_summary(session, scope, today())
    latest = session.scalars(
        invoice_list_query(scope.group.id, scope.subgroup_ids)
        .where(Invoice.status != InvoiceStatus.VOID)
        .limit(1)
    ).first()
    latest_row = invoice_rows(session, scope.group, [latest], today())[0] if latest else None
    return render_template(
        "employer/group.html",
        scope=scope,
        summary=summary,
        latest=latest_row,
        period_label=period_label,
        **statement_pages.dashboard_context(scope),
    )


@bp.get("/groups/<int:group_id>/invoices")
@role_required(Role.EMPLOYER)
def invoice_list(group_id: int):
    return invoice_pages.render_invoice_list(load_group(group_id), AREA)


@bp.get("/groups/<int:group_id>/invoices/<int:invoice_id>")
@role_required(Role.EMPLOYER)
def invoice_detail(group_id: int, invoice_id: int):
    return invoice_pages.render_invoice_detail(load_group(group_id), invoice_id, AREA)


@bp.get("/groups/<int:group_id>/invoices/<int:invoice_id>/lines")
@role_required(Role.EMPLOYER)
def invoice_lines(group_id: int, invoice_id: int):
    return invoice_pages.render_invoice_lines(load_group(group_id), invoice_id, AREA)


@bp.get("/groups/<int:group_id>/invoices/<int:invoice_id>/bridge/<step>")
@role_required(Role.EMPLOYER)
def invoice_bridge_step(group_id: int, invoice_id: int, step: str):
    return invoice_pages.render_bridge_step(load_group(group_id), invoice_id, step, AREA)


@bp.get("/groups/<int:group_id>/invoices/<int:invoice_id>/invoice.pdf")
@role_required(Role.EMPLOYER)
def invoice_pdf(group_id: int, invoice_id: int):
    return invoice_pages.send_invoice_pdf(load_group(group_id), invoice_id)


@bp.get("/groups/<int:group_id>/invoices/<int:invoice_id>/lines.<any(csv, xlsx):fmt>")
@role_required(Role.EMPLOYER)
def invoice_lines_download(group_id: int, invoice_id: int, fmt: str):
    return invoice_pages.send_invoice_lines(load_group(group_id), invoice_id, fmt)


KEEP_REFUSED_FILE_BYTES = 3 * 1024 * 1024  # a refused file larger than this is chosen again


def _uploads(scope):
    return group_uploads(
        db_session(), scope.group.id, subgroup_ids=scope.subgroup_ids, user_id=scope.user_id
    )


def _limited(scope, group_id: int, upload_id: int | None = None):
    """A location-limited user does not upload for the whole group: the redirect saying so."""
    flash(
        "Your access covers some locations only; ask your group's administrator "
        "to upload the census for the whole group.",
        "error",
    )
    if upload_id is None:
        target = url_for("employer.upload_list", group_id=group_id)
    else:
        target = url_for("employer.upload_detail", group_id=group_id, upload_id=upload_id)
    return redirect(target, 303)


def _go(target: str):
    """Go to `target`: htmx follows HX-Redirect, a plain form a 303."""
    if htmx and not htmx.boosted:
        response = make_response("", 200)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, 303)


def _download(data: bytes | str, filename: str, mimetype: str):
    body = data.encode() if isinstance(data, str) else data
    return send_file(
        io.BytesIO(body), mimetype=mimetype, as_attachment=True, download_name=filename
    )


def _stem(filename: str) -> str:
    return filename.rsplit(".", 1)[0] if "." in filename else filename


@bp.route("/groups/<int:group_id>/uploads", methods=["GET", "POST"])
@role_required(Role.EMPLOYER)
def upload_list(group_id: int):
    """Upload a file: it is read (with the columns the sender chose, the group's saved mapping,
    then the synonyms) and compared with enrollment at once. A good one is kept as a preview to
    submit; a bad one is shown row by row, kept nowhere but on the page, so its columns can be
    fixed and the file checked again (htmx: the problems fragment)."""
    scope = load_group(group_id)
    form = UploadForm()
    check = kept = None
    if form.validate_on_submit():
        if scope.subgroup_ids is not None:
            return _limited(scope, group_id)
        data, filename = form.file()
        try:  # too many rows, or another file of the group still being read
            refuse_over_limits(db_session(), scope.group, data, filename, _limits())
        except BillingError as refused:
            flash(str(refused), "error")
            return _go(url_for("employer.upload_list", group_id=group_id))
        if _read_in_background(scope.group.id, len(data)):
            return _process_in_background(scope, form, data, filename)
        session = db_session()
        check = check_upload(
            session,
            scope.group,
            data,
            filename,
            uploaded_by=current_user,
            kind=UploadKind(form.kind.data) if form.kind.data else None,
            chosen=form.chosen(),
            as_of=today(),
            limits=_limits().pricing,
        )
        if check.upload is not None:
            session.commit()
            if check.duplicate:
                flash(f"{filename} was received before: this is that upload.", "info")
            return _go(
                url_for("employer.upload_detail", group_id=group_id, upload_id=check.upload.id)
            )
        session.commit()  # the refused file, kept for the record (check.rejected)
        kept = filename if form.keep(data, filename, KEEP_REFUSED_FILE_BYTES) else None
    saved = saved_mapping(db_session(), scope.group.id)
    return render_page_or_fragment(
        "employer/uploads.html",
        "census/_check.html",
        scope=scope,
        form=form,
        uploads=_uploads(scope),
        check=check,
        problems=problem_rows(check.errors, check.columns, check.warnings) if check else [],
        kept=kept,
        saved=saved,
        field_choices=FIELD_CHOICES,
    )


def _read_in_background(group_id: int, size: int) -> bool:
    return reads_in_background(db_session(), group_id, size, current_app.config["SETTINGS"])


def _limits() -> CensusLimits:
    return CensusLimits.from_settings(current_app.config["SETTINGS"])


def _process_in_background(scope, form: UploadForm, data: bytes, filename: str):
    """A file read in the background (`_read_in_background`): kept at once, read by a job (RQ,
    or the local runner without Redis: never in this request) while its page shows the
    progress."""
    session = db_session()
    kind = form.kind.data or None
    try:
        queued = keep_for_processing(
            session,
            scope.group,
            data,
            filename,
            uploaded_by=current_user,
            kind=UploadKind(kind) if kind else None,
            as_of=today(),
            chosen=form.chosen(),
            limits=_limits(),
        )
    except BillingError as refused:  # another file of the group got there first
        session.rollback()
        flash(str(refused), "error")
        return _go(url_for("employer.upload_list", group_id=scope.group.id))
    session.commit()  # the job reads the upload from the database, perhaps on another machine
    if queued.needs_job:
        _enqueue_read(session, queued.upload)
    if queued.duplicate:
        flash(f"{filename} was received before: this is that upload.", "info")
    return _go(
        url_for("employer.upload_detail", group_id=scope.group.id, upload_id=queued.upload.id)
    )


def _reread_in_background(upload, chosen: dict, detail: str):
    """A large kept upload read again with the sender's columns by the job, while its page
    shows the progress (as when it was first read)."""
    session = db_session()
    try:
        queue_for_new_columns(session, upload, as_of=today(), chosen=chosen, limits=_limits())
    except BillingError as error:
        session.rollback()
        flash(str(error), "error")
        return _go(detail)
    session.commit()
    _enqueue_read(session, upload)
    return _go(detail)


def _enqueue_read(session, upload) -> None:
    """Queue the job reading `upload` (committed first, with what it is read with in its
    job_args); a queue that cannot be reached fails the upload with a message its page
    shows."""
    enqueue_upload_job(session, PROCESS_UPLOAD, upload.id, record_failure, "census read")


def _posted_file_check(group_id: int):
    """The upload form posted to a download: the group's scope and the check of its file, or
    a redirect back to the upload page."""
    scope = load_group(group_id)
    form = UploadForm()
    if not form.validate_on_submit():
        flash("Choose the file again, then download.", "error")
        return scope, None, redirect(url_for("employer.upload_list", group_id=group_id), 303)
    if scope.subgroup_ids is not None:
        return scope, None, _limited(scope, group_id)
    return scope, form, None


@bp.get("/groups/<int:group_id>/uploads/template.xlsx")
@role_required(Role.EMPLOYER)
def upload_template(group_id: int):
    """The group's census template: the columns the portal reads, the people covered now
    (SSNs masked; a location's contact gets their locations only), the plans by name."""
    scope = load_group(group_id)
    data = census_template(db_session(), scope.group.id, today(), scope.subgroup_ids)
    response = _download(
        data,
        f"{scope.group.group_number} census template.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response.headers["Cache-Control"] = "no-store, private"  # names and birth dates
    return response


@bp.post("/groups/<int:group_id>/uploads/problems.csv")
@role_required(Role.EMPLOYER)
def upload_file_problems(group_id: int):
    """The problems of the posted (refused) file as CSV; nothing is kept."""
    scope, form, back = _posted_file_check(group_id)
    if back is not None:
        return back
    data, filename = form.file()
    session = db_session()
    check = check_upload(
        session,
        scope.group,
        data,
        filename,
        uploaded_by=current_user,
        kind=UploadKind(form.kind.data) if form.kind.data else None,
        chosen=form.chosen(),
        as_of=today(),
    )
    session.rollback()
    return _download(
        problems_csv(check.errors, check.columns, check.warnings),
        f"{_stem(filename)} problems.csv",
        "text/csv",
    )


@bp.post("/groups/<int:group_id>/uploads/999.x12")
@role_required(Role.EMPLOYER)
def upload_file_ack(group_id: int):
    """The 999 acknowledgment of the posted 834 (accepted or rejected); nothing is kept."""
    _, form, back = _posted_file_check(group_id)
    if back is not None:
        return back
    data, filename = form.file()
    return _ack(data, filename, url_for("employer.upload_list", group_id=group_id))


def _ack(data: bytes, filename: str, back: str):
    try:
        ack = acknowledgement_for(data, filename)
    except ValidationFailed as refused:
        flash(f"{refused.args[0]}.", "error")
        return redirect(back, 303)
    if ack is None:
        abort(404)
    return _download(ack, f"{_stem(filename)} 999.x12", "application/edi-x12")


def _load_upload(group_id: int, upload_id: int) -> tuple:
    scope = load_group(group_id)
    upload = find_upload(
        db_session(),
        scope.group.id,
        upload_id,
        subgroup_ids=scope.subgroup_ids,
        user_id=scope.user_id,
    )
    if upload is None:
        abort(404)
    return scope, upload


def _upload_context(scope, upload, check: Check) -> dict:
    return {
        "scope": scope,
        "upload": upload,
        "check": check,
        "census": check.census,
        "diff": check.diff,
        "impact": check.impact,
        "columns": check.columns,
        "field_choices": FIELD_CHOICES,
        "problems": problem_rows(check.errors, check.columns, check.warnings),
        "editable": upload.status is UploadStatus.RECEIVED and scope.subgroup_ids is None,
        "may_decide": scope.subgroup_ids is None,
        "retro": [],
        "group_plans": group_plans(db_session(), scope.group.id),
        "open_columns": bool(htmx),
    }


def _being_read(upload) -> bool:
    """A large file whose job has not finished (queued, running or failed): its page shows the
    job's progress instead of a preview. While it waits, this process's job runner is started
    (without Redis), so a read left by a process that stopped is picked up when looked at."""
    if upload.job_kind != "read":
        return False  # no job, or staff approving it in the background (census.approval)
    if upload.job_status in PENDING:
        ensure_runner(current_app.config["SETTINGS"])
    return upload.job_status in PENDING or upload.job_status is JobStatus.FAILED


def _preview_context(scope, upload) -> dict:
    session = db_session()
    preview = preview_upload(
        session,
        upload,
        actor=current_user,
        today=today(),
        priced_status=UploadStatus.RECEIVED,
        limits=_limits().pricing,
    )
    session.rollback()
    # A location's contact: their members' changes only, no whole-group premium impact.
    diff, retro, impact = scope.limit_preview(preview.diff, preview.retro, preview.impact)
    problems = preview.census.errors + preview.diff.errors
    message = None
    if problems:
        message = f"{upload.original_filename} no longer applies"
        if upload.job_status is JobStatus.DONE and upload.status is UploadStatus.RECEIVED:
            message = f"{upload.original_filename} has problems; nothing from it is applied"
        if upload.status is UploadStatus.REJECTED:
            message = f"{upload.original_filename} was refused; nothing from it was applied"
    check = Check(
        preview.census,
        upload_columns(upload, preview.census, saved_mapping(session, upload.group_id)),
        message,
        problems,
        upload=upload,
        diff=diff,
        impact=impact,
        warnings=preview.warnings,
    )
    return {**_upload_context(scope, upload, check), "retro": retro}


def _gone(upload):
    """What the page says of an upload whose file was deleted after the retention period
    (census.kept); None while the file is kept."""
    retention = current_app.config["SETTINGS"].census_retention_days
    return kept_file_gone(db_session(), upload, retention)


def _said_gone(gone, group_id: int, upload_id: int):
    """A download that needs the purged file: said on the upload's page instead."""
    flash(gone.words, "info")
    return redirect(url_for("employer.upload_detail", group_id=group_id, upload_id=upload_id), 303)


@bp.get("/groups/<int:group_id>/uploads/<int:upload_id>")
@role_required(Role.EMPLOYER)
def upload_detail(group_id: int, upload_id: int):
    scope, upload = _load_upload(group_id, upload_id)
    gone = _gone(upload)
    if gone is not None or _being_read(upload):
        return render_template("employer/upload.html", scope=scope, upload=upload, gone=gone)
    return render_template("employer/upload.html", **_preview_context(scope, upload))


@bp.get("/groups/<int:group_id>/uploads/<int:upload_id>/status")
@role_required(Role.EMPLOYER)
def upload_status(group_id: int, upload_id: int):
    """What the upload page's progress bar polls (htmx, every second): the progress while the
    job runs, then the preview or problems the page shows. Without htmx: the whole page."""
    scope, upload = _load_upload(group_id, upload_id)
    if (gone := _gone(upload)) is not None:
        response = make_response(
            render_page_or_fragment(
                "employer/upload.html",
                "census/_upload_gone.html",
                scope=scope,
                upload=upload,
                gone=gone,
            )
        )
    elif _being_read(upload):
        response = make_response(
            render_page_or_fragment(
                "employer/upload.html",
                "census/_upload_progress.html",
                scope=scope,
                upload=upload,
            )
        )
    else:
        response = make_response(
            render_page_or_fragment(
                "employer/upload.html",
                "census/_upload_check.html",
                **_preview_context(scope, upload),
            )
        )
    response.vary.add("HX-Request")
    return response


@bp.post("/groups/<int:group_id>/uploads/<int:upload_id>/mapping")
@role_required(Role.EMPLOYER)
def upload_mapping(group_id: int, upload_id: int):
    """Read a kept upload again with the columns the sender chose: the preview (htmx: the
    fragment) when it reads, its problems when not (the upload keeps its last good columns)."""
    scope, upload = _load_upload(group_id, upload_id)
    detail = url_for("employer.upload_detail", group_id=group_id, upload_id=upload_id)
    if scope.subgroup_ids is not None:
        return _limited(scope, group_id, upload_id)
    form = MappingForm()
    chosen = form.chosen() if form.validate_on_submit() else None
    if chosen is None:
        flash("Choose a field (or Ignore) for each column, then check again.", "error")
        return _go(detail)
    if _read_in_background(upload.group_id, upload.size_bytes):
        return _reread_in_background(upload, chosen, detail)
    session = db_session()
    try:
        check = remap_upload(
            session, upload, chosen, actor=current_user, today=today(), limits=_limits().pricing
        )
    except BillingError as error:
        session.rollback()
        flash(str(error), "error")
        return _go(detail)
    if check.upload is not None:
        session.commit()
        if not htmx:
            flash("The file reads with these columns: check what it changes and submit.", "info")
            return redirect(detail, 303)
    else:
        session.rollback()
    return render_page_or_fragment(
        "employer/upload.html",
        "census/_upload_check.html",
        **_upload_context(scope, upload, check),
    )


@bp.route("/groups/<int:group_id>/uploads/<int:upload_id>/problems.csv", methods=["GET", "POST"])
@role_required(Role.EMPLOYER)
def upload_problems_download(group_id: int, upload_id: int):
    """A kept upload's problems as CSV: read with its own columns (GET) or with the columns
    posted from its page (POST)."""
    _, upload = _load_upload(group_id, upload_id)
    chosen = None
    if request.method == "POST":
        form = MappingForm()
        if not form.validate_on_submit():
            abort(400)
        chosen = form.chosen()
    if (gone := _gone(upload)) is not None:
        if upload.kept_problems is None:
            return _said_gone(gone, group_id, upload_id)
        return _download(
            kept_problems_csv(upload),
            f"{_stem(upload.original_filename)} problems.csv",
            "text/csv",
        )
    session = db_session()
    errors, columns, warnings = upload_problems(session, upload, as_of=today(), chosen=chosen)
    session.rollback()
    return _download(
        problems_csv(errors, columns, warnings),
        f"{_stem(upload.original_filename)} problems.csv",
        "text/csv",
    )


@bp.get("/groups/<int:group_id>/uploads/<int:upload_id>/999.x12")
@role_required(Role.EMPLOYER)
def upload_ack_download(group_id: int, upload_id: int):
    """The 999 acknowledgment of a kept 834 upload; 404 for a CSV/XLSX upload."""
    _, upload = _load_upload(group_id, upload_id)
    back = url_for("employer.upload_detail", group_id=group_id, upload_id=upload_id)
    if (gone := _gone(upload)) is not None:
        return _said_gone(gone, group_id, upload_id)
    return _ack(upload.content, upload.original_filename, back)


@bp.post("/groups/<int:group_id>/uploads/<int:upload_id>/submit")
@role_required(Role.EMPLOYER)
def upload_submit(group_id: int, upload_id: int):
    scope, upload = _load_upload(group_id, upload_id)
    session = db_session()
    if scope.subgroup_ids is not None:
        flash(
            "Your access covers some locations only; the group's administrator submits the "
            "census for the whole group.",
            "error",
        )
        return redirect(
            url_for("employer.upload_detail", group_id=group_id, upload_id=upload_id), 303
        )
    try:
        submit_and_remember(session, upload, actor=current_user, today=today())
    except BillingError as error:
        session.rollback()
        flash(str(error), "error")
    else:
        session.commit()
        flash(f"{upload.original_filename} was submitted; billing will review it.", "success")
    return redirect(url_for("employer.upload_detail", group_id=group_id, upload_id=upload_id), 303)


def _upload_action(group_id: int, upload_id: int, act, done: str):
    """A sender's decision on their own kept upload (`act(session, upload)`), then back to
    its page with what happened. A location-limited user decides nothing for the group."""
    scope, upload = _load_upload(group_id, upload_id)
    detail = url_for("employer.upload_detail", group_id=group_id, upload_id=upload_id)
    if scope.subgroup_ids is not None:
        return _limited(scope, group_id, upload_id)
    if not UploadDecisionForm().validate_on_submit():
        abort(400)
    session = db_session()
    try:
        said = act(session, upload)
    except BillingError as error:
        session.rollback()
        flash(str(error), "error")
        return redirect(detail, 303)
    session.commit()
    flash(said or done.format(name=upload.original_filename), "info" if said else "success")
    return redirect(detail, 303)


@bp.post("/groups/<int:group_id>/uploads/<int:upload_id>/read-as/<kind>")
@role_required(Role.EMPLOYER)
def upload_read_as(group_id: int, upload_id: int, kind: str):
    """The sender says the file is a complete list (snapshot) or a change file."""
    if kind not in ("snapshot", "change"):
        abort(404)
    wanted = UploadKind(kind)
    words = "your complete list of everyone covered" if kind == "snapshot" else "a change file"
    return _upload_action(
        group_id,
        upload_id,
        lambda session, upload: read_as(session, upload, wanted, actor=current_user),
        "{name} is now read as " + words + ": check what it changes below.",
    )


@bp.post("/groups/<int:group_id>/uploads/<int:upload_id>/complete-list")
@role_required(Role.EMPLOYER)
def upload_confirm_complete_list(group_id: int, upload_id: int):
    """The sender confirms a full file that ends most of the group's coverage."""
    return _upload_action(
        group_id,
        upload_id,
        lambda session, upload: confirm_complete_list(
            session, upload, actor=current_user, today=today()
        ),
        "You confirmed {name} is your complete list; you can submit it now.",
    )


@bp.post("/groups/<int:group_id>/uploads/<int:upload_id>/plans")
@role_required(Role.EMPLOYER)
def upload_plan_names(group_id: int, upload_id: int):
    """The sender maps the plan names their file writes to the group's plans: remembered for
    the group, and the file read again with them."""
    form = PlanNamesForm()

    def remember_and_recheck(session, upload):
        if not form.validate_on_submit():
            raise BillingError("choose one of the group's plans for each name")
        remember_plan_aliases(session, upload.group_id, form.aliases(), actor=current_user)
        if not recheck_upload(
            session, upload, actor=current_user, today=today(), limits=_limits().pricing
        ):
            return "The plan names are remembered; the file still has problems, listed below."
        return None

    return _upload_action(
        group_id,
        upload_id,
        remember_and_recheck,
        "Plan names remembered for your group: {name} reads now; check what it changes.",
    )


@bp.post("/groups/<int:group_id>/uploads/<int:upload_id>/discard")
@role_required(Role.EMPLOYER)
def upload_discard(group_id: int, upload_id: int):
    """Put away a refused or unsubmitted upload (kept for the record, no longer listed)."""
    scope, upload = _load_upload(group_id, upload_id)
    response = _upload_action(
        group_id,
        upload_id,
        lambda session, upload: discard_upload(upload, actor=current_user),
        "{name} was discarded; nothing from it was applied.",
    )
    if upload.discarded_at is not None:
        return redirect(url_for("employer.upload_list", group_id=group_id), 303)
    return response
