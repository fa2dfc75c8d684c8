"""The collector's worklist (issue 20, item 5): every delinquent group (past due, in grace,
pending cancellation, cancelled for non-payment, referred), with what it owes, its aging, the
days to termination, the last contact, its promise to pay and its broker of record, ranked by
the next recommended action and the amount at stake. The admin page and the "collections
worklist" report (CSV/XLSX) read this one function.

Money is read from the balances kept beside the ledger (KeptOpenItem, KeptBalance: the aging
buckets, unapplied credit, net balance) and `overdue.positions` (the overdue amount after
credits and disputes, the cure amount), never from a scan of postings; a fixed number of
queries for any number of groups.

The next action (`next_action`), from the group's state, days to termination, contacts and
promises of its current delinquency episode, first rule that applies:

0. under a bankruptcy's automatic stay with nothing post-petition overdue (all it owes past
   due is pre-petition, collections.bankruptcy): "stay", no call, ranked last;
1. a payment plan in force (collections.payment_plans): "call" to follow up, due the day
   after its next installment's date; else a promise to pay in force (open, promised date
   today or later): "call" to follow up, due the day after the promised date (the clock is
   paused meanwhile);
2. its latest payment plan or its latest promise broken and no contact logged since it was
   found broken: "call", most urgent of all (the clock has resumed; the group goes back to
   the top), whatever its state;
3. pending cancellation: "cancel" (a supervisor confirms the cancellation for non-payment);
4. cancelled: "refer" (to an outside agency) once the reinstatement window is over, else
   "call" (payment in full reinstates coverage);
5. referred: "charge off" (review for charge-off);
6. in grace with termination 10 days away or less (`PLAN_OFFER_DAYS`): "plan offer" (offer
   a payment plan before coverage can be cancelled);
7. two calls or more this episode without a promise (`CALLS_BEFORE_NOTICE`): "notice" (put
   it in writing: a letter or an email);
8. otherwise "call".

An action of rules 6-8 (and 4's call) waits for the follow-up date the latest contact of the
episode set, when that is after today. Ranking: actions due today or before come first,
ordered by urgency (broken-promise call, cancel, plan offer, refer, call, notice, charge off,
stay),
then by the amount at stake (overdue, largest first), then days to termination (fewest first)
and group number; actions due later follow, by due date. `rank` numbers the rows 1..n in that
order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, selectinload

from billing_core.collections.overdue import positions_with_aging
from billing_core.db import in_ids
from billing_core.ledger.receivables import AGING_KEYS
from billing_core.models import Broker, BrokerAgency, BrokerOfRecord, EmployerGroup
from billing_core.models.collections import (
    CollectionContact,
    ContactKind,
    DelinquencyState,
    GroupDelinquency,
    PromiseStatus,
    PromiseToPay,
)
from billing_core.models.payment_plans import InstallmentStatus, PaymentPlan, PaymentPlanStatus
from billing_core.money import ZERO, format_dollars

S = DelinquencyState
# The states on the worklist (current, reinstated and charged off are not).
WORKLIST_STATES = (S.PAST_DUE, S.IN_GRACE, S.PENDING_CANCELLATION, S.CANCELLED, S.REFERRED)
PLAN_OFFER_DAYS = 10
CALLS_BEFORE_NOTICE = 2

CALL, NOTICE, PLAN_OFFER, CANCEL, REFER, CHARGE_OFF = (
    "call", "notice", "plan_offer", "cancel", "refer", "charge_off"
)  # fmt: skip
STAY = "stay"  # a bankruptcy's automatic stay: nothing to do while it holds
ACTIONS = (CALL, NOTICE, PLAN_OFFER, CANCEL, REFER, CHARGE_OFF, STAY)
ACTION_LABELS = {
    CALL: "Call",
    NOTICE: "Notice",
    PLAN_OFFER: "Plan offer",
    CANCEL: "Cancel",
    REFER: "Refer",
    CHARGE_OFF: "Charge off",
    STAY: "None (bankruptcy stay)",
}
BROKEN_CALL = "broken_call"  # a call after a broken promise: the most urgent
URGENCY = {BROKEN_CALL: 0, CANCEL: 1, PLAN_OFFER: 2, REFER: 3, CALL: 4, NOTICE: 5, CHARGE_OFF: 6,
           STAY: 7}  # fmt: skip
STATE_LABELS = {s: s.value.replace("_", " ").capitalize() for s in S}
SORT_KEYS = (
    "rank", "group_number", "group_name", "state", "action", "overdue", "net_balance",
    "days_to_termination", "last_contact_on", "promised_on", "broker",
)  # fmt: skip


@dataclass(frozen=True)
class Facts:
    """What the rule reads about one group (see the module docstring)."""

    state: DelinquencyState
    terminates_on: date | None
    reinstate_until: date | None
    calls: int  # calls this episode
    last_contact_id: int | None
    last_contact_at_day: date | None
    follow_up_on: date | None  # the latest contact's, this episode
    promise_status: PromiseStatus | None  # the latest promise's, this episode
    promised_on: date | None
    promise_checked_on: date | None
    plan_status: PaymentPlanStatus | None = None  # the latest payment plan's, this episode
    plan_next_on: date | None = None  # an open plan's next installment date
    plan_decided_on: date | None = None
    # Under a bankruptcy stay with nothing post-petition overdue: collect nothing.
    stay_only: bool = False


def next_action(facts: Facts, today: date) -> tuple[str, str, date, str]:
    """(action, urgency key, due on, why) for one group, by the module docstring's rule."""
    f = facts
    if f.stay_only:
        return STAY, STAY, today, "bankruptcy: the pre-petition balance is stayed; no call"
    if f.plan_status is PaymentPlanStatus.OPEN and f.plan_next_on is not None:
        return (
            CALL,
            CALL,
            max(f.plan_next_on + timedelta(days=1), today),
            f"payment plan in force: next installment {_on(f.plan_next_on)}; follow up if it "
            "is not paid",
        )
    if f.plan_status is PaymentPlanStatus.BROKEN and (
        f.last_contact_at_day is None
        or f.plan_decided_on is None
        or f.last_contact_at_day < f.plan_decided_on
    ):
        return (
            CALL,
            BROKEN_CALL,
            today,
            f"payment plan broken on {_on(f.plan_decided_on)}: call now",
        )
    if f.promise_status is PromiseStatus.OPEN and f.promised_on and f.promised_on >= today:
        return (
            CALL,
            CALL,
            f.promised_on + timedelta(days=1),
            (f"promise in force to {_on(f.promised_on)}: follow up if it is not kept"),
        )
    broken_unanswered = f.promise_status is PromiseStatus.BROKEN and (
        f.last_contact_at_day is None
        or f.promise_checked_on is None
        or f.last_contact_at_day < f.promise_checked_on
    )
    if broken_unanswered:
        return CALL, BROKEN_CALL, today, f"promise broken on {_on(f.promise_checked_on)}: call now"
    if f.state is S.PENDING_CANCELLATION:
        return CANCEL, CANCEL, today, "pending cancellation: confirm the cancellation"
    waits = f.follow_up_on if f.follow_up_on and f.follow_up_on > today else today
    if f.state is S.CANCELLED:
        if f.reinstate_until is not None and today > f.reinstate_until:
            return REFER, REFER, today, f"reinstatement window ended {_on(f.reinstate_until)}"
        return CALL, CALL, waits, "cancelled: payment in full reinstates coverage"
    if f.state is S.REFERRED:
        return CHARGE_OFF, CHARGE_OFF, today, "referred: review for charge-off"
    days = (f.terminates_on - today).days if f.terminates_on else None
    if f.state is S.IN_GRACE and days is not None and days <= PLAN_OFFER_DAYS:
        return PLAN_OFFER, PLAN_OFFER, waits, f"cancellation possible in {days} days"
    if f.calls >= CALLS_BEFORE_NOTICE:
        return NOTICE, NOTICE, waits, f"{f.calls} calls this episode without a promise"
    return CALL, CALL, waits, "no promise yet"


