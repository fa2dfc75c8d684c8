"""Thin `flask ...` commands over billing_core. Every command accepts --json for machine-readable
output; errors exit non-zero with the message (and every row error) on stderr."""

from __future__ import annotations

import functools
import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from billing_core import migrate
from billing_core.errors import BillingError, ValidationFailed
from billing_core.models.enums import Role
from billing_core.money import D
from portal.extensions import db_session

db_cli = AppGroup("db", help="Database schema.")
demo_cli = AppGroup("demo", help="Demo data.")
setup_cli = AppGroup("setup", help="Group set-up documents.")
users_cli = AppGroup("users", help="Portal users.")
billing_cli = AppGroup("billing", help="Billing runs and invoices.")
census_cli = AppGroup("census", help="Census and change files (CSV, XLSX, X12 834).")
payments_cli = AppGroup("payments", help="Bank, lockbox and 820 remittance files.")
mail_cli = AppGroup("mail", help="The mail outbox.")
keys_cli = AppGroup("keys", help="The encryption key of SSNs and kept census files.")
ledger_cli = AppGroup("ledger", help="The ledger and the balances kept beside it.")
collections_cli = AppGroup("collections", help="Delinquency: the daily sweep and its notices.")
commissions_cli = AppGroup("commissions", help="The monthly commission run and its approval.")
rates_cli = AppGroup("rates", help="Renewals and rate corrections, approved by a second person.")


def json_option(command):
    """Adds --json and turns the command's returned dict into JSON or readable lines; domain
    errors become a clean exit 1 with the unit of work rolled back."""

    @click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
    @functools.wraps(command)
    def wrapper(*args, as_json: bool, **kwargs):
        try:
            result = command(*args, **kwargs)
        except BillingError as error:
            db_session().rollback()
            if as_json:
                payload = {"ok": False, "error": str(error).splitlines()[0]}
                if isinstance(error, ValidationFailed):
                    payload["errors"] = [str(e) for e in error.errors]
                    payload["warnings"] = [str(w) for w in error.warnings]
                click.echo(json.dumps(payload, indent=2))
            else:
                click.echo(f"Error: {error}", err=True)
            sys.exit(1)
        lines = result.pop("lines", [])
        if as_json:
            click.echo(json.dumps({"ok": True, **result}, indent=2, default=str))
        else:
            for line in lines:
                click.echo(line)

    return wrapper


@db_cli.command("upgrade")
@json_option
def db_upgrade():
    """Migrate the database to the latest schema (creates it when empty)."""
    engine = current_app.extensions["db_engine"]
    migrate.upgrade(engine)
    revision = migrate.current_revision(engine)
    return {"revision": revision, "lines": [f"Database at revision {revision}."]}


@demo_cli.command("load")
@click.option("--if-empty", is_flag=True, help="Only when the database has no groups or users.")
@json_option
def demo_load(if_empty: bool):
    """Load the demo book (groups, members, brokers, one user per role). Safe to run twice.
    Prints every demo login with the group it opens and the story it shows there (also when
    --if-empty finds the demo already loaded, so `make serve` always lists them)."""
    from billing_core.demo import database_is_empty, demo_is_loaded, demo_logins, load_demo

    session = db_session()
    if if_empty and not database_is_empty(session):
        logins = demo_logins() if demo_is_loaded(session) else []
        lines = ["Database already has data; demo not loaded."] + _demo_login_lines(logins)
        return {"loaded": False, "logins": logins, "lines": lines}
    result = load_demo(session)
    session.commit()
    lines = [
        "Demo data loaded." if result.loaded else "Demo data was already loaded; nothing changed."
    ]
    return {**result.as_dict(), "lines": lines + _demo_login_lines(result.logins)}


def _demo_login_lines(logins: list[dict]) -> list[str]:
    """Each login on one line (role, email, group) and its story indented beneath it."""
    if not logins:
        return []
    passwords = {login["password"] for login in logins}
    lines = [f"Demo logins (password for every one: {', '.join(sorted(passwords))}):"]
    for login in logins:
        role = login["role"].replace("_", " ")
        lines.append(f"  {role:<19} {login['email']:<42} {login['group']}".rstrip())
        lines.append(f"  {'':<19} {login['story']}")
    keys = {login["authenticator_key"] for login in logins if login.get("authenticator_key")}
    if keys:
        lines.append(
            "Staff logins then ask for an authenticator code: add the key "
            f"{', '.join(sorted(keys))} to any authenticator app (time-based, six digits)."
        )
    return lines


@setup_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate and report; write nothing.")
@json_option
def setup_import(file: Path, dry_run: bool):
    """Create or update groups, policies, products, rates, plans and members from FILE (YAML/JSON)."""
    from billing_core.setup import import_setup, load_document

    session = db_session()
    document = load_document(file)
    summary = import_setup(session, document, source=file.name)
    if dry_run:
        session.rollback()
    else:
        session.commit()
    verb = "Checked (dry run, nothing written)" if dry_run else "Imported"
    data = summary.as_dict()
    lines = [f"{verb} {file.name}:"] + [
        f"  {kind:<20} {counts}" for kind, counts in data.items() if isinstance(counts, dict)
    ]
    lines += [f"Warning: {warning}" for warning in summary.warnings]
    return {"dry_run": dry_run, "summary": data, "lines": lines}


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", "full_name", required=True)
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.password_option()
@json_option
def users_create(email: str, full_name: str, role: str, password: str):
    """Create a staff or portal user (employer group access is granted by a set-up document)."""
    from billing_core.users import create_user

    session = db_session()
    user = create_user(session, email=email, full_name=full_name, role=role, password=password)
    session.commit()
    return {
        "user_id": user.id,
        "email": user.email,
        "role": role,
        "lines": [f"Created {role} {email}."],
    }


