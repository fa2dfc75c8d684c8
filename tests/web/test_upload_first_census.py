"""A new group's first census through the pages (issue 22's set-up chain): the employer's check
calls it the group's first census and prices its first bill; the staff review reconciles it
against that first period, says it is not billed yet, and the approval's Confirm says the adds
are billed from that month on the first bill."""

from __future__ import annotations

import io
import re
from datetime import date

from werkzeug.datastructures import MultiDict

from billing_core.models import Upload
from billing_core.models.enums import Role, UploadStatus
from tests.factories import make_dental_plan, make_group, make_user
from tests.web.confirming import confirmation_form
from tests.web.conftest import csrf_token

TODAY = date(2026, 12, 7)
HEADER = "Employee ID,First Name,Last Name,Date of Birth,Action,Eff Date,Dental Plan,Dental Tier\n"


def test_a_new_groups_first_census_reads_as_its_first_bill(
    client, cast, login_as, session, monkeypatch
):
    monkeypatch.setattr("portal.employer.uploads.today", lambda: TODAY)
    monkeypatch.setattr("admin.views.uploads.today", lambda: TODAY)
    group = make_group(session, original_effective_date=date(2027, 1, 1))
    plan = make_dental_plan(session, group)
    hr = make_user(session, Role.EMPLOYER, groups=[group])
    session.commit()

    url = f"/employer/groups/{group.id}/uploads"
    login_as(hr)
    text = HEADER + "".join(
        f"N{n},New,Hire{n},03/03/1985,Add,01/01/2027,{plan.code},{tier}\n"
        for n, tier in ((1, "EE"), (2, "FAM"))
    )
    checked = client.post(
        url,
        data={
            "csrf_token": csrf_token(client, url),
            "kind": "",  # the portal guesses, as the set-up chain's HR contact lets it
            "census_file": (io.BytesIO(text.encode()), "first census.csv"),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "of your 0" not in checked
    assert "your group's first census</strong>: it lists 2 employees" in checked
    impact = checked.split("Premium impact")[1]
    # Not "No change to the Dec 2026 bill": the first bill, with what the adds cost on it.
    assert "No change to the" not in impact
    first = re.sub(r"<[^>]+>", "", impact.split('id="impact-first-bill">')[1].split("</p>")[0])
    assert first == "The group's first bill is for Jan 2027: with this file it comes to 150.60."
    upload_id = re.search(rf"{url}/(\d+)/submit", checked).group(1)
    submitted = client.post(
        f"{url}/{upload_id}/submit",
        data={"csrf_token": csrf_token(client, f"{url}/{upload_id}")},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "billing will review it" in submitted

    login_as(cast.users["billing_specialist"])
    review = f"/admin/groups/{group.id}/uploads/{upload_id}"
    page = client.get(review).get_data(as_text=True)
    recon = page.split('id="reconciliation"')[1].split('id="trend"')[0]
    # The first period the group is billed for, not this month's empty one.
    assert "Reconciliation with the bill · Jan 2027" in recon
    assert "Jan 2027 (not billed: the first bill)</option>" in recon
    assert "Nothing billed and nothing in the file" not in recon
    said = re.sub(r"<[^>]+>", "", recon.split('id="not-billed-yet">')[1].split("</p>")[0])
    assert said.startswith(
        "Not billed yet: the group's first bill will be for Jan 2027; with this file approved "
        "it comes to 150.60 for 2 members"
    )
    assert "Outside tolerance" not in recon and "Not billed yet</span>" in recon
    decision = page.split('id="decision"')[1]
    assert re.search(r"<button type=\"submit\">Approve 2 adds, 0 terms, 0 changes", decision)
    assert "the adds are billed from Jan 2027 on the group's first bill (150.60" in decision

    asked = client.post(f"{review}/approve", data={"csrf_token": csrf_token(client, review)})
    assert asked.status_code == 200
    button = re.search(r"<button[^>]*>(Confirm:[^<]*)</button>", asked.get_data(as_text=True))
    assert button.group(1) == (
        "Confirm: approve 2 adds, 0 terms, 0 changes; the adds are billed from Jan 2027 on "
        "the group&#39;s first bill"
    )
    action, fields = confirmation_form(asked.get_data(as_text=True))
    done = client.post(action, data=MultiDict(fields), follow_redirects=True)
    assert (
        "first census.csv approved: 2 added, 0 changed, 0 termed; no adjustment queued; the "
        "adds are billed from Jan 2027 on the group&#39;s first bill."
    ) in done.get_data(as_text=True)
    session.expire_all()
    assert session.get(Upload, int(upload_id)).status is UploadStatus.APPROVED
