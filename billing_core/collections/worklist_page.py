"""One page of the collector's worklist (issue 19, items 2 and 6): the rank, the filters, the
sort and the totals are computed in SQL over every delinquent group, and only the page's groups
are read into rows (billing_core.collections.worklist.group_rows), so a view's work in Python
is bounded by the page, not by the number of delinquent groups.

The rank is worklist.next_action's rule and worklist.worklist's order written as SQL CASEs,
with today's date as a parameter (what depends on the day: due today or before, a promise or
an installment date still ahead, termination within PLAN_OFFER_DAYS, a reinstatement window
over), so it is right on the day it is viewed without anything kept. Money comes from the
balances kept beside the ledger, as worklist's rows read it (overdue.positions: past due less
credits and disputes, a bankruptcy's pre-petition bills left out). The page's rows are then
built by worklist's own code and must agree with the SQL: tests/unit/collections/
test_worklist_page.py holds every page, its ranks and totals equal to the whole list computed
in Python (worklist.worklist, which the CSV/XLSX report still reads whole).

The staff page reads it through `kept_worklist_page`: the same page, kept per process while
nothing it reads has changed (billing_core.kept_reads, under `WORKLIST_MARKER`), so a view
that finds it kept runs one indexed statement instead of the ranking over every delinquent
group and the page's rows."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Date,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session, aliased

from billing_core.collections.bankruptcy import STAYING
from billing_core.collections.worklist import (
    BROKEN_CALL,
    CALL,
    CALLS_BEFORE_NOTICE,
    CANCEL,
    CHARGE_OFF,
    NOTICE,
    PLAN_OFFER,
    PLAN_OFFER_DAYS,
    REFER,
    SORT_KEYS,
    STAY,
    URGENCY,
    WORKLIST_STATES,
    brokers_in_force,
    group_rows,
)
from billing_core.db import Money, in_ids
from billing_core.kept_reads import KeptReads, Marker
from billing_core.ledger import Chart
from billing_core.models import (
    AuditLog,
    Broker,
    BrokerAgency,
    BrokerOfRecord,
    EmployerGroup,
    Invoice,
    JournalEntry,
)
from billing_core.models.collections import (
    CollectionContact,
    ContactKind,
    DelinquencyDispute,
    DelinquencyState,
    DelinquencyTransition,
    GroupDelinquency,
    PromiseStatus,
    PromiseToPay,
)
from billing_core.models.collections_legal import BankruptcyFiling
from billing_core.models.ledger import KeptBalance, KeptOpenItem
from billing_core.models.payment_plans import (
    InstallmentStatus,
    PaymentPlan,
    PaymentPlanInstallment,
    PaymentPlanStatus,
)
from billing_core.money import ZERO
from billing_core.paging import Page, clamp_page

S = DelinquencyState
STATE_TYPE = GroupDelinquency.state.type
# The sort keys that are text: compared case-folded, as worklist.sort_worklist does.
TEXT_KEYS = ("group_number", "group_name", "state", "action", "broker")


def worklist_page(
    session: Session,
    today: date,
    filters: Mapping[str, Any] | None = None,
    sort: str = "rank",
    asked: int | None = 1,
    per_page: int = 50,
) -> tuple[Page, dict[str, Decimal | int]]:
    """Page `asked` (clamped) of worklist.worklist(session, today, filters, sort), its items
    the same row dicts (rank included), and the totals over the whole filtered list (`groups`,
    `overdue` dollars, `due` actions). One query over the delinquent groups (a second past the
    last page), then the page's rows by worklist.group_rows."""
    filters = filters or {}
    state = filters.get("state") if filters.get("state") not in (None, "", "all") else None
    group = (filters.get("group") or "").strip()
    action = filters.get("action") if filters.get("action") not in (None, "", "all") else None
    broker = (filters.get("broker") or "").strip().casefold()
    key = sort.lstrip("-")
    sort = ("-" if sort.startswith("-") else "") + (key if key in SORT_KEYS else "rank")
    postgres = session.get_bind().dialect.name == "postgresql"
    query, count = _statements(postgres, bool(state), bool(group), bool(action), bool(broker), sort)
    params = {
        "today": today,
        "offer_until": today + timedelta(days=PLAN_OFFER_DAYS),
        "state": S(state) if state else None,
        "group": f"%{group}%",
        "action": action,
        "broker": f"%{_escaped(broker)}%",
    }

    def read(page: int) -> list:
        bounds = {"page_size": per_page, "page_offset": (page - 1) * per_page}
        return session.execute(query, {**params, **bounds}).all()

    number = max(asked or 1, 1)
    found = read(number)
    if not found and number > 1:  # past the last page: the last one
        number = clamp_page(number, session.execute(count, params).scalar_one(), per_page)
        found = read(number)
    groups, overdue, due = found[0][2:] if found else (0, ZERO, 0)
    ranks = {gid: rank for gid, rank, *_ in found}
    rows = group_rows(session, today, [in_ids(GroupDelinquency.group_id, ranks)]) if ranks else []
    for row in rows:
        row["rank"] = ranks[row["group_id"]]
    order = {gid: i for i, gid in enumerate(ranks)}
    rows.sort(key=lambda r: order[r["group_id"]])
    page = Page(items=rows, page=number, per_page=per_page, total=groups)
    return page, {"groups": groups, "overdue": overdue, "due": due}