def worklist(
    session: Session,
    today: date,
    filters: Mapping[str, Any] | None = None,
    sort: str = "rank",
) -> list[dict]:
    """The worklist as of `today` (see the module docstring): one dict per delinquent group,
    every one of them (the CSV/XLSX report; the page reads one page of it through
    billing_core.collections.worklist_page, ranked in SQL).
    `filters`: `state` (a DelinquencyState value), `action` (one of ACTIONS), `broker` (part of
    the agency's or writing broker's name), `group` (part of the group number or name); empty
    or "all": no filter. `sort`: one of SORT_KEYS, "-key" for descending (default the rank)."""
    filters = filters or {}
    rows = sorted(group_rows(session, today, _list_conditions(filters)), key=_rank_key)
    for rank, r in enumerate(rows, start=1):
        r["rank"] = rank
    action = filters.get("action")
    if action and action != "all":
        rows = [r for r in rows if r["action"] == action]
    broker = (filters.get("broker") or "").strip().casefold()
    if broker:
        rows = [r for r in rows if r["broker"] and broker in r["broker"].casefold()]
    return sort_worklist(rows, sort)


def _list_conditions(filters: Mapping[str, Any]) -> list:
    """The groups the rank numbers: delinquent ones, of the `state` and `group` filters (the
    `action` and `broker` filters pick among the ranked rows)."""
    conditions = [GroupDelinquency.state.in_(WORKLIST_STATES)]
    state = filters.get("state")
    if state and state != "all":
        conditions.append(GroupDelinquency.state == S(state))
    text = (filters.get("group") or "").strip()
    if text:
        like = f"%{text}%"
        conditions.append(
            or_(EmployerGroup.group_number.ilike(like), EmployerGroup.name.ilike(like))
        )
    return conditions