def _month(value: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        raise click.BadParameter(f"expected a month as YYYY-MM, got {value!r}") from None


@billing_cli.command("run")
@click.option("--period", required=True, help="The month billing periods start in (YYYY-MM).")
@click.option("--group", "group_numbers", multiple=True, help="Only this group (repeatable).")
@click.option("--dry-run", is_flag=True, help="Show what would be issued; write nothing.")
@click.option("--issue-date", type=click.DateTime(["%Y-%m-%d"]), help="Default: today.")
@click.option(
    "--chunk-groups",
    type=click.IntRange(min=1),
    help="Groups per chunk, each its own transaction (default: BILLING_RUN_CHUNK_GROUPS).",
)
@json_option
def billing_run(
    period: str, group_numbers: tuple[str, ...], dry_run: bool, issue_date, chunk_groups
):
    """Issue the invoices for billing periods starting in PERIOD, in chunks of groups, each
    committed on its own. Safe to run twice: a billing account already invoiced for the period
    is skipped, and a run of the same period, groups and issue date that stopped or has failed
    chunks is resumed (only its unfinished chunks run). With REDIS_URL the chunks are queued
    for `rq worker billing` and the command returns at once with the run's progress."""
    from billing_core.billing import run as billing_runs
    from billing_core.billing.invoicing import prepare_billing_run

    session = db_session()
    settings = current_app.config["SETTINGS"]
    month = _month(period)
    run_date = issue_date.date() if issue_date else datetime.now(UTC).date()
    asked = {"group_numbers": group_numbers or None, "run_date": run_date}
    if dry_run:
        outcome = prepare_billing_run(session, month, **asked)
        session.rollback()
        result = outcome.as_dict()
        progress = None
    else:  # audited by each chunk, as the CLI
        run = billing_runs.unfinished_run(session, month, **asked)
        if run is not None:
            billing_runs.reopen(session, run)
        else:
            run = billing_runs.start_run(
                session,
                month,
                **asked,
                chunk_groups=chunk_groups or settings.billing_run_chunk_groups,
                actor_email="cli",
            )
        summaries = billing_runs.execute_run(session, run, settings=settings)
        result = billing_runs.merged(month, run_date, summaries)
        progress = billing_runs.progress(session, run)
        session.commit()
    verb = "Would issue" if dry_run else "Issued"
    lines = [f"{verb} {len(result['invoices'])} invoice(s) for {month:%b %Y}:"]
    for invoice in result["invoices"]:
        label = f"{invoice['group_number']} {invoice['group_name']}"
        if invoice["subgroup"]:
            label += f" — {invoice['subgroup']}"
        lines.append(
            f"  {invoice['invoice_number']:<22} {label[:40]:<40} "
            f"{invoice['lines']:>6} lines  total due {D(invoice['total_due']):>14,.2f}"
        )
    lines.append(
        f"  {result['line_count']:,} lines, new charges {D(result['total_new_charges']):,.2f}"
    )
    if result["already_issued"]:
        lines.append(f"Already issued (unchanged): {', '.join(result['already_issued'])}")
    for number, reason in result["not_due"].items():
        lines.append(f"Not billed this period: {number}: {reason}")
    for number, errors in result["held"].items():
        lines.append(f"HELD {number}: {len(errors)} problem(s), nothing issued for this group:")
        lines += [f"    {error}" for error in errors[:20]]
    if progress is not None:
        chunks = progress.chunks_dict()
        lines.append(
            f"Run {progress.run.id}: {chunks['done']} of {chunks['total']} chunk(s) done"
            f" ({chunks['pending']} pending, {chunks['running']} running,"
            f" {chunks['failed']} failed)"
        )
        for chunk in progress.failed_chunks:
            lines.append(
                f"FAILED chunk {chunk.number} ({', '.join(chunk.group_numbers[:5])}"
                f"{' ...' if len(chunk.group_numbers) > 5 else ''}), "
                f"attempt {chunk.attempts}: {chunk.error}; run the same command again to retry"
            )
        result["chunks"] = chunks
        result["failed_chunks"] = progress.failed_dicts()
    return {**result, "lines": lines}


@billing_cli.command("keep-bridges")
@click.option("--batch", default=200, show_default=True, help="Invoices per commit.")
@json_option
def billing_keep_bridges(batch: int):
    """Compute and keep the bill bridge of every invoice issued before bridges were kept (once,
    after migration 9b1e0a7c4d21), committing each batch; safe to run again."""
    from billing_core.billing.bill_bridge import keep_missing_bridges

    session = db_session()
    kept = 0
    while done := keep_missing_bridges(session, batch):
        session.commit()
        kept += done
    return {"kept": kept, "lines": [f"Kept the bill bridge of {kept:,} invoice(s)."]}


@billing_cli.command("invoice")
@click.argument("number")
@json_option
def billing_invoice(number: str):
    """Print invoice NUMBER: header, sections, lines and the bill bridge."""
    from billing_core.billing.bill_bridge import kept_bridge
    from billing_core.billing.invoices import (
        invoice_lines_query,
        invoice_numbered,
        invoice_view,
        period_label,
    )

    session = db_session()
    invoice = invoice_numbered(session, number)
    view = invoice_view(session, invoice, datetime.now(UTC).date())
    bridge = kept_bridge(session, invoice)
    member_lines = session.execute(invoice_lines_query(invoice)).all()
    summary = [
        ("Balance forward", invoice.balance_forward),
        ("Payments and credits since the last bill", -invoice.payments_credits),
        (view.premium_heading, invoice.current_premium),
        ("Retro adjustments", invoice.retro_total),
        ("Fees", invoice.fees_total),
        ("Total due", invoice.total_due),
    ]
    lines = [
        f"Invoice {invoice.invoice_number} — {view.group.name} ({view.group.group_number})"
        + (f", {view.subgroup.name}" if view.subgroup else ""),
        f"Period {period_label(invoice.period_start, invoice.period_end)}, issued "
        f"{invoice.issued_on.isoformat()}, due {invoice.due_on.isoformat()}; "
        f"status {view.row.status_label}, open {view.row.balance:,.2f}",
    ]
    if view.credit_memo:
        lines.append(f"VOID: {invoice.void_reason} (credit memo {view.credit_memo.memo_number})")
    lines += [f"  {label:<42} {amount:>14,.2f}" for label, amount in summary]
    lines.append("Premium by product:")
    lines += [
        f"  {p.product} / {p.plan:<40} {p.lives:>6} lives {p.amount:>14,.2f}" for p in view.products
    ]
    for heading, adjustment_lines in (("Retro", view.retro_lines), ("Fees", view.fee_lines)):
        if adjustment_lines:
            lines.append(f"{heading}:")
            lines += [
                f"  {ln.coverage_month:%b %Y} {ln.description:<50} {ln.amount:>12,.2f}"
                for ln in adjustment_lines
            ]
    lines.append("Bill bridge:")
    lines.append(f"  {'Prior billed':<42} {bridge.prior_billed:>14,.2f}")
    lines += [f"  {s.label:<42} {s.amount:>+14,.2f}" for s in bridge.steps]
    lines.append(f"  {'Current billed':<42} {bridge.current_billed:>14,.2f}")
    lines.append(f"Member lines ({len(member_lines):,}):")
    lines += [
        f"  {ln.line_number:>6} {member.member_key:<10} {member.last_name + ', ' + member.first_name:<30}"
        f" {product.code:<10} {ln.coverage_month:%b %Y} {(ln.tier.value if ln.tier else ''):<4}"
        f" {ln.amount:>10,.2f}"
        for ln, member, plan, product in member_lines
    ]
    return {
        "invoice_number": invoice.invoice_number,
        "group_number": view.group.group_number,
        "subgroup": view.subgroup.code if view.subgroup else None,
        "status": view.row.status,
        "period_start": invoice.period_start.isoformat(),
        "period_end": invoice.period_end.isoformat(),
        "issued_on": invoice.issued_on.isoformat(),
        "due_on": invoice.due_on.isoformat(),
        "sections": {
            "balance_forward": str(invoice.balance_forward),
            "payments_credits": str(invoice.payments_credits),
            "current_premium": str(invoice.current_premium),
            "retro_total": str(invoice.retro_total),
            "fees_total": str(invoice.fees_total),
            "total_due": str(invoice.total_due),
        },
        "open_balance": str(view.row.balance),
        "products": [
            {"product": p.product, "plan": p.plan, "lives": p.lives, "amount": str(p.amount)}
            for p in view.products
        ],
        "adjustments": [
            {
                "section": ln.section.value,
                "coverage_month": ln.coverage_month.isoformat() if ln.coverage_month else None,
                "reason_code": ln.reason_code,
                "description": ln.description,
                "amount": str(ln.amount),
            }
            for ln in view.retro_lines + view.fee_lines
        ],
        "member_lines": [
            {
                "line": ln.line_number,
                "member_key": member.member_key,
                "name": f"{member.last_name}, {member.first_name}",
                "product": product.code,
                "plan": plan.code,
                "coverage_month": ln.coverage_month.isoformat(),
                "tier": ln.tier.value if ln.tier else None,
                "volume": str(ln.volume) if ln.volume is not None else None,
                "rate": str(ln.rate) if ln.rate is not None else None,
                "amount": str(ln.amount),
            }
            for ln, member, plan, product in member_lines
        ],
        "bill_bridge": bridge.as_dict(),
        "lines": lines,
    }


KIND_CHOICE = click.Choice(["snapshot", "change"])


def _read_census_file(path: Path, kind: str | None, as_of):
    from billing_core.census.reader import read_census
    from billing_core.models.enums import UploadKind

    return read_census(
        path.read_bytes(),
        path.name,
        kind=UploadKind(kind) if kind else None,
        as_of=as_of.date() if as_of else None,
    )


def _census_lines(census) -> list[str]:
    if census.kind:
        kind = census.kind.value
    elif census.kind_guess:
        kind = f"{census.kind_guess.value} (guessed)"
    else:
        kind = "kind not known"
    lines = [
        f"{census.source}: {census.file_format.value}, {kind}, "
        f"{census.employee_count:,} employees, {census.dependent_count:,} dependents"
    ]
    if census.errors:
        lines.append(f"REJECTED: {len(census.errors)} problem(s); nothing would be written:")
        lines += [f"  {error}" for error in census.errors[:200]]
    if census.warnings:
        lines.append(f"{len(census.warnings)} warning(s): read, but a person should look:")
        lines += [f"  {warning}" for warning in census.warnings[:200]]
    return lines


@census_cli.command("parse")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--kind", type=KIND_CHOICE, help="CSV/XLSX: snapshot or change (default: guess).")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]), help="Date the file describes.")
@json_option
def census_parse(file: Path, kind: str | None, as_of):
    """Read FILE and print its normalised rows (SSNs masked). Exit 1 when the file is rejected."""
    census = _read_census_file(file, kind, as_of)
    lines = _census_lines(census)
    for member in census.members[:50]:
        coverages = ", ".join(
            f"{c.line.value} {c.plan_code or ''} {c.tier.value if c.tier else ''}".strip()
            for c in member.coverages
        )
        lines.append(
            f"  row {member.source_row}: {member.employee_id} {member.last_name}, "
            f"{member.first_name} ({len(member.dependents)} dep.) {coverages}"
        )
    if census.errors:
        raise ValidationFailed(f"{file.name} was rejected", census.errors, census.warnings)
    return {**census.as_dict(), "lines": lines}


@census_cli.command("check")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--group", "group_number", required=True, help="The group the file is for.")
@click.option("--kind", type=KIND_CHOICE, help="CSV/XLSX: snapshot or change (default: guess).")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]), help="Default: today.")
@json_option
def census_check(file: Path, group_number: str, kind: str | None, as_of):
    """Compare FILE with the group's enrollment: adds, terms, changes. Writes nothing."""
    from billing_core.billing.groups import group_numbered
    from billing_core.census.diff import ChangeKind, diff_census

    session = db_session()
    group = group_numbered(session, group_number)
    census = _read_census_file(file, kind, as_of)
    if census.errors:
        raise ValidationFailed(f"{file.name} was rejected", census.errors)
    on = as_of.date() if as_of else census.as_of or datetime.now(UTC).date()
    diff = diff_census(session, group, census, on)
    session.rollback()
    if diff.errors:
        raise ValidationFailed(f"{file.name} cannot be applied to {group_number}", diff.errors)
    lines = _census_lines(census)
    lines.append(
        f"Against {group.name} ({group_number}) on {on.isoformat()}: "
        + ", ".join(f"{count} {kind_}" for kind_, count in diff.counts.items())
    )
    for entry in diff.members:
        if entry.kind is ChangeKind.UNCHANGED:
            continue
        what = "; ".join(
            [f"{f.field} {f.before or '—'} → {f.after}" for f in entry.fields]
            + [c.describe() for c in entry.coverages]
            + [d.describe() for d in entry.dependents]
        )
        lines.append(f"  {entry.kind.value:<6} {entry.employee_id:<12} {entry.name}: {what}")
    return {"census": census.as_dict(include_members=False), **diff.as_dict(), "lines": lines}


