"""The group's collections page, outside collections, charge-off, recoveries and bankruptcy:
a collector refers a cancelled group and downloads the agency's package (one zip holding the
real statement PDF, every notice, the contact log and the invoices, of that group only); a
charge-off asked by one person is refused to them and approved by a supervisor (then the
group is charged off); a bankruptcy filing and its dismissal through the forms. Every form
needs its CSRF token, another group's referral or case is a 404, and non-staff are refused."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from billing_core import ledger
from billing_core.collections.referrals import refer
from billing_core.collections.states import cancel_for_nonpayment
from billing_core.collections.sweep import run_sweep
from billing_core.ledger import Chart
from billing_core.models.collections import DelinquencyState, GroupDelinquency
from billing_core.models.collections_legal import (
    BankruptcyFiling,
    BankruptcyStatus,
    ChargeOff,
    ChargeOffStatus,
    CollectionReferral,
)
from portal.web import today
from tests.factories import make_invoice
from tests.web.confirming import post_confirmed
from tests.web.conftest import csrf_token

S = DelinquencyState


def _cancel(session, group, supervisor) -> None:
    """`group` owes 1,200.00 due 70 days ago: walked by the sweep to pending cancellation and
    cancelled 37 days ago (its reinstatement window of 30 days is over)."""
    due = today() - timedelta(days=70)
    make_invoice(session, group, Decimal("1200.00"), due)
    for day in (1, 10, 32):
        run_sweep(session, due + timedelta(days=day), group_ids=[group.id])
    cancel_for_nonpayment(session, group, on=due + timedelta(days=33), actor=supervisor)


@pytest.fixture
def cancelled(session, cast):
    """Groups A and B cancelled for non-payment, past their reinstatement windows."""
    _cancel(session, cast.group_a, cast.users["supervisor"])
    _cancel(session, cast.group_b, cast.users["supervisor"])
    session.commit()
    return cast


def _page(cast) -> str:
    return f"/admin/groups/{cast.group_a.id}/collections"


def test_refer_and_download_the_package(client, login_as, cancelled, session):
    cast = cancelled
    login_as(cast.users["billing_specialist"])
    url = _page(cast)
    page = client.get(url).get_data(as_text=True)
    assert "Refer to an agency" in page and "Never referred." in page
    response = client.post(
        f"{url}/referrals",
        data={"agency": "Summit Recovery", "notes": "file 77", "csrf_token": csrf_token(client, url)},
    )  # fmt: skip
    assert response.status_code == 303
    session.expire_all()
    [referral] = session.scalars(select(CollectionReferral)).all()
    assert (referral.group_id, referral.agency, referral.balance_referred) == (
        cast.group_a.id, "Summit Recovery", cast.invoice_a.total_due + Decimal("1200.00"),
    )  # fmt: skip
    assert session.get(GroupDelinquency, cast.group_a.id).state is S.REFERRED
    page = client.get(url).get_data(as_text=True)
    assert "Summit Recovery" in page and "Download zip" in page

    package = client.get(f"{url}/referrals/{referral.id}/package")
    assert package.status_code == 200 and package.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(package.data))
    names = [n.split("/", 1)[1] for n in archive.namelist()]
    assert {"cover.txt", "statement.pdf", "contact-log.csv", "invoices.csv"} <= set(names)
    assert sum(n.startswith("notices/") for n in names) == 3  # grace, final, cancelled
    assert archive.read(archive.namelist()[names.index("statement.pdf")]).startswith(b"%PDF")
    invoices = archive.read(archive.namelist()[names.index("invoices.csv")]).decode("utf-8-sig")
    assert cast.invoice_a.invoice_number in invoices
    assert cast.invoice_b.invoice_number not in invoices
    assert cast.group_b.group_number not in "".join(archive.namelist())


def test_a_charge_off_is_asked_by_one_and_approved_by_a_supervisor(
    client, login_as, cancelled, session
):
    cast = cancelled
    url = _page(cast)
    login_as(cast.users["billing_specialist"])
    done = post_confirmed(
        client, f"{url}/charge-off",
        {"reason": "agency returned it", "csrf_token": csrf_token(client, url)},
    )  # fmt: skip
    assert done.status_code == 303
    session.expire_all()
    [asked] = session.scalars(select(ChargeOff)).all()
    owed = cast.invoice_a.total_due + Decimal("1200.00")
    assert (asked.amount, asked.status) == (owed, ChargeOffStatus.REQUESTED)
    page = client.get(url).get_data(as_text=True)
    assert "needs a supervisor" in page  # the asker sees why they cannot approve
    refused = client.post(
        f"{url}/charge-off/{asked.id}/approve",
        data={"note": "", "csrf_token": csrf_token(client, url)},
        follow_redirects=True,
    )
    assert "supervisor" in refused.get_data(as_text=True)
    session.expire_all()
    assert session.get(ChargeOff, asked.id).status is ChargeOffStatus.REQUESTED

    login_as(cast.users["supervisor"])
    done = post_confirmed(
        client, f"{url}/charge-off/{asked.id}/approve",
        {"note": "agreed", "csrf_token": csrf_token(client, url)},
    )  # fmt: skip
    assert done.status_code == 303
    session.expire_all()
    assert session.get(ChargeOff, asked.id).status is ChargeOffStatus.APPROVED
    assert session.get(GroupDelinquency, cast.group_a.id).state is S.CHARGED_OFF
    bad_debt = ledger.account_balance(session, ledger.account(session, Chart.BAD_DEBT))
    assert bad_debt == owed


def test_a_bankruptcy_filing_and_its_dismissal_through_the_forms(
    client, login_as, cancelled, session
):
    cast = cancelled
    url = _page(cast)
    login_as(cast.users["billing_specialist"])
    filed_on = today() - timedelta(days=3)
    response = client.post(
        f"{url}/bankruptcy",
        data={"filed_on": filed_on.isoformat(), "chapter": "11", "case_number": "26-40123",
              "court": "D. Del.", "csrf_token": csrf_token(client, url)},
    )  # fmt: skip
    assert response.status_code == 303
    session.expire_all()
    [filing] = session.scalars(select(BankruptcyFiling)).all()
    assert (filing.group_id, filing.chapter, filing.filed_on) == (cast.group_a.id, 11, filed_on)
    page = client.get(url).get_data(as_text=True)
    assert (
        "Automatic stay." in page
        and "26-40123" in page
        and "1,200.00 past due is pre-petition" in page
    )
    refused = client.post(
        f"{url}/referrals",
        data={"agency": "Summit", "csrf_token": csrf_token(client, url)},
        follow_redirects=True,
    )
    assert "automatic stay" in refused.get_data(as_text=True)
    response = client.post(
        f"{url}/bankruptcy/{filing.id}",
        data={"status": "dismissed", "on": today().isoformat(), "csrf_token": csrf_token(client, url)},
    )  # fmt: skip
    assert response.status_code == 303
    session.expire_all()
    assert session.get(BankruptcyFiling, filing.id).status is BankruptcyStatus.DISMISSED


def test_forms_need_their_csrf_token(client, login_as, cancelled, session):
    cast = cancelled
    url = _page(cast)
    login_as(cast.users["supervisor"])
    assert client.post(f"{url}/referrals", data={"agency": "X"}).status_code == 400
    assert client.post(f"{url}/charge-off", data={"reason": "xyz"}).status_code == 400
    assert client.post(f"{url}/bankruptcy", data={"chapter": "7"}).status_code == 400
    session.expire_all()
    assert session.scalars(select(CollectionReferral)).all() == []
    assert session.scalars(select(ChargeOff)).all() == []


def test_another_groups_records_are_404(client, login_as, cancelled, session):
    cast = cancelled
    theirs = refer(session, cast.group_b, agency="B's agency", on=today(),
                   actor=cast.users["billing_specialist"])  # fmt: skip
    session.commit()
    login_as(cast.users["billing_specialist"])
    url = _page(cast)
    assert client.get(f"{url}/referrals/{theirs.id}/package").status_code == 404
    token = csrf_token(client, url)
    posted = client.post(
        f"{url}/referrals/{theirs.id}/sue", data={"note": "x" * 5, "csrf_token": token}
    )
    assert posted.status_code == 404
    assert client.get("/admin/groups/999999/collections/referrals/1/package").status_code == 404
    session.expire_all()
    assert session.get(CollectionReferral, theirs.id).suit_decided_on is None


@pytest.mark.parametrize("role", ["employer_a", "broker_a"])
def test_non_staff_are_refused(client, login_as, cancelled, session, role):
    cast = cancelled
    theirs = refer(session, cast.group_a, agency="Agency", on=today(),
                   actor=cast.users["billing_specialist"])  # fmt: skip
    session.commit()
    login_as(cast.users[role])
    url = _page(cast)
    assert client.get(f"{url}/referrals/{theirs.id}/package").status_code == 403
    assert client.post(f"{url}/bankruptcy", data={}).status_code in (400, 403)


def test_a_recovery_after_charge_off_through_the_form(client, login_as, cancelled, session):
    from billing_core.collections.charge_off import approve_charge_off, request_charge_off
    from billing_core.models.collections_legal import CollectionRecovery
    from tests.factories import pay_by_check

    cast = cancelled
    group = cast.group_a
    referral = refer(session, group, agency="Summit Recovery", on=today(),
                     actor=cast.users["billing_specialist"])  # fmt: skip
    asked = request_charge_off(session, group, on=today(), reason="gone",
                               actor=cast.users["billing_specialist"])  # fmt: skip
    approve_charge_off(session, asked, actor=cast.users["supervisor"], on=today())
    payment = pay_by_check(session, group, "300.00", today(), reference="AGENCY-1")
    session.commit()
    login_as(cast.users["billing_specialist"])
    url = _page(cast)
    page = client.get(url).get_data(as_text=True)
    assert "AGENCY-1" in page  # the payment to name, and no older premium payment
    done = post_confirmed(
        client, f"{url}/recoveries",
        {"payment_id": str(payment.id), "fee": "75.00", "referral_id": str(referral.id),
         "note": "first remittance", "csrf_token": csrf_token(client, url)},
    )  # fmt: skip
    assert done.status_code == 303
    session.expire_all()
    [recovery] = session.scalars(select(CollectionRecovery)).all()
    assert (recovery.amount, recovery.fee, recovery.after_charge_off, recovery.referral_id) == (
        Decimal("375.00"), Decimal("75.00"), True, referral.id,
    )  # fmt: skip
    recovered = ledger.account_balance(session, ledger.account(session, Chart.RECOVERIES))
    assert recovered == Decimal("-375.00")
    assert session.get(GroupDelinquency, group.id).state is S.CHARGED_OFF
    assert "Bad-debt recoveries" in client.get(url).get_data(as_text=True)
