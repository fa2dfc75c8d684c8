"""The `users` section of a set-up document: logins keyed on their email, with a role; an
employer user is given groups (or one subgroup of a group), a broker user their NPN. A user
given no password gets a random one nobody knows (they reset it to log in); a password given
again is left alone when it already matches."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core.models import BillingSubgroup, EmployerGroup, User, UserGroupAccess
from billing_core.models.enums import Role
from billing_core.security import hash_password, verify_password
from billing_core.setup.document import Checker, field_spec, join_path
from billing_core.setup.facts import Existing
from billing_core.setup.writing import ImportSummary, apply_values, without

USER_FIELDS = (
    field_spec("email", "email", required=True, max_len=254),
    field_spec("full_name", required=True, max_len=200),
    field_spec("role", "enum", required=True, enum=Role),
    field_spec("password", "strict_text", nullable=False),
    field_spec("is_active", "bool"),
    field_spec("broker_npn", max_len=20),
)

# A user's group: {group: G-1001, subgroup: HOU} for one subgroup, or the bare group number.
GROUP_REFERENCE_FIELDS = (
    field_spec("group", required=True, max_len=20),
    field_spec("subgroup", max_len=20),
)
GROUP_NUMBER_FIELDS = (field_spec("group", required=True),)


def check_users(
    c: Checker, doc: dict, group_subgroups: dict[str, set[str]], broker_agency: dict[str, str]
) -> list[dict]:
    """The users read from `doc`; a group a user is given must be in `group_subgroups` (the
    document's or the database's, with its subgroup codes), a broker NPN in `broker_agency`."""
    rows = []
    for path, item in c.items(doc, "users", ""):
        values = c.read(item, path, USER_FIELDS, nested=("groups",))
        if values is None:
            continue
        if "groups" in item:
            values["groups"] = []
        for gpath, ref in c.items(item, "groups", path):
            if isinstance(ref, dict):
                ref_values = c.read(ref, gpath, GROUP_REFERENCE_FIELDS)
            else:
                ref_values = c.read({"group": ref}, gpath, GROUP_NUMBER_FIELDS)
            if not ref_values or not ref_values.get("group"):
                continue
            num, sub = ref_values["group"], ref_values.get("subgroup")
            if num not in group_subgroups:
                c.error(gpath, "no such group in this document or the database", num)
                continue
            if sub is not None and sub not in group_subgroups[num]:
                c.error(join_path(gpath, "subgroup"), f"no such subgroup in group {num}", sub)
                continue
            values["groups"].append((num, sub))
        npn = values.get("broker_npn")
        if npn is not None and npn not in broker_agency:
            c.error(
                join_path(path, "broker_npn"),
                "no broker with this NPN in the document or the database",
                npn,
            )
        if values.get("role") == Role.BROKER and not npn and "broker_npn" not in item:
            c.error(join_path(path, "broker_npn"), "a broker user needs broker_npn")
        if values.get("role") not in (None, Role.EMPLOYER) and values.get("groups"):
            c.error(
                join_path(path, "groups"),
                "only employer users are given groups; staff see "
                "every group and brokers see their agency's book",
            )
        rows.append((path, values))
    c.unique(rows, "email", "user email")
    return [v for _, v in rows]


def write_user(session: Session, values: dict, state: Existing, summary: ImportSummary) -> None:
    """Create or update one checked user and the groups (and subgroups) they are given."""
    row = without(values, ("password", "groups", "broker_npn"))
    if "broker_npn" in values:
        npn = values["broker_npn"]
        row["broker_id"] = state.brokers[npn].id if npn else None
    wanted = {
        (state.groups[num].id, _subgroup_id(session, state.groups[num], sub))
        for num, sub in values.get("groups", [])
    }
    user = state.users.get(values["email"])
    if user is None:
        # Without a password the account gets a random one nobody knows (reset to log in).
        password = values.get("password") or secrets.token_urlsafe(32)
        user = User(password_hash=hash_password(password), **row)
        user.group_access = [
            UserGroupAccess(group_id=g, subgroup_id=s) for g, s in sorted(wanted, key=str)
        ]
        session.add(user)
        state.users[values["email"]] = user
        summary.count("users", "created")
        return
    changed = apply_values(user, row)
    if values.get("password") and not verify_password(user.password_hash, values["password"]):
        user.password_hash = hash_password(values["password"])
        changed = True
    current = {(a.group_id, a.subgroup_id): a for a in user.group_access}
    if "groups" in values:
        for key in set(current) - wanted:
            user.group_access.remove(current[key])
            changed = True
        for g, s in sorted(wanted - set(current), key=str):
            user.group_access.append(UserGroupAccess(group_id=g, subgroup_id=s))
            changed = True
    summary.count("users", "updated" if changed else "unchanged")


def _subgroup_id(session: Session, group: EmployerGroup, code: str | None) -> int | None:
    if code is None:
        return None
    return session.scalar(
        select(BillingSubgroup.id).where(
            BillingSubgroup.group_id == group.id, BillingSubgroup.code == code
        )
    )