@census_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--group", "group_number", required=True, help="The group the file is for.")
@click.option("--as-user", "email", required=True, help="The staff user it is uploaded for.")
@click.option("--kind", type=KIND_CHOICE, help="CSV/XLSX: snapshot or change (default: guess).")
@click.option("--as-of", type=click.DateTime(["%Y-%m-%d"]), help="Default: today.")
@click.option("--approve", is_flag=True, help="Also approve it: apply and queue adjustments.")
@click.option(
    "--complete-list",
    is_flag=True,
    help="A full file that ends most of the group's coverage: confirm it is the complete list.",
)
@json_option
def census_import(
    file: Path, group_number: str, email: str, kind, as_of, approve: bool, complete_list: bool
):
    """Receive FILE as an upload for the group on a staff user's behalf (kept in the database
    for review); with --approve, apply it at once through the same rules as the review page
    (retro window, complete-list confirmation). The same file twice changes nothing."""
    from billing_core.billing.groups import group_numbered
    from billing_core.census.intake import take_in
    from billing_core.census.processing import CensusLimits
    from billing_core.census.uploads import (
        approve_reviewed_upload,
        confirm_complete_list,
        submit_upload,
    )
    from billing_core.models.enums import UploadKind, UploadStatus

    session = db_session()
    group = group_numbered(session, group_number)
    user = _staff_user(session, email)
    today = datetime.now(UTC).date()
    on = as_of.date() if as_of else today
    received = take_in(  # the page's intake, read here rather than by a background job
        session,
        group,
        file.read_bytes(),
        file.name,
        uploaded_by=user,
        kind=UploadKind(kind) if kind else None,
        chosen=None,
        as_of=on,
        limits=CensusLimits.from_settings(current_app.config["SETTINGS"]),
        in_background=False,
    )
    if received.upload is None:  # refused: nothing is kept (the command rolls back)
        raise ValidationFailed(
            f"{file.name} was rejected; nothing was saved", received.errors, received.warnings
        )
    upload = received.upload
    if upload.status is UploadStatus.RECEIVED:
        if complete_list and received.diff.ends_most_coverage:
            confirm_complete_list(session, upload, actor=user, today=on)
        submit_upload(session, upload, today=on)
    lines = _census_lines(received.census)
    if received.duplicate:
        lines.append(
            f"Already received as upload {upload.id} ({upload.status.value}); nothing changed."
        )
    else:
        lines.append(
            f"Received as upload {upload.id}: "
            + ", ".join(f"{count} {name}" for name, count in received.diff.counts.items())
        )
    applied = None
    if approve and upload.status is UploadStatus.SUBMITTED:
        applied = approve_reviewed_upload(session, upload, actor=user, today=on)
        lines.append(
            f"Approved: {applied.members_added} added, {applied.members_changed} changed, "
            f"{applied.members_termed} termed; {len(applied.adjustments)} adjustment(s) pending."
        )
    session.commit()
    return {
        "upload_id": upload.id,
        "duplicate": received.duplicate,
        "status": upload.status.value,
        "counts": received.diff.counts,
        "applied": applied.as_dict() if applied else None,
        "lines": lines,
    }


