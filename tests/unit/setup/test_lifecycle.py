"""A group terminated at a date (issue 22, item 4): a supervisor only, with a reason; coverage
and billing end that day (the final bill, then nothing); never over bills already issued
after it; the balance due or the refund owed; audited with before and after, and shown in
the group's history."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from billing_core.billing.invoices import invoice_charges
from billing_core.billing.invoicing import issue_billing_run, prepare_billing_run
from billing_core.errors import AccessDenied, ValidationFailed
from billing_core.models import Coverage, EmployerGroup, Invoice
from billing_core.models.enums import Role
from billing_core.setup import import_setup, load_document
from billing_core.setup.history import timeline
from billing_core.setup.lifecycle import standing, terminate_group
from tests.factories import (
    enroll,
    make_dental_plan,
    make_group,
    make_member,
    make_user,
    pay_by_check,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "setup_example.yaml"


def _group(session):
    group = make_group(session)
    plan = make_dental_plan(session, group)
    for _ in range(2):
        enroll(session, make_member(session, group), plan, "EE")
    for month in (1, 2):
        issue_billing_run(session, date(2025, month, 1), group_numbers=[group.group_number])
    return group


def _bills(session, group):
    return session.scalars(
        select(Invoice).where(Invoice.group_id == group.id).order_by(Invoice.period_start)
    ).all()


def test_only_a_supervisor_terminates_and_says_why(session):
    group = _group(session)
    specialist = make_user(session, Role.BILLING_SPECIALIST)
    with pytest.raises(AccessDenied):
        terminate_group(
            session, group, terminated_on=date(2025, 3, 31), reason="moved", actor=specialist
        )
    supervisor = make_user(session, Role.SUPERVISOR)
    with pytest.raises(ValidationFailed, match="say why"):
        terminate_group(
            session, group, terminated_on=date(2025, 3, 31), reason=" ", actor=supervisor
        )


def test_billing_stops_after_the_final_bill_and_the_balance_is_shown(session):
    group = _group(session)
    supervisor = make_user(session, Role.SUPERVISOR)
    done = terminate_group(
        session,
        group,
        terminated_on=date(2025, 3, 31),
        reason="moved to another carrier",
        actor=supervisor,
    )
    assert done.coverages_ended == 2
    coverages = session.scalars(select(Coverage)).all()
    assert {c.effective_to for c in coverages} == {date(2025, 3, 31)}
    # The final bill: March, then nothing.
    issue_billing_run(session, date(2025, 3, 1), group_numbers=[group.group_number])
    april = prepare_billing_run(session, date(2025, 4, 1), group_numbers=[group.group_number])
    assert april.drafts == []
    assert "no billing policy" in april.not_due[group.group_number]
    bills = _bills(session, group)
    assert [b.period_start.month for b in bills] == [1, 2, 3]
    owed = sum(invoice_charges(b) for b in bills)
    assert owed == Decimal("229.20")  # 2 x 38.20 x 3 months
    assert standing(session, group).balance == owed
    assert standing(session, group).words == "balance due 229.20"
    pay_by_check(session, group, "300.00", date(2025, 4, 2))
    assert standing(session, group).words == "refund owed 70.80"
    with pytest.raises(ValidationFailed, match="terminated on 2025-03-31 already"):
        terminate_group(
            session, group, terminated_on=date(2025, 4, 30), reason="again", actor=supervisor
        )


def test_refused_over_bills_issued_for_later_periods(session):
    group = _group(session)
    supervisor = make_user(session, Role.SUPERVISOR)
    feb = _bills(session, group)[1]
    with pytest.raises(ValidationFailed, match=f"issued \\({feb.invoice_number}\\)"):
        terminate_group(
            session, group, terminated_on=date(2025, 1, 31), reason="moved", actor=supervisor
        )
    assert {c.effective_to for c in session.scalars(select(Coverage))} == {None}


def test_the_termination_is_in_the_groups_history_with_before_and_after(session):
    group = _group(session)
    supervisor = make_user(session, Role.SUPERVISOR)
    terminate_group(
        session, group, terminated_on=date(2025, 3, 31), reason="moved", actor=supervisor
    )
    [event] = [e for e in timeline(session, group.id) if e.what == "Group terminated"]
    assert event.who == supervisor.email
    changes = {c.what: (c.before, c.after) for c in event.changes}
    assert changes["status"] == ("active", "terminated 2025-03-31")
    assert changes["billing policies end"] == ("2024-01-01: open", "2025-03-31")
    assert "reason: moved" in event.notes


def test_an_import_that_changes_a_group_is_in_its_history_with_who_before_and_after(session):
    example = load_document(EXAMPLE)
    staff = make_user(session, Role.BILLING_SPECIALIST)
    import_setup(session, example, actor=staff, source="setup_example.yaml")
    group = session.scalar(select(EmployerGroup).where(EmployerGroup.group_number == "G-2001"))
    [created] = timeline(session, group.id)
    assert created.what == "Set-up changed" and created.who == staff.email
    assert ("contact email", "-", "hr@cedarvalley.example.com") in [
        (c.what, c.before, c.after) for c in created.changes
    ]
    changed = copy.deepcopy(example)
    changed["groups"][0]["contact_email"] = "billing@cedarvalley.example.com"
    changed["groups"][0]["plans"][1]["rate_versions"][0]["effective_to"] = "2025-12-31"
    changed["groups"][0]["plans"][1]["rate_versions"].append(
        {"effective_from": "2026-01-01", "unit_rate": "0.13", "volume_salary_multiple": "2"}
    )
    import_setup(session, changed, actor=staff, source="renewal.yaml")
    import_setup(session, changed, actor=staff, source="renewal.yaml")  # no change: no entry
    latest, first = timeline(session, group.id)
    assert first == created
    assert [(c.what, c.before, c.after) for c in latest.changes] == [
        ("contact email", "hr@cedarvalley.example.com", "billing@cedarvalley.example.com")
    ]
    assert "source: renewal.yaml" in latest.notes
    assert "rows: rate versions created: 1; groups updated: 1; rate versions updated: 1" in (
        latest.notes
    )
