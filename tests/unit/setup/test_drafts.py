"""Group set-up on screens without the web (issue 22, item 1): a draft checked by the import's
own rules, every problem naming its step, row and field; the completeness rules; going live
through the import; and the acceptance: the same group set up by the import and by the
screens bills the same lines."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from billing_core.billing.invoicing import issue_billing_run
from billing_core.errors import BillingError
from billing_core.models import AuditLog, EmployerGroup
from billing_core.models.enums import Role
from billing_core.setup import import_setup, load_document
from billing_core.setup.drafts import add_row, check_draft, go_live, save_step, start_draft
from tests.factories import make_user
from tests.unit.setup.screen_example import (
    BILLING,
    GROUP,
    ROWS,
    invoice_lines,
    members_document,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "setup_example.yaml"
TODAY = date(2025, 1, 20)


def _fill(session, draft, *, skip=()):
    save_step(session, draft, "group", GROUP)
    save_step(session, draft, "billing", BILLING)
    for step, rows in ROWS.items():
        for row in rows:
            if (step, row.get("code") or row.get("plan")) not in skip:
                add_row(session, draft, step, row)


def test_an_empty_draft_names_each_missing_field_by_step(session):
    draft = start_draft(session, None)
    problems = [str(p) for p in check_draft(session, draft, TODAY)]
    assert "Group, group number: required" in problems
    assert "Group, tax id: required" in problems
    assert "Group, contact email: required: the group's billing contact" in problems
    assert "Billing policy: fill in the billing policy" in problems
    assert "Plans: add at least one plan" in problems


def test_a_wrong_value_is_named_at_its_step_row_and_field(session):
    import_setup(session, load_document(EXAMPLE))
    draft = start_draft(session, None)
    _fill(session, draft)
    add_row(session, draft, "subgroups", {"code": "EAST", "name": "East", "kind": "planet"})
    add_row(session, draft, "rates", {"plan": "DEN", "effective_from": "2026-01-01"})
    save_step(session, draft, "billing", dict(BILLING, tolerance_percent="150"))
    problems = {(p.step, p.row, p.field): p.message for p in check_draft(session, draft, TODAY)}
    assert problems[("subgroups", 2, "kind")].startswith("expected one of: ")
    assert (
        problems[("rates", 5, "tier_EE")] == "required: the plan's rating basis is tiered composite"
    )
    assert problems[("billing", None, "tolerance_percent")] == "must be at most 100"


def test_completeness_rates_in_force_and_a_plan_for_every_class(session):
    import_setup(session, load_document(EXAMPLE))
    draft = start_draft(session, None)
    _fill(session, draft, skip={("rates", "LTD"), ("plans", "DEN"), ("plans", "LIFE")})
    add_row(session, draft, "classes", {"code": "PT", "name": "Part-time"})
    messages = [str(p) for p in check_draft(session, draft, TODAY)]
    assert (
        "Rates: plan LTD has no rate version in force on 2025-01-20: add one on the Rates step"
        in messages
    )
    assert (
        "Classes, row 2, code: no plan covers class PT: name it on a plan, or remove it" in messages
    )
    # The DEN and LIFE rates now name plans the draft does not have.
    assert "Rates, row 1, plan: no plan DEN on the Plans step" in messages


def test_going_live_refused_while_incomplete_then_written_by_the_import(session):
    import_setup(session, load_document(EXAMPLE))
    supervisor = make_user(session, Role.SUPERVISOR)
    draft = start_draft(session, supervisor)
    save_step(session, draft, "group", GROUP)
    with pytest.raises(BillingError, match="Not live yet"):
        go_live(session, draft, actor=supervisor, on=TODAY)
    assert (
        session.scalar(select(EmployerGroup).where(EmployerGroup.group_number == "G-3001")) is None
    )
    _fill(session, draft)
    assert check_draft(session, draft, TODAY) == []
    group, summary = go_live(session, draft, actor=supervisor, on=TODAY)
    assert summary.created["plans"] == 3 and summary.created["rate_versions"] == 4
    assert draft.group_id == group.id
    # The same tax id as the example's group: no watchlist entry, so no warning.
    assert summary.warnings == []
    live = session.scalar(
        select(AuditLog).where(AuditLog.action == "setup.group_live", AuditLog.group_id == group.id)
    )
    assert live.actor_id == supervisor.id and live.detail["after"]["subgroups"] == [
        "Main office (MAIN): location"
    ]
    with pytest.raises(BillingError, match="already live"):
        save_step(session, draft, "group", GROUP)


def test_the_import_and_the_screens_bill_the_same_lines(session):
    example = load_document(EXAMPLE)
    import_setup(session, example)
    draft = start_draft(session, None)
    _fill(session, draft)
    go_live(session, draft, actor=None, on=TODAY)
    import_setup(session, members_document(example, "G-3001"))
    for period in (date(2024, 11, 1), date(2025, 1, 1)):
        issue_billing_run(session, period, group_numbers=["G-2001", "G-3001"])
    imported, screened = invoice_lines(session, "G-2001"), invoice_lines(session, "G-3001")
    assert len(imported) >= 8
    assert imported == screened
