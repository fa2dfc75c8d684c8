"""Column mapping and the validation downloads through the pages: a refused file's columns are
fixed on the page and the file passes; the mapping is kept with the upload, remembered for the
group on submit and applied to its next file; problems download as CSV (SSNs masked, formulas
neutralised); an 834 is answered with a 999; another group's upload is a 404."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from billing_core.models import CensusColumnMapping, Upload
from billing_core.models.enums import UploadFormat, UploadKind, UploadStatus
from tests.web.conftest import csrf_token

DATA = Path(__file__).resolve().parents[1] / "data" / "census"


def _census(west, *, dob_header="Natal Day", term="12/31/2026", dob=None) -> str:
    return (
        f"Employee ID,First Name,Last Name,{dob_header},Action,Termination Date\n"
        f"{west.employee_id},{west.first_name},{west.last_name},"
        f"{dob or f'{west.birth_date:%m/%d/%Y}'},Term,{term}\n"
    )


def _post(client, url, token, *, file=None, columns=None, kept=None, headers=None, **extra):
    data = {"csrf_token": token, "kind": "change", **extra}
    if file is not None:
        name, text = file
        data["census_file"] = (io.BytesIO(text.encode() if isinstance(text, str) else text), name)
    if kept is not None:
        data["kept_file"], data["kept_name"] = kept
    for i, (header, name) in enumerate((columns or {}).items()):
        data[f"columns-{i}-header"] = header
        data[f"columns-{i}-field"] = name or ""
    return client.post(url, data=data, content_type="multipart/form-data", headers=headers or {})


def _kept(html: str) -> tuple[str, str]:
    data = re.search(r'name="kept_file" type="hidden" value="([^"]*)"', html).group(1)
    name = re.search(r'name="kept_name" type="hidden" value="([^"]*)"', html).group(1)
    return data, name


@pytest.fixture
def employer(client, cast, login_as):
    login_as(cast.users["employer_a"])
    url = f"/employer/groups/{cast.group_a.id}/uploads"
    return url, csrf_token(client, url)


def test_a_fixed_mapping_passes_is_remembered_on_submit_and_reapplied(
    client, cast, session, employer
):
    url, token = employer
    west = cast.member_west
    refused = _post(client, url, token, file=("march.csv", _census(west)))
    html = refused.get_data(as_text=True)
    assert refused.status_code == 200
    assert "march.csv was refused; nothing from it was applied" in html
    assert "Required and not found:</strong> Date of birth (or Age)" in html
    assert 'name="columns-3-header" value="Natal Day"' in html  # a select per header
    # Kept for the record only (issue 15), and put away once the same file reads.
    [refused] = session.scalars(select(Upload)).all()
    assert refused.status is UploadStatus.REJECTED

    # The file rides on the page: fix the column and check again without choosing it again.
    columns = {
        "Employee ID": "employee_id",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Natal Day": "birth_date",
        "Action": "action",
        "Termination Date": "termination_date",
    }
    passed = _post(client, url, token, kept=_kept(html), columns=columns)
    assert passed.status_code == 303
    upload = session.scalar(select(Upload).where(Upload.status == UploadStatus.RECEIVED))
    session.refresh(refused)
    assert refused.discarded_at is not None
    assert upload.column_mapping["Natal Day"] == "birth_date"
    preview = client.get(passed.headers["Location"]).get_data(as_text=True)
    assert "Dental: end" in preview and "Premium impact" in preview
    assert "Submitting also remembers these columns" in preview
    assert session.scalar(select(func.count()).select_from(CensusColumnMapping)) == 0

    submitted = client.post(f"{url}/{upload.id}/submit", data={"csrf_token": token})
    assert submitted.status_code == 303
    saved = session.scalar(select(CensusColumnMapping))
    assert saved.group_id == cast.group_a.id
    assert saved.mapping["Natal Day"] == "birth_date"
    assert saved.updated_by_id == cast.users["employer_a"].id

    # The next file with the same odd header passes at once, read with the saved mapping.
    page = client.get(url).get_data(as_text=True)
    assert "read using the column mapping you saved on" in page
    nxt = _post(client, url, token, file=("april.csv", _census(west, term="01/31/2027")))
    assert nxt.status_code == 303, nxt.get_data(as_text=True)[:3000]
    detail = client.get(nxt.headers["Location"]).get_data(as_text=True)
    assert "Using the mapping you saved on" in detail
    assert "your saved mapping" in detail
    second = session.scalar(select(Upload).where(Upload.original_filename == "april.csv"))
    assert second.column_mapping["Natal Day"] == "birth_date"


def test_an_htmx_select_change_rechecks_and_answers_with_the_fragment(
    client, cast, session, employer
):
    url, token = employer
    west = cast.member_west
    text = _census(west)
    hx = {"HX-Request": "true"}
    columns = {"Last Name": None, "Natal Day": None}  # the sender ignores one more
    fragment = _post(client, url, token, file=("m.csv", text), columns=columns, headers=hx)
    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in html
    assert "Last name, Date of birth (or Age)" in html  # both missing now
    assert 'hx-post="' + url + '"' in html
    assert "Vary" in fragment.headers and "HX-Request" in fragment.headers["Vary"]

    columns = {"Last Name": "last_name", "Natal Day": "birth_date"}  # the rest by the synonyms
    ok = _post(client, url, token, file=("m.csv", text), columns=columns, headers=hx)
    upload = session.scalar(select(Upload).where(Upload.status == UploadStatus.RECEIVED))
    assert ok.headers["HX-Redirect"] == f"{url}/{upload.id}"


def _received(client, url, token, west, session) -> Upload:
    response = _post(client, url, token, file=("ok.csv", _census(west, dob_header="Date of Birth")))
    assert response.status_code == 303
    return session.scalar(select(Upload).where(Upload.original_filename == "ok.csv"))


def test_changing_a_kept_uploads_columns_rechecks_it_in_place(client, cast, session, employer):
    url, token = employer
    upload = _received(client, url, token, cast.member_west, session)
    before = dict(upload.column_mapping)
    remap = f"{url}/{upload.id}/mapping"
    hx = {"HX-Request": "true"}
    broken = {**before, "Last Name": None}
    response = _post(client, remap, token, columns=broken, headers=hx)
    html = response.get_data(as_text=True)
    assert "ok.csv cannot be read with these columns" in html and "<html" not in html
    assert "Required and not found:</strong> Last name." in html
    assert "Submit ok.csv" not in html  # no submitting a file that does not read
    session.expire_all()
    assert session.get(Upload, upload.id).column_mapping == before

    # Without JavaScript: the plain form post redirects to the page once the file reads.
    renamed = {**before, "First Name": "first_name", "Termination Date": "termination_date"}
    plain = _post(client, remap, token, columns=renamed)
    assert plain.status_code == 303
    fixed = _post(client, remap, token, columns=before, headers=hx)
    assert "Submit ok.csv" in fixed.get_data(as_text=True)
    assert "Premium impact" in fixed.get_data(as_text=True)
    session.expire_all()
    kept = session.get(Upload, upload.id)  # the check keeps what it priced, for the page
    assert kept.impact["retro_total"] == "-38.20" and kept.impact_basis

    # Once submitted, its columns are fixed.
    client.post(f"{url}/{upload.id}/submit", data={"csrf_token": token})
    late = _post(client, remap, token, columns=broken)
    assert late.status_code == 303
    assert "can no longer change" in client.get(late.headers["Location"]).get_data(as_text=True)


def test_posts_without_a_csrf_token_are_refused(client, cast, session, employer):
    url, token = employer
    upload = _received(client, url, token, cast.member_west, session)
    for path in (f"{url}/{upload.id}/mapping", f"{url}/problems.csv", f"{url}/999.x12"):
        assert client.post(path, data={}).status_code == 400


def _rows(response) -> list[list[str]]:
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def test_problems_download_as_csv_with_ssns_masked_and_formulas_neutralised(client, cast, employer):
    url, token = employer
    text = (
        "Employee ID,First Name,Last Name,Natal Day,SSN\n"
        "E1,Ann,Avery,=1+2,123-45-678\n"
        "E2,Bob,Brook,321-54-9876,\n"
    )
    columns = {"Natal Day": "birth_date"}  # the sender's (wrong) column of SSNs as birth dates
    page = _post(client, url, token, file=("bad.csv", text), columns=columns)
    html = page.get_data(as_text=True)
    assert "Download problems (CSV)" in html
    assert "321-54-9876" not in html and "***-**-9876" in html

    response = _post(client, f"{url}/problems.csv", token, kept=_kept(html), columns=columns)
    rows = _rows(response)
    assert rows[0] == ["File", "Kind", "Row", "Column", "Value", "What was expected"]
    by_row = {(r[2], r[3]): r for r in rows[1:]}
    assert by_row[("2", "Natal Day")][4] == "'=1+2"  # neutralised, not a formula
    assert by_row[("2", "Natal Day")][0] == "bad.csv"
    assert by_row[("2", "Natal Day")][1] == "Error"
    assert by_row[("2", "SSN")][4] == "***-**-5678"
    assert by_row[("3", "Natal Day")][4] == "***-**-9876"
    assert "expected" in by_row[("2", "Natal Day")][5] or "date" in by_row[("2", "Natal Day")][5]
    values = [r[4] for r in rows[1:]]
    assert not any("123-45-678" in v or "321-54-9876" in v for v in values)


def _kept_834(session, cast, data: bytes, status=UploadStatus.RECEIVED) -> Upload:
    upload = Upload(
        group_id=cast.group_a.id,
        uploaded_by_id=cast.users["employer_a"].id,
        original_filename="enroll.834",
        file_format=UploadFormat.X12_834,
        file_kind=UploadKind.CHANGE,
        content=data,
        size_bytes=len(data),
        sha256="0" * 64,
        status=status,
    )
    session.add(upload)
    session.commit()
    return upload


def test_an_834_is_answered_with_a_999(client, cast, session, employer):
    url, token = employer
    data = (DATA / "add_family_5010.edi").read_bytes()
    upload = _kept_834(session, cast, data, UploadStatus.SUBMITTED)
    assert "Download 999 acknowledgement" in client.get(f"{url}/{upload.id}").get_data(as_text=True)
    response = client.get(f"{url}/{upload.id}/999.x12")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    ack = response.get_data(as_text=True)
    assert ack.startswith("ISA*") and "ST*999*" in ack
    assert "AK1*BE*4211*005010X220A1" in ack
    assert "IK5*A" in ack and "AK9*A*1*1*1" in ack

    # A refused 834 (no REF*0F on its subscriber): its 999 rejects the set, nothing is kept.
    bad = data.replace(b"REF*0F*E10045~", b"")
    page = _post(client, url, token, file=("bad.834", bad)).get_data(as_text=True)
    assert "Download 999 acknowledgement" in page
    rejected = _post(client, f"{url}/999.x12", token, kept=_kept(page))
    text = rejected.get_data(as_text=True)
    assert rejected.status_code == 200 and "IK5*R" in text and "AK9*R" in text
    statuses = session.scalars(select(Upload.status).order_by(Upload.id)).all()
    assert statuses == [UploadStatus.SUBMITTED, UploadStatus.REJECTED]  # kept for the record

    # A CSV upload has no 999.
    csv_upload = _received(client, url, token, cast.member_west, session)
    assert client.get(f"{url}/{csv_upload.id}/999.x12").status_code == 404


def test_another_groups_upload_is_a_404(client, cast, session, login_as, employer):
    url, token = employer
    upload = _received(client, url, token, cast.member_west, session)
    ack = _kept_834(session, cast, (DATA / "add_family_5010.edi").read_bytes())
    login_as(cast.users["employer_b"])
    b = f"/employer/groups/{cast.group_b.id}/uploads"
    token_b = csrf_token(client, b)
    assert client.get(f"{b}/{upload.id}/problems.csv").status_code == 404
    assert client.get(f"{b}/{ack.id}/999.x12").status_code == 404
    assert (
        _post(client, f"{b}/{upload.id}/mapping", token_b, columns={"A": None}).status_code == 404
    )
    assert client.get(f"{url}/{upload.id}/problems.csv").status_code == 404
    assert client.get(f"{url}/{ack.id}/999.x12").status_code == 404
    assert _post(client, f"{url}/problems.csv", token_b, file=("x.csv", "a\n")).status_code == 404


def test_a_kept_uploads_problems_download(client, cast, session, employer):
    url, token = employer
    upload = _received(client, url, token, cast.member_west, session)
    clean = _rows(client.get(f"{url}/{upload.id}/problems.csv"))
    assert clean == [["File", "Kind", "Row", "Column", "Value", "What was expected"]]
    broken = {**upload.column_mapping, "Last Name": None}
    rows = _rows(_post(client, f"{url}/{upload.id}/problems.csv", token, columns=broken))
    assert any("no column for Last name" in r[5] for r in rows[1:])


def test_a_refused_file_too_large_to_carry_is_chosen_again(client, cast, employer, monkeypatch):
    import portal.employer.uploads as uploads

    monkeypatch.setattr(uploads, "KEEP_REFUSED_FILE_BYTES", 10)
    url, token = employer
    html = _post(client, url, token, file=("m.csv", _census(cast.member_west))).get_data(
        as_text=True
    )
    assert "Choose the file again before you check it" in html
    assert _kept(html) == ("", "")
