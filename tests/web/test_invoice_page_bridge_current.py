"""The invoice page's bill bridge is read with the bill (its prior bill and the bridge kept from
it in one statement): a void of the bill before, made between two views, shows on the next
view as the bridge from the bill now before, computed and kept on that view."""

from __future__ import annotations

from datetime import date

from billing_core.billing.invoicing import issue_billing_run, void_invoice
from billing_core.models.enums import Role
from tests.factories import enroll, make_dental_plan, make_group, make_member, make_user

JAN, FEB, MAR = date(2027, 1, 1), date(2027, 2, 1), date(2027, 3, 1)


def test_a_void_of_the_bill_before_shows_on_the_next_view(client, cast, session, login_as):
    group = make_group(session)
    plan = make_dental_plan(session, group)
    for tier in ("EE", "FAM"):
        enroll(session, make_member(session, group), plan, tier)
    [jan], [feb], [mar] = (
        issue_billing_run(session, month, group_numbers=[group.group_number]).issued
        for month in (JAN, FEB, MAR)
    )
    session.commit()
    login_as(cast.users["billing_specialist"])
    url = f"/admin/groups/{group.id}/invoices/{mar.id}"

    page = client.get(url).get_data(as_text=True)
    assert f"From {feb.invoice_number} (Feb 2027) to this bill." in page

    supervisor = make_user(session, Role.SUPERVISOR)
    void_invoice(session, feb, reason="Billed the wrong plan year", actor=supervisor, on=MAR)
    session.commit()

    page = client.get(url).get_data(as_text=True)
    assert f"From {jan.invoice_number} (Jan 2027) to this bill." in page
    assert feb.invoice_number not in page.split('id="bridge"')[1]
