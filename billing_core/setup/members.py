"""The members of a group in a set-up document: each keyed on its member key, with dependents
(keyed under the member) and coverages (a plan from a date, with the dependents it covers).
SSNs are checked without ever being echoed back, and stored encrypted with a digest exactly as
`Member.set_ssn` stores them. New rows go in as bulk INSERTs: a big group has thousands."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, selectinload

from billing_core.models import (
    BenefitClass,
    BillingSubgroup,
    Coverage,
    CoveredDependent,
    Dependent,
    EmployerGroup,
    Member,
    Plan,
)
from billing_core.models.enums import Gender, MemberStatus, RatingBasis, Relationship, Tier
from billing_core.models.member import HasSsn
from billing_core.security import matches_people, nine_digits, vault
from billing_core.setup.document import Checker, field_spec, join_path
from billing_core.setup.writing import ImportSummary, apply_values, without

MEMBER_FIELDS = (
    field_spec("member_key", required=True, max_len=20),
    field_spec("employee_id", "strict_text", max_len=40),
    field_spec("first_name", required=True, max_len=100),
    field_spec("last_name", required=True, max_len=100),
    field_spec("ssn", "ssn"),
    field_spec("birth_date", "date", required=True),
    field_spec("gender", "enum", enum=Gender),
    field_spec("hire_date", "date"),
    field_spec("annual_salary", "money", minimum=0),
    field_spec("status", "enum", enum=MemberStatus),
    field_spec("subgroup", max_len=20),
    field_spec("class", max_len=20),
    field_spec("postal_code", "strict_text", max_len=10),
)
DEPENDENT_FIELDS = (
    field_spec("dependent_key", "strict_text", required=True, max_len=4),
    field_spec("first_name", required=True, max_len=100),
    field_spec("last_name", required=True, max_len=100),
    field_spec(
        "relationship", "enum", required=True, enum=Relationship, column="relationship_to_member"
    ),
    field_spec("birth_date", "date", required=True),
    field_spec("gender", "enum", enum=Gender),
    field_spec("ssn", "ssn"),
    field_spec("effective_from", "date"),
    field_spec("effective_to", "date"),
)
COVERAGE_FIELDS = (
    field_spec("plan", required=True, max_len=20),
    field_spec("tier", "enum", enum=Tier),
    field_spec("elected_volume", "money", minimum=0),
    field_spec("effective_from", "date", required=True),
    field_spec("effective_to", "date"),
)


def check_members(
    c: Checker,
    item: dict,
    path: str,
    known_dependents: dict[str, set[str]],
    subgroup_codes: set[str],
    class_codes: set[str],
    plan_basis: dict[str, RatingBasis | None],
) -> list[dict]:
    """The members of one group document `item` at `path`, each with its `dependents` and
    `coverages`. A reference must resolve in the group: its subgroups and classes, its plans
    (`plan_basis`: a tiered plan needs the tier), and the member's dependents (those in the
    document and `known_dependents`, the database's by member key)."""
    members = []
    employee_ids = []
    for mpath, mitem in c.items(item, "members", path):
        mvalues = c.read(mitem, mpath, MEMBER_FIELDS, nested=("dependents", "coverages"))
        if mvalues is None:
            continue
        sub = mvalues.get("subgroup")
        if sub is not None and sub not in subgroup_codes:
            c.error(join_path(mpath, "subgroup"), "no such subgroup in this group", sub)
        klass = mvalues.get("class")
        if klass is not None and klass not in class_codes:
            c.error(join_path(mpath, "class"), "no such class in this group", klass)
        deps = [
            (p, v)
            for p, i in c.items(mitem, "dependents", mpath)
            if (v := c.read(i, p, DEPENDENT_FIELDS)) is not None
        ]
        for dpath, dvalues in deps:
            c.date_range(dvalues, dpath)
        c.unique(deps, "dependent_key", "dependent key")
        mvalues["dependents"] = [v for _, v in deps]
        dep_keys = {v["dependent_key"] for v in mvalues["dependents"] if v.get("dependent_key")}
        dep_keys |= known_dependents.get(mvalues.get("member_key"), set())
        coverages = []
        for cpath, citem in c.items(mitem, "coverages", mpath):
            cvalues = c.read(citem, cpath, COVERAGE_FIELDS, nested=("dependents",))
            if cvalues is None:
                continue
            c.date_range(cvalues, cpath)
            plan = cvalues.get("plan")
            if plan is not None:
                if plan not in plan_basis:
                    c.error(join_path(cpath, "plan"), "no plan with this code in the group", plan)
                elif plan_basis[plan] == RatingBasis.TIERED_COMPOSITE and not cvalues.get("tier"):
                    c.error(
                        join_path(cpath, "tier"),
                        "a tiered plan needs the member's tier (EE, ES, EC or FAM)",
                    )
            keys = []
            for kpath, key in c.items(citem, "dependents", cpath):
                if not isinstance(key, str):
                    c.error(kpath, "expected a dependent_key as quoted text such as '01'", key)
                elif key not in dep_keys:
                    c.error(kpath, "no dependent with this key under the member", key)
                else:
                    keys.append(key)
            if len(set(keys)) != len(keys):
                c.error(join_path(cpath, "dependents"), "a dependent is listed twice")
            cvalues["dependents"] = sorted(set(keys))
            coverages.append((cpath, cvalues))
        by_key: dict[tuple, str] = {}
        for cpath, cvalues in coverages:
            key = (cvalues.get("plan"), cvalues.get("effective_from"))
            if None not in key and key in by_key:
                c.error(
                    cpath,
                    f"duplicate coverage for plan {key[0]} from {key[1]:%Y-%m-%d}; "
                    f"first given at {by_key[key]}",
                )
            by_key[key] = cpath
        mvalues["coverages"] = [v for _, v in coverages]
        members.append((mpath, mvalues))
        employee_ids.append((mpath, mvalues))
    c.unique(members, "member_key", "member key")
    c.unique(employee_ids, "employee_id", "employee id")
    return [v for _, v in members]