def _rank_key(row: dict) -> tuple:
    """The rank's order (the module docstring): due actions first by urgency, the amount at
    stake, days to termination and group number; later ones by their due date."""
    return (
        not row["due"],
        row["action_due_on"] if not row["due"] else date.min,
        row["urgency"],
        -row["overdue"],
        row["days_to_termination"] if row["days_to_termination"] is not None else 10**6,
        row["group_number"],
    )


def group_rows(session: Session, today: date, conditions: list) -> list[dict]:
    """The worklist's row (without its rank) of each group meeting `conditions` (on
    GroupDelinquency and EmployerGroup), in no order; a fixed number of queries."""
    on_list = EmployerGroup.id == GroupDelinquency.group_id
    # Plain rows, not ORM objects: the report reads every delinquent group.
    found = session.execute(
        select(
            GroupDelinquency.group_id,
            GroupDelinquency.state,
            GroupDelinquency.terminates_on,
            GroupDelinquency.reinstate_until,
            GroupDelinquency.paused_reason,
            EmployerGroup.group_number,
            EmployerGroup.name,
        )
        .join(EmployerGroup, on_list)
        .where(*conditions)
    ).all()
    if not found:
        return []
    # The same groups named once in SQL for each figure's query (not a thousand ids each).
    ids = select(GroupDelinquency.group_id).join(EmployerGroup, on_list).where(*conditions)
    owed, aging = positions_with_aging(session, today, ids)
    calls, last = _contacts(session, ids)
    promise = _promises(session, ids)
    plan = _plans(session, ids)
    brokers = _brokers(session, today, ids)
    rows = []
    for row in found:
        gid, number, name = row.group_id, row.group_number, row.name
        contact = last.get(gid)
        latest = promise.get(gid)
        in_plan = plan.get(gid)
        plan_next = _next_installment(in_plan)
        facts = Facts(
            state=row.state,
            terminates_on=row.terminates_on,
            reinstate_until=row.reinstate_until,
            calls=calls.get(gid, 0),
            last_contact_id=contact.id if contact else None,
            last_contact_at_day=contact.at.date() if contact else None,
            follow_up_on=contact.next_follow_up_on if contact else None,
            promise_status=latest.status if latest else None,
            promised_on=latest.promised_on if latest else None,
            promise_checked_on=latest.checked_on if latest else None,
            plan_status=in_plan.status if in_plan else None,
            plan_next_on=plan_next.due_on if plan_next else None,
            plan_decided_on=in_plan.decided_on if in_plan else None,
            stay_only=bool(owed.get(gid) and owed[gid].stayed and not owed[gid].overdue),
        )
        action, urgency, due_on, why = next_action(facts, today)
        buckets = aging.get(gid, {k: ZERO for k in (*AGING_KEYS, "credit")})
        total_open = sum((buckets[k] for k in AGING_KEYS), ZERO)
        position = owed.get(gid)
        overdue = position.overdue if position else ZERO
        rows.append(
            {
                "group_id": gid,
                "group_number": number,
                "group_name": name,
                "state": row.state.value,
                "state_label": STATE_LABELS[row.state],
                "action": action,
                "action_label": ACTION_LABELS[action],
                "urgency": URGENCY[urgency],
                "action_due_on": due_on,
                "due": due_on <= today,
                "why": why,
                "overdue": overdue,
                **{k: buckets[k] for k in AGING_KEYS},
                "past_due": total_open - buckets["current"],
                "total_open": total_open,
                "credit": buckets["credit"],
                "net_balance": total_open - buckets["credit"],
                "terminates_on": row.terminates_on,
                "days_to_termination": (row.terminates_on - today).days
                if row.terminates_on and row.state in (S.IN_GRACE, S.PENDING_CANCELLATION)
                else None,
                "paused": row.paused_reason,
                "last_contact_on": contact.at.date() if contact else None,
                "last_contact": _contact_text(contact),
                "last_contact_kind": contact.kind.value if contact else None,
                "last_contact_by": contact.by if contact else None,
                "last_contact_outcome": contact.outcome if contact else None,
                "follow_up_on": facts.follow_up_on,
                "promise_status": latest.status.value if latest else None,
                "promise": _promise_text(latest),
                "promised_on": latest.promised_on if latest else None,
                "plan_status": in_plan.status.value if in_plan else None,
                "plan": _plan_text(in_plan, plan_next),
                "broker": brokers.get(gid),
            }
        )
    return rows


