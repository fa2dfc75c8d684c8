"""The group set-up import: products, broker agencies, groups (policies, subgroups, classes,
plans and rate versions, members with dependents and coverages) and users, from one YAML or
JSON document. Validation returns every problem at once; the import writes nothing unless the
whole document is valid, is keyed on natural keys, and re-importing the same document is a no-op.

The format is documented in docs/setup-format.md."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, selectinload

from billing_core.audit import record
from billing_core.errors import RowError, ValidationFailed
from billing_core.models import (
    AgeReduction,
    BenefitClass,
    BillingPolicy,
    BillingSubgroup,
    Broker,
    BrokerAgency,
    BrokerOfRecord,
    Coverage,
    CoveredDependent,
    Dependent,
    EmployerGroup,
    Member,
    Plan,
    Product,
    RateAgeBand,
    RateTier,
    RateVersion,
    User,
    UserGroupAccess,
)
from billing_core.models.enums import (
    AgeReference,
    BillingFrequency,
    BillingMethod,
    CoverageMonthRule,
    CreditPolicy,
    Gender,
    GraceDayKind,
    LineOfCoverage,
    MemberStatus,
    PayrollFrequency,
    RatingBasis,
    Relationship,
    Role,
    SubgroupKind,
    Tier,
    ToleranceRule,
)
from billing_core.models.member import HasSsn
from billing_core.money import D
from billing_core.security import (
    hash_password,
    matches_people,
    nine_digits,
    normalize_ssn,
    vault,
    verify_password,
)

KINDS = (
    "products",
    "broker_agencies",
    "brokers",
    "groups",
    "billing_policies",
    "subgroups",
    "classes",
    "brokers_of_record",
    "plans",
    "rate_versions",
    "members",
    "dependents",
    "coverages",
    "users",
)

TOP_LEVEL_KEYS = ("products", "broker_agencies", "groups", "users")
MONEY_EXAMPLE = "expected a decimal amount such as 112.40"
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# --------------------------------------------------------------------------- loading


class _DatesAsTextLoader(yaml.SafeLoader):
    """Safe YAML where dates stay text: an impossible date such as 2024-13-01 then becomes a
    row error naming its place, instead of PyYAML raising while it reads the file."""


_DatesAsTextLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_document(path: str | Path) -> dict:
    """Read a set-up document from a .yaml/.yml (PyYAML's safe loader) or .json file.

    A syntax error raises ValidationFailed with one RowError naming the file and line."""
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig")
    suffix = path.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            doc = yaml.load(text, Loader=_DatesAsTextLoader)  # nosec B506 # a yaml.SafeLoader
        elif suffix == ".json":
            doc = json.loads(text)
        else:
            raise ValidationFailed(
                f"{path.name}: unsupported file type",
                [RowError(None, None, "use a .yaml, .yml or .json file", source=path.name)],
            )
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ValidationFailed(
            f"{path.name}: not valid YAML",
            [RowError(line, None, f"not valid YAML: {problem}", source=path.name)],
        ) from None
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            f"{path.name}: not valid JSON",
            [RowError(f"line {exc.lineno}", None, f"not valid JSON: {exc.msg}", source=path.name)],
        ) from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ValidationFailed(
            f"{path.name}: not a set-up document",
            [
                RowError(
                    None,
                    None,
                    "the document must be a mapping with keys such as groups",
                    source=path.name,
                )
            ],
        )
    return doc


# --------------------------------------------------------------------------- field specs


@dataclass(frozen=True)
class FieldSpec:
    """One scalar field of the document. `kind` is text (ints accepted and turned to text),
    strict_text (must be a quoted string so leading zeros survive), email, money, int, date,
    enum, bool or ssn. `column` names the model attribute when it differs from `name`."""

    name: str
    kind: str
    required: bool = False
    enum: type | None = None
    max_len: int | None = None
    places: int = 2
    minimum: Decimal | int | None = None
    maximum: Decimal | int | None = None
    column: str | None = None
    nullable: bool | None = None  # None: nullable unless an int, enum or bool (those default)

    @property
    def can_be_null(self) -> bool:
        if self.nullable is not None:
            return self.nullable
        return self.kind not in ("int", "enum", "bool")

    @property
    def attr(self) -> str:
        return self.column or self.name


def _f(name: str, kind: str = "text", **kw) -> FieldSpec:
    return FieldSpec(name, kind, **kw)


PRODUCT_FIELDS = (
    _f("code", required=True, max_len=20),
    _f("name", required=True, max_len=200),
    _f("line_of_coverage", "enum", required=True, enum=LineOfCoverage),
    _f("rating_basis", "enum", required=True, enum=RatingBasis),
)
AGENCY_FIELDS = (
    _f("code", required=True, max_len=20),
    _f("name", required=True, max_len=200),
    _f("tax_id", "strict_text", max_len=10),
)
BROKER_FIELDS = (
    _f("npn", required=True, max_len=20),
    _f("full_name", required=True, max_len=200),
    _f("email", "email", max_len=254),
)
GROUP_FIELDS = (
    _f("group_number", required=True, max_len=20),
    _f("name", required=True, max_len=200),
    _f("tax_id", "strict_text", required=True, max_len=10),
    _f("original_effective_date", "date", required=True),
    _f("renewal_month", "int", minimum=1, maximum=12),
    _f("contact_email", "email", max_len=254),
    _f("state", "strict_text", max_len=2),
)
POLICY_FIELDS = (
    _f("effective_from", "date", required=True),
    _f("effective_to", "date"),
    _f("billing_method", "enum", required=True, enum=BillingMethod),
    _f("billing_frequency", "enum", required=True, enum=BillingFrequency),
    _f("lead_days", "int", minimum=0, maximum=90),
    _f("tolerance_amount", "money", minimum=0, nullable=False),
    _f("tolerance_percent", "money", minimum=0, maximum=100, nullable=False),
    _f("tolerance_rule", "enum", enum=ToleranceRule),
    _f("retro_add_days", "int", minimum=0),
    _f("retro_term_days", "int", minimum=0),
    _f("retro_change_days", "int", minimum=0),
    _f("coverage_month_rule", "enum", enum=CoverageMonthRule),
    _f("grace_days", "int", minimum=0),
    _f("grace_day_kind", "enum", enum=GraceDayKind),
    _f("payroll_frequency", "enum", enum=PayrollFrequency),
    _f("credit_policy", "enum", enum=CreditPolicy),
)
SUBGROUP_FIELDS = (
    _f("code", required=True, max_len=20),
    _f("name", required=True, max_len=200),
    _f("kind", "enum", required=True, enum=SubgroupKind),
    _f("bill_separately", "bool"),
)
CLASS_FIELDS = (
    _f("code", required=True, max_len=20),
    _f("name", required=True, max_len=200),
)
BOR_FIELDS = (
    _f("agency", required=True, max_len=20),
    _f("writing_broker", max_len=20),
    _f("effective_from", "date", required=True),
    _f("effective_to", "date"),
    _f("commission_split_percent", "money", minimum=Decimal("0.01"), maximum=100, nullable=False),
)
PLAN_FIELDS = (
    _f("code", required=True, max_len=20),
    _f("name", required=True, max_len=200),
    _f("product", required=True, max_len=20),
    _f("class", max_len=20),
    _f("effective_from", "date", required=True),
    _f("effective_to", "date"),
)
RATE_FIELDS = (
    _f("effective_from", "date", required=True),
    _f("effective_to", "date"),
    _f("unit_rate", "money", places=6, minimum=0),
    _f("volume_flat_amount", "money", minimum=0),
    _f("volume_salary_multiple", "money", minimum=0),
    _f("volume_maximum", "money", minimum=0),
    _f("volume_rounding_unit", "money", minimum=0),
    _f("weekly_benefit_percent", "money", places=4, minimum=0, maximum=1),
    _f("weekly_benefit_maximum", "money", minimum=0),
    _f("covered_payroll_maximum", "money", minimum=0),
    _f("child_rate", "money", places=6, minimum=0),
    # Dependent children are covered to 26 (ACA), so a child age limit above that is a typo.
    _f("child_rate_max_age", "int", minimum=1, maximum=26),
    _f("max_charged_children", "int", minimum=1),
    _f("age_reference", "enum", enum=AgeReference),
)
CHILD_RULE_LIMITS = ("child_rate_max_age", "max_charged_children")
RATE_NESTED = ("tier_rates", "age_bands", "age_reductions")
MEMBER_FIELDS = (
    _f("member_key", required=True, max_len=20),
    _f("employee_id", "strict_text", max_len=40),
    _f("first_name", required=True, max_len=100),
    _f("last_name", required=True, max_len=100),
    _f("ssn", "ssn"),
    _f("birth_date", "date", required=True),
    _f("gender", "enum", enum=Gender),
    _f("hire_date", "date"),
    _f("annual_salary", "money", minimum=0),
    _f("status", "enum", enum=MemberStatus),
    _f("subgroup", max_len=20),
    _f("class", max_len=20),
    _f("postal_code", "strict_text", max_len=10),
)
DEPENDENT_FIELDS = (
    _f("dependent_key", "strict_text", required=True, max_len=4),
    _f("first_name", required=True, max_len=100),
    _f("last_name", required=True, max_len=100),
    _f("relationship", "enum", required=True, enum=Relationship, column="relationship_to_member"),
    _f("birth_date", "date", required=True),
    _f("gender", "enum", enum=Gender),
    _f("ssn", "ssn"),
    _f("effective_from", "date"),
    _f("effective_to", "date"),
)
COVERAGE_FIELDS = (
    _f("plan", required=True, max_len=20),
    _f("tier", "enum", enum=Tier),
    _f("elected_volume", "money", minimum=0),
    _f("effective_from", "date", required=True),
    _f("effective_to", "date"),
)
USER_FIELDS = (
    _f("email", "email", required=True, max_len=254),
    _f("full_name", required=True, max_len=200),
    _f("role", "enum", required=True, enum=Role),
    _f("password", "strict_text", nullable=False),
    _f("is_active", "bool"),
    _f("broker_npn", max_len=20),
)

# Which rate-version fields each rating basis needs (all of) and accepts.
BASIS_REQUIRED: dict[RatingBasis, tuple[str, ...]] = {
    RatingBasis.TIERED_COMPOSITE: ("tier_rates",),
    RatingBasis.AGE_BANDED: ("age_bands",),
    RatingBasis.PER_THOUSAND_VOLUME: ("unit_rate",),
    RatingBasis.STD_WEEKLY_BENEFIT: (
        "unit_rate",
        "weekly_benefit_percent",
        "weekly_benefit_maximum",
    ),
    RatingBasis.LTD_COVERED_PAYROLL: ("unit_rate", "covered_payroll_maximum"),
}
BASIS_ACCEPTS: dict[RatingBasis, set[str]] = {
    RatingBasis.TIERED_COMPOSITE: {"tier_rates"},
    RatingBasis.AGE_BANDED: {"age_bands", "child_rate", *CHILD_RULE_LIMITS},
    RatingBasis.PER_THOUSAND_VOLUME: {
        "unit_rate",
        "volume_flat_amount",
        "volume_salary_multiple",
        "volume_maximum",
        "volume_rounding_unit",
        "age_reductions",
    },
    RatingBasis.STD_WEEKLY_BENEFIT: {
        "unit_rate",
        "weekly_benefit_percent",
        "weekly_benefit_maximum",
    },
    RatingBasis.LTD_COVERED_PAYROLL: {"unit_rate", "covered_payroll_maximum"},
}
BASIS_SPECIFIC = set().union(*BASIS_ACCEPTS.values())
RATE_SCALARS = tuple(f.name for f in RATE_FIELDS if f.name not in ("effective_from",))


# --------------------------------------------------------------------------- checking


_BAD = object()


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _show(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


class _Checker:
    """Reads the document into normalized values (Decimal, date, enum members), collecting
    every problem as a RowError instead of stopping at the first."""

    def __init__(self, source: str):
        self.source = source
        self.errors: list[RowError] = []

    def error(self, path: str, message: str, value: Any = None) -> None:
        self.errors.append(
            RowError(
                path,
                None,
                message,
                source=self.source,
                value=None if value is None else _show(value),
            )
        )

    def items(self, obj: dict, key: str, path: str) -> list[tuple[str, Any]]:
        """The entries of a list field as (path, item); a non-list is an error."""
        value = obj.get(key)
        if value is None:
            return []
        here = _join(path, key)
        if not isinstance(value, list):
            self.error(here, "expected a list", type(value).__name__)
            return []
        return [(_join(here, i), item) for i, item in enumerate(value)]

    def read(
        self, obj: Any, path: str, fields: Iterable[FieldSpec], nested: Iterable[str] = ()
    ) -> dict | None:
        """The fields present in `obj`, converted; None when `obj` is not a mapping."""
        fields = tuple(fields)
        if not isinstance(obj, dict):
            self.error(path, "expected a mapping of field: value", type(obj).__name__)
            return None
        allowed = {f.name for f in fields} | set(nested)
        for key in obj:
            if key not in allowed:
                self.error(
                    _join(path, str(key)),
                    "unknown field; expected one of: " + ", ".join(sorted(allowed)),
                )
        out: dict[str, Any] = {}
        for spec in fields:
            here = _join(path, spec.name)
            if spec.name not in obj or obj[spec.name] is None or obj[spec.name] == "":
                if spec.required:
                    self.error(here, "required")
                elif spec.name in obj and not spec.can_be_null:
                    self.error(here, "cannot be empty; leave the field out to keep the default")
                elif spec.name in obj:
                    out[spec.attr] = None
                continue
            value = self.convert(spec, obj[spec.name], here)
            if value is not _BAD:
                out[spec.attr] = value
        return out

    def convert(self, spec: FieldSpec, raw: Any, path: str) -> Any:
        kind = spec.kind
        if kind in ("text", "strict_text", "email"):
            if isinstance(raw, int) and not isinstance(raw, bool) and kind == "text":
                raw = str(raw)
            if not isinstance(raw, str):
                hint = " (quote it so leading zeros are kept)" if kind == "strict_text" else ""
                self.error(path, f"expected text{hint}", raw)
                return _BAD
            text = raw.strip()
            if spec.max_len and len(text) > spec.max_len:
                self.error(path, f"at most {spec.max_len} characters", text)
                return _BAD
            if kind == "email":
                if not EMAIL_PATTERN.match(text):
                    self.error(path, "expected an email address such as hr@example.com", text)
                    return _BAD
                text = text.lower()
            return text
        if kind == "money":
            return self.money(
                raw, path, places=spec.places, minimum=spec.minimum, maximum=spec.maximum
            )
        if kind == "int":
            if isinstance(raw, bool) or not isinstance(raw, int):
                if isinstance(raw, str) and raw.strip().isdigit():
                    raw = int(raw.strip())
                else:
                    self.error(path, "expected a whole number", raw)
                    return _BAD
            if (
                spec.minimum is not None
                and raw < spec.minimum
                or (spec.maximum is not None and raw > spec.maximum)
            ):
                self.error(
                    path,
                    f"expected a whole number from {spec.minimum}"
                    + (f" to {spec.maximum}" if spec.maximum is not None else " up"),
                    raw,
                )
                return _BAD
            return raw
        if kind == "date":
            return self.date(raw, path)
        if kind == "enum":
            return self.enum(raw, path, spec.enum)
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            if isinstance(raw, str) and raw.strip().lower() in ("true", "yes", "y", "1"):
                return True
            if isinstance(raw, str) and raw.strip().lower() in ("false", "no", "n", "0"):
                return False
            self.error(path, "expected true or false", raw)
            return _BAD
        if kind == "ssn":
            if not isinstance(raw, str):
                # Never echo a possible SSN back, not even in an error.
                self.error(path, "expected an SSN as quoted text such as '123-45-6789'")
                return _BAD
            try:
                return normalize_ssn(raw)
            except ValueError as exc:
                digits = re.sub(r"\D", "", raw)
                self.error(path, str(exc), f"***-**-{digits[-4:]}" if len(digits) >= 4 else None)
                return _BAD
        raise AssertionError(kind)

    def money(self, raw: Any, path: str, *, places: int = 2, minimum=None, maximum=None) -> Any:
        """Decimal from a string or int. A float (YAML reads 112.40 as one) is accepted only
        through str(value), which gives the shortest text that reads back as that float, so
        112.40 -> '112.4' -> Decimal('112.4'); no float arithmetic ever happens."""
        if isinstance(raw, float):
            raw = str(raw)
        try:
            amount = D(raw)
        except (TypeError, ValueError):
            self.error(path, MONEY_EXAMPLE, raw)
            return _BAD
        if amount.as_tuple().exponent < -places:
            self.error(path, f"at most {places} decimal places", raw)
            return _BAD
        if minimum is not None and amount < Decimal(minimum):
            self.error(path, f"must be at least {minimum}", raw)
            return _BAD
        if maximum is not None and amount > Decimal(maximum):
            self.error(path, f"must be at most {maximum}", raw)
            return _BAD
        return amount

    def date(self, raw: Any, path: str) -> Any:
        if isinstance(raw, date) and not hasattr(raw, "hour"):
            return raw
        if isinstance(raw, str) and DATE_PATTERN.match(raw.strip()):
            try:
                return date.fromisoformat(raw.strip())
            except ValueError:
                pass
        self.error(path, "expected a date YYYY-MM-DD", raw)
        return _BAD

    def enum(self, raw: Any, path: str, enum_cls: type) -> Any:
        text = (
            str(raw).strip() if isinstance(raw, str | int) and not isinstance(raw, bool) else None
        )
        if text is not None:
            for member in enum_cls:
                if member.value == text or member.value.lower() == text.lower():
                    return member
        allowed = ", ".join(m.value for m in enum_cls)
        self.error(path, f"expected one of: {allowed}", raw)
        return _BAD

    def date_range(self, values: dict, path: str) -> None:
        start, end = values.get("effective_from"), values.get("effective_to")
        if start is not None and end is not None and end < start:
            self.error(_join(path, "effective_to"), "must be on or after effective_from", end)

    def no_overlap(self, rows: list[tuple[str, dict]], what: str) -> None:
        """Effective-dated rows of one key must not overlap (the earlier one must be closed)."""
        dated = sorted(
            ((p, v) for p, v in rows if v.get("effective_from") is not None),
            key=lambda pv: pv[1]["effective_from"],
        )
        for (_, prev), (path, cur) in zip(dated, dated[1:], strict=False):
            prev_to = prev.get("effective_to")
            if prev_to is None or prev_to >= cur["effective_from"]:
                self.error(
                    _join(path, "effective_from"),
                    f"overlaps the {what} effective {prev['effective_from']:%Y-%m-%d}; close that "
                    "one (effective_to) before this one starts",
                    cur["effective_from"],
                )

    def unique(self, rows: list[tuple[str, dict]], key: str, what: str) -> None:
        seen: dict[Any, str] = {}
        for path, values in rows:
            value = values.get(key)
            if value is None:
                continue
            if value in seen:
                self.error(
                    _join(path, key), f"duplicate {what}; first given at {seen[value]}", value
                )
            else:
                seen[value] = path


@dataclass
class _DbFacts:
    """What the database already holds that the document may refer to."""

    product_basis: dict[str, RatingBasis] = field(default_factory=dict)
    agencies: set[str] = field(default_factory=set)
    broker_agency: dict[str, str] = field(default_factory=dict)  # npn -> agency code
    group_plans: dict[str, dict[str, str]] = field(default_factory=dict)  # num -> plan -> product
    group_subgroups: dict[str, set[str]] = field(default_factory=dict)
    group_classes: dict[str, set[str]] = field(default_factory=dict)
    member_dependents: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session | None, doc: Any) -> _DbFacts:
        facts = cls()
        if session is None or not isinstance(doc, dict):
            return facts
        facts.product_basis = dict(
            session.execute(select(Product.code, Product.rating_basis)).all()
        )
        facts.agencies = set(session.scalars(select(BrokerAgency.code)))
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
            facts.member_dependents.setdefault((number_of[gid], member_key), set()).add(dep_key)
        return facts


def _check(doc: Any, source: str, facts: _DbFacts) -> tuple[list[RowError], dict]:
    """Validate and normalize the whole document; returns (errors, normalized)."""
    c = _Checker(source)
    out: dict[str, list] = {key: [] for key in TOP_LEVEL_KEYS}
    if not isinstance(doc, dict):
        c.error("", "the document must be a mapping with keys such as groups")
        return c.errors, out
    for key in doc:
        if key not in TOP_LEVEL_KEYS:
            c.error(str(key), "unknown section; expected one of: " + ", ".join(TOP_LEVEL_KEYS))

    # Products: the global catalog.
    product_basis = dict(facts.product_basis)
    rows = []
    for path, item in c.items(doc, "products", ""):
        values = c.read(item, path, PRODUCT_FIELDS)
        if values is None:
            continue
        rows.append((path, values))
        if values.get("code") and values.get("rating_basis"):
            product_basis[values["code"]] = values["rating_basis"]
    c.unique(rows, "code", "product code")
    out["products"] = [v for _, v in rows]

    # Broker agencies and their brokers.
    agencies = set(facts.agencies)
    broker_agency = dict(facts.broker_agency)
    rows, broker_rows = [], []
    for path, item in c.items(doc, "broker_agencies", ""):
        values = c.read(item, path, AGENCY_FIELDS, nested=("brokers",))
        if values is None:
            continue
        values["brokers"] = []
        for bpath, bitem in c.items(item, "brokers", path):
            bvalues = c.read(bitem, bpath, BROKER_FIELDS)
            if bvalues is None:
                continue
            values["brokers"].append(bvalues)
            broker_rows.append((bpath, bvalues))
            if bvalues.get("npn"):
                broker_agency[bvalues["npn"]] = values.get("code")
        rows.append((path, values))
        if values.get("code"):
            agencies.add(values["code"])
    c.unique(rows, "code", "agency code")
    c.unique(broker_rows, "npn", "broker NPN")
    out["broker_agencies"] = [v for _, v in rows]

    # Groups.
    group_subgroups: dict[str, set[str]] = {}
    rows = []
    for path, item in c.items(doc, "groups", ""):
        values = _check_group(c, item, path, facts, product_basis, agencies, broker_agency)
        if values is None:
            continue
        rows.append((path, values))
        num = values.get("group_number")
        if num:
            group_subgroups[num] = {s["code"] for s in values["subgroups"] if s.get("code")} | (
                facts.group_subgroups.get(num, set())
            )
    c.unique(rows, "group_number", "group number")
    out["groups"] = [v for _, v in rows]
    for num, codes in facts.group_subgroups.items():
        group_subgroups.setdefault(num, codes)

    # Users.
    rows = []
    for path, item in c.items(doc, "users", ""):
        values = c.read(item, path, USER_FIELDS, nested=("groups",))
        if values is None:
            continue
        if "groups" in item:
            values["groups"] = []
        for gpath, ref in c.items(item, "groups", path):
            if isinstance(ref, dict):
                ref_values = c.read(
                    ref, gpath, (_f("group", required=True, max_len=20), _f("subgroup", max_len=20))
                )
            else:
                ref_values = c.read({"group": ref}, gpath, (_f("group", required=True),))
            if not ref_values or not ref_values.get("group"):
                continue
            num, sub = ref_values["group"], ref_values.get("subgroup")
            if num not in group_subgroups:
                c.error(gpath, "no such group in this document or the database", num)
                continue
            if sub is not None and sub not in group_subgroups[num]:
                c.error(_join(gpath, "subgroup"), f"no such subgroup in group {num}", sub)
                continue
            values["groups"].append((num, sub))
        npn = values.get("broker_npn")
        if npn is not None and npn not in broker_agency:
            c.error(
                _join(path, "broker_npn"),
                "no broker with this NPN in the document or the database",
                npn,
            )
        if values.get("role") == Role.BROKER and not npn and "broker_npn" not in item:
            c.error(_join(path, "broker_npn"), "a broker user needs broker_npn")
        if values.get("role") not in (None, Role.EMPLOYER) and values.get("groups"):
            c.error(
                _join(path, "groups"),
                "only employer users are given groups; staff see "
                "every group and brokers see their agency's book",
            )
        rows.append((path, values))
    c.unique(rows, "email", "user email")
    out["users"] = [v for _, v in rows]
    return c.errors, out


def _check_group(c, item, path, facts, product_basis, agencies, broker_agency) -> dict | None:
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
        ),
    )
    if values is None:
        return None
    num = values.get("group_number")

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
            c.error(_join(bpath, "agency"), "no broker agency with this code", agency)
        npn = bvalues.get("writing_broker")
        if npn is not None:
            if npn not in broker_agency:
                c.error(_join(bpath, "writing_broker"), "no broker with this NPN", npn)
            elif agency is not None and broker_agency[npn] != agency:
                c.error(
                    _join(bpath, "writing_broker"), f"this broker is not with agency {agency}", npn
                )
        bors.append((bpath, bvalues))
    values["brokers_of_record"] = [v for _, v in bors]

    # Plans and their rate versions.
    plan_basis: dict[str, RatingBasis | None] = {
        code: product_basis.get(product) for code, product in facts.group_plans.get(num, {}).items()
    }
    plans = []
    for ppath, pitem in c.items(item, "plans", path):
        pvalues = c.read(pitem, ppath, PLAN_FIELDS, nested=("rate_versions",))
        if pvalues is None:
            continue
        c.date_range(pvalues, ppath)
        basis = None
        product = pvalues.get("product")
        if product is not None:
            basis = product_basis.get(product)
            if basis is None:
                c.error(
                    _join(ppath, "product"),
                    "no product with this code in the document or the database",
                    product,
                )
        klass = pvalues.get("class")
        if klass is not None and klass not in class_codes:
            c.error(_join(ppath, "class"), "no such class in this group", klass)
        versions = []
        for rpath, ritem in c.items(pitem, "rate_versions", ppath):
            rvalues = _check_rate_version(c, ritem, rpath, basis)
            if rvalues is not None:
                versions.append((rpath, rvalues))
        c.unique(versions, "effective_from", "rate version effective date")
        c.no_overlap(versions, "rate version")
        pvalues["rate_versions"] = [v for _, v in versions]
        plans.append((ppath, pvalues))
        if pvalues.get("code"):
            plan_basis[pvalues["code"]] = basis
    c.unique(plans, "code", "plan code")
    values["plans"] = [v for _, v in plans]

    # Members, dependents, coverages.
    members = []
    employee_ids = []
    for mpath, mitem in c.items(item, "members", path):
        mvalues = c.read(mitem, mpath, MEMBER_FIELDS, nested=("dependents", "coverages"))
        if mvalues is None:
            continue
        sub = mvalues.get("subgroup")
        if sub is not None and sub not in subgroup_codes:
            c.error(_join(mpath, "subgroup"), "no such subgroup in this group", sub)
        klass = mvalues.get("class")
        if klass is not None and klass not in class_codes:
            c.error(_join(mpath, "class"), "no such class in this group", klass)
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
        dep_keys |= facts.member_dependents.get((num, mvalues.get("member_key")), set())
        coverages = []
        for cpath, citem in c.items(mitem, "coverages", mpath):
            cvalues = c.read(citem, cpath, COVERAGE_FIELDS, nested=("dependents",))
            if cvalues is None:
                continue
            c.date_range(cvalues, cpath)
            plan = cvalues.get("plan")
            if plan is not None:
                if plan not in plan_basis:
                    c.error(_join(cpath, "plan"), "no plan with this code in the group", plan)
                elif plan_basis[plan] == RatingBasis.TIERED_COMPOSITE and not cvalues.get("tier"):
                    c.error(
                        _join(cpath, "tier"),
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
                c.error(_join(cpath, "dependents"), "a dependent is listed twice")
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
    values["members"] = [v for _, v in members]
    return values


def _check_rate_version(c: _Checker, item: Any, path: str, basis: RatingBasis | None):
    values = c.read(item, path, RATE_FIELDS, nested=RATE_NESTED)
    if values is None:
        return None
    c.date_range(values, path)
    tiers = item.get("tier_rates")
    if tiers is not None:
        here = _join(path, "tier_rates")
        values["tier_rates"] = {}
        if not isinstance(tiers, dict):
            c.error(here, "expected a mapping of tier: monthly rate, e.g. EE: '650.00'")
        else:
            for tier_name, amount in tiers.items():
                tpath = _join(here, str(tier_name))
                tier = c.enum(tier_name, tpath, Tier)
                rate = c.money(amount, tpath, places=6, minimum=0)
                if tier is not _BAD and rate is not _BAD:
                    values["tier_rates"][tier] = rate
    bands = []
    for bpath, band in c.items(item, "age_bands", path):
        if isinstance(band, dict):
            band = [band.get("min_age"), band.get("max_age"), band.get("monthly_rate")]
        if not isinstance(band, list) or len(band) != 3:
            c.error(bpath, "expected [min_age, max_age, monthly_rate]", band)
            continue
        lo, hi, rate = band
        if (
            isinstance(lo, bool)
            or not isinstance(lo, int)
            or isinstance(hi, bool)
            or not (isinstance(hi, int))
            or lo < 0
            or hi < lo
        ):
            c.error(bpath, "expected ages as whole numbers with min_age <= max_age", band)
            continue
        rate = c.money(rate, _join(bpath, 2), places=6, minimum=0)
        if rate is not _BAD:
            bands.append((lo, hi, rate))
    if "age_bands" in item:
        bands.sort()
        for (lo1, hi1, _), (lo2, _, _) in zip(bands, bands[1:], strict=False):
            if lo2 <= hi1:
                c.error(_join(path, "age_bands"), f"age bands {lo1}-{hi1} and {lo2}- overlap")
        values["age_bands"] = bands
    reductions = []
    for rpath, red in c.items(item, "age_reductions", path):
        if isinstance(red, dict):
            red = [red.get("from_age"), red.get("volume_percent")]
        if (
            not isinstance(red, list)
            or len(red) != 2
            or isinstance(red[0], bool)
            or not (isinstance(red[0], int))
        ):
            c.error(rpath, "expected [from_age, volume_percent] such as [65, 65]", red)
            continue
        pct = c.money(red[1], _join(rpath, 1), minimum=Decimal("0.01"), maximum=100)
        if pct is not _BAD:
            reductions.append((red[0], pct))
    if "age_reductions" in item:
        if len({age for age, _ in reductions}) != len(reductions):
            c.error(_join(path, "age_reductions"), "an age is given twice")
        values["age_reductions"] = sorted(reductions)

    if basis is not None:
        for name in BASIS_REQUIRED[basis]:
            if not values.get(name):
                c.error(_join(path, name), f"required for {basis.value} rates")
        if basis == RatingBasis.PER_THOUSAND_VOLUME and not (
            values.get("volume_flat_amount") or values.get("volume_salary_multiple")
        ):
            c.error(
                path, "per_thousand_volume rates need volume_flat_amount or volume_salary_multiple"
            )
        for name in BASIS_SPECIFIC - BASIS_ACCEPTS[basis]:
            if item.get(name) not in (None, [], {}):
                c.error(_join(path, name), f"does not apply to {basis.value} rates")
    if values.get("child_rate") is None:
        for name in CHILD_RULE_LIMITS:
            if values.get(name) is not None:
                c.error(_join(path, name), "applies only beside a child_rate", values[name])
        if "child_rate" in values:
            # child_rate: null removes the child rule, its limits with it.
            values.update(dict.fromkeys(CHILD_RULE_LIMITS))
    return values


def validate_setup_document(
    doc: Any, source: str = "document", *, session: Session | None = None
) -> list[RowError]:
    """Every problem in `doc`, each with its path (e.g. `groups[1].plans[0].rate_versions[0]
    .tier_rates.FAM`), the message and the offending value; an empty list means valid.

    With `session`, references may also resolve to rows already in the database (a product
    code, an agency, a group's plans, subgroups, classes and a member's dependents). Money is
    read from strings or ints; a YAML float is read through str(value), never as a float."""
    errors, _ = _check(doc, source, _DbFacts.load(session, doc))
    return errors


# --------------------------------------------------------------------------- importing


@dataclass
class ImportSummary:
    """Rows created, updated and left unchanged per kind (products, groups, members ...)."""

    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    updated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    unchanged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    def count(self, kind: str, outcome: str) -> None:
        getattr(self, outcome)[kind] += 1

    @property
    def changed(self) -> bool:
        return any(self.created.values()) or any(self.updated.values())

    def as_dict(self) -> dict:
        return {
            "created": dict(self.created),
            "updated": dict(self.updated),
            "unchanged": dict(self.unchanged),
        }


def _apply(obj: Any, values: dict, skip: Iterable[str] = ()) -> bool:
    """Set the attributes that differ; True when any did."""
    changed = False
    skip = set(skip)
    for key, value in values.items():
        if key in skip:
            continue
        if getattr(obj, key) != value:
            setattr(obj, key, value)
            changed = True
    return changed


def _scalars(values: dict, skip: Iterable[str]) -> dict:
    skip = set(skip)
    return {k: v for k, v in values.items() if k not in skip}


def _upsert(session, summary, kind, existing, key, values, model, skip=(), **extra):
    """Create or update one row keyed in `existing`; returns (obj, outcome)."""
    obj = existing.get(key)
    scalars = _scalars(values, skip)
    if obj is None:
        obj = model(**scalars, **extra)
        session.add(obj)
        existing[key] = obj
        outcome = "created"
    else:
        outcome = "updated" if _apply(obj, scalars) else "unchanged"
    summary.count(kind, outcome)
    return obj, outcome


def _rate_content(rv: RateVersion) -> dict:
    return {
        **{name: getattr(rv, name) for name in RATE_SCALARS if name != "effective_to"},
        "tier_rates": {t.tier: t.monthly_rate for t in rv.tier_rates},
        "age_bands": sorted((b.min_age, b.max_age, b.monthly_rate) for b in rv.age_bands),
        "age_reductions": sorted((r.from_age, r.volume_percent) for r in rv.age_reductions),
    }


def _rate_differs(rv: RateVersion, values: dict) -> bool:
    """True when the document's rate content (ignoring effective_to) differs from the row."""
    current = _rate_content(rv)
    return any(
        key in current and current[key] != value
        for key, value in values.items()
        if key not in ("effective_from", "effective_to")
    )


def import_setup(
    session: Session, doc: Any, *, actor: User | None = None, source: str = "document"
) -> ImportSummary:
    """Create or update everything `doc` describes, keyed on natural keys (see the module
    docstring and docs/setup-format.md). Validates first: on any problem raises
    ValidationFailed("<source>: N problems", errors) having written nothing. A billed rate
    version whose content differs is one of those problems (a new version must be added).

    Fields absent from the document are left as they are on existing rows (and take the model
    default on new ones); an explicit null clears an optional field. Records one
    `setup.imported` audit row when anything changed. Flushes only; the caller commits."""
    facts = _DbFacts.load(session, doc)
    errors, norm = _check(doc, source, facts)
    with session.no_autoflush:
        state = _Existing.load(session, norm)
        errors += _billed_conflicts(norm, state, source)
        if errors:
            raise ValidationFailed(f"{source}: {len(errors)} problems", errors)
        summary = ImportSummary()
        _write(session, norm, state, summary)
    if summary.changed:
        record(
            session,
            "setup.imported",
            actor=actor,
            detail={"source": source, **summary.as_dict()},
        )
    session.flush()
    return summary


@dataclass
class _Existing:
    """Rows already in the database that the document's natural keys can match."""

    products: dict[str, Product]
    agencies: dict[str, BrokerAgency]
    brokers: dict[str, Broker]
    groups: dict[str, EmployerGroup]
    plans: dict[tuple[int, str], Plan]
    users: dict[str, User]

    @classmethod
    def load(cls, session: Session, norm: dict) -> _Existing:
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


def _billed_conflicts(norm: dict, state: _Existing, source: str) -> list[RowError]:
    errors = []
    for gi, g in enumerate(norm["groups"]):
        group = state.groups.get(g["group_number"])
        if group is None:
            continue
        for pi, p in enumerate(g["plans"]):
            plan = state.plans.get((group.id, p["code"]))
            if plan is None:
                continue
            by_from = {rv.effective_from: rv for rv in plan.rate_versions}
            for ri, r in enumerate(p["rate_versions"]):
                rv = by_from.get(r["effective_from"])
                if rv is not None and rv.first_billed_on is not None and _rate_differs(rv, r):
                    errors.append(
                        RowError(
                            f"groups[{gi}].plans[{pi}].rate_versions[{ri}]",
                            None,
                            f"the rate version of plan {p['code']} effective "
                            f"{rv.effective_from:%Y-%m-%d} was billed on "
                            f"{rv.first_billed_on:%Y-%m-%d}; billed; add a new rate version "
                            "instead",
                            source=source,
                            value=rv.effective_from.isoformat(),
                        )
                    )
    return errors


def _write(session: Session, norm: dict, state: _Existing, summary: ImportSummary) -> None:
    for values in norm["products"]:
        _upsert(session, summary, "products", state.products, values["code"], values, Product)
    for values in norm["broker_agencies"]:
        agency, _ = _upsert(
            session,
            summary,
            "broker_agencies",
            state.agencies,
            values["code"],
            values,
            BrokerAgency,
            skip=("brokers",),
        )
        for bvalues in values["brokers"]:
            broker = state.brokers.get(bvalues["npn"])
            if broker is None:
                broker = Broker(agency=agency, **bvalues)
                session.add(broker)
                state.brokers[bvalues["npn"]] = broker
                summary.count("brokers", "created")
            else:
                changed = _apply(broker, bvalues)
                if broker.agency is not agency:
                    broker.agency = agency
                    changed = True
                summary.count("brokers", "updated" if changed else "unchanged")
    session.flush()
    for values in norm["groups"]:
        _write_group(session, values, state, summary)
    for values in norm["users"]:
        _write_user(session, values, state, summary)


def _write_group(session: Session, g: dict, state: _Existing, summary: ImportSummary) -> None:
    nested = ("billing_policies", "subgroups", "classes", "brokers_of_record", "plans", "members")
    group, outcome = _upsert(
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
        _upsert(
            session,
            summary,
            "billing_policies",
            policies,
            values["effective_from"],
            values,
            BillingPolicy,
            group_id=group.id,
        )
    for values in g["subgroups"]:
        _upsert(
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
        _upsert(
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
        _upsert(
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

    plans = {code: plan for (gid, code), plan in state.plans.items() if gid == group.id}
    for values in g["plans"]:
        row = _scalars(values, ("product", "class", "rate_versions"))
        row["product_id"] = state.products[values["product"]].id
        if "class" in values:
            row["class_id"] = classes[values["class"]].id if values["class"] else None
        plan, outcome = _upsert(
            session, summary, "plans", plans, values["code"], row, Plan, group_id=group.id
        )
        _write_rate_versions(session, plan, values["rate_versions"], summary)
    session.flush()

    if g["members"]:
        _write_members(session, group, g["members"], plans, subgroups, classes, summary)


def _write_rate_versions(session, plan: Plan, versions: list[dict], summary) -> None:
    by_from = {rv.effective_from: rv for rv in plan.rate_versions}
    for values in versions:
        scalars = _scalars(values, RATE_NESTED)
        rv = by_from.get(values["effective_from"])
        if rv is None:
            rv = RateVersion(plan=plan, **scalars)
            for tier, rate in values.get("tier_rates", {}).items():
                rv.tier_rates.append(RateTier(tier=tier, monthly_rate=rate))
            for lo, hi, rate in values.get("age_bands", []):
                rv.age_bands.append(RateAgeBand(min_age=lo, max_age=hi, monthly_rate=rate))
            for age, pct in values.get("age_reductions", []):
                rv.age_reductions.append(AgeReduction(from_age=age, volume_percent=pct))
            session.add(rv)
            by_from[rv.effective_from] = rv
            summary.count("rate_versions", "created")
            continue
        # A billed version may only be closed (effective_to); _billed_conflicts refused the rest.
        changed = _apply(rv, scalars)
        if "tier_rates" in values:
            changed |= _sync_children(
                rv.tier_rates,
                {t.tier: t for t in rv.tier_rates},
                values["tier_rates"],
                lambda t, r: RateTier(tier=t, monthly_rate=r),
                "monthly_rate",
            )
        if "age_bands" in values:
            wanted = {lo: (hi, rate) for lo, hi, rate in values["age_bands"]}
            current = {b.min_age: b for b in rv.age_bands}
            for lo in set(current) - set(wanted):
                rv.age_bands.remove(current[lo])
                changed = True
            for lo, (hi, rate) in wanted.items():
                band = current.get(lo)
                if band is None:
                    rv.age_bands.append(RateAgeBand(min_age=lo, max_age=hi, monthly_rate=rate))
                    changed = True
                else:
                    changed |= _apply(band, {"max_age": hi, "monthly_rate": rate})
        if "age_reductions" in values:
            changed |= _sync_children(
                rv.age_reductions,
                {r.from_age: r for r in rv.age_reductions},
                dict(values["age_reductions"]),
                lambda a, p: AgeReduction(from_age=a, volume_percent=p),
                "volume_percent",
            )
        summary.count("rate_versions", "updated" if changed else "unchanged")


def _sync_children(collection: list, current: dict, wanted: dict, make, attr: str) -> bool:
    """Update child rows in place by key, add missing ones, remove extra ones (in place so a
    unique key is never inserted before the old row is gone)."""
    changed = False
    for key in set(current) - set(wanted):
        collection.remove(current[key])
        changed = True
    for key, value in wanted.items():
        row = current.get(key)
        if row is None:
            collection.append(make(key, value))
            changed = True
        elif getattr(row, attr) != value:
            setattr(row, attr, value)
            changed = True
    return changed


def _write_members(session, group, members, plans, subgroups, classes, summary) -> None:
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
        row = _scalars(values, ("dependents", "coverages", "subgroup", "class", "ssn"))
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
            changed = _apply(member, row)
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
            row = _scalars(dvalues, ("ssn",))
            key = (member_id, dvalues["dependent_key"])
            dep = dependents.get(key)
            if dep is None:
                new_rows.append({"member_id": member_id, **row, **_ssn_columns(dvalues.get("ssn"))})
                new_keys.append(key)
                summary.count("dependents", "created")
            else:
                changed = _apply(dep, row)
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
            row = _scalars(cvalues, ("plan", "dependents"))
            wanted = {dependent_ids[(member_id, key)] for key in cvalues["dependents"]}
            cov = coverages.get((member_id, plan.id, cvalues["effective_from"]))
            if cov is None:
                new_rows.append({"member_id": member_id, "plan_id": plan.id, **row})
                if wanted:
                    new_covered[(member_id, plan.id, cvalues["effective_from"])] = wanted
                summary.count("coverages", "created")
                continue
            changed = _apply(cov, row)
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
    Rows are batched by their key set so an absent field takes the column default; ids are read back by
    natural key afterwards (RETURNING many rows in order is slow on SQLite)."""
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


def _write_user(session: Session, values: dict, state: _Existing, summary: ImportSummary) -> None:
    row = _scalars(values, ("password", "groups", "broker_npn"))
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
    changed = _apply(user, row)
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