@census_cli.command("sweep-jobs")
@click.option(
    "--older-than-minutes",
    type=click.IntRange(min=1),
    default=30,
    show_default=True,
    help="A job that has recorded nothing for this long is failed.",
)
@json_option
def census_sweep_jobs(older_than_minutes: int):
    """Fail the census uploads whose background job has stopped moving (a worker that died),
    so their pages stop waiting and the sender can send the file again. Safe to run from cron
    as often as you like."""
    from datetime import timedelta

    from billing_core.census.processing import fail_stuck_jobs

    session = db_session()
    stuck = fail_stuck_jobs(
        session, datetime.now(UTC), older_than=timedelta(minutes=older_than_minutes)
    )
    session.commit()
    lines = [f"Upload {u.id} ({u.original_filename}): {u.job_error}" for u in stuck]
    lines.append(f"{len(stuck)} stuck job(s) failed.")
    return {"failed_upload_ids": [u.id for u in stuck], "lines": lines}


@census_cli.command("purge")
@click.option(
    "--as-of",
    type=click.DateTime(["%Y-%m-%d"]),
    help="Purge as on this day (default: today, UTC).",
)
@json_option
def census_purge(as_of):
    """Delete the kept files of census uploads decided (approved, returned, refused or
    discarded) CENSUS_RETENTION_DAYS or more days ago; the uploads, what they changed and the
    audit log stay. Run it daily from cron; a second run the same day deletes nothing more."""
    from billing_core.census.kept import purge_kept_files

    session = db_session()
    on = as_of.date() if as_of else datetime.now(UTC).date()
    retention = current_app.config["SETTINGS"].census_retention_days
    purge = purge_kept_files(session, as_of=on, retention_days=retention, actor_email="cli")
    session.commit()
    lines = [f"Upload {u.id} ({u.original_filename}): file deleted" for u in purge.uploads]
    lines.append(
        f"{len(purge.uploads)} census file(s) deleted ({purge.bytes_deleted:,} bytes), decided "
        f"{retention} or more days before {on.isoformat()}."
    )
    return {**purge.as_dict(), "lines": lines}


@keys_cli.command("rotate")
@json_option
def keys_rotate():
    """Re-encrypt every SSN and every kept census file under SSN_ENCRYPTION_KEY (and take the
    SSNs' matching digests under it), in batches, each committed. Set the new key as
    SSN_ENCRYPTION_KEY and the former ones in SSN_ENCRYPTION_OLD_KEYS, run this, then remove
    the former keys. A second run changes nothing; a run that stopped is run again."""
    from billing_core import audit
    from billing_core.keys import Rotated, rotate_batch
    from billing_core.security import vault

    session = db_session()
    total = Rotated(vault().key_id)
    while (batch := rotate_batch(session)).changed:
        total.add(batch)
        session.commit()
    if total.changed:
        audit.record(session, "keys.rotated", actor_email="cli", detail=total.as_dict())
        session.commit()
    lines = [
        f"Under key {total.key_id}: re-encrypted {total.members} member SSN(s), "
        f"{total.dependents} dependent SSN(s) and {total.uploads} census file(s) "
        f"({total.upload_bytes:,} bytes)."
        if total.changed
        else f"Everything is already under key {total.key_id}; nothing changed."
    ]
    return {**total.as_dict(), "lines": lines}


