"""The monthly commission run: what each agency is owed in total as of the month's last day
(earning.py) less what the lines already stated give it, written as new lines (earned,
adjustment, chargeback, hold, release) and posted per agency (postings.py). Running a month
again adds only what changed since, so nothing is paid twice; a month that is approved is
closed, and a correction found later lands in the next month's run. A supervisor who did not
run it approves the run, which releases its payables.

Line kinds: earned (commission on premium newly counted), chargeback (premium credited back,
refunded, returned or written off: the basis fell), adjustment (a change on a month already on
a closed statement, or with no change of premium: a rate, band, split or broker of record
change), hold (new commission of a group in grace or later, `earning.HOLD_STATES`) and release
(the held amount once the group is current or reinstated, or set against a chargeback)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_core import audit
from billing_core.authority import Authority
from billing_core.commissions.earning import Target, TargetKey, commission_targets, held_groups
from billing_core.commissions.postings import approval_entries, run_entries
from billing_core.commissions.schedules import ScheduleBook, add_months
from billing_core.db import copy_rows
from billing_core.errors import CommissionError
from billing_core.models import BrokerAgency, User
from billing_core.models.commissions import (
    CommissionLine,
    CommissionLineKind,
    CommissionRun,
    CommissionRunStatus,
)
from billing_core.money import ZERO

STATED = (
    CommissionLineKind.EARNED,
    CommissionLineKind.ADJUSTMENT,
    CommissionLineKind.CHARGEBACK,
)


@dataclass
class Recorded:
    """What the lines already written give one key."""

    commission: Decimal = ZERO
    basis: Decimal = ZERO
    held: Decimal = ZERO  # held and not released (>= 0)
    on_closed: bool = False


@dataclass
class RunResult:
    run: CommissionRun
    lines: list[dict] = field(default_factory=list)  # the new lines of this pass
    closed: bool = False  # the month was approved already: nothing added
    problems: list[str] = field(default_factory=list)

    @property
    def commission_total(self) -> Decimal:
        return sum((line["amount"] for line in self.lines), ZERO)


def month_end(month: date) -> date:
    return add_months(month, 1) - timedelta(days=1)


def _recorded(session: Session) -> dict[TargetKey, Recorded]:
    rows = (
        session.connection()
        .execute(
            select(
                CommissionLine.agency_id,
                CommissionLine.broker_id,
                CommissionLine.group_id,
                CommissionLine.product_id,
                CommissionLine.coverage_month,
                CommissionLine.kind,
                CommissionRun.status,
                _money_sum(CommissionLine.amount),
                _money_sum(CommissionLine.premium_basis),
            )
            .join(CommissionRun, CommissionRun.id == CommissionLine.run_id)
            .group_by(
                CommissionLine.agency_id,
                CommissionLine.broker_id,
                CommissionLine.group_id,
                CommissionLine.product_id,
                CommissionLine.coverage_month,
                CommissionLine.kind,
                CommissionRun.status,
            )
        )
        .all()
    )
    out: dict[TargetKey, Recorded] = defaultdict(Recorded)
    for agency_id, broker_id, group_id, product_id, month, kind, status, amount, basis in rows:
        item = out[(agency_id, broker_id, group_id, product_id, month)]
        if kind in STATED:
            item.commission += amount
            item.basis += basis
        else:
            item.held -= amount  # a hold is negative, a release positive
        if status is CommissionRunStatus.APPROVED:
            item.on_closed = True
    return out


def _money_sum(column):
    from billing_core.ledger import money_sum

    return money_sum(column)


def _kind_and_note(
    target: Target | None, delta: Decimal, basis_delta: Decimal, recorded: Recorded
) -> tuple[CommissionLineKind, str]:
    if target is None:
        return CommissionLineKind.ADJUSTMENT, "broker of record or schedule changed"
    if delta < 0 and basis_delta < 0:
        return CommissionLineKind.CHARGEBACK, "premium credited back, refunded or written off"
    if recorded.on_closed:
        if basis_delta > 0:
            return CommissionLineKind.ADJUSTMENT, "premium counted after a closed statement"
        return CommissionLineKind.ADJUSTMENT, "rate, band, split or broker change"
    if delta > 0 and basis_delta > 0:
        return CommissionLineKind.EARNED, ""
    return CommissionLineKind.ADJUSTMENT, "rate, band, split or broker change"


def plan_lines(
    targets: dict[TargetKey, Target], recorded: dict[TargetKey, Recorded], held: set[int]
) -> list[dict]:
    """The new lines that bring the stated lines to `targets` (pure): per key, its change of
    commission, and holds and releases by the group's standing."""
    out = []
    for key in sorted(set(targets) | set(recorded), key=_sort_key):
        agency_id, broker_id, group_id, product_id, month = key
        target = targets.get(key)
        was = recorded.get(key, Recorded())
        delta = (target.amount if target else ZERO) - was.commission
        basis_delta = (target.basis if target else ZERO) - was.basis
        base = {
            "agency_id": agency_id,
            "broker_id": broker_id,
            "group_id": group_id,
            "product_id": product_id,
            "coverage_month": month,
            "schedule_id": target.schedule_id if target else None,
            "split_percent": target.split_percent if target else Decimal("100.00"),
        }
        if delta != 0:
            kind, note = _kind_and_note(target, delta, basis_delta, was)
            out.append(
                {
                    **base,
                    "kind": kind,
                    "premium_basis": basis_delta,
                    "employees": target.employees if target else None,
                    "rate": target.rate if target else None,
                    "amount": delta,
                    "note": note,
                }
            )
        release = ZERO
        if group_id in held:
            if delta > 0:
                out.append({**base, **_no_basis(), "kind": CommissionLineKind.HOLD,
                            "amount": -delta, "note": "group delinquent: held until cured"})  # fmt: skip
            elif delta < 0 and was.held > 0:
                release = min(-delta, was.held)
                note = "held commission set against the chargeback"
        elif was.held > 0:
            release, note = was.held, "group current again: hold released"
        if release:
            out.append({**base, **_no_basis(), "kind": CommissionLineKind.RELEASE,
                        "amount": release, "note": note})  # fmt: skip
    return out


