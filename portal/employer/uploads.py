"""The employer's census uploads: a file sent, read with the sender's columns and checked
against enrollment at once (a large one by a background job), its problems and 999 as
downloads, and the sender's decisions on it (how it is read, its plan names, complete list,
submit, discard). A user limited to some locations sees their uploads and decides nothing for
the group (`GroupScope.may_decide_uploads`)."""

import io

from flask import (
    abort,
    current_app,
    flash,
    make_response,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user

from billing_core.census.columns import (
    Check,
    group_plans,
    recheck_upload,
    remap_upload,
    remember_plan_aliases,
    saved_mapping,
    submit_and_remember,
    upload_columns,
)
from billing_core.census.intake import check_upload, take_in
from billing_core.census.kept import kept_file_gone
from billing_core.census.problems import (
    acknowledgement_for,
    kept_problems_csv,
    problem_rows,
    problems_csv,
    upload_problems,
)
from billing_core.census.processing import (
    PENDING,
    PROCESS_UPLOAD,
    CensusLimits,
    Queued,
    queue_for_new_columns,
    reads_in_background,
    record_failure,
)
from billing_core.census.template import census_template
from billing_core.census.uploads import (
    confirm_complete_list,
    discard_upload,
    find_upload,
    group_uploads,
    preview_upload,
    read_as,
)
from billing_core.errors import BillingError
from billing_core.jobs import ensure_runner
from billing_core.models.enums import JobStatus, Role, UploadKind, UploadStatus
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
    NotYet,
    Reply,
    dry_run,
    enqueue_upload_job,
    load_group,
    render_page_or_fragment,
    role_required,
    run_action,
    see_other,
    today,
)

KEEP_REFUSED_FILE_BYTES = 3 * 1024 * 1024  # a refused file larger than this is chosen again


def _uploads(scope):
    return group_uploads(
        db_session(), scope.group.id, subgroup_ids=scope.subgroup_ids, user_id=scope.user_id
    )


def _list_url(group_id: int) -> str:
    return url_for("employer.upload_list", group_id=group_id)


def _detail_url(group_id: int, upload_id: int) -> str:
    return url_for("employer.upload_detail", group_id=group_id, upload_id=upload_id)


def _limited(group_id: int, upload_id: int | None = None):
    """A location-limited user does not upload for the whole group: the redirect saying so."""
    flash(
        "Your access covers some locations only; ask your group's administrator "
        "to upload the census for the whole group.",
        "error",
    )
    if upload_id is None:
        return see_other(_list_url(group_id))
    return see_other(_detail_url(group_id, upload_id))


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
    if not form.validate_on_submit():
        return _uploads_page(scope, form)
    if not scope.may_upload:
        return _limited(group_id)
    data, filename = form.file()
    return run_action(
        lambda: _receive(scope, form, data, filename),
        after=_queue_read,
        done=lambda received: _received_before(received, filename),
        to=lambda received: _detail_url(group_id, received.upload.id),
        back=_list_url(group_id),
    )


def _uploads_page(scope, form: UploadForm, check: Check | None = None, kept: str | None = None):
    return render_page_or_fragment(
        "employer/uploads.html",
        "census/_check.html",
        scope=scope,
        form=form,
        uploads=_uploads(scope),
        check=check,
        problems=problem_rows(check.errors, check.columns, check.warnings) if check else [],
        kept=kept,
        saved=saved_mapping(db_session(), scope.group.id),
        field_choices=FIELD_CHOICES,
    )


def _receive(scope, form: UploadForm, data: bytes, filename: str):
    """The one intake (census.intake.take_in): a file over the limits is refused (too many
    rows, or another file of the group still being read); a large one is kept for the job to
    read (`Queued`: never read in this request), else checked now: kept to preview (`Check`),
    or refused and shown row by row (the refused file kept for the record, `check.rejected`)."""
    check = take_in(
        db_session(),
        scope.group,
        data,
        filename,
        uploaded_by=current_user,
        kind=UploadKind(form.kind.data) if form.kind.data else None,
        chosen=form.chosen(),
        as_of=today(),
        limits=_limits(),
        in_background=_read_in_background(scope.group.id, len(data)),
    )
    if isinstance(check, Check) and check.upload is None:
        kept = filename if form.keep(data, filename, KEEP_REFUSED_FILE_BYTES) else None
        return Reply(lambda: _uploads_page(scope, form, check, kept))
    return check


def _received_before(received, filename: str):
    if received.duplicate:
        return f"{filename} was received before: this is that upload.", "info"
    return None


def _queue_read(received) -> None:
    """The job reading a kept file, queued once the upload is committed (the job reads it from
    the database, perhaps on another machine)."""
    if isinstance(received, Queued) and received.needs_job:
        _enqueue_read(received.upload)


def _read_in_background(group_id: int, size: int) -> bool:
    return reads_in_background(db_session(), group_id, size, current_app.config["SETTINGS"])