@payments_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as-user", "email", required=True, help="The staff user importing it.")
@json_option
def payments_import(file: Path, email: str):
    """Import a BAI2, lockbox CSV or X12 820 file: each item becomes a payment matched to its
    group and invoices, or a suspense item. The same file twice changes nothing; a file with
    any error is refused whole."""
    from billing_core.payments.imports import import_remittance_file

    session = db_session()
    user = _staff_user(session, email)
    outcome = import_remittance_file(
        session, file.read_bytes(), file.name, actor=user, on=datetime.now(UTC).date()
    )
    session.commit()
    if outcome.already_imported:
        lines = [
            f"{file.name} was already imported on {outcome.file.imported_at:%Y-%m-%d}; "
            "nothing changed."
        ]
    else:
        lines = [
            f"{o.item.source_line:>5}  {o.item.amount:>12,.2f}  {o.result:<9}  "
            f"{_group_number(session, o.payment)} {o.note}".rstrip()
            for o in outcome.items
        ]
        lines += list(outcome.notes)
    return {
        "file_id": outcome.file.id,
        "already_imported": outcome.already_imported,
        "items": [
            {
                "line": o.item.source_line,
                "amount": str(o.item.amount),
                "result": o.result,
                "payment_id": o.payment.id if o.payment else None,
                "group_id": o.payment.group_id if o.payment else None,
                "note": o.note,
            }
            for o in outcome.items
        ],
        "lines": lines,
    }


def _group_number(session, payment) -> str:
    from billing_core.models import EmployerGroup

    if payment is None or payment.group_id is None:
        return "-"
    return session.get(EmployerGroup, payment.group_id).group_number


@mail_cli.command("send")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=200,
    show_default=True,
    help="Send at most this many messages in this run.",
)
@json_option
def mail_send(limit: int):
    """Send the outbox's due messages through SMTP (SMTP_HOST...). A message that fails is
    tried again by a later run, up to six attempts, then marked failed. Safe to run from cron
    as often as you like, even twice at once: a message is sent once. Without SMTP_HOST it
    sends nothing and the messages stay in the outbox."""
    from billing_core.mail.delivery import send_queued

    run = send_queued(db_session(), current_app.config["SETTINGS"], limit=limit)
    if not run.configured:
        lines = [
            "SMTP is not configured (set SMTP_HOST): nothing sent; "
            f"{run.waiting} message(s) stay in the outbox."
        ]
    else:
        lines = [
            f"{len(run.sent)} sent, {len(run.retrying)} to try again, "
            f"{len(run.failed)} failed, {len(run.expired)} expired unsent; "
            f"{run.waiting} waiting."
        ]
        if run.error:
            lines.append(f"The mail server could not be used: {run.error}")
    return {**run.as_dict(), "lines": lines}


@ledger_cli.command("check-balances")
@click.option(
    "--rebuild",
    is_flag=True,
    help="Recompute the kept balances from the postings first (after a bulk load or a repair).",
)
@json_option
def ledger_check_balances(rebuild: bool):
    """Check that the kept group balances and open items (what the Today page and the aging
    report read) equal the ledger's postings; exit 1 with every difference when they do not.
    Safe to run from cron beside the daily sweep."""
    from billing_core.ledger.kept import kept_balance_errors, rebuild_kept_balances

    session = db_session()
    if rebuild:
        rebuild_kept_balances(session)
        session.commit()
    errors = kept_balance_errors(session)
    if errors:
        raise ValidationFailed(
            f"The kept balances differ from the ledger in {len(errors)} place(s).", errors
        )
    done = "Rebuilt from the postings; the" if rebuild else "The"
    return {
        "differences": 0,
        "rebuilt": rebuild,
        "lines": [f"{done} kept balances equal the ledger."],
    }


@collections_cli.command("sweep")
@click.option(
    "--as-of", type=click.DateTime(["%Y-%m-%d"]), help="Sweep as on this day (default: today, UTC)."
)
@json_option
def collections_sweep(as_of):
    """Move every late group through its delinquency plan as of the day: transitions, each
    stage's consolidated notice (kept and queued in the mail outbox), late fees and plan steps,
    each once per delinquency episode. Run it daily from cron; a second run, or a run after
    missed days, does nothing twice. A day before the last sweep is refused (balances are
    read as they stand today)."""
    from billing_core.collections.sweep import sweep_book

    session = db_session()
    on = as_of.date() if as_of else datetime.now(UTC).date()
    result = sweep_book(session, on)
    session.commit()
    lines = [
        f"{m['group_id']}: {m['from']} -> {m['to']} (effective {m['effective_on']})"
        for m in result.moves
    ]
    lines.append(
        f"Swept {result.groups} group(s) as of {on.isoformat()}: {result.transitions} "
        f"transition(s), {result.notices_sent} notice(s) ({result.messages} message(s)), "
        f"{result.late_fees} late fee(s) ({result.late_fee_total}), {result.steps} step(s), "
        f"{result.held} held by a moratorium."
    )
    return {**result.as_dict(), "lines": lines}


@collections_cli.command("cancel")
@click.argument("group_number")
@click.option("--as-user", "email", required=True, help="The supervisor cancelling it.")
@click.option("--on", type=click.DateTime(["%Y-%m-%d"]), help="Default: today (UTC).")
@click.option("--note", default="", help="A note for the record.")
@json_option
def collections_cancel(group_number: str, email: str, on, note: str):
    """Cancel GROUP_NUMBER, pending cancellation, for non-payment (a supervisor's decision, as
    on the group's cancellation page): coverage ends per the plan, billing stops, the notice
    goes out; lists the bills issued for periods after the day, to review on the page."""
    from billing_core.billing.groups import group_numbered
    from billing_core.collections.cancellation import cancel_for_nonpayment, invoices_after

    session = db_session()
    day = on.date() if on else datetime.now(UTC).date()
    group = group_numbered(session, group_number)
    done = cancel_for_nonpayment(
        session, group, on=day, actor=_staff_user(session, email), note=note
    )
    later = [r.invoice.invoice_number for r in invoices_after(session, done)]
    session.commit()
    lines = [
        f"{group.group_number} cancelled for non-payment on {day}: coverage ended "
        f"{done.coverage_ends_on}, {len(done.coverages)} coverage(s); overdue {done.overdue}; "
        f"reinstatement possible until {done.reinstate_until}.",
    ]
    if later:
        lines.append(f"Bills for periods after {day} to review: {', '.join(later)}.")
    return {
        "group": group.group_number,
        "cancelled_on": day.isoformat(),
        "coverage_ends_on": done.coverage_ends_on.isoformat(),
        "reinstate_until": done.reinstate_until.isoformat(),
        "overdue": str(done.overdue),
        "later_bills": later,
        "lines": lines,
    }


