"""The billing run in chunks of groups (issue 19): each chunk its own transaction, a failed
chunk retried alone, a stopped run resumed, every invoice issued exactly once."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from billing_core.billing import run as billing_runs
from billing_core.billing.invoicing import issue_billing_run
from billing_core.errors import BillingError
from billing_core.models import BillingRunChunk, Invoice, InvoiceLine, JournalEntry
from billing_core.models.billing_run import ChunkStatus, RunStatus
from tests.factories import enroll, make_dental_plan, make_group, make_member

FEB = date(2027, 2, 1)


def _book(session, groups: int = 3) -> list[str]:
    numbers = []
    for _ in range(groups):
        group = make_group(session)
        plan = make_dental_plan(session, group)
        for tier in ("EE", "FAM"):
            enroll(session, make_member(session, group), plan, tier)
        numbers.append(group.group_number)
    session.commit()
    return numbers


def _invoices_per_group(session, numbers: list[str]) -> dict[str, int]:
    from billing_core.models import EmployerGroup

    rows = session.execute(
        select(EmployerGroup.group_number, func.count(Invoice.id))
        .outerjoin(Invoice, Invoice.group_id == EmployerGroup.id)
        .where(EmployerGroup.group_number.in_(numbers))
        .group_by(EmployerGroup.group_number)
    ).all()
    return dict(rows)


def _count(session, model, numbers) -> int:
    from billing_core.models import EmployerGroup

    ids = select(EmployerGroup.id).where(EmployerGroup.group_number.in_(numbers))
    if model is InvoiceLine:
        query = (
            select(func.count(InvoiceLine.id))
            .join(Invoice, Invoice.id == InvoiceLine.invoice_id)
            .where(Invoice.group_id.in_(ids))
        )
    else:
        invoice_ids = select(Invoice.id).where(Invoice.group_id.in_(ids))
        query = select(func.count(JournalEntry.id)).where(
            JournalEntry.source_type == "invoice", JournalEntry.source_id.in_(invoice_ids)
        )
    return session.scalar(query)


def _fail_in(monkeypatch, group_number: str, error: BaseException, times: int = 1) -> list:
    """Make the chunk holding `group_number` raise `error` after issuing (its writes flushed),
    `times` times; returns the list of the chunks' group lists as they were issued."""
    seen = []
    left = [times]

    def issuing(session, period, *, group_numbers, **kwargs):
        seen.append(list(group_numbers))
        outcome = issue_billing_run(session, period, group_numbers=group_numbers, **kwargs)
        session.flush()
        if group_number in group_numbers and left[0]:
            left[0] -= 1
            raise error
        return outcome

    monkeypatch.setattr(billing_runs, "issue_billing_run", issuing)
    return seen


def test_the_groups_are_cut_into_chunks_in_group_number_order(session):
    numbers = _book(session, 5)
    run = billing_runs.start_run(session, FEB, group_numbers=numbers, chunk_groups=2)
    assert [c.group_numbers for c in run.chunks] == [numbers[0:2], numbers[2:4], numbers[4:]]
    assert {c.status for c in run.chunks} == {ChunkStatus.PENDING}
    with pytest.raises(BillingError, match="no group numbered NOPE"):
        billing_runs.start_run(session, FEB, group_numbers=["NOPE"])


def test_a_run_in_chunks_issues_each_invoice_once_and_running_it_again_changes_nothing(
    session,
):
    numbers = _book(session, 3)
    run = billing_runs.start_run(
        session, FEB, group_numbers=numbers, run_date=date(2027, 1, 17), chunk_groups=2
    )
    summaries = billing_runs.execute_run(session, run)
    merged = billing_runs.merged(FEB, date(2027, 1, 17), summaries)
    assert len(merged["issued"]) == 3 and merged["already_issued"] == []
    progress = billing_runs.progress(session, run)
    assert run.status is RunStatus.DONE and progress.done == progress.chunks == 2
    assert progress.issued == 3 and progress.line_count == 6 and not progress.failed_chunks
    assert _invoices_per_group(session, numbers) == dict.fromkeys(numbers, 1)
    lines, entries = _count(session, InvoiceLine, numbers), _count(session, JournalEntry, numbers)

    again = billing_runs.start_run(session, FEB, group_numbers=numbers, chunk_groups=2)
    second = billing_runs.merged(FEB, None, billing_runs.execute_run(session, again))
    assert second["issued"] == [] and sorted(second["already_issued"]) == sorted(merged["issued"])
    assert _invoices_per_group(session, numbers) == dict.fromkeys(numbers, 1)
    assert _count(session, InvoiceLine, numbers) == lines == 6
    assert _count(session, JournalEntry, numbers) == entries == 3


