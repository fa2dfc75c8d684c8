"""An agency's commission statement for one month's run: its lines (group, product, coverage
month, kind, premium basis, rate, commission, holds, releases, chargebacks) and totals, read
from the run's lines (a closed month's never change), and its CSV/XLSX through the one safe
writer. Counts and amounts only: no member is named."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core.errors import CommissionError
from billing_core.exports import Column, Sheet, csv_bytes, xlsx_bytes
from billing_core.models import Broker, BrokerAgency, EmployerGroup, Product
from billing_core.models.commissions import (
    CommissionLine,
    CommissionLineKind,
    CommissionRun,
)
from billing_core.money import ZERO


@dataclass(frozen=True)
class StatementLine:
    group_number: str
    group_name: str
    product: str
    coverage_month: date
    kind: CommissionLineKind
    premium_basis: Decimal
    rate: Decimal | None
    employees: int | None
    split_percent: Decimal
    broker: str
    amount: Decimal
    note: str


@dataclass
class AgencyStatement:
    agency: BrokerAgency
    run: CommissionRun
    lines: list[StatementLine] = field(default_factory=list)

    def total(self, *kinds: CommissionLineKind) -> Decimal:
        return sum((x.amount for x in self.lines if not kinds or x.kind in kinds), ZERO)

    @property
    def totals(self) -> dict[str, Decimal]:
        """Dollars by kind and the net (what the run owes the agency, holds taken off)."""
        out = {kind.value: self.total(kind) for kind in CommissionLineKind}
        out["net"] = self.total()
        return out


def agency_statement(session: Session, run: CommissionRun, agency: BrokerAgency) -> AgencyStatement:
    """The agency's lines of `run`, by group, product and coverage month (an open run's so far:
    a preview until it is approved)."""
    rows = session.execute(
        select(
            EmployerGroup.group_number,
            EmployerGroup.name,
            Product.name,
            CommissionLine.coverage_month,
            CommissionLine.kind,
            CommissionLine.premium_basis,
            CommissionLine.rate,
            CommissionLine.employees,
            CommissionLine.split_percent,
            Broker.full_name,
            CommissionLine.amount,
            CommissionLine.note,
        )
        .join(EmployerGroup, EmployerGroup.id == CommissionLine.group_id)
        .join(Product, Product.id == CommissionLine.product_id)
        .outerjoin(Broker, Broker.id == CommissionLine.broker_id)
        .where(CommissionLine.run_id == run.id, CommissionLine.agency_id == agency.id)
        .order_by(
            EmployerGroup.group_number,
            Product.name,
            CommissionLine.coverage_month,
            CommissionLine.id,
        )
    ).all()
    statement = AgencyStatement(agency=agency, run=run)
    for row in rows:
        values = list(row)
        values[9] = values[9] or ""
        statement.lines.append(StatementLine(*values))
    return statement


def agency_by_code(session: Session, code: str) -> BrokerAgency:
    agency = session.scalar(select(BrokerAgency).where(BrokerAgency.code == code))
    if agency is None:
        raise CommissionError(f"no agency has the code {code!r}")
    return agency


STATEMENT_COLUMNS = (
    Column("Group"),
    Column("Employer"),
    Column("Product"),
    Column("Coverage month", "period"),
    Column("Line"),
    Column("Premium basis", "money"),
    Column("Rate", "rate"),
    Column("Employees", "integer"),
    Column("Split %", "rate"),
    Column("Writing broker"),
    Column("Commission", "money"),
    Column("Held", "money"),
    Column("Released", "money"),
    Column("Chargeback", "money"),
    Column("Note"),
)


def _row(line: StatementLine) -> tuple:
    def only(kind: CommissionLineKind):
        return line.amount if line.kind is kind else None

    earned = line.amount if line.kind in (
        CommissionLineKind.EARNED, CommissionLineKind.ADJUSTMENT
    ) else None  # fmt: skip
    return (
        line.group_number,
        line.group_name,
        line.product,
        line.coverage_month,
        line.kind.value,
        line.premium_basis,
        line.rate,
        line.employees,
        line.split_percent,
        line.broker,
        earned,
        only(CommissionLineKind.HOLD),
        only(CommissionLineKind.RELEASE),
        only(CommissionLineKind.CHARGEBACK),
        line.note,
    )


def statement_sheet(statement: AgencyStatement) -> Sheet:
    title = f"{statement.agency.code} {statement.run.month:%Y-%m}"
    return Sheet(title, STATEMENT_COLUMNS, [_row(line) for line in statement.lines])


def statement_csv(statement: AgencyStatement) -> bytes:
    return csv_bytes(STATEMENT_COLUMNS, [_row(line) for line in statement.lines])


def statement_xlsx(statement: AgencyStatement) -> bytes:
    return xlsx_bytes([statement_sheet(statement)])