def _no_basis() -> dict:
    return {"premium_basis": ZERO, "employees": None, "rate": None}


def _sort_key(key: TargetKey):
    agency_id, broker_id, group_id, product_id, month = key
    return (agency_id, group_id, product_id, month, broker_id or 0)


def planned_lines(session: Session, as_of: date) -> tuple[list[dict], list[str]]:
    """The lines a pass as of `as_of` writes (and the problems it finds), computed without
    writing: the run writes them, the preview (`preview.py`) shows them."""
    targets, problems = commission_targets(session, as_of, ScheduleBook(session))
    return plan_lines(targets, _recorded(session), held_groups(session, as_of)), problems


def check_month(session: Session, month: date) -> None:
    """A month before the latest run is refused: its corrections belong to a later run."""
    latest = session.scalar(select(func.max(CommissionRun.month)))
    if latest is not None and month < latest:
        raise CommissionError(
            f"commissions have been run for {latest:%b %Y}; {month:%b %Y} cannot be run again "
            f"(a correction to it appears in the next month's run)"
        )


def _runner(actor: User | None, actor_email: str) -> tuple[str, int | None]:
    return (actor.email if actor else actor_email), (actor.id if actor else None)


def run_commissions(
    session: Session,
    month: date,
    *,
    actor: User | None = None,
    actor_email: str = "cli",
    today: date | None = None,
) -> RunResult:
    """Run commissions for `month` (any day in it): events dated up to its last day count.
    The month's run is made on first use and each call is a pass adding only what changed;
    an approved month adds nothing (`closed`). A month before the latest run is refused: its
    corrections belong to the latest open or next run. Lines and postings are flushed, not
    committed. `today` dates the postings (default: the month's last day)."""
    month = month.replace(day=1)
    check_month(session, month)
    run = session.scalar(
        select(CommissionRun).where(CommissionRun.month == month).with_for_update()
    )
    email, user_id = _runner(actor, actor_email)
    if run is None:
        run = CommissionRun(
            month=month, as_of=month_end(month), run_by=email, run_by_ids=",", passes=0
        )
        session.add(run)
        session.flush()
    if run.status is CommissionRunStatus.APPROVED:
        return RunResult(run=run, closed=True)
    planned, problems = planned_lines(session, run.as_of)
    run.passes += 1
    if email not in run.run_by.split(", "):
        run.run_by = f"{run.run_by}, {email}"[:254]
    if user_id is not None and not run.ran(user_id):
        run.run_by_ids = f"{run.run_by_ids}{user_id},"
    if planned:
        agencies = {
            a.id: a
            for a in session.scalars(
                select(BrokerAgency).where(
                    BrokerAgency.id.in_(sorted({line["agency_id"] for line in planned}))
                )
            )
        }
        entries = run_entries(
            session,
            agencies,
            [(line["agency_id"], line["kind"], line["amount"]) for line in planned],
            on=today or run.as_of,
            run_id=run.id,
            run_pass=run.passes,
            month=month,
            created_by_id=user_id,
        )
        _write_lines(session, run, planned, entries)
    session.flush()
    audit.record(
        session,
        "commission.run",
        actor=actor,
        actor_email=None if actor else actor_email,
        target=run,
        detail={"month": month.isoformat(), "pass": run.passes, "new_lines": len(planned)},
    )
    return RunResult(run=run, lines=planned, problems=problems)


