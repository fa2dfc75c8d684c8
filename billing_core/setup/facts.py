"""What the database already holds that a set-up document names: `DbFacts` (codes and keys a
reference may resolve to while checking) and `Existing` (the rows an import updates in place,
matched on natural keys). Each is loaded in a few queries for the whole document."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from billing_core.models import (
    BenefitClass,
    BillingSubgroup,
    Broker,
    BrokerAgency,
    Dependent,
    EmployerGroup,
    Member,
    Plan,
    Product,
    RateVersion,
    User,
)
from billing_core.models.collections import DelinquencyPlan
from billing_core.models.enums import RatingBasis


@dataclass
class DbFacts:
    """What the database already holds that the document may refer to."""

    product_basis: dict[str, RatingBasis] = field(default_factory=dict)
    agencies: set[str] = field(default_factory=set)
    broker_agency: dict[str, str] = field(default_factory=dict)  # npn -> agency code
    group_plans: dict[str, dict[str, str]] = field(default_factory=dict)  # num -> plan -> product
    group_subgroups: dict[str, set[str]] = field(default_factory=dict)
    group_classes: dict[str, set[str]] = field(default_factory=dict)
    # group number -> member key -> dependent keys
    member_dependents: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    # The delinquency plans' codes (None: not known, the document is checked without a session).
    delinquency_plans: set[str] | None = None

    @classmethod
    def load(cls, session: Session | None, doc: Any) -> DbFacts:
        facts = cls()
        if session is None or not isinstance(doc, dict):
            return facts
        facts.product_basis = dict(
            session.execute(select(Product.code, Product.rating_basis)).all()
        )
        facts.agencies = set(session.scalars(select(BrokerAgency.code)))
        facts.delinquency_plans = set(session.scalars(select(DelinquencyPlan.code).distinct()))
        facts.broker_agency = dict(
            session.execute(select(Broker.npn, BrokerAgency.code).join(Broker.agency)).all()
        )
        numbers = set()
        for g in doc.get("groups") or []:
            if isinstance(g, dict) and g.get("group_number") is not None:
                numbers.add(str(g["group_number"]))
        for u in doc.get("users") or []:
            for ref in (u.get("groups") or []) if isinstance(u, dict) else []:
                num = ref.get("group") if isinstance(ref, dict) else ref
                if num is not None:
                    numbers.add(str(num))
        if not numbers:
            return facts
        groups = dict(
            session.execute(
                select(EmployerGroup.group_number, EmployerGroup.id).where(
                    EmployerGroup.group_number.in_(numbers)
                )
            ).all()
        )
        number_of = {gid: num for num, gid in groups.items()}
        for num in groups:
            facts.group_plans[num] = {}
            facts.group_subgroups[num] = set()
            facts.group_classes[num] = set()
        ids = list(groups.values())
        for gid, code, product in session.execute(
            select(Plan.group_id, Plan.code, Product.code)
            .join(Product, Plan.product_id == Product.id)
            .where(Plan.group_id.in_(ids))
        ):
            facts.group_plans[number_of[gid]][code] = product
        for gid, code in session.execute(
            select(BillingSubgroup.group_id, BillingSubgroup.code).where(
                BillingSubgroup.group_id.in_(ids)
            )
        ):
            facts.group_subgroups[number_of[gid]].add(code)
        for gid, code in session.execute(
            select(BenefitClass.group_id, BenefitClass.code).where(BenefitClass.group_id.in_(ids))
        ):
            facts.group_classes[number_of[gid]].add(code)
        for gid, member_key, dep_key in session.execute(
            select(Member.group_id, Member.member_key, Dependent.dependent_key)
            .join(Dependent, Dependent.member_id == Member.id)
            .where(Member.group_id.in_(ids))
        ):
            known = facts.member_dependents.setdefault(number_of[gid], {})
            known.setdefault(member_key, set()).add(dep_key)
        return facts


@dataclass
class Existing:
    """Rows already in the database that the document's natural keys can match."""

    products: dict[str, Product]
    agencies: dict[str, BrokerAgency]
    brokers: dict[str, Broker]
    groups: dict[str, EmployerGroup]
    plans: dict[tuple[int, str], Plan]
    users: dict[str, User]

    @classmethod
    def load(cls, session: Session, norm: dict) -> Existing:
        numbers = {g["group_number"] for g in norm["groups"]}
        numbers |= {num for u in norm["users"] for num, _ in u.get("groups", [])}
        groups = {
            g.group_number: g
            for g in session.scalars(
                select(EmployerGroup).where(EmployerGroup.group_number.in_(numbers))
            )
        }
        plans = {
            (p.group_id, p.code): p
            for p in session.scalars(
                select(Plan)
                .where(Plan.group_id.in_([g.id for g in groups.values()]))
                .options(
                    selectinload(Plan.rate_versions).selectinload(RateVersion.tier_rates),
                    selectinload(Plan.rate_versions).selectinload(RateVersion.age_bands),
                    selectinload(Plan.rate_versions).selectinload(RateVersion.age_reductions),
                )
            )
        }
        emails = [u["email"] for u in norm["users"]]
        return cls(
            products={p.code: p for p in session.scalars(select(Product))},
            agencies={a.code: a for a in session.scalars(select(BrokerAgency))},
            brokers={b.npn: b for b in session.scalars(select(Broker))},
            groups=groups,
            plans=plans,
            users={
                u.email: u
                for u in session.scalars(
                    select(User)
                    .where(User.email.in_(emails))
                    .options(selectinload(User.group_access))
                )
            },
        )
