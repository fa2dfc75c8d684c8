"""Invitations and user management without the web (issue 22, item 5): the link's token kept
only as a digest, expiring, good once, a resend revoking the old link; an employer
administrator's reach; staff roles never one's own; disabling ends the sessions; every change
audited with before and after."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from billing_core.errors import ValidationFailed
from billing_core.models import AuditLog, OutboxMessage, UserGroupAccess, UserInvitation
from billing_core.models.enums import Role
from billing_core.security import verify_password
from billing_core.users import invitations, management
from billing_core.users.accounts import authenticate
from tests.factories import make_group, make_subgroup, make_user

NOW = datetime(2027, 1, 20, 9, 0, tzinfo=UTC)
NEW_PASSWORD = "Coffee-Table-Lamp-42"


def _invite(session, group, actor, email="hr@acme.test", subgroups=None, admin=False):
    return invitations.invite_employer_user(
        session,
        email=email,
        full_name="Hanna Ross",
        group=group,
        subgroup_ids=subgroups,
        administrator=admin,
        actor=actor,
        now=NOW,
    )


def _login(session, email, password, at=NOW):
    return authenticate(session, email, password, now=at, max_failures=5, lockout_minutes=15)


def test_the_token_is_kept_only_as_its_digest_and_mailed_in_the_link(session):
    staff = make_user(session, Role.BILLING_SPECIALIST)
    group = make_group(session)
    invited = _invite(session, group, staff)
    row = session.scalar(select(UserInvitation).where(UserInvitation.user_id == invited.user.id))
    assert row.token_digest == invitations.token_digest(invited.token) != invited.token
    assert invited.token not in row.token_digest
    message = session.scalar(select(OutboxMessage).where(OutboxMessage.user_id == invited.user.id))
    assert message.to_address == "hr@acme.test"
    assert message.link_path == f"/invitation/{invited.token}"
    assert message.expires_at == NOW + timedelta(hours=72)
    # Nobody can log in before choosing a password.
    with pytest.raises(ValidationFailed):
        _login(session, "hr@acme.test", NEW_PASSWORD)
    assert management.status_of(session, invited.user) == "invited"
    grants = session.scalars(
        select(UserGroupAccess).where(UserGroupAccess.user_id == invited.user.id)
    ).all()
    assert [(g.group_id, g.subgroup_id) for g in grants] == [(group.id, None)]


def test_the_link_sets_a_password_once_and_expires_after_72_hours(session):
    staff = make_user(session, Role.BILLING_SPECIALIST)
    group = make_group(session)
    invited = _invite(session, group, staff)
    later = NOW + timedelta(hours=71)
    with pytest.raises(ValidationFailed, match="Choose a stronger password"):
        invitations.accept(session, invited.token, "short", now=later)
    user = invitations.accept(session, invited.token, NEW_PASSWORD, now=later)
    assert verify_password(user.password_hash, NEW_PASSWORD)
    assert _login(session, "hr@acme.test", NEW_PASSWORD, later) is user
    assert management.status_of(session, user) == "active"
    with pytest.raises(ValidationFailed, match="expired or was already used"):
        invitations.accept(session, invited.token, "Another-Good-Pass-77", now=later)

    other = _invite(session, group, staff, email="late@acme.test")
    assert invitations.invitation_for_token(session, other.token, NOW + timedelta(hours=71))
    with pytest.raises(ValidationFailed, match="expired"):
        invitations.accept(session, other.token, NEW_PASSWORD, now=NOW + timedelta(hours=72))


def test_a_resend_invalidates_the_old_link(session):
    staff = make_user(session, Role.BILLING_SPECIALIST)
    group = make_group(session)
    first = _invite(session, group, staff)
    second = invitations.resend(session, first.user, actor=staff, now=NOW + timedelta(hours=1))
    assert second.token != first.token
    assert invitations.invitation_for_token(session, first.token, NOW + timedelta(hours=2)) is None
    with pytest.raises(ValidationFailed):
        invitations.accept(session, first.token, NEW_PASSWORD, now=NOW + timedelta(hours=2))
    invitations.accept(session, second.token, NEW_PASSWORD, now=NOW + timedelta(hours=2))
    with pytest.raises(ValidationFailed, match="already set a password"):
        invitations.resend(session, first.user, actor=staff, now=NOW + timedelta(hours=3))
    messages = session.scalars(
        select(OutboxMessage).where(OutboxMessage.user_id == first.user.id)
    ).all()
    assert len(messages) == 2


def test_an_employer_administrator_invites_within_their_own_reach(session):
    staff = make_user(session, Role.BILLING_SPECIALIST)
    group = make_group(session)
    east = make_subgroup(session, group, "EAST")
    west = make_subgroup(session, group, "WEST")
    north = make_subgroup(session, group, "NORTH")
    other_group = make_group(session)
    limited = _invite(session, group, staff, "east.admin@acme.test", {east.id, west.id}, True)
    admin = limited.user
    plain = make_user(session, Role.EMPLOYER, groups=[group])

    with pytest.raises(ValidationFailed, match="some locations only"):
        _invite(session, group, admin, "a@acme.test")  # the whole group: more than theirs
    with pytest.raises(ValidationFailed, match="locations you have access to"):
        _invite(session, group, admin, "b@acme.test", {east.id, north.id})
    with pytest.raises(ValidationFailed, match="administrators"):
        _invite(session, other_group, admin, "c@acme.test")
    with pytest.raises(ValidationFailed, match="administrators"):
        _invite(session, group, plain, "d@acme.test", {east.id})
    with pytest.raises(ValidationFailed, match="this group only"):
        _invite(session, group, staff, "e@acme.test", {make_subgroup(session, other_group).id})

    colleague = _invite(session, group, admin, "east.hr@acme.test", {east.id})
    grants = session.scalars(
        select(UserGroupAccess.subgroup_id).where(UserGroupAccess.user_id == colleague.user.id)
    ).all()
    assert grants == [east.id]
    # Resending: their own team's, not a whole-group colleague's.
    invitations.resend(session, colleague.user, actor=admin, now=NOW)
    whole = _invite(session, group, staff, "whole@acme.test")
    with pytest.raises(ValidationFailed, match="cannot manage"):
        invitations.resend(session, whole.user, actor=admin, now=NOW)
    # The team page shows the colleagues within their reach only.
    team = session.scalars(management.team_query(group.id, frozenset({east.id, west.id}))).all()
    assert {u.email for u in team} == {"east.admin@acme.test", "east.hr@acme.test"}


def test_a_whole_group_administrator_may_grant_the_whole_group(session):
    staff = make_user(session, Role.BILLING_SPECIALIST)
    group = make_group(session)
    admin = _invite(session, group, staff, "boss@acme.test", admin=True).user
    invited = _invite(session, group, admin, "new@acme.test")
    assert invitations.reach(session, admin, group) is None
    assert [a.location_names for a in management.access_of(session, invited.user)] == [[]]


def test_disabled_users_cannot_log_in_and_their_sessions_end(session):
    staff = make_user(session, Role.BILLING_SPECIALIST)
    group = make_group(session)
    user = make_user(session, Role.EMPLOYER, groups=[group], email="emp@acme.test")
    from tests.factories import PASSWORD

    identity = user.get_id()
    management.disable(session, user, actor=staff)
    assert user.get_id() != identity  # the cookie's identity no longer matches
    with pytest.raises(ValidationFailed):
        _login(session, "emp@acme.test", PASSWORD)
    assert management.status_of(session, user) == "disabled"
    management.enable(session, user, actor=staff)
    assert _login(session, "emp@acme.test", PASSWORD) is user
    with pytest.raises(ValidationFailed, match="own account"):
        management.disable(session, staff, actor=staff)
    other_staff = make_user(session, Role.SUPERVISOR)
    with pytest.raises(ValidationFailed, match="administrator"):
        management.disable(session, other_staff, actor=staff)
    with pytest.raises(ValidationFailed, match="Only an administrator manages staff"):
        management.disable(session, staff, actor=user)


def test_roles_change_only_by_an_admin_and_never_ones_own(session):
    admin = make_user(session, Role.ADMIN)
    supervisor = make_user(session, Role.SUPERVISOR)
    specialist = make_user(session, Role.BILLING_SPECIALIST)
    employer = make_user(session, Role.EMPLOYER)
    with pytest.raises(ValidationFailed, match="Only an administrator"):
        management.change_role(session, supervisor, Role.ADMIN, actor=supervisor)
    with pytest.raises(ValidationFailed, match="Only an administrator"):
        management.change_role(session, specialist, Role.SUPERVISOR, actor=supervisor)
    with pytest.raises(ValidationFailed, match="your own role"):
        management.change_role(session, admin, Role.SUPERVISOR, actor=admin)
    with pytest.raises(ValidationFailed, match="Only staff"):
        management.change_role(session, employer, Role.ADMIN, actor=admin)
    with pytest.raises(ValidationFailed, match="Only an administrator"):
        invitations.invite_staff_user(
            session, email="x@corp.test", full_name="X", role=Role.ADMIN, actor=supervisor, now=NOW
        )
    identity = specialist.get_id()
    management.change_role(session, specialist, Role.SUPERVISOR, actor=admin)
    assert specialist.role is Role.SUPERVISOR
    assert specialist.get_id() != identity
    staff = invitations.invite_staff_user(
        session,
        email="New@Corp.test",
        full_name="Nia",
        role="billing_specialist",
        actor=admin,
        now=NOW,
    )
    assert staff.user.email == "new@corp.test" and staff.user.role is Role.BILLING_SPECIALIST


def test_every_change_is_audited_with_who_before_and_after(session):
    admin = make_user(session, Role.ADMIN)
    group = make_group(session)
    invited = _invite(session, group, admin)
    invitations.resend(session, invited.user, actor=admin, now=NOW)
    management.disable(session, invited.user, actor=admin)
    management.enable(session, invited.user, actor=admin)
    specialist = make_user(session, Role.BILLING_SPECIALIST)
    management.change_role(session, specialist, Role.SUPERVISOR, actor=admin)
    session.flush()
    rows = session.scalars(
        select(AuditLog)
        .where(AuditLog.target_type == "User", AuditLog.target_id == invited.user.id)
        .order_by(AuditLog.id)
    ).all()
    assert [r.action for r in rows] == [
        "user.invited",
        "user.invitation_resent",
        "user.disabled",
        "user.enabled",
    ]
    assert all(r.actor_id == admin.id for r in rows)
    assert rows[0].detail["after"]["group"] == group.group_number
    assert rows[2].detail == {"before": {"status": "enabled"}, "after": {"status": "disabled"}}
    entries = management.timeline(session, specialist)
    assert entries[0].what == "Role changed" and entries[0].who == admin.email
    assert entries[0].before == {"role": "billing_specialist"}
    assert entries[0].after == {"role": "supervisor"}
    assert [e.what for e in management.timeline(session, invited.user)][0] == "Enabled"
    # No token in any audit row.
    assert all(invited.token not in str(r.detail) for r in rows)


def test_an_invitation_to_an_existing_address_is_refused(session):
    staff = make_user(session, Role.BILLING_SPECIALIST)
    group = make_group(session)
    make_user(session, Role.EMPLOYER, email="taken@acme.test")
    with pytest.raises(ValidationFailed, match="already has an account"):
        _invite(session, group, staff, email="Taken@acme.test")


def test_the_users_list_filters_by_role_group_status_and_search(session):
    staff = make_user(session, Role.BILLING_SPECIALIST)
    group = make_group(session)
    invited = _invite(session, group, staff, email="zed.invited@acme.test")
    active = make_user(session, Role.EMPLOYER, groups=[group], email="zed.active@acme.test")
    disabled = make_user(session, Role.EMPLOYER, groups=[group], email="zed.gone@acme.test")
    management.disable(session, disabled, actor=staff)

    def found(**filters):
        return {u.email for u in session.scalars(management.users_query(search="zed.", **filters))}

    assert found() == {invited.user.email, active.email, disabled.email}
    assert found(status="invited") == {invited.user.email}
    assert found(status="active") == {active.email}
    assert found(status="disabled") == {disabled.email}
    assert found(group_id=make_group(session).id) == set()
    assert found(role="broker") == set()
    assert found(role="employer", group_id=group.id) == {
        invited.user.email,
        active.email,
        disabled.email,
    }
