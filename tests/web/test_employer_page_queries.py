"""The employer's pages under load (issue 19, item 6): each runs a bounded number of SQL
statements that does not grow with the group's payments (the payments page used to ask two
more per payment) and the invoice page reads its line count as kept at issue."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing_core.models.enums import PaymentMethod, PaymentSource
from billing_core.payments.receipts import record_payment

PAGES = ["", "/invoices", "/invoices/{invoice}", "/statement", "/payments"]
MOST_STATEMENTS = 30


def _second_view(client, statements, url: str, statuses=(200,)) -> list[str]:
    """The statements the second view of `url` ran (the first request of a session loads
    what every page needs)."""
    client.get(url)
    statements.clear()
    response = client.get(url)
    assert response.status_code in statuses, url
    return list(statements)


def _statements_for(client, statements, url: str) -> int:
    return len(_second_view(client, statements, url))


def _pay(session, cast, count: int) -> None:
    """`count` checks of 10.00 on the group's invoice, received today."""
    for n in range(count):
        record_payment(
            session,
            group=cast.group_a,
            amount=Decimal("10.00"),
            method=PaymentMethod.CHECK,
            received_on=datetime.now(UTC).date(),
            source=PaymentSource.STAFF,
            reference=f"check {n}",
            invoice_ids=[cast.invoice_a.id],
        )
    session.commit()


@pytest.mark.parametrize("page", PAGES)
def test_an_employer_page_runs_as_many_queries_for_1_or_12_payments(
    client, cast, session, login_as, statements, page
):
    login_as(cast.users["employer_a"])
    url = f"/employer/groups/{cast.group_a.id}" + page.format(invoice=cast.invoice_a.id)
    _pay(session, cast, 1)
    few = _statements_for(client, statements, url)
    _pay(session, cast, 11)
    many = _statements_for(client, statements, url)
    assert few == many <= MOST_STATEMENTS, (page, few, many)


def test_the_invoice_page_does_not_count_its_lines(client, cast, login_as, statements):
    """The member lines' pager shows the bill's line count kept at issue: no count(*) over
    the lines (most of a 10,000-line bill's page) unless a search or a location limits them."""
    login_as(cast.users["employer_a"])
    url = f"/employer/groups/{cast.group_a.id}/invoices/{cast.invoice_a.id}"
    _statements_for(client, statements, url)
    counted = [s for s in statements if "count(*)" in s.lower() and "invoice_line" in s]
    assert counted == []
    _statements_for(client, statements, url + "/lines?q=East")
    assert [s for s in statements if "count(*)" in s.lower() and "invoice_line" in s]


def test_the_invoice_view_reads_its_plan_totals_once(cast, session):
    """The product table, the line count and the product filter come from one read of the
    plan totals: the same as reading each on its own."""
    from sqlalchemy import func, select

    from billing_core.billing.invoices import invoice_products, invoice_view
    from billing_core.models import InvoiceLine
    from billing_core.models.enums import InvoiceSection

    invoice = cast.invoice_a
    view = invoice_view(session, invoice, datetime.now(UTC).date())
    lines = session.scalar(
        select(func.count())
        .select_from(InvoiceLine)
        .where(InvoiceLine.invoice_id == invoice.id, InvoiceLine.section == InvoiceSection.PREMIUM)
    )
    assert view.line_count == lines > 0
    assert view.product_choices == invoice_products(session, invoice) != []
    assert sum(p.amount for p in view.products) == invoice.current_premium


# Each page's most statements (SQLite, one group and invoice; the count does not grow with the
# group's data, above). Every request pays for the login session's user, with whether a group
# of theirs requires a second factor (one statement), and the group scope with the user's
# grants (one statement); whether the user administers any group's users (the top bar's Team
# link) is read with the user too.
MOST_PER_PAGE = {
    "/employer/": 2,  # the user; their groups (then a redirect)
    # the user, the group; the summary (members by status and by plan in one, plans with their
    # rates in force in one, the policy); the latest bill; the clock; the months' bills with
    # what was paid on them and the open bills' kept balances in one; the payments and credit
    # with the latest upload
    "": 8,
    "/invoices": 3,  # the page's invoices with their count and kept open balances
    # the user with the group; the clock; the bill with its open balance, what it printed
    # under its group's invoice template (kept), its prior bill, the kept bridge's steps and
    # its plan totals (retro and fee lines only when it has some); a page of member lines
    "/invoices/{invoice}": 4,
    # the invoices with their voids; both accounts' postings (no account loaded first), from
    # which it ages the balances; plan totals; payments with their allocations, recoveries,
    # refunds and suspense
    "/statement": 6,
    # the open bills with those the next bill counts as billed; the payments, credit and latest
    # cancellation (payments_account); the billing policies; the payment history
    "/payments": 6,
}


def _sql(statements) -> list[str]:
    return [s for s in statements if not s.lstrip().upper().startswith(("SAVEPOINT", "ROLLBACK"))]


@pytest.mark.parametrize("page", list(MOST_PER_PAGE))
def test_each_employer_page_runs_at_most_its_statements(client, cast, login_as, statements, page):
    login_as(cast.users["employer_a"])
    base = "" if page == "/employer/" else f"/employer/groups/{cast.group_a.id}"
    url = base + page.format(invoice=cast.invoice_a.id)
    ran = _sql(_second_view(client, statements, url, (200, 302)))
    assert len(ran) <= MOST_PER_PAGE[page], "\n".join(s[:120] for s in ran)
    # The user and their second-factor requirement in one statement, the group with the
    # user's grants in one: neither asked again on its own.
    assert sum("FROM user_account" in s for s in ran) == 1
    assert not any(s.lstrip().startswith("SELECT EXISTS") for s in ran)
    assert not any(s.lstrip().startswith("SELECT user_group_access.subgroup_id") for s in ran)
    # Whether they administer a group's users (the top bar's Team link) is read with the user.
    assert not [s for s in ran if "group_administrator" in s and "FROM user_account" not in s]


def test_the_dashboard_reads_kept_balances_not_postings(client, cast, login_as, statements):
    """The account's position (open bills, credit, pending and last payment) comes from the
    kept balances (the open bills read with the months' bills, the credit with the payments):
    no ledger account is loaded first, no account's postings are summed; only the
    billed-vs-paid months sum the receivable's postings per invoice, beside each bill."""
    login_as(cast.users["employer_a"])
    ran = _sql(_second_view(client, statements, f"/employer/groups/{cast.group_a.id}"))
    assert not [s for s in ran if "FROM ledger_account" in s and "JOIN" not in s]
    summed = [s for s in ran if "posting" in s]
    assert len(summed) == 1 and "posting.invoice_id = invoice.id" in summed[0], summed


def test_the_statement_reads_both_accounts_postings_once(client, cast, login_as, statements):
    """The statement's receivable activity and its credit (the unapplied cash on its end) are
    one read of both accounts' postings joined by the accounts' numbers: no account is loaded
    (or made) first, and no balance is summed again on its own."""
    login_as(cast.users["employer_a"])
    url = f"/employer/groups/{cast.group_a.id}/statement"
    ran = _sql(_second_view(client, statements, url))
    assert not [s for s in ran if "FROM ledger_account" in s and "JOIN" not in s]
    by_account = [s for s in ran if "posting" in s and "GROUP BY posting.account_id" in s]
    assert by_account == []
    assert len([s for s in ran if "ledger_account.number IN" in s]) == 1
