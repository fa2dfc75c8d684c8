"""The staff review kept for the process (census.kept_review, issue 19): a view while nothing
it was computed from changed shows the same page from the kept review in a few statements
(PostgreSQL: row versions tell a change), and a view after the group's enrollment changed
(another upload approved, a member changed in place, a coverage ended) shows the new diff."""

from __future__ import annotations

import re
from datetime import date

import pytest

from billing_core.census import kept_review
from billing_core.census import uploads as uploads_module
from billing_core.census.uploads import approve_upload
from billing_core.models import Member, Upload
from billing_core.models.enums import UploadKind
from tests.factories import receive_upload

DAY = date(2027, 1, 20)
HEADER = "Employee ID,First Name,Last Name,Date of Birth,Action,Eff Date,Termination Date,"
HEADER += "Dental Plan,Dental Tier\n"
CSRF = re.compile(r'(csrf_token"[^>]*value="|X-CSRFToken": ")[^"]+')
# A kept view: the user, the group, the upload, the marker (and the policies when the page
# lists changes older than the retro window).
MOST_KEPT_STATEMENTS = 10


def _hire(cast, n: int) -> str:
    plan = cast.member_west.coverages[0].plan.code
    return f"N{n},New,Hire{n},03/03/1985,Add,01/01/2027,,{plan},EE\n"


def _upload(session, cast, rows: str, name: str) -> Upload:
    received = receive_upload(
        session,
        cast.group_a,
        (HEADER + rows).encode(),
        name,
        uploaded_by=cast.users["employer_a"],
        kind=UploadKind.CHANGE,
        as_of=DAY,
    )
    session.commit()
    return received.upload


def _page(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return CSRF.sub(r"\1", response.get_data(as_text=True)).split("<h1>", 1)[1]


def _stat(page: str, label: str) -> int:
    found = re.search(rf'<span class="label">{label}</span><span class="value">([\d,]+)<', page)
    return int(found.group(1).replace(",", ""))


def _postgres(session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


@pytest.fixture
def reviewing(client, cast, login_as, session, monkeypatch):
    monkeypatch.setattr("admin.views.uploads.today", lambda: DAY)
    kept_review.forget_kept_reviews()
    login_as(cast.users["billing_specialist"])
    yield
    kept_review.forget_kept_reviews()


def _settled(client, url) -> str:
    """The page once its reconciliation is kept on the upload (the first view keeps it, the
    second reads it and is kept for the process): the second and third views, equal."""
    first = _page(client, url)
    second = _page(client, url)
    assert _page(client, url) == second == first
    return second


def test_a_kept_view_shows_the_same_page_without_diffing_again(
    reviewing, client, cast, session, statements, monkeypatch
):
    upload = _upload(session, cast, _hire(cast, 1) + _hire(cast, 2), "hires.csv")
    url = f"/admin/groups/{cast.group_a.id}/uploads/{upload.id}"
    page = _settled(client, url)
    if not _postgres(session):
        pytest.skip("SQLite has no row versions: the review is computed on every view")

    def refuse(*_args, **_kwargs):
        raise AssertionError("the file was read and diffed again")

    monkeypatch.setattr(uploads_module, "upload_diff", refuse)
    statements.clear()
    assert _page(client, url) == page
    ran = [
        s
        for s in statements
        if not s.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK"))
    ]
    assert len(ran) <= MOST_KEPT_STATEMENTS, "\n".join(s[:120] for s in ran)


def test_another_upload_approved_between_views_changes_the_review(reviewing, client, cast, session):
    upload = _upload(session, cast, _hire(cast, 1), "one-hire.csv")
    url = f"/admin/groups/{cast.group_a.id}/uploads/{upload.id}"
    before = _settled(client, url)
    assert (_stat(before, "Adds"), _stat(before, "Unchanged")) == (1, 0)
    assert "Hire1" in before
    # Another file adding the same new hire (and one more) is approved: the hire is enrolled.
    other = _upload(session, cast, _hire(cast, 1) + _hire(cast, 2), "two-hires.csv")
    approve_upload(session, other, actor=cast.users["billing_specialist"], as_of=DAY, today=DAY)
    session.commit()
    after = _page(client, url)
    assert (_stat(after, "Adds"), _stat(after, "Unchanged")) == (0, 1)


def test_a_member_changed_in_place_between_views_changes_the_review(
    reviewing, client, cast, session
):
    west = cast.member_west
    name = west.last_name
    row = f"{west.employee_id},{west.first_name},{name},{west.birth_date:%m/%d/%Y},Change,,,,\n"
    upload = _upload(session, cast, row + _hire(cast, 1), "west.csv")
    url = f"/admin/groups/{cast.group_a.id}/uploads/{upload.id}"
    before = _settled(client, url)
    assert _stat(before, "Changes") == 0
    # Staff correct West's enrolled name in place (no upload): the file now changes it back.
    west.last_name = "Eastbrook"
    session.commit()
    after = _page(client, url)
    assert _stat(after, "Changes") == 1
    assert "Eastbrook" in after
    # And back again: the same figures as at first.
    west.last_name = name
    session.commit()
    assert _stat(_page(client, url), "Changes") == 0


def test_the_marker_changes_with_any_write_even_within_one_transaction(session, cast):
    """Each write gives the row a new version and place, also a second write of the same
    transaction; a read does not."""
    if not _postgres(session):
        assert kept_review.review_marker(session, cast.member_west) is None
        return
    upload = _upload(session, cast, _hire(cast, 1), "marker.csv")
    first = kept_review.review_marker(session, upload)
    assert kept_review.review_marker(session, upload) == first
    west = session.get(Member, cast.member_west.id)
    west.annual_salary = west.annual_salary + 1
    session.flush()
    second = kept_review.review_marker(session, upload)
    assert second != first
    coverage = west.coverages[0]
    coverage.effective_to = date(2027, 6, 30)
    session.flush()
    third = kept_review.review_marker(session, upload)
    assert third not in (first, second)
    upload.status = upload.status  # not a write
    assert kept_review.review_marker(session, upload) == third


def test_a_review_listing_more_lines_than_the_bound_is_not_kept(
    reviewing, client, cast, session, monkeypatch
):
    monkeypatch.setattr(uploads_module, "KEPT_MOST_LINES", 1)
    upload = _upload(session, cast, _hire(cast, 1) + _hire(cast, 2), "two.csv")
    url = f"/admin/groups/{cast.group_a.id}/uploads/{upload.id}"
    page = _settled(client, url)
    diffed = []
    real = uploads_module.upload_diff
    monkeypatch.setattr(
        uploads_module, "upload_diff", lambda *args: diffed.append(1) or real(*args)
    )
    assert _page(client, url) == page
    assert diffed == [1]  # read and diffed again: two changes are more than the bound
