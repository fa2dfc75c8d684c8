"""The daily collections sweep: every group with a bill past due, or with a delinquency
clock running, is moved through its plan as far as `as_of` allows (states.py's rules), with
its stage's consolidated notice, its late fee and its plan steps done once per episode.

Idempotent and catch-up safe: every notice, fee and step is a DelinquencyAction unique per
(group, episode, kind, key), checked before it is done and backed by the database; a second
run on the same day changes nothing, and one run after days missed does what each missed day
would have done, once (a notice due during the outage is sent on the day of the run and
dated so; termination then moves so the notice period is still served). A group is never
swept back in time (`as_of` before its last sweep), and the whole book's sweep (`sweep_book`:
the CLI and the job) refuses a day before the last sweep, with the day it may run as. Two sweeps at once: each group's row is
locked by the sweep that reads it first and skipped by the other, and each group runs in a
savepoint, so a key the other sweep took (a new group's row, an action) leaves that group to
it.

Money is read from the balances kept beside the ledger (collections.overdue), never by
summing postings. The caller commits (the CLI, `sweep_job`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from billing_core.billing.adjustments import charge_fee
from billing_core.collections import clock
from billing_core.collections.cancellation import restore_coverage
from billing_core.collections.contacts import check_promises
from billing_core.collections.notices import recipients, send_stage_notice, suspense_by_name
from billing_core.collections.overdue import Position, positions
from billing_core.collections.payment_plans import check_payment_plans
from billing_core.collections.plans import PlanBook, moratorium_on, threshold
from billing_core.collections.states import RUNNING, SETTLED, clock_paused, move
from billing_core.db import in_ids
from billing_core.errors import ValidationFailed
from billing_core.models import EmployerGroup
from billing_core.models.collections import (
    ActionKind,
    DelinquencyAction,
    DelinquencyPlan,
    DelinquencyState,
    GroupDelinquency,
    LateFeeKind,
    Moratorium,
    StepAction,
)
from billing_core.money import ZERO, cents, format_dollars

S = DelinquencyState
STEP_KINDS = {
    StepAction.EMAIL: ActionKind.EMAIL,
    StepAction.LETTER: ActionKind.LETTER,
    StepAction.TASK: ActionKind.TASK,
}


@dataclass
class _Read:
    """What the sweep reads once for all its groups: the plans, the actions already done, the
    notices' recipients and the unidentified cash by payer name."""

    book: PlanBook
    done: set[tuple[int, int, ActionKind, str]]
    people: dict
    suspense: dict


@dataclass
class SweepResult:
    """What one sweep did (counts), and per group the transitions it made."""

    as_of: date
    groups: int = 0
    transitions: int = 0
    notices_sent: int = 0
    messages: int = 0
    late_fees: int = 0
    late_fee_total: Decimal = ZERO
    steps: int = 0
    held: int = 0
    skipped: int = 0
    promises_broken: int = 0
    plans_broken: int = 0
    plans_completed: int = 0
    moves: list[dict] = field(default_factory=list)

    _COUNTS = ("transitions", "notices_sent", "messages", "late_fees", "late_fee_total", "steps",
               "held")  # fmt: skip

    def counts(self) -> tuple:
        return (*(getattr(self, name) for name in self._COUNTS), len(self.moves))

    def restore(self, counts: tuple) -> None:
        """Back to `counts` (a group whose savepoint was rolled back did nothing)."""
        for name, value in zip(self._COUNTS, counts, strict=False):
            setattr(self, name, value)
        del self.moves[counts[-1] :]

    def as_dict(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "groups": self.groups,
            "transitions": self.transitions,
            "notices_sent": self.notices_sent,
            "messages": self.messages,
            "late_fees": self.late_fees,
            "late_fee_total": str(self.late_fee_total),
            "steps": self.steps,
            "held": self.held,
            "skipped": self.skipped,
            "promises_broken": self.promises_broken,
            "plans_broken": self.plans_broken,
            "plans_completed": self.plans_completed,
            "moves": self.moves,
        }


