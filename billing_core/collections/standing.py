"""Where each group stands in collections, in counts and amounts only (issue 20, items 10 and
11): its delinquency state, the days its oldest unpaid bill is past due, the overdue amount
(the cure amount: bills past due less credits and open disputes) and why its clock stands
still (a payment plan, a promise to pay, a bankruptcy's automatic stay). Read by the broker's
book (never member data) and the credit-control report, from the group's GroupDelinquency row
and `overdue.positions` (the kept balances), in two queries for any number of groups."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core.collections.overdue import positions
from billing_core.collections.states import clock_paused
from billing_core.db import in_ids
from billing_core.models.collections import DelinquencyState, GroupDelinquency
from billing_core.money import ZERO

S = DelinquencyState
STATE_LABELS = {s: s.value.replace("_", " ").capitalize() for s in S}
# The states in which a group is late with its premium (collections are running or it was
# cancelled, referred or charged off for it).
LATE_STATES = frozenset(
    {S.PAST_DUE, S.IN_GRACE, S.PENDING_CANCELLATION, S.CANCELLED, S.REFERRED, S.CHARGED_OFF}
)
PAUSE_LABELS = {
    "payment_plan": "Payment plan",
    "promise": "Promise to pay",
    "bankruptcy": "Bankruptcy (automatic stay)",
}


@dataclass(frozen=True)
class Standing:
    """One group on `on`: its state (current when it was never delinquent), the days its
    oldest bill still open is past due (0 when nothing is overdue after credits and disputes),
    the overdue amount in dollars and why the clock is paused (None when it runs)."""

    group_id: int
    state: DelinquencyState
    days_past_due: int
    overdue: Decimal
    paused: str | None
    paused_until: date | None

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def late(self) -> bool:
        return self.state in LATE_STATES

    @property
    def paused_label(self) -> str | None:
        return PAUSE_LABELS.get(self.paused, self.paused) if self.paused else None


def standings(session: Session, on: date, group_ids: Iterable[int]) -> dict[int, Standing]:
    """The Standing of each of `group_ids` on `on` (bills due before `on` are past due; money
    as it stands now, from the kept balances)."""
    ids = sorted(set(group_ids))
    if not ids:
        return {}
    rows = {
        r.group_id: r
        for r in session.scalars(
            select(GroupDelinquency).where(in_ids(GroupDelinquency.group_id, ids))
        )
    }
    owed = positions(session, on, ids)
    found = {}
    for gid in ids:
        row, position = rows.get(gid), owed.get(gid)
        overdue = position.overdue if position else ZERO
        oldest = position.oldest_due_on if position else None
        # Credits or disputes that cover every bill past due leave nothing late to count.
        days = (on - oldest).days if oldest is not None and overdue > 0 else 0
        paused = clock_paused(row, on) if row is not None else None
        found[gid] = Standing(
            group_id=gid,
            state=row.state if row is not None else S.CURRENT,
            days_past_due=max(days, 0),
            overdue=overdue,
            paused=paused,
            paused_until=row.paused_until if paused else None,
        )
    return found
