"""Who may see which group: the one definition of tenant scope, used by every portal view
through portal/web.py. Employers see the groups (or only the subgroups) granted to them,
brokers the groups where their agency is broker of record today, staff every group."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from billing_core.models import (
    Broker,
    BrokerOfRecord,
    EmployerGroup,
    Member,
    User,
    UserGroupAccess,
)
from billing_core.models.enums import Role


@dataclass(frozen=True)
class GroupScope:
    """What of one group a user may see; `subgroup_ids` None means the whole group."""

    group: EmployerGroup
    subgroup_ids: frozenset[int] | None
    shows_member_pii: bool

    def members_query(self) -> Select:
        query = select(Member).where(Member.group_id == self.group.id)
        if self.subgroup_ids is not None:
            query = query.where(Member.subgroup_id.in_(self.subgroup_ids))
        return query


def visible_group_ids(user: User, on: date) -> Select:
    """A SELECT of the ids of the groups `user` may see on `on`."""
    if user.role.is_staff:
        return select(EmployerGroup.id)
    if user.role is Role.EMPLOYER:
        return select(UserGroupAccess.group_id).where(UserGroupAccess.user_id == user.id)
    if user.role is Role.BROKER and user.broker_id is not None:
        return (
            select(BrokerOfRecord.group_id)
            .join(Broker, Broker.agency_id == BrokerOfRecord.agency_id)
            .where(Broker.id == user.broker_id, BrokerOfRecord.effective_from <= on)
            .where(or_(BrokerOfRecord.effective_to.is_(None), BrokerOfRecord.effective_to >= on))
        )
    return select(EmployerGroup.id).where(False)


def visible_groups(session: Session, user: User, on: date) -> list[EmployerGroup]:
    return list(
        session.scalars(
            select(EmployerGroup)
            .where(EmployerGroup.id.in_(visible_group_ids(user, on)))
            .order_by(EmployerGroup.name)
        )
    )


def group_scope(session: Session, user: User, group_id: int, on: date) -> GroupScope | None:
    """The user's view of one group, or None when they may not see it at all."""
    group = session.scalar(
        select(EmployerGroup).where(
            EmployerGroup.id == group_id, EmployerGroup.id.in_(visible_group_ids(user, on))
        )
    )
    if group is None:
        return None
    subgroup_ids: frozenset[int] | None = None
    if user.role is Role.EMPLOYER:
        grants = session.scalars(
            select(UserGroupAccess.subgroup_id).where(
                UserGroupAccess.user_id == user.id, UserGroupAccess.group_id == group_id
            )
        ).all()
        if None not in grants:
            subgroup_ids = frozenset(grants)
    return GroupScope(
        group=group, subgroup_ids=subgroup_ids, shows_member_pii=user.role is not Role.BROKER
    )