def sort_worklist(rows: list[dict], sort: str) -> list[dict]:
    """`rows` by one of SORT_KEYS ("-key" descending); empty values last; else by rank."""
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    if key not in SORT_KEYS or key == "rank":
        return sorted(rows, key=lambda r: r["rank"], reverse=descending)
    present = [r for r in rows if r.get(key) is not None]
    empty = [r for r in rows if r.get(key) is None]

    def value(r):
        v = r[key]
        return v.casefold() if isinstance(v, str) else v

    return sorted(present, key=value, reverse=descending) + empty


def _contacts(session: Session, ids: Select):
    """Per group, this episode: the number of calls, and the latest contact."""
    this_episode = and_(
        GroupDelinquency.group_id == CollectionContact.group_id,
        GroupDelinquency.episode == CollectionContact.episode,
    )
    query = (
        select(
            CollectionContact.group_id,
            func.count().filter(CollectionContact.kind == ContactKind.CALL),
            func.max(CollectionContact.id),
        )
        .join(GroupDelinquency, this_episode)
        .where(in_ids(CollectionContact.group_id, ids))
        .group_by(CollectionContact.group_id)
    )
    calls, latest_ids = {}, []
    for gid, count, latest in session.execute(query):
        calls[gid] = count
        latest_ids.append(latest)
    last = {}
    if latest_ids:
        for c in session.scalars(
            select(CollectionContact).where(in_ids(CollectionContact.id, latest_ids))
        ):
            last[c.group_id] = c
    return calls, last


