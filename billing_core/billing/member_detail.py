"""The member detail a printed invoice lists: each member's premium lines (product, plan,
coverage month, tier, volume, rate, amount), in billing order, as far as the reader may see
them, and only up to a limit beyond which the print points to the spreadsheet download."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_core.billing.invoices import invoice_lines_query
from billing_core.models import Invoice, InvoiceLine, Member, Plan, Product
from billing_core.money import ZERO


@dataclass(frozen=True)
class MemberLine:
    line_number: int
    member_key: str
    name: str
    product: str
    plan: str
    coverage_month: date | None
    tier: str
    volume: Decimal | None
    rate: Decimal | None
    amount: Decimal


@dataclass
class MemberGroup:
    """One member's premium lines, as the member detail prints them."""

    member_key: str
    name: str
    lines: list[MemberLine]

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)


def group_by_member(lines: list[MemberLine]) -> list[MemberGroup]:
    """Consecutive lines of one member together (lines are billed in member order)."""
    groups: list[MemberGroup] = []
    for line in lines:
        if not groups or groups[-1].member_key != line.member_key:
            groups.append(MemberGroup(line.member_key, line.name, []))
        groups[-1].lines.append(line)
    return groups


def member_lines(
    session: Session, invoice: Invoice, subgroup_ids: frozenset[int] | None, limit: int
) -> tuple[int, list[MemberLine]]:
    """(number of premium lines the reader sees, those lines when there are at most `limit`,
    else none). `subgroup_ids`: a reader limited to those locations' members."""
    query = invoice_lines_query(invoice, subgroup_ids=subgroup_ids)
    count = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    if count > limit:
        return count, []
    rows = session.execute(
        query.with_only_columns(
            InvoiceLine.line_number,
            Member.member_key,
            Member.last_name,
            Member.first_name,
            Product.name,
            Plan.name,
            InvoiceLine.coverage_month,
            InvoiceLine.tier,
            InvoiceLine.volume,
            InvoiceLine.rate,
            InvoiceLine.amount,
        )
    )
    return count, [
        MemberLine(
            number,
            key,
            f"{last}, {first}",
            product,
            plan,
            month,
            tier.value if tier else "",
            volume,
            rate,
            amount,
        )
        for number, key, last, first, product, plan, month, tier, volume, rate, amount in rows
    ]
