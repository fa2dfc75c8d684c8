"""`flask rates`: a renewal from the CLI (renew, set, impact, submit, approve) with --json; the
proposer's approval refused by the same billing_core rule the page uses; approving twice
changes nothing."""

import json
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from billing_core.models import RateVersion
from billing_core.models.enums import Role
from tests.factories import enroll, make_dental_plan, make_group, make_member, make_user


def test_a_renewal_from_the_cli(web_app, session):
    group = make_group(session, renewal_month=7)
    dental = make_dental_plan(session, group)
    for tier in ("EE", "FAM"):
        enroll(session, make_member(session, group), dental, tier)
    proposer = make_user(session, Role.BILLING_SPECIALIST)
    approver = make_user(session, Role.BILLING_SPECIALIST)
    session.commit()
    runner = web_app.test_cli_runner()

    started = runner.invoke(
        args=["rates", "renew", group.group_number, "--effective", "2026-07-01",
              "--as-user", proposer.email, "--json"]
    )  # fmt: skip
    assert started.exit_code == 0, started.output
    payload = json.loads(started.output)
    change_id = payload["id"]
    assert (payload["status"], payload["effective_from"], payload["change"]) == (
        "draft", "2026-07-01", "0.00",
    )  # fmt: skip

    edited = runner.invoke(
        args=["rates", "set", str(change_id), dental.code, "tier_EE=40.20", "tier_FAM=120.40",
              "--as-user", proposer.email, "--json"]
    )  # fmt: skip
    assert edited.exit_code == 0, edited.output
    # (40.20 - 38.20) + (120.40 - 112.40)
    assert json.loads(edited.output)["change"] == "10.00"
    bad = runner.invoke(
        args=["rates", "set", str(change_id), dental.code, "tier_EE=abc",
              "--as-user", proposer.email]
    )  # fmt: skip
    assert bad.exit_code == 1 and "expected a decimal amount" in bad.output

    impact = json.loads(
        runner.invoke(args=["rates", "impact", str(change_id), "--members", "--json"]).output
    )
    assert [p["plan"] for p in impact["plans"]] == [dental.code]
    assert sorted(m["change"] for m in impact["members"]) == ["2.00", "8.00"]

    submitted = runner.invoke(
        args=["rates", "submit", str(change_id), "--as-user", proposer.email, "--json"]
    )
    assert json.loads(submitted.output)["status"] == "submitted"
    refused = runner.invoke(args=["rates", "approve", str(change_id), "--as-user", proposer.email])
    assert refused.exit_code == 1
    assert "needs a second person" in refused.output
    assert (
        len(session.scalars(select(RateVersion).where(RateVersion.plan_id == dental.id)).all()) == 1
    )

    approve = ["rates", "approve", str(change_id), "--as-user", approver.email, "--json"]
    approved = runner.invoke(args=approve)
    assert approved.exit_code == 0, approved.output
    assert json.loads(approved.output)["status"] == "approved"
    again = runner.invoke(args=approve)
    assert again.exit_code == 0 and json.loads(again.output)["status"] == "approved"
    session.expire_all()
    versions = session.scalars(
        select(RateVersion).where(RateVersion.plan_id == dental.id).order_by(RateVersion.id)
    ).all()
    assert [(v.effective_from, v.effective_to) for v in versions] == [
        (date(2024, 1, 1), date(2026, 6, 30)),
        (date(2026, 7, 1), None),
    ]
    assert {t.tier.value: t.monthly_rate for t in versions[1].tier_rates}["FAM"] == Decimal(
        "120.40"
    )
