"""The credit-control report (issue 20, item 10): every group that credit control watches, one
row each: on the credit-control watchlist (its tax id matches an active entry), delinquent
(past due, in grace, pending cancellation, cancelled for non-payment), in a payment plan or
a promise to pay (the clock paused for it, or an open promise), referred to an outside
agency, or charged off. Each row says why it is listed, the state, days past due, the overdue
amount (cure amount), the arrangement in force and the watchlist entry. CSV/XLSX through the
report framework. Beside it, the "watchlist" report: the entries themselves, for download.

States, arrangements and money are as they stand now (the kept balances, GroupDelinquency);
the as-of date decides which watchlist entries are active, which bills are past due and the
days past due. A bankruptcy's automatic stay is shown as the arrangement but does not list a
group on its own."""

from __future__ import annotations

from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from billing_core.collections.standing import STATE_LABELS, standings
from billing_core.collections.watchlist import (
    entries,
    format_tax_id,
    normalise_tax_id,
    watched_group_ids,
)
from billing_core.db import in_ids
from billing_core.models import EmployerGroup
from billing_core.models.collections import (
    DelinquencyState,
    GroupDelinquency,
    PromiseStatus,
    PromiseToPay,
)
from billing_core.money import ZERO, format_dollars
from billing_core.reports.framework import (
    GROUP,
    GROUP_COLUMNS,
    Filter,
    Report,
    ReportColumn,
    ReportResult,
    group_match,
    register,
    sum_totals,
    today_text,
)

S = DelinquencyState
DELINQUENT = (S.PAST_DUE, S.IN_GRACE, S.PENDING_CANCELLATION, S.CANCELLED)
ARRANGEMENTS = ("payment_plan", "promise")

WATCHLIST, DELINQUENT_KEY, ARRANGEMENT, REFERRED, CHARGED_OFF = (
    "watchlist", "delinquent", "arrangement", "referred", "charged_off"
)  # fmt: skip
REASON_LABELS = {
    WATCHLIST: "On the watchlist",
    DELINQUENT_KEY: "Delinquent",
    ARRANGEMENT: "In a plan or promise",
    REFERRED: "Referred",
    CHARGED_OFF: "Charged off",
}
SHOW_CHOICES = (("all", "Every listed group"), *REASON_LABELS.items())

CREDIT_CONTROL_FILTERS = (
    Filter(
        "as_of",
        "As of",
        "date",
        today_text,
        help="Watchlist entries active on this day; bills due before it are past due.",
    ),
    Filter("show", "Listed for", "choice", "all", SHOW_CHOICES),
    GROUP,
)

CREDIT_CONTROL_COLUMNS = (
    *GROUP_COLUMNS,
    ReportColumn("tax_id", "Tax id", wrap=False),
    ReportColumn("listed_for", "Listed for"),
    ReportColumn("state_label", "State"),
    ReportColumn("days_past_due", "Days past due", "int"),
    ReportColumn("overdue", "Overdue (cure amount)", "money", total=True),
    ReportColumn("arrangement", "Plan, promise or stay"),
    ReportColumn("watchlist", "Watchlist entry"),
    ReportColumn("watchlist_expires_on", "Watchlist expiry", "date"),
)


def _candidate_ids(session: Session, as_of: date) -> tuple[set[int], dict]:
    """The groups any rule may list (one query each), and the watchlist's matches."""
    watched = watched_group_ids(session, as_of)
    ids = set(watched)
    ids.update(
        session.scalars(
            select(GroupDelinquency.group_id).where(
                or_(
                    GroupDelinquency.state.in_((*DELINQUENT, S.REFERRED, S.CHARGED_OFF)),
                    GroupDelinquency.paused_reason.in_(ARRANGEMENTS),
                )
            )
        )
    )
    ids.update(
        session.scalars(
            select(PromiseToPay.group_id).where(PromiseToPay.status == PromiseStatus.OPEN)
        )
    )
    return ids, watched


def _open_promises(session: Session, ids: list[int]) -> dict[int, PromiseToPay]:
    found = {}
    for promise in session.scalars(
        select(PromiseToPay)
        .where(PromiseToPay.status == PromiseStatus.OPEN, in_ids(PromiseToPay.group_id, ids))
        .order_by(PromiseToPay.id)
    ):
        found[promise.group_id] = promise  # the latest open one
    return found


