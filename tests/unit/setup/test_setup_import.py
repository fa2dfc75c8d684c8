"""The group set-up import: counts, idempotent re-import, every error at once, billed rates."""

from __future__ import annotations

import copy
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from billing_core.errors import ValidationFailed
from billing_core.models import (
    AuditLog,
    Coverage,
    Dependent,
    Member,
    Plan,
    RateVersion,
    User,
    UserGroupAccess,
)
from billing_core.models.enums import Role, Tier
from billing_core.security import vault, verify_password
from billing_core.setup import import_setup, load_document, validate_setup_document
from tests.unit.db_helpers import row_counts

EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "setup_example.yaml"


@pytest.fixture
def example() -> dict:
    return load_document(EXAMPLE)


def test_the_example_document_is_valid(example):
    assert validate_setup_document(example, "setup_example.yaml") == []


def test_the_example_imports_with_the_right_counts(unit_session, example):
    summary = import_setup(unit_session, example, source="setup_example.yaml")

    assert summary.created == {
        "products": 3,
        "broker_agencies": 1,
        "brokers": 1,
        "groups": 1,
        "billing_policies": 1,
        "subgroups": 1,
        "classes": 1,
        "brokers_of_record": 1,
        "plans": 3,
        "rate_versions": 4,
        "members": 2,
        "dependents": 1,
        "coverages": 5,
        "users": 3,
        "delinquency_plans": 0,
    }
    assert not any(summary.updated.values()) and not any(summary.unchanged.values())
    assert json.loads(json.dumps(summary.as_dict()))["created"]["members"] == 2

    maria = unit_session.scalars(select(Member).where(Member.member_key == "M0000001")).one()
    assert maria.employee_id == "00417"  # leading zeros kept
    assert maria.annual_salary == Decimal("60000.00")
    assert maria.ssn_last4 == "6789" and maria.ssn_encrypted != "123456789"
    assert vault().decrypt(maria.ssn_encrypted) == "123456789"
    dental = unit_session.scalars(
        select(Coverage).join(Plan).where(Coverage.member_id == maria.id, Plan.code == "DEN")
    ).one()
    assert dental.tier == Tier.ES
    assert [cd.dependent.first_name for cd in dental.covered_dependents] == ["Luis"]

    den = unit_session.scalars(select(Plan).where(Plan.code == "DEN")).one()
    current = den.rate_version_on(date(2025, 6, 1))
    assert {t.tier: t.monthly_rate for t in current.tier_rates}[Tier.FAM] == Decimal("112.40")
    assert den.rate_version_on(date(2024, 6, 1)).effective_to == date(2024, 12, 31)

    hr = unit_session.scalars(select(User).where(User.email == "hr@cedarvalley.example.com")).one()
    assert hr.role == Role.EMPLOYER and verify_password(hr.password_hash, "example-password-1")
    assert len(hr.group_access) == 1
    broker = unit_session.scalars(select(User).where(User.role == Role.BROKER)).one()
    assert broker.broker is not None and broker.broker.npn == "17234560"
    staff = unit_session.scalars(select(User).where(User.role == Role.BILLING_SPECIALIST)).one()
    assert not verify_password(staff.password_hash, "")  # random, unusable password

    audit, group_change = unit_session.scalars(select(AuditLog).order_by(AuditLog.id.desc()))
    assert audit.action == "setup.imported"
    # The group's history: one row on the group with what was created.
    assert group_change.action == "setup.group_changed" and group_change.group_id is not None
    assert group_change.detail["rows"]["members created"] == 2
    for row in (audit, group_change):
        assert "123-45-6789" not in json.dumps(row.detail)
        assert "123456789" not in json.dumps(row.detail)


