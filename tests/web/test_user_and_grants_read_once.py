"""Every employer page of a group reads the login's user and their grants of that group in one
statement (`users.second_factor.load_user` with the page's group id, handed to
`access.group_scope` by `access.remember_grants`), and the grants still decide: another
group's page is a 404, a location's contact sees their locations only."""

from __future__ import annotations

from billing_core.access import _take_remembered_grants, remember_grants


def _second_view(client, statements, url: str, status: int = 200) -> list[str]:
    client.get(url)
    statements.clear()
    assert client.get(url).status_code == status, url
    return [s for s in statements if not s.lstrip().upper().startswith(("SAVEPOINT", "ROLLBACK"))]


def test_a_group_page_reads_the_user_and_their_grants_in_one_statement(
    client, cast, login_as, statements
):
    login_as(cast.users["employer_a"])
    ran = _second_view(client, statements, f"/employer/groups/{cast.group_a.id}/invoices")
    with_user = [s for s in ran if "FROM user_account" in s]
    assert len(with_user) == 1 and "user_group_access" in with_user[0]
    assert not [s for s in ran if "JOIN user_group_access" in s and "user_account" not in s]
    assert len(ran) == 2  # the user with the grants, the invoices: nothing else per request


def test_the_grants_read_with_the_user_still_decide(client, cast, login_as, statements):
    login_as(cast.users["employer_a"])
    assert client.get(f"/employer/groups/{cast.group_b.id}/invoices").status_code == 404
    whole = client.get(f"/employer/groups/{cast.group_a.id}").get_data(as_text=True)
    assert "Your access covers" not in whole
    login_as(cast.users["employer_a_east"])
    limited = client.get(f"/employer/groups/{cast.group_a.id}").get_data(as_text=True)
    assert f"Your access covers {cast.sub_east.name} only" in limited
    assert client.get(f"/employer/groups/{cast.group_b.id}/invoices").status_code == 404


def test_remembered_grants_serve_once_and_only_their_user_and_group(session, cast):
    grants = [(cast.group_a, None)]
    remember_grants(session, 7, cast.group_a.id, grants)
    assert _take_remembered_grants(session, 7, cast.group_b.id) is None  # another group: read
    remember_grants(session, 7, cast.group_a.id, grants)
    assert _take_remembered_grants(session, 8, cast.group_a.id) is None  # another user: read
    remember_grants(session, 7, cast.group_a.id, grants)
    assert _take_remembered_grants(session, 7, cast.group_a.id) == grants
    assert _take_remembered_grants(session, 7, cast.group_a.id) is None  # once