def _marker_columns() -> list:
    """What the worklist reads changes only with one of these (see WORKLIST_MARKER)."""

    def top(column):
        return select(func.max(column)).scalar_subquery()

    still_open = PaymentPlanInstallment.status == InstallmentStatus.OPEN
    return [
        top(JournalEntry.id),
        top(AuditLog.id),
        top(DelinquencyTransition.id),
        top(CollectionContact.id),
        top(PromiseToPay.id),
        top(PaymentPlan.id),
        top(PaymentPlanInstallment.id),
        select(func.count()).where(still_open).scalar_subquery(),
        top(DelinquencyDispute.id),
        top(BankruptcyFiling.id),
        top(BrokerOfRecord.id),
        top(Broker.id),
        top(BrokerAgency.id),
        top(EmployerGroup.id),
    ]


# The worklist's rows read, besides the day: the kept balances (changed only by postings, each
# a journal entry); group delinquency rows (a state moves with a transition row; a clock paused
# or resumed is audited); contacts (append-only); promises (taken: a new row; kept, broken or
# replaced: audited); payment plans (made: new rows; broken, completed, cancelled, overtaken:
# audited) and their installments (met or missed in place, never reopened: the count of open
# ones falls); disputes and bankruptcy filings (new rows; a filing's end is audited); brokers of
# record (a change is a new row), brokers, agencies and the groups' numbers and names (new
# rows, or the set-up import, audited when it changes anything).
WORKLIST_MARKER = Marker(_marker_columns)
_KEPT_PAGES = KeptReads(WORKLIST_MARKER)


def kept_worklist_page(
    session: Session,
    today: date,
    filters: Mapping[str, Any] | None = None,
    sort: str = "rank",
    asked: int | None = 1,
    per_page: int = 50,
) -> tuple[Page, dict[str, Decimal | int]]:
    """`worklist_page`'s answer, kept per process while WORKLIST_MARKER reads the same (and on
    PostgreSQL no writer it saw running has finished since: billing_core.kept_reads), per day,
    filters, sort and page. What invalidates it: any posting, audited change, state move,
    contact, promise, plan, installment decided, dispute, filing, broker of record, broker,
    agency or group added (WORKLIST_MARKER's comment says why these suffice). The page and its
    rows are shared by later views: read them, never change them."""
    filters = filters or {}
    key = (
        "worklist",
        today,
        tuple(sorted((k, str(v)) for k, v in filters.items() if v not in (None, ""))),
        sort,
        asked,
        per_page,
    )
    return _KEPT_PAGES.get(
        session, key, lambda: worklist_page(session, today, filters, sort, asked, per_page)
    )


@lru_cache(maxsize=256)
def _statements(
    postgres: bool, state: bool, group: bool, action: bool, broker: bool, sort: str
) -> tuple[Select, Select]:
    """The page's query (each row: group id, rank and the totals over the filtered list) and
    the count of the filtered list, for one shape of filters (which are given) and sort, on
    one database: built once (a big statement costs more to build than to run), the values
    bound by name at each view (`today`, `offer_until`, `state`, `group`, `action`, `broker`
    patterns, and the page's `page_size` and `page_offset`)."""
    listed = _listed(postgres, state, group, action, broker)
    totals = (
        func.count().over(),
        type_coerce(func.sum(listed.c.overdue).over(), Money()),
        func.sum(case((listed.c.later == 0, 1), else_=0)).over(),
    )
    query = select(listed.c.group_id, listed.c.rank, *totals)
    query = query.order_by(*_sort_order(postgres, listed, sort))
    # The page's bounds bound by name too: a statement limited anew per view is a new object,
    # keyed again (a walk of this whole statement) before its compiled form is found.
    query = query.limit(bindparam("page_size", type_=Integer())).offset(
        bindparam("page_offset", type_=Integer())
    )
    return query, select(func.count()).select_from(listed)