def test_importing_twice_changes_nothing(unit_session, example):
    import_setup(unit_session, example)
    unit_session.commit()
    before = row_counts(unit_session)
    unit_session.expire_all()

    summary = import_setup(unit_session, load_document(EXAMPLE))

    assert not any(summary.created.values())
    assert not any(summary.updated.values())
    assert summary.unchanged["members"] == 2 and summary.unchanged["coverages"] == 5
    assert row_counts(unit_session) == before
    assert not unit_session.dirty


def test_reimport_updates_changed_fields_in_place(unit_session, example):
    import_setup(unit_session, example)
    unit_session.commit()
    changed = copy.deepcopy(example)
    changed["groups"][0]["members"][1]["annual_salary"] = "51000"
    changed["groups"][0]["members"][1]["coverages"][0]["tier"] = "EE"
    changed["users"][0]["groups"] = []

    summary = import_setup(unit_session, changed)

    assert summary.updated["members"] == 1
    assert summary.unchanged["members"] == 1
    assert summary.updated["users"] == 1
    assert unit_session.scalars(select(UserGroupAccess)).all() == []
    james = unit_session.scalars(select(Member).where(Member.member_key == "M0000002")).one()
    assert james.annual_salary == Decimal("51000.00")


def test_a_yaml_float_is_read_through_its_text(unit_session, example):
    versions = example["groups"][0]["plans"][0]["rate_versions"]
    versions[1]["tier_rates"]["FAM"] = 112.40  # what YAML gives for an unquoted 112.40
    import_setup(unit_session, example)
    rv = unit_session.scalars(
        select(RateVersion).where(RateVersion.effective_from == date(2025, 1, 1))
    ).one()
    assert {t.tier: t.monthly_rate for t in rv.tier_rates}[Tier.FAM] == Decimal("112.40")


def _bad_document(example: dict) -> dict:
    doc = copy.deepcopy(example)
    group = doc["groups"][0]
    group["billing_policies"][0]["tolerance_amount"] = "fifty"  # bad money
    group["billing_policies"][0]["billing_method"] = "invoice"  # unknown enum
    del group["plans"][0]["rate_versions"][1]["tier_rates"]  # missing tier rates
    group["members"][0]["coverages"][0]["plan"] = "MED"  # unknown plan code
    group["members"][1]["birth_date"] = "07/21/1990"  # bad date
    group["plans"][0]["rate_versions"][0]["tier_rates"]["FAM"] = "1O6.90"  # letter O
    return doc


def test_a_bad_document_lists_every_error_and_writes_nothing(unit_session, example):
    with pytest.raises(ValidationFailed) as caught:
        import_setup(unit_session, _bad_document(example), source="bad.yaml")

    errors = {e.row: e for e in caught.value.errors}
    assert str(caught.value).startswith("bad.yaml: 6 problems")
    assert set(errors) == {
        "groups[0].billing_policies[0].tolerance_amount",
        "groups[0].billing_policies[0].billing_method",
        "groups[0].plans[0].rate_versions[1].tier_rates",
        "groups[0].members[0].coverages[0].plan",
        "groups[0].members[1].birth_date",
        "groups[0].plans[0].rate_versions[0].tier_rates.FAM",
    }
    fam = errors["groups[0].plans[0].rate_versions[0].tier_rates.FAM"]
    assert fam.message == "expected a decimal amount such as 112.40"
    assert fam.value == "1O6.90" and fam.source == "bad.yaml"
    assert "list_bill, self_bill" in errors["groups[0].billing_policies[0].billing_method"].message
    assert "YYYY-MM-DD" in errors["groups[0].members[1].birth_date"].message
    assert errors["groups[0].members[0].coverages[0].plan"].value == "MED"
    assert all(count == 0 for count in row_counts(unit_session).values())


