"""Users on screens (issue 22, item 5): staff invite an HR contact whose link in the outbox sets
a password they log in with; every form needs its CSRF token; disabling ends the user's
sessions; roles change only by an admin, never one's own, shown on the user's history; an
employer administrator invites colleagues within their reach; other groups are 404."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

from sqlalchemy import select

from billing_core.models import GroupAdministrator, OutboxMessage, User, UserInvitation
from billing_core.models.enums import Role
from tests.factories import make_user
from tests.web.conftest import csrf_token, log_in, logout

NEW_PASSWORD = "Coffee-Table-Lamp-42"


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _outbox_link(session, email: str) -> str:
    session.expire_all()
    message = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.to_address == email)
        .order_by(OutboxMessage.id.desc())
    ).first()
    assert message is not None and message.kind == "invitation"
    assert "choose your password" in message.body
    return message.link_path


def _invite(client, cast, **values):
    url = f"/admin/groups/{cast.group_a.id}/users/invite"
    data = {"full_name": "Hanna Ross", "email": "hanna@acme.test"}
    data.update(values, csrf_token=csrf_token(client, url))
    return client.post(url, data=data)


def test_staff_invite_an_hr_contact_who_sets_a_password_and_logs_in(
    client, login_as, cast, session
):
    login_as(cast.users["billing_specialist"])
    page = _text(client.get(f"/admin/groups/{cast.group_a.id}/users/invite"))
    assert "Invite a user for Acme Tooling" in page and "EAST" in page and "WEST" in page

    bad = _invite(client, cast, email="not-an-address")
    assert bad.status_code == 200 and "Enter an address like name@example.com" in _text(bad)
    taken = _invite(client, cast, email=cast.users["employer_b"].email)
    assert taken.status_code == 200 and "already has an account" in _text(taken)

    sent = _invite(client, cast, subgroup_ids=[str(cast.sub_east.id)])
    assert sent.status_code == 303
    listed = _text(client.get(sent.headers["Location"]))
    assert "Hanna Ross is invited" in listed and "Invited (no password yet)" in listed
    link = _outbox_link(session, "hanna@acme.test")
    token = link.rsplit("/", 1)[1]
    stored = session.scalar(select(UserInvitation.token_digest))
    assert token not in stored  # only the digest is kept

    hanna = session.scalar(select(User).where(User.email == "hanna@acme.test"))
    detail = _text(client.get(f"/admin/users/{hanna.id}"))
    assert (
        "only EAST" in detail
        and "Invited" in detail
        and cast.users["billing_specialist"].email in detail
    )

    logout(client)
    form = _text(client.get(link))
    assert "Welcome, Hanna Ross" in form and "hanna@acme.test" in form
    weak = client.post(
        link,
        data={"new_password": "short", "confirm": "short", "csrf_token": csrf_token(client, link)},
    )
    assert weak.status_code == 200 and "Choose a stronger password" in _text(weak)
    done = client.post(
        link,
        data={
            "new_password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
            "csrf_token": csrf_token(client, link),
        },
    )
    assert done.status_code == 303 and done.headers["Location"].endswith("/login")
    assert "Your password is set" in _text(client.get("/login"))

    again = client.get(link)
    assert again.status_code == 303
    assert "expired or was already used" in _text(client.get("/login"))

    assert log_in(client, "hanna@acme.test", NEW_PASSWORD).status_code == 303
    home = _text(client.get("/employer/", follow_redirects=True))
    assert "Acme Tooling" in home


def test_every_users_form_needs_its_csrf_token(client, login_as, cast, session):
    login_as(cast.users["admin"])
    target = cast.users["employer_b"]
    for url in (
        f"/admin/groups/{cast.group_a.id}/users/invite",
        "/admin/users/invite-staff",
        f"/admin/users/{target.id}/disable",
        f"/admin/users/{target.id}/enable",
        f"/admin/users/{target.id}/resend",
        f"/admin/users/{cast.users['billing_specialist'].id}/role",
    ):
        assert client.post(url, data={"email": "x@y.test", "role": "admin"}).status_code == 400
    session.expire_all()
    assert session.get(User, target.id).is_active
    assert session.get(User, cast.users["billing_specialist"].id).role is Role.BILLING_SPECIALIST


def test_disabling_ends_the_users_sessions_and_refuses_their_login(
    web_app, client, login_as, cast, session
):
    employer = cast.users["employer_b"]
    theirs = web_app.test_client()
    assert log_in(theirs, employer.email).status_code == 303
    assert theirs.get("/employer/", follow_redirects=False).status_code in (200, 302)
    assert "/login" not in theirs.get("/employer/").headers.get("Location", "")

    login_as(cast.users["billing_specialist"])
    url = f"/admin/users/{employer.id}"
    disabled = client.post(f"{url}/disable", data={"csrf_token": csrf_token(client, url)})
    assert disabled.status_code == 303
    page = _text(client.get(url))
    assert "cannot log in and their sessions have ended" in page
    assert "Disabled (sessions ended)" in page  # the history

    assert "/login" in theirs.get("/employer/").headers["Location"]
    refused = log_in(web_app.test_client(), employer.email)
    assert refused.status_code == 200 and "do not match an account" in _text(refused)

    client.post(f"{url}/enable", data={"csrf_token": csrf_token(client, url)})
    assert log_in(web_app.test_client(), employer.email).status_code == 303


def test_only_an_admin_changes_staff_roles_and_never_their_own(client, login_as, cast, session):
    specialist = cast.users["billing_specialist"]
    supervisor = cast.users["supervisor"]
    admin = cast.users["admin"]

    login_as(supervisor)
    url = f"/admin/users/{specialist.id}"
    assert "Change the role" not in _text(client.get(url))
    refused = client.post(
        f"{url}/role", data={"role": "admin", "csrf_token": csrf_token(client, url)}
    )
    assert refused.status_code == 303
    assert "Only an administrator changes staff roles" in _text(client.get(url))
    own = f"/admin/users/{supervisor.id}"
    client.post(f"{own}/role", data={"role": "admin", "csrf_token": csrf_token(client, own)})
    assert client.post("/admin/users/invite-staff", data={
        "csrf_token": csrf_token(client, "/admin/users")}).status_code == 403  # fmt: skip

    login_as(admin)
    mine = f"/admin/users/{admin.id}"
    assert "your own account" in _text(client.get(mine))
    client.post(f"{mine}/role", data={"role": "supervisor", "csrf_token": csrf_token(client, mine)})
    assert "cannot change your own role" in _text(client.get(mine))
    changed = client.post(
        f"{url}/role", data={"role": "supervisor", "csrf_token": csrf_token(client, url)}
    )
    assert changed.status_code == 303
    page = _text(client.get(url))
    assert "is now supervisor" in page
    history = page[page.index("<h2>History</h2>") :]
    assert "Role changed" in history and admin.email in history
    assert "role: Billing specialist" in history and "role: Supervisor" in history
    session.expire_all()
    assert session.get(User, specialist.id).role is Role.SUPERVISOR
    assert session.get(User, supervisor.id).role is Role.SUPERVISOR

    staff = client.post(
        "/admin/users/invite-staff",
        data={
            "full_name": "Nia Park",
            "email": "nia@billing.test",
            "role": "billing_specialist",
            "csrf_token": csrf_token(client, "/admin/users"),
        },
    )
    assert staff.status_code == 303
    assert _outbox_link(session, "nia@billing.test").startswith("/invitation/")


def test_the_users_list_filters_and_refuses_non_staff(client, login_as, cast):
    login_as(cast.users["billing_specialist"])
    listed = _text(client.get(f"/admin/users?group={cast.group_b.group_number}"))
    assert cast.users["employer_b"].email in listed
    assert cast.users["employer_a"].email not in listed
    staff_only = _text(client.get("/admin/users?role=supervisor"))
    assert cast.users["supervisor"].email in staff_only
    assert cast.users["employer_b"].email not in staff_only
    searched = _text(client.get("/admin/users?q=nobody-called-this"))
    assert "No user matches these filters" in searched
    login_as(cast.users["employer_a"])
    assert client.get("/admin/users").status_code == 403


def test_an_employer_administrator_invites_colleagues_within_their_reach(
    client, login_as, cast, session
):
    east_admin = cast.users["employer_a_east"]
    session.add(GroupAdministrator(user_id=east_admin.id, group_id=cast.group_a.id))
    session.commit()
    login_as(east_admin)
    url = f"/employer/groups/{cast.group_a.id}/team"
    page = _text(client.get(url))
    assert "Invite a colleague" in page and "EAST" in page and "WEST" not in page
    assert east_admin.email in page and cast.users["employer_a"].email not in page  # whole group

    def invite(**values):
        data = {"full_name": "Ed East", "email": "ed@acme.test"}
        data.update(values, csrf_token=csrf_token(client, url))
        return client.post(f"{url}/invite", data=data)

    whole = invite()
    assert whole.status_code == 200 and "some locations only" in _text(whole)
    west = invite(subgroup_ids=[str(cast.sub_west.id)])
    assert west.status_code == 200  # West is not one of the choices offered
    assert session.scalar(select(User).where(User.email == "ed@acme.test")) is None

    sent = invite(subgroup_ids=[str(cast.sub_east.id)])
    assert sent.status_code == 303
    team = _text(client.get(url))
    assert "Ed East is invited" in team and "ed@acme.test" in team
    first = _outbox_link(session, "ed@acme.test")
    ed = session.scalar(select(User).where(User.email == "ed@acme.test"))
    resent = client.post(
        f"{url}/resend", data={"user": ed.id, "csrf_token": csrf_token(client, url)}
    )
    assert resent.status_code == 303 and _outbox_link(session, "ed@acme.test") != first
    # Someone outside their team: 404; another group's team: 404.
    outsider = client.post(
        f"{url}/resend",
        data={"user": cast.users["employer_a"].id, "csrf_token": csrf_token(client, url)},
    )
    assert outsider.status_code == 404
    assert client.get(f"/employer/groups/{cast.group_b.id}/team").status_code == 404

    login_as(cast.users["employer_a"])  # not an administrator
    plain = _text(client.get(url))
    assert "You do not manage this group's users" in plain and "ed@acme.test" not in plain
    refused = client.post(
        f"{url}/invite",
        data={"full_name": "X", "email": "x@acme.test", "csrf_token": csrf_token(client, url)},
    )
    assert refused.status_code == 200 and "Only the group's administrators" in _text(refused)


def test_staff_see_the_employer_administrator_on_the_users_page(client, login_as, cast, session):
    login_as(cast.users["billing_specialist"])
    sent = _invite(client, cast, email="boss@acme.test", administrator="y")
    assert sent.status_code == 303
    boss = session.scalar(select(User).where(User.email == "boss@acme.test"))
    page = _text(client.get(f"/admin/users/{boss.id}"))
    assert "the whole group; invites colleagues" in page
    assert re.search(r"Their link works until \w{3} \d{1,2}, \d{4}", page)
    unknown = client.get("/admin/users/999999")
    assert unknown.status_code == 404


def test_staff_let_an_existing_hr_user_invite_colleagues(client, login_as, cast, session):
    hr = cast.users["employer_a"]
    login_as(cast.users["billing_specialist"])
    url = f"/admin/users/{hr.id}"
    action = f"{url}/groups/{cast.group_a.id}/administrator"
    granted = client.post(
        action, data={"administrator": "y", "csrf_token": csrf_token(client, url)}
    )
    assert granted.status_code == 303
    page = _text(client.get(url))
    assert "may now invite colleagues for Acme Tooling" in page
    assert "May invite colleagues: changed" in page and "invites colleagues: yes" in page
    other = client.post(
        f"{url}/groups/{cast.group_b.id}/administrator",
        data={"administrator": "y", "csrf_token": csrf_token(client, url)},
    )
    assert other.status_code == 303
    assert "is not one of Borealis Foods's users" in _text(client.get(url))

    login_as(hr)
    team = _text(client.get(f"/employer/groups/{cast.group_a.id}/team"))
    assert "Invite a colleague" in team and "WEST" in team and "EAST" in team


def test_the_users_list_reads_every_status_at_once(client, login_as, cast, session, statements):
    """The page's statuses (invited, active, disabled) come from one query for the page, not
    one per user: as many statements with 3 invited users as with 23."""

    def listed() -> tuple[str, int]:
        client.get("/admin/users?q=@many.test")
        statements.clear()
        page = _text(client.get("/admin/users?q=@many.test"))
        return page, len(statements)

    def invite(n: int) -> None:
        user = make_user(session, Role.EMPLOYER, email=f"person{n}@many.test")
        session.add(
            UserInvitation(
                user_id=user.id,
                token_digest=f"digest-{n}",
                expires_at=datetime(2030, 1, 1, tzinfo=UTC),
                invited_by_id=cast.users["supervisor"].id,
            )
        )
        session.commit()

    login_as(cast.users["billing_specialist"])
    for n in range(3):
        invite(n)
    small, few = listed()
    assert small.count("Invited (no password yet)</span>") == 3
    for n in range(3, 23):
        invite(n)
    large, many = listed()
    assert large.count("Invited (no password yet)</span>") == 23
    assert many == few


def test_the_top_bar_shows_team_only_to_a_group_administrator(client, login_as, cast, session):
    """The Team link (read with the user on every request) is there for an administrator of a
    group's users, and not for a colleague who administers none."""
    user = cast.users["employer_a_east"]
    page = f"/employer/groups/{cast.group_a.id}/invoices"
    login_as(user)
    assert 'href="/employer/team"' not in client.get(page).get_data(as_text=True)
    session.add(GroupAdministrator(user_id=user.id, group_id=cast.group_a.id))
    session.commit()
    assert 'href="/employer/team"' in client.get(page).get_data(as_text=True)
