"""The set-up document's `invoice_template:` section: the same template the staff page saves,
checked by the same rules (each problem named by its place in the document, nothing written),
saved and audited by the same function; importing it again changes nothing; left out, the
group's template is left as it is."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from sqlalchemy import func, select

from billing_core.billing.invoice_templates import DEFAULT, template_of
from billing_core.errors import ValidationFailed
from billing_core.models import AuditLog, EmployerGroup
from billing_core.setup import import_setup, load_document, validate_setup_document

EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "setup_example.yaml"
TEMPLATE = {
    "sections": ["summary_by_plan", "member_detail", "remit_slip"],
    "subtotal_by": "subgroup",
    "subgroup_billing": "consolidated",
    "reference_fields": [{"label": "PO number", "value": "PO-2001-77"}],
    "remit_to": "Cedar Life Lockbox\nPO Box 9911",
    "message": "Thank you.",
}


def _changes(session) -> int:
    return session.scalar(
        select(func.count())
        .select_from(AuditLog)
        .where(AuditLog.action == "invoice_template.changed")
    )


def test_an_imported_template_is_saved_audited_and_reimporting_changes_nothing(session):
    doc = load_document(EXAMPLE)
    doc["groups"][0]["invoice_template"] = copy.deepcopy(TEMPLATE)
    import_setup(session, doc)
    group = session.scalar(
        select(EmployerGroup).where(EmployerGroup.group_number == doc["groups"][0]["group_number"])
    )
    choice = template_of(session, group.id)
    assert choice.reference_fields == (("PO number", "PO-2001-77"),)
    assert choice.sections == ("summary_by_plan", "member_detail", "remit_slip")
    assert (choice.subtotal_by, choice.subgroup_billing) == ("subgroup", "consolidated")
    assert _changes(session) == 1
    row = session.scalar(select(AuditLog).where(AuditLog.action == "invoice_template.changed"))
    assert row.actor_email == "setup import" and row.group_id == group.id

    import_setup(session, doc)
    assert _changes(session) == 1
    # Left out: the template stays.
    del doc["groups"][0]["invoice_template"]
    import_setup(session, doc)
    assert template_of(session, group.id) == choice
    assert _changes(session) == 1


def test_a_group_imported_without_the_section_has_the_default_template(session):
    doc = load_document(EXAMPLE)
    import_setup(session, doc)
    group = session.scalar(
        select(EmployerGroup).where(EmployerGroup.group_number == doc["groups"][0]["group_number"])
    )
    assert template_of(session, group.id) == DEFAULT
    assert _changes(session) == 0


def test_a_bad_template_is_named_by_its_place_and_nothing_is_written(session):
    doc = load_document(EXAMPLE)
    doc["groups"][0]["invoice_template"] = {
        "subtotal_by": "colour",
        "reference_fields": [{"label": "PO number", "value": ""}, {"value": "CC-1"}],
        "colour": "blue",
    }
    where = {e.row: e.message for e in validate_setup_document(doc)}
    base = "groups[0].invoice_template"
    assert where[f"{base}.subtotal_by"].startswith("choose subgroup")
    assert where[f"{base}.reference_fields[0].value"] == "give the PO number to print"
    assert where[f"{base}.reference_fields[1].label"].startswith("give the field a label")
    assert where[f"{base}.colour"].startswith("unknown field")
    with pytest.raises(ValidationFailed):
        import_setup(session, doc)
    assert _changes(session) == 0