def credit_control_rows(session: Session, filters: dict) -> ReportResult:
    """The report's rows (see the module docstring). Filters: `as_of` (a date), `show` (one of
    REASON_LABELS' keys, or "all"), `group` (part of the group number or name)."""
    as_of: date = filters["as_of"]
    show = filters.get("show") or "all"
    ids, watched = _candidate_ids(session, as_of)
    if not ids:
        return _result([])
    query = select(EmployerGroup).where(in_ids(EmployerGroup.id, sorted(ids)))
    matching = group_match(filters.get("group"))
    if matching is not None:
        query = query.where(matching)
    groups = list(session.scalars(query.order_by(EmployerGroup.group_number)))
    gids = [g.id for g in groups]
    standing = standings(session, as_of, gids)
    promises = _open_promises(session, gids)
    rows = []
    for group in groups:
        st = standing[group.id]
        promise = promises.get(group.id)
        reasons = []
        if group.id in watched:
            reasons.append(WATCHLIST)
        if st.state in DELINQUENT:
            reasons.append(DELINQUENT_KEY)
        if st.paused in ARRANGEMENTS or promise is not None:
            reasons.append(ARRANGEMENT)
        if st.state is S.REFERRED:
            reasons.append(REFERRED)
        if st.state is S.CHARGED_OFF:
            reasons.append(CHARGED_OFF)
        if not reasons or (show != "all" and show not in reasons):
            continue
        entries = watched.get(group.id, [])
        expiries = [e.expires_on for e in entries if e.expires_on is not None]
        rows.append(
            {
                "group_id": group.id,
                "group_number": group.group_number,
                "group_name": group.name,
                "tax_id": format_tax_id(normalise_tax_id(group.tax_id)),
                "listed_for": ", ".join(REASON_LABELS[r] for r in reasons),
                "reasons": reasons,
                "state": st.state.value,
                "state_label": STATE_LABELS[st.state],
                "days_past_due": st.days_past_due or None,
                "overdue": st.overdue,
                "arrangement": _arrangement(st, promise),
                "watchlist": "; ".join(f"{e.name}: {e.reason}" for e in entries) or None,
                "watchlist_expires_on": (
                    None if not entries or len(expiries) < len(entries) else max(expiries)
                ),
            }
        )
    return _result(rows)


def _arrangement(st, promise: PromiseToPay | None) -> str | None:
    parts = []
    if st.paused_label and st.paused != "promise":
        until = f" until {st.paused_until:%b %-d, %Y}" if st.paused_until else ""
        parts.append(f"{st.paused_label}{until}")
    if promise is not None:
        parts.append(
            f"Promise to pay {format_dollars(promise.amount)} by {promise.promised_on:%b %-d, %Y}"
        )
    return "; ".join(parts) or None


def _result(rows: list[dict]) -> ReportResult:
    totals = sum_totals(CREDIT_CONTROL_COLUMNS, rows)
    return ReportResult(
        rows,
        totals,
        highlights=[
            ("Groups listed", len(rows), "int"),
            ("On the watchlist", sum(1 for r in rows if WATCHLIST in r["reasons"]), "int"),
            ("Delinquent", sum(1 for r in rows if DELINQUENT_KEY in r["reasons"]), "int"),
            ("Overdue", sum((r["overdue"] for r in rows), ZERO), "money"),
        ],
        notes=[
            "Listed when on the credit-control watchlist (tax id, dashes and spaces ignored), "
            "delinquent (past due, in grace, pending cancellation, cancelled), in a payment plan "
            "or promise to pay, referred to an outside agency, or charged off.",
            "Overdue = bills past due - unapplied credit - amounts in dispute (the cure amount); "
            "days past due count from the oldest bill still open. States and money as they "
            "stand now.",
        ],
    )


register(
    Report(
        name="credit_control",
        title="Credit control",
        description="Groups on the credit-control watchlist, delinquent, in a payment plan or "
        "promise, referred or charged off: state, days past due, overdue and the arrangement.",
        columns=CREDIT_CONTROL_COLUMNS,
        filters=CREDIT_CONTROL_FILTERS,
        rows=credit_control_rows,
        default_sort="-overdue",
    )
)


# --------------------------------------------------------------------------- the watchlist itself

WATCHLIST_STATUS_CHOICES = (
    ("active", "Active"),
    ("expired", "Expired"),
    ("removed", "Removed"),
    ("all", "All"),
)
WATCHLIST_COLUMNS = (
    ReportColumn("tax_id", "Tax id", wrap=False),
    ReportColumn("name", "Employer"),
    ReportColumn("reason", "Reason"),
    ReportColumn("added_on", "Added on", "date"),
    ReportColumn("added_by", "Added by"),
    ReportColumn("expires_on", "Expires on", "date"),
    ReportColumn("status", "Status"),
    ReportColumn("removed_on", "Removed on", "date"),
    ReportColumn("removed_by", "Removed by"),
    ReportColumn("removed_reason", "Why removed"),
    ReportColumn("groups", "Groups with this tax id"),
)


def watchlist_rows(session: Session, filters: dict) -> ReportResult:
    """The watchlist's entries with their status on `as_of` (`status`: active, expired,
    removed or all) and the groups set up with each tax id."""
    found = entries(session, filters["as_of"], status=filters.get("status") or "active")
    rows = [
        {
            "tax_id": r.tax_id,
            "name": r.entry.name,
            "reason": r.entry.reason,
            "added_on": r.entry.added_on,
            "added_by": r.entry.added_by,
            "expires_on": r.entry.expires_on,
            "status": r.status.capitalize(),
            "removed_on": r.entry.removed_on,
            "removed_by": r.entry.removed_by,
            "removed_reason": r.entry.removed_reason,
            "groups": ", ".join(f"{g.group_number} {g.name}" for g in r.groups) or None,
        }
        for r in found
    ]
    return ReportResult(
        rows,
        None,
        highlights=[("Entries", len(rows), "int")],
        notes=["Tax ids match on their digits: dashes and spaces are ignored."],
    )


register(
    Report(
        name="watchlist",
        title="Credit-control watchlist",
        description="The watchlist's entries: tax id, employer, reason, who added it and when, "
        "expiry, status and the groups set up with the tax id.",
        columns=WATCHLIST_COLUMNS,
        filters=(
            Filter("as_of", "As of", "date", today_text, help="Each entry's status on this day."),
            Filter("status", "Status", "choice", "active", WATCHLIST_STATUS_CHOICES),
        ),
        rows=watchlist_rows,
        default_sort="-added_on",
    )
)