def _listed(postgres: bool, state: bool, group: bool, action: bool, broker: bool):
    """The ranked rows (a subquery) of the groups the filters keep: each group's next action,
    urgency, whether it waits (`later` 1) and until when, the sort keys, and its `rank` among
    the groups of the `state` and `group` filters (numbered before `action` and `broker` pick,
    as worklist.worklist does)."""
    conditions = [GroupDelinquency.state.in_(WORKLIST_STATES)]
    if state:
        conditions.append(GroupDelinquency.state == bindparam("state", type_=STATE_TYPE))
    if group:
        like = bindparam("group", type_=String())
        conditions.append(
            or_(EmployerGroup.group_number.ilike(like), EmployerGroup.name.ilike(like))
        )
    today = bindparam("today", type_=Date())
    facts = _facts(postgres, today, conditions)
    f = facts.c
    waits_due = or_(f.follow_up_on.is_(None), f.follow_up_on <= today)
    waits_on = case((f.follow_up_on > today, f.follow_up_on), else_=today)

    def unanswered(decided_on):  # no contact logged since the promise or plan was broken
        return or_(f.last_at.is_(None), decided_on.is_(None), f.last_at < decided_on)

    # next_action's rule, first that applies: (condition, action, urgency, due, due on).
    rule = [
        (and_(f.stayed > 0, f.overdue <= 0), STAY, STAY, True, today),
        (
            and_(f.plan_status == PaymentPlanStatus.OPEN, f.plan_next_on.is_not(None)),
            CALL,
            CALL,
            f.plan_next_on < today,
            _day_after(postgres, f.plan_next_on),  # read only when not due yet
        ),
        (
            and_(f.plan_status == PaymentPlanStatus.BROKEN, unanswered(f.plan_decided_on)),
            CALL, BROKEN_CALL, True, today,
        ),
        (
            and_(f.promise_status == PromiseStatus.OPEN, f.promised_on >= today),
            CALL, CALL, False, _day_after(postgres, f.promised_on),
        ),
        (
            and_(f.promise_status == PromiseStatus.BROKEN, unanswered(f.promise_checked_on)),
            CALL, BROKEN_CALL, True, today,
        ),
        (f.state == S.PENDING_CANCELLATION, CANCEL, CANCEL, True, today),
        (and_(f.state == S.CANCELLED, f.reinstate_until < today), REFER, REFER, True, today),
        (f.state == S.CANCELLED, CALL, CALL, waits_due, waits_on),
        (f.state == S.REFERRED, CHARGE_OFF, CHARGE_OFF, True, today),
        (
            and_(
                f.state == S.IN_GRACE,
                f.terminates_on <= bindparam("offer_until", type_=Date()),
            ),
            PLAN_OFFER, PLAN_OFFER, waits_due, waits_on,
        ),
        (f.calls >= CALLS_BEFORE_NOTICE, NOTICE, NOTICE, waits_due, waits_on),
    ]  # fmt: skip
    otherwise = (CALL, CALL, waits_due, waits_on)

    def decide(i: int, value=lambda v: v):
        return case(*((c, value(r[i])) for c, *r in rule), else_=value(otherwise[i]))

    decided = select(
        facts,
        decide(0).label("action"),
        decide(1, URGENCY.get).label("urgency"),
        decide(2, _waits).label("later"),
        decide(3).label("due_on"),
    )
    # Not MATERIALIZED (nor the facts): PostgreSQL inlines both, and though the rule's CASEs
    # may then be evaluated in more than one place, copying a thousand wide rows into two
    # tuplestores and scanning them cost more (bench_load, prepared as the driver runs it:
    # 13.0 -> 7.9 ms at best; a broker and action filter 14.3 -> 10.8; same rows).
    decided = decided.cte("decided")
    d = decided.c
    rank = func.row_number().over(
        order_by=(
            d.later,
            case((d.later == 1, d.due_on)),
            d.urgency,
            d.overdue.desc(),
            d.to_termination.is_(None),
            d.to_termination,
            _text(postgres, d.group_number),
        )
    )
    ranked = select(decided, rank.label("rank")).subquery("ranked")
    picked = []
    if action:
        picked.append(ranked.c.action == bindparam("action", type_=String()))
    if broker:
        words = func.lower(ranked.c.broker)
        picked.append(words.like(bindparam("broker", type_=String()), escape="/"))
    return select(ranked).where(*picked).subquery("listed")