def _latest_of_episode(session: Session, model, cancelled, ids: Select, *options) -> dict:
    """Per group: its latest `model` row (a promise or a payment plan) of the group's current
    delinquency episode, not a cancelled one; `options` load what the worklist reads of it."""
    latest = (
        select(func.max(model.id))
        .join(
            GroupDelinquency,
            and_(
                GroupDelinquency.group_id == model.group_id,
                GroupDelinquency.episode == model.episode,
            ),
        )
        .where(in_ids(model.group_id, ids), model.status != cancelled)
        .group_by(model.group_id)
    )
    return {
        row.group_id: row
        for row in session.scalars(select(model).where(model.id.in_(latest)).options(*options))
    }


def _promises(session: Session, ids: Select) -> dict[int, PromiseToPay]:
    return _latest_of_episode(session, PromiseToPay, PromiseStatus.CANCELLED, ids)


def _plans(session: Session, ids: Select) -> dict[int, PaymentPlan]:
    return _latest_of_episode(
        session,
        PaymentPlan,
        PaymentPlanStatus.CANCELLED,
        ids,
        selectinload(PaymentPlan.installments),
    )


def _next_installment(plan: PaymentPlan | None):
    if plan is None or plan.status is not PaymentPlanStatus.OPEN:
        return None
    return next((i for i in plan.installments if i.status is InstallmentStatus.OPEN), None)


def _plan_text(plan: PaymentPlan | None, upcoming) -> str | None:
    if plan is None:
        return None
    met = sum(1 for i in plan.installments if i.status is InstallmentStatus.MET)
    of = f"{met} of {len(plan.installments)} met"
    if upcoming is not None:
        return f"in force: next {format_dollars(upcoming.amount)} by {_on(upcoming.due_on)} ({of})"
    return f"{plan.status.value} {_on(plan.decided_on)}: {format_dollars(plan.balance)} ({of})"


def brokers_in_force(query: Select, today: date, ids) -> Select:
    """`query` over the broker of record, its agency and writing broker, limited to the
    records of groups `ids` in force `today`: the worklist's rows and its page's SQL ask
    this one question. Of two records in force, the later starting one counts, and of two
    starting the same day the later recorded (higher id)."""
    return (
        query.join(BrokerAgency, BrokerAgency.id == BrokerOfRecord.agency_id)
        .outerjoin(Broker, Broker.id == BrokerOfRecord.writing_broker_id)
        .where(
            in_ids(BrokerOfRecord.group_id, ids),
            BrokerOfRecord.effective_from <= today,
            or_(BrokerOfRecord.effective_to.is_(None), BrokerOfRecord.effective_to >= today),
        )
    )


def _brokers(session: Session, today: date, ids: Select) -> dict[int, str]:
    """Per group: its broker of record today ("Agency (writing broker)")."""
    query = brokers_in_force(
        select(BrokerOfRecord.group_id, BrokerAgency.name, Broker.full_name), today, ids
    ).order_by(BrokerOfRecord.group_id, BrokerOfRecord.effective_from, BrokerOfRecord.id)
    found = {}
    for gid, agency, writer in session.execute(query):
        found[gid] = f"{agency} ({writer})" if writer else agency  # the later one wins
    return found


def _on(day: date | None) -> str:
    """A date as the screens write it: Feb 5, 2027."""
    return f"{day:%b} {day.day}, {day.year}" if day else ""


def _contact_text(contact: CollectionContact | None) -> str | None:
    if contact is None:
        return None
    return f"{contact.kind.value} {contact.at.date()} by {contact.by}: {contact.outcome}"[:200]


def _promise_text(promise: PromiseToPay | None) -> str | None:
    if promise is None:
        return None
    words = f"{format_dollars(promise.amount)} by {_on(promise.promised_on)}"
    if promise.status is PromiseStatus.OPEN:
        return f"open: {words}"
    return f"{promise.status.value} {_on(promise.checked_on)}: {words} ({format_dollars(promise.paid)} paid)"
