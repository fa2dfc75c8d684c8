"""The file kind is never guessed into harm (issue 15): a one-row new-hire file uploaded with the
default "let the portal tell" ends nobody's coverage, and a full file that would end most of the
group's coverage waits for its sender to say it is their complete list (every door: the page,
the submit, the staff approval and the CLI)."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import select

from billing_core.census.uploads import approve_upload
from billing_core.errors import BillingError
from billing_core.models import Upload
from billing_core.models.enums import Role, UploadKind, UploadStatus
from tests.factories import make_user
from tests.intake_corpus import corpus_group
from tests.web.conftest import csrf_token

HEADER = "Employee ID,First Name,Last Name,Date of Birth,Medical Plan,Medical Tier\n"


def _roster(numbers) -> str:
    return HEADER + "".join(
        f"E{1000 + n},Pat,Worker{n:02d},01/{n:02d}/1980,MED-PPO,EE\n" for n in numbers
    )


@pytest.fixture
def corpus(session, login_as, client):
    group = corpus_group(session)
    user = make_user(session, Role.EMPLOYER, groups=[group])
    session.commit()
    login_as(user)
    url = f"/employer/groups/{group.id}/uploads"
    return group, url, csrf_token(client, url)


def _post(client, url, token, name, text, kind=""):
    return client.post(
        url,
        data={"csrf_token": token, "kind": kind, "census_file": (io.BytesIO(text.encode()), name)},
        content_type="multipart/form-data",
        follow_redirects=True,
    )


def test_a_one_row_new_hire_file_with_the_default_kind_ends_nobody(client, session, corpus):
    group, url, token = corpus
    text = HEADER + "N-77,Nia,Newhire,03/04/1994,MED-PPO,EE\n"
    page = _post(client, url, token, "new hire.csv", text).get_data(as_text=True)

    upload = session.scalar(select(Upload))
    assert upload.file_kind is UploadKind.CHANGE and upload.file_kind_guessed
    assert "We read this as a <strong>change file</strong>" in page
    assert "lists 1 employee of your 15" in page
    stats = page.split('class="stats"')[1]
    assert '>Adds</span><span class="value">1<' in stats
    assert '>Terms</span><span class="value">0<' in stats
    assert "would end coverage" not in page


def test_a_full_file_missing_most_employees_waits_for_its_sender(client, session, corpus, login_as):
    group, url, token = corpus
    text = _roster([1, 2, 3])  # the complete list would be 15
    page = _post(client, url, token, "roster.csv", text, kind="snapshot").get_data(as_text=True)
    assert "This file would end coverage for 12 of 15 employees" in page
    assert "is it your complete list of everyone covered?" in page
    assert "Submitting waits for your answer above" in page

    upload = session.scalar(select(Upload))
    detail = f"{url}/{upload.id}"
    # The submit is refused on the server whatever the page showed.
    refused = client.post(f"{detail}/submit", data={"csrf_token": token}, follow_redirects=True)
    assert "would end coverage for 12 of 15" in refused.get_data(as_text=True)
    session.refresh(upload)
    assert upload.status is UploadStatus.RECEIVED

    # Staff cannot approve it either (one door for the rule).
    upload.status = UploadStatus.SUBMITTED
    with pytest.raises(BillingError, match="complete list"):
        approve_upload(
            session, upload, actor=make_user(session, Role.BILLING_SPECIALIST),
            as_of=upload.created_at.date(), today=upload.created_at.date(),
        )  # fmt: skip
    session.rollback()

    confirmed = client.post(
        f"{detail}/complete-list", data={"csrf_token": token}, follow_redirects=True
    ).get_data(as_text=True)
    assert "You confirmed roster.csv is your complete list" in confirmed
    submitted = client.post(f"{detail}/submit", data={"csrf_token": token}, follow_redirects=True)
    assert "was submitted" in submitted.get_data(as_text=True)
    session.refresh(upload)
    assert upload.status is UploadStatus.SUBMITTED and upload.complete_list_confirmed_at

    # Staff see that the employer confirmed it.
    login_as(make_user(session, Role.BILLING_SPECIALIST))
    review = client.get(f"/admin/groups/{group.id}/uploads/{upload.id}").get_data(as_text=True)
    assert "The employer confirmed this is their complete list" in review
    assert "it ends coverage for 12 of 15 employees" in review


def test_the_sender_can_turn_a_full_file_into_a_change_file(client, session, corpus):
    group, url, token = corpus
    _post(client, url, token, "roster.csv", _roster([1, 2, 3, 4, 5, 6, 7, 8]))
    upload = session.scalar(select(Upload))
    assert upload.file_kind is UploadKind.SNAPSHOT  # 8 of 15 listed: read as the full list
    page = client.get(f"{url}/{upload.id}").get_data(as_text=True)
    assert "This file would end coverage for 7 of 15 employees" in page
    changed = client.post(
        f"{url}/{upload.id}/read-as/change", data={"csrf_token": token}, follow_redirects=True
    ).get_data(as_text=True)
    assert "is now read as a change file" in changed
    assert "would end coverage" not in changed
    session.refresh(upload)
    assert upload.file_kind is UploadKind.CHANGE and not upload.file_kind_guessed


def test_a_refused_file_is_kept_for_the_record_and_can_be_discarded(client, session, corpus):
    group, url, token = corpus
    bad = HEADER + "E1001,Pat,Worker01,13/45/1980,MED-PPO,EE\n"
    page = _post(client, url, token, "bad.csv", bad).get_data(as_text=True)
    assert "was refused; nothing from it was applied" in page
    upload = session.scalar(select(Upload))
    assert upload.status is UploadStatus.REJECTED
    home = client.get(f"/employer/groups/{group.id}").get_data(as_text=True)
    assert "bad.csv" not in home  # never the latest upload
    listed = client.get(url).get_data(as_text=True)
    assert "Refused: 1 error" in listed
    gone = client.post(
        f"{url}/{upload.id}/discard", data={"csrf_token": token}, follow_redirects=True
    ).get_data(as_text=True)
    assert "bad.csv was discarded" in gone
    assert "Refused: 1 error" not in gone
    session.refresh(upload)
    assert upload.discarded_at is not None and upload.status is UploadStatus.REJECTED


def test_the_cli_import_asks_for_the_complete_list_too(web_app, session, tmp_path):
    group = corpus_group(session)
    staff = make_user(session, Role.BILLING_SPECIALIST)
    session.commit()
    path = tmp_path / "roster.csv"
    path.write_text(_roster([1, 2, 3]))
    runner = web_app.test_cli_runner()
    args = ["census", "import", str(path), "--group", group.group_number,
            "--as-user", staff.email, "--kind", "snapshot", "--approve", "--json"]  # fmt: skip
    refused = runner.invoke(args=args)
    assert refused.exit_code == 1
    assert "would end coverage for 12 of 15" in json.loads(refused.output)["error"]
    passed = runner.invoke(args=[*args, "--complete-list"])
    assert passed.exit_code == 0, passed.output
    assert json.loads(passed.output)["applied"]["members_termed"] == 12


def test_plans_by_the_names_employers_see_and_the_groups_own_aliases(client, session, corpus):
    group, url, token = corpus
    by_name = HEADER + "N-1,Nia,Newhire,03/04/1994,blue ppo 1000,EE\n"
    page = _post(client, url, token, "by name.csv", by_name).get_data(as_text=True)
    assert "was refused" not in page and "Adds" in page
    assert session.scalar(
        select(Upload).where(Upload.original_filename == "by name.csv")
    ).status is (UploadStatus.RECEIVED)

    odd = HEADER + "N-2,Ona,Other,05/06/1990,Gold Plus,EE\n"
    refused = _post(client, url, token, "odd.csv", odd).get_data(as_text=True)
    assert "no plan &#39;Gold Plus&#39; in this group" in refused
    upload = session.scalar(select(Upload).where(Upload.original_filename == "odd.csv"))
    assert upload.status is UploadStatus.REJECTED
    detail = client.get(f"{url}/{upload.id}").get_data(as_text=True)
    assert "Plans your file names that we do not know" in detail
    assert 'name="plans-0-value" value="Gold Plus"' in detail
    mapped = client.post(
        f"{url}/{upload.id}/plans",
        data={"csrf_token": token, "plans-0-value": "Gold Plus", "plans-0-plan": "MED-PPO"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Plan names remembered for your group: odd.csv reads now" in mapped
    session.refresh(upload)
    assert upload.status is UploadStatus.RECEIVED and upload.error_count == 0

    # The group's next file naming the plan that way reads at once.
    again = HEADER + "N-3,Oli,Again,07/08/1991,GOLD-PLUS,EE\n"
    page = _post(client, url, token, "again.csv", again).get_data(as_text=True)
    assert "was refused" not in page


def test_the_census_template_lists_the_group_and_reads_back_as_no_change(client, session, corpus):
    from openpyxl import load_workbook

    group, url, token = corpus
    response = client.get(f"{url}/template.xlsx")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store, private"
    book = load_workbook(io.BytesIO(response.data), read_only=True)
    census = [tuple(row) for row in book["Census"].iter_rows(values_only=True)]
    header = census[0]
    assert header[:7] == (
        "Employee ID", "Relationship", "First name", "Last name", "Date of birth", "Gender", "SSN"
    )  # fmt: skip
    assert "Medical plan" in header and "Dental coverage level" in header
    first = dict(zip(header, census[1], strict=True))
    assert first["Employee ID"] == "E1001" and first["SSN"] == "***-**-1001"
    assert first["Medical plan"] == "Blue PPO 1000" and first["Medical coverage level"] == "FAM"
    assert [r[1] for r in census[1:4]] == ["Employee", "Spouse", "Child"]
    assert len(census) == 1 + 15 + 3  # fifteen employees, three dependents
    assert not any("219-09" in str(cell) for row in census for cell in row)
    plans = list(book["Plans"].iter_rows(values_only=True))
    assert ("Medical", "Blue PPO 1000", "MED-PPO", "EE, ES, EC, FAM") in plans

    # Uploaded again as the complete list, unchanged: nothing would change.
    page = client.post(
        url,
        data={
            "csrf_token": token,
            "kind": "snapshot",
            "census_file": (io.BytesIO(response.data), "template.xlsx"),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "was refused" not in page, page[page.find("Problems") :][:2000]
    assert "The file matches enrollment: nothing would change." in page


def test_every_kind_of_error_comes_back_in_one_round(client, session, corpus):
    group, url, token = corpus
    text = (
        HEADER
        + "N-1,Ann,Bad,13/45/1980,MED-PPO,EE\n"  # not a date (the reader)
        + "N-2,Bea,Plan,05/06/1990,Platinum,EE\n"  # no such plan (against the group)
    )
    page = _post(client, url, token, "two.csv", text).get_data(as_text=True)
    assert "was refused" in page
    assert "13/45/1980" in page and "no plan &#39;Platinum&#39; in this group" in page
    upload = session.scalar(select(Upload))
    assert upload.error_count == 2


def test_a_term_credited_for_fewer_months_than_it_asks_says_so(
    client, cast, session, login_as, monkeypatch
):
    """Issue 15 point 6: a late termination's credit is limited to the retro window; the
    employer reads that in words on the upload page, before submitting."""
    from datetime import date

    import portal.employer.uploads as employer_uploads

    monkeypatch.setattr(employer_uploads, "today", lambda: date(2027, 4, 15))
    login_as(cast.users["employer_a"])
    url = f"/employer/groups/{cast.group_a.id}/uploads"
    token = csrf_token(client, url)
    west = cast.member_west
    text = (
        "Employee ID,First Name,Last Name,Date of Birth,Action,Termination Date\n"
        f"{west.employee_id},{west.first_name},{west.last_name},{west.birth_date:%m/%d/%Y},"
        "Term,12/31/2026\n"
    )
    page = _post(client, url, token, "late term.csv", text).get_data(as_text=True)
    notes = page.split("Worth a look")[1]
    assert "Westbrook" in notes and "this term takes effect Dec 31, 2026" in notes
    assert "Credit is given from Feb 2027" in notes
    assert "the billed 1 month before it (Jan 2027) is credited only if our billing team" in notes


def test_a_refused_files_problems_stay_after_its_bytes_are_purged(client, session, corpus):
    """Issue 17: the parsed result and the problems stay when a kept file is purged; its
    problems CSV then lists them without their values (which may be SSNs or birth dates)."""
    from datetime import timedelta

    from billing_core.census.kept import purge_kept_files

    group, url, token = corpus
    bad = HEADER.replace("Medical Tier", "Medical Tier,SSN") + (
        "E1001,Pat,Worker01,13/45/1980,MED-PPO,EE,219-09-1001\n"
    )
    _post(client, url, token, "bad.csv", bad)
    upload = session.scalar(select(Upload))
    assert upload.status is UploadStatus.REJECTED
    purge_kept_files(
        session,
        as_of=upload.created_at.date() + timedelta(days=91),
        retention_days=90,
        actor_email="ops@carrier.example.com",
    )
    session.commit()
    assert upload.content_purged_at is not None
    assert [p["kind"] for p in upload.kept_problems] == ["Error"]
    csv = client.get(f"{url}/{upload.id}/problems.csv").get_data(as_text=True)
    assert "not a real date" in csv or "date" in csv.splitlines()[1]
    assert "13/45/1980" not in csv and "1001" not in csv.splitlines()[1].split(",")[4]
