"""The set-up's values in words (issue 22, item 1, found by looking at the screens): what the
set-up screens and their check page show a person instead of the document's codes. The set-up
document (and the forms' option values) keep the codes (`list_bill`, `age_banded`, `or`); only
what is read changes. Field labels (`label_for`), each enum's words (`enum_choices`,
`value_words`), a rate version in short words (`rate_words`) and the whole document as the check
page's "What goes live" (`document_words`), also kept as the go-live audit row's `after`.

The words are the product's own: an enum's `.label` where it has one, else the phrases of the
billing policy's page (portal/templates/macros/group.html::policy_table)."""

from __future__ import annotations

import calendar
import enum
from decimal import Decimal, InvalidOperation
from typing import Any

from billing_core.models import BillingPolicy
from billing_core.models.enums import (
    AgeReference,
    BillingFrequency,
    BillingMethod,
    CoverageMonthRule,
    CreditPolicy,
    GraceDayKind,
    PayrollFrequency,
    RatingBasis,
    SubgroupKind,
    Tier,
    ToleranceRule,
)
from billing_core.money import format_dollars, format_rate
from billing_core.setup.groups import (
    BOR_FIELDS,
    CLASS_FIELDS,
    GROUP_FIELDS,
    POLICY_FIELDS,
    STATE_PLAN,
    SUBGROUP_FIELDS,
)
from billing_core.setup.plans import PLAN_FIELDS, RATE_FIELDS
from billing_core.setup.products import PRODUCT_FIELDS

__all__ = [
    "LABELS",
    "PLAN_WORDS",
    "document_words",
    "enum_choices",
    "label_for",
    "rate_words",
    "value_words",
]

# Words a person reads instead of the document's field names.
LABELS = {
    "group_number": "Group number",
    "tax_id": "Tax id (EIN)",
    "original_effective_date": "Coverage starts on",
    "renewal_month": "Renewal month (1-12)",
    "contact_email": "Billing contact e-mail",
    "state": "State (two letters)",
    "contact_name": "Billing contact name",
    "contact_phone": "Billing contact phone",
    "address_line1": "Mailing address, line 1",
    "address_line2": "Mailing address, line 2 (optional)",
    "city": "City",
    "address_state": "Mailing address state (two letters)",
    "zip": "ZIP code (5 or 9 digits)",
    "delinquency_plan": "Delinquency plan",
    "effective_from": "Effective from",
    "effective_to": "Effective to (optional)",
    "lead_days": "Bill this many days before the period",
    "tolerance_amount": "Short-pay tolerance, amount",
    "tolerance_percent": "Short-pay tolerance, percent",
    "tolerance_rule": "Tolerance: both (and) or either (or)",
    "retro_add_days": "Retro window for additions (days)",
    "retro_term_days": "Retro window for terminations (days)",
    "retro_change_days": "Retro window for changes (days)",
    "coverage_month_rule": "Coverage-month rule (proration)",
    "grace_days": "Grace period (days)",
    "grace_day_kind": "Grace days counted as",
    "credit_policy": "Credit policy",
    "bill_separately": "Billed on its own invoice",
    "agency": "Agency code",
    "writing_broker": "Writing broker's NPN (optional)",
    "commission_split_percent": "Commission split, percent",
    "line_of_coverage": "Line of coverage",
    "rating_basis": "Rating basis",
    "class": "Class (optional: all classes)",
    "plan": "Plan",
    "unit_rate": "Rate per unit (per $1,000 or per $10 of benefit or payroll)",
    "volume_flat_amount": "Flat volume (life: amount of insurance)",
    "volume_salary_multiple": "Volume as a multiple of salary",
    "volume_maximum": "Volume maximum",
    "volume_rounding_unit": "Round volume up to",
    "weekly_benefit_percent": "Weekly benefit, share of pay (0.6 = 60%)",
    "weekly_benefit_maximum": "Weekly benefit maximum",
    "covered_payroll_maximum": "Covered monthly payroll maximum",
    "child_rate": "Child rate (monthly)",
    "child_rate_max_age": "Child rate up to age",
    "max_charged_children": "Children charged at most",
    "age_reference": "Age taken on",
    "age_bands": "Age bands, one a line (18-29: 12.50)",
    "age_reductions": "Age reductions, one a line (65: 65 = 65% of volume from 65)",
}


def label_for(name: str) -> str:
    if name.startswith("tier_"):
        return f"Monthly rate, tier {name[5:]}"
    return LABELS.get(name, name.replace("_", " ").capitalize())


