"""The demo book: deterministic, loads once, covers every rating basis and role."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from billing_core.demo import (
    DEMO_PASSWORD,
    build_demo_document,
    database_is_empty,
    load_demo,
)
from billing_core.models import Dependent, EmployerGroup, Member, Product, User
from billing_core.models.enums import MemberStatus, RatingBasis, Role
from billing_core.security import normalize_ssn, verify_password
from billing_core.setup_import import validate_setup_document
from tests.unit.db_helpers import row_counts

TODAY = date(2026, 5, 20)


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


def test_load_demo_twice_changes_nothing(unit_session):
    assert database_is_empty(unit_session)
    first = load_demo(unit_session, TODAY)
    unit_session.commit()
    assert first.loaded and first.summary["created"]["members"] == 4387
    assert not database_is_empty(unit_session)
    before = row_counts(unit_session)

    second = load_demo(unit_session, TODAY)

    assert not second.loaded
    assert row_counts(unit_session) == before
    assert second.logins == first.logins
    assert {login["role"] for login in second.logins} == {r.value for r in Role}

    # What was loaded.
    assert unit_session.scalar(select(func.count()).select_from(EmployerGroup)) == 8
    bases = set(unit_session.scalars(select(Product.rating_basis)))
    assert bases == set(RatingBasis)
    counts = unit_session.execute(
        select(Member.group_id, func.count()).group_by(Member.group_id)
    ).all()
    assert all(5 <= n <= 2000 for _, n in counts) and len(counts) == 8
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
