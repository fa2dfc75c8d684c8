"""One rule for every door (issue 16, point 6): every way into an action (the page, the CLI, a
job calling billing_core) goes through the one billing_core function that enforces its rule.
Each test walks every door of one rule and finds it shut the same way:

- census approval and the retro window: the review page and `flask census import --approve`;
- approving adjustments above the authority limit: the single and bulk decisions on the page,
  and billing_core itself (what a job calls); no CLI command decides adjustments, writes off or
  refunds (checked, so a new one must join this walk);
- a write-off above the limit: the payment page and the reconciliation queue (one route), and
  billing_core's write_off with a person;
- money leaving by refund: approving a refund on the page and in billing_core, and a refund out
  of suspense on the workbench and in billing_core.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from billing_core.billing.adjustments import approve_adjustment, approve_adjustments
from billing_core.errors import AccessDenied, BillingError
from billing_core.models import Adjustment, Refund, SuspenseItem, Upload, WriteOffRequest
from billing_core.models.enums import (
    AdjustmentStatus,
    PaymentMethod,
    PaymentSource,
    RefundStatus,
    Role,
    SuspenseStatus,
    UploadKind,
    UploadStatus,
)
from billing_core.money import D
from billing_core.payments.allocation import open_balances, write_off
from billing_core.payments.receipts import record_payment
from billing_core.payments.refunds import approve_refund, request_refund
from billing_core.payments.suspense import close_suspense
from tests.factories import make_invoice, make_user, receive_upload
from tests.web.confirming import confirmation_form
from tests.web.conftest import csrf_token

RETRO_DAY = date(2027, 4, 15)  # a Dec 31, 2026 term is older than the 60-day term window
TERM_FILE = "Employee ID,First Name,Last Name,Date of Birth,Action,Termination Date\n"


def _post(client, url, data, *, confirm=True):
    """POST as a person does, pressing Confirm when a confirmation page comes back; returns the
    page the response leads to."""
    response = client.post(url, data=data)
    page = response.get_data(as_text=True)
    if confirm and response.status_code == 200 and 'name="confirm_digest"' in page:
        action, fields = confirmation_form(page)
        response = client.post(action, data=MultiDict(fields))
    if response.status_code in (302, 303):
        return client.get(response.headers["Location"]).get_data(as_text=True)
    return response.get_data(as_text=True)


# --- census approval and the retro window ------------------------------------------------------


def _term_west_text(cast) -> str:
    west = cast.member_west
    return (
        TERM_FILE + f"{west.employee_id},{west.first_name},{west.last_name},"
        f"{west.birth_date:%m/%d/%Y},Term,12/31/2026\n"
    )


def _nothing_applied(session, cast):
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Adjustment)) == 0
    assert (
        session.scalar(
            select(func.count()).select_from(Upload).where(Upload.status == UploadStatus.APPROVED)
        )
        == 0
    )
    assert all(c.effective_to is None for c in cast.member_west.coverages)


def test_census_approval_door_page(client, cast, login_as, session, monkeypatch):
    monkeypatch.setattr("admin.views.uploads.today", lambda: RETRO_DAY)
    upload = receive_upload(
        session,
        cast.group_a,
        _term_west_text(cast).encode(),
        "changes.csv",
        uploaded_by=cast.users["employer_a"],
        kind=UploadKind.CHANGE,
        as_of=RETRO_DAY,
    ).upload
    session.commit()
    login_as(cast.users["billing_specialist"])
    review = f"/admin/groups/{cast.group_a.id}/uploads/{upload.id}"
    page = _post(client, f"{review}/approve", {"csrf_token": csrf_token(client, review)})
    assert "Not approved: 1 change(s) are older than the retro window" in page
    _nothing_applied(session, cast)


def test_census_approval_door_cli(web_app, cast, session, tmp_path):
    file = tmp_path / "changes.csv"
    file.write_text(_term_west_text(cast))
    result = web_app.test_cli_runner().invoke(
        args=[
            "census",
            "import",
            str(file),
            "--group",
            cast.group_a.group_number,
            "--as-user",
            cast.users["billing_specialist"].email,
            "--as-of",
            RETRO_DAY.isoformat(),
            "--kind",
            "change",
            "--approve",
        ]
    )
    assert result.exit_code == 1
    assert "1 change(s) are older than the retro window" in result.output
    _nothing_applied(session, cast)


# --- adjustments above the authority limit -------------------------------------------------------

ADJUSTMENT_DOORS = ["page: one line", "page: ticked lines", "page: all of the upload", "core"]


@pytest.mark.parametrize("door", ADJUSTMENT_DOORS)
def test_adjustment_approval_over_the_limit_every_door(door, client, cast, login_as, session):
    specialist = cast.users["billing_specialist"]
    lines = []
    for _ in range(3):  # 600.00 from one upload, one requester: above 500.00 together
        lines.append(
            Adjustment(
                group_id=cast.group_a.id,
                member_id=cast.member_east.id,
                coverage_month=date(2027, 1, 1),
                amount=D("200.00"),
                reason_code="late_add",
                source_type="upload",
                source_id=961,
                requested_by_id=specialist.id,
            )
        )
    session.add_all(lines)
    session.commit()
    if door == "core":
        with pytest.raises(AccessDenied, match="come to \\$600.00"):
            approve_adjustment(lines[0], actor=specialist)
        with pytest.raises(AccessDenied, match="come to \\$600.00"):
            approve_adjustments(session, lines, actor=specialist)
        session.rollback()
    else:
        login_as(specialist)
        token = csrf_token(client, "/admin/adjustments")
        url, data = {
            "page: one line": (f"/admin/adjustments/{lines[0].id}/approve", {}),
            "page: ticked lines": (
                "/admin/adjustments/decide",
                MultiDict([("action", "approve"), ("ids", lines[0].id), ("ids", lines[1].id)]),
            ),
            "page: all of the upload": (
                "/admin/adjustments/decide",
                {"action": "approve", "source": "upload:961"},
            ),
        }[door]
        data = MultiDict(data)
        data["csrf_token"] = token
        page = _post(client, url, data)
        assert "needs a supervisor&#39;s approval" in page and "$600.00" in page
    session.expire_all()
    assert {session.get(Adjustment, a.id).status for a in lines} == {AdjustmentStatus.PENDING}


def test_no_cli_command_decides_adjustments_write_offs_or_refunds(web_app):
    """The doors walked here are all of them: a CLI command that decides adjustments, writes
    off or refunds must call the same billing_core function and join its walk."""

    def names(group, prefix=""):
        for name, command in getattr(group, "commands", {}).items():
            yield f"{prefix}{name}"
            yield from names(command, f"{prefix}{name} ")

    words = ("adjust", "write", "refund", "suspense")
    assert [n for n in names(web_app.cli) if any(w in n for w in words)] == []


# --- write-offs above the limit ------------------------------------------------------------------


def _check(session, group, amount):
    payment, _ = record_payment(
        session,
        group=group,
        amount=D(amount),
        method=PaymentMethod.CHECK,
        received_on=date(2027, 1, 5),
        source=PaymentSource.STAFF,
    )
    return payment


@pytest.mark.parametrize("door", ["payment page", "reconciliation queue", "core"])
def test_write_off_over_the_limit_every_door(door, client, cast, login_as, session):
    specialist = cast.users["billing_specialist"]
    invoice = make_invoice(session, cast.group_a, D("2000.00"), date(2026, 12, 1))
    payment = _check(session, cast.group_a, "10.00")
    session.commit()
    owed = open_balances(session, cast.group_a)[invoice.id]
    if door == "core":
        write_off(session, invoice, D("300.00"), on=date(2027, 1, 5), reason="x", actor=specialist)
        with pytest.raises(AccessDenied, match="this one included, come to \\$600.00"):
            write_off(
                session, invoice, D("300.00"), on=date(2027, 1, 5), reason="x", actor=specialist
            )
        session.rollback()
    else:
        login_as(specialist)
        url = f"/admin/payments/{payment.id}/write-off"
        data = {"invoice_id": invoice.id, "amount": "300.00", "reason": "split"}
        if door == "reconciliation queue":
            data["next"] = "/admin/reconciliation"
        first = _post(client, url, {**data, "csrf_token": csrf_token(client, "/admin/")})
        assert "Wrote off $300.00" in first
        second = _post(client, url, {**data, "csrf_token": csrf_token(client, "/admin/")})
        assert "Nothing written off: a write-off of $300.00 needs a supervisor" in second
        assert session.scalar(select(func.count()).select_from(WriteOffRequest)) == 1
        owed -= D("300.00")
    session.expire_all()
    assert open_balances(session, cast.group_a)[invoice.id] == owed


# --- money leaving by refund ---------------------------------------------------------------------


@pytest.mark.parametrize("door", ["refunds page", "core"])
def test_refund_approval_every_door(door, client, cast, login_as, session):
    specialist = cast.users["billing_specialist"]
    payment = _check(session, cast.group_a, "1150.60")  # 1,000.00 left as credit
    refund = request_refund(session, payment, D("1000.00"), reason="overpaid", actor=specialist)
    other_specialist = make_user(session, Role.BILLING_SPECIALIST)
    session.commit()
    if door == "core":
        for who, why in ((specialist, "needs a supervisor"), (other_specialist, "supervisor")):
            with pytest.raises(AccessDenied, match=why):
                approve_refund(session, refund, actor=who, on=date(2027, 1, 5))
            session.rollback()
    else:
        for who in (specialist, other_specialist):
            login_as(who)
            page = _post(
                client,
                f"/admin/refunds/{refund.id}/approve",
                {"csrf_token": csrf_token(client, "/admin/refunds")},
            )
            assert f"Refund {refund.id} not approved" in page and "needs a supervisor" in page
    session.expire_all()
    assert session.get(Refund, refund.id).status is RefundStatus.REQUESTED


@pytest.mark.parametrize("door", ["suspense workbench", "core"])
def test_refund_out_of_suspense_every_door(door, client, cast, login_as, session):
    specialist = cast.users["billing_specialist"]
    payment = _check(session, None, "80.00")
    item = session.scalar(select(SuspenseItem).where(SuspenseItem.payment_id == payment.id))
    session.commit()
    if door == "core":
        with pytest.raises(BillingError, match="needs a second person"):
            close_suspense(
                session, item, refunded=True, on=date(2027, 1, 5), actor=specialist, note="back"
            )
        session.rollback()
    else:
        login_as(specialist)
        page = _post(
            client,
            f"/admin/suspense/{item.id}/close",
            {
                "csrf_token": csrf_token(client, "/admin/suspense"),
                "outcome": "refunded",
                "note": "not our customer",
            },
        )
        assert "requested; another staff member approves it" in page
        refund = session.scalar(select(Refund).where(Refund.suspense_item_id == item.id))
        assert refund.status is RefundStatus.REQUESTED
    session.expire_all()
    assert session.get(SuspenseItem, item.id).status is SuspenseStatus.OPEN
