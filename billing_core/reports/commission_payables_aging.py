"""Commission payables aging (issue 21, item 7): what each agency is owed in commission payable
(`2300-<agency>`) as of a day, by how long ago it became payable. Read from the ledger: each
credit to the account (an approved run's net, or a returned ACH payment owed again) is a
payable dated by its entry; the debits (payments, chargebacks netted by approval) settle the
oldest first; what is left is aged from its date into Current (0-30 days), 31-60, 61-90 and
over 90. The total is the accounts' balance."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core.ledger import Chart
from billing_core.models import BrokerAgency, JournalEntry, LedgerAccount, Posting
from billing_core.money import ZERO
from billing_core.reports.commissions_by_agency import AGENCY, agency_matches
from billing_core.reports.framework import (
    Filter,
    Report,
    ReportColumn,
    ReportResult,
    register,
    today_text,
)

BUCKETS = (("current", 30), ("d31_60", 60), ("d61_90", 90), ("over_90", None))
COLUMNS = (
    ReportColumn("agency_code", "Agency", wrap=False),
    ReportColumn("agency_name", "Agency name"),
    ReportColumn("oldest", "Oldest unpaid since", "date"),
    ReportColumn("current", "0-30 days", "money", total=True, group="Payable for"),
    ReportColumn("d31_60", "31-60", "money", total=True, group="Payable for"),
    ReportColumn("d61_90", "61-90", "money", total=True, group="Payable for"),
    ReportColumn("over_90", "Over 90", "money", total=True, group="Payable for"),
    ReportColumn("owed", "Payable", "money", total=True),
)


def _bucket(days: int) -> str:
    return next(name for name, upto in BUCKETS if upto is None or days <= upto)


def _rows(session: Session, filters: dict) -> ReportResult:
    as_of: date = filters["as_of"]
    prefix = f"{Chart.COMMISSION_PAYABLE.code}-"
    found = session.execute(
        select(LedgerAccount.number, JournalEntry.entry_date, Posting.debit, Posting.credit)
        .join(Posting, Posting.account_id == LedgerAccount.id)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(LedgerAccount.number.like(f"{prefix}%"), JournalEntry.entry_date <= as_of)
        .order_by(LedgerAccount.number, JournalEntry.entry_date, JournalEntry.id)
    ).all()
    credits: dict[str, list[list]] = defaultdict(list)
    paid: dict[str, object] = defaultdict(lambda: ZERO)
    for number, day, debit, credit in found:
        code = number[len(prefix) :]
        if credit:
            credits[code].append([day, credit])
        if debit:
            paid[code] += debit
    agencies = {a.code: a for a in session.scalars(select(BrokerAgency))}
    rows = []
    for code, items in credits.items():
        agency = agencies.get(code)
        if agency is None or not agency_matches(agency, filters["agency"]):
            continue
        left = paid[code]
        row = {"agency_code": code, "agency_name": agency.name, "oldest": None,
               **{name: ZERO for name, _ in BUCKETS}, "owed": ZERO}  # fmt: skip
        for day, amount in items:  # the oldest payable is settled first
            settled = min(left, amount)
            left -= settled
            open_amount = amount - settled
            if open_amount > 0:
                row[_bucket((as_of - day).days)] += open_amount
                row["owed"] += open_amount
                row["oldest"] = row["oldest"] or day
        if row["owed"] > 0:
            rows.append(row)
    rows.sort(key=lambda r: r["agency_code"])
    totals = {"agency_code": "Total", "oldest": None,
              **{k: sum((r[k] for r in rows), ZERO) for k in (*dict(BUCKETS), "owed")}}  # fmt: skip
    return ReportResult(
        rows,
        totals=totals,
        highlights=[
            ("Commission payable", totals["owed"], "money"),
            ("Over 90 days", totals["over_90"], "money"),
        ],  # fmt: skip
        notes=[
            "Payable from the day a supervisor approved the run (or an ACH payment came back "
            "returned); payments settle the oldest first. Pay agencies from Paying agencies.",
        ],
    )


register(
    Report(
        name="commission_payables_aging",
        title="Commission payables aging",
        description="Commission payable to each agency as of a day, by days since it became "
        "payable.",
        columns=COLUMNS,
        filters=(Filter("as_of", "As of", "date", today_text), AGENCY),
        rows=_rows,
        default_sort="agency_code",
    )
)
