"""The demo's commissions (issue 21's acceptance): two agencies with a commission run for every
month of the history, each approved by a supervisor who did not run it (this month's left
open), a split between the agencies on one group from the middle of the history, a hold (a
late group's premium paid while it was delinquent), its release, and a chargeback (a retro
credit); the demo's billing figures are untouched (commission posts to its own accounts)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from billing_core.commissions.broker_book import book_of_business, closed_statement
from billing_core.demo.commissions import SPLIT_GROUP, split_month
from billing_core.demo.logins import SPECIALIST_EMAIL, SUPERVISOR_EMAIL
from billing_core.models import BrokerAgency, BrokerOfRecord, EmployerGroup, JournalEntry, User
from billing_core.models.commissions import (
    CommissionLine,
    CommissionLineKind,
    CommissionRun,
    CommissionRunStatus,
)
from billing_core.money import ZERO
from tests.unit.conftest import DEMO_HISTORY_MONTHS, DEMO_TODAY


def test_a_year_of_runs_approved_by_a_second_person(demo_book):
    session = demo_book.session
    runs = list(session.scalars(select(CommissionRun).order_by(CommissionRun.month)))
    specialist = session.scalar(select(User).where(User.email == SPECIALIST_EMAIL))
    supervisor = session.scalar(select(User).where(User.email == SUPERVISOR_EMAIL))
    assert [r.month.isoformat()[:7] for r in runs] == ["2026-03", "2026-04", "2026-05"]
    assert [r.status for r in runs] == [CommissionRunStatus.APPROVED] * 2 + [
        CommissionRunStatus.OPEN
    ]
    for run in runs[:2]:
        assert run.ran(specialist.id) and run.approved_by_id == supervisor.id
    assert demo_book.first.history["commissions"]["approved"] == ["2026-03", "2026-04"]


def test_two_agencies_a_split_a_hold_a_release_and_a_chargeback(demo_book):
    session = demo_book.session
    agencies = {a.id: a.code for a in session.scalars(select(BrokerAgency))}
    lines = list(session.scalars(select(CommissionLine)))
    by_agency = Counter(agencies[line.agency_id] for line in lines)
    assert by_agency["HARBOR"] > 0 and by_agency["CASCADE"] > 0
    kinds = Counter(line.kind for line in lines)
    for kind in (CommissionLineKind.HOLD, CommissionLineKind.RELEASE,
                 CommissionLineKind.CHARGEBACK):  # fmt: skip
        assert kinds[kind] > 0, kind

    group = session.scalar(select(EmployerGroup).where(EmployerGroup.group_number == SPLIT_GROUP))
    split_from = split_month(DEMO_TODAY, DEMO_HISTORY_MONTHS)
    shares = {
        agencies[r.agency_id]: r.commission_split_percent
        for r in session.scalars(
            select(BrokerOfRecord).where(
                BrokerOfRecord.group_id == group.id, BrokerOfRecord.effective_from == split_from
            )
        )
    }
    assert {k: str(v) for k, v in shares.items()} == {"HARBOR": "60.00", "CASCADE": "40.00"}
    split_lines = [x for x in lines if x.group_id == group.id and x.coverage_month == split_from
                   and x.kind is CommissionLineKind.EARNED]  # fmt: skip
    assert {agencies[x.agency_id] for x in split_lines} == {"HARBOR", "CASCADE"}
    # Cascade's book shows the shared group from the split on; Harbor's statement of the
    # split month holds its 60%.
    cascade = next(a for a in session.scalars(select(BrokerAgency)) if a.code == "CASCADE")
    entry = next(b for b in book_of_business(session, cascade.id, DEMO_TODAY)
                 if b.group.id == group.id)  # fmt: skip
    assert entry.current and entry.split_percent == 40
    harbor = next(a for a in session.scalars(select(BrokerAgency)) if a.code == "HARBOR")
    statement = closed_statement(session, harbor, split_from)
    assert statement is not None and statement.totals["net"] > ZERO
    assert any(x.split_percent == 60 and x.group_number == SPLIT_GROUP for x in statement.lines)


def test_commission_posts_only_to_its_own_accounts(demo_book):
    session = demo_book.session
    entries = list(
        session.scalars(
            select(JournalEntry).where(
                JournalEntry.source_type.in_(("commission_run", "commission_approval"))
            )
        )
    )
    assert entries
    for entry in entries:
        codes = {p.account.code for p in entry.postings}
        assert codes <= {"5400", "2300", "2305", "2310"}, (entry.memo, codes)