def run_sweep(session: Session, as_of: date, *, group_ids: list[int] | None = None) -> SweepResult:
    """Sweep every group (or `group_ids`) as of `as_of` (see the module docstring); flush
    only. Returns the counts: transitions made, notices sent (one per group and stage),
    outbox messages queued, late fees charged, plan steps done, cancellations held by a
    moratorium."""
    result = SweepResult(as_of)
    result.promises_broken = check_promises(session, as_of).broken  # before the clock moves
    plans = check_payment_plans(session, as_of)
    result.plans_broken, result.plans_completed = plans.broken, plans.completed
    found = positions(session, as_of, group_ids)
    running = select(GroupDelinquency.group_id).where(
        GroupDelinquency.state.in_([*RUNNING, S.CANCELLED])
    )
    if group_ids is not None:
        running = running.where(in_ids(GroupDelinquency.group_id, group_ids))
    ids = {gid for gid, p in found.items() if p.past_due_bills > 0}
    ids |= set(session.scalars(running))
    if not ids:
        return result
    ordered = sorted(ids)
    groups = {
        g.id: g
        for g in session.scalars(
            select(EmployerGroup)
            .where(in_ids(EmployerGroup.id, ordered))
            .options(selectinload(EmployerGroup.policies))
        )
    }
    # Locked for this sweep's transaction; a row another sweep holds is skipped, not waited for
    # (PostgreSQL; SQLite has one writer). A group without a row yet is claimed by inserting
    # it: the second insert fails on the key and that group is skipped.
    existing = set(
        session.scalars(
            select(GroupDelinquency.group_id).where(in_ids(GroupDelinquency.group_id, ordered))
        )
    )
    rows = {
        r.group_id: r
        for r in session.scalars(
            select(GroupDelinquency)
            .where(in_ids(GroupDelinquency.group_id, ordered))
            .options(selectinload(GroupDelinquency.plan).selectinload(DelinquencyPlan.steps))
            .with_for_update(skip_locked=True)
        )
    }
    read = _Read(
        book=PlanBook(session, ordered, as_of),
        done={
            (g, e, k, key)
            for g, e, k, key in session.execute(
                select(
                    DelinquencyAction.group_id,
                    DelinquencyAction.episode,
                    DelinquencyAction.kind,
                    DelinquencyAction.key,
                ).where(in_ids(DelinquencyAction.group_id, ordered))
            )
        },
        people=recipients(session, ordered),
        suspense=suspense_by_name(session),
    )
    for group_id in ordered:
        pos = found.get(group_id) or Position(group_id, ZERO, None, ZERO, ZERO, ZERO)
        row = rows.get(group_id)
        if row is None and group_id in existing:
            result.skipped += 1  # another sweep is moving it now
            continue
        if row is not None and row.last_swept_on is not None and as_of < row.last_swept_on:
            result.skipped += 1
            continue
        result.groups += 1
        counted = result.counts()
        try:
            with session.begin_nested():
                if row is None:
                    row = GroupDelinquency(group_id=group_id, state=S.CURRENT, episode=0)
                    session.add(row)
                with session.no_autoflush:
                    _sweep_group(session, read, groups[group_id], row, pos, as_of, result)
        except IntegrityError:  # another sweep took this group's row or action first
            result.restore(counted)
            result.skipped += 1
    session.flush()
    return result