def test_validation_checks_cross_references_and_ssns(example):
    doc = copy.deepcopy(example)
    group = doc["groups"][0]
    group["plans"][1]["product"] = "LIFE-NOPE"
    group["members"][0]["subgroup"] = "EAST"
    group["members"][0]["ssn"] = "900-12-3456"
    group["members"][0]["coverages"][0]["dependents"] = ["02"]
    group["plans"][2]["rate_versions"][0].pop("covered_payroll_maximum")
    doc["users"][0]["groups"] = ["G-9999"]
    doc["users"][1]["broker_npn"] = "00000000"

    errors = {e.row: e for e in validate_setup_document(doc, "x.yaml")}

    assert set(errors) == {
        "groups[0].plans[1].product",
        "groups[0].members[0].subgroup",
        "groups[0].members[0].ssn",
        "groups[0].members[0].coverages[0].dependents[0]",
        "groups[0].plans[2].rate_versions[0].covered_payroll_maximum",
        "users[0].groups[0]",
        "users[1].broker_npn",
    }
    assert errors["groups[0].members[0].ssn"].value == "***-**-3456"  # never the full SSN


def test_editing_a_billed_rate_version_is_refused(unit_session, example):
    import_setup(unit_session, example)
    rv = unit_session.scalars(
        select(RateVersion)
        .where(RateVersion.effective_from == date(2024, 1, 1))
        .join(Plan)
        .where(Plan.code == "DEN")
    ).one()
    rv.first_billed_on = date(2024, 1, 1)
    unit_session.commit()
    before = row_counts(unit_session)

    edited = copy.deepcopy(example)
    edited["groups"][0]["plans"][0]["rate_versions"][0]["tier_rates"]["EE"] = "39.00"
    edited["groups"][0]["members"][1]["annual_salary"] = "99999"
    with pytest.raises(ValidationFailed) as caught:
        import_setup(unit_session, edited, source="renewal.yaml")

    [error] = caught.value.errors
    assert error.row == "groups[0].plans[0].rate_versions[0]"
    assert "billed; add a new rate version instead" in error.message
    assert "DEN" in error.message and "2024-01-01" in error.message
    unit_session.rollback()
    assert row_counts(unit_session) == before
    unit_session.expire_all()
    assert unit_session.scalars(
        select(Member.annual_salary).where(Member.member_key == "M0000002")
    ).one() == Decimal("48500.00")

    # The same document as billed is fine, and so is closing the billed version; but new
    # rates for a billed plan need a second approver: a renewal on the Rates page, not the
    # import (billing_core.setup.rate_changes).
    import_setup(unit_session, example)
    closing = copy.deepcopy(example)
    closing["groups"][0]["plans"][0]["rate_versions"][1]["effective_to"] = "2025-12-31"
    summary = import_setup(unit_session, closing)
    assert summary.updated["rate_versions"] == 1 and summary.created["rate_versions"] == 0
    renewal = copy.deepcopy(closing)
    versions = renewal["groups"][0]["plans"][0]["rate_versions"]
    versions.append({"effective_from": "2026-01-01", "tier_rates": {"EE": "42.00"}})
    with pytest.raises(ValidationFailed) as caught:
        import_setup(unit_session, renewal)
    [error] = caught.value.errors
    assert error.row == "groups[0].plans[0].rate_versions[2]"
    assert "plan DEN has been billed" in error.message and "renewal" in error.message


