"""Invoice templates from the contract (issue 22, item 3): what a group's bill shows and how it is
cut, chosen by staff, followed by the billing run and kept with each invoice it issues.

A template chooses:
- which optional sections appear (`SECTIONS`: premium by product and plan, retro adjustments and
  fees, the bill bridge, member detail, how to pay / remit-to). The header, the summary and the
  total due always appear;
- premium subtotals by one dimension (`DIMENSIONS`: subgroup, product, class, location) or none;
- how subgroups are billed (`SUBGROUP_BILLING`): as each subgroup is set up (`bill_separately`,
  the default), consolidated on one bill, or every subgroup on its own bill. The choice is read
  by the billing run, so it applies from the next run; bills already issued keep their open
  balance on the account they were issued to (a subgroup's own bills stay open on it and are
  paid against it; nothing is moved to the consolidated bill, whose balance forward is its own
  account's);
- a few reference fields (label and value: purchase order number, cost centre) printed on the
  bill's header, remit-to text and a message.

No template: the bill is exactly what it was before templates existed (`DEFAULT`).

At issue (`keep_printed`, called by `billing.invoicing` with the run's drafts) an invoice of a
group with a template keeps what it printed (`InvoicePrint`) and its premium subtotals
(`InvoiceSubtotal`, rows written by COPY like the lines), computed once from the rounded premium
lines by `subtotals`, the same function the preview uses. Pages, the PDF and the downloads read
them back with `printed`: an issued invoice reads the same whatever happens to the template."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing_core import audit
from billing_core.db import copy_rows, in_ids, utcnow
from billing_core.errors import BillingError, RowError
from billing_core.models import (
    BenefitClass,
    BillingSubgroup,
    EmployerGroup,
    Invoice,
    Member,
    Plan,
    Product,
    User,
)
from billing_core.models.enums import InvoiceSection, InvoiceStatus, SubgroupKind
from billing_core.models.invoice_templates import InvoicePrint, InvoiceSubtotal, InvoiceTemplate
from billing_core.money import ZERO

if TYPE_CHECKING:
    from billing_core.billing.invoicing import DraftInvoice

__all__ = [
    "DEFAULT",
    "DIMENSIONS",
    "SECTIONS",
    "SUBGROUP_BILLING",
    "Preview",
    "Printed",
    "Subtotal",
    "TemplateChoice",
    "TemplateRefused",
    "keep_printed",
    "preview_invoice",
    "printed",
    "save_template",
    "separate_subgroups",
    "subtotals",
    "template_of",
    "templates_of",
]

SECTIONS = {
    "summary_by_plan": "Premium by product and plan",
    "adjustments": "Retro adjustments and fees",
    "bill_bridge": "Bill bridge (why this bill differs from the last one)",
    "member_detail": "Member detail",
    "remit_slip": "How to pay (wire, ACH, check) and remit-to",
}
DIMENSIONS = {
    "subgroup": "Subgroup",
    "product": "Product",
    "class": "Class",
    "location": "Location",
}
SUBGROUP_BILLING = {
    "per_subgroup": "As each subgroup is set up (its own bill when marked billed separately)",
    "consolidated": "Consolidated: one bill for the whole group",
    "separately": "Separately: every subgroup on its own bill",
}
MAX_REFERENCE_FIELDS = 4
LABEL_LENGTH = 40
VALUE_LENGTH = 60
REMIT_LINES = 6
REMIT_LENGTH = 400
MESSAGE_LENGTH = 1000
PREMIUM = InvoiceSection.PREMIUM.value


class TemplateRefused(BillingError):
    """A template that cannot be saved: `errors` maps each form field to what is wrong with it
    (`reference_label_2`, `remit_to` ...), to be shown beside the field."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