# Each enum's words where it has no `.label` (the billing policy page's phrases).
_WORDS: dict[type[enum.Enum], dict[str, str]] = {
    BillingMethod: {"list_bill": "List bill", "self_bill": "Self-bill"},
    BillingFrequency: {
        "monthly": "Monthly",
        "quarterly": "Quarterly",
        "semi_annual": "Semi-annual",
        "annual": "Annual",
    },
    ToleranceRule: {
        "and": "Both: within the amount and within the percent",
        "or": "Either: within the amount or within the percent",
    },
    CoverageMonthRule: {
        "fifteenth": "Start by the 15th bills that month",
        "first_of_month": "Bills from the first full month",
        "daily_proration": "Daily proration",
    },
    GraceDayKind: {"calendar": "Calendar days", "business": "Business days"},
    PayrollFrequency: {
        "weekly": "Weekly",
        "bi_weekly": "Bi-weekly",
        "semi_monthly": "Semi-monthly",
        "monthly": "Monthly",
    },
    CreditPolicy: {
        "apply_to_next_bill": "Used on the next bill when it is issued",
        "hold_for_refund": "Held for a refund",
    },
    SubgroupKind: {"division": "Division", "location": "Location", "class": "Class"},
    AgeReference: {
        "coverage_month": "Age on the first of each coverage month",
        "policy_anniversary": "Age on the rate's effective date (policy anniversary)",
        "january_first": "Age on January 1",
    },
}

PLAN_WORDS = {
    STATE_PLAN: "the state's plan (the standard plan where the state has none)",
    "standard": "the standard plan (31-day grace)",
}


def _member_words(member: enum.Enum) -> str:
    label = getattr(member, "label", None)
    if isinstance(label, str):
        return label
    return _WORDS.get(type(member), {}).get(member.value) or member.value.replace("_", " ")


def enum_choices(enum_cls: type[enum.Enum]) -> list[tuple[str, str]]:
    """(code, words) for each member: a select's value stays the code, its text the words."""
    return [(m.value, _member_words(m)) for m in enum_cls]


# Every step's field specs by name (a name means the same on every step).
_SPECS = {
    spec.name: spec
    for fields in (
        GROUP_FIELDS,
        POLICY_FIELDS,
        SUBGROUP_FIELDS,
        CLASS_FIELDS,
        BOR_FIELDS,
        PRODUCT_FIELDS,
        PLAN_FIELDS,
        RATE_FIELDS,
    )
    for spec in fields
}


def value_words(name: str, value: Any, choices: dict[str, list[tuple[str, str]]] | None = None):
    """A typed value as a person reads it: an enum's or a choice's words, Yes/No; anything
    else (a name, a date, an amount, a code nobody knows) as typed."""
    text = str(value).strip() if value is not None else ""
    if choices and name in choices:
        for code, words in choices[name]:
            if code == text:
                return words
    if name == "delinquency_plan" and text in PLAN_WORDS:
        return PLAN_WORDS[text]
    spec = _SPECS.get(name)
    if spec is not None and spec.kind == "enum":
        for member in spec.enum:
            if member.value.lower() == text.lower():
                return _member_words(member)
    if spec is not None and spec.kind == "bool":
        return {"true": "Yes", "false": "No"}.get(text.lower(), text)
    return text


# --------------------------------------------------------------------------- rates


