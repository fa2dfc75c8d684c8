"""The employer's dashboard and payments page read their account together (issue 19): the
dashboard's account, billed vs paid and latest upload in two statements, the payments
page's account with the next bill's billed periods and latest cancellation in two, with the
figures the separate reads give (`next_bill` reading its own, the latest upload by itself)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import event

from billing_core.billing.invoicing import next_bill
from billing_core.ledger.receivables import account_summary, credit_outlook, payments_account
from billing_core.models import Invoice
from billing_core.models.enums import BillingMethod, Role, UploadStatus
from billing_core.reports.dashboard import group_dashboard
from billing_core.reports.statements import default_range, month_totals
from tests.factories import (
    make_group,
    make_invoice,
    make_subgroup,
    make_user,
    receive_upload,
    scenario,
)
from tests.unit.collections.legal import cancelled_group

DAYS = [date(2026, 12, 15), date(2027, 1, 20), date(2027, 3, 1)]
CENSUS = b"Employee ID,First Name,Last Name,Date of Birth,SSN\nE9001,Nora,Newhire,03/17/1984,287-65-4321\n"


class _Counted:
    """The statements the session runs inside the block."""

    def __init__(self, session):
        self.connection = session.connection()
        self.statements: list[str] = []

    def _count(self, _conn, _cursor, statement, *_args):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK")):
            self.statements.append(statement)

    def __enter__(self):
        event.listen(self.connection, "before_cursor_execute", self._count)
        return self.statements

    def __exit__(self, *_exc):
        event.remove(self.connection, "before_cursor_execute", self._count)


@pytest.mark.parametrize("day", DAYS)
def test_the_dashboard_reads_its_account_and_latest_upload_in_two_statements(session, day):
    cast = scenario(session)
    group = cast.group_a
    session.flush()
    seen = {"subgroup_ids": frozenset({cast.sub_east.id}), "user_id": None}
    for scope in ({}, seen):
        with _Counted(session) as ran:
            dashboard = group_dashboard(session, group, day, **scope)
        assert len(ran) == 2, ran
        assert dashboard.summary == account_summary(session, group, day, **scope)
        start, end = default_range(day)
        limited = scope.get("subgroup_ids")
        assert dashboard.months == month_totals(session, group, start, end, subgroup_ids=limited)
        assert dashboard.latest_upload is None


def test_the_dashboard_shows_the_newest_upload_it_may_see(session):
    """A new upload is the latest on the next view; a rejected one is not; a whole-group
    upload is not a location contact's, their own is."""
    cast = scenario(session)
    group = cast.group_a
    clerk = make_user(session, Role.BILLING_SPECIALIST)
    east_user = cast.users["employer_a_east"]
    east = {"subgroup_ids": frozenset({cast.sub_east.id}), "user_id": east_user.id}
    day = date(2027, 1, 10)
    first = receive_upload(session, group, CENSUS, "a.csv", uploaded_by=clerk, as_of=day).upload
    session.flush()
    assert group_dashboard(session, group, day).latest_upload == first
    assert group_dashboard(session, group, day, **east).latest_upload is None
    second = receive_upload(
        session, group, CENSUS.replace(b"Nora", b"Nola"), "b.csv", uploaded_by=east_user, as_of=day
    ).upload
    session.flush()
    assert second.id != first.id
    assert group_dashboard(session, group, day).latest_upload == second
    assert group_dashboard(session, group, day, **east).latest_upload == second
    second.status = UploadStatus.REJECTED
    session.flush()
    assert group_dashboard(session, group, day).latest_upload == first
    assert group_dashboard(session, group, day, **east).latest_upload is None


@pytest.mark.parametrize("day", DAYS)
def test_the_payments_outlook_skips_bills_issued_ahead_as_next_bill_does(session, day):
    """Bills issued ahead (consolidated) are not the next bill, a location's bill for a month
    is not the group's bill for it; read with the account in two statements (the policies
    already loaded), the outlook is `credit_outlook`'s (next_bill reading its own)."""
    group = make_group(session)
    for month in (date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1), date(2027, 4, 1)):
        make_invoice(session, group, Decimal("100.00"), month)
    # A location billed on its own for March: not the group's March bill.
    march = date(2027, 3, 1)
    session.add(
        Invoice(
            invoice_number=f"P-{group.group_number}-EAST-3",
            group_id=group.id,
            subgroup_id=make_subgroup(session, group).id,
            billing_method=BillingMethod.LIST_BILL,
            period_start=march,
            period_end=date(2027, 3, 31),
            issued_on=date(2026, 12, 1),
            due_on=march,
            current_premium=Decimal("40.00"),
            total_due=Decimal("40.00"),
        )
    )
    session.flush()
    group.policy_on(day)  # the policies loaded: the count is the account's reads
    with _Counted(session) as ran:
        account = payments_account(session, group, day)
    assert len(ran) == 2, ran
    assert account.outlook == credit_outlook(session, group, day)
    upcoming = next_bill(session, group, day)
    assert account.outlook.next_bill_period == upcoming[0]
    assert upcoming[0] == date(2027, 3, 1)  # through February issued, and April
    # A bill issued since shows on the next view.
    make_invoice(session, group, Decimal("100.00"), upcoming[0])
    session.flush()
    later = payments_account(session, group, day).outlook
    assert later.next_bill_period != upcoming[0]
    assert later == credit_outlook(session, group, day)


def test_the_payments_outlook_of_a_cancelled_group_has_no_next_bill(session):
    group, _ = cancelled_group(session)
    for day in (date(2027, 2, 6), date(2027, 3, 1)):
        with _Counted(session) as ran:
            account = payments_account(session, group, day)
        assert len(ran) <= 3, ran  # the account's two (and the policies once)
        assert account.outlook.next_bill_period is None
        assert account.outlook == credit_outlook(session, group, day)
