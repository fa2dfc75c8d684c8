"""The employer's payments and statement pages in few statements (issue 19), so they cannot
silently grow back: the payments page reads its open bills once (the summary, the bills to pay
and the outlook share them), the payments, credit, pending and refunds in one row, and the
payments with what they paid in one statement; the statement ages the balances it sums (no
check of later entries, no kept aging) and reads its payments with their allocations."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tests.factories import pay_by_check

# Statements of a second view, the user and the group scope included (one each).
MOST = {
    # the open bills; the last payment, pending, credit and refunds asked; the outlook's next
    # bill (bills issued ahead, the latest cancellation, the billing policies); the payments
    # with their allocations
    "/payments": 8,
    # the statement's bills; both accounts' activity; plan totals; payments with allocations
    "/statement": 6,
}
# A location's contact: no outlook (the credit is the group's), but which bills they see.
MOST_LIMITED = {"/payments": 5, "/statement": 7}


def _sql(statements) -> list[str]:
    return [s for s in statements if not s.lstrip().upper().startswith(("SAVEPOINT", "ROLLBACK"))]


def _second_view(client, statements, url: str) -> list[str]:
    client.get(url)
    statements.clear()
    response = client.get(url)
    assert response.status_code == 200, url
    return _sql(statements)


@pytest.mark.parametrize("page", list(MOST))
@pytest.mark.parametrize("user", ["employer_a", "employer_a_east"])
def test_the_page_runs_at_most_its_statements(
    client, cast, session, login_as, statements, page, user
):
    pay_by_check(session, cast.group_a, "20.00", date(2027, 1, 3), [cast.invoice_a])
    pay_by_check(session, cast.group_a, "5.00", date(2027, 1, 4))
    session.commit()
    login_as(cast.users[user])
    most = MOST if user == "employer_a" else MOST_LIMITED
    ran = _second_view(client, statements, f"/employer/groups/{cast.group_a.id}{page}")
    assert len(ran) <= most[page], "\n".join(s[:150] for s in ran)
    # Nothing the page already read is asked again on its own.
    assert not [s for s in ran if s.lstrip().startswith("SELECT payment_allocation.")]
    assert not [s for s in ran if "FROM collection_recovery" in s and "EXISTS" not in s]
    assert not [s for s in ran if "FROM journal_entry" in s and "entry_date >" in s]
    assert sum("kept_balance" in s for s in ran) <= 1


def test_the_payments_page_shows_a_new_payment_and_credit(client, cast, session, login_as):
    """Nothing is kept between views: a check recorded since shows in the history, the credit
    and the open balance on the next view."""
    login_as(cast.users["employer_a"])
    url = f"/employer/groups/{cast.group_a.id}/payments"
    before = client.get(url).get_data(as_text=True)
    assert "check-h5" not in before
    owed = cast.invoice_a.total_due
    pay_by_check(session, cast.group_a, str(owed + Decimal("7.25")), date(2027, 1, 3),
                 [cast.invoice_a], reference="check-h5")  # fmt: skip
    session.commit()
    after = client.get(url).get_data(as_text=True)
    assert "check-h5" in after
    assert "$7.25</strong> of credit" in after
    assert "Nothing is owed on any invoice right now." in after
