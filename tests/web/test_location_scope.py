"""Issue 17, finding 2: a location-limited HR user (scenario's East-only user) sees and does only
what belongs to their locations: uploads they made (not the group's upload about a West
member), invoices' retro lines and bridge rows of their members, payments on their bills (not
the check paid on West's bill), no group credit to see or use, and checkouts on their bills
only. Each test failed before the fix."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from billing_core.billing.invoicing import issue_billing_run
from billing_core.models import Adjustment, Checkout, PaymentAllocation
from billing_core.models.enums import AdjustmentStatus
from billing_core.money import D
from billing_core.payments.allocation import group_credit
from tests.web.conftest import csrf_token
from tests.web.locations import EAST_FILE, WEST_CHECK, WEST_FILE, build_locations, check_paid

FEB = date(2027, 2, 1)


@pytest.fixture
def world(session, cast):
    return build_locations(session, cast)


def _a(world, path=""):
    return f"/employer/groups/{world.cast.group_a.id}{path}"


def test_a_location_contact_sees_only_the_uploads_they_made(client, login_as, world):
    login_as(world.cast.users["employer_a_east"])
    listing = client.get(_a(world, "/uploads")).get_data(as_text=True)
    assert EAST_FILE in listing and WEST_FILE not in listing
    west = _a(world, f"/uploads/{world.upload_west.id}")
    for suffix in ("", "/status", "/problems.csv", "/999.x12"):
        assert client.get(west + suffix).status_code == 404, suffix
    # Their own file, a full list naming East's member only: it would end West's member's
    # coverage too, but they see their member's change only, and no whole-group impact.
    east = _a(world, f"/uploads/{world.upload_east.id}")
    page = client.get(east).get_data(as_text=True)
    assert "Eastwood" in page and "Westbrook" not in page and "Premium impact" not in page
    home = client.get(_a(world)).get_data(as_text=True)
    assert WEST_FILE not in home

    login_as(world.cast.users["employer_a"])  # the whole group's user sees both
    listing = client.get(_a(world, "/uploads")).get_data(as_text=True)
    assert EAST_FILE in listing and WEST_FILE in listing
    assert client.get(west).status_code == 200
    page = client.get(east).get_data(as_text=True)
    assert "Westbrook" in page and "Premium impact" in page


def test_an_upload_made_for_their_location_is_theirs_to_see(client, login_as, world, session):
    world.upload_west.subgroup_id = world.cast.sub_east.id
    session.commit()
    login_as(world.cast.users["employer_a_east"])
    assert client.get(_a(world, f"/uploads/{world.upload_west.id}")).status_code == 200


def test_the_html_invoice_shows_only_their_members_retro_lines_and_bridge_rows(
    client, login_as, cast, session
):
    session.add_all(
        Adjustment(
            group_id=cast.group_a.id,
            member_id=member.id,
            plan_id=cast.member_east.coverages[0].plan_id,
            coverage_month=date(2027, 1, 1),
            amount=D(amount),
            reason_code="rate_correction",
            source_type="manual",
            status=AdjustmentStatus.APPROVED,
        )
        for member, amount in ((cast.member_east, "-5.00"), (cast.member_west, "-7.00"))
    )
    session.flush()
    [feb] = issue_billing_run(session, FEB, group_numbers=[cast.group_a.group_number]).issued
    session.commit()
    url = f"/employer/groups/{cast.group_a.id}/invoices/{feb.id}"

    login_as(cast.users["employer_a"])
    whole = client.get(url).get_data(as_text=True)
    assert "Eastwood" in whole and "Westbrook" in whole and "-7.00" in whole

    login_as(cast.users["employer_a_east"])
    page = client.get(url).get_data(as_text=True)
    adjustments = page.split('id="adjustments"')[1].split("</section>")[0]
    assert "Eastwood" in adjustments and "-5.00" in adjustments
    assert "Westbrook" not in page and "-7.00" not in adjustments
    bridge = page.split('id="bridge"')[1].split("</section>")[0]
    assert "1 line" in bridge and "2 lines" not in bridge  # the retro step: East's row only
    step = client.get(f"{url}/bridge/retro").get_data(as_text=True)
    assert "Eastwood" in step and "Westbrook" not in step


def test_payments_on_another_locations_bill_are_not_theirs(client, login_as, world):
    login_as(world.cast.users["employer_a_east"])
    for path in ("/payments", "", "/statement", "/statement.csv?section=payments"):
        body = client.get(_a(world, path)).get_data(as_text=True)
        assert WEST_CHECK not in body, path
        assert world.invoice_west.invoice_number not in body, path
    login_as(world.cast.users["employer_a"])
    assert WEST_CHECK in client.get(_a(world, "/payments")).get_data(as_text=True)


def test_a_location_contact_cannot_use_or_see_the_groups_credit(client, login_as, world, session):
    from billing_core.models.enums import PaymentMethod, PaymentSource
    from billing_core.payments.receipts import record_payment

    group = world.cast.group_a
    record_payment(
        session,
        group=group,
        amount=D("500.00"),
        method=PaymentMethod.CHECK,
        received_on=date(2027, 1, 6),
        source=PaymentSource.STAFF,
        reference="CREDIT-1",
        invoice_ids=[world.invoice_west.id],  # West's bill is paid already: all credit
    )
    session.commit()
    credit = group_credit(session, group)
    assert credit == D("500.00")
    login_as(world.cast.users["employer_a_east"])
    page = client.get(_a(world, "/payments")).get_data(as_text=True)
    assert "500.00" not in page and "Use my credit" not in page
    assert "credit from payments is kept for the whole group" in page.lower()
    allocations = session.scalar(select(func.count()).select_from(PaymentAllocation))
    response = client.post(
        _a(world, "/credit/apply"),
        data={"csrf_token": csrf_token(client, _a(world, "/payments")), "confirm": "y"},
        follow_redirects=True,
    )
    assert "the credit is the whole group" in response.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(PaymentAllocation)) == allocations
    assert group_credit(session, group) == credit
    for path in ("/pay", "/statement"):
        assert "500.00" not in client.get(_a(world, path)).get_data(as_text=True), path


def _pay(client, world, **fields):
    url = _a(world, "/pay")
    data = {"csrf_token": csrf_token(client, url), "nonce": f"n-{fields}", "method": "card"}
    return client.post(url, data={**data, **fields})


def test_a_location_contact_cannot_pay_another_locations_bill_online(
    client, login_as, world, session
):
    login_as(world.cast.users["employer_a_east"])
    pay_page = client.get(_a(world, "/pay")).get_data(as_text=True)
    assert world.invoice_west.invoice_number not in pay_page
    before = session.scalar(select(func.count()).select_from(Checkout))
    refused = _pay(client, world, pay_what="invoices", invoice_ids=str(world.invoice_west.id))
    assert refused.status_code == 200
    assert "not open" in refused.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Checkout)) == before
    # An amount is paid to their own open bills (the consolidated one), never West's.
    started = _pay(client, world, pay_what="amount", amount="10.00")
    assert started.status_code == 303
    checkout = session.scalars(select(Checkout).order_by(Checkout.id.desc())).first()
    assert checkout.invoice_ids == [world.cast.invoice_a.id]
    # Another user's checkout (on West's bill) is not theirs to see or pay.
    west = _a(world, f"/checkouts/{world.checkout_west.id}")
    for suffix in ("/success", "/cancelled", "/test"):
        assert client.get(west + suffix).status_code == 404, suffix
    assert client.get(_a(world, f"/checkouts/{world.checkout_east.id}/success")).status_code == 200


def test_mail_tells_a_location_contact_only_of_their_locations_things(session, world):
    from billing_core import mail
    from billing_core.models import OutboxMessage

    east = world.cast.users["employer_a_east"]
    whole = world.cast.users["employer_a"]

    def kinds(user):
        return sorted(
            session.scalars(select(OutboxMessage.kind).where(OutboxMessage.user_id == user.id))
        )

    # build_locations received a check paid on West's bill: the whole group's user heard of it.
    assert kinds(east).count("payment_received") == 0
    assert kinds(whole).count("payment_received") == 1
    check_paid(session, world.cast.group_a, "10.00", "CONSOLIDATED-1", [world.cast.invoice_a.id])
    assert kinds(east).count("payment_received") == 1  # on the group's bill, which is theirs
    mail.upload_received(session, world.upload_west)  # as each is submitted
    mail.upload_received(session, world.upload_east)
    assert kinds(east).count("upload_received") == 1  # their own file only
    assert kinds(whole).count("upload_received") == 2
