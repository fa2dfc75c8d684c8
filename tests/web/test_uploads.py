"""The census journey through the pages: a bad file is shown row by row and kept nowhere; a good
one is previewed, submitted, approved by staff, and its retro credit waits in the queue."""

from __future__ import annotations

import io
from datetime import date

from sqlalchemy import func, select

from billing_core.models import Adjustment, Upload
from billing_core.models.enums import AdjustmentStatus, UploadStatus
from billing_core.money import D
from tests.web.confirming import post_confirmed
from tests.web.conftest import csrf_token


def _post_file(client, url, name, text, token):
    return client.post(
        url,
        data={
            "csrf_token": token,
            "kind": "change",
            "census_file": (io.BytesIO(text.encode()), name),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )


def test_upload_preview_submit_and_staff_approval(client, cast, login_as, session):
    group = cast.group_a
    url = f"/employer/groups/{group.id}/uploads"
    login_as(cast.users["employer_a"])
    token = csrf_token(client, url)

    bad = _post_file(
        client,
        url,
        "bad.csv",
        "Employee ID,First Name,Last Name,DOB\nE1,Ann,Avery,13/45/1990\n",
        token,
    )
    html = bad.get_data(as_text=True)
    assert "bad.csv was refused; nothing from it was applied" in html
    assert "13/45/1990" in html and "not a real date" in html
    # Kept for the record only (issue 15): refused, never the group's latest upload.
    [refused] = session.scalars(select(Upload)).all()
    assert refused.status is UploadStatus.REJECTED and refused.error_count == 1

    west = cast.member_west
    text = (
        "Employee ID,First Name,Last Name,Date of Birth,Action,Termination Date\n"
        f"{west.employee_id},{west.first_name},{west.last_name},{west.birth_date:%m/%d/%Y},"
        "Term,12/31/2026\n"
    )
    preview = _post_file(client, url, "changes.csv", text, token)
    html = preview.get_data(as_text=True)
    assert "Westbrook" in html and "Dental: end" in html
    # January 2027 is billed: the term credits it on the next bill.
    impact = html.split("Premium impact")[1]
    assert "Jan 2027" in impact and "-38.20" in impact
    upload = session.scalar(select(Upload).where(Upload.status != UploadStatus.REJECTED))
    assert upload.status is UploadStatus.RECEIVED
    submitted = client.post(
        f"{url}/{upload.id}/submit", data={"csrf_token": token}, follow_redirects=True
    )
    assert "was submitted; billing will review it" in submitted.get_data(as_text=True)

    login_as(cast.users["billing_specialist"])
    queue = client.get("/admin/uploads").get_data(as_text=True)
    assert "changes.csv" in queue
    review = f"/admin/groups/{group.id}/uploads/{upload.id}"
    token = csrf_token(client, review)
    approved = post_confirmed(
        client, f"{review}/approve", {"csrf_token": token}, follow_redirects=True
    )
    assert "1 adjustment(s) are pending" in approved.get_data(as_text=True)
    session.expire_all()
    assert session.get(Upload, upload.id).status is UploadStatus.APPROVED
    [credit] = session.scalars(select(Adjustment).where(Adjustment.member_id == west.id)).all()
    assert (credit.amount, credit.status) == (D("-38.20"), AdjustmentStatus.PENDING)


def test_a_location_limited_user_cannot_upload_for_the_whole_group(client, cast, login_as, session):
    url = f"/employer/groups/{cast.group_a.id}/uploads"
    login_as(cast.users["employer_a_east"])
    token = csrf_token(client, url)
    text = "Employee ID,First Name,Last Name,DOB\nE1,Ann,Avery,01/02/1990\n"
    response = _post_file(client, url, "census.csv", text, token)
    assert "covers some locations only" in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Upload)) == 0


def test_the_impact_says_what_the_next_bill_carries_in_all(client, cast, login_as, monkeypatch):
    """A termination in a billed month changes the next bill twice: its own month's premium and
    the retro credit of the month billed. The page adds the two up in words."""
    monkeypatch.setattr("portal.employer.uploads.today", lambda: date(2027, 1, 20))
    url = f"/employer/groups/{cast.group_a.id}/uploads"
    login_as(cast.users["employer_a"])
    west = cast.member_west
    text = (
        "Employee ID,First Name,Last Name,Date of Birth,Action,Termination Date\n"
        f"{west.employee_id},{west.first_name},{west.last_name},{west.birth_date:%m/%d/%Y},"
        "Term,12/31/2026\n"
    )
    html = _post_file(client, url, "changes.csv", text, csrf_token(client, url))
    impact = html.get_data(as_text=True).split("Premium impact")[1]
    assert "Next bill: Feb 2027" in impact
    assert (
        "In all, the Feb 2027 bill changes by <strong>-76.40</strong>: -38.20 of Feb 2027 "
        "premium and -38.20 correcting Jan 2027."
    ) in impact
