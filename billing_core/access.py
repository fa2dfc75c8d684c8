"""Who may see which group and who may do what: the one definition of tenant scope, used by
every portal view through portal/web.py, and the permission questions views and templates ask
(`GroupScope.may_upload`, `Powers.may_approve(amount)`, ...) instead of naming roles. Employers
see the groups (or only the subgroups) granted to them, brokers the groups where their agency is
broker of record today, staff every group.

A user limited to some subgroups (a location's HR contact) sees, within the group:
- invoices of their subgroups and the group's consolidated invoices (whose member lines,
  retro lines and bridge rows are then limited to their members);
- payments whose allocations all fall on those invoices, and the payments of their own
  checkouts; never the group's credit (unapplied cash is kept per group, not per location,
  so no part of it is theirs to see or use);
- the checkouts they started, and the census uploads they sent or that were made for one of
  their subgroups (`Upload.subgroup_id`).
Everything else of the group is another tenant's to them: a 404."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    exists,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session, aliased

from billing_core.authority import (
    DEFAULT_AUTHORITY_LIMIT,
    SUPERVISING_ROLES,
    Exposure,
    authority,
)
from billing_core.db import built_once
from billing_core.models import (
    Broker,
    BrokerOfRecord,
    Checkout,
    EmployerGroup,
    Invoice,
    Member,
    Payment,
    PaymentAllocation,
    Upload,
    User,
    UserGroupAccess,
)
from billing_core.models.enums import STAFF_ROLES, Role


@dataclass(frozen=True)
class Powers:
    """What one person may do, asked by views and templates instead of naming roles. The
    money questions follow the four-eyes rule (`billing_core.authority`): anyone on the staff
    decides alone within `authority_limit`; above it, only a supervisor (or admin). Who
    requested a particular decision is that decision's own check, not a power."""

    user: User | None
    authority_limit: Decimal = DEFAULT_AUTHORITY_LIMIT

    @property
    def role(self) -> Role | None:
        return self.user.role if self.user is not None else None

    # Which face of the application is theirs (the top bar's links).
    @property
    def in_employer_portal(self) -> bool:
        return self.role is Role.EMPLOYER

    @property
    def in_broker_portal(self) -> bool:
        return self.role is Role.BROKER

    @property
    def in_staff_area(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def may_pay(self) -> bool:
        """Pay a group's bills online and use its credit: the employer's own people."""
        return self.role is Role.EMPLOYER

    @property
    def may_choose_mail(self) -> bool:
        """Turn kinds of mail off: employer users (staff and brokers get none of it)."""
        return self.role is Role.EMPLOYER

    @property
    def may_supervise(self) -> bool:
        """Decide above the authority limit, approve another's request, override the retro
        window, read the audit log."""
        return self.role in SUPERVISING_ROLES

    @property
    def may_void(self) -> bool:
        """Void an issued invoice: a supervisor's decision."""
        return self.role in SUPERVISING_ROLES

    @property
    def may_cancel_for_nonpayment(self) -> bool:
        """Cancel a group for non-payment, reverse the bills issued after it, reinstate it:
        a supervisor's decision (billing_core.collections.cancellation checks the same)."""
        return self.role in SUPERVISING_ROLES

    @property
    def may_write_off(self) -> bool:
        """Write off a balance (alone within the authority limit, else as a request for a
        supervisor): anyone on the staff."""
        return self.role in STAFF_ROLES

    def may_approve(self, amount: Decimal) -> bool:
        """Decide alone a decision moving `amount` dollars (either sign): within the
        authority limit anyone on the staff, above it a supervisor."""
        rule = authority(
            what="this decision",
            exposures=[Exposure(abs(amount), "this decision")],
            limit=self.authority_limit,
        )
        return rule.refusal(self.user) is None

    @property
    def may_manage_staff(self) -> bool:
        """Add staff, change their roles, reset their second factor: an admin."""
        return self.role is Role.ADMIN

    @property
    def may_set_group_security(self) -> bool:
        """Require a second factor of a group's employer users: an admin."""
        return self.role is Role.ADMIN


@dataclass(frozen=True)
class GroupScope:
    """What of one group a user may see, and may do there; `subgroup_ids` None means the
    whole group."""

    group: EmployerGroup
    subgroup_ids: frozenset[int] | None
    shows_member_pii: bool
    user_id: int | None = None
    powers: Powers = field(default_factory=lambda: Powers(None))

    @property
    def whole_group(self) -> bool:
        return self.subgroup_ids is None

    @property
    def may_decide_uploads(self) -> bool:
        """Send, map, submit or discard a census for the group: a user limited to some
        locations decides nothing for the whole group (their uploads are seen, not decided)."""
        return self.subgroup_ids is None

    @property
    def may_upload(self) -> bool:
        """Send the group's census from the portal: its own whole-group employer users."""
        return self.powers.in_employer_portal and self.may_decide_uploads

    @property
    def may_pay(self) -> bool:
        return self.powers.may_pay

    @property
    def may_void(self) -> bool:
        return self.powers.may_void

    @property
    def may_write_off(self) -> bool:
        return self.powers.may_write_off

    def may_approve(self, amount: Decimal) -> bool:
        return self.powers.may_approve(amount)

    def members_query(self) -> Select:
        query = select(Member).where(Member.group_id == self.group.id)
        if self.subgroup_ids is not None:
            query = query.where(Member.subgroup_id.in_(self.subgroup_ids))
        return query

    def sees_invoice(self, invoice: Invoice) -> bool:
        return invoice.group_id == self.group.id and (
            self.subgroup_ids is None
            or invoice.subgroup_id is None
            or invoice.subgroup_id in self.subgroup_ids
        )

    def limit_preview(self, diff, retro: list, impact):
        """What of an upload's preview (its census diff, retro exceptions and premium impact)
        the user may see: a location's contact sees the changes of their locations' members
        (an add: a row naming one of their locations) and their retro notes, never the premium
        impact (priced for the whole group); the whole group's user sees it all. Returns
        (diff, retro, impact); `enrolled_employees` becomes the enrolled members among the
        changes kept (exact for a full file, which names or ends every enrolled member)."""
        if self.subgroup_ids is None:
            return diff, retro, impact
        codes = {s.code for s in self.group.subgroups if s.id in self.subgroup_ids}
        kept = [m for m in diff.members if self._sees_change(m, codes)]
        diff = replace(
            diff,
            members=kept,
            enrolled_employees=sum(1 for m in kept if m.member_id is not None),
        )
        names = {m.employee_id for m in kept}
        return diff, [r for r in retro if r.employee_id in names], None

    def _sees_change(self, change, codes: set[str]) -> bool:
        if change.member_id is not None:
            enrolled = change.enrolled
            subgroup_id = enrolled.subgroup_id if enrolled is not None else None
            if enrolled is None:
                subgroup_id = change.member.subgroup_id
            return subgroup_id in self.subgroup_ids
        row = change.row
        return row is not None and row.subgroup_code in codes

    def uploads(self) -> ColumnElement[bool]:
        return upload_in_scope(self.group.id, self.subgroup_ids, self.user_id)

    def checkouts(self) -> ColumnElement[bool]:
        return checkout_in_scope(self.group.id, self.subgroup_ids, self.user_id)


# What a kept statement (db.built_once) passes the scope clauses below for a limited reader's
# locations and their user, the values given at execution by `scope_values`.
SUBGROUP_IDS = bindparam("subgroup_ids", expanding=True)
USER_ID = bindparam("user_id")


def scope_values(
    group_id: int, subgroup_ids: frozenset[int] | None, user_id: int | None = None
) -> dict:
    """The values of a kept statement's group and scope parameters (see SUBGROUP_IDS)."""
    values: dict = {"group_id": group_id}
    if subgroup_ids is not None:
        values["subgroup_ids"] = sorted(subgroup_ids)
    if user_id is not None:
        values["user_id"] = user_id
    return values


def invoice_in_scope(subgroup_ids: frozenset[int] | None, invoice=Invoice) -> ColumnElement[bool]:
    """Invoices a user limited to `subgroup_ids` sees: those subgroups' bills and the group's
    consolidated ones (every invoice when None; SUBGROUP_IDS in a kept statement). The caller
    limits the group. `invoice`: the Invoice entity or an alias of it."""
    if subgroup_ids is None:
        return true()
    return or_(invoice.subgroup_id.is_(None), invoice.subgroup_id.in_(subgroup_ids))


def payment_in_scope(
    subgroup_ids: frozenset[int] | None, user_id: int | None = None
) -> ColumnElement[bool]:
    """Payments a user limited to `subgroup_ids` sees (every payment when None): those applied
    to invoices they see and to no other, and those of checkouts they started (a payment of
    theirs still pending has no allocation yet). The caller limits the group."""
    if subgroup_ids is None:
        return true()
    paid = aliased(Invoice)
    allocated = exists().where(PaymentAllocation.payment_id == Payment.id)
    elsewhere = (
        select(PaymentAllocation.id)
        .join(paid, paid.id == PaymentAllocation.invoice_id)
        .where(PaymentAllocation.payment_id == Payment.id, ~invoice_in_scope(subgroup_ids, paid))
        .exists()
    )
    theirs = (
        exists().where(Checkout.payment_id == Payment.id, Checkout.user_id == user_id)
        if user_id is not None
        else false()
    )
    return or_(and_(allocated, ~elsewhere), theirs)


def payment_seen(
    session: Session, payment: Payment, subgroup_ids: frozenset[int] | None, user_id: int
) -> bool:
    """Whether a user limited to `subgroup_ids` hears of `payment` (mail.payment_received,
    payment_failed): as `payment_in_scope`, or, before it is applied, when every invoice its
    payer chose is one they see (a location's contact always chooses their own bills)."""
    if subgroup_ids is None:
        return True
    chosen = set(payment.invoice_choice or [])
    if chosen:
        seen = session.scalar(
            select(func.count())
            .select_from(Invoice)
            .where(
                Invoice.id.in_(chosen),
                Invoice.group_id == payment.group_id,
                invoice_in_scope(subgroup_ids),
            )
        )
        if seen == len(chosen):
            return True
    return (
        session.scalar(
            select(Payment.id).where(
                Payment.id == payment.id, payment_in_scope(subgroup_ids, user_id)
            )
        )
        is not None
    )


def upload_seen(upload: Upload, subgroup_ids: frozenset[int] | None, user_id: int) -> bool:
    """`upload_in_scope` for one upload already loaded (who hears of it by mail)."""
    return (
        subgroup_ids is None
        or upload.uploaded_by_id == user_id
        or upload.subgroup_id in subgroup_ids
    )


def upload_in_scope(
    group_id: int, subgroup_ids: frozenset[int] | None, user_id: int | None = None
) -> ColumnElement[bool]:
    """The group's census uploads a user limited to `subgroup_ids` sees: those they sent and
    those made for one of their subgroups. A whole-group upload (one file for every location)
    shows other locations' members and the whole group's premium impact, so it is not theirs."""
    clause = Upload.group_id == group_id
    if subgroup_ids is None:
        return clause
    sent = Upload.uploaded_by_id == user_id if user_id is not None else false()
    return and_(clause, or_(sent, Upload.subgroup_id.in_(subgroup_ids)))


def checkout_in_scope(
    group_id: int, subgroup_ids: frozenset[int] | None, user_id: int | None = None
) -> ColumnElement[bool]:
    """The group's online checkouts a user limited to some subgroups sees: the ones they
    started (another user's may be for another location's bills)."""
    clause = Checkout.group_id == group_id
    if subgroup_ids is None:
        return clause
    return and_(clause, Checkout.user_id == user_id if user_id is not None else false())


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


@built_once
def _employer_grants():
    """An employer user's grants of one group, with the group (`group_scope`, every page)."""
    return (
        select(EmployerGroup, UserGroupAccess.subgroup_id)
        .join(UserGroupAccess, UserGroupAccess.group_id == EmployerGroup.id)
        .where(
            EmployerGroup.id == bindparam("group_id"),
            UserGroupAccess.user_id == bindparam("user_id"),
        )
    )


_REMEMBERED_GRANTS = "access.remembered_grants"


def remember_grants(
    session: Session, user_id: int, group_id: int, grants: list[tuple[EmployerGroup, int | None]]
) -> None:
    """An employer's grants of a group (the group, the granted subgroup or None for the whole
    group; none: no access) read with the login's user (`users.second_factor.load_user`),
    for the next `group_scope` of this session to use instead of reading them again."""
    session.info[_REMEMBERED_GRANTS] = (user_id, group_id, grants)


def _take_remembered_grants(session: Session, user_id: int, group_id: int) -> list | None:
    """The grants `remember_grants` kept for this user and group, once (a request that
    changes access and asks again reads them anew); None when none were kept."""
    kept = session.info.pop(_REMEMBERED_GRANTS, None)
    if kept is None or kept[:2] != (user_id, group_id):
        return None
    return kept[2]


def group_scope(
    session: Session,
    user: User,
    group_id: int,
    on: date,
    authority_limit: Decimal = DEFAULT_AUTHORITY_LIMIT,
) -> GroupScope | None:
    """The user's view of one group, or None when they may not see it at all; its questions
    about money decisions measure against `authority_limit`. One statement: an employer's
    grants of the group (its visibility and their subgroups) are read with it."""
    subgroup_ids: frozenset[int] | None = None
    if user.role is Role.EMPLOYER:
        granted = _take_remembered_grants(session, user.id, group_id)
        if granted is None:
            granted = session.execute(
                _employer_grants(), {"group_id": group_id, "user_id": user.id}
            ).all()
        if not granted:
            return None
        group = granted[0][0]
        grants = [subgroup_id for _, subgroup_id in granted]
        if None not in grants:
            subgroup_ids = frozenset(grants)
    else:
        group = session.scalar(
            select(EmployerGroup).where(
                EmployerGroup.id == group_id, EmployerGroup.id.in_(visible_group_ids(user, on))
            )
        )
        if group is None:
            return None
    return GroupScope(
        group=group,
        subgroup_ids=subgroup_ids,
        shows_member_pii=user.role is not Role.BROKER,
        user_id=user.id,
        powers=Powers(user, authority_limit),
    )
