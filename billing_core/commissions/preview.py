"""What the staff's commission pages show: the months' runs with their totals and who ran and
approved them, each run's totals per agency, and the preview of a month before it is run (the
lines a pass would write, per agency: new lines, earned, adjustments, holds, releases,
chargebacks and net), computed by the run's own `run.planned_lines` without writing anything,
so the preview is what the run then writes, to the cent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from billing_core.commissions.run import check_month, month_end, planned_lines
from billing_core.commissions.schedules import add_months
from billing_core.errors import CommissionError
from billing_core.models import BrokerAgency, BrokerOfRecord, EmployerGroup, User
from billing_core.models.commissions import (
    CommissionLine,
    CommissionLineKind,
    CommissionRun,
    CommissionRunStatus,
    CommissionSchedule,
)
from billing_core.money import ZERO

__all__ = [
    "AgencySetup",
    "AgencyTotals",
    "MonthPreview",
    "RunRow",
    "agency_setup",
    "all_agencies",
    "agency_totals",
    "month_to_run",
    "preview_month",
    "run_rows",
]


@dataclass
class AgencyTotals:
    agency: BrokerAgency
    lines: int = 0
    earned: Decimal = ZERO
    adjustment: Decimal = ZERO
    hold: Decimal = ZERO
    release: Decimal = ZERO
    chargeback: Decimal = ZERO

    @property
    def net(self) -> Decimal:
        return self.earned + self.adjustment + self.hold + self.release + self.chargeback

    def add(self, kind: CommissionLineKind, amount: Decimal, lines: int = 1) -> None:
        self.lines += lines
        setattr(self, kind.value, getattr(self, kind.value) + amount)


def _totals(session: Session, rows) -> list[AgencyTotals]:
    """(agency id, kind, amount, line count) rows as totals per agency, by agency code."""
    rows = list(rows)
    ids = sorted({row[0] for row in rows})
    agencies = (
        {a.id: a for a in session.scalars(select(BrokerAgency).where(BrokerAgency.id.in_(ids)))}
        if ids
        else {}
    )
    out: dict[int, AgencyTotals] = {}
    for agency_id, kind, amount, count in rows:
        item = out.setdefault(agency_id, AgencyTotals(agencies[agency_id]))
        item.add(CommissionLineKind(kind), amount, count)
    return sorted(out.values(), key=lambda t: t.agency.code)


def agency_totals(session: Session, run: CommissionRun) -> list[AgencyTotals]:
    """Each agency's totals over all of the run's lines (what its statement adds up to)."""
    from billing_core.ledger import money_sum

    rows = session.execute(
        select(
            CommissionLine.agency_id,
            CommissionLine.kind,
            money_sum(CommissionLine.amount),
            func.count(),
        )
        .where(CommissionLine.run_id == run.id)
        .group_by(CommissionLine.agency_id, CommissionLine.kind)
    ).all()
    return _totals(session, rows)


@dataclass
class MonthPreview:
    month: date
    as_of: date
    run: CommissionRun | None  # the month's run so far (a pass adds to it), if any
    closed: bool  # approved: a run adds nothing
    agencies: list[AgencyTotals] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    refused: str | None = None  # why the month cannot be run (a later month has been)

    @property
    def new_lines(self) -> int:
        return sum(a.lines for a in self.agencies)

    @property
    def total(self) -> Decimal:
        return sum((a.net for a in self.agencies), ZERO)


def preview_month(session: Session, month: date) -> MonthPreview:
    """What running `month` (any day in it) now would write, per agency, without writing. A
    month before the latest run is closed with the run's own refusal in `refused`; an approved
    month previews as closed with nothing to add."""
    month = month.replace(day=1)
    run = session.scalar(select(CommissionRun).where(CommissionRun.month == month))
    as_of = run.as_of if run is not None else month_end(month)
    try:
        check_month(session, month)
    except CommissionError as error:
        return MonthPreview(month, as_of, run, closed=True, refused=str(error))
    if run is not None and run.status is CommissionRunStatus.APPROVED:
        return MonthPreview(month, as_of, run, closed=True)
    planned, problems = planned_lines(session, as_of)
    agencies = _totals(
        session, ((line["agency_id"], line["kind"], line["amount"], 1) for line in planned)
    )
    return MonthPreview(month, as_of, run, closed=False, agencies=agencies, problems=problems)


def month_to_run(session: Session) -> date | None:
    """The month a run is due for: the latest run's while open, else the month after it."""
    latest = session.scalar(select(CommissionRun).order_by(CommissionRun.month.desc()).limit(1))
    if latest is None:
        return None
    if latest.status is CommissionRunStatus.OPEN:
        return latest.month
    return add_months(latest.month, 1)


