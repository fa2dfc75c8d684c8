"""Commission schedules: set up per product line and agency (or for every agency without its
own), effective-dated, and the arithmetic of each kind: a flat percent of premium, graded
percents by band of the policy year's premium, dollars per employee per month; each with
first-year and renewal rates (first year: the 12 months from the group's original effective
date). Amounts are dollars, half-up to the cent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core import audit
from billing_core.errors import CommissionError
from billing_core.models import BrokerAgency, EmployerGroup, User
from billing_core.models.commissions import (
    CommissionBasis,
    CommissionKind,
    CommissionRate,
    CommissionSchedule,
    PolicyYear,
)
from billing_core.models.enums import LineOfCoverage
from billing_core.money import ZERO, D, cents

HUNDRED = Decimal(100)


def add_months(day: date, months: int) -> date:
    """The first of the month `months` after `day`'s month."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def policy_year_kind(group: EmployerGroup, coverage_month: date) -> PolicyYear:
    """First year for coverage months before the 12th month after the group's original
    effective date's month; renewal after. (`group`: or anything with its
    `original_effective_date`, as the run's plain rows.)"""
    first_renewal = add_months(group.original_effective_date, 12)
    return PolicyYear.FIRST_YEAR if coverage_month < first_renewal else PolicyYear.RENEWAL


def policy_year_start(group: EmployerGroup, coverage_month: date) -> date:
    """The first month of the policy year `coverage_month` falls in (it starts in the group's
    renewal month)."""
    back = (coverage_month.month - group.renewal_month) % 12
    return add_months(coverage_month, -back)


@dataclass(frozen=True)
class Band:
    floor: Decimal
    rate: Decimal  # percent (or dollars per employee for PER_EMPLOYEE)


def _check_bands(kind: CommissionKind, label: str, bands: Sequence[Band]) -> list[str]:
    errors = []
    if not bands:
        return [f"{label}: give at least one rate"]
    if kind is not CommissionKind.GRADED and len(bands) != 1:
        errors.append(f"{label}: a {kind.value.replace('_', ' ')} schedule has one rate")
    floors = [b.floor for b in bands]
    if floors[0] != 0:
        errors.append(f"{label}: the first band must start at $0.00")
    if any(later <= earlier for earlier, later in zip(floors, floors[1:], strict=False)):
        errors.append(f"{label}: band floors must rise (got {', '.join(map(str, floors))})")
    for band in bands:
        if band.rate < 0:
            errors.append(f"{label}: a rate cannot be negative ({band.rate})")
        if kind is not CommissionKind.PER_EMPLOYEE and band.rate > HUNDRED:
            errors.append(f"{label}: a percent cannot exceed 100 ({band.rate})")
    return errors


def set_schedule(
    session: Session,
    *,
    line: LineOfCoverage,
    kind: CommissionKind,
    effective_from: date,
    rates: Sequence[tuple[str | Decimal, str | Decimal]],
    renewal_rates: Sequence[tuple[str | Decimal, str | Decimal]] | None = None,
    agency: BrokerAgency | None = None,
    basis: CommissionBasis = CommissionBasis.COLLECTED,
    effective_to: date | None = None,
    name: str | None = None,
    actor: User | None = None,
) -> CommissionSchedule:
    """A new schedule for `agency` (None: every agency without its own) on `line` from
    `effective_from`. `rates` are (band floor in dollars, rate) pairs for first-year months:
    one pair (floor 0) for a flat percent or dollars per employee per month, ascending floors
    from 0 for graded; `renewal_rates` the same for renewal months (default: the first-year
    rates). The schedule in force before it ends the day before (history is kept); one that
    starts on or after `effective_from` is refused (end it first)."""
    first = [Band(D(f), D(r)) for f, r in rates]
    renewal = [Band(D(f), D(r)) for f, r in renewal_rates] if renewal_rates else first
    errors = _check_bands(kind, "first-year rates", first)
    if renewal_rates:
        errors += _check_bands(kind, "renewal rates", renewal)
    if effective_to is not None and effective_to < effective_from:
        errors.append("the schedule cannot end before it starts")
    whose = (
        CommissionSchedule.agency_id == agency.id
        if agency is not None
        else CommissionSchedule.agency_id.is_(None)
    )
    same = select(CommissionSchedule).where(CommissionSchedule.line_of_coverage == line, whose)
    later = [s for s in session.scalars(same) if s.effective_from >= effective_from]
    if later:
        errors.append(
            f"a {line.value} schedule for {agency.code if agency else 'every agency'} already "
            f"starts on {later[0].effective_from.isoformat()}; end or correct that one first"
        )
    if errors:
        raise CommissionError("; ".join(errors))
    for open_one in session.scalars(
        same.where(
            (CommissionSchedule.effective_to.is_(None))
            | (CommissionSchedule.effective_to >= effective_from)
        )
    ):
        open_one.effective_to = effective_from - timedelta(days=1)
    schedule = CommissionSchedule(
        name=name or f"{line.value} {kind.value} from {effective_from.isoformat()}",
        agency_id=agency.id if agency else None,
        line_of_coverage=line,
        kind=kind,
        basis=basis,
        effective_from=effective_from,
        effective_to=effective_to,
        created_by_id=actor.id if actor else None,
    )
    for year, bands in ((PolicyYear.FIRST_YEAR, first), (PolicyYear.RENEWAL, renewal)):
        for band in bands:
            schedule.rates.append(
                CommissionRate(policy_year=year, band_floor=band.floor, rate=band.rate)
            )
    session.add(schedule)
    session.flush()
    if actor is not None:
        audit.record(
            session,
            "commission.schedule_set",
            actor=actor,
            target=schedule,
            detail={
                "agency": agency.code if agency else None,
                "line": line.value,
                "kind": kind.value,
                "effective_from": effective_from.isoformat(),
            },
        )
    return schedule


