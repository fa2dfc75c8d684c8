"""A group set up on the screens (issue 22, item 1): a draft built step by step and checked by
the SAME rules as the set-up import. The screens keep what was typed per step (`data`, text as
typed); `build_document` turns it into a set-up document in the import's own shape (products and
one group), `check_draft` runs the import's checker on it (`validate_setup_document`) plus what a
live group needs (every plan has rates in force, every class a plan, a billing contact), and
`go_live` writes it through `import_setup`. Every problem names the step, the row and the field.

Steps, in order: group (with its address and billing contact); subgroups; classes; billing
policy; delinquency plan; broker of record; products; plans; rates (each rate version names
its plan).

A draft may also edit a live group (`edits_group_id`, started by billing_core.setup.editing):
the same steps, check and import, with that module's guards (rates read-only, a changed
billing policy from a new date, live rows never removed). A step's fields are the import's own field
specs (groups.py, products.py, plans.py), so a screen cannot accept what the import refuses."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_core.audit import record
from billing_core.db import utcnow
from billing_core.errors import BillingError, ValidationFailed
from billing_core.models import EmployerGroup, Plan, Product, User
from billing_core.models.enums import Tier
from billing_core.models.setup_draft import GroupSetupDraft
from billing_core.setup import import_setup, validate_setup_document
from billing_core.setup.document import FieldSpec, field_spec
from billing_core.setup.editing import LIVE_KEYS, live_row_key, policies_for_edit
from billing_core.setup.groups import (
    BOR_FIELDS,
    CLASS_FIELDS,
    GROUP_FIELDS,
    POLICY_FIELDS,
    SUBGROUP_FIELDS,
)
from billing_core.setup.plans import PLAN_FIELDS, RATE_FIELDS
from billing_core.setup.products import PRODUCT_FIELDS
from billing_core.setup.words import document_words
from billing_core.setup.writing import ImportSummary

__all__ = [
    "STEPS",
    "STEP_BY_KEY",
    "DraftProblem",
    "Step",
    "add_row",
    "check_draft",
    "draft_warnings",
    "draft_step_problems",
    "draft_summary",
    "go_live",
    "known_products",
    "open_drafts",
    "remove_row",
    "save_row",
    "save_step",
    "start_draft",
]

TIER_FIELDS = tuple(field_spec(f"tier_{t.value}", "money") for t in Tier)
RATE_TEXT_FIELDS = (
    field_spec("age_bands", "text"),  # lines "18-29: 12.50"
    field_spec("age_reductions", "text"),  # lines "65: 65"
)


@dataclass(frozen=True)
class Step:
    """One screen of the set-up: `key` in the URL, `title`, its fields (the import's specs) and
    whether it holds a list of rows (subgroups, plans ...) or one mapping (the group)."""

    key: str
    title: str
    fields: tuple[FieldSpec, ...]
    many: bool
    help: str = ""


STEPS: tuple[Step, ...] = (
    Step(
        "group",
        "Group",
        tuple(f for f in GROUP_FIELDS if f.name != "delinquency_plan"),
        False,
        "Who the employer is, its mailing address and its billing contact.",
    ),
    Step("subgroups", "Subgroups", SUBGROUP_FIELDS, True, "Locations or divisions billed."),
    Step("classes", "Classes", CLASS_FIELDS, True, "Benefit classes such as full-time."),
    Step("billing", "Billing policy", POLICY_FIELDS, False, "How and when the group is billed."),
    Step(
        "delinquency",
        "Delinquency plan",
        tuple(f for f in GROUP_FIELDS if f.name == "delinquency_plan"),
        False,
        "What happens when the group pays late: the state's plan (the standard plan where the "
        "state has none), the standard plan, or another plan by its code.",
    ),
    Step("brokers", "Broker of record", BOR_FIELDS, True, "The agency and its dates."),
    Step("products", "Products", PRODUCT_FIELDS, True, "New products (existing ones by code)."),
    Step(
        "plans",
        "Plans",
        tuple(f for f in PLAN_FIELDS if f.name != "effective_to"),
        True,
        "Each plan names its product and, if limited to one, its class.",
    ),
    Step(
        "rates",
        "Rates",
        (field_spec("plan", required=True, max_len=20),)
        + tuple(f for f in RATE_FIELDS)
        + TIER_FIELDS
        + RATE_TEXT_FIELDS,
        True,
        "Rate versions: fill the fields of the plan's rating basis.",
    ),
)
STEP_BY_KEY = {s.key: s for s in STEPS}


@dataclass(frozen=True)
class DraftProblem:
    """One thing wrong with a draft: the step, the row (1-based, None for a one-form step),
    the field (None: the row as a whole) and what is wrong. `waits_for`: the later step that
    supplies what is missing (a class no plan covers yet waits for the Plans step): that step's
    own screens show it as waiting, not as an error; the check page and going live still
    count it."""

    step: str
    row: int | None
    field: str | None
    message: str
    waits_for: str | None = None

    @property
    def waiting(self) -> bool:
        """Is it for a later step to supply (so not wrong on its own step yet)?"""
        return self.waits_for is not None

    def __str__(self) -> str:
        where = STEP_BY_KEY[self.step].title
        if self.row is not None:
            where += f", row {self.row}"
        if self.field:
            where += f", {self.field.replace('_', ' ')}"
        return f"{where}: {self.message}"


@dataclass
class _Built:
    document: dict
    # document path prefix -> (step, row index or None)
    places: list[tuple[str, str, int | None]] = field(default_factory=list)
    problems: list[DraftProblem] = field(default_factory=list)


# --------------------------------------------------------------------------- editing


def start_draft(session: Session, actor: User | None) -> GroupSetupDraft:
    draft = GroupSetupDraft(
        name="",
        group_number="",
        document={s.key: ({} if not s.many else []) for s in STEPS},
        created_by_id=actor.id if actor is not None else None,
    )
    session.add(draft)
    session.flush()
    return draft


def open_drafts(session: Session) -> list[GroupSetupDraft]:
    """The drafts not yet live, most recently changed first."""
    return list(
        session.scalars(
            select(GroupSetupDraft)
            .where(GroupSetupDraft.group_id.is_(None))
            .order_by(GroupSetupDraft.updated_at.desc(), GroupSetupDraft.id.desc())
        )
    )


def _clean(step: Step, values: dict) -> dict:
    names = {f.name for f in step.fields}
    out = {}
    for name, value in values.items():
        if name not in names or value is None:
            continue
        text = str(value).strip() if not isinstance(value, bool) else value
        if text != "":
            out[name] = text
    return out


def _editable(draft: GroupSetupDraft) -> None:
    if draft.group_id is not None:
        raise BillingError("This set-up is already live; change the group from its own page.")


def save_step(session: Session, draft: GroupSetupDraft, step_key: str, values: dict) -> None:
    """Keep what was typed on a one-form step (group, billing policy); checked later."""
    _editable(draft)
    step = STEP_BY_KEY[step_key]
    if step.many:
        raise BillingError(f"{step.title} holds rows: add or remove a row")
    data = dict(draft.document)
    data[step_key] = _clean(step, values)
    _store(draft, data)


def add_row(session: Session, draft: GroupSetupDraft, step_key: str, values: dict) -> int:
    """Add a row to a list step (a subgroup, a plan ...); returns its 1-based number."""
    _editable(draft)
    step = STEP_BY_KEY[step_key]
    data = dict(draft.document)
    rows = list(data.get(step_key) or [])
    rows.append(_clean(step, values))
    data[step_key] = rows
    _store(draft, data)
    return len(rows)


def _live_keys(draft: GroupSetupDraft, step_key: str) -> set[str]:
    """The keys of the live group's rows a step started with (an edit draft's; else none)."""
    return set(((draft.document.get("edit") or {}).get("live") or {}).get(step_key) or [])


def remove_row(session: Session, draft: GroupSetupDraft, step_key: str, row: int) -> None:
    _editable(draft)
    data = dict(draft.document)
    rows = list(data.get(step_key) or [])
    if not 1 <= row <= len(rows):
        raise BillingError(f"There is no row {row} in {STEP_BY_KEY[step_key].title}.")
    if live_row_key(step_key, rows[row - 1]) in _live_keys(draft, step_key):
        raise BillingError(
            f"Row {row} is the live group's: it is kept (change it, or end it with its dates)."
        )
    del rows[row - 1]
    data[step_key] = rows
    _store(draft, data)


def save_row(
    session: Session, draft: GroupSetupDraft, step_key: str, row: int, values: dict
) -> None:
    """Change one row of a list step (a subgroup's name ...); a live row keeps its key (the
    import matches it on its code), else it would be another row."""
    _editable(draft)
    step = STEP_BY_KEY[step_key]
    data = dict(draft.document)
    rows = list(data.get(step_key) or [])
    if not step.many or not 1 <= row <= len(rows):
        raise BillingError(f"There is no row {row} in {step.title}.")
    new = _clean(step, values)
    was = live_row_key(step_key, rows[row - 1])
    if was in _live_keys(draft, step_key) and live_row_key(step_key, new) != was:
        raise BillingError(
            f"Row {row} is the live group's {was}: its "
            + " and ".join(n.replace("_", " ") for n in LIVE_KEYS[step_key])
            + " stay as they are (add a new row instead)."
        )
    rows[row - 1] = new
    data[step_key] = rows
    _store(draft, data)


def _store(draft: GroupSetupDraft, data: dict) -> None:
    draft.document = data  # a new dict, so the JSON column is written
    group = data.get("group") or {}
    draft.name = str(group.get("name", ""))[:200]
    draft.group_number = str(group.get("group_number", ""))[:20]
    draft.updated_at = utcnow()


# --------------------------------------------------------------------------- the document


def _lines(text: str, what: str, step: str, row: int, fname: str, b: _Built) -> list | None:
    """'a-b: rate' or 'age: percent' lines into lists; None (with a problem) when unreadable."""
    out = []
    for n, line in enumerate(str(text).splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if what == "bands":
            m = re.fullmatch(r"(\d+)\s*-\s*(\d+)\s*:\s*(\S+)", line)
            if m is None:
                b.problems.append(
                    DraftProblem(
                        step, row, fname, f"line {n}: write each band as 18-29: 12.50 ({line!r})"
                    )
                )
                return None
            out.append([int(m[1]), int(m[2]), m[3]])
        else:
            m = re.fullmatch(r"(\d+)\s*:\s*(\S+)", line)
            if m is None:
                b.problems.append(
                    DraftProblem(step, row, fname, f"line {n}: write each as 65: 65 ({line!r})")
                )
                return None
            out.append([int(m[1]), m[2]])
    return out


def build_document(data: dict, on: date | None = None) -> _Built:
    """The set-up document the draft's steps describe, and where each part came from. An edit
    draft's billing policies are the live ones and, when changed, a new one (editing.py)."""
    b = _Built(document={})
    group = dict(data.get("group") or {})
    g = dict(group)
    b.places.append(("groups[0]", "group", None))
    plan_choice = (data.get("delinquency") or {}).get("delinquency_plan")
    if plan_choice:
        g["delinquency_plan"] = plan_choice
    policy = dict(data.get("billing") or {})
    if "edit" in data:
        policies, problem = policies_for_edit(data, on or utcnow().date())
        if problem is not None:
            b.problems.append(DraftProblem("billing", None, problem[0], problem[1]))
        g["billing_policies"] = policies
        b.places += [(f"groups[0].billing_policies[{i}]", "billing", None) for i in
                     range(len(policies))]  # fmt: skip
    else:
        g["billing_policies"] = [policy] if policy else []
        b.places.append(("groups[0].billing_policies[0]", "billing", None))
    for key, step in (("subgroups", "subgroups"), ("classes", "classes")):
        g[key] = [dict(r) for r in data.get(step) or []]
        b.places += [(f"groups[0].{key}[{i}]", step, i) for i in range(len(g[key]))]
    g["brokers_of_record"] = [dict(r) for r in data.get("brokers") or []]
    b.places += [
        (f"groups[0].brokers_of_record[{i}]", "brokers", i)
        for i in range(len(g["brokers_of_record"]))
    ]
    plans = [dict(r) for r in data.get("plans") or []]
    by_code = {}
    for i, p in enumerate(plans):
        p["rate_versions"] = []
        b.places.append((f"groups[0].plans[{i}]", "plans", i))
        if p.get("code"):
            by_code.setdefault(p["code"], i)
    for ri, raw in enumerate(data.get("rates") or []):
        rate = dict(raw)
        code = rate.pop("plan", None)
        if code is None or code not in by_code:
            b.problems.append(
                DraftProblem(
                    "rates",
                    ri + 1,
                    "plan",
                    "required: the code of a plan on the Plans step"
                    if code is None
                    else f"no plan {code} on the Plans step",
                )
            )
            continue
        tiers = {t.value: rate.pop(f"tier_{t.value}") for t in Tier if f"tier_{t.value}" in rate}
        if tiers:
            rate["tier_rates"] = tiers
        if "age_bands" in rate:
            bands = _lines(rate.pop("age_bands"), "bands", "rates", ri + 1, "age_bands", b)
            if bands is not None:
                rate["age_bands"] = bands
        if "age_reductions" in rate:
            reds = _lines(rate.pop("age_reductions"), "reds", "rates", ri + 1, "age_reductions", b)
            if reds is not None:
                rate["age_reductions"] = reds
        pi = by_code[code]
        b.places.append(
            (f"groups[0].plans[{pi}].rate_versions[{len(plans[pi]['rate_versions'])}]", "rates", ri)
        )
        plans[pi]["rate_versions"].append(rate)
    g["plans"] = plans
    products = [dict(r) for r in data.get("products") or []]
    b.places += [(f"products[{i}]", "products", i) for i in range(len(products))]
    b.document = {"groups": [g]}
    if products:
        b.document["products"] = products
    return b