def _escaped(text: str) -> str:
    """`text` for a LIKE pattern escaped by '/': matched as it is (a '%' is a '%')."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _waits(due) -> Any:
    """0 when an action is due today or before (`due` a bool or a condition), else 1."""
    if isinstance(due, bool):
        return 0 if due else 1
    return case((due, 0), else_=1)


def _sort_order(postgres: bool, listed, sort: str) -> list:
    """worklist.sort_worklist's order in SQL: by a SORT_KEYS column ("-key" descending, text
    case-folded), empty values last, ties in rank order; else by rank."""
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    if key not in SORT_KEYS or key == "rank":
        return [listed.c.rank.desc() if descending else listed.c.rank]
    column = listed.c["to_termination" if key == "days_to_termination" else key]
    value = _text(postgres, func.lower(column)) if key in TEXT_KEYS else column
    return [column.is_(None), value.desc() if descending else value, listed.c.rank]


def _facts(postgres: bool, today, conditions: list):
    """Per group meeting `conditions` (a CTE): what next_action reads (worklist.Facts),
    the overdue and stayed amounts and the net balance as worklist's rows read them
    (overdue.positions_with_aging), its broker of record's words and, in grace or pending
    cancellation, its termination date (the days to termination's order)."""
    g = GroupDelinquency
    # The figures are read for every delinquent group; `conditions` pick among them.
    listed = select(g.group_id).where(g.state.in_(WORKLIST_STATES))

    def this_episode(model):
        return and_(g.group_id == model.group_id, g.episode == model.episode)

    contacts = (
        select(
            CollectionContact.group_id,
            func.count().filter(CollectionContact.kind == ContactKind.CALL).label("calls"),
            func.max(CollectionContact.id).label("last_id"),
        )
        .join(g, this_episode(CollectionContact))
        .where(in_ids(CollectionContact.group_id, listed))
        .group_by(CollectionContact.group_id)
        .subquery("contacts")
    )

    def latest(model, cancelled, name):  # the latest not cancelled of the episode
        return (
            select(model.group_id, func.max(model.id).label("id"))
            .join(g, this_episode(model))
            .where(in_ids(model.group_id, listed), model.status != cancelled)
            .group_by(model.group_id)
            .subquery(name)
        )

    promise_id = latest(PromiseToPay, PromiseStatus.CANCELLED, "promise_id")
    plan_id = latest(PaymentPlan, PaymentPlanStatus.CANCELLED, "plan_id")
    last, promise, plan = aliased(CollectionContact), aliased(PromiseToPay), aliased(PaymentPlan)
    next_installment = (
        select(PaymentPlanInstallment.due_on)
        .where(
            PaymentPlanInstallment.plan_id == plan.id,
            PaymentPlanInstallment.status == InstallmentStatus.OPEN,
        )
        .order_by(PaymentPlanInstallment.seq)
        .limit(1)
        .scalar_subquery()
    )
    items, cash, disputes = _money(today, listed)
    broker = _broker_words(today, listed)
    owed = (
        func.coalesce(items.c.past_due, 0)
        - func.coalesce(cash.c.credit, 0)
        - func.coalesce(items.c.bill_credits, 0)
        - func.coalesce(disputes.c.disputed, 0)
    )
    ends = and_(g.state.in_((S.IN_GRACE, S.PENDING_CANCELLATION)), g.terminates_on.is_not(None))
    return (
        select(
            g.group_id,
            EmployerGroup.group_number,
            EmployerGroup.name.label("group_name"),
            g.state,
            g.terminates_on,
            g.reinstate_until,
            case((ends, g.terminates_on)).label("to_termination"),
            func.coalesce(contacts.c.calls, 0).label("calls"),
            last.at.label("last_at"),
            _day(postgres, last.at).label("last_contact_on"),
            last.next_follow_up_on.label("follow_up_on"),
            promise.status.label("promise_status"),
            promise.promised_on,
            promise.checked_on.label("promise_checked_on"),
            plan.status.label("plan_status"),
            case((plan.status == PaymentPlanStatus.OPEN, next_installment)).label("plan_next_on"),
            plan.decided_on.label("plan_decided_on"),
            case((owed > 0, owed), else_=0).label("overdue"),
            func.coalesce(items.c.stayed, 0).label("stayed"),
            (func.coalesce(items.c.total_open, 0) - func.coalesce(cash.c.aging_credit, 0)).label(
                "net_balance"
            ),
            broker.c.words.label("broker"),
        )
        .join(EmployerGroup, EmployerGroup.id == g.group_id)
        .outerjoin(contacts, contacts.c.group_id == g.group_id)
        .outerjoin(last, last.id == contacts.c.last_id)
        .outerjoin(promise_id, promise_id.c.group_id == g.group_id)
        .outerjoin(promise, promise.id == promise_id.c.id)
        .outerjoin(plan_id, plan_id.c.group_id == g.group_id)
        .outerjoin(plan, plan.id == plan_id.c.id)
        .outerjoin(items, items.c.group_id == g.group_id)
        .outerjoin(cash, cash.c.group_id == g.group_id)
        .outerjoin(disputes, disputes.c.group_id == g.group_id)
        .outerjoin(broker, broker.c.group_id == g.group_id)
        .where(*conditions)
        .cte("facts")
    )


def _money(today, listed) -> tuple:
    """Per listed group, from the kept balances (overdue.positions_with_aging's sums): its
    open items (bills past due, those a bankruptcy stays, credit balances on bills, everything
    open), its unapplied cash (the position's credit, the aging's credit) and open disputes."""
    stay = (
        select(BankruptcyFiling.group_id, func.max(BankruptcyFiling.filed_on).label("filed_on"))
        .where(BankruptcyFiling.status.in_(STAYING), BankruptcyFiling.filed_on <= today)
        .group_by(BankruptcyFiling.group_id)
        .subquery("stay")
    )
    item = KeptOpenItem
    late = and_(item.due_on < today, item.open_amount > 0)
    stayed = (
        select(item.group_id, func.sum(item.open_amount).label("stayed"))
        .join(stay, stay.c.group_id == item.group_id)
        .join(Invoice, Invoice.id == item.invoice_id)
        .where(late, Invoice.period_start < stay.c.filed_on)
        .group_by(item.group_id)
        .subquery("stayed_items")
    )
    held = func.coalesce(stayed.c.stayed, 0)
    items = (
        select(
            item.group_id,
            (func.sum(case((late, item.open_amount), else_=0)) - held).label("past_due"),
            held.label("stayed"),
            func.sum(case((item.open_amount < 0, -item.open_amount), else_=0)).label(
                "bill_credits"
            ),
            func.sum(item.open_amount).label("total_open"),
        )
        .outerjoin(stayed, stayed.c.group_id == item.group_id)
        .where(in_ids(item.group_id, listed))
        .group_by(item.group_id, stayed.c.stayed)
        .subquery("items")
    )
    balance = KeptBalance.balance
    cash = (
        select(
            KeptBalance.group_id,
            func.sum(case((balance < 0, -balance), else_=0)).label("credit"),
            func.sum(-balance).label("aging_credit"),
        )
        .where(KeptBalance.code == Chart.UNAPPLIED_CASH.code)
        .where(in_ids(KeptBalance.group_id, listed))
        .group_by(KeptBalance.group_id)
        .subquery("cash")
    )
    disputes = (
        select(DelinquencyDispute.group_id, func.sum(DelinquencyDispute.amount).label("disputed"))
        .where(DelinquencyDispute.resolved_on.is_(None), DelinquencyDispute.opened_on <= today)
        .where(in_ids(DelinquencyDispute.group_id, listed))
        .group_by(DelinquencyDispute.group_id)
        .subquery("disputes")
    )
    return items, cash, disputes


def _broker_words(today, listed):
    """Per listed group, its broker of record today as worklist writes it ("Agency (writing
    broker)"); of two in force, the later one."""
    writer = func.coalesce(Broker.full_name, "")
    in_force = brokers_in_force(
        select(
            BrokerOfRecord.group_id,
            case(
                (writer != "", BrokerAgency.name + " (" + writer + ")"), else_=BrokerAgency.name
            ).label("words"),
            func.row_number()
            .over(
                partition_by=BrokerOfRecord.group_id,
                order_by=(BrokerOfRecord.effective_from.desc(), BrokerOfRecord.id.desc()),
            )
            .label("nth"),
        ),
        today,
        listed,
    ).subquery("in_force")
    return (
        select(in_force.c.group_id, in_force.c.words).where(in_force.c.nth == 1).subquery("broker")
    )


def _day(postgres: bool, timestamp):
    """The day (UTC) of a stored timestamp, as Python's `.date()` of it."""
    return cast(timestamp, Date) if postgres else func.date(timestamp)


def _day_after(postgres: bool, day):
    return day + literal_column("1", Integer) if postgres else func.date(day, "+1 day")


def _text(postgres: bool, text):
    """`text` compared by code point, as Python compares strings (PostgreSQL's default
    collation would order by the locale's rules)."""
    return text.collate("C") if postgres else text