def test_load_document_reports_the_line_of_a_syntax_error(tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("groups:\n  - group_number: G-1\n    name: [unclosed\n")
    with pytest.raises(ValidationFailed) as caught:
        load_document(bad)
    [error] = caught.value.errors
    assert error.source == "broken.yaml" and error.row.startswith("line ")

    bad_json = tmp_path / "broken.json"
    bad_json.write_text('{"groups": [\n  {"group_number": }\n]}')
    with pytest.raises(ValidationFailed) as caught:
        load_document(bad_json)
    assert caught.value.errors[0].row == "line 2"


def test_json_documents_load_too(tmp_path, example, unit_session):
    path = tmp_path / "setup.json"
    path.write_text(json.dumps(example, default=str))
    summary = import_setup(unit_session, load_document(path))
    assert summary.created["members"] == 2
    assert unit_session.scalars(select(Dependent)).one().ssn_last4 == "7890"


CHILD_RATE_DOCUMENT = """
products:
  - {code: MED-AGE, name: Small-group medical, line_of_coverage: medical,
     rating_basis: age_banded}
groups:
  - group_number: "G-3100"
    name: Birchwood Bakery
    tax_id: "36-1112223"
    original_effective_date: "2025-01-01"
    plans:
      - code: MED
        name: Medical Silver
        product: MED-AGE
        effective_from: "2025-01-01"
        rate_versions:
          - effective_from: "2025-01-01"
            effective_to: "2025-12-31"
            age_bands: [[0, 20, "150.00"], [21, 39, "265.00"], [40, 64, "340.00"]]
            child_rate: "180.00"
          - effective_from: "2026-01-01"
            age_bands: [[0, 20, "155.00"], [21, 39, "275.00"], [40, 64, "350.00"]]
            child_rate: "185.50"
            child_rate_max_age: 19
            max_charged_children: 2
"""


def test_an_age_banded_rate_version_reads_its_child_rate(unit_session, tmp_path):
    path = tmp_path / "child-rates.yaml"
    path.write_text(CHILD_RATE_DOCUMENT)
    doc = load_document(path)
    assert validate_setup_document(doc, path.name) == []

    import_setup(unit_session, doc)
    first, renewal = unit_session.scalars(
        select(RateVersion).order_by(RateVersion.effective_from)
    ).all()
    assert (first.child_rate, first.child_rate_max_age, first.max_charged_children) == (
        Decimal("180.00"),
        None,
        None,
    )
    assert (first.child_age_limit, first.charged_children_limit) == (21, 3)  # the defaults
    assert (renewal.child_rate, renewal.child_age_limit, renewal.charged_children_limit) == (
        Decimal("185.50"),
        19,
        2,
    )
    unit_session.commit()

    again = import_setup(unit_session, load_document(path))
    assert again.unchanged["rate_versions"] == 2 and not again.changed

    # child_rate: null removes the child rule, its limits with it.
    removed = load_document(path)
    removed["groups"][0]["plans"][0]["rate_versions"][1]["child_rate"] = None
    del removed["groups"][0]["plans"][0]["rate_versions"][1]["child_rate_max_age"]
    del removed["groups"][0]["plans"][0]["rate_versions"][1]["max_charged_children"]
    assert import_setup(unit_session, removed).updated["rate_versions"] == 1
    unit_session.flush()
    assert (renewal.child_rate, renewal.child_rate_max_age, renewal.max_charged_children) == (
        None,
        None,
        None,
    )


def test_child_rate_errors_are_row_errors(tmp_path, example):
    path = tmp_path / "child-rates.yaml"
    path.write_text(CHILD_RATE_DOCUMENT)
    doc = load_document(path)
    first, renewal = doc["groups"][0]["plans"][0]["rate_versions"]
    first["child_rate"] = "-1"
    first["max_charged_children"] = 0
    renewal["child_rate_max_age"] = 30
    del renewal["child_rate"]
    dental = copy.deepcopy(example)
    dental["groups"][0]["plans"][0]["rate_versions"][0]["child_rate"] = "40.00"
    doc["products"] += dental["products"]
    doc["groups"] += dental["groups"]
    doc["broker_agencies"] = dental["broker_agencies"]

    errors = {e.row: e.message for e in validate_setup_document(doc, path.name)}

    here = "groups[0].plans[0].rate_versions"
    assert errors == {
        f"{here}[0].child_rate": "must be at least 0",
        f"{here}[0].max_charged_children": "expected a whole number from 1 up",
        f"{here}[1].child_rate_max_age": "expected a whole number from 1 to 26",
        f"{here}[1].max_charged_children": "applies only beside a child_rate",
        "groups[1].plans[0].rate_versions[0].child_rate": (
            "does not apply: the plan's rating basis is tiered composite"
        ),
    }
