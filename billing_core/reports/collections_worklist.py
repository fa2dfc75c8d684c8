"""The collections worklist as a report (issue 20, item 5): the rows of
billing_core.collections.worklist.worklist (one per delinquent group, ranked by the next action
and the amount at stake), with its filters, for the CSV and XLSX downloads and the reports
index. The admin page /admin/collections shows the same rows."""

from __future__ import annotations

from sqlalchemy.orm import Session

from billing_core.collections.worklist import ACTION_LABELS, STATE_LABELS, WORKLIST_STATES, worklist
from billing_core.ledger.receivables import AGING_BUCKETS, AGING_KEYS
from billing_core.money import ZERO
from billing_core.reports.framework import (
    GROUP,
    GROUP_COLUMNS,
    Filter,
    Report,
    ReportColumn,
    ReportResult,
    register,
    sum_totals,
    today_text,
)

STATE_CHOICES = (("all", "Every delinquent state"),
                 *((s.value, STATE_LABELS[s]) for s in WORKLIST_STATES))  # fmt: skip
ACTION_CHOICES = (("all", "Every action"), *ACTION_LABELS.items())

WORKLIST_FILTERS = (
    Filter(
        "as_of",
        "As of",
        "date",
        today_text,
        help="The day the actions are due on; money is as it stands now (the kept balances).",
    ),
    Filter("state", "State", "choice", "all", STATE_CHOICES),
    Filter("action", "Next action", "choice", "all", ACTION_CHOICES),
    Filter("broker", "Broker", "group", help="Part of the agency's or broker's name."),
    GROUP,
)

WORKLIST_COLUMNS = (
    ReportColumn("rank", "Rank", "int"),
    *GROUP_COLUMNS,
    ReportColumn("state_label", "State"),
    ReportColumn("action_label", "Next action"),
    ReportColumn("action_due_on", "Action due", "date"),
    ReportColumn("why", "Why"),
    ReportColumn("overdue", "Overdue (cure amount)", "money", total=True),
    *(
        ReportColumn(key, f"{label} days", "money", total=True, label=label, group="Days past due")
        for key, (label, _, _) in zip(AGING_KEYS[1:], AGING_BUCKETS[1:], strict=True)
    ),  # fmt: skip
    ReportColumn("net_balance", "Net balance", "money", total=True),
    ReportColumn("days_to_termination", "Days to termination", "int"),
    ReportColumn("last_contact_on", "Last contact", "date"),
    ReportColumn("last_contact_kind", "Contact kind"),
    ReportColumn("last_contact_by", "Contact by"),
    ReportColumn("last_contact_outcome", "Last contact outcome"),
    ReportColumn("promise", "Promise to pay"),
    ReportColumn("plan", "Payment plan"),
    ReportColumn("broker", "Broker of record"),
)


def _rows(session: Session, filters: dict) -> ReportResult:
    rows = worklist(session, filters["as_of"], filters)
    totals = sum_totals(WORKLIST_COLUMNS, rows, rank=None, days_to_termination=None)
    return ReportResult(
        rows,
        totals,
        highlights=[
            ("Groups listed", len(rows), "int"),
            ("Actions due", sum(1 for r in rows if r["due"]), "int"),
            ("Overdue", sum((r["overdue"] for r in rows), ZERO), "money"),
        ],
        notes=[
            "Ranked by the next action (a call after a broken promise, cancel, plan offer, "
            "refer, call, notice, charge off) then the overdue amount; actions due later "
            "(a promise in force, a follow-up date) come last.",
            "Overdue = bills past due - unapplied credit - amounts in dispute (the cure "
            "amount); net balance = everything open, due or not, - unapplied credit.",
        ],
    )


register(
    Report(
        name="collections_worklist",
        title="Collections worklist",
        description="Delinquent groups ranked by the next recommended action and the amount "
        "at stake, with aging, days to termination, the last contact, promises and broker.",
        columns=WORKLIST_COLUMNS,
        filters=WORKLIST_FILTERS,
        rows=_rows,
        default_sort="rank",
    )
)
