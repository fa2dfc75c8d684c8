"""The staff review page reads the reconciliation kept on the upload (issue 19): the first view
computes and keeps it, the next ones read it and show the same page, and a view runs a bounded
number of SQL statements that does not grow with the file's members or the discrepancies."""

from __future__ import annotations

import re
from datetime import date

from billing_core.census import reconciliation
from billing_core.models import Upload
from billing_core.models.enums import UploadKind
from tests.factories import receive_upload

DAY = date(2027, 1, 20)
HEADER = "Employee ID,First Name,Last Name,Date of Birth,Action,Eff Date,Termination Date,"
HEADER += "Dental Plan,Dental Tier\n"
# A view of a kept reconciliation (SQLite, the cast's group): the user, the group, the upload
# and its file, the enrollment the diff reads, the digests of what the impact and the
# reconciliation are computed from, and the kept reconciliation itself (read with the file).
MOST_STATEMENTS = 30  # 29 on SQLite, 28 on PostgreSQL
CSRF = re.compile(r'(csrf_token"[^>]*value="|X-CSRFToken": ")[^"]+')


def _upload(session, cast, adds: int) -> Upload:
    """A change file terminating West on Dec 31 (billed in January) and adding `adds` new hires
    on dental from January (not billed): one discrepancy each, submitted."""
    west = cast.member_west
    plan = west.coverages[0].plan.code
    text = HEADER + (
        f"{west.employee_id},{west.first_name},{west.last_name},{west.birth_date:%m/%d/%Y},"
        "Term,,12/31/2026,,\n"
    )
    text += "".join(f"N{n},New,Hire{n},03/03/1985,Add,01/01/2027,,{plan},EE\n" for n in range(adds))
    received = receive_upload(
        session,
        cast.group_a,
        text.encode(),
        f"changes-{adds}.csv",
        uploaded_by=cast.users["employer_a"],
        kind=UploadKind.CHANGE,
        as_of=DAY,
    )
    session.commit()
    return received.upload


def _url(cast, upload) -> str:
    return f"/admin/groups/{cast.group_a.id}/uploads/{upload.id}"


def _page(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200
    # The page from its heading on (a one-time flash of the login may precede it).
    return CSRF.sub(r"\1", response.get_data(as_text=True)).split("<h1>", 1)[1]


def test_the_first_view_keeps_the_reconciliation_and_the_next_read_it(
    client, cast, login_as, session, monkeypatch
):
    monkeypatch.setattr("admin.views.uploads.today", lambda: DAY)
    upload = _upload(session, cast, adds=3)
    login_as(cast.users["billing_specialist"])
    url = _url(cast, upload)
    first = _page(client, url)
    session.expire_all()
    kept = session.get(Upload, upload.id)
    assert kept.reconciliation_basis is not None and kept.reconciliation["discrepancies"]

    def refuse(*_args, **_kwargs):
        raise AssertionError("the reconciliation was computed again")

    monkeypatch.setattr(reconciliation, "reconcile_census", refuse)
    assert _page(client, url) == first
    members = first.split('id="members"')[1].split("</section>")[0]
    assert "Westbrook" in members and "Terminated, still billed" in members
    assert members.count("Missing coverage") == 3 + 1  # the reason badge and each row
    # Another period is computed for the view (not read from what is kept).
    monkeypatch.undo()
    monkeypatch.setattr("admin.views.uploads.today", lambda: DAY)
    december = _page(client, url + "?period=2026-12")
    assert "Reconciliation with the bill · Dec 2026" in december


def _statements_of_a_kept_view(client, statements, url) -> list[str]:
    client.get(url)  # computes and keeps
    client.get(url)
    statements.clear()
    assert client.get(url).status_code == 200
    return [
        s
        for s in statements
        if not s.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK"))
    ]


def test_a_view_runs_as_many_statements_for_1_or_25_discrepancies(
    client, cast, login_as, session, statements, monkeypatch
):
    monkeypatch.setattr("admin.views.uploads.today", lambda: DAY)
    few_upload = _upload(session, cast, adds=0)
    many_upload = _upload(session, cast, adds=24)
    login_as(cast.users["billing_specialist"])
    few = _statements_of_a_kept_view(client, statements, _url(cast, few_upload))
    many = _statements_of_a_kept_view(client, statements, _url(cast, many_upload))
    assert len(few) == len(many) <= MOST_STATEMENTS, "\n".join(s[:120] for s in many)
    # Nothing is rated on a kept view: no invoice line and no rate is read line by line.
    assert not [s for s in many if "FROM invoice_line" in s and "count(" not in s]