def test_a_failed_chunk_is_recorded_and_retried_alone(session, monkeypatch):
    numbers = _book(session, 3)
    seen = _fail_in(monkeypatch, numbers[1], RuntimeError("the database went away"))
    run = billing_runs.start_run(session, FEB, group_numbers=numbers, chunk_groups=1)
    billing_runs.execute_run(session, run)

    progress = billing_runs.progress(session, run)
    assert run.status is RunStatus.FAILED
    assert progress.by_status == {"done": 2, "failed": 1} and progress.issued == 2
    [failed] = progress.failed_chunks
    assert failed.number == 2 and failed.attempts == 1
    assert failed.error == "RuntimeError: the database went away"
    assert progress.failed_dicts()[0]["groups"] == [numbers[1]]
    # The failed chunk's transaction was rolled back whole: nothing of its group is issued.
    assert _invoices_per_group(session, numbers) == {numbers[0]: 1, numbers[1]: 0, numbers[2]: 1}

    billing_runs.retry_failed(session, run)
    assert seen == [[numbers[0]], [numbers[1]], [numbers[2]], [numbers[1]]]  # chunk 2 alone
    progress = billing_runs.progress(session, run)
    assert run.status is RunStatus.DONE and progress.done == 3 and not progress.failed_chunks
    assert session.get(BillingRunChunk, failed.id).attempts == 2
    assert _invoices_per_group(session, numbers) == dict.fromkeys(numbers, 1)
    assert _count(session, JournalEntry, numbers) == 3
    with pytest.raises(BillingError, match="no failed chunk"):
        billing_runs.retry_failed(session, run)


class Killed(BaseException):
    """The process dies mid-chunk: nothing catches it, nothing records it."""


def test_a_run_killed_after_its_first_chunk_resumes_and_issues_each_invoice_exactly_once(
    session, monkeypatch
):
    numbers = _book(session, 3)
    seen = _fail_in(monkeypatch, numbers[1], Killed())
    run = billing_runs.start_run(session, FEB, group_numbers=numbers, chunk_groups=1)
    with pytest.raises(Killed):
        billing_runs.execute_run(session, run)
    session.rollback()  # the dead process's open transaction is gone with it
    statuses = session.scalars(
        select(BillingRunChunk.status)
        .where(BillingRunChunk.run_id == run.id)
        .order_by(BillingRunChunk.number)
    ).all()
    assert statuses == [ChunkStatus.DONE, ChunkStatus.RUNNING, ChunkStatus.PENDING]
    assert _invoices_per_group(session, numbers) == {numbers[0]: 1, numbers[1]: 0, numbers[2]: 0}

    # Resuming: the same period, groups and issue date find the unfinished run; the chunk its
    # dead process held is taken back, the first chunk is not run again.
    found = billing_runs.unfinished_run(session, FEB, group_numbers=reversed(numbers))
    assert found is not None and found.id == run.id
    assert billing_runs.reopen(session, found) == 0  # its process looks alive: left alone
    monkeypatch.setattr(billing_runs, "worker_alive", lambda worker: False)
    assert billing_runs.reopen(session, found) == 1
    billing_runs.execute_run(session, found)
    assert seen == [[numbers[0]], [numbers[1]], [numbers[1]], [numbers[2]]]
    assert run.status is RunStatus.DONE
    assert _invoices_per_group(session, numbers) == dict.fromkeys(numbers, 1)
    assert _count(session, InvoiceLine, numbers) == 6
    assert _count(session, JournalEntry, numbers) == 3
    assert billing_runs.unfinished_run(session, FEB, group_numbers=numbers) is None


def test_a_run_of_no_group_is_done_at_once(session):
    run = billing_runs.start_run(session, FEB, group_numbers=[])
    assert run.status is RunStatus.DONE and run.chunks == []
    assert billing_runs.execute_run(session, run) == []


def test_a_chunk_failing_in_the_database_is_tried_again_at_once(session, monkeypatch):
    from sqlalchemy.exc import OperationalError

    numbers = _book(session, 2)
    _fail_in(monkeypatch, numbers[0], OperationalError("INSERT", {}, Exception("deadlock")))
    run = billing_runs.start_run(session, FEB, group_numbers=numbers, chunk_groups=2)
    billing_runs.execute_run(session, run)
    [chunk] = run.chunks
    session.refresh(chunk)
    assert chunk.status is ChunkStatus.DONE and chunk.attempts == 2 and chunk.error is None
    assert _invoices_per_group(session, numbers) == dict.fromkeys(numbers, 1)
