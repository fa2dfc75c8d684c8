"""The demo book: deterministic, loads once, covers every rating basis and role."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

import billing_core.models  # noqa: F401  (every table on Base.metadata)
from billing_core import ledger
from billing_core.billing.adjustments import REASONS
from billing_core.demo import (
    DEMO_PASSWORD,
    build_demo_document,
    database_is_empty,
    load_demo,
)
from billing_core.demo.book import GROUPS
from billing_core.demo.document import DEMO_SEED, build_document
from billing_core.demo.history import issue_history
from billing_core.demo.late_groups import GONE, LATE_GROUPS
from billing_core.demo.logins import SPECIALIST_EMAIL, SUPERVISOR_EMAIL
from billing_core.models import (
    Adjustment,
    Dependent,
    EmployerGroup,
    Invoice,
    InvoiceLine,
    JournalEntry,
    Member,
    Payment,
    Plan,
    Posting,
    Product,
    RateVersion,
    SuspenseItem,
    User,
)
from billing_core.models.enums import (
    AdjustmentStatus,
    InvoiceSection,
    InvoiceStatus,
    MemberStatus,
    PaymentStatus,
    RatingBasis,
    Role,
    SuspenseStatus,
    Tier,
)
from billing_core.money import D
from billing_core.payments.allocation import group_credit, open_balances
from billing_core.security import normalize_ssn, verify_password
from billing_core.setup import validate_setup_document
from tests.unit.conftest import DEMO_HISTORY_MONTHS, DEMO_TODAY
from tests.unit.db_helpers import row_counts

TODAY = DEMO_TODAY
# A short history keeps the suite fast: Mar-Jun 2026 (June's bill was issued May 17).
HISTORY_MONTHS = DEMO_HISTORY_MONTHS
HISTORY = [date(2026, 3, 1), date(2026, 4, 1), date(2026, 5, 1), date(2026, 6, 1)]


@pytest.fixture(scope="module")
def document() -> dict:
    return build_demo_document(TODAY)


def test_the_document_is_deterministic_and_valid(document):
    assert build_demo_document(TODAY) == document
    assert build_demo_document(TODAY, seed=7) != document
    assert validate_setup_document(document, "demo") == []


def test_the_document_looks_like_a_real_book(document):
    sizes = sorted(len(g["members"]) for g in document["groups"])
    assert sizes == [5, 14, 48, 120, 310, 640, 1250, 2000]
    methods = {g["billing_policies"][0]["billing_method"] for g in document["groups"]}
    assert methods == {"list_bill", "self_bill"}
    frequencies = [g["billing_policies"][0]["billing_frequency"] for g in document["groups"]]
    assert frequencies.count("quarterly") == 1
    renewed = [
        g for g in document["groups"] if any(len(p["rate_versions"]) == 2 for p in g["plans"])
    ]
    assert len(renewed) >= 3
    members = [m for g in document["groups"] for m in g["members"]]
    statuses = {m["status"] for m in members}
    assert statuses == {"active", "cobra", "retiree", "terminated"}
    for m in members:
        ssns = [m["ssn"]] + [d["ssn"] for d in m.get("dependents", []) if "ssn" in d]
        for ssn in ssns:
            assert normalize_ssn(ssn) and not ssn.startswith(("9", "000", "666"))
        kinds = {d["relationship"] for d in m.get("dependents", [])}
        expected = {
            frozenset(): "EE",
            frozenset({"spouse"}): "ES",
            frozenset({"child"}): "EC",
            frozenset({"spouse", "child"}): "FAM",
        }[frozenset(kinds)]
        assert all(c["tier"] == expected for c in m["coverages"] if "tier" in c)
        ends = [c.get("effective_to") for c in m["coverages"]]
        if m["status"] == "terminated":
            ended = date.fromisoformat(ends[0])
            assert (date.fromordinal(ended.toordinal() + 1)).day == 1  # a month end
            assert date(2025, 5, 1) <= ended <= TODAY


@pytest.fixture(scope="module")
def demo(demo_book):
    """The shared demo book (tests/unit/conftest.py): loaded once, only read."""
    return demo_book


def test_load_demo_twice_changes_nothing(demo):
    unit_session, first = demo.session, demo.first
    assert demo.empty_before
    assert first.loaded and first.summary["created"]["members"] == 4387
    assert not database_is_empty(unit_session)
    before = row_counts(unit_session)

    second = load_demo(unit_session, TODAY, history_months=HISTORY_MONTHS)

    assert not second.loaded
    assert row_counts(unit_session) == before
    assert second.logins == first.logins
    assert {login["role"] for login in second.logins} == {r.value for r in Role}
    # The second load issued nothing and queued no adjustment again.
    assert before["invoice"] == first.history["invoices"] > 0
    assert before["invoice_line"] == first.history["invoice_lines"]
    assert before["adjustment"] == first.history["adjustments"] > 0
    # Replaying the history itself is harmless too: every run finds its bills issued and every
    # late change finds its differences already adjusted.
    document, book = build_document(TODAY, DEMO_SEED)
    replay = issue_history(unit_session, document, book, TODAY, HISTORY_MONTHS)
    assert (replay["invoices"], replay["adjustments"]) == (0, 0)
    assert row_counts(unit_session) == before

    # What was loaded.
    assert unit_session.scalar(select(func.count()).select_from(EmployerGroup)) == 8 + len(
        LATE_GROUPS
    )
    bases = set(unit_session.scalars(select(Product.rating_basis)))
    assert bases == set(RatingBasis)
    counts = unit_session.execute(
        select(Member.group_id, func.count()).group_by(Member.group_id)
    ).all()
    assert all(5 <= n <= 2000 for _, n in counts) and len(counts) == 8 + len(LATE_GROUPS)
    assert set(unit_session.scalars(select(User.role))) == set(Role)
    admin = unit_session.scalars(
        select(User).where(User.email == "admin@carrier.example.com")
    ).one()
    assert verify_password(admin.password_hash, DEMO_PASSWORD)
    limited = unit_session.scalars(
        select(User).where(User.email == "hr-houston@northstarretail.example.com")
    ).one()
    assert [a.subgroup_id is not None for a in limited.group_access] == [True]
    for model in (Member, Dependent):
        rows = unit_session.execute(
            select(model.ssn_encrypted, model.ssn_last4).where(model.ssn_encrypted.is_not(None))
        ).all()
        assert rows
        assert all(len(enc) > 50 and not enc.isdigit() and enc[-4:] != last4 for enc, last4 in rows)
    assert unit_session.scalar(
        select(func.count()).select_from(Member).where(Member.status == MemberStatus.COBRA)
    )


def _expected_invoice_numbers(month: date) -> set[str]:
    """Every billing account due in `month`: monthly groups each month, the quarterly group in
    the months its quarters start (aligned on its original effective month), and each
    separately billed subgroup besides its group."""
    numbers = set()
    for spec in GROUPS:
        months_apart = (month.year - spec.since_year) * 12 + month.month - spec.renewal_month
        if spec.frequency == "quarterly" and months_apart % 3:
            continue
        numbers.add(f"{spec.number}-{month:%Y%m}")
        numbers |= {
            f"{spec.number}-{month:%Y%m}-{code}" for code, _, _, alone in spec.subgroups if alone
        }
    # The late groups are billed monthly, but the cancelled ones (cancelled, referred, charged
    # off) not after their cancellation (May 6; June's bill would be issued May 17).
    for late in LATE_GROUPS:
        if not (late.state in GONE and month >= date(2026, 6, 1)):
            numbers.add(f"{late.spec.number}-{month:%Y%m}")
    return numbers


def test_the_history_bills_every_month_with_a_balanced_entry(demo):
    session, history = demo.session, demo.first.history
    assert history["months"] == [f"{m:%Y-%m}" for m in HISTORY]
    assert history["held"] == {}
    invoices = session.scalars(select(Invoice).order_by(Invoice.period_start)).all()
    by_month = defaultdict(set)
    for invoice in invoices:
        by_month[invoice.period_start].add(invoice.invoice_number)
        # Issued on the scheduled date: the period start minus the policy's 15 lead days.
        assert invoice.issued_on == invoice.period_start - timedelta(days=15)
        assert invoice.status is InvoiceStatus.ISSUED
    assert sorted(by_month) == HISTORY
    for month in HISTORY:
        assert by_month[month] == _expected_invoice_numbers(month), month
    assert len(invoices) == history["invoices"]

    # Lines add up to the invoice's sections.
    sections = defaultdict(lambda: defaultdict(lambda: 0))
    for invoice_id, section, amount in session.execute(
        select(InvoiceLine.invoice_id, InvoiceLine.section, InvoiceLine.amount)
    ):
        sections[invoice_id][section] += amount
    assert sum(1 for _ in sections) == len(invoices)
    for invoice in invoices:
        assert sections[invoice.id][InvoiceSection.PREMIUM] == invoice.current_premium > 0
        assert sections[invoice.id][InvoiceSection.RETRO] == invoice.retro_total

    # Every invoice has one journal entry, balanced, for exactly its new charges.
    totals = {
        source_id: (debit, credit)
        for source_id, debit, credit in session.execute(
            select(JournalEntry.source_id, func.sum(Posting.debit), func.sum(Posting.credit))
            .join(Posting, Posting.entry_id == JournalEntry.id)
            .where(JournalEntry.source_type == "invoice")
            .group_by(JournalEntry.source_id)
        )
    }
    assert set(totals) == {invoice.id for invoice in invoices}
    for invoice in invoices:
        debit, credit = totals[invoice.id]
        charges = invoice.current_premium + invoice.retro_total + invoice.fees_total
        assert debit == credit == charges, invoice.invoice_number
    # With no payment yet, each bill carries the previous one forward.
    previous: dict[tuple, Invoice] = {}
    for invoice in invoices:
        account = (invoice.group_id, invoice.subgroup_id)
        before = previous.get(account)
        assert invoice.balance_forward == (before.total_due if before else 0)
        previous[account] = invoice


def _premium_lines(session, group_number: str, plan_code: str):
    return session.execute(
        select(InvoiceLine.member_id, InvoiceLine.coverage_month, InvoiceLine.rate_version_id)
        .join(Plan, Plan.id == InvoiceLine.plan_id)
        .join(EmployerGroup, EmployerGroup.id == Plan.group_id)
        .where(
            EmployerGroup.group_number == group_number,
            Plan.code == plan_code,
            InvoiceLine.section == InvoiceSection.PREMIUM,
        )
    ).all()


def test_the_bills_show_renewals_adds_and_terms(demo):
    session = demo.session
    # Meridian (G-1006) renews in April: March is billed at the old rates, April on at the new.
    versions = defaultdict(set)
    for _, month, version_id in _premium_lines(session, "G-1006", "MED"):
        versions[month].add(version_id)
    assert all(len(ids) == 1 for ids in versions.values())
    old, new = versions[date(2026, 3, 1)], versions[date(2026, 4, 1)]
    assert old != new and versions[date(2026, 6, 1)] == new
    renewal = session.get(RateVersion, next(iter(new)))
    assert renewal.effective_from == date(2026, 4, 1)
    assert renewal.first_billed_on == date(2026, 3, 17)
    # Members come and go along the history (adds and terms in the enrollment).
    billed = defaultdict(set)
    for member_id, month, _ in _premium_lines(session, "G-1008", "MED"):
        billed[month].add(member_id)
    assert billed[date(2026, 6, 1)] - billed[date(2026, 3, 1)]
    assert billed[date(2026, 3, 1)] - billed[date(2026, 6, 1)]


def test_late_changes_land_in_the_next_bills_retro_section(demo):
    session = demo.session
    specialist = session.scalars(select(User).where(User.email == SPECIALIST_EMAIL)).one()
    supervisor = session.scalars(select(User).where(User.email == SUPERVISOR_EMAIL)).one()
    adjustments = session.scalars(select(Adjustment).order_by(Adjustment.id)).all()
    assert len(adjustments) == demo.first.history["adjustments"]
    invoices = {i.id: i for i in session.scalars(select(Invoice))}
    for adjustment in adjustments:
        # Approved by the supervisor on the specialist's request, then billed by the next run.
        assert adjustment.status is AdjustmentStatus.BILLED
        assert adjustment.requested_by_id == specialist.id
        assert adjustment.decided_by_id == supervisor.id
        assert adjustment.created_at < adjustment.decided_at
        assert adjustment.reason_code in REASONS
        assert adjustment.source_type in {"upload", "manual"}
        invoice = invoices[adjustment.invoice_id]
        assert adjustment.decided_at.date() < invoice.issued_on
        assert adjustment.coverage_month < invoice.period_start
    reasons = {(a.reason_code, a.amount > 0) for a in adjustments}
    assert {("late_term", False), ("late_add", True), ("tier_change", True)} <= reasons
    assert len({a.group_id for a in adjustments}) >= 3

    # Each retro section is exactly the approved adjustments of that invoice.
    retro = defaultdict(set)
    for line in session.scalars(
        select(InvoiceLine).where(InvoiceLine.section == InvoiceSection.RETRO)
    ):
        retro[line.invoice_id].add(
            (line.adjustment_id, line.member_id, line.plan_id, line.coverage_month, line.amount)
        )
        assert line.reason_code is not None
    billed = defaultdict(set)
    for a in adjustments:
        billed[a.invoice_id].add((a.id, a.member_id, a.plan_id, a.coverage_month, a.amount))
    assert retro == billed and len(retro) >= 3

    # Amounts are premiums, not invented: a credit takes back the line billed in error; a debit
    # is the member's premium for that plan, the same as the member's next current-month line;
    # a tier change is the new tier's premium less the one billed.
    lines = defaultdict(list)
    for member_id, plan_id, month, amount, tier in session.execute(
        select(
            InvoiceLine.member_id,
            InvoiceLine.plan_id,
            InvoiceLine.coverage_month,
            InvoiceLine.amount,
            InvoiceLine.tier,
        ).where(
            InvoiceLine.section == InvoiceSection.PREMIUM,
            InvoiceLine.member_id.in_({a.member_id for a in adjustments}),
        )
    ):
        lines[(member_id, plan_id, month)].append((amount, tier))
    for a in adjustments:
        invoice = invoices[a.invoice_id]
        then = lines[(a.member_id, a.plan_id, a.coverage_month)]
        now = lines[(a.member_id, a.plan_id, invoice.period_start)]
        if a.reason_code == "late_term":
            assert then == [(-a.amount, then[0][1])] and now == []
        elif a.reason_code == "late_add":
            assert then == [] and [amount for amount, _ in now] == [a.amount]
        else:
            (was, old_tier), (is_now, new_tier) = then[0], now[0]
            assert (old_tier, new_tier) == (Tier.EE, Tier.ES)
            assert a.amount == is_now - was > 0
    terminated = {a.member_id for a in adjustments if a.reason_code == "late_term"}
    statuses = session.scalars(select(Member.status).where(Member.id.in_(terminated))).all()
    assert statuses == [MemberStatus.TERMINATED] * len(terminated)


def test_the_history_has_payments_that_tie_to_the_ledger(demo):
    """Every group's payments: on time, late, short inside tolerance (written off), over
    (a credit flagged for review, used on the next bill), a lockbox check in suspense; and the
    books still tie."""
    session = demo.session
    payments = session.scalars(select(Payment)).all()
    assert demo.first.history["payments"] == len([p for p in payments if p.group_id])
    assert {p.status for p in payments} <= {PaymentStatus.SUCCEEDED, PaymentStatus.RETURNED}
    suspense = session.scalars(select(SuspenseItem)).all()
    assert [item.status for item in suspense] == [SuspenseStatus.OPEN]
    write_off = ledger.account_balance(session, ledger.account(session, ledger.Chart.WRITE_OFF))
    assert write_off == D("12.40")
    groups = {g.group_number: g for g in session.scalars(select(EmployerGroup))}
    # Over by 150.00 once: the credit was used on the next bill, at its issue (issue 16), and
    # the over payment's reconciliation item left the queue by itself, recorded.
    assert group_credit(session, groups["G-1005"]) == D("0.00")
    used = session.scalars(
        select(Invoice).where(Invoice.group_id == groups["G-1005"].id, Invoice.credit_applied > 0)
    ).all()
    assert [i.credit_applied for i in used] == [D("150.00")]
    [over] = [p for p in payments if p.review_reason and "over by $150.00" in p.review_reason]
    assert over.reviewed_at is not None and over.reviewed_by_id is None
    assert over.review_resolution == (
        f"cleared: the credit it left was used on invoice {used[0].invoice_number} on "
        f"{used[0].issued_on:%b} {used[0].issued_on.day}, {used[0].issued_on.year}"
    )
    for group in groups.values():
        receivable = ledger.account(session, ledger.Chart.RECEIVABLE, group)
        assert ledger.account_balance(session, receivable) == sum(
            open_balances(session, group).values(), D("0")
        )
    # Bayview stopped paying last month: its last bill before this month is past due.
    assert open_balances(session, groups["G-1007"])
