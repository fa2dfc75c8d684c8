"""Editing a live group through a set-up draft (billing_core.setup.editing, issue 22 item 4):
pre-filled from the group, written by the same import; a changed billing policy is a new
version from a new date carrying what the document does not say; live rows are kept."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from billing_core.errors import BillingError
from billing_core.models import AuditLog, BillingPolicy, EmployerGroup
from billing_core.setup import import_setup, load_document
from billing_core.setup.drafts import add_row, check_draft, go_live, remove_row, save_row, save_step
from billing_core.setup.editing import start_edit

EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "setup_example.yaml"
ON = date(2026, 12, 7)


@pytest.fixture
def group(session) -> EmployerGroup:
    import_setup(session, load_document(EXAMPLE))
    group = session.scalar(select(EmployerGroup).where(EmployerGroup.group_number == "G-2001"))
    policy = session.scalar(select(BillingPolicy).where(BillingPolicy.group_id == group.id))
    policy.returned_payment_fee = Decimal("25.00")  # set outside the document
    session.flush()
    return group


def test_an_unchanged_edit_draft_checks_clean_and_changes_nothing(session, group):
    draft = start_edit(session, group, None, ON)
    assert draft.document["group"]["name"] == group.name
    assert [s["code"] for s in draft.document["subgroups"]] == ["MAIN"]
    assert check_draft(session, draft, ON) == []
    assert start_edit(session, group, None, ON) is draft  # resumed, not duplicated
    _, summary = go_live(session, draft, actor=None, on=ON)
    assert not summary.changed


def test_a_policy_change_is_a_new_version_from_a_new_date(session, group):
    draft = start_edit(session, group, None, ON)
    billing = dict(draft.document["billing"], lead_days="20")
    save_step(session, draft, "billing", billing)
    assert [p.field for p in check_draft(session, draft, ON)] == ["effective_from"]
    save_step(session, draft, "billing", dict(billing, effective_from="2026-12-01"))
    assert [p.field for p in check_draft(session, draft, ON)] == ["effective_from"]  # past
    starts = ON + timedelta(days=25)
    save_step(session, draft, "billing", dict(billing, effective_from=starts.isoformat()))
    assert check_draft(session, draft, ON) == []
    go_live(session, draft, actor=None, on=ON)
    policies = session.scalars(
        select(BillingPolicy)
        .where(BillingPolicy.group_id == group.id)
        .order_by(BillingPolicy.effective_from)
    ).all()
    assert [(p.effective_from, p.effective_to, p.lead_days, p.returned_payment_fee)
            for p in policies] == [
        (date(2024, 1, 1), starts - timedelta(days=1), 15, Decimal("25.00")),
        (starts, None, 20, Decimal("25.00")),  # carried over, not the default
    ]  # fmt: skip


def test_live_rows_keep_their_keys_and_are_never_removed(session, group):
    draft = start_edit(session, group, None, ON)
    with pytest.raises(BillingError, match="kept"):
        remove_row(session, draft, "subgroups", 1)
    with pytest.raises(BillingError, match="stay as they are"):
        save_row(session, draft, "subgroups", 1, {"code": "OTHER", "name": "x", "kind": "location"})
    save_row(session, draft, "subgroups", 1, {"code": "MAIN", "name": "Head office",
                                               "kind": "location"})  # fmt: skip
    n = add_row(session, draft, "subgroups", {"code": "NEW", "name": "New", "kind": "location"})
    remove_row(session, draft, "subgroups", n)  # not live: removed
    add_row(session, draft, "plans", {"code": "VIS", "name": "Vision", "product": "DEN-PPO",
                                      "effective_from": "2026-01-01"})  # fmt: skip
    assert [(p.step, p.field) for p in check_draft(session, draft, ON)] == [("plans", "code")]
    remove_row(session, draft, "plans", len(draft.document["plans"]))
    save_step(session, draft, "group", dict(draft.document["group"], contact_name="Lee Park"))
    go_live(session, draft, actor=None, on=ON)
    changed = session.scalars(
        select(AuditLog).where(AuditLog.action == "setup.group_changed").order_by(AuditLog.id)
    ).all()[-1]
    assert changed.detail["before"] == {"contact_name": None, "subgroup MAIN name": "Main office"}
    assert changed.detail["after"] == {
        "contact_name": "Lee Park",
        "subgroup MAIN name": "Head office",
    }
    assert changed.detail["rows"] == {"groups updated": 1, "subgroups updated": 1}
    with pytest.raises(BillingError, match="already live"):
        save_step(session, draft, "group", {})
