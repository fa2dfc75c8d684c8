"""Staff: every user at /admin/users (issue 22, item 5): the list with search and filters
(role, group, status), each user's page (their access, invitation, the actions allowed and the
timeline of changes), inviting an employer user for a group (limited to some of its locations
or not) and, for an admin, a staff user; resending an invitation, disabling and re-enabling,
changing a staff role and resetting a staff member's second factor. Each rule is
billing_core.users.invitations' or billing_core.users.management's; CSRF on every form."""

from __future__ import annotations

from flask import abort, flash, render_template, request, url_for
from flask_login import current_user
from wtforms import SelectChoice

from admin import bp
from admin.actions import load_or_404, require_valid, submit_form
from admin.views.users_forms import (
    AdministratorForm,
    EmployerInviteForm,
    RoleForm,
    StaffInviteForm,
    UserActionForm,
)
from billing_core.models import User
from billing_core.users import invitations, management
from portal.auth.invitation import send_invitation_now
from portal.extensions import db_session
from portal.web import client_ip, load_group, now, paginate, powers, run_action, see_other

PER_PAGE = 50


def _actor() -> User:
    return current_user._get_current_object()


def _user_url(user_id: int) -> str:
    return url_for("admin.user_detail", user_id=user_id)


def invited_words(invited: invitations.Invited) -> dict:
    hours = int(invitations.INVITATION_LIFETIME.total_seconds() // 3600)
    return {
        "text": f"{invited.user.full_name} is invited: a link to choose a password was sent "
        f"to {invited.user.email} (it works once, for {hours} hours).",
        "url": _user_url(invited.user.id),
        "label": "See their account",
    }


@bp.get("/users")
def user_list():
    return _list_page(StaffInviteForm())


def _list_page(staff_form: StaffInviteForm):
    """The users list with its filters and the invitation forms (`staff_form` with its errors
    beside its fields after a refused staff invitation)."""
    session = db_session()
    search = request.args.get("q", "").strip()
    role = request.args.get("role", "")
    status = request.args.get("status", "")
    group_number = request.args.get("group", "").strip()
    group = management.find_group(session, group_number) if group_number else None
    if group_number and group is None:
        flash(f"No group numbered {group_number}: showing every group's users.", "error")
    page = paginate(
        management.users_query(
            search=search, role=role, group_id=group.id if group else None, status=status
        ),
        per_page=PER_PAGE,
    )
    return render_template(
        "admin/users/list.html",
        page=page,
        search=search,
        chosen_role=role,
        status=status,
        group_number=group.group_number if group else "",
        roles=management.ROLE_CHOICES,
        statuses=management.STATUSES,
        status_of=management.statuses_of(session, page.items).__getitem__,
        staff_form=staff_form,
    )


@bp.get("/users/invite")
def user_invite_start():
    """The invite card's group number: on to that group's invite page."""
    number = request.args.get("group", "").strip()
    group = management.find_group(db_session(), number)
    if group is None:
        flash(
            f"No group numbered {number}: enter the group's number as it appears on its page."
            if number
            else "Enter the number of the group the person works for.",
            "error",
        )
        return see_other(url_for("admin.user_list"))
    return see_other(url_for("admin.group_user_invite", group_id=group.id))


def _locations(group) -> list[tuple[int, str]]:
    return [
        SelectChoice(s.id, f"{s.code} — {s.name}")
        for s in sorted(group.subgroups, key=lambda s: s.code)
    ]


@bp.route("/groups/<int:group_id>/users/invite", methods=["GET", "POST"])
def group_user_invite(group_id: int):
    group = load_group(group_id).group
    form = EmployerInviteForm()
    form.subgroup_ids.choices = _locations(group)
    if not form.validate_on_submit():
        return render_template("admin/users/invite.html", form=form, group=group)

    def refused(error):
        form.email.errors.append(str(error))
        return render_template("admin/users/invite.html", form=form, group=group), 200

    return run_action(
        lambda: invitations.invite_employer_user(
            db_session(),
            email=form.email.data,
            full_name=form.full_name.data,
            group=group,
            subgroup_ids=form.subgroup_ids.data,
            administrator=bool(form.administrator.data),
            actor=_actor(),
            now=now(),
            ip_address=client_ip(),
        ),
        after=send_invitation_now,
        done=invited_words,
        to=url_for("admin.user_list", group=group.group_number),
        refused=refused,
    )


@bp.post("/users/invite-staff")
def staff_user_invite():
    if not powers().may_manage_staff:
        abort(403)
    form = StaffInviteForm()
    if not form.validate_on_submit():  # the list again, each error beside its field
        return _list_page(form)

    def refused(error):
        form.email.errors.append(str(error))
        return _list_page(form)

    return run_action(
        lambda: invitations.invite_staff_user(
            db_session(),
            email=form.email.data,
            full_name=form.full_name.data,
            role=form.role.data,
            actor=_actor(),
            now=now(),
            ip_address=client_ip(),
        ),
        after=send_invitation_now,
        done=invited_words,
        to=lambda invited: url_for("admin.user_list", role=invited.user.role.value),
        refused=refused,
    )


@bp.get("/users/<int:user_id>")
def user_detail(user_id: int):
    session = db_session()
    user = load_or_404(User, user_id)
    role_form = RoleForm()
    role_form.role.data = user.role.value
    return render_template(
        "admin/users/detail.html",
        user=user,
        status=management.status_of(session, user),
        statuses=management.STATUSES,
        access=management.access_of(session, user),
        open_invitation=invitations.open_invitation(session, user, now()),
        allowed=management.allowed(session, _actor(), user),
        timeline=management.timeline(session, user),
        action_form=UserActionForm(),
        role_form=role_form,
        describe=management.describe_change,
    )


def _user_action(user_id: int, act, done: str, failure: str):
    user = load_or_404(User, user_id)
    return submit_form(
        UserActionForm(),
        lambda form: act(user) or done.format(name=user.full_name),
        back=_user_url(user_id),
        failure=failure,
    )


@bp.post("/users/<int:user_id>/resend")
def user_resend(user_id: int):
    user = load_or_404(User, user_id)
    form = UserActionForm()

    def resend() -> invitations.Invited:
        require_valid(form)
        return invitations.resend(
            db_session(), user, actor=_actor(), now=now(), ip_address=client_ip()
        )

    return run_action(
        resend,
        after=send_invitation_now,
        done=f"A new invitation was sent to {user.email}; the earlier link no longer works.",
        to=_user_url(user_id),
        failed="Not sent",
    )


@bp.post("/users/<int:user_id>/disable")
def user_disable(user_id: int):
    return _user_action(
        user_id,
        lambda user: management.disable(db_session(), user, actor=_actor(), ip_address=client_ip()),
        "{name} is disabled: they cannot log in and their sessions have ended.",
        "Not disabled",
    )


@bp.post("/users/<int:user_id>/enable")
def user_enable(user_id: int):
    return _user_action(
        user_id,
        lambda user: management.enable(db_session(), user, actor=_actor(), ip_address=client_ip()),
        "{name} is enabled again and can log in with their password.",
        "Not enabled",
    )


@bp.post("/users/<int:user_id>/role")
def user_role(user_id: int):
    user = load_or_404(User, user_id)

    def change(form: RoleForm) -> str:
        management.change_role(
            db_session(), user, form.role.data, actor=_actor(), ip_address=client_ip()
        )
        return (
            f"{user.full_name} is now {user.role.label.lower()}: their sessions ended, so they "
            "log in again with the new role."
        )

    return submit_form(RoleForm(), change, back=_user_url(user_id), failure="Role not changed")


@bp.post("/users/<int:user_id>/second-factor/reset")
def user_second_factor_reset(user_id: int):
    return _user_action(
        user_id,
        lambda user: management.reset_second_factor(
            db_session(), user, actor=_actor(), ip_address=client_ip()
        ),
        "{name}'s second factor is reset: their sessions ended and they set up their "
        "authenticator again at their next login.",
        "Not reset",
    )


@bp.post("/users/<int:user_id>/groups/<int:group_id>/administrator")
def user_group_administrator(user_id: int, group_id: int):
    user = load_or_404(User, user_id)
    group = load_group(group_id).group

    def change(form: AdministratorForm) -> str:
        chosen = bool(form.administrator.data)
        management.set_group_administrator(
            db_session(), user, group, chosen, actor=_actor(), ip_address=client_ip()
        )
        if chosen:
            return f"{user.full_name} may now invite colleagues for {group.name}."
        return f"{user.full_name} no longer invites colleagues for {group.name}."

    return submit_form(AdministratorForm(), change, back=_user_url(user_id), failure="Not changed")
