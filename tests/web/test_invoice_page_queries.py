"""Viewing an invoice reads what was kept when it was issued (issue 19, item 1): the number of
SQL statements behind the invoice page and its bill-bridge rows does not grow with its lines."""

from __future__ import annotations

from datetime import date

from billing_core.billing.invoicing import issue_billing_run
from tests.factories import enroll, make_dental_plan, make_group, make_member

JAN, FEB = date(2027, 1, 1), date(2027, 2, 1)
TIERS = ("EE", "ES", "EC", "FAM")


def _two_bills(session, members: int):
    """A group of `members` billed in January and February, a quarter of them changing tier
    and as many joining in between: February's bridge has rows in three steps."""
    group = make_group(session)
    plan = make_dental_plan(session, group)
    people = [make_member(session, group) for _ in range(members)]
    coverages = [enroll(session, m, plan, TIERS[n % 4]) for n, m in enumerate(people)]
    issue_billing_run(session, JAN, group_numbers=[group.group_number])
    for n in range(0, members, 4):
        coverages[n].effective_to = date(2027, 1, 31)
        enroll(session, people[n], plan, "FAM", effective_from=FEB)
        enroll(session, make_member(session, group), plan, "EE", effective_from=FEB)
    session.flush()
    [feb] = issue_billing_run(session, FEB, group_numbers=[group.group_number]).issued
    session.commit()
    return feb


def _statements_for(client, statements, url: str) -> int:
    client.get(url)  # the first request of a session loads what every page needs
    statements.clear()
    response = client.get(url)
    assert response.status_code == 200
    return len(statements)


def test_viewing_an_invoice_runs_as_many_queries_for_4_or_400_members(
    client, cast, session, login_as, statements
):
    small, large = _two_bills(session, 4), _two_bills(session, 400)
    assert len(large.lines) > 100 * len(small.lines) / 2
    login_as(cast.users["billing_specialist"])

    def url(invoice, tail=""):
        return f"/admin/groups/{invoice.group_id}/invoices/{invoice.id}{tail}"

    for tail in ("", "/bridge/tier_plan", "/bridge/adds"):
        few = _statements_for(client, statements, url(small, tail))
        many = _statements_for(client, statements, url(large, tail))
        assert few == many, tail
        assert many <= 25, tail
