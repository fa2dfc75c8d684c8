"""The receivables aging report: per group, the open receivable by days past due as of any date
(the buckets and their computation are billing_core.ledger.receivables': `aging_buckets`), with
unapplied credit and the net balance, in one aggregate query: over the kept balances as of
today, over the ledger's postings as of a past date. The report's page keeps its answer per
process while nothing it reads has changed (`AGING_MARKER`, billing_core.kept_reads)."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

from sqlalchemy import case, func, literal, null, select, union_all
from sqlalchemy.orm import Session

from billing_core.kept_reads import KeptReads, Marker
from billing_core.ledger import Chart, money_sum
from billing_core.ledger.receivables import (
    AGING_BUCKETS,
    AGING_KEYS,
    aging_buckets,
    aging_columns,
    dated_on_or_before,
    kept_is_current,
)
from billing_core.models import (
    AuditLog,
    EmployerGroup,
    Invoice,
    JournalEntry,
    LedgerAccount,
    Posting,
)
from billing_core.models.ledger import KeptBalance, KeptOpenItem
from billing_core.money import ZERO, percent
from billing_core.reports.framework import (
    AS_OF,
    GROUP,
    GROUP_COLUMNS,
    Filter,
    Report,
    ReportColumn,
    ReportResult,
    group_match,
    register,
    sum_totals,
)


def aging_rows(
    session: Session, as_of: date, group: str | None = None, *, from_postings: bool = False
) -> list[dict]:
    """Per group with an open receivable or unapplied credit as of `as_of` (end of day): the open
    receivable in each of AGING_BUCKETS (by days past each invoice's due date), the total open,
    unapplied credit, net (open - credit), past due and over 90 days past due, in dollars.

    As of today (no entry dated after `as_of`: `receivables.kept_is_current`) it reads the kept
    balances (`billing_core.ledger.kept`: the open items with their due dates and each group's
    unapplied cash), a small table, not the book's postings. A past date, or `from_postings`,
    computes from the postings in one pass (`receivables.aging_columns`, summed beside the
    unapplied cash in the same query); either way the database returns one row per group."""
    if not from_postings and kept_is_current(session, as_of):
        query = _kept_statement(as_of)
    else:
        query = _aging_statement(_ledger_per_group(session, as_of))
    match = group_match(group)
    if match is not None:
        query = query.where(match)
    rows = []
    keys = AGING_KEYS
    # Core rows, not the ORM's: a thousand groups of plain tuples.
    for group_id, number, name, *amounts, credit_balance in (
        session.connection().execute(query).all()
    ):
        total = sum(amounts, ZERO)
        if not total and not credit_balance and not any(amounts):
            continue
        past_due = total - amounts[0]
        row = dict(zip(keys, amounts, strict=True))
        row.update(
            group_id=group_id,
            group_number=number,
            group_name=name,
            total_open=total,
            credit=credit_balance,
            net_balance=total - credit_balance,
            past_due=past_due,
            past_due_percent=percent(past_due, total),
            over_90=amounts[4] + amounts[5],
        )
        rows.append(row)
    return rows


def _aging_statement(per_group):
    """One row per group of `per_group` (its buckets and credit), by group number."""
    return (
        select(
            EmployerGroup.id,
            EmployerGroup.group_number,
            EmployerGroup.name,
            *(per_group.c[k] for k in AGING_KEYS),
            per_group.c.credit,
        )
        .join(per_group, per_group.c.group_id == EmployerGroup.id)
        .order_by(EmployerGroup.group_number)
    )


@lru_cache(maxsize=16)
def _kept_statement(as_of: date):
    """The statement over the kept balances for `as_of`, built once per day asked: building
    and keying it cost more CPU than running it (the aging page asks for today's on every
    view). Its bucket bounds are dates bound as values, so a day's statement is only that
    day's."""
    return _aging_statement(_kept_per_group(as_of))


def _ledger_per_group(session: Session, as_of: date):
    """Per group: the aging buckets and unapplied credit as of `as_of`, from postings."""
    credit = case(
        (LedgerAccount.code == Chart.UNAPPLIED_CASH.code, Posting.credit - Posting.debit),
        else_=0,
    )
    return dated_on_or_before(
        session,
        select(
            LedgerAccount.group_id.label("group_id"),
            *aging_columns(as_of),
            money_sum(credit).label("credit"),
        )
        .select_from(Posting)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .outerjoin(Invoice, Invoice.id == Posting.invoice_id)
        .where(LedgerAccount.code.in_([Chart.RECEIVABLE.code, Chart.UNAPPLIED_CASH.code]))
        .group_by(LedgerAccount.group_id),
        as_of,
    ).subquery("per_group")


def _kept_per_group(as_of: date):
    """Per group: the same columns from the kept open items and the kept unapplied cash (only
    groups with an open item or a credit have rows there)."""
    rows = union_all(
        select(
            KeptOpenItem.group_id,
            KeptOpenItem.due_on,
            KeptOpenItem.open_amount.label("owed"),
            literal(0).label("credit"),
        ),
        select(
            KeptBalance.group_id,
            null().label("due_on"),
            literal(0).label("owed"),
            (-KeptBalance.balance).label("credit"),
        ).where(KeptBalance.code == Chart.UNAPPLIED_CASH.code, KeptBalance.balance != 0),
    ).subquery("kept")
    return (
        select(
            rows.c.group_id,
            *aging_buckets(as_of, rows.c.due_on, rows.c.owed),
            money_sum(rows.c.credit).label("credit"),
        )
        .group_by(rows.c.group_id)
        .subquery("per_group")
    )


AGING_COLUMNS = (
    *GROUP_COLUMNS,
    *(
        ReportColumn(
            key,
            label if key == "current" else f"{label} days",
            "money",
            total=True,
            label=label,
            group="Days past due",
        )
        for key, (label, _, _) in zip(AGING_KEYS, AGING_BUCKETS, strict=True)
    ),
    ReportColumn("total_open", "Open receivable", "money", total=True),
    ReportColumn("credit", "Unapplied credit", "money", total=True),
    ReportColumn("net_balance", "Net balance", "money", total=True),
    ReportColumn("past_due_percent", "% past due", "percent"),
)


def _marker_columns() -> list:
    """What the aging reads changes only with one of these (see AGING_MARKER)."""
    return [
        select(func.max(column)).scalar_subquery()
        for column in (JournalEntry.id, AuditLog.id, EmployerGroup.id)
    ]


# The aging reads, besides the day asked: postings and the kept balances beside them (changed
# only by postings, each a journal entry; whether an entry is dated after the day too), the
# invoices' due dates (fixed when issued, which posts), and the groups' numbers and names (a
# new group, or the set-up import, audited when it changes anything).
AGING_MARKER = Marker(_marker_columns)
# Each answer holds the whole book's rows (about 1.9 MB at 1,010 groups): a few are kept.
_KEPT_ANSWERS = KeptReads(AGING_MARKER, size=8)


def _aging_report(session: Session, filters: dict) -> ReportResult:
    """The report's answer, kept per process while AGING_MARKER reads the same (and on
    PostgreSQL no writer it saw running has finished since: billing_core.kept_reads), per day,
    group filter and choice shown. What invalidates it: any journal entry, audited change or
    new group. A new ReportResult each time (the report's runner puts its rows back sorted);
    the rows themselves are shared by later views, never changed."""
    key = ("aging", filters["as_of"], filters["group"], filters["show"])
    rows, totals, highlights, notes = _KEPT_ANSWERS.get(
        session, key, lambda: _aging_answer(session, filters)
    )
    return ReportResult(rows, dict(totals), highlights=list(highlights), notes=list(notes))


def _aging_answer(session: Session, filters: dict) -> tuple:
    rows = aging_rows(session, filters["as_of"], filters["group"])
    if filters["show"] == "past_due":
        rows = [r for r in rows if r["past_due"] > 0]
    totals = sum_totals(AGING_COLUMNS, rows)
    past_due = sum((r["past_due"] for r in rows), ZERO)
    totals["past_due_percent"] = percent(past_due, totals["total_open"])
    over_90 = totals["days_91_120"] + totals["over_120"]
    return (
        rows,
        totals,
        [
            ("Open receivable", totals["total_open"], "money"),
            ("Past due", past_due, "money"),
            ("Over 90 days past due", over_90, "money"),
            ("Unapplied credit", totals["credit"], "money"),
            ("Groups listed", len(rows), "int"),
        ],
        [
            "Days past due count from each invoice's due date to the as-of date; "
            "'Current' is not yet due.",
            "Net balance = open receivable - unapplied credit (credit not yet used on an invoice).",
        ],
    )


register(
    Report(
        name="aging",
        title="Receivables aging",
        description="Open receivable per group and for the whole book, by days past due, as of "
        "any date; with unapplied credit and the net balance.",
        columns=AGING_COLUMNS,
        filters=(
            AS_OF,
            GROUP,
            Filter(
                "show",
                "Show",
                "choice",
                "all",
                (("all", "Every group with a balance or credit"), ("past_due", "Past due only")),
            ),
        ),
        rows=_aging_report,
        default_sort="group_number",
    )
)