@dataclass(frozen=True)
class TemplateChoice:
    """A template's choices, as saved, previewed or defaulted."""

    sections: tuple[str, ...] = tuple(SECTIONS)
    subtotal_by: str | None = None
    subgroup_billing: str = "per_subgroup"
    reference_fields: tuple[tuple[str, str], ...] = ()
    remit_to: str = ""
    message: str = ""

    def shows(self, section: str) -> bool:
        return section in self.sections

    def as_dict(self) -> dict:
        """For the audit's before and after: every choice in words a reader follows."""
        return {
            "sections shown": [SECTIONS[s] for s in SECTIONS if s in self.sections] or "none",
            "subtotals by": DIMENSIONS.get(self.subtotal_by or "", "none"),
            "subgroups billed": SUBGROUP_BILLING[self.subgroup_billing],
            "reference fields": [f"{label}: {value}" for label, value in self.reference_fields]
            or "none",
            "remit to": self.remit_to or "-",
            "message": self.message or "-",
        }

    @classmethod
    def of(cls, row: InvoiceTemplate | None) -> TemplateChoice:
        if row is None:
            return DEFAULT
        return cls(
            sections=tuple(s for s in SECTIONS if s in (row.sections or [])),
            subtotal_by=row.subtotal_by,
            subgroup_billing=row.subgroup_billing,
            reference_fields=tuple((str(a), str(b)) for a, b in row.reference_fields or []),
            remit_to=row.remit_to or "",
            message=row.message or "",
        )


DEFAULT = TemplateChoice()


def checked(choice: TemplateChoice) -> TemplateChoice:
    """The choice tidied (spaces trimmed, empty reference rows dropped) or refused with every
    problem named by its field."""
    errors: dict[str, str] = {}
    unknown = [s for s in choice.sections if s not in SECTIONS]
    if unknown:
        errors["sections"] = f"unknown section {', '.join(unknown)}"
    if choice.subtotal_by is not None and choice.subtotal_by not in DIMENSIONS:
        errors["subtotal_by"] = "choose subgroup, product, class, location or none"
    if choice.subgroup_billing not in SUBGROUP_BILLING:
        errors["subgroup_billing"] = "choose how subgroups are billed"
    fields: list[tuple[str, str]] = []
    seen: set[str] = set()
    for number, (label, value) in enumerate(choice.reference_fields, start=1):
        label, value = (label or "").strip(), (value or "").strip()
        if not label and not value:
            continue
        if number > MAX_REFERENCE_FIELDS:
            errors[f"reference_label_{number}"] = f"at most {MAX_REFERENCE_FIELDS} fields"
        elif not label:
            errors[f"reference_label_{number}"] = "give the field a label (e.g. PO number)"
        elif len(label) > LABEL_LENGTH:
            errors[f"reference_label_{number}"] = f"at most {LABEL_LENGTH} characters"
        elif label.lower() in seen:
            errors[f"reference_label_{number}"] = f"{label} is already a field"
        if not value and label:
            errors[f"reference_value_{number}"] = f"give the {label} to print"
        elif len(value) > VALUE_LENGTH:
            errors[f"reference_value_{number}"] = f"at most {VALUE_LENGTH} characters"
        seen.add(label.lower())
        fields.append((label, value))
    remit = "\n".join(line.strip() for line in (choice.remit_to or "").strip().splitlines())
    if len(remit) > REMIT_LENGTH or len(remit.splitlines()) > REMIT_LINES:
        errors["remit_to"] = f"at most {REMIT_LINES} lines and {REMIT_LENGTH} characters"
    message = (choice.message or "").strip()
    if len(message) > MESSAGE_LENGTH:
        errors["message"] = f"at most {MESSAGE_LENGTH} characters"
    if errors:
        raise TemplateRefused(errors)
    return TemplateChoice(
        sections=tuple(s for s in SECTIONS if s in choice.sections),
        subtotal_by=choice.subtotal_by,
        subgroup_billing=choice.subgroup_billing,
        reference_fields=tuple(fields),
        remit_to=remit,
        message=message,
    )


def template_of(session: Session, group_id: int) -> TemplateChoice:
    """The group's template, or `DEFAULT` (the bill as it always was)."""
    return TemplateChoice.of(
        session.scalar(select(InvoiceTemplate).where(InvoiceTemplate.group_id == group_id))
    )


