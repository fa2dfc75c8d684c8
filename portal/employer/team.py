"""An employer administrator's own team (issue 22, item 5): the colleagues of their group
within their reach, their status, inviting one (limited to the administrator's own
locations or fewer), sending an invitation again, and disabling or re-enabling a colleague
(never themselves). The rules are billing_core.users.
invitations'; another group is a 404, a group they do not administer a 403."""

from __future__ import annotations

from flask import abort, render_template, url_for
from flask_login import current_user
from wtforms import SelectChoice

from billing_core.models.enums import Role
from billing_core.users import invitations, management
from portal.auth.invitation import send_invitation_now
from portal.employer import bp
from portal.employer.team_forms import EmployerInviteForm, ResendForm, UserActionForm
from portal.extensions import db_session
from portal.web import client_ip, elsewhere, load_group, now, paginate, role_required, run_action


@bp.app_context_processor
def team_links():
    """`administers_any()` for the employer's top bar (its Team link; read with the user)."""

    def administers_any() -> bool:
        if not current_user.is_authenticated:
            return False
        return invitations.administers_any(db_session(), current_user)

    return {"administers_any": administers_any}


def _team_scope(group_id: int):
    """The group as the user sees it (another group: 404) and whether they administer its
    users (else the page says whom to ask and billing_core refuses their posts)."""
    scope = load_group(group_id)
    return scope, invitations.administers(db_session(), current_user, group_id)


def _team_url(group_id: int) -> str:
    return url_for("employer.team", group_id=group_id)


def _locations(scope) -> list[tuple[int, str]]:
    return [
        SelectChoice(s.id, f"{s.code} — {s.name}")
        for s in sorted(scope.group.subgroups, key=lambda s: s.code)
        if scope.subgroup_ids is None or s.id in scope.subgroup_ids
    ]


@bp.get("/team")
@role_required(Role.EMPLOYER)
def team_home():
    groups = invitations.administered_groups(db_session(), current_user)
    if len(groups) == 1:
        return elsewhere(_team_url(groups[0].id))
    return render_template("employer/team_home.html", groups=groups)


def _render_team(scope, administrator: bool, form, status=200):
    session = db_session()
    team = management.team_query(scope.group.id, scope.subgroup_ids)
    page = paginate(team, per_page=50) if administrator else None
    return (
        render_template(
            "employer/team.html",
            scope=scope,
            administrator=administrator,
            page=page,
            form=form,
            action_form=UserActionForm(),
            status_of=management.statuses_of(session, page.items if page else []).__getitem__,
            allowed=lambda user: management.allowed(session, current_user, user),
            access_of=lambda user: management.access_of(session, user),
            statuses=management.STATUSES,
        ),
        status,
    )


@bp.get("/groups/<int:group_id>/team")
@role_required(Role.EMPLOYER)
def team(group_id: int):
    scope, administrator = _team_scope(group_id)
    form = EmployerInviteForm()
    form.subgroup_ids.choices = _locations(scope)
    return _render_team(scope, administrator, form)


@bp.post("/groups/<int:group_id>/team/invite")
@role_required(Role.EMPLOYER)
def team_invite(group_id: int):
    scope, administrator = _team_scope(group_id)
    form = EmployerInviteForm()
    form.subgroup_ids.choices = _locations(scope)
    if not form.validate_on_submit():
        return _render_team(scope, administrator, form)

    def refused(error):
        form.email.errors.append(str(error))
        return _render_team(scope, administrator, form)

    return run_action(
        lambda: invitations.invite_employer_user(
            db_session(),
            email=form.email.data,
            full_name=form.full_name.data,
            group=scope.group,
            subgroup_ids=form.subgroup_ids.data,
            administrator=bool(form.administrator.data),
            actor=current_user._get_current_object(),
            now=now(),
            ip_address=client_ip(),
        ),
        after=send_invitation_now,
        done=lambda invited: (
            f"{invited.user.full_name} is invited: a link to choose a password "
            f"was sent to {invited.user.email}."
        ),
        to=_team_url(group_id),
        refused=refused,
    )


@bp.post("/groups/<int:group_id>/team/resend")
@role_required(Role.EMPLOYER)
def team_resend(group_id: int):
    """The colleague is named in the form (`user`): one of the administrator's team, else 404;
    billing_core refuses anyone else's resend."""
    scope, _ = _team_scope(group_id)
    form = ResendForm()
    if not form.validate_on_submit():
        abort(400)
    user = management.team_member(db_session(), group_id, scope.subgroup_ids, form.user.data)
    if user is None:
        abort(404)
    return run_action(
        lambda: invitations.resend(
            db_session(),
            user,
            actor=current_user._get_current_object(),
            now=now(),
            ip_address=client_ip(),
        ),
        after=send_invitation_now,
        done=f"A new invitation was sent to {user.email}; the earlier link no longer works.",
        to=_team_url(group_id),
    )


def _colleague_action(group_id: int, act, done: str, failed: str):
    """Disable or enable the colleague named in the form (`user`): one of the administrator's
    team, else 404; billing_core.users.management decides the rest (never oneself)."""
    scope, _ = _team_scope(group_id)
    form = ResendForm()
    if not form.validate_on_submit():
        abort(400)
    user = management.team_member(db_session(), group_id, scope.subgroup_ids, form.user.data)
    if user is None:
        abort(404)
    return run_action(
        lambda: act(user),
        done=done.format(name=user.full_name),
        to=_team_url(group_id),
        failed=failed,
    )


@bp.post("/groups/<int:group_id>/team/disable")
@role_required(Role.EMPLOYER)
def team_disable(group_id: int):
    return _colleague_action(
        group_id,
        lambda user: management.disable(
            db_session(), user, actor=current_user._get_current_object(), ip_address=client_ip()
        ),
        "{name} is disabled: they cannot log in and their sessions have ended.",
        "Not disabled",
    )


@bp.post("/groups/<int:group_id>/team/enable")
@role_required(Role.EMPLOYER)
def team_enable(group_id: int):
    return _colleague_action(
        group_id,
        lambda user: management.enable(
            db_session(), user, actor=current_user._get_current_object(), ip_address=client_ip()
        ),
        "{name} is enabled again and can log in with their password.",
        "Not enabled",
    )