def _sweep_group(
    session: Session,
    read: _Read,
    group: EmployerGroup,
    row: GroupDelinquency,
    pos: Position,
    as_of: date,
    result: SweepResult,
) -> None:
    policy = group.policy_on(as_of)
    overdue = pos.overdue
    for _ in range(len(S)):  # each pass moves at most one state
        state = row.state
        if state in SETTLED:
            plan = read.book.plan_for(group)
            if pos.oldest_due_on is None or overdue <= threshold(plan, policy):
                break
            _start_episode(row, plan, policy, group, pos)
            _move(session, row, S.PAST_DUE, result,
                  reason=f"{format_dollars(overdue)} overdue after credits, over the "
                  f"threshold of {format_dollars(threshold(plan, policy))}",
                  effective_on=pos.oldest_due_on + timedelta(days=1), as_of=as_of)  # fmt: skip
            continue
        plan = row.plan
        limit = threshold(plan, policy)
        if state in RUNNING and overdue <= limit:
            _move(session, row, S.CURRENT, result,
                  reason=f"paid: {format_dollars(overdue)} overdue, at or under the threshold",
                  effective_on=as_of, as_of=as_of)  # fmt: skip
            break
        if state is S.CANCELLED:
            # A balance held by a bankruptcy stay is not paid: no reinstatement.
            paid = overdue <= limit and not pos.stayed
            if paid and row.reinstate_until and as_of <= row.reinstate_until:
                restore_coverage(session, group, row, on=as_of, actor=None)
                _move(session, row, S.REINSTATED, result,
                      reason=f"paid in full within the reinstatement window (to "
                      f"{row.reinstate_until})", effective_on=as_of, as_of=as_of)  # fmt: skip
            break
        if state not in RUNNING or clock_paused(row, as_of):
            break
        if state is S.PAST_DUE:
            if as_of < clock.notice_due_on(plan, row.grace_starts_on):
                break
            row.notice_sent_on = as_of
            row.terminates_on = clock.terminates_on(plan, row.grace_ends_on, as_of)
            _move(session, row, S.IN_GRACE, result,
                  reason=f"grace notice sent; grace ends {row.grace_ends_on}, cancellation "
                  f"possible from {row.terminates_on}", effective_on=as_of, as_of=as_of)  # fmt: skip
            _stage_actions(session, read, group, row, S.IN_GRACE, pos, as_of, result)
            continue
        if state is S.IN_GRACE:
            if as_of < row.terminates_on:
                break
            held = moratorium_on(session, group.state, as_of)
            if held is not None:
                _hold(session, read, row, held, as_of, result)
                break
            effective = row.terminates_on
            if row.held_by_moratorium_id is not None:
                before = session.get(Moratorium, row.held_by_moratorium_id)
                if before is not None and before.ends_on is not None:
                    effective = max(effective, before.ends_on + timedelta(days=1))
            _move(session, row, S.PENDING_CANCELLATION, result,
                  reason=f"grace ended {row.grace_ends_on} and the notice of "
                  f"{row.notice_sent_on} is served; {format_dollars(overdue)} unpaid",
                  effective_on=effective, as_of=as_of)  # fmt: skip
            _stage_actions(session, read, group, row, S.PENDING_CANCELLATION, pos, as_of, result)
            continue
        break  # pending cancellation waits for a supervisor (states.cancel_for_nonpayment)
    if row.state in RUNNING and not clock_paused(row, as_of):
        _steps(session, read, group, row, pos, as_of, result)
    if row.overdue_amount != overdue:
        row.overdue_amount = overdue
    if row.last_swept_on is None or row.last_swept_on < as_of:
        row.last_swept_on = as_of
    session.flush()


def _start_episode(row, plan, policy, group, pos: Position) -> None:
    row.episode += 1
    row.plan_id, row.plan = plan.id, plan
    row.grace_starts_on = pos.oldest_due_on
    row.grace_ends_on = clock.grace_ends_on(plan, policy, pos.oldest_due_on, group.state)
    row.notice_sent_on = row.terminates_on = None
    row.cancelled_on = row.coverage_ends_on = row.reinstate_until = None
    row.held_by_moratorium_id = None


def _move(session, row, to, result: SweepResult, **kw) -> None:
    before = row.state
    move(session, row, to, **kw)
    result.transitions += 1
    result.moves.append(
        {"group_id": row.group_id, "from": before.value, "to": to.value,
         "effective_on": kw["effective_on"].isoformat()}
    )  # fmt: skip


def _done(read: _Read, row, kind: ActionKind, key: str) -> bool:
    """Already done in this episode (else marked done now: the caller does it)."""
    mark = (row.group_id, row.episode, kind, key)
    if mark in read.done:
        return True
    read.done.add(mark)
    return False


def _stage_actions(session, read, group, row, stage, pos, as_of, result: SweepResult) -> None:
    if not _done(read, row, ActionKind.NOTICE, stage.value):
        notice = send_stage_notice(
            session, group, row, stage, as_of, pos,
            checked=True, people=read.people, suspense=read.suspense,
        )  # fmt: skip
        result.notices_sent += 1
        result.messages += notice.messages
    _late_fee(session, read, group, row, stage, pos, as_of, result)


def late_fee_amount(plan, overdue: Decimal) -> Decimal:
    """The plan's late fee on `overdue` dollars: flat, or the percent of it rounded half-up
    to the cent; zero without a fee."""
    if plan.late_fee_kind is LateFeeKind.FLAT:
        return plan.late_fee_amount
    if plan.late_fee_kind is LateFeeKind.PERCENT:
        return cents(overdue * plan.late_fee_percent / 100)
    return ZERO


