"""Users leftovers (issue 22, item 5): an employer administrator disables and re-enables
colleagues within their own reach on the team page (never themselves; anyone outside their
reach or group is a 404), audited on the group; staff reset an employer user's second factor
(a supervisor or an admin, not a billing specialist), audited, their sessions ended."""

from __future__ import annotations

import html

import pytest
from sqlalchemy import select

from billing_core.errors import ValidationFailed
from billing_core.models import AuditLog, GroupAdministrator, User, UserGroupAccess
from billing_core.models.enums import Role
from billing_core.users import management, second_factor
from tests.factories import make_user
from tests.web.conftest import csrf_token, log_in


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_an_employer_administrator_disables_and_enables_colleagues_in_reach(
    web_app, client, login_as, cast, session
):
    east_admin = cast.users["employer_a_east"]
    session.add(GroupAdministrator(user_id=east_admin.id, group_id=cast.group_a.id))
    colleague = make_user(session, Role.EMPLOYER, subgroups=[cast.sub_east])
    session.commit()
    theirs = web_app.test_client()
    assert log_in(theirs, colleague.email).status_code == 303
    assert theirs.get(f"/employer/groups/{cast.group_a.id}").status_code == 200

    login_as(east_admin)
    url = f"/employer/groups/{cast.group_a.id}/team"
    page = _text(client.get(url))
    assert f'aria-label="Disable {colleague.full_name}"' in page
    assert f'aria-label="Disable {east_admin.full_name}"' not in page  # never themselves

    def post(action, user):
        return client.post(
            f"{url}/{action}", data={"user": user.id, "csrf_token": csrf_token(client, url)}
        )

    disabled = post("disable", colleague)
    assert disabled.status_code == 303
    page = _text(client.get(url))
    assert f"{colleague.full_name} is disabled" in page
    assert f'aria-label="Enable {colleague.full_name} again"' in page
    session.expire_all()
    assert session.get(User, colleague.id).is_active is False
    assert theirs.get(f"/employer/groups/{cast.group_a.id}").status_code == 302  # sessions ended
    assert log_in(theirs, colleague.email).status_code != 303
    row = session.scalar(
        select(AuditLog).where(
            AuditLog.action == "user.disabled", AuditLog.target_id == colleague.id
        )
    )
    assert row.actor_id == east_admin.id and row.group_id == cast.group_a.id

    assert post("enable", colleague).status_code == 303
    session.expire_all()
    assert session.get(User, colleague.id).is_active is True
    assert log_in(theirs, colleague.email).status_code == 303

    # Themselves: refused by billing_core, said in words; nothing changes.
    self_refused = post("disable", east_admin)
    assert self_refused.status_code == 303
    assert "cannot change your own account" in _text(client.get(url))
    session.expire_all()
    assert session.get(User, east_admin.id).is_active is True
    # A whole-group user is outside an East administrator's reach; another group's user: 404.
    assert post("disable", cast.users["employer_a"]).status_code == 404
    assert post("disable", cast.users["employer_b"]).status_code == 404
    assert (
        client.post(
            f"/employer/groups/{cast.group_b.id}/team/disable",
            data={"user": cast.users["employer_b"].id, "csrf_token": csrf_token(client, url)},
        ).status_code
        == 404
    )
    session.expire_all()
    assert session.get(User, cast.users["employer_a"].id).is_active is True


def test_a_colleague_who_also_serves_another_group_is_the_billing_teams_to_disable(
    login_as, cast, session
):
    east_admin = cast.users["employer_a_east"]
    session.add(GroupAdministrator(user_id=east_admin.id, group_id=cast.group_a.id))
    shared = make_user(session, Role.EMPLOYER, subgroups=[cast.sub_east])
    session.add(UserGroupAccess(user_id=shared.id, group_id=cast.group_b.id))
    session.flush()
    with pytest.raises(ValidationFailed, match="another group"):
        management.disable(session, shared, actor=east_admin)
    assert management.allowed(session, east_admin, shared).disable is False
    management.disable(session, shared, actor=cast.users["billing_specialist"])
    assert shared.is_active is False


def test_a_non_administrator_cannot_disable_a_colleague(client, login_as, cast, session):
    login_as(cast.users["employer_a"])  # a whole-group user, not an administrator
    url = f"/employer/groups/{cast.group_a.id}/team"
    refused = client.post(
        f"{url}/disable",
        data={"user": cast.users["employer_a_east"].id, "csrf_token": csrf_token(client, url)},
    )
    assert refused.status_code == 303
    session.expire_all()
    assert session.get(User, cast.users["employer_a_east"].id).is_active is True
    with pytest.raises(ValidationFailed, match="You cannot manage this user"):
        management.disable(session, cast.users["employer_a_east"], actor=cast.users["employer_a"])


def test_staff_reset_an_employer_users_second_factor(web_app, client, login_as, cast, session):
    hr = make_user(session, Role.EMPLOYER, groups=[cast.group_a], second_factor=True)
    session.commit()
    theirs = web_app.test_client()
    assert log_in(theirs, hr.email).status_code == 303
    url = f"/admin/users/{hr.id}"
    action = f"{url}/second-factor/reset"

    login_as(cast.users["billing_specialist"])
    assert "Reset the second factor" not in _text(client.get(url))
    assert client.post(action, data={"csrf_token": csrf_token(client, url)}).status_code == 303
    assert "Not reset" in _text(client.get(url))
    session.expire_all()
    assert session.get(User, hr.id).second_factor_enrolled

    login_as(cast.users["supervisor"])
    assert "Reset the second factor" in _text(client.get(url))
    assert client.post(action, data={"csrf_token": csrf_token(client, url)}).status_code == 303
    page = _text(client.get(url))
    assert "second factor is reset" in page and "Second factor reset" in page  # the timeline
    session.expire_all()
    reset = session.get(User, hr.id)
    assert not reset.second_factor_enrolled and reset.totp_secret_encrypted is None
    entry = session.scalar(
        select(AuditLog).where(
            AuditLog.action == "second_factor.reset", AuditLog.target_id == hr.id
        )
    )
    assert entry.actor_id == cast.users["supervisor"].id
    assert entry.detail["after"] == {"second factor": "not enrolled"}
    assert theirs.get(f"/employer/groups/{cast.group_a.id}").status_code == 302  # sessions ended
    # A supervisor never resets a staff member's; an employer nobody's.
    with pytest.raises(ValidationFailed, match="Only an administrator"):
        second_factor.reset(session, cast.users["admin"], actor=cast.users["supervisor"])
    with pytest.raises(ValidationFailed, match="supervisor or an administrator"):
        second_factor.reset(session, hr, actor=cast.users["employer_a"])
