"""The kept bill bridge (issue 19, item 1): computed once when an invoice is issued, read back
equal to the bridge computed from the lines, for every reader (all rows, a location's rows, the
PDF's details); a void that changes which bill comes before reads as it always did."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from billing_core.billing.bill_bridge import (
    bill_bridge,
    keep_missing_bridges,
    kept_bridge,
    kept_counts_seen,
    kept_details,
    kept_rows,
)
from billing_core.billing.invoicing import issue_billing_run, void_invoice
from billing_core.models import Invoice
from billing_core.models.enums import Role
from billing_core.models.invoice import InvoiceBridge
from billing_core.money import D
from tests.factories import (
    enroll,
    make_dental_plan,
    make_group,
    make_member,
    make_subgroup,
    make_user,
    renew_rates,
)

JAN, FEB, MAR = date(2027, 1, 1), date(2027, 2, 1), date(2027, 3, 1)


def _book(session):
    """A group with two locations billed in January and February: terms, adds, tier changes
    and a renewal between the two bills."""
    group = make_group(session)
    east, west = make_subgroup(session, group, "EAST"), make_subgroup(session, group, "WEST")
    plan = make_dental_plan(session, group)
    members = [
        make_member(session, group, subgroup=east if n % 2 else west, last_name=f"M{n:02d}")
        for n in range(8)
    ]
    coverages = [
        enroll(session, m, plan, t)
        for m, t in zip(members, ["EE", "ES", "EC", "FAM"] * 2, strict=True)
    ]
    [jan] = issue_billing_run(session, JAN, group_numbers=[group.group_number]).issued
    coverages[0].effective_to = date(2027, 1, 31)  # a term
    coverages[1].effective_to = date(2027, 1, 31)
    enroll(session, members[1], plan, "FAM", effective_from=FEB)  # a tier change
    for _ in range(2):
        enroll(session, make_member(session, group, subgroup=east), plan, "EE", effective_from=FEB)
    renew_rates(session, plan, FEB, {"EE": "40.00", "ES": "80.00", "EC": "90.00", "FAM": "118"})
    session.flush()
    [feb] = issue_billing_run(session, FEB, group_numbers=[group.group_number]).issued
    return group, east, jan, feb


def _assert_kept_equals_computed(session, invoice, subgroup_ids):
    computed = bill_bridge(session, invoice)
    kept = kept_bridge(session, invoice)
    assert kept.prior_invoice == computed.prior_invoice
    assert (kept.prior_billed, kept.current_billed) == (
        computed.prior_billed,
        computed.current_billed,
    )
    assert [(s.key, s.label, s.amount, s.count) for s in kept.steps] == [
        (s.key, s.label, s.amount, len(s.rows)) for s in computed.steps
    ]
    assert kept_rows(session, kept, None) == [r for s in computed.steps for r in s.rows]
    assert kept_counts_seen(session, kept, subgroup_ids) == {
        s.key: len(s.rows_seen(subgroup_ids)) for s in computed.steps
    }
    for step in computed.steps:
        assert kept_rows(session, kept, subgroup_ids, step=step.key) == step.rows_seen(subgroup_ids)
        assert kept_rows(session, kept, None, step=step.key, limit=2) == step.rows[:2]
    for ids in (None, subgroup_ids):
        for limit in (0, 3, 200):
            assert kept_details(session, kept, ids, limit) == computed.details(ids, limit)


def test_issuing_keeps_the_bridge_and_reading_it_equals_computing_it(session):
    group, east, jan, feb = _book(session)
    kept_ids = session.scalars(select(InvoiceBridge.invoice_id).order_by(InvoiceBridge.id)).all()
    assert kept_ids == [jan.id, feb.id]  # kept at issue, one per invoice

    for invoice in (jan, feb):
        _assert_kept_equals_computed(session, invoice, frozenset({east.id}))
    feb_kept = kept_bridge(session, feb)
    assert feb_kept.balances and feb_kept.step("tier_plan").count == 1
    assert feb_kept.as_dict()["steps"][0] == {
        "step": "adds",
        "label": "Added members and coverages",
        "amount": "80.00",
        "rows": 2,
    }
    # Reading keeps nothing new.
    assert session.scalar(select(func.count()).select_from(InvoiceBridge)) == 2


def test_a_void_of_the_bill_before_reads_as_computed_from_the_new_prior(session):
    group, east, jan, feb = _book(session)
    [mar] = issue_billing_run(session, MAR, group_numbers=[group.group_number]).issued
    assert kept_bridge(session, mar).prior_invoice == feb

    supervisor = make_user(session, Role.SUPERVISOR)
    void_invoice(session, feb, reason="Billed the wrong plan year", actor=supervisor, on=MAR)

    bridge = kept_bridge(session, mar)
    assert bridge.prior_invoice == jan  # as bill_bridge has always said after a void
    _assert_kept_equals_computed(session, mar, frozenset({east.id}))
    # The voided invoice keeps its own bridge, and March's first one stays (append-only).
    _assert_kept_equals_computed(session, feb, None)
    assert (
        session.scalar(
            select(func.count())
            .select_from(InvoiceBridge)
            .where(InvoiceBridge.invoice_id == mar.id)
        )
        == 2
    )


def test_an_invoice_issued_before_bridges_were_kept_is_computed_on_first_read(session):
    group, east, jan, feb = _book(session)
    # As after the migration: invoices with no kept bridge (rows removed beneath the ORM).
    from billing_core.models.invoice import InvoiceBridgeRow, InvoiceBridgeStep

    for table in (InvoiceBridgeRow, InvoiceBridgeStep, InvoiceBridge):
        session.execute(table.__table__.delete())
    _assert_kept_equals_computed(session, feb, frozenset({east.id}))
    assert session.scalar(select(func.count()).select_from(InvoiceBridge)) == 1
    assert kept_bridge(session, feb).current_billed == feb.current_premium + feb.retro_total
    assert session.get(Invoice, feb.id).current_premium > D("0")


def test_keep_missing_bridges_fills_invoices_issued_before_bridges_were_kept(session):
    group, east, jan, feb = _book(session)
    from billing_core.models.invoice import InvoiceBridgeRow, InvoiceBridgeStep

    for table in (InvoiceBridgeRow, InvoiceBridgeStep, InvoiceBridge):
        session.execute(table.__table__.delete())
    assert keep_missing_bridges(session, limit=1) == 1
    assert keep_missing_bridges(session) == 1
    assert keep_missing_bridges(session) == 0
    kept = session.execute(select(InvoiceBridge.invoice_id, InvoiceBridge.prior_invoice_id)).all()
    assert sorted(kept) == [(jan.id, None), (feb.id, jan.id)]
    _assert_kept_equals_computed(session, feb, frozenset({east.id}))


def test_keep_missing_bridges_keeps_a_first_bill_and_the_bill_after_it_in_one_batch(session):
    """As `flask billing keep-bridges` after the migration: January (a first bill) is both kept
    and February's prior in the same batch."""
    group, east, jan, feb = _book(session)
    from billing_core.models.invoice import InvoiceBridgeRow, InvoiceBridgeStep

    for table in (InvoiceBridgeRow, InvoiceBridgeStep, InvoiceBridge):
        session.execute(table.__table__.delete())
    assert keep_missing_bridges(session) == 2
    for invoice in (jan, feb):
        _assert_kept_equals_computed(session, invoice, frozenset({east.id}))
    assert session.scalar(select(func.count()).select_from(InvoiceBridge)) == 2
