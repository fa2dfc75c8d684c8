"""Invoice templates (issue 22, item 3): the run follows the group's template and each invoice
keeps what it printed; subtotals are computed once at issue from the rounded lines and add up
to the current premium; a template change leaves issued invoices as they were; no template
leaves the run as it was; the preview prices through the run and writes nothing; the
subgroup billing choice decides the run's bills; changes are audited into the history."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from billing_core.billing.invoice_templates import (
    DEFAULT,
    TemplateChoice,
    TemplateRefused,
    preview_invoice,
    printed,
    save_template,
    template_of,
)
from billing_core.billing.invoicing import issue_billing_run
from billing_core.db import Base
from billing_core.models import BenefitClass, BillingSubgroup, Invoice, InvoiceLine, Member
from billing_core.models.enums import InvoiceSection, Role, SubgroupKind
from billing_core.models.invoice_templates import InvoicePrint, InvoiceSubtotal
from billing_core.money import D
from billing_core.setup.history import timeline
from tests.factories import (
    enroll,
    make_dental_plan,
    make_group,
    make_life_plan,
    make_member,
    make_subgroup,
    make_user,
)

FEB, MAR = date(2027, 2, 1), date(2027, 3, 1)

PO = TemplateChoice(
    subtotal_by="subgroup",
    reference_fields=(("PO number", "PO-77123"), ("Cost centre", "CC-4410")),
    remit_to="Cedar Life Lockbox\nPO Box 9911\nDes Moines, IA 50301",
    message="Thank you: your renewal is in July.",
)


@pytest.fixture
def two_locations(session):
    group = make_group(session)
    east = make_subgroup(session, group, "EAST", name="East plant")
    west = make_subgroup(session, group, "WEST", name="West office")
    dental = make_dental_plan(session, group)
    life = make_life_plan(session, group)
    for sub, tier, last in [(east, "FAM", "Abbott"), (east, "EE", "Baker"), (west, "ES", "Cole")]:
        member = make_member(session, group, subgroup=sub, last_name=last)
        enroll(session, member, dental, tier)
        enroll(session, member, life, None)
    enroll(session, make_member(session, group, last_name="Dunn"), dental, "EE")  # no subgroup
    staff = make_user(session, Role.BILLING_SPECIALIST)
    return group, staff


def _subtotals(session, invoice):
    return session.execute(
        select(InvoiceSubtotal.label, InvoiceSubtotal.amount)
        .where(InvoiceSubtotal.invoice_id == invoice.id)
        .order_by(InvoiceSubtotal.position)
    ).all()


def test_the_run_keeps_the_po_number_and_subtotals_that_add_up_to_the_premium(
    session, two_locations
):
    group, staff = two_locations
    assert save_template(session, group, PO, actor=staff)
    [invoice] = issue_billing_run(session, FEB, group_numbers=[group.group_number]).issued

    kept = printed(session, invoice)
    assert kept.references == (("PO number", "PO-77123"), ("Cost centre", "CC-4410"))
    assert kept.remit_lines == ["Cedar Life Lockbox", "PO Box 9911", "Des Moines, IA 50301"]
    assert kept.message.startswith("Thank you")
    rows = _subtotals(session, invoice)
    assert [label for label, _ in rows] == ["East plant", "West office", "No subgroup"]
    # Each subtotal is the sum of its members' rounded premium lines, and together the premium.
    lines = session.execute(
        select(InvoiceLine.member_id, InvoiceLine.amount).where(
            InvoiceLine.invoice_id == invoice.id, InvoiceLine.section == InvoiceSection.PREMIUM
        )
    ).all()
    assert sum(amount for _, amount in rows) == invoice.current_premium
    assert sum(amount for _, amount in lines) == invoice.current_premium
    assert dict(rows)["No subgroup"] == D("38.20")  # Dunn, dental EE
    assert kept.subtotals[0].member_count == 2 and kept.subtotals[1].member_count == 1


def test_a_template_change_after_issue_leaves_the_issued_invoice_as_it_was(session, two_locations):
    group, staff = two_locations
    save_template(session, group, PO, actor=staff)
    [invoice] = issue_billing_run(session, FEB, group_numbers=[group.group_number]).issued
    before = printed(session, invoice)

    changed = TemplateChoice(
        sections=("member_detail",),
        subtotal_by="product",
        reference_fields=(("PO number", "PO-NEW"),),
        message="Another message",
    )
    save_template(session, group, changed, actor=staff)
    session.expire_all()
    assert printed(session, invoice) == before
    # The next bill follows the new template.
    [march] = issue_billing_run(session, MAR, group_numbers=[group.group_number]).issued
    after = printed(session, march)
    assert after.references == (("PO number", "PO-NEW"),)
    assert not after.shows("bill_bridge") and after.shows("member_detail")
    assert [s.label for s in after.subtotals] == ["Basic Life", "Dental PPO"]
    assert sum(s.amount for s in after.subtotals) == march.current_premium


def test_no_template_issues_the_same_invoice_and_keeps_nothing(session, two_locations):
    group, _ = two_locations
    assert template_of(session, group.id) == DEFAULT
    [invoice] = issue_billing_run(session, FEB, group_numbers=[group.group_number]).issued
    assert session.scalar(select(func.count()).select_from(InvoicePrint)) == 0
    assert session.scalar(select(func.count()).select_from(InvoiceSubtotal)) == 0
    kept = printed(session, invoice)
    assert kept.choice == DEFAULT and kept.subtotals == []
    assert all(kept.shows(s) for s in ("summary_by_plan", "adjustments", "member_detail"))


def test_subtotals_by_class_and_location(session, two_locations):
    group, staff = two_locations
    salaried = BenefitClass(group_id=group.id, code="SAL", name="Salaried")
    session.add(salaried)
    session.flush()
    first = session.scalar(select(Member).where(Member.last_name == "Abbott"))
    first.class_id = salaried.id
    session.flush()
    save_template(session, group, TemplateChoice(subtotal_by="class"), actor=staff)
    [invoice] = issue_billing_run(session, FEB, group_numbers=[group.group_number]).issued
    rows = _subtotals(session, invoice)
    assert [label for label, _ in rows] == ["Salaried", "No class"]
    assert sum(amount for _, amount in rows) == invoice.current_premium


def test_the_preview_prices_through_the_run_and_writes_nothing(session, two_locations):
    group, staff = two_locations

    def counts():
        return {
            table.name: session.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }

    before = counts()
    preview = preview_invoice(session, group, PO, FEB)
    session.flush()
    assert counts() == before
    [bill] = preview.bills
    assert preview.period == FEB
    assert sum(s.amount for s in bill.printed.subtotals) == bill.draft.current_premium
    # The run then issues exactly what the preview showed.
    save_template(session, group, PO, actor=staff)
    [invoice] = issue_billing_run(session, FEB, group_numbers=[group.group_number]).issued
    assert invoice.current_premium == bill.draft.current_premium
    assert [(s.label, s.amount) for s in bill.printed.subtotals] == _subtotals(session, invoice)


def test_subgroup_billing_decides_the_bills_from_the_next_run(session, two_locations):
    group, staff = two_locations
    save_template(session, group, TemplateChoice(subgroup_billing="separately"), actor=staff)
    feb = issue_billing_run(session, FEB, group_numbers=[group.group_number]).issued
    assert sorted(i.invoice_number for i in feb) == sorted(
        [
            f"{group.group_number}-202702",
            f"{group.group_number}-202702-EAST",
            f"{group.group_number}-202702-WEST",
        ]
    )
    save_template(session, group, TemplateChoice(subgroup_billing="consolidated"), actor=staff)
    [march] = issue_billing_run(session, MAR, group_numbers=[group.group_number]).issued
    assert march.subgroup_id is None
    assert march.current_premium == sum(i.current_premium for i in feb)
    # February's subgroup bills keep their own open balance; they are not carried forward.
    consolidated_feb = next(i for i in feb if i.subgroup_id is None)
    assert march.balance_forward == consolidated_feb.total_due
    assert session.scalar(select(func.count()).select_from(Invoice)) == 4


def test_a_bad_template_is_refused_field_by_field(session, two_locations):
    group, staff = two_locations
    with pytest.raises(TemplateRefused) as refused:
        save_template(
            session,
            group,
            TemplateChoice(
                subtotal_by="colour",
                reference_fields=(("", "PO-1"), ("Cost centre", "")),
                remit_to="\n".join(["line"] * 9),
            ),
            actor=staff,
        )
    assert set(refused.value.errors) == {
        "subtotal_by",
        "reference_label_1",
        "reference_value_2",
        "remit_to",
    }
    assert template_of(session, group.id) == DEFAULT


def test_a_change_is_audited_with_before_and_after_into_the_history(session, two_locations):
    group, staff = two_locations
    save_template(session, group, PO, actor=staff)
    assert not save_template(session, group, PO, actor=staff)  # nothing changed, nothing kept
    [event] = [e for e in timeline(session, group.id) if e.what == "Invoice template: changed"]
    assert event.who == staff.email
    changed = {c.what: (c.before, c.after) for c in event.changes}
    assert changed["reference fields"] == ("none", "PO number: PO-77123; Cost centre: CC-4410")
    assert changed["subtotals by"] == ("none", "Subgroup")


def test_subtotals_by_location_count_only_location_subgroups(session, two_locations):
    group, staff = two_locations
    division = BillingSubgroup(
        group_id=group.id, code="OPS", name="Operations", kind=SubgroupKind.DIVISION
    )
    session.add(division)
    session.flush()
    moved = session.scalar(select(Member).where(Member.last_name == "Dunn"))
    moved.subgroup_id = division.id
    session.flush()
    save_template(session, group, TemplateChoice(subtotal_by="location"), actor=staff)
    [invoice] = issue_billing_run(session, FEB, group_numbers=[group.group_number]).issued
    rows = dict(_subtotals(session, invoice))
    assert list(rows) == ["East plant", "West office", "No location"]
    assert rows["No location"] == D("38.20")  # Dunn, in a division, not a location
    assert sum(rows.values()) == invoice.current_premium
