"""The groups of a set-up document: each employer group keyed on its group number, with its
billing policies (effective-dated, never overlapping), subgroups, benefit classes and brokers of
record; then its plans (plans.py) and members (members.py), which may only name what the group
has."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core.collections.plans import DEFAULT_CODE, default_plan, set_group_plan
from billing_core.collections.watchlist import setup_warnings
from billing_core.db import utcnow
from billing_core.models import (
    BenefitClass,
    BillingPolicy,
    BillingSubgroup,
    BrokerOfRecord,
    EmployerGroup,
)
from billing_core.models.collections import GroupDelinquencyPlan
from billing_core.models.enums import (
    BillingFrequency,
    BillingMethod,
    CoverageMonthRule,
    CreditPolicy,
    GraceDayKind,
    PayrollFrequency,
    RatingBasis,
    SubgroupKind,
    ToleranceRule,
)
from billing_core.setup.document import Checker, field_spec, join_path
from billing_core.setup.facts import DbFacts, Existing
from billing_core.setup.invoice_templates import check_invoice_template, write_invoice_template
from billing_core.setup.members import check_members, write_members
from billing_core.setup.plans import check_plans, write_plans
from billing_core.setup.writing import ImportSummary, upsert

GROUP_FIELDS = (
    field_spec("group_number", required=True, max_len=20),
    field_spec("name", required=True, max_len=200),
    field_spec("tax_id", "strict_text", required=True, max_len=10),
    field_spec("original_effective_date", "date", required=True),
    field_spec("renewal_month", "int", minimum=1, maximum=12),
    field_spec("contact_email", "email", max_len=254),
    field_spec("state", "strict_text", max_len=2),
    # The billing contact and the mailing/billing address (issue 22, item 1).
    field_spec("contact_name", max_len=200),
    field_spec("contact_phone", "phone", max_len=30),
    field_spec("address_line1", max_len=200),
    field_spec("address_line2", max_len=200),
    field_spec("city", max_len=100),
    field_spec("address_state", "us_state"),
    field_spec("zip", "zip", column="zip_code"),
    # The delinquency plan: "state" (the state's plan, else the default), or a plan's code
    # ("standard" is the default plan); kept as the group's own plan (collections/plans.py).
    field_spec("delinquency_plan", max_len=30),
)
POLICY_FIELDS = (
    field_spec("effective_from", "date", required=True),
    field_spec("effective_to", "date"),
    field_spec("billing_method", "enum", required=True, enum=BillingMethod),
    field_spec("billing_frequency", "enum", required=True, enum=BillingFrequency),
    field_spec("lead_days", "int", minimum=0, maximum=90),
    field_spec("tolerance_amount", "money", minimum=0, nullable=False),
    field_spec("tolerance_percent", "money", minimum=0, maximum=100, nullable=False),
    field_spec("tolerance_rule", "enum", enum=ToleranceRule),
    field_spec("retro_add_days", "int", minimum=0),
    field_spec("retro_term_days", "int", minimum=0),
    field_spec("retro_change_days", "int", minimum=0),
    field_spec("coverage_month_rule", "enum", enum=CoverageMonthRule),
    field_spec("grace_days", "int", minimum=0),
    field_spec("grace_day_kind", "enum", enum=GraceDayKind),
    field_spec("payroll_frequency", "enum", enum=PayrollFrequency),
    field_spec("credit_policy", "enum", enum=CreditPolicy),
)
SUBGROUP_FIELDS = (
    field_spec("code", required=True, max_len=20),
    field_spec("name", required=True, max_len=200),
    field_spec("kind", "enum", required=True, enum=SubgroupKind),
    field_spec("bill_separately", "bool"),
)
CLASS_FIELDS = (
    field_spec("code", required=True, max_len=20),
    field_spec("name", required=True, max_len=200),
)
BOR_FIELDS = (
    field_spec("agency", required=True, max_len=20),
    field_spec("writing_broker", max_len=20),
    field_spec("effective_from", "date", required=True),
    field_spec("effective_to", "date"),
    field_spec(
        "commission_split_percent", "money", minimum=Decimal("0.01"), maximum=100, nullable=False
    ),
)


def check_groups(
    c: Checker,
    doc: dict,
    facts: DbFacts,
    product_basis: dict[str, RatingBasis],
    agencies: set[str],
    broker_agency: dict[str, str],
) -> tuple[list[dict], dict[str, set[str]]]:
    """The groups read from `doc`, and the subgroup codes of every group a user may be given
    (the document's groups and the database's)."""
    group_subgroups: dict[str, set[str]] = {}
    rows = []
    for path, item in c.items(doc, "groups", ""):
        values = check_group(c, item, path, facts, product_basis, agencies, broker_agency)
        if values is None:
            continue
        rows.append((path, values))
        num = values.get("group_number")
        if num:
            group_subgroups[num] = {s["code"] for s in values["subgroups"] if s.get("code")} | (
                facts.group_subgroups.get(num, set())
            )
    c.unique(rows, "group_number", "group number")
    for num, codes in facts.group_subgroups.items():
        group_subgroups.setdefault(num, codes)
    return [v for _, v in rows], group_subgroups


def check_group(
    c: Checker,
    item: dict,
    path: str,
    facts: DbFacts,
    product_basis: dict[str, RatingBasis],
    agencies: set[str],
    broker_agency: dict[str, str],
) -> dict | None:
    """One group document `item` at `path`, its nested sections read and their references
    resolved (agencies and brokers of record, classes, subgroups, plans); None when `item` is
    not a mapping."""
    values = c.read(
        item,
        path,
        GROUP_FIELDS,
        nested=(
            "billing_policies",
            "subgroups",
            "classes",
            "brokers_of_record",
            "plans",
            "members",
            "invoice_template",
        ),
    )
    if values is None:
        return None
    num = values.get("group_number")
    check_address(c, values, path)
    check_delinquency_plan(c, values, path, facts)
    values["invoice_template"] = check_invoice_template(c, item, path)

    policies = []
    for ppath, pitem in c.items(item, "billing_policies", path):
        pvalues = c.read(pitem, ppath, POLICY_FIELDS)
        if pvalues is not None:
            c.date_range(pvalues, ppath)
            policies.append((ppath, pvalues))
    c.unique(policies, "effective_from", "billing policy effective date")
    c.no_overlap(policies, "billing policy")
    values["billing_policies"] = [v for _, v in policies]

    subgroups = [
        (p, v)
        for p, i in c.items(item, "subgroups", path)
        if (v := c.read(i, p, SUBGROUP_FIELDS)) is not None
    ]
    c.unique(subgroups, "code", "subgroup code")
    values["subgroups"] = [v for _, v in subgroups]
    subgroup_codes = {v["code"] for v in values["subgroups"] if v.get("code")}
    subgroup_codes |= facts.group_subgroups.get(num, set())

    classes = [
        (p, v)
        for p, i in c.items(item, "classes", path)
        if (v := c.read(i, p, CLASS_FIELDS)) is not None
    ]
    c.unique(classes, "code", "class code")
    values["classes"] = [v for _, v in classes]
    class_codes = {v["code"] for v in values["classes"] if v.get("code")}
    class_codes |= facts.group_classes.get(num, set())

    bors = []
    for bpath, bitem in c.items(item, "brokers_of_record", path):
        bvalues = c.read(bitem, bpath, BOR_FIELDS)
        if bvalues is None:
            continue
        c.date_range(bvalues, bpath)
        agency = bvalues.get("agency")
        if agency is not None and agency not in agencies:
            c.error(join_path(bpath, "agency"), "no broker agency with this code", agency)
        npn = bvalues.get("writing_broker")
        if npn is not None:
            if npn not in broker_agency:
                c.error(join_path(bpath, "writing_broker"), "no broker with this NPN", npn)
            elif agency is not None and broker_agency[npn] != agency:
                c.error(
                    join_path(bpath, "writing_broker"),
                    f"this broker is not with agency {agency}",
                    npn,
                )
        bors.append((bpath, bvalues))
    values["brokers_of_record"] = [v for _, v in bors]

    values["plans"], plan_basis = check_plans(
        c, item, path, facts.group_plans.get(num, {}), product_basis, class_codes
    )
    values["members"] = check_members(
        c,
        item,
        path,
        facts.member_dependents.get(num, {}),
        subgroup_codes,
        class_codes,
        plan_basis,
    )
    return values


ADDRESS_PARTS = ("address_line1", "address_line2", "city", "address_state", "zip_code")
ADDRESS_NEEDED = {"address_line1": "address_line1", "city": "city",
                  "address_state": "address_state", "zip_code": "zip"}  # fmt: skip
STATE_PLAN = "state"


def check_address(c: Checker, values: dict, path: str) -> None:
    """An address is whole or absent: once any part is given, the first line, city, state and
    ZIP are required (an explicit null of every part clears it)."""
    if any(values.get(part) for part in ADDRESS_PARTS):
        for attr, name in ADDRESS_NEEDED.items():
            if not values.get(attr) and join_path(path, name) not in {e.row for e in c.errors}:
                c.error(join_path(path, name), "required with the rest of the address")


def check_delinquency_plan(c: Checker, values: dict, path: str, facts: DbFacts) -> None:
    """`delinquency_plan` is "state" (the state's plan, else the default), "standard" (the
    default plan, made on first use) or the code of a plan the database holds."""
    code = values.get("delinquency_plan")
    if code in (None, STATE_PLAN, DEFAULT_CODE) or facts.delinquency_plans is None:
        return
    if code not in facts.delinquency_plans:
        c.error(
            join_path(path, "delinquency_plan"),
            f'no delinquency plan with this code; use "{STATE_PLAN}", "{DEFAULT_CODE}" or the '
            "code of an existing plan",
            code,
        )


def write_delinquency_plan(
    session: Session, group: EmployerGroup, code: str, created: bool, summary: ImportSummary
) -> None:
    """The group's own delinquency plan from its effective date (a new group) or from today (a
    live one; the past is never rewritten): "state" ends its own plan, any other code starts
    one (collections/plans.py::set_group_plan) unless that plan already governs it."""
    today = utcnow().date()
    start = group.original_effective_date if created else max(today, group.original_effective_date)
    own = session.scalar(
        select(GroupDelinquencyPlan)
        .where(GroupDelinquencyPlan.group_id == group.id)
        .where(
            (GroupDelinquencyPlan.effective_to.is_(None))
            | (GroupDelinquencyPlan.effective_to >= start)
        )
        .order_by(GroupDelinquencyPlan.effective_from.desc())
        .limit(1)
    )
    if code == STATE_PLAN:
        if own is None:
            summary.count("delinquency_plans", "unchanged")
            return
        if own.effective_from >= start:
            session.delete(own)  # never in force yet: nothing of the past is changed
        else:
            own.effective_to = start - timedelta(days=1)
        summary.count("delinquency_plans", "updated")
        return
    if own is not None and own.plan_code == code and own.effective_to is None:
        summary.count("delinquency_plans", "unchanged")
        return
    if code == DEFAULT_CODE:
        default_plan(session, start)
    if own is not None and own.effective_from >= start:
        own.plan_code = code  # chosen again before it began: the same row, another plan
        own.effective_to = None
        summary.count("delinquency_plans", "updated")
        return
    set_group_plan(session, group, code, start, reason="group set-up")
    summary.count("delinquency_plans", "created")


# What a billing policy holds that the document does not say (set elsewhere): a new version of
# a live group's policy carries it over from the version before, rather than the defaults.
CARRIED_POLICY_COLUMNS = ("short_pay_policy", "returned_payment_fee")


def _carried(policies: dict, values: dict) -> dict:
    """For a policy not yet written: the columns the document does not give, from the latest
    existing policy starting before it (nothing for the group's first policy)."""
    if values["effective_from"] in policies:
        return {}
    before = [p for start, p in policies.items() if start < values["effective_from"]]
    if not before:
        return {}
    previous = max(before, key=lambda p: p.effective_from)
    return {c: getattr(previous, c) for c in CARRIED_POLICY_COLUMNS if c not in values}


def write_group(session: Session, g: dict, state: Existing, summary: ImportSummary) -> None:
    """Create or update one checked group with everything under it."""
    nested = (
        "billing_policies",
        "subgroups",
        "classes",
        "brokers_of_record",
        "plans",
        "members",
        "delinquency_plan",
        "invoice_template",
    )
    group, outcome = upsert(
        session, summary, "groups", state.groups, g["group_number"], g, EmployerGroup, skip=nested
    )
    if outcome == "created":
        session.flush()
        policies, subgroups, classes, bors = {}, {}, {}, {}
    else:
        gid = group.id
        policies = {
            p.effective_from: p
            for p in session.scalars(select(BillingPolicy).where(BillingPolicy.group_id == gid))
        }
        subgroups = {
            s.code: s
            for s in session.scalars(select(BillingSubgroup).where(BillingSubgroup.group_id == gid))
        }
        classes = {
            k.code: k
            for k in session.scalars(select(BenefitClass).where(BenefitClass.group_id == gid))
        }
        bors = {
            (b.agency_id, b.effective_from): b
            for b in session.scalars(select(BrokerOfRecord).where(BrokerOfRecord.group_id == gid))
        }

    for values in g["billing_policies"]:
        upsert(
            session,
            summary,
            "billing_policies",
            policies,
            values["effective_from"],
            values,
            BillingPolicy,
            group_id=group.id,
            **_carried(policies, values),
        )
    for values in g["subgroups"]:
        upsert(
            session,
            summary,
            "subgroups",
            subgroups,
            values["code"],
            values,
            BillingSubgroup,
            group_id=group.id,
        )
    for values in g["classes"]:
        upsert(
            session,
            summary,
            "classes",
            classes,
            values["code"],
            values,
            BenefitClass,
            group_id=group.id,
        )
    for values in g["brokers_of_record"]:
        agency = state.agencies[values["agency"]]
        row = {
            "agency_id": agency.id,
            "effective_from": values["effective_from"],
        }
        if "effective_to" in values:
            row["effective_to"] = values["effective_to"]
        if "writing_broker" in values:
            npn = values["writing_broker"]
            row["writing_broker_id"] = state.brokers[npn].id if npn else None
        if "commission_split_percent" in values:
            row["commission_split_percent"] = values["commission_split_percent"]
        upsert(
            session,
            summary,
            "brokers_of_record",
            bors,
            (agency.id, values["effective_from"]),
            row,
            BrokerOfRecord,
            group_id=group.id,
        )
    session.flush()
    if g.get("delinquency_plan"):
        write_delinquency_plan(session, group, g["delinquency_plan"], outcome == "created", summary)
    plans = write_plans(session, group, g["plans"], state, classes, summary)
    session.flush()

    if g["members"]:
        write_members(session, group, g["members"], plans, subgroups, classes, summary)
    write_invoice_template(session, group, g.get("invoice_template"))


def warn_watched(session: Session, groups: list[dict], summary: ImportSummary, on: date) -> None:
    """Add a warning to `summary` for each group of the document (set up or renewed) whose tax id
    is on the credit-control watchlist on `on`: a warning, never a refusal."""
    named = [(g["group_number"], g["name"], g["tax_id"]) for g in groups if g.get("tax_id")]
    summary.warnings.extend(setup_warnings(session, named, on))
