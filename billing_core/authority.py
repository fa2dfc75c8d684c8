"""Four eyes: the one rule for every decision that moves money on a person's say-so (approving
adjustments, writing off, refunding a group's credit or cash out of suspense).

A person may act alone only within the authority limit (the setting
`ADJUSTMENT_AUTHORITY_LIMIT`, whose default is `DEFAULT_AUTHORITY_LIMIT` here and nowhere else),
and the limit is measured on sums, never on one line or one call: the whole of what one decision
approves, everything one source produced that waits for a decision, and what the same person has
already moved on the same invoice (or payment) and on the same day. Above the limit, or where a
rule says so regardless of the amount (a month older than the retro window), only a supervisor
(or admin) who did not request it may decide. Some decisions always need a second person,
whatever the amount (money leaving: refunds).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from billing_core.errors import AccessDenied
from billing_core.models import User
from billing_core.models.enums import Role
from billing_core.money import ZERO, format_dollars

DEFAULT_AUTHORITY_LIMIT = Decimal("500.00")
SUPERVISING_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})


@dataclass(frozen=True)
class Exposure:
    """A sum of dollars (absolute) the authority limit is measured on, and what it covers in
    words that read before "come to $X": `the adjustments this decision approves`."""

    amount: Decimal
    what: str


def gross(amounts: Iterable[Decimal]) -> Decimal:
    """Dollars moved, whatever their sign: a credit of 400 and a charge of 400 are 800."""
    return sum((abs(a) for a in amounts), ZERO)


def over_limit(exposures: Sequence[Exposure], limit: Decimal) -> Exposure | None:
    """The largest exposure above `limit` (None when every one is within it)."""
    above = [e for e in exposures if e.amount > limit]
    return max(above, key=lambda e: e.amount) if above else None


@dataclass(frozen=True)
class Authority:
    """Who may take a decision: anyone on the staff, a second person, or a supervisor who did
    not request it; and why, in words the page shows before anyone presses a button."""

    what: str
    needs_supervisor: bool
    second_person: bool
    requested_by: frozenset[int]
    reason: str  # why a supervisor must decide; empty when anyone on the staff may

    def refusal(self, actor: User | None) -> str | None:
        """Why `actor` may not take the decision (None when they may)."""
        if actor is None or not actor.role.is_staff:
            return "only billing staff take this decision"
        if self.needs_supervisor and actor.role not in SUPERVISING_ROLES:
            return self.reason
        if (self.needs_supervisor or self.second_person) and actor.id in self.requested_by:
            who = " (a supervisor who did not request it)" if self.needs_supervisor else ""
            return f"{self.what} needs a second person{who}: you requested it"
        return None

    def check(self, actor: User | None) -> None:
        """Raise AccessDenied with the reason when `actor` may not decide."""
        refusal = self.refusal(actor)
        if refusal is not None:
            raise AccessDenied(refusal)


def authority(
    *,
    what: str,
    exposures: Sequence[Exposure],
    limit: Decimal,
    requested_by: Iterable[int | None] = (),
    second_person: bool = False,
    supervisor_because: str = "",
) -> Authority:
    """Who may decide `what` (e.g. "an adjustment of $600.00"): above `limit` on any of
    `exposures`, or with `supervisor_because` (a rule that needs a supervisor whatever the
    amount), only a supervisor who is not among `requested_by`; with `second_person`, never
    one of `requested_by`."""
    requesters = frozenset(r for r in requested_by if r is not None)
    over = over_limit(exposures, limit)
    reasons = []
    if over is not None:
        reasons.append(
            f"{over.what} come to {format_dollars(over.amount)} "
            f"(authority limit {format_dollars(limit)})"
        )
    if supervisor_because:
        reasons.append(supervisor_because)
    if not reasons:
        return Authority(what, False, second_person, requesters, "")
    reason = f"{what} needs a supervisor's approval: {'; '.join(reasons)}"
    return Authority(what, True, second_person, requesters, reason)