@collections_cli.command("reinstate")
@click.argument("group_number")
@click.option("--as-user", "email", required=True, help="The supervisor reinstating it.")
@click.option("--on", type=click.DateTime(["%Y-%m-%d"]), help="Default: today (UTC).")
@json_option
def collections_reinstate(group_number: str, email: str, on):
    """Reinstate GROUP_NUMBER, cancelled for non-payment and paid in full, within its window
    (the daily sweep does it by itself): coverage restored, the missed months billed on the
    next invoice."""
    from billing_core.billing.groups import group_numbered
    from billing_core.collections.cancellation import reinstate

    session = db_session()
    day = on.date() if on else datetime.now(UTC).date()
    group = group_numbered(session, group_number)
    done = reinstate(session, group, on=day, actor=_staff_user(session, email))
    session.commit()
    months = [m.isoformat() for m in done.months]
    return {
        "group": group.group_number,
        "reinstated_on": day.isoformat(),
        "missed_months": months,
        "missed_premium": str(done.missed_premium),
        "lines": [
            f"{group.group_number} reinstated on {day}; {done.missed_premium} of missed "
            "premium goes on the next invoice."
        ],
    }


def _commission_lines(month: date, summaries: list[dict]) -> list[str]:
    lines = []
    for item in summaries:
        lines.append(
            f"  {item['agency']:<12} {item['name'][:30]:<30} {item['lines']:>6} line(s)  "
            f"earned {D(item['earned']):>12,.2f}  adjustments {D(item['adjustment']):>10,.2f}  "
            f"chargebacks {D(item['chargeback']):>10,.2f}  held {D(item['hold']):>10,.2f}  "
            f"released {D(item['release']):>10,.2f}  net {D(item['net']):>12,.2f}"
        )
    return lines


@commissions_cli.command("run")
@click.option("--month", required=True, help="The month to run (YYYY-MM).")
@click.option("--as-user", "email", help="The staff user running it (default: recorded as cli).")
@json_option
def commissions_run(month: str, email: str | None):
    """Run commissions for MONTH: premium collected (or billed) and everything else dated up to
    its last day, each agency's new lines (earned, adjustments, chargebacks, holds, releases)
    posted to the ledger. Safe to run again: only what changed since is added; an approved month
    adds nothing, and a correction to it lands in the next month's run. A supervisor then
    approves it (`flask commissions approve`)."""
    from billing_core.commissions.run import agency_summaries, run_commissions

    session = db_session()
    actor = _staff_user(session, email) if email else None
    when = _month(month)
    result = run_commissions(session, when, actor=actor)
    run = result.run
    new = agency_summaries(session, run, result.lines)
    whole = agency_summaries(session, run)
    session.commit()
    if result.closed:
        lines = [f"{when:%b %Y} is approved and closed: nothing added (corrections land in the "
                 "next month's run)."]  # fmt: skip
    elif not result.lines:
        lines = [f"Commission run {when:%b %Y}, pass {run.passes}: nothing changed since the "
                 f"last pass; nothing added (run total {sum((D(a['net']) for a in whole), D('0')):,.2f})."]  # fmt: skip
    else:
        lines = [f"Commission run {when:%b %Y}, pass {run.passes}: {len(result.lines)} new "
                 f"line(s), {result.commission_total:,.2f} net to {len(new)} agency(ies)."]  # fmt: skip
        lines += _commission_lines(when, new)
    lines += [f"Problem: {problem}" for problem in result.problems]
    lines.append(
        f"Status: {run.status.value}"
        + ("; a supervisor approves it with `flask commissions approve`." if run.status.value == "open" else ".")
    )  # fmt: skip
    return {
        "month": when.strftime("%Y-%m"),
        "run_id": run.id,
        "status": run.status.value,
        "pass": run.passes,
        "closed": result.closed,
        "new_lines": len(result.lines),
        "commission_total": str(result.commission_total),
        "agencies": new,
        "run_total": str(sum((D(a["net"]) for a in whole), D("0"))),
        "run_agencies": whole,
        "problems": result.problems,
        "lines": lines,
    }


@commissions_cli.command("statement")
@click.option("--month", required=True, help="The run's month (YYYY-MM).")
@click.option("--agency", "code", required=True, help="The agency's code.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write it as CSV or XLSX (by the file's extension).",
)
@json_option
def commissions_statement(month: str, code: str, out: Path | None):
    """The agency's statement of MONTH's run: each group, product and coverage month with the
    premium basis, rate, commission, holds, releases and chargebacks, and the totals (an open
    run's lines so far: a preview until it is approved)."""
    from billing_core.commissions.run import run_for
    from billing_core.commissions.statements import (
        agency_by_code,
        agency_statement,
        statement_csv,
        statement_xlsx,
    )

    session = db_session()
    when = _month(month)
    statement = agency_statement(session, run_for(session, when), agency_by_code(session, code))
    totals = {k: str(v) for k, v in statement.totals.items()}
    state = "closed" if statement.run.status.value == "approved" else "open: a preview"
    lines = [f"{code} commission statement, {when:%b %Y} ({state}): {len(statement.lines)} "
             f"line(s), net {statement.totals['net']:,.2f}"]  # fmt: skip
    for line in statement.lines:
        lines.append(
            f"  {line.group_number:<10} {line.product[:20]:<20} {line.coverage_month:%b %Y} "
            f"{line.kind.value:<10} basis {line.premium_basis:>11,.2f} {line.amount:>10,.2f}"
        )
    if out is not None:
        suffix = out.suffix.lower()
        if suffix not in (".csv", ".xlsx"):
            raise click.BadParameter("write a .csv or .xlsx file", param_hint="--out")
        out.write_bytes(statement_csv(statement) if suffix == ".csv" else statement_xlsx(statement))
        lines.append(f"Written to {out}.")
    return {
        "month": when.strftime("%Y-%m"),
        "agency": code,
        "status": statement.run.status.value,
        "line_count": len(statement.lines),
        "totals": totals,
        "statement": [
            {
                "group": x.group_number,
                "product": x.product,
                "coverage_month": x.coverage_month.strftime("%Y-%m"),
                "kind": x.kind.value,
                "premium_basis": str(x.premium_basis),
                "rate": None if x.rate is None else str(x.rate.normalize()),
                "employees": x.employees,
                "split_percent": str(x.split_percent),
                "commission": str(x.amount),
                "note": x.note,
            }
            for x in statement.lines
        ],
        "lines": lines,
    }


