"""The double-entry ledger API: the chart of accounts, one posting function that refuses an
unbalanced entry, reversal (the only way to correct), and balances derived from postings.

Amounts passed to `post_entry` are signed dollars: positive is a debit, negative a credit.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, insert, select, type_coerce
from sqlalchemy.orm import Session

from billing_core.db import Money
from billing_core.errors import UnbalancedEntry
from billing_core.ledger.kept import keep_postings
from billing_core.models import EmployerGroup, JournalEntry, LedgerAccount, Posting
from billing_core.models.enums import AccountKind
from billing_core.money import ZERO, cents


class Chart(enum.Enum):
    """The chart of accounts of DOMAIN.md. `per_group` accounts exist once per employer group
    (number `1100-G-1001`); the others once for the carrier."""

    CASH = ("1000", "Cash in bank", AccountKind.ASSET, False)
    RECEIVABLE = ("1100", "Accounts receivable", AccountKind.ASSET, True)
    UNAPPLIED_CASH = ("2100", "Unapplied cash (credit balance)", AccountKind.LIABILITY, True)
    SUSPENSE = ("2150", "Suspense (unidentified cash)", AccountKind.LIABILITY, False)
    REFUNDS_PAYABLE = ("2200", "Refunds payable", AccountKind.LIABILITY, True)
    # Suspense cash approved to go back to a sender no group was found for.
    SUSPENSE_REFUNDS_PAYABLE = (
        "2210",
        "Refunds payable (unidentified cash)",
        AccountKind.LIABILITY,
        False,
    )
    COMMISSION_PAYABLE = ("2300", "Commission payable", AccountKind.LIABILITY, False)
    # Kept per agency by billing_core.commissions.ledger (number `2305-<agency code>`):
    # commission a run has earned, waiting for its approval; and commission held back while a
    # group is delinquent.
    COMMISSION_PENDING = ("2305", "Commission awaiting approval", AccountKind.LIABILITY, False)
    COMMISSION_HELD = ("2310", "Commission held (group delinquent)", AccountKind.LIABILITY, False)
    PREMIUM_REVENUE = ("4000", "Premium revenue", AccountKind.REVENUE, False)
    FEE_INCOME = ("4100", "Fee income", AccountKind.REVENUE, False)
    WRITE_OFF = ("5100", "Premium write-off", AccountKind.EXPENSE, False)
    COMMISSION_EXPENSE = ("5400", "Commission expense", AccountKind.EXPENSE, False)
    # Collections (issue 20, item 8): a charged-off receivable, the agency's fee, and money
    # recovered after a charge-off (never premium: the receivable stays closed).
    BAD_DEBT = ("5200", "Bad debt (charged off)", AccountKind.EXPENSE, False)
    COLLECTION_EXPENSE = ("5300", "Collection agency fees", AccountKind.EXPENSE, False)
    RECOVERIES = ("4200", "Bad debt recoveries", AccountKind.REVENUE, False)

    def __init__(self, code: str, title: str, kind: AccountKind, per_group: bool):
        self.code = code
        self.title = title
        self.kind = kind
        self.per_group = per_group


@dataclass(frozen=True)
class Leg:
    """One side of an entry: `amount` in dollars, positive = debit, negative = credit;
    `invoice_id` ties a receivable posting to the open item it belongs to."""

    account: LedgerAccount
    amount: Decimal
    invoice_id: int | None = None


def account_number(chart: Chart, group: EmployerGroup | None = None) -> str:
    """The number of `chart`'s ledger account (of `group` for a per-group account): a read may
    join the account by it instead of loading it first."""
    if chart.per_group and group is None:
        raise ValueError(f"{chart.title} is kept per group; pass the group")
    return f"{chart.code}-{group.group_number}" if chart.per_group else chart.code


def account(session: Session, chart: Chart, group: EmployerGroup | None = None) -> LedgerAccount:
    """The ledger account for `chart` (and `group` for per-group accounts), created on first use."""
    number = account_number(chart, group)
    cache = session.info.setdefault("ledger_accounts", {})
    found = cache.get(number)
    if found is not None and found in session:
        return found
    found = session.scalar(select(LedgerAccount).where(LedgerAccount.number == number))
    if found is None:
        title = f"{chart.title} — {group.group_number}" if chart.per_group else chart.title
        found = LedgerAccount(
            number=number,
            code=chart.code,
            name=title,
            kind=chart.kind,
            group_id=group.id if chart.per_group else None,
        )
        session.add(found)
        session.flush()
    cache[number] = found
    return found


@dataclass(frozen=True)
class EntrySpec:
    """One journal entry to post: the legs must balance (see `post_entries`)."""

    entry_date: date
    memo: str
    source_type: str
    legs: Sequence[Leg]
    source_id: int | None = None
    idempotency_key: str | None = None
    created_by_id: int | None = None
    reverses_entry_id: int | None = None


def _check_balanced(spec: EntrySpec) -> None:
    for leg in spec.legs:
        if leg.amount == 0 or cents(leg.amount) != leg.amount:
            raise UnbalancedEntry(
                f"{spec.memo}: every posting must be a non-zero whole number of cents, "
                f"got {leg.amount}"
            )
    total = sum((leg.amount for leg in spec.legs), ZERO)
    if not spec.legs or total != 0:
        raise UnbalancedEntry(f"{spec.memo}: debits and credits differ by {total}")


def group_accounts(
    session: Session, chart: Chart, groups: Iterable[EmployerGroup]
) -> dict[int, LedgerAccount]:
    """`chart`'s account of each group (by group id), creating the missing ones in one flush."""
    groups = list(groups)
    cache = session.info.setdefault("ledger_accounts", {})
    numbers = {g.id: f"{chart.code}-{g.group_number}" for g in groups}
    found = (
        {
            a.number: a
            for a in session.scalars(
                select(LedgerAccount).where(LedgerAccount.number.in_(list(numbers.values())))
            )
        }
        if numbers
        else {}
    )
    missing = [g for g in groups if numbers[g.id] not in found]
    for group in missing:
        found[numbers[group.id]] = LedgerAccount(
            number=numbers[group.id],
            code=chart.code,
            name=f"{chart.title} — {group.group_number}",
            kind=chart.kind,
            group_id=group.id,
        )
    if missing:
        session.add_all(found[numbers[g.id]] for g in missing)
        session.flush()
    cache.update(found)
    return {gid: found[number] for gid, number in numbers.items()}


