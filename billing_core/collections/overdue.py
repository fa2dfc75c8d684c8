"""What a group owes past due, for the collections clock, read from the balances kept beside
the ledger (billing_core.ledger.kept: each invoice's open receivable with its due date, each
per-group account's balance), never from a scan of postings, in one query per figure for any
number of groups.

Balances are the kept ones (every posting so far); `as_of` decides only which bills are past
due (due before it), so the sweep dates its clock by `as_of` and reads money as it stands."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache

from sqlalchemy import Date, Select, and_, bindparam, case, func, select
from sqlalchemy.orm import Session

from billing_core.db import built_once
from billing_core.ledger import Chart, money_sum
from billing_core.ledger.receivables import AGING_KEYS, kept_aging_columns
from billing_core.models.collections import DelinquencyDispute
from billing_core.models.ledger import KeptBalance, KeptOpenItem
from billing_core.money import ZERO


@dataclass(frozen=True)
class Position:
    """A group's overdue position on `as_of`, in dollars: bills past due (`past_due_bills`,
    the oldest due on `oldest_due_on`), credits that offset them (unapplied cash and credit
    balances left on bills), amounts in open dispute, and what is overdue after both
    (`overdue`, never below zero): the cure amount. Under a bankruptcy's automatic stay
    (collections.bankruptcy) the pre-petition bills are left out of `past_due_bills` and
    `oldest_due_on`; `stayed` is what they hold past due."""

    group_id: int
    past_due_bills: Decimal
    oldest_due_on: date | None
    unapplied_cash: Decimal
    bill_credits: Decimal
    disputed: Decimal
    stayed: Decimal = ZERO

    @property
    def credits(self) -> Decimal:
        return self.unapplied_cash + self.bill_credits

    @property
    def overdue(self) -> Decimal:
        return max(self.past_due_bills - self.credits - self.disputed, ZERO)


def positions(
    session: Session, as_of: date, group_ids: Iterable[int] | Select | None = None
) -> dict[int, Position]:
    """Position of every group with a kept open item, unapplied cash or an open dispute (or of
    `group_ids` only, a list or a SELECT of them; a group owing nothing and holding nothing is
    left out). Three queries."""
    return _read_positions(session, as_of, group_ids, with_aging=False)[0]


def positions_with_aging(
    session: Session, as_of: date, group_ids: Iterable[int] | Select | None = None
) -> tuple[dict[int, Position], dict[int, dict[str, Decimal]]]:
    """`positions`, and per group its kept aging as of `as_of` (each of
    ledger.receivables.AGING_KEYS, and "credit": its unapplied cash, negative when the
    account owes) from the same reads of the kept balances: the collections worklist shows
    both for every delinquent group on every view."""
    return _read_positions(session, as_of, group_ids, with_aging=True)


def _read_positions(
    session: Session, as_of: date, group_ids, *, with_aging: bool
) -> tuple[dict[int, Position], dict[int, dict[str, Decimal]]]:
    aging_on = as_of if with_aging else None
    values: dict = {"as_of": as_of}
    if isinstance(group_ids, Select):
        items, cash, disputes = _position_statements(aging_on, group_ids)
    else:
        if group_ids is not None:
            values["group_ids"] = sorted(set(group_ids))
        items, cash, disputes = _kept_position_statements(aging_on, group_ids is not None)
    found: dict[int, list] = {}
    aging: dict[int, dict[str, Decimal]] = {}

    def row(group_id: int) -> list:
        return found.setdefault(group_id, [ZERO, None, ZERO, ZERO, ZERO])

    for group_id, past_due, oldest, bill_credits, *buckets in session.execute(items, values):
        r = row(group_id)
        r[0], r[1], r[3] = past_due, oldest, bill_credits
        if with_aging:
            aging[group_id] = {**dict(zip(AGING_KEYS, buckets, strict=True)), "credit": ZERO}
    for group_id, credit in session.execute(cash, values):
        if credit > 0:
            row(group_id)[2] += credit
        if with_aging:
            aging.setdefault(group_id, {**dict.fromkeys(AGING_KEYS, ZERO), "credit": ZERO})
            aging[group_id]["credit"] += credit
    for group_id, disputed in session.execute(disputes, values):
        row(group_id)[4] = disputed
    stayed = _stayed(session, as_of, found)
    owed = {
        group_id: Position(group_id, r[0], r[1], r[2], r[3], r[4], stayed.get(group_id, ZERO))
        for group_id, r in found.items()
    }
    return owed, aging


# A kept statement's groups (`_kept_position_statements`): written into the SQL text at
# execution (a sweep's thousands of ids, as db.in_ids does), the statement built once.
GROUP_IDS = bindparam("group_ids", expanding=True, literal_execute=True)


@lru_cache(maxsize=32)
def _kept_position_statements(aging_on: date | None, of_groups: bool) -> tuple:
    """`_position_statements` built once (db.built_once's reason: the employer's pages ask on
    every view, the sweep per group) per day of the aging asked (its buckets' bounds are
    dates; None without it) and whether the groups are named (GROUP_IDS) or all."""
    return _position_statements(aging_on, GROUP_IDS if of_groups else None)


def _position_statements(aging_on: date | None, ids) -> tuple[Select, Select, Select]:
    """The open items, the unapplied cash and the open disputes per group (`as_of` bound by
    name), with the aging's buckets on `aging_on` when asked; `ids`: a SELECT of the groups,
    GROUP_IDS, or None for every group."""
    as_of = bindparam("as_of", type_=Date)
    late = and_(KeptOpenItem.due_on < as_of, KeptOpenItem.open_amount > 0)
    items = select(
        KeptOpenItem.group_id,
        money_sum(case((late, KeptOpenItem.open_amount), else_=0)),
        func.min(case((late, KeptOpenItem.due_on), else_=None)),
        money_sum(case((KeptOpenItem.open_amount < 0, -KeptOpenItem.open_amount), else_=0)),
        *(kept_aging_columns(aging_on) if aging_on is not None else ()),
    ).group_by(KeptOpenItem.group_id)
    # The aging's credit is any non-zero unapplied cash; a position counts only a credit.
    cash = select(KeptBalance.group_id, -KeptBalance.balance).where(
        KeptBalance.code == Chart.UNAPPLIED_CASH.code,
        KeptBalance.balance != 0 if aging_on is not None else KeptBalance.balance < 0,
    )
    disputes = (
        select(DelinquencyDispute.group_id, money_sum(DelinquencyDispute.amount))
        .where(DelinquencyDispute.resolved_on.is_(None), DelinquencyDispute.opened_on <= as_of)
        .group_by(DelinquencyDispute.group_id)
    )
    if ids is not None:
        items = items.where(KeptOpenItem.group_id.in_(ids))
        cash = cash.where(KeptBalance.group_id.in_(ids))
        disputes = disputes.where(DelinquencyDispute.group_id.in_(ids))
    return items, cash, disputes


def _stayed(session: Session, as_of: date, found: dict[int, list]) -> dict[int, Decimal]:
    """Take the pre-petition bills of groups under a bankruptcy stay out of `found` (past due
    and oldest due date from the post-petition bills only); returns each such group's stayed
    past-due dollars. One query when any group of `found` has a stay, else none."""
    from billing_core.collections.bankruptcy import stays

    if not found:
        return {}
    # Filings are few: read them all and keep the groups in `found`.
    filed = {gid: on for gid, on in stays(session, on=as_of).items() if gid in found}
    if not filed:
        return {}
    items: dict[int, list[tuple[date, date, Decimal]]] = {gid: [] for gid in filed}
    for gid, period_start, due_on, amount in session.execute(
        _late_items_of_groups(), {"group_ids": sorted(filed), "as_of": as_of}
    ):
        items[gid].append((period_start, due_on, amount))
    held: dict[int, Decimal] = {}
    for gid, late in items.items():
        past_due, oldest, stayed = _split_stayed(late, filed[gid])
        found[gid][0], found[gid][1] = past_due, oldest
        if stayed:
            held[gid] = stayed
    return held


def stayed_bill(period_start: date, filed_on: date | None) -> bool:
    """Whether a bill for the period starting `period_start` is pre-petition under a stay
    filed on `filed_on` (None: no stay), held out of collection."""
    return filed_on is not None and period_start < filed_on


def _split_stayed(
    late: Iterable[tuple[date, date, Decimal]], filed_on: date | None
) -> tuple[Decimal, date | None, Decimal]:
    """A group's bills past due, (period_start, due_on, open_amount) each, under a stay filed
    on `filed_on` (None: no stay): what is past due and the oldest due date of the bills it
    leaves to collect (a period starting on or after the filing), and what it holds (those
    starting before)."""
    past_due, oldest, held = ZERO, None, ZERO
    for period_start, due_on, amount in late:
        if stayed_bill(period_start, filed_on):
            held += amount
            continue
        past_due += amount
        oldest = due_on if oldest is None else min(oldest, due_on)
    return past_due, oldest, held


@built_once
def _late_items_of_groups():
    """`_stayed`'s statement: the named groups' bills past due, with their periods."""
    from billing_core.models import Invoice

    return (
        select(
            Invoice.group_id, Invoice.period_start, KeptOpenItem.due_on, KeptOpenItem.open_amount
        )
        .join(Invoice, Invoice.id == KeptOpenItem.invoice_id)
        .where(
            KeptOpenItem.group_id.in_(GROUP_IDS),
            KeptOpenItem.due_on < bindparam("as_of", type_=Date),
            KeptOpenItem.open_amount > 0,
        )
    )


def position(session: Session, group_id: int, as_of: date) -> Position:
    """One group's Position (all zero when it owes and holds nothing)."""
    return positions(session, as_of, [group_id]).get(
        group_id, Position(group_id, ZERO, None, ZERO, ZERO, ZERO)
    )


def position_from(
    group_id: int,
    late: Iterable[tuple[date, date, Decimal]],
    *,
    bill_credits: Decimal,
    unapplied_cash: Decimal,
    disputed: Decimal,
    filed_on: date | None,
) -> Position:
    """One group's Position from its facts read by the caller (the employer's clock reads them
    with the rest of its page in one statement): `late`, its bills past due on the day (due
    before it, open amount above zero) as (period_start, due_on, open_amount); `bill_credits`,
    the credit balances left on its bills (dollars, positive); `unapplied_cash`, its credit of
    unapplied cash (positive, zero when the account owes); `disputed`, its open disputes
    opened by the day; `filed_on`, its bankruptcy stay's filing date on the day (None: no
    stay). The same figures and the same stay rule (`_split_stayed`) as `position`."""
    past_due, oldest, stayed = _split_stayed(late, filed_on)
    return Position(group_id, past_due, oldest, unapplied_cash, bill_credits, disputed, stayed)