@dataclass(frozen=True)
class RunRow:
    run: CommissionRun
    lines: int
    agencies: int
    net: Decimal
    held: Decimal
    chargeback: Decimal
    approved_by: str


def run_rows(session: Session) -> list[RunRow]:
    """Every month's run, latest first, with its totals and who approved it."""
    from billing_core.ledger import money_sum

    sums = {
        (run_id, kind): (amount, count)
        for run_id, kind, amount, count in session.execute(
            select(
                CommissionLine.run_id,
                CommissionLine.kind,
                money_sum(CommissionLine.amount),
                func.count(),
            ).group_by(CommissionLine.run_id, CommissionLine.kind)
        )
    }
    agencies = dict(
        session.execute(
            select(
                CommissionLine.run_id, func.count(func.distinct(CommissionLine.agency_id))
            ).group_by(CommissionLine.run_id)
        ).all()
    )
    runs = list(session.scalars(select(CommissionRun).order_by(CommissionRun.month.desc())))
    approvers = {
        u.id: u.email
        for u in session.scalars(
            select(User).where(User.id.in_([r.approved_by_id for r in runs if r.approved_by_id]))
        )
    }
    out = []
    for run in runs:

        def of(kind: CommissionLineKind, index: int, run_id: int = run.id):
            return sums.get((run_id, kind), (ZERO, 0))[index]

        out.append(
            RunRow(
                run,
                lines=sum(of(k, 1) for k in CommissionLineKind),
                agencies=agencies.get(run.id, 0),
                net=sum((of(k, 0) for k in CommissionLineKind), ZERO),
                held=of(CommissionLineKind.HOLD, 0),
                chargeback=of(CommissionLineKind.CHARGEBACK, 0),
                approved_by=approvers.get(run.approved_by_id, ""),
            )
        )
    return out


@dataclass(frozen=True)
class AgencySetup:
    """An agency's schedules (its own and those every agency without its own uses) and the
    groups it is (or was) broker of record for: read-only (set-up is issue 22's)."""

    agency: BrokerAgency
    schedules: list[CommissionSchedule]
    of_record: list[BrokerOfRecord]
    runs: list[RunRow]  # the runs with lines of this agency, latest first
    group_names: dict[int, str]  # group id -> "number name"


def agency_setup(session: Session, agency: BrokerAgency) -> AgencySetup:
    schedules = list(
        session.scalars(
            select(CommissionSchedule)
            .where(
                (CommissionSchedule.agency_id == agency.id) | CommissionSchedule.agency_id.is_(None)
            )
            .options(selectinload(CommissionSchedule.rates))
            .order_by(
                CommissionSchedule.line_of_coverage,
                CommissionSchedule.agency_id.is_(None),
                CommissionSchedule.effective_from.desc(),
            )
        )
    )
    of_record = list(
        session.scalars(
            select(BrokerOfRecord)
            .where(BrokerOfRecord.agency_id == agency.id)
            .options(selectinload(BrokerOfRecord.writing_broker))
            .order_by(BrokerOfRecord.group_id, BrokerOfRecord.effective_from.desc())
        )
    )
    with_lines = set(
        session.scalars(
            select(CommissionLine.run_id).where(CommissionLine.agency_id == agency.id).distinct()
        )
    )
    runs = [r for r in run_rows(session) if r.run.id in with_lines]
    ids = sorted({b.group_id for b in of_record})
    names = {
        gid: f"{number} {name}"
        for gid, number, name in session.execute(
            select(EmployerGroup.id, EmployerGroup.group_number, EmployerGroup.name).where(
                EmployerGroup.id.in_(ids)
            )
        )
    } if ids else {}  # fmt: skip
    return AgencySetup(agency, schedules, of_record, runs, names)


def all_agencies(session: Session) -> list[BrokerAgency]:
    return list(session.scalars(select(BrokerAgency).order_by(BrokerAgency.code)))