def _late_fee(session, read, group, row, stage, pos: Position, as_of, result) -> None:
    plan = row.plan
    if stage.value not in (plan.late_fee_stages or []):
        return
    amount = late_fee_amount(plan, pos.overdue)
    if amount <= 0 or _done(read, row, ActionKind.LATE_FEE, stage.value):
        return
    action = DelinquencyAction(
        group_id=row.group_id, episode=row.episode, kind=ActionKind.LATE_FEE,
        key=stage.value, done_on=as_of, amount=amount, content={"overdue": str(pos.overdue)},
    )  # fmt: skip
    session.add(action)
    session.flush()
    adjustment = charge_fee(
        session, group, amount=amount, on=as_of, reason_code="late_fee",
        source_type="collections", source_id=action.id,
        note=f"late fee: {stage.value.replace('_', ' ')}, delinquency episode {row.episode}",
    )  # fmt: skip
    session.flush()
    action.adjustment_id = adjustment.id
    result.late_fees += 1
    result.late_fee_total += amount


def _hold(session, read, row, held: Moratorium, as_of, result: SweepResult) -> None:
    if row.held_by_moratorium_id != held.id:
        row.held_by_moratorium_id = held.id
    key = f"moratorium-{held.id}"
    if _done(read, row, ActionKind.HOLD, key):
        return
    session.add(
        DelinquencyAction(
            group_id=row.group_id, episode=row.episode, kind=ActionKind.HOLD, key=key,
            done_on=as_of, subject=f"cancellation held by the {held.jurisdiction} moratorium",
            content={"moratorium_id": held.id, "reason": held.reason,
                     "ends_on": held.ends_on.isoformat() if held.ends_on else None},
        )
    )  # fmt: skip
    result.held += 1


def _steps(session, read, group, row, pos, as_of, result: SweepResult) -> None:
    for step in row.plan.steps:
        if as_of < row.grace_starts_on + timedelta(days=step.day):
            continue
        kind, key = STEP_KINDS[step.action], f"step-{step.id}"
        if _done(read, row, kind, key):
            continue
        if kind is ActionKind.TASK:
            session.add(
                DelinquencyAction(
                    group_id=row.group_id, episode=row.episode, kind=kind, key=key,
                    done_on=as_of, amount=pos.overdue, subject=step.name,
                    content={"state": row.state.value, "day": step.day},
                )
            )  # fmt: skip
            session.flush()
        else:
            action = send_stage_notice(
                session, group, row, row.state, as_of, pos, kind=kind, key=key,
                checked=True, people=read.people, suspense=read.suspense,
            )  # fmt: skip
            result.messages += action.messages
        result.steps += 1


def last_sweep_on(session: Session) -> date | None:
    """The latest day any group was swept as of, or None before the first sweep."""
    return session.scalar(select(func.max(GroupDelinquency.last_swept_on)))


def sweep_book(session: Session, as_of: date) -> SweepResult:
    """The whole book's sweep as the CLI and the job run it: `run_sweep` as of `as_of`, refused
    for a day before the last sweep. Money is read as it stands (the kept balances hold every
    payment so far), so a sweep dated before the last one would date today's payments back and
    decide the past with them; a day on or after the last sweep is the catch-up the sweep is
    made for (module docstring). Flush only."""
    last = last_sweep_on(session)
    if last is not None and as_of < last:
        raise ValidationFailed(
            f"the book was last swept as of {last}: a sweep as of {as_of} would read today's "
            f"balances as that day's. Sweep as of {last} or later (today, by default)"
        )
    return run_sweep(session, as_of)


def sweep_job(session: Session, as_of: str | None = None) -> dict:
    """The background job (and cron's): `sweep_book` as of `as_of` (ISO date; default today,
    UTC), committed; returns SweepResult.as_dict()."""
    from datetime import UTC, datetime

    on = date.fromisoformat(as_of) if as_of else datetime.now(UTC).date()
    try:
        result = sweep_book(session, on)
        session.commit()
    except Exception:
        session.rollback()
        raise
    return result.as_dict()
