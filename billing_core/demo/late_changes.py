"""Enrollment changes the demo's employers reported late (a termination, a new hire, a marriage,
a termination in a separately billed subgroup): each applied on its report date through the
set-up import, its premium differences for the months already billed queued as adjustments
the next invoice carries in its retro section."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from billing_core.billing.adjustments import record_past_differences
from billing_core.billing.enrollment import add_months, month_end
from billing_core.demo.book import DEMO_SOURCE, FEMALE, GROUPS, LAST, MALE
from billing_core.demo.document import DocumentBuilder
from billing_core.demo.logins import SPECIALIST_EMAIL, SUPERVISOR_EMAIL
from billing_core.models import EmployerGroup, Member
from billing_core.setup import import_setup


@dataclass(frozen=True)
class LateChange:
    """An enrollment change the employer reported after bills it touches were issued. On the
    report date (`days_after_bill` after the group's previous invoice) the change is applied as
    an approved change file would apply it, and the premium difference of each month from
    `first_wrong_month` up to the month before `bills_on` becomes an approved adjustment."""

    group_number: str
    member: dict  # the member as the change reports it, in the set-up document's shape
    first_wrong_month: date
    bills_on: date
    days_after_bill: int
    reason_code: str
    source_type: str
    note: str


def _steady_member(
    group: dict, since: date, needs: set[str], *, subgroup: str | None = None, single=False
) -> dict | None:
    """The first active member of the group document covered since before `since` with no end
    date, in every plan of `needs` (in `subgroup`; without dependents when `single`)."""
    for member in group["members"]:
        coverages = member["coverages"]
        if (
            member["status"] == "active"
            and (subgroup is None or member.get("subgroup") == subgroup)
            and not (single and member.get("dependents"))
            and needs <= {c["plan"] for c in coverages}
            and all("effective_to" not in c for c in coverages)
            and all(date.fromisoformat(c["effective_from"]) < since for c in coverages)
        ):
            return member
    return None


def late_changes(document: dict, book: DocumentBuilder, last_month: date) -> list[LateChange]:
    """Four late-reported changes in four groups, placed against the last billed month so the
    most recent invoices carry them: a termination credited on a list bill, a new hire debited,
    a marriage (EE to ES) on a self-billed group, and a termination in a separately billed
    subgroup. Built from the document and the book's seeded random, so deterministic."""
    groups = {g["group_number"]: g for g in document["groups"]}
    names = {spec.number: spec.name for spec in GROUPS}
    changes = []
    since = book.window_start

    def month(offset: int) -> date:
        return add_months(last_month, offset)

    def terminated(member: dict, ends: date) -> dict:
        member = copy.deepcopy(member)
        member["status"] = "terminated"
        for coverage in member["coverages"]:
            coverage["effective_to"] = ends.isoformat()
        return member

    # A list-billed termination reported after two more bills went out: credited on the next.
    found = _steady_member(groups["G-1005"], since, {"MED", "DEN", "LIFE"})
    if found is not None:
        ends = month_end(month(-3))
        changes.append(
            LateChange(
                "G-1005",
                terminated(found, ends),
                first_wrong_month=month(-2),
                bills_on=month(0),
                days_after_bill=7,
                reason_code="late_term",
                source_type="upload",
                note=(
                    f"Change file from {names['G-1005']} HR: {found['first_name']} "
                    f"{found['last_name']} terminated {ends:%b %d, %Y}, reported after the "
                    f"{month(-2):%B} and {month(-1):%B} bills. Within the 60-day term window."
                ),
            )
        )

    # A new hire covered from the first of a month and reported after two bills.
    group = groups["G-1007"]
    rng = book.rng
    book.member_seq += 1
    starts = month(-3)
    first, last = rng.choice(FEMALE), rng.choice(LAST)
    hire = starts - timedelta(days=45)
    spouse = {
        "dependent_key": "01",
        "first_name": rng.choice(MALE),
        "last_name": last,
        "relationship": "spouse",
        "birth_date": book.birth_date(36, 36).isoformat(),
        "gender": "M",
        "ssn": book.ssn(),
    }
    plans = {p["code"] for p in group["plans"]}
    coverages = [
        {"plan": code, "effective_from": starts.isoformat(), "tier": "ES", "dependents": ["01"]}
        for code in ("MED", "DEN", "VIS")
    ] + [
        {"plan": code, "effective_from": starts.isoformat()}
        for code in ("LIFE", "ADD", "STD", "LTD")
        if code in plans
    ]
    new_hire = {
        "member_key": f"M{book.member_seq:07d}",
        "employee_id": f"{group['group_number'][-4:]}-{len(group['members']) + 1:05d}",
        "first_name": first,
        "last_name": last,
        "ssn": book.ssn(),
        "birth_date": book.birth_date(34, 34).isoformat(),
        "gender": "F",
        "hire_date": hire.isoformat(),
        "status": "active",
        "postal_code": "94110",
        "annual_salary": "64250.00",
        "class": "SAL",
        "dependents": [spouse],
        "coverages": coverages,
    }
    changes.append(
        LateChange(
            "G-1007",
            new_hire,
            first_wrong_month=month(-3),
            bills_on=month(-1),
            days_after_bill=7,
            reason_code="late_add",
            source_type="upload",
            note=(
                f"Change file from {names['G-1007']} HR: {first} {last}, hired "
                f"{hire:%b %d, %Y}, covered from {starts:%b %d, %Y} with spouse; the add came "
                f"after the {month(-3):%B} and {month(-2):%B} bills. Within the 60-day add window."
            ),
        )
    )

    # A marriage on a self-billed group: EE to ES from the first of the next month, found when
    # the remittance was reconciled after two bills at EE.
    found = _steady_member(groups["G-1004"], since, {"MED", "DEN"}, single=True)
    if found is not None:
        member = copy.deepcopy(found)
        effective = month(-2)
        member["dependents"] = [
            {
                "dependent_key": "01",
                "first_name": rng.choice(FEMALE if member["gender"] == "M" else MALE),
                "last_name": member["last_name"],
                "relationship": "spouse",
                "birth_date": book.birth_date(30, 30).isoformat(),
                "gender": "F" if member["gender"] == "M" else "M",
                "ssn": book.ssn(),
                "effective_from": effective.isoformat(),
            }
        ]
        opened = []
        for coverage in member["coverages"]:
            if "tier" in coverage:
                coverage["effective_to"] = month_end(month(-3)).isoformat()
                opened.append(
                    {
                        "plan": coverage["plan"],
                        "effective_from": effective.isoformat(),
                        "tier": "ES",
                        "dependents": ["01"],
                    }
                )
        member["coverages"] += opened
        changes.append(
            LateChange(
                "G-1004",
                member,
                first_wrong_month=effective,
                bills_on=month(0),
                days_after_bill=9,
                reason_code="tier_change",
                source_type="manual",
                note=(
                    f"{names['G-1004']} remittance: {member['first_name']} "
                    f"{member['last_name']} married; ES from {effective:%b %d, %Y}, "
                    f"billed EE on the {month(-2):%B} and {month(-1):%B} bills."
                ),
            )
        )

    # A termination in the separately billed distribution center: credited on its own bill.
    found = _steady_member(groups["G-1008"], since, {"MED"}, subgroup="DC")
    if found is not None:
        ends = month_end(month(-4))
        changes.append(
            LateChange(
                "G-1008",
                terminated(found, ends),
                first_wrong_month=month(-3),
                bills_on=month(-1),
                days_after_bill=8,
                reason_code="late_term",
                source_type="upload",
                note=(
                    f"Change file from {names['G-1008']} (Fort Worth distribution center): "
                    f"{found['first_name']} {found['last_name']} terminated {ends:%b %d, %Y}, "
                    f"reported after the {month(-3):%B} and {month(-2):%B} bills."
                ),
            )
        )
    return changes


def report_late_change(
    session: Session, document: dict, change: LateChange, reported_on: date, staff: dict
) -> int:
    """Apply the change as of `reported_on` (a set-up import of the one member, by the billing
    specialist) and queue its premium differences as adjustments approved by the supervisor the
    next morning. Returns how many adjustments were created (none when already made)."""
    group_doc = next(g for g in document["groups"] if g["group_number"] == change.group_number)
    specialist, supervisor = staff.get(SPECIALIST_EMAIL), staff.get(SUPERVISOR_EMAIL)
    doc = {
        "groups": [
            {
                **{
                    key: group_doc[key]
                    for key in ("group_number", "name", "tax_id", "original_effective_date")
                },
                "members": [change.member],
            }
        ]
    }
    import_setup(session, doc, actor=specialist, source=f"{DEMO_SOURCE}: change {reported_on}")
    group = session.scalars(
        select(EmployerGroup)
        .where(EmployerGroup.group_number == change.group_number)
        .options(selectinload(EmployerGroup.policies))
    ).one()
    member = session.scalars(
        select(Member).where(
            Member.group_id == group.id, Member.member_key == change.member["member_key"]
        )
    ).one()
    months = []
    month = change.first_wrong_month
    while month < change.bills_on:
        months.append(month)
        month = add_months(month, 1)
    requested_at = datetime.combine(reported_on, time(15, 40), UTC)
    made = record_past_differences(
        session,
        group,
        member,
        months,
        reason_code=change.reason_code,
        source_type=change.source_type,
        requested_by_id=specialist.id if specialist else None,
        approved_by_id=supervisor.id if supervisor else None,
        requested_at=requested_at,
        approved_at=requested_at + timedelta(hours=18, minutes=25),
        note=change.note,
    )
    session.flush()
    return len(made)
