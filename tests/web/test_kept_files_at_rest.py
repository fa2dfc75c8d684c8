"""Issue 17, finding 1: no full SSN or date of birth from a census file is ever in the database
file in plaintext: not after the upload, not after staff approve it, not after the purge that
deletes the file. The test commits for real into a SQLite file of its own (the suite's
database rolls every test back, so nothing of it would reach the file) and reads the file's
bytes after each step."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from billing_core import migrate
from billing_core.db import make_engine, make_session_factory
from billing_core.models import AuditLog, Coverage, Member, Plan, Upload
from billing_core.models.enums import UploadStatus
from billing_core.security import vault
from tests.web.confirming import post_confirmed
from tests.web.conftest import csrf_token

SSN, DOB = "287-65-4321", "03/17/1984"
# Every way the file's values could show in plaintext: the SSN with and without dashes or with
# blanks, the birth date as the file writes it (with and without leading zeros) and as an 834
# would (CCYYMMDD).
NEEDLES = (b"287-65-4321", b"287654321", b"287 65 4321", b"03/17/1984", b"3/17/1984", b"19840317")


@pytest.fixture
def database(tmp_path) -> Path:
    return tmp_path / "portal.sqlite"


@pytest.fixture
def session_factory(database):
    """Overrides the suite's: sessions that commit into a database file of the test's own."""
    engine = make_engine(f"sqlite:///{database}")
    migrate.upgrade(engine)
    yield make_session_factory(engine)
    engine.dispose()


def _plaintext_in_database(session, database: Path) -> list[bytes]:
    """The needles found in the database file (and its journal or WAL, if any) once everything
    written is in the file."""
    session.commit()
    connection = session.connection()
    if connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal":
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    session.commit()  # and no lock held while the app goes on
    found = []
    for path in database.parent.glob(database.name + "*"):
        data = path.read_bytes()
        found += [needle for needle in NEEDLES if needle in data]
    return found


def test_no_ssn_or_birth_date_in_plaintext_after_upload_approval_and_purge(
    client, cast, login_as, session, database, web_app
):
    group = cast.group_a
    plan_code = session.scalar(
        select(Plan.code)
        .join(Coverage, Coverage.plan_id == Plan.id)
        .where(Coverage.member_id == cast.member_west.id)
    )
    session.commit()  # ends the read: the test holds no lock while the app writes
    text = (
        "Employee ID,First Name,Last Name,Date of Birth,SSN,Dental Plan,Dental Tier\n"
        f"E9001,Nora,Newhire,{DOB},{SSN},{plan_code},EE\n"
    )
    url = f"/employer/groups/{group.id}/uploads"
    login_as(cast.users["employer_a"])
    token = csrf_token(client, url)
    page = client.post(
        url,
        data={
            "csrf_token": token,
            "kind": "change",
            "census_file": (io.BytesIO(text.encode()), "new hire.csv"),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Newhire" in page and "was refused" not in page, page[:2000]
    upload = session.scalar(select(Upload))
    assert upload.status is UploadStatus.RECEIVED and upload.content == text.encode()
    assert _plaintext_in_database(session, database) == []

    submitted = client.post(f"{url}/{upload.id}/submit", data={"csrf_token": token})
    assert submitted.status_code == 303
    login_as(cast.users["billing_specialist"])
    review = f"/admin/groups/{group.id}/uploads/{upload.id}"
    approved = post_confirmed(
        client, f"{review}/approve", {"csrf_token": csrf_token(client, review)}
    )
    assert approved.status_code == 303
    session.expire(upload)  # (not every object: the cast stays loaded, the test holds no lock)
    upload = session.get(Upload, upload.id)
    assert upload.status is UploadStatus.APPROVED
    newhire = session.scalar(select(Member).where(Member.employee_id == "E9001"))
    assert vault().decrypt(newhire.ssn_encrypted) == "287654321"  # kept, encrypted
    assert _plaintext_in_database(session, database) == []

    # Not yet due: the file stays (89 days after the approval).
    decided = upload.reviewed_at.date()
    runner = web_app.test_cli_runner()
    early = runner.invoke(
        args=["census", "purge", "--as-of", str(decided + timedelta(days=89)), "--json"]
    )
    assert early.exit_code == 0, early.output
    assert json.loads(early.output)["purged"] == 0
    purged = runner.invoke(
        args=["census", "purge", "--as-of", str(decided + timedelta(days=90)), "--json"]
    )
    assert purged.exit_code == 0, purged.output
    assert json.loads(purged.output)["upload_ids"] == [upload.id]
    assert _plaintext_in_database(session, database) == []
    session.expire(upload)  # (not every object: the cast stays loaded, the test holds no lock)
    upload = session.get(Upload, upload.id)
    assert upload.content_purged_at is not None and upload.status is UploadStatus.APPROVED
    assert session.scalar(
        select(AuditLog.id).where(
            AuditLog.action == "upload.file_purged", AuditLog.target_id == upload.id
        )
    )

    session.commit()

    # The pages say what happened instead of reading the file again.
    words = "The file itself was deleted on"
    staff_page = client.get(review)
    assert staff_page.status_code == 200
    assert words in staff_page.get_data(as_text=True)
    assert "what it changed is in the group&#39;s history" in staff_page.get_data(as_text=True)
    assert "1 member added" in staff_page.get_data(as_text=True)
    login_as(cast.users["employer_a"])
    employer_page = client.get(f"{url}/{upload.id}")
    assert employer_page.status_code == 200 and words in employer_page.get_data(as_text=True)
    # The problems stay (issue 17: kept at the purge, without values); the 999 needs the file.
    problems = client.get(f"{url}/{upload.id}/problems.csv")
    assert problems.status_code == 200 and "attachment" in problems.headers["Content-Disposition"]
    assert problems.get_data(as_text=True).startswith("\ufeffFile,Kind,Row,Column,Value")
    assert upload.kept_problems == []  # the file read without a problem
    response = client.get(f"{url}/{upload.id}/999.x12", follow_redirects=True)
    assert response.status_code == 200 and words in response.get_data(as_text=True)