@commissions_cli.command("approve")
@click.option("--month", required=True, help="The month whose run to approve (YYYY-MM).")
@click.option("--as-user", "email", required=True, help="The supervisor approving it.")
@json_option
def commissions_approve(month: str, email: str):
    """Approve MONTH's commission run as a supervisor who did not run it: the month closes and
    each agency's net moves to commission payable."""
    from billing_core.commissions.run import agency_summaries, approve_run, run_for

    session = db_session()
    actor = _staff_user(session, email)
    when = _month(month)
    run = run_for(session, when)
    nets = approve_run(session, run, actor=actor)
    summaries = agency_summaries(session, run)
    session.commit()
    total = sum(nets.values(), D("0"))
    lines = [f"Approved the {when:%b %Y} commission run: {total:,.2f} payable to "
             f"{len(summaries)} agency(ies)."]  # fmt: skip
    lines += _commission_lines(when, summaries)
    return {
        "month": when.strftime("%Y-%m"),
        "status": run.status.value,
        "payable_total": str(total),
        "agencies": summaries,
        "lines": lines,
    }


# Paying agencies by ACH (billing_core/commissions/disbursements.py): the same calls as the page.
def _iso_day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected a day as YYYY-MM-DD, got {value!r}") from None


@commissions_cli.command("ach-file")
@click.option("--pay-on", "pay_on", required=True, help="Effective entry date (YYYY-MM-DD).")
@click.option("--as-user", "email", required=True, help="The staff user making it.")
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Write the file here.")
@json_option
def commissions_ach_file(pay_on: str, email: str, out: str | None):
    """Make the NACHA ACH file paying every approved commission payable and approved refund
    whose payee has confirmed bank details. While a file is made and not sent, this gives that
    same file (nothing is paid twice). Nothing posts until `flask commissions ach-sent`."""
    from billing_core.commissions.disbursements import (
        describe,
        download_ach_file,
        make_ach_file,
    )

    session = db_session()
    actor = _staff_user(session, email)
    file = make_ach_file(session, actor=actor, effective_date=_iso_day(pay_on))
    session.commit()
    if out:
        with open(out, "w", encoding="ascii", newline="\n") as handle:
            handle.write(download_ach_file(session, file, actor=actor))
        session.commit()
    lines = [f"{describe(file)}, pay on {file.effective_date}, status {file.status.value}."]
    lines += [f"Written to {out}." if out else "Use --out FILE to write it."]
    return {"file_id": file.id, "status": file.status.value, "entries": file.entry_count,
            "total": str(file.total_credit), "lines": lines}  # fmt: skip


@commissions_cli.command("ach-sent")
@click.option("--file", "file_id", type=int, required=True, help="The ACH file's number.")
@click.option("--on", "sent_on", required=True, help="The day it went to the bank.")
@click.option("--as-user", "email", required=True, help="The staff user marking it.")
@json_option
def commissions_ach_sent(file_id: int, sent_on: str, email: str):
    """Mark an ACH file sent: each entry posts Dr payable, Cr cash, once."""
    from billing_core.commissions.disbursements import describe, mark_sent
    from billing_core.errors import NotFound
    from billing_core.models.commissions import AchFile

    session = db_session()
    actor = _staff_user(session, email)
    file = session.get(AchFile, file_id)
    if file is None:
        raise NotFound(f"there is no ACH file {file_id}")
    posted = mark_sent(session, file, actor=actor, on=_iso_day(sent_on))
    session.commit()
    said = "marked sent; payments posted" if posted else "was already sent; nothing posted"
    return {"file_id": file.id, "posted": posted, "lines": [f"{describe(file)} {said}."]}


@commissions_cli.command("ach-return")
@click.option("--trace", required=True, help="The returned entry's 15-digit trace number.")
@click.option("--code", required=True, help="The return reason code (R01, R02, ...).")
@click.option("--on", "returned_on", required=True, help="The day of the return.")
@click.option("--as-user", "email", required=True, help="The staff user entering it.")
@json_option
def commissions_ach_return(trace: str, code: str, returned_on: str, email: str):
    """Enter an ACH return: the entry's payment is reversed and the amount is owed again."""
    from billing_core.commissions.disbursements import (
        entry_by_trace,
        record_return,
        return_advice,
    )
    from billing_core.money import format_dollars

    session = db_session()
    actor = _staff_user(session, email)
    entry = entry_by_trace(session, trace)
    record_return(session, entry, code=code, actor=actor, on=_iso_day(returned_on))
    session.commit()
    lines = [f"Return {entry.return_code} of trace {entry.trace_number} entered: "
             f"{format_dollars(entry.amount)} is owed again. {return_advice(entry.return_code)}"]  # fmt: skip
    return {"trace": entry.trace_number, "code": entry.return_code,
            "amount": str(entry.amount), "lines": lines}  # fmt: skip


# --------------------------------------------------------------------------- rates


def _rate_change_lines(change, result) -> list[str]:
    lines = [
        f"Rate change {change.id}: {change.kind.value} effective "
        f"{change.effective_from:%Y-%m-%d}, {change.status.value}."
    ]
    for plan in result.plans:
        pct = f" ({plan.percent}%)" if plan.percent is not None else ""
        lines.append(
            f"  {plan.plan.code}: {plan.members} member(s), {plan.old:,.2f} -> {plan.new:,.2f}, "
            f"change {plan.change:,.2f}{pct}" + (f", retro {plan.retro:,.2f}" if plan.retro else "")
        )
    lines.append(
        f"  Total {result.month:%b %Y}: {result.old:,.2f} -> {result.new:,.2f}, change "
        f"{result.total_change:,.2f}"
        + (f"; retro for billed months {result.retro:,.2f}" if result.billed_months else "")
    )
    return lines


def _rate_change_json(change, result, per_member: bool = False) -> dict:
    out = {
        "id": change.id,
        "kind": change.kind.value,
        "status": change.status.value,
        "effective_from": change.effective_from.isoformat(),
        "month": result.month.isoformat(),
        "old": str(result.old),
        "new": str(result.new),
        "change": str(result.total_change),
        "retro": str(result.retro),
        "billed_months": [m.isoformat() for m in result.billed_months],
        "plans": [
            {"plan": p.plan.code, "members": p.members, "old": str(p.old), "new": str(p.new),
             "change": str(p.change), "retro": str(p.retro)}
            for p in result.plans
        ],
    }  # fmt: skip
    if per_member:
        out["members"] = [
            {"member": m.member_key, "plan": m.plan_code, "old": str(m.old), "new": str(m.new),
             "change": str(m.change)}
            for m in result.members
        ]  # fmt: skip
    return out