def _limits() -> CensusLimits:
    return CensusLimits.from_settings(current_app.config["SETTINGS"])


def _enqueue_read(upload) -> None:
    """Queue the job reading `upload` (committed first, with what it is read with in its
    job_args); a queue that cannot be reached fails the upload with a message its page
    shows."""
    enqueue_upload_job(db_session(), PROCESS_UPLOAD, upload.id, record_failure, "census read")


def _posted_file_check(group_id: int):
    """The upload form posted to a download: the group's scope and the form with its file, or
    a redirect back to the upload page."""
    scope = load_group(group_id)
    form = UploadForm()
    if not form.validate_on_submit():
        flash("Choose the file again, then download.", "error")
        return scope, None, see_other(_list_url(group_id))
    if not scope.may_upload:
        return scope, None, _limited(group_id)
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
    check = dry_run(lambda: _check_posted(scope, form, data, filename))
    return _download(
        problems_csv(check.errors, check.columns, check.warnings),
        f"{_stem(filename)} problems.csv",
        "text/csv",
    )


def _check_posted(scope, form: UploadForm, data: bytes, filename: str) -> Check:
    return check_upload(
        db_session(),
        scope.group,
        data,
        filename,
        uploaded_by=current_user,
        kind=UploadKind(form.kind.data) if form.kind.data else None,
        chosen=form.chosen(),
        as_of=today(),
    )


@bp.post("/groups/<int:group_id>/uploads/999.x12")
@role_required(Role.EMPLOYER)
def upload_file_ack(group_id: int):
    """The 999 acknowledgment of the posted 834 (accepted or rejected); nothing is kept."""
    _, form, back = _posted_file_check(group_id)
    if back is not None:
        return back
    data, filename = form.file()
    return _ack(data, filename, _list_url(group_id))


def _ack(data: bytes, filename: str, back: str):
    """The 999 of an 834 as a download; a file that is not one is said on the way `back`."""

    def refused(error: BillingError):
        flash(f"{error.args[0]}.", "error")
        return see_other(back)

    return run_action(lambda: _ack_file(data, filename), refused=refused)


def _ack_file(data: bytes, filename: str) -> Reply:
    ack = acknowledgement_for(data, filename)
    if ack is None:
        abort(404)
    return Reply(lambda: _download(ack, f"{_stem(filename)} 999.x12", "application/edi-x12"))


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
        "editable": upload.status is UploadStatus.RECEIVED and scope.may_decide_uploads,
        "may_decide": scope.may_decide_uploads,
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
    preview = dry_run(
        lambda: preview_upload(
            db_session(),
            upload,
            actor=current_user,
            today=today(),
            priced_status=UploadStatus.RECEIVED,
            limits=_limits().pricing,
        )
    )
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
        upload_columns(upload, preview.census, saved_mapping(db_session(), upload.group_id)),
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
    return see_other(_detail_url(group_id, upload_id))


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
    fragment, context = _where_it_stands(scope, upload)
    response = make_response(render_page_or_fragment("employer/upload.html", fragment, **context))
    response.vary.add("HX-Request")
    return response


def _where_it_stands(scope, upload) -> tuple[str, dict]:
    """The fragment showing where an upload stands, and its context: gone after the retention
    period, being read by its job, or its preview (or problems)."""
    if (gone := _gone(upload)) is not None:
        return "census/_upload_gone.html", {"scope": scope, "upload": upload, "gone": gone}
    if _being_read(upload):
        return "census/_upload_progress.html", {"scope": scope, "upload": upload}
    return "census/_upload_check.html", _preview_context(scope, upload)


@bp.post("/groups/<int:group_id>/uploads/<int:upload_id>/mapping")
@role_required(Role.EMPLOYER)
def upload_mapping(group_id: int, upload_id: int):
    """Read a kept upload again with the columns the sender chose: the preview (htmx: the
    fragment) when it reads, its problems when not (the upload keeps its last good columns).
    A large one is read again by the job, while its page shows the progress."""
    scope, upload = _load_upload(group_id, upload_id)
    detail = _detail_url(group_id, upload_id)
    if not scope.may_decide_uploads:
        return _limited(group_id, upload_id)
    form = MappingForm()
    chosen = form.chosen() if form.validate_on_submit() else None
    if chosen is None:
        flash("Choose a field (or Ignore) for each column, then check again.", "error")
        return see_other(detail)
    if _read_in_background(upload.group_id, upload.size_bytes):
        return _reread_in_background(upload, chosen, detail)
    return run_action(
        lambda: _remap(scope, upload, chosen),
        done=("The file reads with these columns: check what it changes and submit.", "info"),
        to=detail,
    )


def _reread_in_background(upload, chosen: dict, detail: str):
    """A large kept upload read again with the sender's columns by the job, while its page
    shows the progress (as when it was first read)."""
    return run_action(
        lambda: queue_for_new_columns(
            db_session(), upload, as_of=today(), chosen=chosen, limits=_limits()
        ),
        after=lambda _: _enqueue_read(upload),
        to=detail,
    )