def _place(b: _Built, path: str) -> tuple[str, int | None, str | None]:
    """The step, row and field a document path (`groups[0].plans[1].code`) came from."""
    best = ("group", None, "groups[0]")
    for prefix, step, row in b.places:
        if (path == prefix or path.startswith(prefix + ".")) and len(prefix) > len(best[2]):
            best = (step, row, prefix)
    step, row, prefix = best
    rest = path[len(prefix) + 1 :] if path != prefix else ""
    fname = rest.split(".")[0].split("[")[0] or None
    if step == "rates" and fname == "tier_rates":
        tier = rest.split(".")[1] if "." in rest else None
        fname = f"tier_{tier}" if tier else "tier_EE"
    if step == "group" and fname == "delinquency_plan":
        step = "delinquency"
    if step == "group" and fname in (
        "billing_policies",
        "subgroups",
        "classes",
        "brokers_of_record",
        "plans",
    ):
        step = {
            "billing_policies": "billing",
            "brokers_of_record": "brokers",
        }.get(fname, fname)
        fname = None
    return step, None if row is None else row + 1, fname


def check_draft(session: Session, draft: GroupSetupDraft, on: date) -> list[DraftProblem]:
    """Everything keeping the draft from going live, each naming its step, row and field: the
    set-up import's own check of the document, then what a live group needs."""
    b = build_document(draft.document, on)
    problems = list(b.problems)
    for error in validate_setup_document(b.document, "set-up", session=session):
        step, row, fname = _place(b, error.row or "")
        problems.append(DraftProblem(step, row, fname, error.message))
    g = b.document["groups"][0]
    number = (g.get("group_number") or "").strip()
    live = draft.edits_group_id is not None
    live_plans: set[str] = set()
    if live:
        group = session.get(EmployerGroup, draft.edits_group_id)
        live_plans = set(
            session.scalars(select(Plan.code).where(Plan.group_id == draft.edits_group_id))
        )
        if number != group.group_number:
            problems.append(
                DraftProblem(
                    "group",
                    None,
                    "group_number",
                    f"the group number of a live group stays {group.group_number}",
                )
            )
    elif number and session.scalar(
        select(EmployerGroup.id).where(EmployerGroup.group_number == number)
    ):
        problems.append(
            DraftProblem("group", None, "group_number", f"group {number} already exists")
        )
    if not g.get("contact_email"):
        problems.append(
            DraftProblem("group", None, "contact_email", "required: the group's billing contact")
        )
    if not g["billing_policies"]:
        problems.append(DraftProblem("billing", None, None, "fill in the billing policy"))
    if not g["plans"]:
        problems.append(DraftProblem("plans", None, None, "add at least one plan"))
    start = _date(g.get("original_effective_date"))
    for i, p in enumerate(g["plans"]):
        if live:
            if p.get("code") and p["code"] not in live_plans:
                problems.append(
                    DraftProblem(
                        "plans",
                        i + 1,
                        "code",
                        "a plan cannot be added to a live group here (its rates are not edited "
                        "on these screens): add it through the rate pages",
                    )
                )
            continue
        begins = max(d for d in (start, _date(p.get("effective_from")), on) if d is not None)
        in_force = [
            r
            for r in p["rate_versions"]
            if (_date(r.get("effective_from")) or date.max) <= begins
            and (_date(r.get("effective_to")) or date.max) >= begins
        ]
        if not in_force:
            problems.append(
                DraftProblem(
                    "rates",
                    None,
                    None,
                    f"plan {p.get('code') or i + 1} has no rate version in force on "
                    f"{begins:%Y-%m-%d}: add one on the Rates step",
                )
            )
    plan_classes = {p.get("class") for p in g["plans"]}
    if None not in plan_classes:
        for i, k in enumerate(g["classes"]):
            if k.get("code") and k["code"] not in plan_classes:
                problems.append(
                    DraftProblem(
                        "classes",
                        i + 1,
                        "code",
                        f"no plan covers class {k['code']}: name it on a plan, or remove it",
                        waits_for="plans",
                    )
                )
    return problems