def templates_of(session: Session, group_ids: list[int]) -> dict[int, TemplateChoice]:
    """The templates of those of `group_ids` that have one (one read for a run)."""
    if not group_ids:
        return {}
    return {
        row.group_id: TemplateChoice.of(row)
        for row in session.scalars(
            select(InvoiceTemplate).where(in_ids(InvoiceTemplate.group_id, group_ids))
        )
    }


def save_template(
    session: Session,
    group: EmployerGroup,
    choice: TemplateChoice,
    *,
    actor: User | None,
    actor_email: str | None = None,
    ip_address: str | None = None,
) -> bool:
    """Save the group's template (from the staff page, or the set-up import with no staff
    `actor` and `actor_email` "setup import"), audited with before and after as
    `invoice_template.changed` (the group's history shows it). False when nothing changed
    (nothing written). The run follows it from its next bill; issued bills never change."""
    choice = checked(choice)
    row = session.scalar(select(InvoiceTemplate).where(InvoiceTemplate.group_id == group.id))
    before = TemplateChoice.of(row)
    if row is not None and before == choice:
        return False
    if row is None:
        row = InvoiceTemplate(group_id=group.id)
        session.add(row)
    row.sections = list(choice.sections)
    row.subtotal_by = choice.subtotal_by
    row.subgroup_billing = choice.subgroup_billing
    row.reference_fields = [list(pair) for pair in choice.reference_fields]
    row.remit_to = choice.remit_to or None
    row.message = choice.message or None
    row.updated_by_id = actor.id if actor is not None else None
    row.updated_at = utcnow()
    audit.record(
        session,
        "invoice_template.changed",
        actor=actor,
        actor_email=actor_email,
        target=group,
        group_id=group.id,
        ip_address=ip_address,
        detail={"before": before.as_dict(), "after": choice.as_dict()},
    )
    session.flush()
    return True


def separate_subgroups(group: EmployerGroup, choice: TemplateChoice) -> list[BillingSubgroup]:
    """The subgroups billed on their own invoice under `choice` (the run's billing accounts)."""
    if choice.subgroup_billing == "consolidated":
        return []
    if choice.subgroup_billing == "separately":
        return list(group.subgroups)
    return [s for s in group.subgroups if s.bill_separately]


# --------------------------------------------------------------------------- subtotals


@dataclass(frozen=True)
class Subtotal:
    label: str
    amount: Decimal
    line_count: int
    member_count: int


NONE_LABELS = {
    "subgroup": "No subgroup",
    "class": "No class",
    "location": "No location",
    "product": "No product",
}


class LineKeys:
    """What a premium line's subtotal label is read from: its member's subgroup and class, its
    plan's product (names as they read now: at issue they are kept with the subtotals).
    Location: the member's subgroup when that subgroup is a location."""

    def __init__(self, session: Session, group_ids: list[int]):
        self.member: dict[int, tuple[int | None, int | None]] = {}
        self.product: dict[int, str] = {}
        self.subgroup: dict[int, tuple[str, SubgroupKind]] = {}
        self.benefit_class: dict[int, str] = {}
        if not group_ids:
            return
        for member_id, subgroup_id, class_id in session.execute(
            select(Member.id, Member.subgroup_id, Member.class_id).where(
                in_ids(Member.group_id, group_ids)
            )
        ):
            self.member[member_id] = (subgroup_id, class_id)
        for plan in session.scalars(select(Plan).where(in_ids(Plan.group_id, group_ids))):
            self.product[plan.id] = plan.product.name
        for sub in session.scalars(
            select(BillingSubgroup).where(in_ids(BillingSubgroup.group_id, group_ids))
        ):
            self.subgroup[sub.id] = (sub.name, sub.kind)
        for klass in session.scalars(
            select(BenefitClass).where(in_ids(BenefitClass.group_id, group_ids))
        ):
            self.benefit_class[klass.id] = klass.name

    def label(self, dimension: str, line: dict) -> str | None:
        if dimension == "product":
            return self.product.get(line["plan_id"])
        subgroup_id, class_id = self.member.get(line["member_id"], (None, None))
        if dimension == "class":
            return self.benefit_class.get(class_id) if class_id else None
        sub = self.subgroup.get(subgroup_id) if subgroup_id else None
        if sub is None:
            return None
        name, kind = sub
        if dimension == "location" and kind is not SubgroupKind.LOCATION:
            return None
        return name