def _dec(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        return None


def _rate(value: Any) -> str:
    d = _dec(value)
    return format_rate(d) if d is not None else str(value)


def _dollars(value: Any) -> str:
    d = _dec(value)
    return format_dollars(d) if d is not None else str(value)


def _plain(value: Any) -> str:
    d = _dec(value)
    return f"{d.normalize():f}" if d is not None else str(value)


def _basis_of(rate: dict, basis: RatingBasis | None) -> RatingBasis | None:
    if basis is not None:
        return basis
    if rate.get("tier_rates"):
        return RatingBasis.TIERED_COMPOSITE
    if rate.get("age_bands"):
        return RatingBasis.AGE_BANDED
    if rate.get("weekly_benefit_percent"):
        return RatingBasis.STD_WEEKLY_BENEFIT
    if rate.get("covered_payroll_maximum"):
        return RatingBasis.LTD_COVERED_PAYROLL
    if rate.get("unit_rate"):
        return RatingBasis.PER_THOUSAND_VOLUME
    return None


def rate_words(rate: dict, basis: RatingBasis | None = None) -> str:
    """One rate version of the document (`tier_rates`, `age_bands` as lists) in short words:
    its dates and what it charges on its plan's rating basis."""
    when = f"from {rate.get('effective_from') or '?'}"
    if rate.get("effective_to"):
        when += f" to {rate['effective_to']}"
    basis = _basis_of(rate, basis)
    said: list[str] = []
    if basis is RatingBasis.TIERED_COMPOSITE:
        tiers = rate.get("tier_rates") or {}
        said.append(
            ", ".join(f"{t.value} {_rate(tiers[t.value])}" for t in Tier if t.value in tiers)
            + " a month"
        )
    elif basis is RatingBasis.AGE_BANDED:
        bands = [b for b in rate.get("age_bands") or [] if len(b) == 3]
        if bands:
            rates = [d for b in bands if (d := _dec(b[2])) is not None]
            said.append(
                f"{len(bands)} age band{'s' if len(bands) != 1 else ''}"
                + (f", {format_rate(min(rates))} to {format_rate(max(rates))} a month per person"
                   if rates else "")
            )  # fmt: skip
        if rate.get("child_rate"):
            said.append(
                f"children {_rate(rate['child_rate'])} each"
                + (f" under {rate['child_rate_max_age']}" if rate.get("child_rate_max_age") else "")
                + (
                    f", at most {rate['max_charged_children']} charged"
                    if rate.get("max_charged_children")
                    else ""
                )
            )
        if rate.get("age_reference"):
            said.append(value_words("age_reference", rate["age_reference"]).lower())
    elif basis is RatingBasis.PER_THOUSAND_VOLUME:
        volume = (
            f"{_plain(rate['volume_salary_multiple'])}× salary"
            if rate.get("volume_salary_multiple")
            else f"flat {_dollars(rate['volume_flat_amount'])}"
            if rate.get("volume_flat_amount")
            else ""
        )
        said.append(f"{_rate(rate.get('unit_rate'))} per $1,000 of volume")
        if volume:
            said.append(volume)
        if rate.get("volume_maximum"):
            said.append(f"at most {_dollars(rate['volume_maximum'])}")
        if rate.get("age_reductions"):
            said.append(
                "reduced from age "
                + ", ".join(f"{r[0]} to {_plain(r[1])}%" for r in rate["age_reductions"])
            )
    elif basis is RatingBasis.STD_WEEKLY_BENEFIT:
        share = _dec(rate.get("weekly_benefit_percent"))
        said.append(f"{_rate(rate.get('unit_rate'))} per $10 of weekly benefit")
        if share is not None:
            said.append(f"{(share * 100).normalize():f}% of pay")
        if rate.get("weekly_benefit_maximum"):
            said.append(f"at most {_dollars(rate['weekly_benefit_maximum'])} a week")
    elif basis is RatingBasis.LTD_COVERED_PAYROLL:
        said.append(f"{_rate(rate.get('unit_rate'))} per $100 of covered payroll")
        if rate.get("covered_payroll_maximum"):
            said.append(f"at most {_dollars(rate['covered_payroll_maximum'])} a month")
    return f"{when}: {', '.join(s for s in said if s) or 'no rates entered'}"


# --------------------------------------------------------------------------- the document


def _default(name: str) -> Any:
    """The billing policy column's default where a field was left empty."""
    column = BillingPolicy.__table__.c.get(name)
    default = column.default.arg if column is not None and column.default is not None else None
    if isinstance(default, enum.Enum):
        return default.value
    return default


def _policy_words(policy: dict) -> list[str]:
    """The billing policy in the policy page's words; an empty field says its default."""

    def get(name: str) -> tuple[Any, str]:
        if policy.get(name) not in (None, ""):
            return policy[name], ""
        return _default(name), " (the default)"

    out = []
    when = f"From {policy.get('effective_from') or '?'}"
    if policy.get("effective_to"):
        when += f" to {policy['effective_to']}"
    out.append(when)
    method = value_words("billing_method", policy.get("billing_method") or "?")
    frequency = value_words("billing_frequency", policy.get("billing_frequency") or "?")
    out.append(f"{method}, billed {frequency.lower()}")
    lead, dflt = get("lead_days")
    out.append(f"Invoice issued {lead} days before the period{dflt}")
    amount, d1 = get("tolerance_amount")
    pct, d2 = get("tolerance_percent")
    rule, d3 = get("tolerance_rule")
    joiner = " or " if str(rule).lower() == "or" else " and "
    out.append(
        f"Short-pay tolerance: within {_dollars(amount)}{joiner}within {_plain(pct)}%"
        + (" (the default)" if d1 and d2 and d3 else "")
    )
    days = []
    for name, what in (("retro_add_days", "additions"), ("retro_term_days", "terminations"),
                       ("retro_change_days", "changes")):  # fmt: skip
        n, dflt = get(name)
        days.append(f"{what} {n} days{dflt}")
    out.append("Retro windows: " + ", ".join(days))
    rule, dflt = get("coverage_month_rule")
    out.append(f"Coverage-month rule: {value_words('coverage_month_rule', rule)}{dflt}")
    grace, d1 = get("grace_days")
    kind, d2 = get("grace_day_kind")
    out.append(
        f"Grace period: {grace} {value_words('grace_day_kind', kind).lower()}"
        + (" (the default)" if d1 and d2 else "")
    )
    payroll, dflt = get("payroll_frequency")
    out.append(f"Payroll: {value_words('payroll_frequency', payroll).lower()}{dflt}")
    credit, dflt = get("credit_policy")
    out.append(f"Credit: {value_words('credit_policy', credit).lower()}{dflt}")
    return out


def _named(row: dict) -> str:
    code, name = row.get("code") or "?", row.get("name")
    return f"{name} ({code})" if name else str(code)


def document_words(
    document: dict,
    *,
    catalog: dict[str, tuple[str, RatingBasis]] | None = None,
    class_names: dict[str, str] | None = None,
) -> dict[str, str | list[str]]:
    """Everything the set-up document of one group writes, section by section, in words: the
    check page's "What goes live". `catalog`: the existing products' names and rating bases
    by code (a plan may name one)."""
    g = document["groups"][0]
    new_products = {
        p.get("code"): (p.get("name") or p.get("code"), _enum_or_none(RatingBasis, p))
        for p in document.get("products") or []
        if p.get("code")
    }
    products = dict(catalog or {}) | new_products
    classes = {k.get("code"): k.get("name") for k in g.get("classes") or []} | (class_names or {})
    group = f"{g.get('name') or '?'} ({g.get('group_number') or '?'})"
    facts = [
        f"tax id {g['tax_id']}" if g.get("tax_id") else "",
        f"coverage starts {g['original_effective_date']}" if g.get("original_effective_date")
        else "",
        _renewal(g.get("renewal_month")),
        f"state {g['state']}" if g.get("state") else "",
    ]  # fmt: skip
    address = ", ".join(
        str(g[k]) for k in ("address_line1", "address_line2", "city", "address_state", "zip")
        if g.get(k)
    )  # fmt: skip
    contact = ", ".join(str(g[k]) for k in ("contact_name", "contact_email", "contact_phone")
                        if g.get(k))  # fmt: skip
    subgroups = [
        f"{_named(s)}: {value_words('kind', s.get('kind') or '?').lower()}"
        + (", billed on its own invoice" if str(s.get("bill_separately")).lower() == "true"
           else "")
        for s in g.get("subgroups") or []
    ]  # fmt: skip
    brokers = [
        f"Agency {b.get('agency') or '?'} from {b.get('effective_from') or '?'}"
        + (f" to {b['effective_to']}" if b.get("effective_to") else "")
        + (f", writing broker NPN {b['writing_broker']}" if b.get("writing_broker") else "")
        + f", {_plain(b.get('commission_split_percent') or 100)}% of the commission"
        for b in g.get("brokers_of_record") or []
    ]
    product_rows = [
        f"{_named(p)}: "
        + ", ".join(value_words(n, p[n]) for n in ("line_of_coverage", "rating_basis") if p.get(n))
        for p in document.get("products") or []
    ]
    plans, rates = [], []
    for p in g.get("plans") or []:
        name, basis = products.get(p.get("product"), (None, None))
        product = f"{name} ({p.get('product')})" if name else str(p.get("product") or "?")
        kind = (
            f"class {classes.get(p['class']) or p['class']} only" if p.get("class")
            else "all classes"
        )  # fmt: skip
        plans.append(f"{_named(p)}: {product}, {kind}, from {p.get('effective_from') or '?'}")
        versions = p.get("rate_versions") or []
        if not versions:
            rates.append(f"{p.get('code') or '?'}: no rate version")
        rates += [f"{p.get('code') or '?'} {rate_words(r, basis)}" for r in versions]
    policies = g.get("billing_policies") or []
    return {
        "group": ", ".join([group] + [f for f in facts if f]),
        "mailing address": address or "—",
        "billing contact": contact or "—",
        "subgroups": subgroups,
        "classes": [_named(k) for k in g.get("classes") or []],
        "billing policy": _policy_words(policies[-1]) if policies else [],
        "delinquency plan": value_words(
            "delinquency_plan", g.get("delinquency_plan") or STATE_PLAN
        ),
        "broker of record": brokers,
        "products": product_rows or ["none new: the plans use the catalog's products"],
        "plans": plans,
        "rates": rates,
    }


def _renewal(month: Any) -> str:
    if not month:
        return ""
    text = str(month).strip()
    if text.isdigit() and 1 <= int(text) <= 12:
        return f"renews each {calendar.month_name[int(text)]}"
    return f"renews in month {text}"


def _enum_or_none(enum_cls, row: dict) -> Any:
    try:
        return enum_cls(str(row.get("rating_basis") or "").strip().lower())
    except ValueError:
        return None