class ScheduleBook:
    """Every schedule, read once: which governs an agency's product line in a month (its own,
    else the one for every agency), and its bands by policy year."""

    def __init__(self, session: Session):
        self.schedules = list(
            session.scalars(select(CommissionSchedule).order_by(CommissionSchedule.effective_from))
        )
        rates = session.scalars(select(CommissionRate).order_by(CommissionRate.band_floor))
        self.bands: dict[tuple[int, PolicyYear], list[Band]] = {}
        for rate in rates:
            self.bands.setdefault((rate.schedule_id, rate.policy_year), []).append(
                Band(rate.band_floor, rate.rate)
            )
        self._governing: dict[tuple, CommissionSchedule | None] = {}
        self._by_key: dict[tuple[int | None, LineOfCoverage], list[CommissionSchedule]] = {}
        for schedule in self.schedules:
            self._by_key.setdefault((schedule.agency_id, schedule.line_of_coverage), []).append(
                schedule
            )

    def governing(
        self, agency_id: int, line: LineOfCoverage, month: date
    ) -> CommissionSchedule | None:
        asked = (agency_id, line, month)
        if asked not in self._governing:
            self._governing[asked] = self._find(agency_id, line, month)
        return self._governing[asked]

    def _find(self, agency_id: int, line: LineOfCoverage, month: date) -> CommissionSchedule | None:
        for key in ((agency_id, line), (None, line)):
            for schedule in reversed(self._by_key.get(key, [])):
                if schedule.effective_from <= month and (
                    schedule.effective_to is None or month <= schedule.effective_to
                ):
                    return schedule
        return None

    def bands_of(self, schedule: CommissionSchedule, year: PolicyYear) -> list[Band]:
        return self.bands.get((schedule.id, year), [])

    def per_employee_scope(self) -> tuple[frozenset[LineOfCoverage], frozenset[int] | None]:
        """The lines some schedule pays per employee on, and the agencies whose groups' employees
        need counting (None: every agency's, a schedule for every agency pays per employee)."""
        paying = [s for s in self.schedules if s.kind is CommissionKind.PER_EMPLOYEE]
        lines = frozenset(s.line_of_coverage for s in paying)
        if any(s.agency_id is None for s in paying):
            return lines, None
        return lines, frozenset(s.agency_id for s in paying)


def flat_commission(basis: Decimal, percent: Decimal) -> Decimal:
    """`percent` of `basis` dollars, half-up to the cent."""
    return cents(basis * percent / HUNDRED)


def graded_commission(cumulative: Decimal, bands: Sequence[Band]) -> Decimal:
    """Commission on the first `cumulative` dollars of a policy year's premium by `bands`
    (each band's percent on the dollars between its floor and the next band's), half-up to the
    cent. A month's commission is this at the month's cumulative premium less this at the
    month before's: the band position carries across the policy year."""
    if cumulative <= 0:
        return ZERO if cumulative == 0 else flat_commission(cumulative, bands[0].rate)
    total = Decimal(0)
    for band, following in zip(bands, [*bands[1:], None], strict=True):
        if cumulative <= band.floor:
            break
        top = cumulative if following is None else min(cumulative, following.floor)
        total += (top - band.floor) * band.rate / HUNDRED
    return cents(total)


def per_employee_commission(employees: int, dollars: Decimal, share: Decimal) -> Decimal:
    """`dollars` per employee for `employees` employees, times `share` (the part of the
    month's billed premium collected, 0 to 1), half-up to the cent."""
    return cents(Decimal(employees) * dollars * share)