def post_entries(session: Session, specs: Sequence[EntrySpec]) -> list[JournalEntry]:
    """Post many balanced entries at once (a billing run posts one per invoice). Every entry is
    checked before anything is written: one unbalanced entry and none is posted. The kept
    balances (`billing_core.ledger.kept`) change with the postings, in the same transaction."""
    for spec in specs:
        _check_balanced(spec)
    entries = [
        JournalEntry(
            entry_date=spec.entry_date,
            memo=spec.memo[:300],
            source_type=spec.source_type,
            source_id=spec.source_id,
            idempotency_key=spec.idempotency_key,
            created_by_id=spec.created_by_id,
            reverses_entry_id=spec.reverses_entry_id,
        )
        for spec in specs
    ]
    session.add_all(entries)
    session.flush()
    rows = [
        {
            "entry_id": entry.id,
            "account_id": leg.account.id,
            "debit": leg.amount if leg.amount > 0 else ZERO,
            "credit": -leg.amount if leg.amount < 0 else ZERO,
            "invoice_id": leg.invoice_id,
        }
        for entry, spec in zip(entries, specs, strict=True)
        for leg in spec.legs
    ]
    if rows:
        session.execute(insert(Posting.__table__), rows)
        keep_postings(session, [leg for spec in specs for leg in spec.legs])
    for entry in entries:
        session.expire(entry, ["postings"])
    return entries


def post_entry(
    session: Session,
    *,
    entry_date: date,
    memo: str,
    source_type: str,
    legs: Sequence[Leg],
    source_id: int | None = None,
    idempotency_key: str | None = None,
    created_by_id: int | None = None,
    reverses_entry_id: int | None = None,
) -> JournalEntry:
    """Post one balanced journal entry and return it.

    Each leg must be a whole number of cents and not zero; debits must equal credits, else
    `UnbalancedEntry` and nothing is written. With `idempotency_key`, a second call with the same
    key returns the entry already posted instead of posting again."""
    if idempotency_key is not None:
        existing = session.scalar(
            select(JournalEntry).where(JournalEntry.idempotency_key == idempotency_key)
        )
        if existing is not None:
            return existing
    spec = EntrySpec(
        entry_date=entry_date,
        memo=memo,
        source_type=source_type,
        legs=legs,
        source_id=source_id,
        idempotency_key=idempotency_key,
        created_by_id=created_by_id,
        reverses_entry_id=reverses_entry_id,
    )
    return post_entries(session, [spec])[0]


def reverse_entry(
    session: Session,
    entry: JournalEntry,
    *,
    entry_date: date,
    memo: str,
    source_type: str,
    source_id: int | None = None,
    created_by_id: int | None = None,
) -> JournalEntry:
    """Post the mirror image of `entry` (every debit becomes a credit of the same amount on the
    same account and open item). An entry can be reversed once (the database enforces it)."""
    legs = [
        Leg(account=p.account, amount=p.credit - p.debit, invoice_id=p.invoice_id)
        for p in entry.postings
    ]
    return post_entry(
        session,
        entry_date=entry_date,
        memo=memo,
        source_type=source_type,
        source_id=source_id,
        legs=legs,
        created_by_id=created_by_id,
        reverses_entry_id=entry.id,
    )


def money_sum(column):
    """SUM of a Money column read back as Money (0.00 when there are no rows): a scaled integer
    on SQLite, so a bare func.sum would come back in cents."""
    return type_coerce(func.coalesce(func.sum(column), 0), Money())


def account_balance(session: Session, ledger_account: LedgerAccount) -> Decimal:
    """Debits minus credits on the account (an asset's balance; a liability's is the negative)."""
    debit, credit = session.execute(
        select(money_sum(Posting.debit), money_sum(Posting.credit)).where(
            Posting.account_id == ledger_account.id
        )
    ).one()
    return debit - credit


def open_item_balances(
    session: Session, receivable: LedgerAccount, invoice_ids: Iterable[int]
) -> dict[int, Decimal]:
    """Open balance (debits minus credits on the receivable account) of each invoice in
    `invoice_ids`; invoices with no receivable postings are 0.00."""
    ids = list(invoice_ids)
    balances = dict.fromkeys(ids, ZERO)
    if not ids:
        return balances
    rows = session.execute(
        select(Posting.invoice_id, money_sum(Posting.debit), money_sum(Posting.credit))
        .where(Posting.account_id == receivable.id, Posting.invoice_id.in_(ids))
        .group_by(Posting.invoice_id)
    )
    for invoice_id, debit, credit in rows:
        balances[invoice_id] = debit - credit
    return balances


def entry_is_balanced(entry: JournalEntry) -> bool:
    return sum((p.debit - p.credit for p in entry.postings), ZERO) == 0