def subtotals(lines: list[dict], dimension: str, keys: LineKeys) -> list[Subtotal]:
    """The premium lines (the run's line dicts) summed by `dimension`: each subtotal is the sum
    of its rounded lines, so together they are the bill's current premium to the cent. By
    label, the "No ..." row last."""
    amount: dict[str, Decimal] = defaultdict(lambda: ZERO)
    count: dict[str, int] = defaultdict(int)
    members: dict[str, set] = defaultdict(set)
    none = NONE_LABELS[dimension]
    for line in lines:
        section = line["section"]
        if getattr(section, "value", section) != PREMIUM:
            continue
        label = keys.label(dimension, line) or none
        amount[label] += line["amount"]
        count[label] += 1
        members[label].add(line["member_id"])
    order = sorted(amount, key=lambda label: (label == none, label.lower()))
    return [Subtotal(label, amount[label], count[label], len(members[label])) for label in order]


SUBTOTAL_COLUMNS = {
    "invoice_id": "int4",
    "position": "int4",
    "label": "varchar",
    "amount": "numeric",
    "line_count": "int4",
    "member_count": "int4",
}


def keep_printed(session: Session, invoices: list[Invoice], drafts: list[DraftInvoice]) -> None:
    """At issue: for each invoice whose draft carries its group's template, what it printed
    (`InvoicePrint`) and its premium subtotals (`InvoiceSubtotal`, by COPY), computed once
    from the draft's rounded lines. Drafts without a template write nothing."""
    kept = [
        (invoice, draft) for invoice, draft in zip(invoices, drafts, strict=True) if draft.template
    ]
    if not kept:
        return
    session.add_all(
        InvoicePrint(
            invoice_id=invoice.id,
            sections=list(draft.template.sections),
            subtotal_by=draft.template.subtotal_by,
            reference_fields=[list(pair) for pair in draft.template.reference_fields],
            remit_to=draft.template.remit_to or None,
            message=draft.template.message or None,
        )
        for invoice, draft in kept
    )
    cut = [(invoice, draft) for invoice, draft in kept if draft.template.subtotal_by]
    if cut:
        keys = LineKeys(session, sorted({draft.account.group.id for _, draft in cut}))
        rows = [
            (invoice.id, position, s.label, s.amount, s.line_count, s.member_count)
            for invoice, draft in cut
            for position, s in enumerate(
                subtotals(draft.lines, draft.template.subtotal_by, keys), start=1
            )
        ]
        copy_rows(session, InvoiceSubtotal.__table__, SUBTOTAL_COLUMNS, rows)
    session.flush()


# --------------------------------------------------------------------------- reading back


@dataclass(frozen=True)
class Printed:
    """What an issued invoice prints: its kept template (or the default) and kept subtotals."""

    choice: TemplateChoice = DEFAULT
    subtotals: list[Subtotal] = field(default_factory=list)

    def shows(self, section: str) -> bool:
        return self.choice.shows(section)

    @property
    def references(self) -> tuple[tuple[str, str], ...]:
        return self.choice.reference_fields

    @property
    def remit_lines(self) -> list[str]:
        return self.choice.remit_to.splitlines() if self.choice.remit_to else []

    @property
    def message(self) -> str:
        return self.choice.message

    @property
    def subtotal_heading(self) -> str:
        return f"Premium by {DIMENSIONS[self.choice.subtotal_by].lower()}"

    @property
    def subtotal_label(self) -> str:
        return DIMENSIONS.get(self.choice.subtotal_by or "", "")


_UNREAD = object()


