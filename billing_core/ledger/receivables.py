"""What a group owes and has paid, derived from the ledger: the account summary an employer and
staff see, the payment history with each payment's status and what it paid, and aging of open
invoices into DOMAIN.md's buckets as of any date."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache

from sqlalchemy import Date, and_, bindparam, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from billing_core import ledger
from billing_core.access import (
    SUBGROUP_IDS,
    USER_ID,
    invoice_in_scope,
    payment_in_scope,
    scope_values,
)
from billing_core.billing.invoicing import billed_from_condition, next_bill, next_bill_from
from billing_core.db import built_once
from billing_core.ledger import Chart
from billing_core.models import (
    EmployerGroup,
    GroupCancellation,
    Invoice,
    JournalEntry,
    LedgerAccount,
    Payment,
    PaymentAllocation,
    Posting,
    Refund,
)
from billing_core.models.enums import CreditPolicy, InvoiceStatus, PaymentStatus, RefundStatus
from billing_core.models.ledger import KeptBalance, KeptOpenItem
from billing_core.money import ZERO
from billing_core.payments.allocation import unallocated_amount

# (label, first day past due, last day past due or None): DOMAIN.md's buckets.
AGING_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("Current", -10_000, 0),
    ("1–30", 1, 30),
    ("31–60", 31, 60),
    ("61–90", 61, 90),
    ("91–120", 91, 120),
    ("Over 120", 121, None),
)
PAYMENT_STATUS_LABELS = {
    PaymentStatus.PENDING: "Pending",
    PaymentStatus.SUCCEEDED: "Succeeded",
    PaymentStatus.FAILED: "Failed",
    PaymentStatus.RETURNED: "Returned",
    PaymentStatus.REFUNDED: "Refunded",
}


# The labels of the aging columns (and the aging report's keys), in AGING_BUCKETS order.
AGING_KEYS = ("current", "days_1_30", "days_31_60", "days_61_90", "days_91_120", "over_120")
# A group with money more than this many days past due is late (the 31–60 bucket on).
PAST_DUE_LATE_DAYS = AGING_BUCKETS[1][2]


@dataclass
class Aging:
    """Open receivable in each bucket (dollars), in AGING_BUCKETS order."""

    buckets: list[Decimal] = field(default_factory=lambda: [ZERO] * len(AGING_BUCKETS))

    @property
    def total(self) -> Decimal:
        return sum(self.buckets, ZERO)

    @property
    def past_due(self) -> Decimal:
        return sum(self.buckets[1:], ZERO)


def aging_columns(as_of: date) -> list:
    """The one place aging is computed: the open receivable in each of AGING_BUCKETS on `as_of`,
    as SUM columns labelled AGING_KEYS (Money, dollars) over Posting joined to LedgerAccount and
    Invoice. Each receivable posting is added straight into the bucket of its invoice's days
    past due (as_of - due_on), so an invoice paid in full adds up to zero there and the database
    aggregates into one row per group without a row per invoice. Limit the postings to those
    dated on or before `as_of` with `dated_on_or_before`. The kept open items
    (`kept_aging_columns`) bucket the same way."""
    receivable = LedgerAccount.code == Chart.RECEIVABLE.code
    return aging_buckets(as_of, Invoice.due_on, Posting.debit - Posting.credit, receivable)


def aging_buckets(as_of: date, due_on, owed, *where) -> list:
    """SUM(`owed`) (Money, dollars) into each of AGING_BUCKETS by days past `due_on` on `as_of`,
    labelled AGING_KEYS, counting only rows meeting `where`."""
    return [
        ledger.money_sum(
            case((and_(*where, *_in_days(due_on, as_of, low, high)), owed), else_=0)
        ).label(key)
        for key, (_, low, high) in zip(AGING_KEYS, AGING_BUCKETS, strict=True)
    ]


def aging_of(items: Iterable[tuple[date, Decimal]], as_of: date) -> Aging:
    """Aging on `as_of` of open items already summed (each invoice's due date and its
    receivable balance in dollars, postings dated on or before `as_of`): each balance into the
    bucket of its days past due (`bucket_of`), as `aging_columns` buckets the postings in the
    database, so a statement that has read its invoices' balances ages them without reading
    them again. An item owing nothing adds nothing."""
    buckets = [ZERO] * len(AGING_BUCKETS)
    for due_on, owed in items:
        if owed:
            buckets[bucket_of((as_of - due_on).days)] += owed
    return Aging(buckets)


def kept_aging_columns(as_of: date) -> list:
    """aging_columns over the kept open items (KeptOpenItem: one row per invoice with a non-zero
    receivable balance, kept by the postings): the same buckets without reading a posting.
    Right only for an `as_of` on or after the latest entry date (`kept_is_current`)."""
    return aging_buckets(as_of, KeptOpenItem.due_on, KeptOpenItem.open_amount)


# The accounts whose kept balances the aging reads (KeptOpenItem: the receivable by invoice;
# KeptBalance: each group's unapplied cash).
_AGED_ACCOUNTS = (Chart.RECEIVABLE.code, Chart.UNAPPLIED_CASH.code)


def kept_is_current(session: Session, as_of: date) -> bool:
    """The kept receivable and unapplied cash (every posting, whatever its date) are their
    balances as of `as_of`: no journal entry dated after it posts to them (the usual "as of
    today"). An entry after it to other accounts changes nothing here: a commission run is
    dated at the month's end, and with the check on every entry the aging, Today and the
    past-due line read the whole book's postings for the rest of the month. A past date is
    computed from postings (`aging_columns` with `dated_on_or_before`). The entries after
    `as_of` are few (an index range on the entry date), each checked through its postings."""
    return session.scalar(_aged_entry_after(), {"as_of": as_of}) is None


@built_once
def _aged_entry_after():
    """`kept_is_current`'s statement, built once (db.built_once: Today and the aging ask)."""
    return (
        select(JournalEntry.id)
        .where(
            JournalEntry.entry_date > bindparam("as_of", type_=Date),
            select(Posting.id)
            .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
            .where(Posting.entry_id == JournalEntry.id, LedgerAccount.code.in_(_AGED_ACCOUNTS))
            .exists(),
        )
        .limit(1)
    )


def _in_days(due_on, as_of: date, low: int, high: int | None) -> list:
    """Days past due (as_of - due_on) between `low` and `high` inclusive, as a condition on the
    due date, so the database compares dates the same way on SQLite and PostgreSQL."""
    conditions = [due_on <= as_of - timedelta(days=low)] if low > -10_000 else []
    if high is not None:
        conditions.append(due_on >= as_of - timedelta(days=high))
    return conditions


def dated_on_or_before(session: Session, query, as_of: date):
    """`query` (over Posting) limited to postings dated on or before `as_of` (end of day). When
    no journal entry is dated after it (the usual "as of today") the join to the journal entry
    is left out: it is the most expensive part of the query on a big book."""
    latest = session.scalar(select(func.max(JournalEntry.entry_date)))
    if latest is None or latest <= as_of:
        return query
    return query.join(JournalEntry, JournalEntry.id == Posting.entry_id).where(
        JournalEntry.entry_date <= as_of
    )


def aging_by_group(
    session: Session,
    as_of: date,
    group_ids: Iterable[int] | None = None,
    *,
    subgroup_ids: frozenset[int] | None = None,
) -> dict[int, Aging]:
    """Aging of every group's open invoices as of `as_of` (end of day): each invoice's balance
    from postings dated on or before `as_of`, bucketed by days past its due date (aging_columns).
    One query; a group owing nothing in any bucket is left out. `subgroup_ids`: only the
    invoices a user limited to those subgroups sees. As of today (`kept_is_current`) and for
    the whole group it reads the kept open items instead of the postings."""
    if subgroup_ids is None and kept_is_current(session, as_of):
        values = {} if group_ids is None else {"group_ids": list(group_ids)}
        return {
            group_id: Aging(list(buckets))
            for group_id, *buckets in session.execute(
                _kept_aging_by_group(as_of, group_ids is not None), values
            )
            if any(buckets)
        }
    query = (
        select(LedgerAccount.group_id, *aging_columns(as_of))
        .select_from(Posting)
        .join(LedgerAccount, LedgerAccount.id == Posting.account_id)
        .join(Invoice, Invoice.id == Posting.invoice_id)
        .where(LedgerAccount.code == Chart.RECEIVABLE.code)
        .where(invoice_in_scope(subgroup_ids))
        .group_by(LedgerAccount.group_id)
    )
    if group_ids is not None:
        query = query.where(LedgerAccount.group_id.in_(list(group_ids)))
    return {
        group_id: Aging(list(buckets))
        for group_id, *buckets in session.execute(dated_on_or_before(session, query, as_of))
        if any(buckets)
    }


@lru_cache(maxsize=32)
def _kept_aging_by_group(as_of: date, of_groups: bool):
    """`aging_by_group`'s statement over the kept open items, built once per day asked (its
    buckets' bounds are dates) and whether it names its groups (`group_ids`)."""
    query = select(KeptOpenItem.group_id, *kept_aging_columns(as_of)).group_by(
        KeptOpenItem.group_id
    )
    if of_groups:
        query = query.where(KeptOpenItem.group_id.in_(bindparam("group_ids", expanding=True)))
    return query


@dataclass(frozen=True)
class PastDueGroups:
    """The groups with money past due on a day: how many, how many owe in the 31–60 bucket or
    later (`late`), the dollars past due, and the oldest bucket any of them owes in (an index
    into AGING_BUCKETS; 0 when none)."""

    groups: int
    late: int
    amount: Decimal
    oldest_bucket: int


def past_due_groups(session: Session, today: date) -> PastDueGroups | None:
    """PastDueGroups as of `today` from the kept open items, as `aging_by_group` would give them;
    None when an entry is dated after `today` (`kept_is_current`), for the caller to compute
    from postings. Only items already past due (due before `today`) are read: a group owing
    past due has some past-due bucket above zero, so the current bucket decides nothing.

    When no past-due item is a credit (found through a partial index over the credit items),
    every past-due item owes, so a group owes past due exactly when it has such an item, is
    late exactly when one is more than 30 days past due, and the oldest bucket is the oldest
    item's: each group's oldest due date and sum, without its buckets. With a credit among
    them, the per-group buckets are summed (`_past_due_by_buckets`)."""
    if not kept_is_current(session, today):
        return None
    statements = _past_due_statements()
    credit = session.scalar(statements["credit"], {"today": today})
    if credit is not None:
        return _past_due_by_buckets(session, today)
    groups, late_groups, amount, oldest_due = session.execute(
        statements["owed"],
        {"today": today, "late_before": today - timedelta(days=PAST_DUE_LATE_DAYS)},
    ).one()
    oldest = 0 if oldest_due is None else bucket_of((today - oldest_due).days)
    return PastDueGroups(int(groups), int(late_groups), amount, oldest)


@built_once
def _past_due_statements() -> dict:
    """`past_due_groups`' two statements, built once (db.built_once): whether a past-due
    item is a credit, and the groups owing past due in one aggregate row."""
    past_due = KeptOpenItem.due_on < bindparam("today", type_=Date)
    per_group = (
        select(
            func.min(KeptOpenItem.due_on).label("oldest_due"),
            ledger.money_sum(KeptOpenItem.open_amount).label("owed"),
        )
        .where(past_due)
        .group_by(KeptOpenItem.group_id)
        .subquery("per_group")
    )
    late = per_group.c.oldest_due < bindparam("late_before", type_=Date)
    return {
        "credit": select(KeptOpenItem.invoice_id)
        .where(KeptOpenItem.open_amount < 0, past_due)
        .limit(1),
        "owed": select(
            func.count(),
            func.coalesce(func.sum(case((late, 1), else_=0)), 0),
            ledger.money_sum(per_group.c.owed),
            func.min(per_group.c.oldest_due),
        ).select_from(per_group),
    }


def bucket_of(days_past_due: int) -> int:
    """The index into AGING_BUCKETS of an item `days_past_due` days past its due date."""
    for index, (_, low, high) in enumerate(AGING_BUCKETS):
        if days_past_due >= low and (high is None or days_past_due <= high):
            return index
    return 0


def _past_due_by_buckets(session: Session, today: date) -> PastDueGroups:
    """PastDueGroups from each group's past-due buckets summed (credits may offset debts)."""
    per_group = (
        select(*aging_buckets(today, KeptOpenItem.due_on, KeptOpenItem.open_amount)[1:])
        .where(KeptOpenItem.due_on < today)
        .group_by(KeptOpenItem.group_id)
        .subquery("per_group")
    )
    buckets = [per_group.c[key] for key in AGING_KEYS[1:]]
    past_due = sum(buckets, ZERO)
    beyond_30 = sum(buckets[1:], ZERO)
    owing = past_due > 0
    oldest = case(
        *((bucket > 0, index) for index, bucket in reversed(list(enumerate(buckets, 1)))),
        else_=0,
    )
    groups, late, amount, oldest_bucket = session.execute(
        select(
            func.coalesce(func.sum(case((owing, 1), else_=0)), 0),
            func.coalesce(func.sum(case((and_(owing, beyond_30 > 0), 1), else_=0)), 0),
            ledger.money_sum(case((owing, past_due), else_=0)),
            func.coalesce(func.max(case((owing, oldest), else_=0)), 0),
        ).select_from(per_group)
    ).one()
    return PastDueGroups(int(groups), int(late), amount, int(oldest_bucket))


@dataclass(frozen=True)
class AccountSummary:
    """A group's receivable position on one day (`on`), in dollars: the one source of every
    figure the employer's dashboard and payments page show, so they agree.

    Open items come from the receivable account (postings of every date: a bill issued ahead
    is owed from its issue). A bill due before `on` is past due; one due on `on` or later is
    not yet due, and the earliest such date is the next due date (None when nothing is
    ahead: a past date is never "next due"). Credits are the group's unapplied cash and credit
    balances left on bills (a retro credit larger than its bill), so

        total_due = past_due + not_yet_due - credits   (never below zero)."""

    on: date
    past_due: Decimal
    oldest_past_due_on: date | None
    not_yet_due: Decimal
    next_due_on: date | None
    next_due_amount: Decimal
    credit: Decimal  # unapplied cash: payments with money left over
    bill_credits: Decimal  # credit balances on bills
    pending: Decimal
    last_payment: Payment | None

    @property
    def open_balance(self) -> Decimal:
        """Owed on bills, before credits."""
        return self.past_due + self.not_yet_due

    @property
    def credits(self) -> Decimal:
        return self.credit + self.bill_credits

    @property
    def total_due(self) -> Decimal:
        """Owed today after every credit is used (never below zero)."""
        return max(self.open_balance - self.credits, ZERO)

    @property
    def net_due(self) -> Decimal:
        return self.total_due

    @property
    def past_due_after_credits(self) -> Decimal:
        """What must be paid now to bring the account up to date once credits are used."""
        return max(self.past_due - self.credits, ZERO)

    @property
    def credit_left(self) -> Decimal:
        """Credits beyond everything owed (they stay for later bills)."""
        return max(self.credits - self.open_balance, ZERO)


def open_items(
    session: Session, group: EmployerGroup, subgroup_ids: Iterable[int] | None = None
) -> list[tuple[Invoice, Decimal]]:
    """Every invoice of `group` with a non-zero balance on the receivable (owed, or a credit
    balance), oldest due first. With `subgroup_ids` (a user limited to some locations): the
    bills of those subgroups and the group's consolidated bills, as their invoice list shows.
    Read from the kept open items (`billing_core.ledger.kept`: every posting, whatever its
    date, kept in the posting's transaction), not summed from the postings."""
    scoped = frozenset(subgroup_ids) if subgroup_ids is not None else None
    rows = session.execute(_open_items(scoped is not None), scope_values(group.id, scoped))
    return [(invoice, amount) for invoice, amount in rows]


def is_open_item(open_amount=KeptOpenItem.open_amount):
    """Whether an invoice is an open item: a balance not zero on the receivable (owed, or a
    credit balance) by its KeptOpenItem's `open_amount` (the joined column, or an expression
    giving it)."""
    return open_amount != 0


@built_once
def _open_items(limited: bool):
    """`open_items`' statement, built once (db.built_once: the payments page asks)."""
    query = (
        select(Invoice, KeptOpenItem.open_amount)
        .join(KeptOpenItem, KeptOpenItem.invoice_id == Invoice.id)
        .where(KeptOpenItem.group_id == bindparam("group_id"), is_open_item())
        .order_by(Invoice.due_on, Invoice.id)
    )
    if limited:
        query = query.where(invoice_in_scope(SUBGROUP_IDS))
    return query


def unapplied_credit(session: Session, group: EmployerGroup) -> Decimal:
    """The group's unapplied cash (dollars, positive when the carrier holds credit), every
    posting whatever its date: the kept balance of its unapplied-cash account."""
    balance = session.scalar(_unapplied_cash_kept(), {"group_id": group.id})
    return -(balance or ZERO)


@built_once
def _unapplied_cash_kept():
    return select(KeptBalance.balance).where(
        KeptBalance.group_id == bindparam("group_id"),
        KeptBalance.code == Chart.UNAPPLIED_CASH.code,
    )


def account_summary(
    session: Session,
    group: EmployerGroup,
    today: date,
    *,
    subgroup_ids: Iterable[int] | None = None,
    user_id: int | None = None,
) -> AccountSummary:
    """`group`'s position on `today` (see AccountSummary); `subgroup_ids` limits it to what a
    user limited to those locations (`user_id`) sees: their bills and the group's consolidated
    ones, the payments of access.payment_in_scope, and no credit (the ledger keeps unapplied
    cash per group, so none of it is a location's). Balances are the kept ones (every posting
    whatever its date), read with the invoices' due dates only: no posting is summed."""
    return account_summary_with(
        session, group, today, None, subgroup_ids=subgroup_ids, user_id=user_id
    )[0]


def account_summary_with(
    session: Session,
    group: EmployerGroup,
    today: date,
    joined: Callable | None,
    *,
    subgroup_ids: Iterable[int] | None = None,
    user_id: int | None = None,
    open_due_dates: list[tuple[date, Decimal]] | None = None,
) -> tuple[AccountSummary, object | None]:
    """`account_summary` in its two statements, and one more row its caller wants (None when
    `joined` is None or finds none) read by the second: `joined(limited, with_user)` (a
    module-level function: it keys the kept statement) returns an aliased entity and a
    scalar subquery of the id of its row, over the bindparams of `access.scope_values`
    (`group_id`, and `subgroup_ids` when `limited`, `user_id` when `with_user`). The
    employer's dashboard reads its latest upload so. `open_due_dates`: the open items (due
    date, open amount; those of `is_open_item()` of the invoices the scope sees, oldest due
    first, by due date and invoice id) when the caller read them with its own statement;
    then one statement."""
    scoped = frozenset(subgroup_ids) if subgroup_ids is not None else None
    values = scope_values(group.id, scoped, user_id)
    items = open_due_dates
    if items is None:
        items = session.execute(_open_due_dates(scoped is not None), values).all()
    row = session.execute(
        _payments_and_credit(scoped is not None, user_id is not None, joined=joined), values
    ).one()
    last_payment, pending, kept = row[:3]
    summary = _summary(today, items, last_payment, pending, kept, limited=scoped is not None)
    return summary, (row[3] if joined is not None else None)


def _summary(
    today: date,
    items: list[tuple[date, Decimal]],
    last_payment: Payment | None,
    pending: Decimal,
    kept: Decimal | None,
    *,
    limited: bool,
) -> AccountSummary:
    """AccountSummary from the open items (due date, open amount; oldest due first), the
    last payment, the pending payments and the kept unapplied-cash balance (None: none kept;
    a limited reader's credit is zero)."""
    late = [(due_on, amount) for due_on, amount in items if amount > 0 and due_on < today]
    ahead = [(due_on, amount) for due_on, amount in items if amount > 0 and due_on >= today]
    next_due_on = min((due_on for due_on, _ in ahead), default=None)
    credit = -(kept or ZERO) if not limited else ZERO
    return AccountSummary(
        on=today,
        past_due=sum((amount for _, amount in late), ZERO),
        oldest_past_due_on=late[0][0] if late else None,
        not_yet_due=sum((amount for _, amount in ahead), ZERO),
        next_due_on=next_due_on,
        next_due_amount=sum((amount for due_on, amount in ahead if due_on == next_due_on), ZERO),
        credit=credit,
        bill_credits=-sum((amount for _, amount in items if amount < 0), ZERO),
        pending=pending,
        last_payment=last_payment,
    )


@built_once
def _open_due_dates(limited: bool):
    """`account_summary`'s open bills (due date, open amount), built once (db.built_once)."""
    query = (
        select(Invoice.due_on, KeptOpenItem.open_amount)
        .join(KeptOpenItem, KeptOpenItem.invoice_id == Invoice.id)
        .where(KeptOpenItem.group_id == bindparam("group_id"), is_open_item())
        .order_by(Invoice.due_on, Invoice.id)
    )
    if limited:
        query = query.where(invoice_in_scope(SUBGROUP_IDS))
    return query


@built_once
def _payments_and_credit(
    limited: bool, with_user: bool, with_refunds: bool = False, joined: Callable | None = None
):
    """`account_summary`'s credit, pending payments and last payment in one statement: the
    group's row, with the last payment joined to it (none yet: NULLs) and the two sums beside
    it; built once (db.built_once). `with_refunds`: and the refunds asked for, not yet
    decided (credit_outlook's `being_refunded`), for `payments_account`. `joined`: and the
    row it names, joined the same way (`account_summary_with`), last."""
    group_id = bindparam("group_id")
    seen = payment_in_scope(SUBGROUP_IDS if limited else None, USER_ID if with_user else None)
    pending = (
        select(ledger.money_sum(Payment.amount))
        .where(Payment.group_id == group_id, Payment.status == PaymentStatus.PENDING, seen)
        .scalar_subquery()
    )
    last_id = (
        select(Payment.id)
        .where(Payment.group_id == group_id, Payment.status != PaymentStatus.FAILED, seen)
        .order_by(Payment.received_on.desc(), Payment.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    credit_kept = (
        select(KeptBalance.balance)
        .where(KeptBalance.group_id == group_id, KeptBalance.code == Chart.UNAPPLIED_CASH.code)
        .scalar_subquery()
    )
    last = aliased(Payment)  # not the subqueries' payment table: nothing correlates
    columns = [last, pending, credit_kept]
    if with_refunds:
        columns.append(
            select(ledger.money_sum(Refund.amount))
            .where(Refund.group_id == group_id, Refund.status == RefundStatus.REQUESTED)
            .scalar_subquery()
        )
    query = select(*columns).select_from(EmployerGroup).outerjoin(last, last.id == last_id)
    if joined is not None:
        entity, entity_id = joined(limited, with_user)
        query = query.add_columns(entity).outerjoin(entity, entity.id == entity_id)
    return query.where(EmployerGroup.id == group_id)


def _latest_cancellation_joined(_limited: bool, _with_user: bool):
    """The group's latest cancellation (`cancellation.latest_cancellation`), for
    `_payments_and_credit`'s `joined`: `next_bill` asks whether it holds the next bill."""
    from billing_core.collections.cancellation import latest_cancellation_id

    return aliased(GroupCancellation), latest_cancellation_id()


@dataclass(frozen=True)
class CreditOutlook:
    """What happens to the group's credit (dollars of unapplied cash), per its billing policy:
    used on the next bill when it is issued (`next_bill_period`, issued on `next_bill_on`),
    or held for a refund. `being_refunded` is asked for in refunds not yet decided (held for
    them whatever the policy)."""

    credit: Decimal
    being_refunded: Decimal
    policy: CreditPolicy
    next_bill_period: date | None
    next_bill_on: date | None

    @property
    def used_on_next_bill(self) -> bool:
        return self.policy is CreditPolicy.APPLY_TO_NEXT_BILL

    @property
    def usable(self) -> Decimal:
        return max(self.credit - self.being_refunded, ZERO)


def credit_outlook(session: Session, group: EmployerGroup, today: date) -> CreditOutlook:
    """The group's credit on `today` and what will happen to it (see CreditOutlook); the
    policy is the one in force for the next bill's period (today's when none is ahead)."""
    credit = unapplied_credit(session, group)
    being_refunded = session.scalar(_being_refunded(), {"group_id": group.id})
    return _outlook(session, group, today, credit, being_refunded)


def _outlook(
    session: Session,
    group: EmployerGroup,
    today: date,
    credit: Decimal,
    being_refunded: Decimal,
    **read: object,
) -> CreditOutlook:
    """CreditOutlook of `credit` and `being_refunded` (dollars, read by the caller): the
    next bill (`read`: its billed periods and latest cancellation when the caller read them,
    as `next_bill` takes them) and the policy in force for it."""
    upcoming = next_bill(session, group, today, **read)
    policy = group.policy_on(upcoming[0] if upcoming else today) or group.policy_on(today)
    return CreditOutlook(
        credit=credit,
        being_refunded=being_refunded,
        policy=policy.credit_policy if policy else CreditPolicy.APPLY_TO_NEXT_BILL,
        next_bill_period=upcoming[0] if upcoming else None,
        next_bill_on=upcoming[1] if upcoming else None,
    )


@dataclass(frozen=True)
class PaymentsAccount:
    """What the employer's payments page shows of the account, read once: the summary
    (AccountSummary), every invoice with a non-zero open balance (as `open_items`, oldest due
    first) and the credit outlook (None for a reader limited to some locations: the credit
    is the group's, not theirs)."""

    summary: AccountSummary
    open_items: list[tuple[Invoice, Decimal]]
    outlook: CreditOutlook | None

    @property
    def payable(self) -> list[tuple[Invoice, Decimal]]:
        """The bills open to pay (`payable`), oldest due first."""
        return payable(self.open_items)


def payable(open_items: Iterable[tuple[Invoice, Decimal]]) -> list[tuple[Invoice, Decimal]]:
    """Of `open_items` (invoice, open amount), the bills open to pay: owed and issued, in
    their order; the one rule for the payments page and `payments.online.pay_options`."""
    return [
        (invoice, owed)
        for invoice, owed in open_items
        if owed > 0 and invoice.status is InvoiceStatus.ISSUED
    ]


def payments_account(
    session: Session,
    group: EmployerGroup,
    today: date,
    *,
    subgroup_ids: Iterable[int] | None = None,
    user_id: int | None = None,
) -> PaymentsAccount:
    """`account_summary`, `open_items` and (for the whole group) `credit_outlook` of `group`
    on `today`, with the same figures, in two reads (and the group's billing policies, for
    the outlook): the open invoices (their due dates are the summary's), with the whole
    group's the bills `next_bill` counts as billed; and one row of the last payment, the
    pending payments, the kept unapplied cash, the refunds asked for and (the whole group's)
    latest cancellation. `subgroup_ids`, `user_id`: as `account_summary`."""
    scoped = frozenset(subgroup_ids) if subgroup_ids is not None else None
    limited = scoped is not None
    values = scope_values(group.id, scoped, user_id)
    if limited:
        items = [
            (invoice, amount) for invoice, amount in session.execute(_open_items(True), values)
        ]
    else:
        rows = session.execute(
            _open_items_and_billed(), {**values, "first": next_bill_from(group, today)}
        ).all()
        items = [(invoice, amount) for invoice, amount, _ in rows if amount]
        billed = [invoice.period_start for invoice, _, is_billed in rows if is_billed]
    joined = None if limited else _latest_cancellation_joined
    row = session.execute(
        _payments_and_credit(limited, user_id is not None, True, joined), values
    ).one()
    last_payment, pending, kept, being_refunded = row[:4]
    due = [(invoice.due_on, amount) for invoice, amount in items]
    summary = _summary(today, due, last_payment, pending, kept, limited=limited)
    outlook = None
    if not limited:
        outlook = _outlook(
            session,
            group,
            today,
            summary.credit,
            being_refunded,
            billed=billed,
            cancellation=row[4],
        )
    return PaymentsAccount(summary=summary, open_items=items, outlook=outlook)


@built_once
def _open_items_and_billed():
    """`payments_account`'s read for the whole group: `open_items`' rows (a kept open amount
    not zero) and the bills `next_bill` counts as billed from the bindparam `first`
    (`invoicing.billed_from_condition`), each with its open amount (None: none kept) and
    whether it is such a bill, oldest due first (db.built_once)."""
    billed = billed_from_condition()
    return (
        select(Invoice, KeptOpenItem.open_amount, billed.label("billed"))
        .outerjoin(KeptOpenItem, KeptOpenItem.invoice_id == Invoice.id)
        .where(
            Invoice.group_id == bindparam("group_id"),
            or_(is_open_item(), billed),
        )
        .order_by(Invoice.due_on, Invoice.id)
    )


@built_once
def _being_refunded():
    return select(ledger.money_sum(Refund.amount)).where(
        Refund.group_id == bindparam("group_id"), Refund.status == RefundStatus.REQUESTED
    )


@dataclass(frozen=True)
class PaymentRow:
    """One payment as a history shows it: what it paid (invoice numbers and amounts), what is
    left as credit, and what was refunded."""

    payment: Payment
    applied: tuple[tuple[str, Decimal], ...]
    unallocated: Decimal
    refunded: Decimal

    @property
    def status_label(self) -> str:
        return PAYMENT_STATUS_LABELS[self.payment.status]


def payment_history(
    session: Session,
    group: EmployerGroup,
    *,
    limit: int | None = None,
    subgroup_ids: frozenset[int] | None = None,
    user_id: int | None = None,
) -> list[PaymentRow]:
    """The group's payments, newest first, each with its live allocations by invoice;
    `subgroup_ids`, `user_id`: those a user limited to some locations sees
    (access.payment_in_scope)."""
    query = (
        select(Payment)
        .where(Payment.group_id == group.id, payment_in_scope(subgroup_ids, user_id))
        .order_by(Payment.received_on.desc(), Payment.id.desc())
    )
    if limit:
        query = query.limit(limit)
    payments = list(session.scalars(query))
    ids = [p.id for p in payments]
    applied: dict[int, dict[str, Decimal]] = {pid: {} for pid in ids}
    refunded: dict[int, Decimal] = dict.fromkeys(ids, ZERO)
    if ids:
        for payment_id, number, amount in session.execute(
            select(PaymentAllocation.payment_id, Invoice.invoice_number, PaymentAllocation.amount)
            .join(Invoice, Invoice.id == PaymentAllocation.invoice_id)
            .where(PaymentAllocation.payment_id.in_(ids))
            .order_by(PaymentAllocation.id)
        ):
            by_invoice = applied[payment_id]
            by_invoice[number] = by_invoice.get(number, ZERO) + amount
        for payment_id, amount in session.execute(
            select(Refund.payment_id, Refund.amount).where(
                Refund.payment_id.in_(ids), Refund.status == RefundStatus.PAID
            )
        ):
            refunded[payment_id] += amount
    return [
        PaymentRow(
            payment=p,
            applied=tuple((n, a) for n, a in applied[p.id].items() if a != 0),
            unallocated=unallocated_amount(session, p),
            refunded=refunded[p.id],
        )
        for p in payments
    ]