def write_members(
    session: Session,
    group: EmployerGroup,
    members: list[dict],
    plans: dict[str, Plan],
    subgroups: dict[str, BillingSubgroup],
    classes: dict[str, BenefitClass],
    summary: ImportSummary,
) -> None:
    """Members, dependents and coverages of one group. Existing rows are preloaded in three
    queries and updated through the ORM; new rows go in as bulk INSERTs (one statement per
    table, ids returned in order), since thousands of ORM objects would dominate the time."""
    gid = group.id
    existing = {
        m.member_key: m for m in session.scalars(select(Member).where(Member.group_id == gid))
    }
    dependents: dict[tuple[int, str], Dependent | int] = {}
    coverages: dict[tuple[int, int, date], Coverage] = {}
    if existing:
        for dep in session.scalars(
            select(Dependent)
            .join(Member, Dependent.member_id == Member.id)
            .where(Member.group_id == gid)
        ):
            dependents[(dep.member_id, dep.dependent_key)] = dep
        for cov in session.scalars(
            select(Coverage)
            .join(Member, Coverage.member_id == Member.id)
            .where(Member.group_id == gid)
            .options(selectinload(Coverage.covered_dependents))
        ):
            coverages[(cov.member_id, cov.plan_id, cov.effective_from)] = cov

    digest = vault().digest
    member_ids: list[int | None] = []
    new_rows, new_at = [], []
    for values in members:
        row = without(values, ("dependents", "coverages", "subgroup", "class", "ssn"))
        if "subgroup" in values:
            row["subgroup_id"] = subgroups[values["subgroup"]].id if values["subgroup"] else None
        if "class" in values:
            row["class_id"] = classes[values["class"]].id if values["class"] else None
        member = existing.get(values["member_key"])
        if member is None:
            new_rows.append({"group_id": gid, **row, **_ssn_columns(values.get("ssn"))})
            new_at.append(len(member_ids))
            member_ids.append(None)
            summary.count("members", "created")
        else:
            changed = apply_values(member, row)
            if "ssn" in values and _ssn_differs(member, values["ssn"], digest):
                member.set_ssn(values["ssn"])
                changed = True
            member_ids.append(member.id)
            summary.count("members", "updated" if changed else "unchanged")
    if new_rows:
        _bulk_insert(session, Member, new_rows)
        ids = dict(
            session.execute(
                select(Member.member_key, Member.id).where(Member.group_id == gid)
            ).all()
        )
        for index in new_at:
            member_ids[index] = ids[members[index]["member_key"]]

    new_rows, new_keys = [], []
    for member_id, values in zip(member_ids, members, strict=True):
        for dvalues in values["dependents"]:
            row = without(dvalues, ("ssn",))
            key = (member_id, dvalues["dependent_key"])
            dep = dependents.get(key)
            if dep is None:
                new_rows.append({"member_id": member_id, **row, **_ssn_columns(dvalues.get("ssn"))})
                new_keys.append(key)
                summary.count("dependents", "created")
            else:
                changed = apply_values(dep, row)
                if "ssn" in dvalues and _ssn_differs(dep, dvalues["ssn"], digest):
                    dep.set_ssn(dvalues["ssn"])
                    changed = True
                summary.count("dependents", "updated" if changed else "unchanged")
    dependent_ids = {key: dep.id for key, dep in dependents.items()}
    if new_rows:
        _bulk_insert(session, Dependent, new_rows)
        for member_id, dep_key, dep_id in session.execute(
            select(Dependent.member_id, Dependent.dependent_key, Dependent.id)
            .join(Member, Dependent.member_id == Member.id)
            .where(Member.group_id == gid)
        ):
            dependent_ids[(member_id, dep_key)] = dep_id

    new_rows, new_covered = [], {}
    for member_id, values in zip(member_ids, members, strict=True):
        for cvalues in values["coverages"]:
            plan = plans[cvalues["plan"]]
            row = without(cvalues, ("plan", "dependents"))
            wanted = {dependent_ids[(member_id, key)] for key in cvalues["dependents"]}
            cov = coverages.get((member_id, plan.id, cvalues["effective_from"]))
            if cov is None:
                new_rows.append({"member_id": member_id, "plan_id": plan.id, **row})
                if wanted:
                    new_covered[(member_id, plan.id, cvalues["effective_from"])] = wanted
                summary.count("coverages", "created")
                continue
            changed = apply_values(cov, row)
            current = {cd.dependent_id: cd for cd in cov.covered_dependents}
            for dep_id in set(current) - wanted:
                cov.covered_dependents.remove(current[dep_id])
                changed = True
            for dep_id in sorted(wanted - set(current)):
                cov.covered_dependents.append(CoveredDependent(dependent_id=dep_id))
                changed = True
            summary.count("coverages", "updated" if changed else "unchanged")
    _bulk_insert(session, Coverage, new_rows)
    if new_covered:
        covered_rows = []
        for cov_id, member_id, plan_id, starts in session.execute(
            select(Coverage.id, Coverage.member_id, Coverage.plan_id, Coverage.effective_from)
            .join(Member, Coverage.member_id == Member.id)
            .where(Member.group_id == gid)
        ):
            for dep_id in sorted(new_covered.get((member_id, plan_id, starts), ())):
                covered_rows.append({"coverage_id": cov_id, "dependent_id": dep_id})
        _bulk_insert(session, CoveredDependent, covered_rows)
    session.flush()


def _bulk_insert(session: Session, model, rows: list[dict]) -> None:
    """One executemany INSERT of `rows` on the session's connection (same transaction).
    Rows are batched by their key set so an absent field takes the column default; ids are read
    back by natural key afterwards (RETURNING many rows in order is slow on SQLite)."""
    batches: dict[frozenset, list[dict]] = {}
    for row in rows:
        batches.setdefault(frozenset(row), []).append(row)
    for batch in batches.values():
        session.connection().execute(insert(model.__table__), batch)


def _ssn_columns(ssn: str | None) -> dict:
    """The stored SSN columns (encrypted, last four, digest) exactly as HasSsn.set_ssn sets them."""
    holder = SimpleNamespace()
    HasSsn.set_ssn(holder, ssn)
    return vars(holder)


def _ssn_differs(row: Member | Dependent, ssn: str | None, digest) -> bool:
    """Whether the stored SSN is not `ssn`: by the matching digest, or for a placeholder
    (stored without one, security.matches_people) by its last four."""
    if ssn is None:
        return row.ssn_digest is not None
    digits = nine_digits(ssn)
    if not matches_people(digits):
        return row.ssn_digest is not None or row.ssn_last4 != digits[-4:]
    return row.ssn_digest != digest(ssn)
