"""Four eyes cannot be split around (issue 16, point 5): the authority limit applies to the whole
of one decision and to everything one source produced for one requester; bulk decisions on a
selection or on all of an upload's adjustments, with their total shown. Every money action asks
first and says afterwards what happened, with a link (issue 16, point 4)."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from billing_core.models import Adjustment, AuditLog, Coverage, Plan
from billing_core.models.enums import AdjustmentStatus, PaymentMethod, PaymentSource, Role
from billing_core.money import D
from billing_core.payments.allocation import open_balances
from billing_core.payments.receipts import record_payment
from tests.factories import make_invoice, make_user
from tests.web.confirming import confirmation_form, confirmed_run, post_confirmed
from tests.web.conftest import csrf_token

QUEUE = "/admin/adjustments"


def _adjustment(session, cast, amount, requested_by, *, source_id=901, member=None):
    adjustment = Adjustment(
        group_id=cast.group_a.id,
        member_id=(member or cast.member_east).id,
        plan_id=cast.invoice_a.lines[0].plan_id,
        coverage_month=date(2027, 1, 1),
        amount=D(amount),
        reason_code="late_add",
        source_type="upload",
        source_id=source_id,
        requested_by_id=requested_by.id,
    )
    session.add(adjustment)
    session.commit()
    return adjustment


def _statuses(session, adjustments):
    session.expire_all()
    return [session.get(Adjustment, a.id).status for a in adjustments]


def test_one_uploads_lines_cannot_be_approved_one_by_one_under_the_limit(
    client, cast, login_as, session
):
    specialist = cast.users["billing_specialist"]
    lines = [_adjustment(session, cast, "200.00", specialist) for _ in range(3)]  # 600.00

    login_as(specialist)
    page = client.get(QUEUE).get_data(as_text=True)
    assert "Approve 200.00" not in page and "needs another supervisor" in page
    assert "source 600.00" in page  # the badge says why
    token = csrf_token(client, QUEUE)
    refused = client.post(
        f"{QUEUE}/{lines[0].id}/approve",
        data={"csrf_token": token, "confirm": "1"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert (
        "an adjustment of $200.00 needs a supervisor&#39;s approval: the pending adjustments of "
        "census upload 901 (one requester) come to $600.00 (authority limit $500.00)"
    ) in refused
    assert _statuses(session, lines) == [AdjustmentStatus.PENDING] * 3

    # A supervisor who did not request them decides all of the upload in one decision.
    login_as(cast.users["supervisor"])
    whole = client.get(f"{QUEUE}?source=upload:901").get_data(as_text=True)
    assert "All pending adjustments of census upload 901" in whole
    assert "Approve all 3 (600.00 net)" in whole
    token = csrf_token(client, QUEUE)
    asked = client.post(
        f"{QUEUE}/decide",
        data={"csrf_token": token, "source": "upload:901", "action": "approve", "note": "ok"},
    )
    page = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "Approve 3 adjustments?" in page
    assert "Net change to the next bills" in page and "600.00" in page
    assert all(f"<td>{a.id}</td>" in page for a in lines)
    assert _statuses(session, lines) == [AdjustmentStatus.PENDING] * 3  # asked, not done
    action, fields = confirmation_form(page)
    assert sorted(v for k, v in fields if k == "ids") == sorted(str(a.id) for a in lines)
    done = client.post(action, data=MultiDict(fields), follow_redirects=True)
    html = done.get_data(as_text=True)
    assert "3 adjustments ($600.00 net) approved; the next invoices bill them." in html
    assert '<a href="/admin/adjustments?status=approved">See the approved adjustments</a>' in html
    assert _statuses(session, lines) == [AdjustmentStatus.APPROVED] * 3
    audit = session.scalars(select(AuditLog).where(AuditLog.action == "adjustment.approve"))
    assert {row.detail["decision_of"] for row in audit} == {3}


def test_a_decision_is_measured_as_a_whole(client, cast, login_as, session):
    specialist = cast.users["billing_specialist"]
    first = _adjustment(session, cast, "300.00", specialist, source_id=911)
    second = _adjustment(session, cast, "-300.00", specialist, source_id=912)  # nets to zero

    login_as(specialist)
    token = csrf_token(client, QUEUE)
    refused = client.post(
        f"{QUEUE}/decide",
        data=MultiDict(
            [("csrf_token", token), ("action", "approve"), ("ids", first.id), ("ids", second.id)]
        ),
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "the adjustments this decision approves come to $600.00" in refused
    assert _statuses(session, [first, second]) == [AdjustmentStatus.PENDING] * 2
    # Each on its own is within the specialist's authority (each is one source's only line).
    post_confirmed(client, f"{QUEUE}/{first.id}/approve", {"csrf_token": token})
    assert _statuses(session, [first, second])[0] is AdjustmentStatus.APPROVED


def test_a_supervisor_may_not_approve_a_decision_holding_lines_they_requested(
    client, cast, login_as, session
):
    supervisor = cast.users["supervisor"]
    theirs = _adjustment(session, cast, "400.00", supervisor, source_id=921)
    other = _adjustment(session, cast, "400.00", cast.users["admin"], source_id=922)
    login_as(supervisor)
    token = csrf_token(client, QUEUE)
    refused = client.post(
        f"{QUEUE}/decide",
        data=MultiDict(
            [("csrf_token", token), ("action", "approve"), ("ids", theirs.id), ("ids", other.id)]
        ),
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "needs a second person (a supervisor who did not request it): you requested it" in (
        refused
    )
    assert _statuses(session, [theirs, other]) == [AdjustmentStatus.PENDING] * 2

    login_as(make_user(session, Role.SUPERVISOR))
    session.commit()
    token = csrf_token(client, QUEUE)
    done = post_confirmed(
        client,
        f"{QUEUE}/decide",
        MultiDict(
            [("csrf_token", token), ("action", "approve"), ("ids", theirs.id), ("ids", other.id)]
        ),
        follow_redirects=True,
    )
    assert "2 adjustments ($800.00 net) approved" in done.get_data(as_text=True)


def test_bulk_reject_of_an_upload_needs_a_reason_and_no_supervisor(client, cast, login_as, session):
    specialist = cast.users["billing_specialist"]
    lines = [_adjustment(session, cast, "-450.00", specialist, source_id=931) for _ in range(2)]
    login_as(specialist)
    token = csrf_token(client, QUEUE)
    form = {"csrf_token": token, "source": "upload:931", "action": "reject"}
    blank = client.post(f"{QUEUE}/decide", data={**form, "note": ""}, follow_redirects=True)
    assert "say why" in blank.get_data(as_text=True)
    done = post_confirmed(
        client,
        f"{QUEUE}/decide",
        {**form, "note": "The employer sent last year's file"},
        follow_redirects=True,
    )
    assert "2 adjustments (-$900.00 net) rejected." in done.get_data(as_text=True)
    assert _statuses(session, lines) == [AdjustmentStatus.REJECTED] * 2


def test_the_server_acts_only_on_the_confirmation_of_what_was_shown(
    client, cast, login_as, session
):
    small = _adjustment(session, cast, "38.20", cast.users["billing_specialist"], source_id=941)
    login_as(cast.users["billing_specialist"])
    token = csrf_token(client, QUEUE)
    url = f"{QUEUE}/{small.id}/approve"
    asked = client.post(url, data={"csrf_token": token})
    assert asked.status_code == 200 and "Confirm: approve 1 adjustment" in asked.get_data(
        as_text=True
    )
    forged = client.post(url, data={"csrf_token": token, "confirm": "1", "confirm_digest": "x"})
    assert forged.status_code == 200 and "Check again" in forged.get_data(as_text=True)
    assert _statuses(session, [small]) == [AdjustmentStatus.PENDING]
    assert session.scalar(select(AuditLog).where(AuditLog.action == "adjustment.approve")) is None
    done = post_confirmed(client, url, {"csrf_token": token})
    assert done.status_code == 303
    assert _statuses(session, [small]) == [AdjustmentStatus.APPROVED]


def test_a_changed_situation_asks_again(client, cast, login_as, session):
    """The confirmation is of amounts: if the invoice's balance changed meanwhile (a check came
    in), confirming the old page does nothing and shows the new figures to confirm."""
    credit = _check(session, cast.group_a, "400.00", "A-1")  # pays 150.60, 249.40 left
    invoice = make_invoice(session, cast.group_a, D("200.00"), date(2026, 12, 1))
    session.commit()
    login_as(cast.users["billing_specialist"])
    token = csrf_token(client, "/admin/payments/new")
    url = f"/admin/payments/{credit.id}/allocate"
    asked = client.post(url, data={"csrf_token": token, "invoice_id": invoice.id, "amount": "50"})
    page = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "200.00" in page  # what the invoice owes now
    action, fields = confirmation_form(page)

    _check(session, cast.group_a, "20.00", "B-2")  # pays 20.00 of it meanwhile
    again = client.post(action, data=MultiDict(fields))
    html = again.get_data(as_text=True)
    assert again.status_code == 200 and "Check again" in html and "180.00" in html
    assert _owed(session, cast.group_a, invoice) == D("180.00")  # nothing allocated
    action, fields = confirmation_form(html)
    assert client.post(action, data=MultiDict(fields)).status_code == 303
    assert _owed(session, cast.group_a, invoice) == D("130.00")


def _check(session, group, amount, reference):
    payment, _ = record_payment(
        session,
        group=group,
        amount=D(amount),
        method=PaymentMethod.CHECK,
        received_on=date(2026, 12, 2),
        source=PaymentSource.STAFF,
        reference=reference,
    )
    session.commit()
    return payment


def _owed(session, group, invoice):
    session.expire_all()
    return open_balances(session, group).get(invoice.id, D("0.00"))


def test_flash_links_to_the_record_and_escapes_what_people_typed(client, cast, login_as, session):
    login_as(cast.users["billing_specialist"])
    done = post_confirmed(
        client,
        "/admin/payments/new",
        {
            "csrf_token": csrf_token(client, "/admin/payments/new"),
            "method": "check",
            "amount": "10.00",
            "received_on": "2026-11-20",
            "group": cast.group_a.group_number,
            "reference": "<b>77</b>",
        },
        follow_redirects=True,
    )
    html = done.get_data(as_text=True)
    flash = re.search(r'<div class="flash flash-success".*?</div>', html, re.S).group(0)
    assert "Check &lt;b&gt;77&lt;/b&gt; of $10.00 recorded for Acme Tooling" in flash
    assert re.search(r'<a href="/admin/payments/\d+">Open the payment</a>', flash)
    assert "<b>77</b>" not in flash


def test_a_decision_goes_back_only_to_a_page_of_this_site(client, cast, login_as, session):
    small = _adjustment(session, cast, "12.00", cast.users["billing_specialist"], source_id=951)
    login_as(cast.users["billing_specialist"])
    token = csrf_token(client, QUEUE)
    response = client.post(
        f"{QUEUE}/{small.id}/reject",
        data={"csrf_token": token, "note": "x", "next": "//evil.example/"},
    )
    assert response.status_code in (302, 303)
    assert response.headers["Location"].endswith("/admin/adjustments")


def test_a_billing_run_issues_nothing_without_the_confirmation_of_its_preview(
    client, cast, login_as, session
):
    from billing_core.models import Invoice

    login_as(cast.users["billing_specialist"])
    invoices = session.scalar(select(func.count()).select_from(Invoice))
    preview = f"/admin/billing?period=2027-02&group={cast.group_a.group_number}"
    form = {
        "period": "2027-02",
        "group": cast.group_a.group_number,
        "csrf_token": csrf_token(client, preview),
    }
    asked = client.post("/admin/billing", data=form).get_data(as_text=True)
    assert "Check the figures" in asked and "Issue 1 invoice(s)" in asked
    stale = client.post(
        "/admin/billing", data={**form, "confirm": "1", "confirm_digest": "0" * 40}
    ).get_data(as_text=True)
    assert "Check again" in stale
    assert session.scalar(select(func.count()).select_from(Invoice)) == invoices
    issued = client.post("/admin/billing", data=confirmed_run(client, form), follow_redirects=True)
    html = issued.get_data(as_text=True)
    assert "Issued 1 invoice(s) for Feb 2027" in html
    assert '<a href="/admin/invoices?period=2027-02">See the invoices issued</a>' in html
    assert session.scalar(select(func.count()).select_from(Invoice)) == invoices + 1


def test_approving_an_upload_shows_what_it_queues_before_applying_it(
    client, cast, login_as, session, monkeypatch
):
    from billing_core.models import Upload
    from billing_core.models.enums import UploadKind, UploadStatus
    from tests.factories import receive_upload

    monkeypatch.setattr("admin.views.uploads.today", lambda: date(2027, 1, 20))
    west = cast.member_west
    text = (
        "Employee ID,First Name,Last Name,Date of Birth,Action,Termination Date\n"
        f"{west.employee_id},{west.first_name},{west.last_name},{west.birth_date:%m/%d/%Y},"
        "Term,12/31/2026\n"
    )
    upload = receive_upload(
        session,
        cast.group_a,
        text.encode(),
        "changes.csv",
        uploaded_by=cast.users["employer_a"],
        kind=UploadKind.CHANGE,
        as_of=date(2027, 1, 20),
    ).upload
    session.commit()
    login_as(cast.users["billing_specialist"])
    review = f"/admin/groups/{cast.group_a.id}/uploads/{upload.id}"
    asked = client.post(f"{review}/approve", data={"csrf_token": csrf_token(client, review)})
    page = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "Approve changes.csv?" in page
    assert "Members termed" in page and "1 member" in page
    assert "Net of the adjustments queued" in page and "-38.20" in page
    # ... and lists the adjustments it queues, each with its member, plan, month and amount.
    listed = re.search(r'<table class="compact">.*?</table>', page, re.S).group(0)
    rows = re.findall(r"<tr>(.*?)</tr>", listed, re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows]
    assert [c for c in cells if c] == [
        [
            cast.group_a.group_number,
            f"{west.last_name}, {west.first_name}",
            session.scalar(
                select(Plan.code)
                .join(Coverage, Coverage.plan_id == Plan.id)
                .where(Coverage.member_id == west.id)
            ),
            "Jan 2027",
            "Late-reported termination",
            "-38.20",
        ]
    ]
    session.expire_all()
    assert session.get(Upload, upload.id).status is UploadStatus.SUBMITTED
    assert session.scalars(select(Adjustment)).all() == []  # asked, nothing applied
    action, fields = confirmation_form(page)
    done = client.post(action, data=MultiDict(fields), follow_redirects=True)
    html = done.get_data(as_text=True)
    assert "1 adjustment(s) are pending in the adjustment queue (-$38.20 net)." in html
    assert f'<a href="/admin/adjustments?source=upload:{upload.id}">' in html
    session.expire_all()
    assert session.get(Upload, upload.id).status is UploadStatus.APPROVED