def draft_warnings(draft: GroupSetupDraft) -> list[str]:
    """What is not required to go live but a reader should see: a group without a mailing
    address (documents print none) or without its billing contact's name."""
    g = dict(draft.document.get("group") or {})
    said = []
    if not g.get("address_line1"):
        said.append("No mailing address: the group's documents will print none.")
    if not g.get("contact_name"):
        said.append("No billing contact name: only the contact's e-mail is kept.")
    return said


def draft_step_problems(problems: list[DraftProblem], step: str) -> dict:
    """A step's problems by (row, field): what the screen shows beside each field."""
    out: dict[tuple[int | None, str | None], list[str]] = {}
    for p in problems:
        if p.step == step:
            out.setdefault((p.row, p.field), []).append(p.message)
    return out


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def go_live(
    session: Session, draft: GroupSetupDraft, *, actor: User | None, on: date
) -> tuple[EmployerGroup, ImportSummary]:
    """Write a complete, checked draft through the set-up import; the draft then points at its
    group and an audit row names the group (its history starts here). Refused, naming every
    problem, while anything is missing or wrong."""
    _editable(draft)
    problems = check_draft(session, draft, on)
    if problems:
        raise BillingError(
            f"Not {'changed' if draft.edits_group_id else 'live'} yet: {len(problems)} "
            f"problem{'s' if len(problems) != 1 else ''}. "
            + " ".join(f"{p}." for p in problems[:5])
        )
    document = build_document(draft.document, on).document
    if draft.edits_group_id is not None:
        return _apply_edit(session, draft, document, actor=actor)
    try:
        summary = import_setup(session, document, actor=actor, source=f"set-up draft {draft.id}")
    except ValidationFailed as exc:  # the same check ran above; kept for a race
        raise BillingError(str(exc)) from None
    group = session.scalar(
        select(EmployerGroup).where(
            EmployerGroup.group_number == document["groups"][0]["group_number"].strip()
        )
    )
    draft.group_id = group.id
    draft.went_live_at = utcnow()
    record(
        session,
        "setup.group_live",
        actor=actor,
        target=group,
        group_id=group.id,
        detail={
            "draft": draft.id,
            "before": None,
            "after": _readable(document, session),
            "warnings": list(summary.warnings),
        },
    )
    session.flush()
    return group, summary