def _remap(scope, upload, chosen: dict):
    """The upload read with `chosen`: kept when it reads (htmx: its fragment at once), its
    problems shown and nothing kept when not."""
    check = remap_upload(
        db_session(), upload, chosen, actor=current_user, today=today(), limits=_limits().pricing
    )

    def page():
        return render_page_or_fragment(
            "employer/upload.html",
            "census/_upload_check.html",
            **_upload_context(scope, upload, check),
        )

    if check.upload is None:
        return NotYet(page)
    return Reply(page) if htmx else check


@bp.route("/groups/<int:group_id>/uploads/<int:upload_id>/problems.csv", methods=["GET", "POST"])
@role_required(Role.EMPLOYER)
def upload_problems_download(group_id: int, upload_id: int):
    """A kept upload's problems as CSV: read with its own columns (GET) or with the columns
    posted from its page (POST); after the retention period, those kept at the purge."""
    _, upload = _load_upload(group_id, upload_id)
    chosen = None
    if request.method == "POST":
        form = MappingForm()
        if not form.validate_on_submit():
            abort(400)
        chosen = form.chosen()
    if (gone := _gone(upload)) is not None and upload.kept_problems is None:
        return _said_gone(gone, group_id, upload_id)
    return _download(_problems_file(upload, chosen, gone), _problems_name(upload), "text/csv")


def _problems_file(upload, chosen: dict | None, gone) -> str:
    if gone is not None:
        return kept_problems_csv(upload)
    errors, columns, warnings = dry_run(
        lambda: upload_problems(db_session(), upload, as_of=today(), chosen=chosen)
    )
    return problems_csv(errors, columns, warnings)


def _problems_name(upload) -> str:
    return f"{_stem(upload.original_filename)} problems.csv"


@bp.get("/groups/<int:group_id>/uploads/<int:upload_id>/999.x12")
@role_required(Role.EMPLOYER)
def upload_ack_download(group_id: int, upload_id: int):
    """The 999 acknowledgment of a kept 834 upload; 404 for a CSV/XLSX upload."""
    _, upload = _load_upload(group_id, upload_id)
    if (gone := _gone(upload)) is not None:
        return _said_gone(gone, group_id, upload_id)
    return _ack(upload.content, upload.original_filename, _detail_url(group_id, upload_id))


@bp.post("/groups/<int:group_id>/uploads/<int:upload_id>/submit")
@role_required(Role.EMPLOYER)
def upload_submit(group_id: int, upload_id: int):
    scope, upload = _load_upload(group_id, upload_id)
    detail = _detail_url(group_id, upload_id)
    if not scope.may_decide_uploads:
        flash(
            "Your access covers some locations only; the group's administrator submits the "
            "census for the whole group.",
            "error",
        )
        return see_other(detail)
    return run_action(
        lambda: submit_and_remember(db_session(), upload, actor=current_user, today=today()),
        done=f"{upload.original_filename} was submitted; billing will review it.",
        to=detail,
    )


def _upload_action(group_id: int, upload_id: int, act, done: str, *, to=None):
    """A sender's decision on their own kept upload (`act(session, upload)`, which may return
    what to say instead of `done`), then back to its page (or `to(upload)`) with what
    happened. A location-limited user decides nothing for the group."""
    scope, upload = _load_upload(group_id, upload_id)
    detail = _detail_url(group_id, upload_id)
    if not scope.may_decide_uploads:
        return _limited(group_id, upload_id)
    if not UploadDecisionForm().validate_on_submit():
        abort(400)
    return run_action(
        lambda: act(db_session(), upload),
        done=lambda said: (said, "info") if said else done.format(name=upload.original_filename),
        to=(lambda _: to(upload)) if to is not None else detail,
        back=detail,
    )


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
    return _upload_action(
        group_id,
        upload_id,
        lambda session, upload: _remember_plan_names(session, upload, form),
        "Plan names remembered for your group: {name} reads now; check what it changes.",
    )


def _remember_plan_names(session, upload, form: PlanNamesForm) -> str | None:
    if not form.validate_on_submit():
        raise BillingError("choose one of the group's plans for each name")
    remember_plan_aliases(session, upload.group_id, form.aliases(), actor=current_user)
    if not recheck_upload(
        session, upload, actor=current_user, today=today(), limits=_limits().pricing
    ):
        return "The plan names are remembered; the file still has problems, listed below."
    return None


@bp.post("/groups/<int:group_id>/uploads/<int:upload_id>/discard")
@role_required(Role.EMPLOYER)
def upload_discard(group_id: int, upload_id: int):
    """Put away a refused or unsubmitted upload (kept for the record, no longer listed)."""
    return _upload_action(
        group_id,
        upload_id,
        lambda session, upload: discard_upload(upload, actor=current_user),
        "{name} was discarded; nothing from it was applied.",
        to=lambda upload: _list_url(group_id),
    )
