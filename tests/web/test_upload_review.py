"""The staff review of a census upload: the reconciliation with the bill on the page, returning
the file to the employer (who sees why), and the retro-window override that only a supervisor
can give (enforced on the server, audited)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from billing_core.models import Adjustment, AuditLog, Upload
from billing_core.models.enums import UploadKind, UploadStatus
from billing_core.money import D
from tests.factories import receive_upload
from tests.web.confirming import post_confirmed
from tests.web.conftest import csrf_token

HEADER = "Employee ID,First Name,Last Name,Date of Birth,Action,Termination Date\n"


def _term_west(session, cast, last_day="12/31/2026") -> Upload:
    """A change file terminating West (EE dental 38.20 on the Jan 2027 bill), submitted."""
    west = cast.member_west
    text = (
        HEADER + f"{west.employee_id},{west.first_name},{west.last_name},"
        f"{west.birth_date:%m/%d/%Y},Term,{last_day}\n"
    )
    received = receive_upload(
        session,
        cast.group_a,
        text.encode(),
        "changes.csv",
        uploaded_by=cast.users["employer_a"],
        kind=UploadKind.CHANGE,
        as_of=date(2027, 1, 20),
    )
    session.commit()
    return received.upload


def _on(monkeypatch, day: date) -> None:
    monkeypatch.setattr("admin.views.uploads.today", lambda: day)


def _review_url(cast, upload) -> str:
    return f"/admin/groups/{cast.group_a.id}/uploads/{upload.id}"


def test_the_review_page_reconciles_the_file_with_the_bill(
    client, cast, login_as, session, monkeypatch
):
    _on(monkeypatch, date(2027, 1, 20))
    upload = _term_west(session, cast)
    login_as(cast.users["billing_specialist"])
    html = client.get(_review_url(cast, upload)).get_data(as_text=True)

    recon = html.split('id="reconciliation"')[1].split("</section>")[0]
    assert "Jan 2027" in recon and cast.invoice_a.invoice_number in recon
    # Billed 150.60 (East FAM 112.40 + West EE 38.20); the file leaves 112.40: -38.20, -25.37%.
    total = recon.split('<tr class="total">')[1].split("</tr>")[0]
    for figure in ("150.60", "112.40", "-38.20", "-25.37%", "Outside tolerance"):
        assert figure in total
    assert "within $50.00 and within 10% of billed" in recon
    members = html.split('id="members"')[1].split("</section>")[0]
    assert "Westbrook" in members and "Terminated, still billed" in members
    assert "-38.20" in members
    trend = html.split('id="trend"')[1].split("</section>")[0]
    assert "no earlier bill to compare with" in trend
    # A reading page: nothing kept from pricing the file.
    session.expire_all()
    assert session.scalars(select(Adjustment)).all() == []
    assert session.get(Upload, upload.id).status is UploadStatus.SUBMITTED


def test_return_to_employer_shows_the_employer_it_was_returned(
    client, cast, login_as, session, monkeypatch
):
    _on(monkeypatch, date(2027, 1, 20))
    upload = _term_west(session, cast)
    review = _review_url(cast, upload)
    login_as(cast.users["billing_specialist"])
    token = csrf_token(client, review)

    too_short = client.post(f"{review}/return", data={"csrf_token": token, "reason": "no"})
    assert too_short.status_code == 303
    session.expire_all()
    assert session.get(Upload, upload.id).status is UploadStatus.SUBMITTED

    reason = "West's termination date is missing the COBRA election; send the full file."
    page = client.post(
        f"{review}/return", data={"csrf_token": token, "reason": reason}, follow_redirects=True
    ).get_data(as_text=True)
    assert "was returned to the employer" in page and reason.replace("'", "&#39;") in page
    session.expire_all()
    returned = session.get(Upload, upload.id)
    assert (returned.status, returned.return_reason) == (UploadStatus.RETURNED, reason)
    assert returned.reviewed_by_id == cast.users["billing_specialist"].id
    assert session.scalar(select(AuditLog).where(AuditLog.action == "upload.returned")).detail == {
        "reason": reason
    }
    assert "changes.csv" not in client.get("/admin/uploads").get_data(as_text=True)
    # Approving it now is refused: it is the employer's again.
    client.post(f"{review}/approve", data={"csrf_token": token})
    session.expire_all()
    assert session.get(Upload, upload.id).status is UploadStatus.RETURNED

    login_as(cast.users["employer_a"])
    uploads = client.get(f"/employer/groups/{cast.group_a.id}/uploads").get_data(as_text=True)
    assert "Returned to you" in uploads
    detail = client.get(f"/employer/groups/{cast.group_a.id}/uploads/{upload.id}")
    assert "Returned" in detail.get_data(as_text=True)


def test_the_employer_reads_the_return_reason(client, cast, login_as, session, monkeypatch):
    _on(monkeypatch, date(2027, 1, 20))
    upload = _term_west(session, cast)
    upload.status = UploadStatus.RETURNED
    upload.return_reason = "Send the full file, not the changes only."
    session.commit()
    login_as(cast.users["employer_a"])
    detail = client.get(f"/employer/groups/{cast.group_a.id}/uploads/{upload.id}")
    assert "Send the full file, not the changes only." in detail.get_data(as_text=True)


def test_retro_override_is_a_supervisors_and_unlocks_the_credit(
    client, cast, login_as, session, monkeypatch
):
    """Apr 15, 2027: the term window (60 days) starts in February, so a Dec 31 term would not
    credit the billed January; approval waits for a supervisor's override, which queues it."""
    _on(monkeypatch, date(2027, 4, 15))
    upload = _term_west(session, cast)
    review = _review_url(cast, upload)
    login_as(cast.users["billing_specialist"])
    html = client.get(review).get_data(as_text=True)
    assert "Older than the retro window" in html and "Only a supervisor can override" in html
    token = csrf_token(client, review)

    refused = client.post(f"{review}/retro-override", data={"csrf_token": token, "reason": "ok"})
    assert refused.status_code == 403
    blocked = client.post(
        f"{review}/approve", data={"csrf_token": token}, follow_redirects=True
    ).get_data(as_text=True)
    assert "Not approved: 1 change(s) are older than the retro window" in blocked
    session.expire_all()
    upload = session.get(Upload, upload.id)
    assert upload.retro_override_at is None and upload.status is UploadStatus.SUBMITTED
    assert session.scalars(select(Adjustment)).all() == []
    assert (
        session.scalar(select(AuditLog).where(AuditLog.action == "upload.retro_override")) is None
    )

    login_as(cast.users["supervisor"])
    token = csrf_token(client, review)
    done = client.post(
        f"{review}/retro-override",
        data={"csrf_token": token, "reason": "HR letter shows West left Dec 31"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Retro window overridden for 1 change(s)" in done
    session.expire_all()
    assert session.get(Upload, upload.id).retro_override_by_id == cast.users["supervisor"].id
    audit = session.scalar(select(AuditLog).where(AuditLog.action == "upload.retro_override"))
    assert audit.actor_id == cast.users["supervisor"].id

    login_as(cast.users["billing_specialist"])
    token = csrf_token(client, review)
    approved = post_confirmed(
        client, f"{review}/approve", {"csrf_token": token}, follow_redirects=True
    )
    assert "1 adjustment(s) are pending" in approved.get_data(as_text=True)
    [credit] = session.scalars(select(Adjustment)).all()
    assert (credit.coverage_month, credit.amount, credit.requires_supervisor) == (
        date(2027, 1, 1),
        D("-38.20"),
        True,
    )