def printed(session: Session, invoice: Invoice, kept_print: object = _UNREAD) -> Printed:
    """What `invoice` printed when it was issued: two reads of kept rows, nothing recomputed
    (one when the caller read its `InvoicePrint` already and passes it as `kept_print`, None
    for none: `invoices.find_invoice_row`). Issued without a template: the default (every
    section, no subtotals, no references)."""
    row = kept_print
    if row is _UNREAD:
        row = session.scalar(select(InvoicePrint).where(InvoicePrint.invoice_id == invoice.id))
    if row is None:
        return Printed()
    choice = TemplateChoice(
        sections=tuple(s for s in SECTIONS if s in (row.sections or [])),
        subtotal_by=row.subtotal_by,
        reference_fields=tuple((str(a), str(b)) for a, b in row.reference_fields or []),
        remit_to=row.remit_to or "",
        message=row.message or "",
    )
    rows = session.scalars(
        select(InvoiceSubtotal)
        .where(InvoiceSubtotal.invoice_id == invoice.id)
        .order_by(InvoiceSubtotal.position)
    )
    return Printed(
        choice, [Subtotal(r.label, r.amount, r.line_count, r.member_count) for r in rows]
    )


# --------------------------------------------------------------------------- preview


@dataclass
class PreviewBill:
    draft: DraftInvoice
    printed: Printed
    product_names: dict[str, str] = field(default_factory=dict)

    @property
    def products(self) -> list[tuple[str, int, Decimal]]:
        """Premium by product: (name, lines, amount)."""
        return [
            (self.product_names.get(code, code), n, amount)
            for code, (n, amount) in self.draft.product_totals().items()
        ]


@dataclass
class Preview:
    """A sample of the group's next bill under an unsaved template, from current enrollment
    through the run's own pricing (`prepare_billing_run`); nothing is written."""

    group: EmployerGroup
    choice: TemplateChoice
    period: date | None
    bills: list[PreviewBill] = field(default_factory=list)
    problems: list[RowError] = field(default_factory=list)
    why_none: str = ""


def preview_invoice(
    session: Session, group: EmployerGroup, choice: TemplateChoice, today: date
) -> Preview:
    """The group's next bill (`next_bill`, after its latest bill issued) as the run would price
    it today under `choice`, with its subtotals by `subtotals`, the function the run keeps them
    with. Writes nothing: the run's preparation reads only."""
    from billing_core.billing.enrollment import add_months
    from billing_core.billing.invoicing import next_bill, prepare_billing_run

    choice = checked(choice)
    latest = session.scalar(
        select(func.max(Invoice.period_start)).where(
            Invoice.group_id == group.id, Invoice.status != InvoiceStatus.VOID
        )
    )
    upcoming = next_bill(session, group, max(today, add_months(latest, 1)) if latest else today)
    if upcoming is None:
        return Preview(group, choice, None, why_none="no bill is due: no billing policy ahead")
    period, _ = upcoming
    outcome = prepare_billing_run(
        session,
        period,
        group_numbers=[group.group_number],
        run_date=today,
        templates={group.id: choice},
    )
    preview = Preview(group, choice, period)
    if outcome.held:
        preview.problems = outcome.held[group.group_number]
    if outcome.not_due.get(group.group_number):
        preview.why_none = outcome.not_due[group.group_number]
    elif outcome.already_issued and not outcome.drafts:
        preview.why_none = f"the bills for {period:%B %Y} are issued already"
    keys = LineKeys(session, [group.id]) if choice.subtotal_by else None
    names = dict(
        session.execute(
            select(Product.code, Product.name)
            .join(Plan, Plan.product_id == Product.id)
            .where(Plan.group_id == group.id)
        ).all()
    )
    for draft in outcome.drafts:
        cut = subtotals(draft.lines, choice.subtotal_by, keys) if keys else []
        preview.bills.append(PreviewBill(draft, Printed(choice, cut), names))
    return preview


def choice_dict(choice: TemplateChoice) -> dict:
    """The choice as plain data (the set-up document's `invoice_template:` shape)."""
    return asdict(choice)
