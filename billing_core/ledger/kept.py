"""Balances kept beside the ledger: each per-group account's balance (`KeptBalance`) and each
invoice's open receivable with its due date (`KeptOpenItem`), changed by `post_entries` in the
same transaction as the postings (the one door), so staff pages read them instead of summing
the book's postings. `kept_balance_errors` checks them against the ledger (the CLI's
`ledger check-balances`); `rebuild_kept_balances` recomputes them from postings (a bulk load
that wrote postings directly, or a repair).

Concurrency: each change is one `INSERT ... ON CONFLICT DO UPDATE SET x = x + :delta` per row,
in key order, so two payments of one group at once both land (the second waits for the first's
row lock on PostgreSQL; SQLite has one writer)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import delete, func, insert, select, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from billing_core.db import Money
from billing_core.models import Invoice, LedgerAccount, Posting
from billing_core.models.ledger import KeptBalance, KeptOpenItem
from billing_core.money import ZERO

RECEIVABLE_CODE = "1100"  # Chart.RECEIVABLE.code (the chart lives in the package's __init__)


def _upsert(session: Session, table, key: str, column: str, rows: list[dict]) -> None:
    """Insert `rows`, or add each row's `column` to the row already kept under `key`."""
    dialect = session.get_bind().dialect.name
    make = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = make(table)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c[key]],
        set_={column: table.c[column] + statement.excluded[column]},
    )
    session.execute(statement, rows)


def keep_postings(session: Session, legs: Iterable) -> None:
    """Add the legs just posted (`Leg`s: account, signed dollars, invoice id) to the kept
    balances: every per-group account's balance, and each invoice's open receivable (its row
    deleted once the balance is zero). Called by `post_entries` only."""
    by_account: dict[int, tuple[int, str, Decimal]] = {}
    by_invoice: dict[int, tuple[int, Decimal]] = {}
    for leg in legs:
        account = leg.account
        if account.group_id is None:
            continue
        _, _, so_far = by_account.get(account.id, (0, "", ZERO))
        by_account[account.id] = (account.group_id, account.code, so_far + leg.amount)
        if account.code == RECEIVABLE_CODE and leg.invoice_id is not None:
            _, open_so_far = by_invoice.get(leg.invoice_id, (0, ZERO))
            by_invoice[leg.invoice_id] = (account.group_id, open_so_far + leg.amount)
    if by_account:
        _upsert(
            session,
            KeptBalance.__table__,
            "account_id",
            "balance",
            [
                {"account_id": aid, "group_id": gid, "code": code, "balance": amount}
                for aid, (gid, code, amount) in sorted(by_account.items())
            ],
        )
    changed = sorted(i for i, (_, amount) in by_invoice.items() if amount != 0)
    if not changed:
        return
    due = dict(
        session.execute(select(Invoice.id, Invoice.due_on).where(Invoice.id.in_(changed))).all()
    )
    _upsert(
        session,
        KeptOpenItem.__table__,
        "invoice_id",
        "open_amount",
        [
            {
                "invoice_id": invoice_id,
                "group_id": by_invoice[invoice_id][0],
                "due_on": due[invoice_id],
                "open_amount": by_invoice[invoice_id][1],
            }
            for invoice_id in changed
        ],
    )
    session.execute(
        delete(KeptOpenItem).where(
            KeptOpenItem.invoice_id.in_(changed), KeptOpenItem.open_amount == 0
        )
    )


def _owed():
    return type_coerce(func.coalesce(func.sum(Posting.debit - Posting.credit), 0), Money())


def _ledger_balances():
    """Per-group account balances summed from postings (what KeptBalance should hold)."""
    return (
        select(
            Posting.account_id,
            LedgerAccount.group_id,
            LedgerAccount.code,
            _owed().label("balance"),
        )
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .where(LedgerAccount.group_id.is_not(None))
        .group_by(Posting.account_id, LedgerAccount.group_id, LedgerAccount.code)
    )


def _ledger_open_items():
    """Invoices' non-zero receivable balances summed from postings (what KeptOpenItem holds)."""
    owed = func.sum(Posting.debit - Posting.credit)
    return (
        select(
            Posting.invoice_id,
            LedgerAccount.group_id,
            Invoice.due_on,
            type_coerce(owed, Money()).label("open_amount"),
        )
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .join(Invoice, Invoice.id == Posting.invoice_id)
        .where(LedgerAccount.code == RECEIVABLE_CODE, LedgerAccount.group_id.is_not(None))
        .group_by(Posting.invoice_id, LedgerAccount.group_id, Invoice.due_on)
        .having(owed != 0)
    )


def kept_balance_errors(session: Session) -> list[str]:
    """Every difference between the kept balances and the ledger, one sentence each (an empty
    list when they agree): an account or an invoice whose kept figure is not the sum of its
    postings, a kept open item the ledger says is closed, or one missing."""
    errors = []
    kept = {
        account_id: (group_id, code, balance)
        for account_id, group_id, code, balance in session.execute(
            select(
                KeptBalance.account_id,
                KeptBalance.group_id,
                KeptBalance.code,
                KeptBalance.balance,
            )
        )
    }
    for account_id, group_id, code, balance in session.execute(_ledger_balances()):
        found = kept.pop(account_id, None)
        if found is None:
            if balance != 0:
                errors.append(
                    f"account {account_id} ({code}, group {group_id}) has postings "
                    f"of {balance} but no kept balance"
                )
        elif found != (group_id, code, balance):
            errors.append(
                f"account {account_id} ({code}, group {group_id}): kept "
                f"{found[2]}, the ledger says {balance}"
            )
    for account_id, (group_id, code, balance) in kept.items():
        if balance != 0:
            errors.append(
                f"account {account_id} ({code}, group {group_id}): kept {balance} without a posting"
            )
    kept_items = {
        invoice_id: (group_id, due_on, amount)
        for invoice_id, group_id, due_on, amount in session.execute(
            select(
                KeptOpenItem.invoice_id,
                KeptOpenItem.group_id,
                KeptOpenItem.due_on,
                KeptOpenItem.open_amount,
            )
        )
    }
    for invoice_id, group_id, due_on, amount in session.execute(_ledger_open_items()):
        found = kept_items.pop(invoice_id, None)
        if found != (group_id, due_on, amount):
            shown = "nothing" if found is None else f"{found[2]} due {found[1]}"
            errors.append(
                f"invoice {invoice_id} (group {group_id}): kept {shown}, the ledger "
                f"says {amount} due {due_on}"
            )
    for invoice_id, (group_id, _, amount) in kept_items.items():
        errors.append(
            f"invoice {invoice_id} (group {group_id}): kept {amount} open, the "
            f"ledger says it is closed"
        )
    return errors


def rebuild_kept_balances(session: Session) -> None:
    """Recompute both kept tables from the postings (flush only; the caller commits), and
    audit it: the audit row also moves the marker of the pages kept per process over these
    tables (`billing_core/kept_reads.py`), which then compute again."""
    from billing_core import audit

    audit.record(session, "ledger.kept_balances_rebuilt", detail={"from": "postings"})
    session.execute(delete(KeptOpenItem))
    session.execute(delete(KeptBalance))
    balances = _ledger_balances().subquery()
    session.execute(
        insert(KeptBalance).from_select(
            ["account_id", "group_id", "code", "balance"], select(balances)
        )
    )
    items = _ledger_open_items().subquery()
    session.execute(
        insert(KeptOpenItem).from_select(
            ["invoice_id", "group_id", "due_on", "open_amount"], select(items)
        )
    )
