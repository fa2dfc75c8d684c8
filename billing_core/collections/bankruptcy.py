"""Bankruptcy (issue 20, item 9): a group's filing (date, chapter 7, 11 or 13, case number) and
its end (dismissed or discharged), active and cancelled groups alike.

The automatic stay: bills for coverage periods starting before the filing date are
pre-petition. While the case is filed (and after a discharge, which ends that debt), they are
not collected: `overdue.positions` leaves them out of what is overdue (`Position.stayed` says
how much), so the sweep sends no notice, charges no fee and takes no step over them, the
worklist suggests no call, and the employer's clock does not ask for them. The balance stays
on the ledger and every record is kept. Bills for later periods are collected normally by the
same sweep. A dismissal lifts the stay: everything is collected again.

Filing stops a running clock (past due, in grace, pending cancellation: back to current, with
the reason), so a later overdue post-petition bill starts its own episode with its own dates."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import Date, bindparam, func, select
from sqlalchemy.orm import Session

from billing_core import audit
from billing_core.collections.states import RUNNING, delinquency_of, move
from billing_core.db import built_once
from billing_core.errors import ValidationFailed
from billing_core.models import EmployerGroup, User
from billing_core.models.collections import DelinquencyState
from billing_core.models.collections_legal import BankruptcyFiling, BankruptcyStatus

CHAPTERS = (7, 11, 13)
# A case in these statuses holds the pre-petition balance out of collection.
STAYING = (BankruptcyStatus.FILED, BankruptcyStatus.DISCHARGED)


def stays(
    session: Session, group_ids: Iterable[int] | None = None, on: date | None = None
) -> dict[int, date]:
    """The filing date of each group whose pre-petition balance is held out of collection (its
    latest case filed or discharged, filed on or before `on` when given): bills for periods
    starting before that date are not collected. One query."""
    values: dict = {"on": on}
    if group_ids is not None:
        values["group_ids"] = sorted(set(group_ids))
        if not values["group_ids"]:
            return {}
    statement = _stays(on is not None, group_ids is not None)
    return dict(session.execute(statement, values).all())


@built_once
def _stays(by_day: bool, of_groups: bool):
    """`stays`' statement, built once (db.built_once: the employer's clock asks on every view)."""
    query = (
        select(BankruptcyFiling.group_id, func.max(BankruptcyFiling.filed_on))
        .where(BankruptcyFiling.status.in_(STAYING))
        .group_by(BankruptcyFiling.group_id)
    )
    if by_day:
        query = query.where(BankruptcyFiling.filed_on <= bindparam("on", type_=Date))
    if of_groups:
        query = query.where(
            BankruptcyFiling.group_id.in_(
                bindparam("group_ids", expanding=True, literal_execute=True)
            )
        )
    return query


def filings(session: Session, group_id: int) -> list[BankruptcyFiling]:
    """The group's bankruptcy cases, newest first."""
    return list(
        session.scalars(
            select(BankruptcyFiling)
            .where(BankruptcyFiling.group_id == group_id)
            .order_by(BankruptcyFiling.filed_on.desc(), BankruptcyFiling.id.desc())
        )
    )


def open_filing(session: Session, group_id: int) -> BankruptcyFiling | None:
    """The group's case still open (filed, neither dismissed nor discharged), if any."""
    return session.scalar(
        select(BankruptcyFiling)
        .where(
            BankruptcyFiling.group_id == group_id,
            BankruptcyFiling.status == BankruptcyStatus.FILED,
        )
        .order_by(BankruptcyFiling.id.desc())
        .limit(1)
    )


def file_bankruptcy(
    session: Session,
    group: EmployerGroup,
    *,
    filed_on: date,
    chapter: int,
    case_number: str,
    actor: User,
    today: date,
    court: str = "",
    note: str = "",
) -> BankruptcyFiling:
    """Record that `group` filed for bankruptcy on `filed_on` (not after `today`) under
    `chapter` (7, 11 or 13) as `case_number`. A running clock stops (back to current: the
    pre-petition balance is stayed); a cancelled or referred group keeps its state. Refused
    while another case of the group is open. Audited; flush only."""
    case_number = (case_number or "").strip()
    if chapter not in CHAPTERS:
        raise ValidationFailed("the chapter is 7, 11 or 13")
    if not case_number:
        raise ValidationFailed("enter the case number from the court's notice")
    if filed_on > today:
        raise ValidationFailed(f"the filing date {filed_on} is in the future")
    already = open_filing(session, group.id)
    if already is not None:
        raise ValidationFailed(
            f"case {already.case_number} (filed {already.filed_on}) is still open: record its "
            "dismissal or discharge first"
        )
    filing = BankruptcyFiling(
        group_id=group.id,
        filed_on=filed_on,
        chapter=chapter,
        case_number=case_number[:60],
        court=(court or "").strip()[:200],
        note=(note or "").strip()[:1000],
        recorded_by_id=actor.id,
        recorded_by=actor.email,
    )
    session.add(filing)
    session.flush()
    row = delinquency_of(session, group.id)
    if row.state in RUNNING:
        move(
            session,
            row,
            DelinquencyState.CURRENT,
            reason=f"bankruptcy filed {filed_on} (chapter {chapter}, case {filing.case_number}): "
            "automatic stay, the pre-petition balance is not collected",
            effective_on=filed_on,
            as_of=today,
            actor=actor,
        )
    audit.record(
        session,
        "collections.bankruptcy_filed",
        actor=actor,
        target=filing,
        group_id=group.id,
        detail={"filed_on": filed_on.isoformat(), "chapter": chapter, "case": case_number},
    )
    session.flush()
    return filing


def close_bankruptcy(
    session: Session,
    filing: BankruptcyFiling,
    *,
    status: BankruptcyStatus,
    on: date,
    actor: User,
    today: date,
    note: str = "",
) -> BankruptcyFiling:
    """Record the end of an open case on `on`: dismissed (the stay lifts: the next sweep
    collects the pre-petition balance too) or discharged (that balance is never collected:
    charge it off). Audited; flush only."""
    if filing.status is not BankruptcyStatus.FILED:
        raise ValidationFailed(f"case {filing.case_number} is already {filing.status.value}")
    if status not in (BankruptcyStatus.DISMISSED, BankruptcyStatus.DISCHARGED):
        raise ValidationFailed("a case ends dismissed or discharged")
    if on < filing.filed_on or on > today:
        raise ValidationFailed(
            f"the {status.value} date must be between the filing ({filing.filed_on}) and today"
        )
    filing.status, filing.status_on = status, on
    if note and note.strip():
        filing.note = f"{filing.note}\n{on}: {note.strip()}".strip()[:1000]
    audit.record(
        session,
        f"collections.bankruptcy_{status.value}",
        actor=actor,
        target=filing,
        group_id=filing.group_id,
        detail={"on": on.isoformat(), "case": filing.case_number},
    )
    session.flush()
    return filing
