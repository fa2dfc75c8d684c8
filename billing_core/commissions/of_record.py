"""Broker of record for commissions: effective-dated changes of the agencies (and writing
brokers) of record for a group, with their split percents (between agencies and between
brokers of one agency) that must add up to 100%; and which rows govern a coverage month."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core import audit
from billing_core.errors import CommissionError
from billing_core.models import Broker, BrokerAgency, BrokerOfRecord, EmployerGroup, User
from billing_core.money import D

WHOLE = Decimal("100.00")


@dataclass(frozen=True)
class Split:
    """One agency's (and optionally one of its brokers') share of a group's commission."""

    agency: BrokerAgency
    percent: Decimal | str = WHOLE
    broker: Broker | None = None


def split_errors(splits: Sequence[tuple[int, int | None, Decimal]]) -> list[str]:
    """What is wrong with (agency id, broker id, percent) shares: each above 0, no agency and
    broker twice, and together exactly 100%."""
    errors = []
    if not splits:
        return ["name at least one agency of record"]
    seen = set()
    for agency_id, broker_id, percent in splits:
        if percent <= 0:
            errors.append(f"each share must be above 0% (got {percent}%)")
        if (agency_id, broker_id) in seen:
            errors.append("an agency (and broker) is named twice; give it one share")
        seen.add((agency_id, broker_id))
    total = sum((p for _, _, p in splits), Decimal(0))
    if total != WHOLE:
        errors.append(f"the shares add up to {total}%, not 100%")
    return errors


def change_broker_of_record(
    session: Session,
    group: EmployerGroup,
    splits: Sequence[Split],
    *,
    effective_from: date,
    actor: User | None = None,
) -> list[BrokerOfRecord]:
    """From `effective_from` (the first of a month) the group's commission goes to `splits`;
    the rows in force before end the day before (kept: commission on earlier coverage months
    still follows them). Refused when the shares do not add up to 100%, a broker is not of
    the agency named, or a row already starts on or after `effective_from`."""
    shares = [(s.agency.id, s.broker.id if s.broker else None, D(s.percent)) for s in splits]
    errors = split_errors(shares)
    if effective_from.day != 1:
        errors.append("a broker of record change takes effect on the first of a month")
    for split in splits:
        if split.broker is not None and split.broker.agency_id != split.agency.id:
            errors.append(f"broker {split.broker.npn} is not of agency {split.agency.code}")
    rows = list(session.scalars(select(BrokerOfRecord).where(BrokerOfRecord.group_id == group.id)))
    if any(r.effective_from >= effective_from for r in rows):
        errors.append(
            f"{group.group_number} already has a broker of record from "
            f"{max(r.effective_from for r in rows).isoformat()}; change it from a later month"
        )
    if errors:
        raise CommissionError("; ".join(errors))
    for row in rows:
        if row.effective_to is None or row.effective_to >= effective_from:
            row.effective_to = effective_from - timedelta(days=1)
    made = [
        BrokerOfRecord(
            group_id=group.id,
            agency_id=agency_id,
            writing_broker_id=broker_id,
            effective_from=effective_from,
            commission_split_percent=percent,
        )
        for agency_id, broker_id, percent in shares
    ]
    session.add_all(made)
    session.flush()
    if actor is not None:
        audit.record(
            session,
            "commission.broker_of_record_changed",
            actor=actor,
            target=group,
            group_id=group.id,
            detail={
                "effective_from": effective_from.isoformat(),
                "splits": [
                    {"agency": s.agency.code, "broker": s.broker.npn if s.broker else None,
                     "percent": str(D(s.percent))}
                    for s in splits
                ],
            },
        )  # fmt: skip
    return made


def governing_rows(rows: Iterable[BrokerOfRecord], month: date) -> list[BrokerOfRecord]:
    """The rows that own commission on coverage `month` (its first day): those in force on
    that day; for a group whose first broker of record starts later in the month, those
    starting first in it."""
    rows = list(rows)
    on_first = [
        r
        for r in rows
        if r.effective_from <= month and (r.effective_to is None or r.effective_to >= month)
    ]
    if on_first:
        return on_first
    in_month = [
        r
        for r in rows
        if (r.effective_from.year, r.effective_from.month) == (month.year, month.month)
    ]
    if not in_month:
        return []
    first = min(r.effective_from for r in in_month)
    return [r for r in in_month if r.effective_from == first]