def _rate_change_result(session, change, per_member: bool = False) -> dict:
    from billing_core.setup.rate_changes import impact

    result = impact(session, change, per_member=per_member)
    out = _rate_change_json(change, result, per_member)
    out["lines"] = _rate_change_lines(change, result)
    return out


@rates_cli.command("renew")
@click.argument("group_number")
@click.option(
    "--effective",
    type=click.DateTime(["%Y-%m-%d"]),
    help="A first of month (default: the group's next renewal month).",
)
@click.option("--as-user", "email", required=True, help="The staff member proposing it.")
@json_option
def rates_renew(group_number: str, effective: datetime | None, email: str):
    """Start a renewal of GROUP_NUMBER's rates: the rates in force on the renewal date copied
    into a proposal per plan (edit them with `flask rates set`, then `submit`)."""  # fmt: skip
    from billing_core.billing.groups import group_numbered
    from billing_core.setup.rate_changes import start_renewal

    session = db_session()
    actor = _staff_user(session, email)
    change = start_renewal(
        session, group_numbered(session, group_number), actor=actor,
        today=datetime.now(UTC).date(), effective_from=effective.date() if effective else None,
    )  # fmt: skip
    out = _rate_change_result(session, change)
    session.commit()
    return out


@rates_cli.command("correct")
@click.argument("group_number")
@click.option(
    "--effective",
    type=click.DateTime(["%Y-%m-%d"]),
    required=True,
    help="A past or the current first of month.",
)
@click.option("--reason", required=True, help="Why the rates are corrected.")
@click.option("--as-user", "email", required=True, help="The staff member proposing it.")
@json_option
def rates_correct(group_number: str, effective: datetime, reason: str, email: str):
    """Start a mid-year rate correction of GROUP_NUMBER (months already billed get their
    differences on the next invoice once it is approved)."""  # fmt: skip
    from billing_core.billing.groups import group_numbered
    from billing_core.setup.rate_changes import start_correction

    session = db_session()
    change = start_correction(
        session, group_numbered(session, group_number), actor=_staff_user(session, email),
        today=datetime.now(UTC).date(), effective_from=effective.date(), reason=reason,
    )  # fmt: skip
    out = _rate_change_result(session, change)
    session.commit()
    return out


@rates_cli.command("set")
@click.argument("change_id", type=int)
@click.argument("plan_code")
@click.argument("values", nargs=-1, required=True)
@click.option("--as-user", "email", required=True, help="The staff member who proposed it.")
@json_option
def rates_set(change_id: int, plan_code: str, values: tuple[str, ...], email: str):
    """Set PLAN_CODE's proposed rates in rate change CHANGE_ID: FIELD=VALUE pairs (tier_EE=40.10,
    unit_rate=0.13, age_bands='0-20: 150\\n21-64: 300'); other fields keep their value."""
    from billing_core.setup.rate_changes import edit_plan_rates, form_values, rate_change_of

    session = db_session()
    actor = _staff_user(session, email)
    change = rate_change_of(session, change_id)
    item = next((p for p in change.plans if p.plan.code == plan_code), None)
    if item is None:
        raise BillingError(f"plan {plan_code} is not in rate change {change_id}")
    form = form_values(item.rates, item.plan.product.rating_basis)
    for pair in values:
        name, sep, value = pair.partition("=")
        if not sep or name not in form:
            raise click.BadParameter(f"expected FIELD=VALUE with FIELD one of {', '.join(form)}")
        form[name] = value.replace("\\n", "\n")
    edit_plan_rates(session, change, item.plan_id, form, actor=actor)
    out = _rate_change_result(session, change)
    session.commit()
    return out


@rates_cli.command("impact")
@click.argument("change_id", type=int)
@click.option("--members", is_flag=True, help="Also each member's old and new premium.")
@json_option
def rates_impact(change_id: int, members: bool):
    """The premium impact of rate change CHANGE_ID on current enrollment: old vs new per plan
    and in total for the effective month (per member with --members); for months already
    billed, the differences approval would queue."""
    from billing_core.setup.rate_changes import rate_change_of

    session = db_session()
    out = _rate_change_result(session, rate_change_of(session, change_id), members)
    if members:
        out["lines"] += [
            f"    {m['member']} {m['plan']}: {m['old']} -> {m['new']} ({m['change']})"
            for m in out["members"]
        ]
    session.rollback()
    return out


def _rate_decision(change_id: int, email: str, decide) -> dict:
    from billing_core.setup.rate_changes import rate_change_of

    session = db_session()
    actor = _staff_user(session, email)
    change = rate_change_of(session, change_id)
    decide(session, change, actor=actor)
    out = _rate_change_result(session, change)
    session.commit()
    return out


@rates_cli.command("submit")
@click.argument("change_id", type=int)
@click.option("--as-user", "email", required=True, help="The staff member who proposed it.")
@json_option
def rates_submit(change_id: int, email: str):
    """Submit rate change CHANGE_ID for a second staff member's approval."""
    from billing_core.setup.rate_changes import submit

    return _rate_decision(change_id, email, submit)


@rates_cli.command("approve")
@click.argument("change_id", type=int)
@click.option("--as-user", "email", required=True, help="The approver (not the proposer).")
@json_option
def rates_approve(change_id: int, email: str):
    """Approve rate change CHANGE_ID: its rate versions are written (and a correction's billed
    months queued for the next invoice). Never by the proposer; a correction by a supervisor.
    Approving again changes nothing."""
    from billing_core.setup.rate_changes import approve

    return _rate_decision(change_id, email, approve)


@rates_cli.command("withdraw")
@click.argument("change_id", type=int)
@click.option("--as-user", "email", required=True, help="The staff member withdrawing it.")
@json_option
def rates_withdraw(change_id: int, email: str):
    """Withdraw rate change CHANGE_ID: nothing it proposed is written."""
    from billing_core.setup.rate_changes import withdraw

    return _rate_decision(change_id, email, withdraw)


def register_cli(app: Flask) -> None:
    for group in (
        db_cli,
        demo_cli,
        setup_cli,
        users_cli,
        billing_cli,
        census_cli,
        payments_cli,
        mail_cli,
        keys_cli,
        ledger_cli,
        collections_cli,
        commissions_cli,
        rates_cli,
    ):
        app.cli.add_command(group)


def _staff_user(session, email: str):
    """The billing staff user a command acts as (audited as them)."""
    from billing_core.errors import AccessDenied
    from billing_core.users.accounts import find_user_by_email

    user = find_user_by_email(session, email)
    if user is None or not user.role.is_staff:
        raise AccessDenied(f"{email} is not a billing staff user")
    return user
