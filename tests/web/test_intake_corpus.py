"""The intake corpus (tests/intake_corpus.py): every file read through `census parse --json`
gives what its expectation says, and `census parse` answers every file with JSON."""

from __future__ import annotations

import json

import pytest

from tests.intake_corpus import check_reading, corpus_files, expected_for

CORPUS_AS_OF = "2026-12-01"  # the day the corpus files are read as of, unless they say


def parse_json(web_app, path, expected: dict) -> dict:
    args = ["census", "parse", str(path), "--json", "--as-of", expected.get("as_of", CORPUS_AS_OF)]
    if expected.get("kind_option"):
        args += ["--kind", expected["kind_option"]]
    result = web_app.test_cli_runner().invoke(args=args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return json.loads(result.output)


def test_the_corpus_is_large_enough():
    assert len(corpus_files()) >= 30


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_census_parse_reads_the_file_as_expected(web_app, path):
    expected = expected_for(path)
    problems = check_reading(parse_json(web_app, path, expected), expected)
    assert problems == [], "\n".join(problems)


@pytest.fixture
def corpus_upload(session, login_as, client, monkeypatch):
    """The corpus group with an HR administrator logged in, the portal's day pinned."""
    import portal.employer.uploads as employer_uploads
    from billing_core.models.enums import Role
    from tests.factories import make_user
    from tests.intake_corpus import corpus_group
    from tests.web.conftest import csrf_token

    monkeypatch.setattr(
        employer_uploads, "today", lambda: __import__("datetime").date.fromisoformat(CORPUS_AS_OF)
    )
    group = corpus_group(session)
    user = make_user(session, Role.EMPLOYER, groups=[group])
    session.commit()
    login_as(user)
    url = f"/employer/groups/{group.id}/uploads"
    return url, csrf_token(client, url)


def _stat(page: str, label: str) -> int:
    import re

    found = re.search(rf">{label}</span><span class=\"value\">([\d,]+)<", page)
    return int(found.group(1).replace(",", "")) if found else -1


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_the_upload_page_answers_as_expected(client, corpus_upload, path):
    """Every corpus file through the employer's upload page: refused with its errors named,
    or previewed with what it changes and its warnings beside it. Without an `upload`
    expectation the page must agree with the parse (accepted when it reads)."""
    import html as html_module
    import io

    url, token = corpus_upload
    expected = expected_for(path)
    wanted = expected.get("upload", {"accepted": expected["ok"]})
    response = client.post(
        url,
        data={
            "csrf_token": token,
            "kind": expected.get("kind_option") or "",
            "census_file": (io.BytesIO(path.read_bytes()), path.name),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert response.status_code == 200
    page = html_module.unescape(response.get_data(as_text=True))
    assert "Traceback" not in page
    refused = "was refused; nothing from it was applied" in page
    assert refused is (not wanted["accepted"]), page[page.find("<main") :][:3000]
    for kind, count in wanted.get("counts", {}).items():
        label = {"add": "Adds", "term": "Terms", "change": "Changes"}[kind]
        assert _stat(page, label) == count, f"{label} on the page"
    notes = expected.get("errors", []) if refused else expected.get("warnings", [])
    for said in [*notes, *wanted.get("says", [])]:
        assert said.lower() in page.lower(), f"the page does not say {said!r}"
