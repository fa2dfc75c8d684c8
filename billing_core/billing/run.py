"""A billing run that scales out (issue 19): the book's groups cut into chunks (BillingRun,
BillingRunChunk), each chunk issued by `billing.invoicing.issue_billing_run` in its own
transaction by whichever process claims it: this one (inline), or RQ workers on as many
machines as run against the same database. A chunk is idempotent (a billing account already
invoiced for the period is skipped), so a failed chunk is retried alone and a stopped run
resumes where it stopped; memory is bounded by the chunk, not the book.

Unlike most of billing_core, the run commits: each chunk is a unit of work of its own, like a
job (billing_core.jobs). Start it with `start_run` (flush only), commit, then `execute_run`."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from billing_core import ledger
from billing_core.billing.invoicing import issue_billing_run
from billing_core.config import Settings
from billing_core.db import utcnow
from billing_core.errors import BillingError
from billing_core.jobs import enqueue, worker_alive, worker_id
from billing_core.models import BillingRun, BillingRunChunk, EmployerGroup
from billing_core.models.billing_run import ChunkStatus, RunStatus
from billing_core.money import ZERO, D

log = logging.getLogger(__name__)

QUEUE = "billing"  # the RQ queue of the run's chunks (`rq worker billing`)
CHUNK_JOB = "billing_core.billing.run.run_chunk"
# The tables a run fills, ANALYZEd once it has finished (PostgreSQL), so the pages that read
# them plan with the month's rows counted.
FILLED_TABLES = (
    "invoice",
    "invoice_line",
    "invoice_plan_total",
    "invoice_bridge",
    "invoice_bridge_step",
    "invoice_bridge_row",
    "journal_entry",
    "posting",
    "kept_balance",
    "kept_open_item",
    "payment_allocation",
    "adjustment",
    "outbox_message",
    "audit_log",
)
ERROR_CHARS = 2000
# A chunk that fails in the database (a deadlock, a lost race on a shared row) is tried again
# at once, up to this many attempts in all, before it is recorded failed.
DATABASE_ATTEMPTS = 3


@dataclass
class RunProgress:
    """A run as it stands: its chunks by status, what they issued, and the failed ones."""

    run: BillingRun
    chunks: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    issued: int = 0
    already_issued: int = 0
    held: int = 0
    line_count: int = 0
    new_charges: Decimal = ZERO
    failed_chunks: list[BillingRunChunk] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.by_status.get(ChunkStatus.DONE.value, 0)

    @property
    def finished(self) -> bool:
        return self.run.status is not RunStatus.RUNNING

    @property
    def percent(self) -> int:
        return 100 if not self.chunks else round(100 * self.done / self.chunks)

    def chunks_dict(self) -> dict:
        return {
            "run_id": self.run.id,
            "status": self.run.status.value,
            "total": self.chunks,
            **{status.value: self.by_status.get(status.value, 0) for status in ChunkStatus},
        }

    def failed_dicts(self) -> list[dict]:
        return [
            {
                "number": chunk.number,
                "groups": list(chunk.group_numbers),
                "attempts": chunk.attempts,
                "error": chunk.error,
            }
            for chunk in self.failed_chunks
        ]


def start_run(
    session: Session,
    period: date,
    *,
    group_numbers: Iterable[str] | None = None,
    run_date: date | None = None,
    chunk_groups: int = Settings.billing_run_chunk_groups,
    actor_id: int | None = None,
    actor_email: str | None = None,
    ip_address: str | None = None,
) -> BillingRun:
    """Record a run of `period`'s month (first of the month) over `group_numbers` (None: every
    group) cut into chunks of `chunk_groups` groups in group-number order; flush only. A group
    number that does not exist is refused (BillingError). `run_date` is the issue date printed
    on the invoices (None: each group's scheduled date)."""
    if chunk_groups < 1:
        raise BillingError("a billing run's chunk holds at least one group")
    period = period.replace(day=1)
    wanted = None if group_numbers is None else sorted(set(group_numbers))
    query = select(EmployerGroup.group_number).order_by(EmployerGroup.group_number)
    if wanted is not None:
        query = query.where(EmployerGroup.group_number.in_(wanted))
    numbers = list(session.scalars(query))
    if wanted is not None and (missing := set(wanted) - set(numbers)):
        raise BillingError(f"no group numbered {', '.join(sorted(missing))}")
    run = BillingRun(
        period=period,
        run_date=run_date,
        group_numbers=wanted,
        chunk_groups=chunk_groups,
        status=RunStatus.RUNNING if numbers else RunStatus.DONE,
        started_by_id=actor_id,
        started_by_email=actor_email,
        ip_address=ip_address,
        finished_at=None if numbers else utcnow(),
    )
    run.chunks = [
        BillingRunChunk(
            number=index // chunk_groups + 1,
            group_numbers=numbers[index : index + chunk_groups],
            status=ChunkStatus.PENDING,
            attempts=0,
            issued_count=0,
            already_issued_count=0,
            held_count=0,
            line_count=0,
            new_charges=ZERO,
        )
        for index in range(0, len(numbers), chunk_groups)
    ]
    session.add(run)
    if numbers:
        # The accounts every chunk posts to, created here once: concurrent chunks on a new
        # book would otherwise race to create them.
        ledger.account(session, ledger.Chart.PREMIUM_REVENUE)
        ledger.account(session, ledger.Chart.FEE_INCOME)
    session.flush()
    return run


def unfinished_run(
    session: Session,
    period: date,
    *,
    group_numbers: Iterable[str] | None = None,
    run_date: date | None = None,
) -> BillingRun | None:
    """The latest run of the same period, groups and issue date that has not finished (chunks
    left, or failed): the one to resume rather than start another."""
    wanted = None if group_numbers is None else sorted(set(group_numbers))
    runs = session.scalars(
        select(BillingRun)
        .where(BillingRun.period == period.replace(day=1), BillingRun.status != RunStatus.DONE)
        .order_by(BillingRun.id.desc())
    )
    for run in runs:
        if run.group_numbers == wanted and run.run_date == run_date:
            return run
    return None


def reopen(session: Session, run: BillingRun) -> int:
    """Make a run's failed chunks, and those whose process died (`jobs.worker_alive` False),
    pending again and the run running; flush only. Returns how many chunks were reopened."""
    reopened = 0
    for chunk in session.scalars(
        select(BillingRunChunk).where(
            BillingRunChunk.run_id == run.id,
            BillingRunChunk.status.in_((ChunkStatus.FAILED, ChunkStatus.RUNNING)),
        )
    ):
        if chunk.status is ChunkStatus.RUNNING and worker_alive(chunk.worker) is not False:
            continue  # still being issued (or cannot be told: another machine's worker)
        chunk.status = ChunkStatus.PENDING
        reopened += 1
    if reopened or run.status is RunStatus.FAILED:
        run.status = RunStatus.RUNNING
        run.finished_at = None
    session.flush()
    return reopened


def execute_run(
    session: Session, run: BillingRun, *, settings: Settings | None = None
) -> list[dict]:
    """Issue the run's pending chunks: as RQ jobs on the `billing` queue when
    `settings.redis_url` is set (returns at once, []), else one after the other in `session`,
    each committed (returns each chunk's `RunOutcome.as_dict()`, in order). Commits what the
    caller had pending first."""
    session.commit()
    pending = list(
        session.scalars(
            select(BillingRunChunk.id)
            .where(
                BillingRunChunk.run_id == run.id,
                BillingRunChunk.status == ChunkStatus.PENDING,
            )
            .order_by(BillingRunChunk.number)
        )
    )
    if settings is not None and settings.redis_url:
        for chunk_id in pending:
            enqueue(CHUNK_JOB, chunk_id, settings=settings, queue_name=QUEUE)
        _finish(session, run.id)
        return []
    summaries = []
    for chunk_id in pending:
        summary = run_chunk(session, chunk_id)
        if summary is not None:
            summaries.append(summary)
    _finish(session, run.id)
    return summaries


def run_chunk(session: Session, chunk_id: int) -> dict | None:
    """The chunk's job (inline or on an RQ worker): claim it (a conditional UPDATE, so with
    several workers each chunk runs once), issue its groups in one transaction and record the
    counts, or roll back and record the error; commits. The last chunk to finish closes the
    run. Returns the chunk's RunOutcome as a dict, or None (not claimed, or failed)."""
    claimed = session.execute(
        update(BillingRunChunk)
        .where(BillingRunChunk.id == chunk_id, BillingRunChunk.status == ChunkStatus.PENDING)
        .values(
            status=ChunkStatus.RUNNING,
            attempts=BillingRunChunk.attempts + 1,
            worker=worker_id(),
            started_at=utcnow(),
            error=None,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    if not claimed:
        return None
    known = set(session.identity_map.keys())
    summary = None
    try:
        for attempt in range(1, DATABASE_ATTEMPTS + 1):
            try:
                with _cyclic_gc_paused():
                    summary = _issue_chunk(session, chunk_id)
                break
            except DBAPIError as error:
                session.rollback()
                if attempt == DATABASE_ATTEMPTS:
                    _record_failure(session, chunk_id, error)
                    break
                log.warning("chunk %s: %s; trying again", chunk_id, error)
                session.execute(
                    update(BillingRunChunk)
                    .where(BillingRunChunk.id == chunk_id)
                    .values(attempts=BillingRunChunk.attempts + 1)
                    .execution_options(synchronize_session=False)
                )
                session.commit()
            except Exception as error:
                session.rollback()
                _record_failure(session, chunk_id, error)
                break
    finally:
        # Memory is bounded by the chunk: forget what it loaded (the caller's objects stay).
        for key, obj in list(session.identity_map.items()):
            if key not in known:
                session.expunge(obj)
    run_id = session.scalar(select(BillingRunChunk.run_id).where(BillingRunChunk.id == chunk_id))
    _finish(session, run_id)
    return summary


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a chunk is issued. A chunk makes and
    drops millions of objects (a dict per invoice line, tuples per coverage), freed by
    reference counting; the collector's full passes over the chunk's live data were a sixth
    of the run's Python time. Resumed after the chunk (what cycles it left are collected
    then): the peak memory measured the same."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _issue_chunk(session: Session, chunk_id: int) -> dict:
    """Issue the chunk's groups and record its counts; commits. Returns its RunOutcome as a
    dict."""
    chunk = session.get(BillingRunChunk, chunk_id)
    session.refresh(chunk)
    run = chunk.run
    outcome = issue_billing_run(
        session,
        run.period,
        group_numbers=chunk.group_numbers,
        run_date=run.run_date,
        actor_id=run.started_by_id,
        actor_email=run.started_by_email,
        ip_address=run.ip_address,
    )
    chunk.status = ChunkStatus.DONE
    chunk.issued_count = len(outcome.issued)
    chunk.already_issued_count = len(outcome.already_issued)
    chunk.held_count = len(outcome.held)
    chunk.line_count = outcome.line_count
    chunk.new_charges = outcome.total_new_charges
    chunk.finished_at = utcnow()
    session.flush()
    summary = outcome.as_dict()
    session.commit()
    return summary


def _record_failure(session: Session, chunk_id: int, error: Exception) -> None:
    log.error("billing run chunk %s failed: %s", chunk_id, error, exc_info=error)
    session.execute(
        update(BillingRunChunk)
        .where(BillingRunChunk.id == chunk_id)
        .values(
            status=ChunkStatus.FAILED,
            error=f"{type(error).__name__}: {error}"[:ERROR_CHARS],
            finished_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()


def _finish(session: Session, run_id: int) -> None:
    """Close the run once no chunk is pending or running: done, or failed when a chunk failed.
    Whoever closes it (a conditional UPDATE: one process) ANALYZEs the tables it filled."""
    counts = dict(
        session.execute(
            select(BillingRunChunk.status, func.count())
            .where(BillingRunChunk.run_id == run_id)
            .group_by(BillingRunChunk.status)
        ).all()
    )
    if counts.get(ChunkStatus.PENDING) or counts.get(ChunkStatus.RUNNING):
        session.rollback()
        return
    status = RunStatus.FAILED if counts.get(ChunkStatus.FAILED) else RunStatus.DONE
    closed = session.execute(
        update(BillingRun)
        .where(BillingRun.id == run_id, BillingRun.status == RunStatus.RUNNING)
        .values(status=status, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    run = session.get(BillingRun, run_id)
    if run is not None:
        session.refresh(run)
    if closed and session.get_bind().dialect.name == "postgresql":
        for table in FILLED_TABLES:
            session.execute(text(f"ANALYZE {table}"))
        session.commit()


def progress(session: Session, run: BillingRun) -> RunProgress:
    """What the admin page and the CLI show of a run: chunks by status, the invoices, lines and
    new charges issued so far, and the failed chunks with their errors."""
    session.refresh(run)
    result = RunProgress(run=run)
    rows = session.execute(
        select(
            BillingRunChunk.status,
            func.count(),
            func.coalesce(func.sum(BillingRunChunk.issued_count), 0),
            func.coalesce(func.sum(BillingRunChunk.already_issued_count), 0),
            func.coalesce(func.sum(BillingRunChunk.held_count), 0),
            func.coalesce(func.sum(BillingRunChunk.line_count), 0),
        )
        .where(BillingRunChunk.run_id == run.id)
        .group_by(BillingRunChunk.status)
    ).all()
    for status, count, issued, already, held, lines in rows:
        result.chunks += count
        result.by_status[ChunkStatus(status).value] = count
        result.issued += issued
        result.already_issued += already
        result.held += held
        result.line_count += lines
    result.new_charges = sum(
        session.scalars(
            select(BillingRunChunk.new_charges).where(
                BillingRunChunk.run_id == run.id, BillingRunChunk.status == ChunkStatus.DONE
            )
        ),
        ZERO,
    )
    result.failed_chunks = list(
        session.scalars(
            select(BillingRunChunk)
            .where(BillingRunChunk.run_id == run.id, BillingRunChunk.status == ChunkStatus.FAILED)
            .order_by(BillingRunChunk.number)
        )
    )
    return result


def recent_runs(session: Session, limit: int = 5) -> list[RunProgress]:
    """The latest runs, newest first, with their progress (the admin billing page)."""
    runs = session.scalars(select(BillingRun).order_by(BillingRun.id.desc()).limit(limit))
    return [progress(session, run) for run in list(runs)]


def retry_failed(
    session: Session, run: BillingRun, *, settings: Settings | None = None
) -> list[dict]:
    """Issue a run's failed chunks again (and those whose process died), alone: the chunks
    already done are not touched. Refused when the run has nothing to retry."""
    if not reopen(session, run):
        raise BillingError(f"billing run {run.id} has no failed chunk to retry")
    return execute_run(session, run, settings=settings)


def merged(period: date, run_date: date | None, summaries: list[dict]) -> dict:
    """The chunks' RunOutcome dicts as one, with the keys of `RunOutcome.as_dict()` (what the
    CLI printed before the run was cut into chunks)."""
    total = {
        "period": f"{period:%Y-%m}",
        "run_date": run_date.isoformat() if run_date else None,
        "dry_run": False,
        "invoices": [],
        "issued": [],
        "already_issued": [],
        "held": {},
        "not_due": {},
        "line_count": 0,
        "total_new_charges": ZERO,
    }
    for summary in summaries:
        for key in ("invoices", "issued", "already_issued"):
            total[key] += summary[key]
        for key in ("held", "not_due"):
            total[key].update(summary[key])
        total["line_count"] += summary["line_count"]
        total["total_new_charges"] += D(summary["total_new_charges"])
    total["total_new_charges"] = str(total["total_new_charges"])
    return total
