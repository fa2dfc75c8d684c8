"""Downloads that name members (invoice lines CSV and XLSX, the invoice PDF, the statement, the
member list of an upload's problems) are never kept by a cache: `Cache-Control: no-store,
private` (issue 17, finding 6)."""

from __future__ import annotations

import pytest

from tests.web.test_invoices import _detail_url


def _private(response) -> None:
    assert response.status_code == 200, response.status_code
    assert "attachment" in response.headers["Content-Disposition"]
    cache = {part.strip() for part in response.headers["Cache-Control"].split(",")}
    assert {"no-store", "private"} <= cache, response.headers["Cache-Control"]


@pytest.mark.parametrize(("area", "role"), [("employer", "employer_a"), ("admin", "supervisor")])
def test_invoice_downloads_are_not_cached(client, cast, login_as, area, role):
    login_as(cast.users[role])
    base = _detail_url(cast.invoice_a, area)
    for suffix in ("/invoice.pdf", "/lines.csv", "/lines.xlsx"):
        _private(client.get(base + suffix))


@pytest.mark.parametrize(("area", "role"), [("employer", "employer_a"), ("admin", "supervisor")])
def test_statement_downloads_are_not_cached(client, cast, login_as, area, role):
    login_as(cast.users[role])
    base = f"/{area}/groups/{cast.group_a.id}/statement"
    for suffix in (".csv", ".xlsx"):
        _private(client.get(base + suffix))