def _apply_edit(
    session: Session, draft: GroupSetupDraft, document: dict, *, actor: User | None
) -> tuple[EmployerGroup, ImportSummary]:
    """Write an edit draft through the set-up import: it updates the live group's rows in place
    and records `setup.group_changed` with the group's fields before and after."""
    try:
        summary = import_setup(session, document, actor=actor, source=f"set-up edit {draft.id}")
    except ValidationFailed as exc:  # the same check ran first; kept for a race
        raise BillingError(str(exc)) from None
    group = session.get(EmployerGroup, draft.edits_group_id)
    draft.group_id = group.id
    draft.went_live_at = utcnow()
    session.flush()
    return group, summary


def _readable(document: dict, session: Session | None = None) -> dict:
    """The document in words, section by section (billing_core.setup.words)."""
    catalog = None
    if session is not None:
        catalog = {
            p.code: (p.name, p.rating_basis)
            for p in session.scalars(select(Product).order_by(Product.code))
        }
    return document_words(document, catalog=catalog)


def draft_summary(draft: GroupSetupDraft, session: Session | None = None) -> dict:
    """What the draft would set up, in words (the check page; the audit row's `after`): every
    section written, the products and rates too. With a session, a plan's existing product is
    named and its rates read on its rating basis."""
    said = _readable(build_document(draft.document).document, session)
    if draft.edits_group_id is not None:  # an edit never writes rates (editing.py)
        said["rates"] = "not changed here: the live group's rates stay as they are (rate "
        said["rates"] += "changes and renewals go through the group's rate pages)"
    return said


def known_products(session: Session) -> list[tuple[str, str]]:
    """The catalog's products as (code, 'code - name (basis)'), for the plans step."""
    return [
        (p.code, f"{p.code} - {p.name} ({p.rating_basis.label})")
        for p in session.scalars(select(Product).order_by(Product.code))
    ]