LINE_COLUMNS = {
    "run_id": "int4",
    "run_pass": "int4",  # nosec B105 # a column name and its type, not a password
    "agency_id": "int4",
    "broker_id": "int4",
    "group_id": "int4",
    "product_id": "int4",
    "coverage_month": "date",
    "kind": "varchar",
    "schedule_id": "int4",
    "premium_basis": "numeric",
    "employees": "int4",
    "rate": "numeric",
    "split_percent": "numeric",
    "amount": "numeric",
    "note": "varchar",
    "journal_entry_id": "int4",
    "created_at": "timestamp",
}


def _write_lines(session: Session, run: CommissionRun, planned: list[dict], entries) -> None:
    """The pass's lines in one COPY on PostgreSQL (thousands in a first run over a book)."""
    now = datetime.now(UTC)
    if session.get_bind().dialect.name == "postgresql":
        now = now.replace(tzinfo=None)  # the column is UTC without a zone
    fixed = {"run_id": run.id, "run_pass": run.passes, "created_at": now}
    rows = []
    for line in planned:
        entry = entries.get(line["agency_id"])
        values = {**line, **fixed, "kind": line["kind"].value,
                  "journal_entry_id": entry.id if entry is not None else None}  # fmt: skip
        rows.append(tuple(values[name] for name in LINE_COLUMNS))
    copy_rows(session, CommissionLine.__table__, LINE_COLUMNS, rows)


def approve_run(
    session: Session, run: CommissionRun, *, actor: User, today: date | None = None
) -> dict[int, Decimal]:
    """A supervisor (or admin) who did not run it approves the month's run: its lines are
    closed (a later correction lands in the next run) and each agency's net for the run moves
    to commission payable. Returns the net per agency id (dollars)."""
    rule = Authority(
        what="approving a commission run",
        needs_supervisor=True,
        second_person=True,
        requested_by=frozenset(int(i) for i in run.run_by_ids.strip(",").split(",") if i),
        reason="only a supervisor approves a commission run",
    )
    rule.check(actor)
    if run.status is CommissionRunStatus.APPROVED:
        raise CommissionError(f"the {run.month:%b %Y} commission run is already approved")
    if run.passes == 0:
        raise CommissionError(f"the {run.month:%b %Y} commission run has not been run yet")
    nets = dict(
        session.execute(
            select(CommissionLine.agency_id, _money_sum(CommissionLine.amount))
            .where(CommissionLine.run_id == run.id)
            .group_by(CommissionLine.agency_id)
        ).all()
    )
    agencies = {
        a.id: a
        for a in session.scalars(select(BrokerAgency).where(BrokerAgency.id.in_(sorted(nets))))
    }
    approval_entries(
        session,
        agencies,
        nets,
        on=today or run.as_of,
        run_id=run.id,
        month=run.month,
        created_by_id=actor.id,
    )
    run.status = CommissionRunStatus.APPROVED
    run.approved_by_id = actor.id
    run.approved_at = datetime.now(UTC)
    session.flush()
    audit.record(
        session,
        "commission.run_approved",
        actor=actor,
        target=run,
        detail={
            "month": run.month.isoformat(),
            "payable": {str(k): str(v) for k, v in nets.items()},
        },
    )
    return nets


def run_for(session: Session, month: date) -> CommissionRun:
    run = session.scalar(select(CommissionRun).where(CommissionRun.month == month.replace(day=1)))
    if run is None:
        raise CommissionError(f"commissions have not been run for {month:%b %Y}")
    return run


def agency_summaries(session: Session, run: CommissionRun, lines: list[dict] | None = None):
    """Per agency: the new lines of a pass (`lines`) or all of the run's lines, totalled by
    kind, with the net (dollars as text)."""
    if lines is None:
        rows = session.execute(
            select(CommissionLine.agency_id, CommissionLine.kind, CommissionLine.amount).where(
                CommissionLine.run_id == run.id
            )
        ).all()
    else:
        rows = [(line["agency_id"], line["kind"], line["amount"]) for line in lines]
    totals: dict[int, dict] = {}
    for agency_id, kind, amount in rows:
        item = totals.setdefault(
            agency_id, {"lines": 0, **{k.value: ZERO for k in CommissionLineKind}, "net": ZERO}
        )
        item["lines"] += 1
        item[kind.value] += amount
        item["net"] += amount
    agencies = {
        a.id: a
        for a in session.scalars(select(BrokerAgency).where(BrokerAgency.id.in_(sorted(totals))))
    } if totals else {}  # fmt: skip
    return [
        {
            "agency": agencies[agency_id].code,
            "name": agencies[agency_id].name,
            **{k: (v if k == "lines" else str(v)) for k, v in item.items()},
        }
        for agency_id, item in sorted(totals.items(), key=lambda kv: agencies[kv[0]].code)
    ]


__all__ = [
    "RunResult",
    "agency_summaries",
    "approve_run",
    "check_month",
    "month_end",
    "planned_lines",
    "plan_lines",
    "run_commissions",
    "run_for",
]
