"""The markup every form shares (portal/templates/macros/forms.html, the templates): a field
asks the browser for autocomplete only when its template names a purpose, and no page carries
a style attribute, which the Content-Security-Policy (`style-src 'self'`) would refuse."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Rendered to PDF only (never served under the page's policy): their inline styles are theirs.
PDF_TEMPLATES = {"statements/document.html", "documents/invoice.html"}


def test_a_field_without_a_purpose_has_no_autocomplete_attribute(web_app, client, cast, login_as):
    login_as(cast.users["employer_a"])
    page = client.get(f"/employer/groups/{cast.group_a.id}/uploads").get_data(as_text=True)
    assert 'name="census_file"' in page
    assert 'autocomplete="None"' not in page
    login_page = web_app.test_client().get("/login").get_data(as_text=True)
    assert 'autocomplete="username"' in login_page


def test_no_served_template_has_a_style_attribute():
    found = []
    for folder in ("portal/templates", "admin/templates"):
        for path in (ROOT / folder).rglob("*.html"):
            name = path.relative_to(ROOT / folder).as_posix()
            if name in PDF_TEMPLATES:
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if re.search(r"\sstyle\s*=", line):
                    found.append(f"{folder}/{name}:{number}")
    assert found == []
