"""The invoice page reads an invoice's prior bill and kept bridge steps with the bill itself
(`invoices.find_invoice_row(with_bridge=True)`, `bill_bridge.with_prior_and_kept_steps`): the
prior is `invoicing.previous_invoice`'s (each billing account's latest non-void bill of an
earlier period, the latest issued first), the bridge the one kept from that prior, and a bridge
not kept from it (a void of the bill before, a reissue) is computed and kept as `kept_bridge`
always did."""

from __future__ import annotations

from datetime import date

from sqlalchemy import event, func, select

from billing_core.billing.bill_bridge import kept_bridge
from billing_core.billing.invoices import _plan_totals, find_invoice_row, invoice_view
from billing_core.billing.invoicing import issue_billing_run, previous_invoice, void_invoice
from billing_core.models import Adjustment, Invoice
from billing_core.models.enums import AdjustmentStatus, Role
from billing_core.models.invoice import InvoiceBridge
from billing_core.money import D
from tests.factories import (
    enroll,
    make_dental_plan,
    make_group,
    make_member,
    make_subgroup,
    make_user,
)

JAN, FEB, MAR, APR = (date(2027, m, 1) for m in (1, 2, 3, 4))


def _book(session):
    """A group whose West location is billed separately, billed January to March; a member
    joins each location in February."""
    group = make_group(session)
    east = make_subgroup(session, group, "EAST")
    west = make_subgroup(session, group, "WEST", bill_separately=True)
    plan = make_dental_plan(session, group)
    members = [
        make_member(session, group, subgroup=where, last_name=f"M{n}")
        for n, where in enumerate([east, west, east, west])
    ]
    for member, tier in zip(members, ["EE", "ES", "FAM", "EE"], strict=True):
        enroll(session, member, plan, tier)
    issue_billing_run(session, JAN, group_numbers=[group.group_number])
    for where in (east, west):
        enroll(session, make_member(session, group, subgroup=where), plan, "EC", effective_from=FEB)
    session.flush()
    issue_billing_run(session, FEB, group_numbers=[group.group_number])
    # March bills a late term's credit (retro) and a fee.
    for amount, reason in (("-112.40", "late_term"), ("25.00", "late_fee")):
        session.add(
            Adjustment(
                group_id=group.id,
                member_id=members[2].id,
                plan_id=plan.id,
                coverage_month=JAN,
                amount=D(amount),
                reason_code=reason,
                source_type="manual",
                status=AdjustmentStatus.APPROVED,
            )
        )
    session.flush()
    issue_billing_run(session, MAR, group_numbers=[group.group_number])
    return group, east, west


def _read_with_bill(session, invoice, subgroup_ids=None):
    found = find_invoice_row(session, invoice.group_id, invoice.id, subgroup_ids, with_bridge=True)
    return kept_bridge(session, invoice, found.bridge_read)


def _same(read, kept) -> None:
    assert read.prior_invoice is kept.prior_invoice
    assert read.kept_id == kept.kept_id
    assert (read.prior_billed, read.current_billed) == (kept.prior_billed, kept.current_billed)
    assert read.steps == kept.steps


def _invoices(session, group):
    return session.scalars(
        select(Invoice).where(Invoice.group_id == group.id).order_by(Invoice.id)
    ).all()


def test_the_prior_and_bridge_read_with_the_bill_are_those_read_after_it(session):
    group, east, west = _book(session)
    invoices = _invoices(session, group)
    assert len(invoices) == 6  # the group's account and West's, three months each
    firsts = 0
    for invoice in invoices:
        read = _read_with_bill(session, invoice)
        assert read.prior_invoice is previous_invoice(session, invoice)
        assert read.prior_invoice is None or read.prior_invoice.subgroup_id == invoice.subgroup_id
        firsts += read.prior_invoice is None
        _same(read, kept_bridge(session, invoice))
        # A reader limited to a location reads the same bridge with the bills they see.
        for seen in (frozenset({east.id}), frozenset({west.id})):
            found = find_invoice_row(session, group.id, invoice.id, seen, with_bridge=True)
            if invoice.subgroup_id is None or invoice.subgroup_id in seen:
                _same(kept_bridge(session, invoice, found.bridge_read), read)
            else:
                assert found is None
    assert firsts == 2  # January's two bills
    # Reading kept nothing new: one bridge per invoice, kept at issue.
    assert session.scalar(select(func.count()).select_from(InvoiceBridge)) == 6


def test_a_void_and_a_reissue_read_the_bridge_from_the_bill_now_before(session, connection):
    group, east, west = _book(session)
    feb, mar = (
        session.scalar(
            select(Invoice).where(
                Invoice.group_id == group.id,
                Invoice.subgroup_id.is_(None),
                Invoice.period_start == month,
            )
        )
        for month in (FEB, MAR)
    )
    assert _read_with_bill(session, mar).prior_invoice is feb
    supervisor = make_user(session, Role.SUPERVISOR)
    void_invoice(session, feb, reason="Billed the wrong plan year", actor=supervisor, on=MAR)

    # February void: March's bridge is from January now, computed and kept on first read.
    kept_before = session.scalar(select(func.count()).select_from(InvoiceBridge))
    read = _read_with_bill(session, mar)
    assert read.prior_invoice is previous_invoice(session, mar)
    assert read.prior_invoice.period_start == JAN
    assert session.scalar(select(func.count()).select_from(InvoiceBridge)) == kept_before + 1
    _same(read, kept_bridge(session, mar))
    assert read.balances

    # Read again: the bridge just kept, in the bill's one statement.
    ran = []

    def seen(_conn, _cursor, statement, *_args):
        ran.append(statement)

    event.listen(connection, "before_cursor_execute", seen)
    try:
        again = _read_with_bill(session, mar)
    finally:
        event.remove(connection, "before_cursor_execute", seen)
    assert len([s for s in ran if s.lstrip().upper().startswith("SELECT")]) == 1
    _same(again, read)

    # February billed again: March's prior is the reissued February (not void, a later id).
    [reissued] = issue_billing_run(session, FEB, group_numbers=[group.group_number]).issued
    assert reissued.subgroup_id is None and reissued.id > feb.id
    read = _read_with_bill(session, mar)
    assert read.prior_invoice is reissued is previous_invoice(session, mar)
    _same(read, kept_bridge(session, mar))
    # April's bill follows March, whatever came before.
    issue_billing_run(session, APR, group_numbers=[group.group_number])
    for invoice in _invoices(session, group):
        _same(_read_with_bill(session, invoice), kept_bridge(session, invoice))


def test_the_plan_totals_read_with_the_bill_are_those_read_after_it(session):
    group, east, west = _book(session)
    with_retro = 0
    for invoice in _invoices(session, group):
        for seen in (None, frozenset({east.id})):
            found = find_invoice_row(
                session, group.id, invoice.id, seen, with_bridge=True, with_plan_totals=True
            )
            if found is None:
                continue
            read = session.execute(_plan_totals(), {"invoice_id": invoice.id}).all()
            # By product and plan name; a plan's retro and fee totals in either order.
            assert sorted(found.plan_totals, key=repr) == sorted(map(tuple, read), key=repr)
            _same(kept_bridge(session, invoice, found.bridge_read), kept_bridge(session, invoice))
            with_totals = invoice_view(session, invoice, MAR, found.open_balance, found.plan_totals)
            alone = invoice_view(session, invoice, MAR, found.open_balance)
            assert with_totals == alone
            with_retro += bool(alone.retro_lines and alone.fee_lines)
    assert with_retro  # March's bill has retro and fee sections
