"""A group's mailing address, billing contact and delinquency plan in the set-up document
(issue 22, item 1): ZIP of 5 or 9 digits, a US state code, a whole address or none; documents
without them stay valid; the plan written as the group's own plan (collections/plans.py), the
past never rewritten; each change kept in the group's history."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from billing_core.collections.plans import plan_for
from billing_core.db import utcnow
from billing_core.errors import ValidationFailed
from billing_core.models import AuditLog, EmployerGroup
from billing_core.models.collections import DelinquencyPlan, GroupDelinquencyPlan
from billing_core.setup import import_setup, load_document, validate_setup_document

EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "setup_example.yaml"
ADDRESS = {
    "contact_name": "Dana Whitfield",
    "contact_phone": "(312) 555-0100",
    "address_line1": "400 W Lake St",
    "address_line2": "Suite 12",
    "city": "Chicago",
    "address_state": "il",
    "zip": "60606-1234",
}


@pytest.fixture
def example() -> dict:
    return load_document(EXAMPLE)


def _with(example: dict, **fields) -> dict:
    doc = copy.deepcopy(example)
    doc["groups"][0].update(fields)
    return doc


def _group(session) -> EmployerGroup:
    return session.scalar(select(EmployerGroup).where(EmployerGroup.group_number == "G-2001"))


def test_an_address_and_contact_are_kept_and_printed_as_lines(session, example):
    import_setup(session, _with(example, **ADDRESS))
    group = _group(session)
    assert (group.contact_name, group.contact_phone) == ("Dana Whitfield", "(312) 555-0100")
    assert group.zip_code == "60606-1234" and group.address_state == "IL"
    assert group.address_lines == ["400 W Lake St", "Suite 12", "Chicago, IL 60606-1234"]


def test_a_document_without_an_address_stays_valid(session, example):
    assert validate_setup_document(example, session=session) == []
    import_setup(session, example)
    assert _group(session).address_lines == []


@pytest.mark.parametrize(
    "fields, where, message",
    [
        ({"zip": "6060"}, "zip", "ZIP code of 5 or 9 digits"),
        ({"zip": "60606-12"}, "zip", "ZIP code of 5 or 9 digits"),
        ({"zip": 60606}, "zip", "quote it"),
        ({"address_state": "XX"}, "address_state", "two-letter code"),
        ({"contact_phone": "555-0100"}, "contact_phone", "area code"),
        ({"city": None}, "city", "required with the rest of the address"),
        ({"delinquency_plan": "NOPE"}, "delinquency_plan", "no delinquency plan"),
    ],
)
def test_address_and_plan_problems_name_their_field(session, example, fields, where, message):
    doc = _with(example, **{**ADDRESS, **fields})
    errors = validate_setup_document(doc, session=session)
    assert [e.row for e in errors] == [f"groups[0].{where}"], errors
    assert message in errors[0].message
    with pytest.raises(ValidationFailed):
        import_setup(session, doc)


def test_nine_digits_without_a_dash_are_kept_with_one(session, example):
    import_setup(session, _with(example, **{**ADDRESS, "zip": "606061234"}))
    assert _group(session).zip_code == "60606-1234"


def test_the_delinquency_plan_is_the_groups_own_from_its_start(session, example):
    import_setup(session, _with(example, delinquency_plan="standard"))
    group = _group(session)
    rows = session.scalars(select(GroupDelinquencyPlan)).all()
    assert [(r.plan_code, r.effective_from, r.effective_to) for r in rows] == [
        ("standard", date(2024, 1, 1), None)
    ]
    again = import_setup(session, _with(example, delinquency_plan="standard"))
    assert again.unchanged["delinquency_plans"] == 1 and not again.changed

    # Another plan on a live group starts today; the standard plan's past is kept.
    session.add(
        DelinquencyPlan(code="IL-GROUP", name="Illinois plan", effective_from=date(2000, 1, 1))
    )
    session.flush()
    import_setup(session, _with(example, delinquency_plan="IL-GROUP"))
    today = utcnow().date()
    rows = session.scalars(
        select(GroupDelinquencyPlan).order_by(GroupDelinquencyPlan.effective_from)
    ).all()
    assert [(r.plan_code, r.effective_from, r.effective_to) for r in rows] == [
        ("standard", date(2024, 1, 1), today - timedelta(days=1)),
        ("IL-GROUP", today, None),
    ]
    assert plan_for(session, group, today).code == "IL-GROUP"
    # "state": its own plan ends; the state's (else the default) governs from today.
    import_setup(session, _with(example, delinquency_plan="state"))
    assert session.scalars(select(GroupDelinquencyPlan)).all()[0].plan_code == "standard"
    assert plan_for(session, group, today).code == "standard"
    assert not any(r.plan_code == "IL-GROUP" for r in session.scalars(select(GroupDelinquencyPlan)))


def test_a_changed_contact_is_in_the_groups_history_before_and_after(session, example):
    import_setup(session, _with(example, **ADDRESS))
    import_setup(session, _with(example, **{**ADDRESS, "contact_name": "Lee Park"}))
    changed = session.scalars(
        select(AuditLog).where(AuditLog.action == "setup.group_changed").order_by(AuditLog.id)
    ).all()[-1]
    assert changed.detail["before"] == {"contact_name": "Dana Whitfield"}
    assert changed.detail["after"] == {"contact_name": "Lee Park"}
