"""The demo book of business: eight employer groups (5 to 2,000 members) on every rating basis,
a year of enrollment history, brokers and one login per role. Built as a set-up document and
loaded through billing_core.setup, so the demo exercises the same path as a carrier's
onboarding file; then a year of bills is issued through billing_core.billing.invoicing, with a few
late-reported changes billed as retro adjustments. Deterministic for a given `today` and seed."""

from __future__ import annotations

import copy
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from billing_core import mail
from billing_core.billing.enrollment import add_months
from billing_core.billing.invoicing import billing_period_for, issue_billing_run
from billing_core.billing.retro import premium_differences
from billing_core.models import (
    Adjustment,
    EmployerGroup,
    Invoice,
    Member,
    User,
)
from billing_core.models.enums import (
    AdjustmentStatus,
    PaymentMethod,
    PaymentSource,
    Role,
)
from billing_core.money import D, cents
from billing_core.payments.allocation import open_balances
from billing_core.payments.receipts import record_payment, return_payment
from billing_core.setup import import_setup
from billing_core.users import second_factor

DEMO_PASSWORD = "demo-password-2026"  # nosec B105 # the demo's published logins
# Demo staff log in with a second factor like all staff: this authenticator key is published
# with the demo logins (development only, like the password). Add it to any TOTP app.
DEMO_TOTP_SECRET = "DEMOSTAFFSECONDFACTORKEYFORDEMOS"  # nosec B105 # published, as above
DEMO_SOURCE = "demo"
DEMO_SEED = 2026

# Monthly base rates; each group's rates are these times a group factor (0.92-1.08).
MEDICAL_PPO = {"EE": "650.00", "ES": "1350.00", "EC": "1180.00", "FAM": "1900.00"}
DENTAL = {"EE": "38.50", "ES": "76.80", "EC": "84.20", "FAM": "112.40"}
VISION = {"EE": "7.20", "ES": "13.70", "EC": "14.10", "FAM": "20.60"}
SMALL_GROUP_BANDS = [
    (0, 14, "265.40"),
    (15, 20, "289.10"),
    (21, 24, "420.75"),
    (25, 29, "442.10"),
    (30, 34, "482.30"),
    (35, 39, "510.60"),
    (40, 44, "545.90"),
    (45, 49, "612.80"),
    (50, 54, "737.15"),
    (55, 59, "880.40"),
    (60, 64, "1012.70"),
    (65, 120, "1264.90"),
]

PRODUCTS = [
    {
        "code": "MED-PPO",
        "name": "Medical PPO 1000",
        "line_of_coverage": "medical",
        "rating_basis": "tiered_composite",
    },
    {
        "code": "MED-SG",
        "name": "Small Group Medical Silver",
        "line_of_coverage": "medical",
        "rating_basis": "age_banded",
    },
    {
        "code": "DEN-PPO",
        "name": "Dental PPO",
        "line_of_coverage": "dental",
        "rating_basis": "tiered_composite",
    },
    {
        "code": "VIS-BASE",
        "name": "Vision 12/12/24",
        "line_of_coverage": "vision",
        "rating_basis": "tiered_composite",
    },
    {
        "code": "LIFE-BASIC",
        "name": "Basic Term Life 2x salary",
        "line_of_coverage": "basic_life",
        "rating_basis": "per_thousand_volume",
    },
    {
        "code": "LIFE-SUPP",
        "name": "Supplemental Term Life",
        "line_of_coverage": "supplemental_life",
        "rating_basis": "per_thousand_volume",
    },
    {
        "code": "ADD-BASIC",
        "name": "Basic AD&D 2x salary",
        "line_of_coverage": "add",
        "rating_basis": "per_thousand_volume",
    },
    {
        "code": "STD-60",
        "name": "Short-Term Disability 60%",
        "line_of_coverage": "std",
        "rating_basis": "std_weekly_benefit",
    },
    {
        "code": "LTD-60",
        "name": "Long-Term Disability 60%",
        "line_of_coverage": "ltd",
        "rating_basis": "ltd_covered_payroll",
    },
]


@dataclass(frozen=True)
class _GroupSpec:
    number: str
    name: str
    slug: str
    size: int
    state: str
    zip_prefixes: tuple[int, ...]
    method: str
    frequency: str
    renewal_month: int
    since_year: int
    salary_range: tuple[int, int]
    renews: bool  # a medical/dental/vision renewal in the last 12 months
    agency: str = "HARBOR"
    subgroups: tuple[tuple[str, str, str, bool], ...] = ()  # code, name, kind, bill separately


GROUPS = [
    _GroupSpec(
        "G-1001",
        "Birchwood Bakery",
        "birchwoodbakery",
        5,
        "OR",
        (970, 972),
        "list_bill",
        "monthly",
        3,
        2019,
        (32_000, 61_000),
        True,
    ),
    _GroupSpec(
        "G-1002",
        "Summit Ridge Veterinary",
        "summitridgevet",
        14,
        "CO",
        (800, 803),
        "list_bill",
        "monthly",
        7,
        2017,
        (38_000, 118_000),
        False,
    ),
    _GroupSpec(
        "G-1003",
        "Keystone Architects",
        "keystonearch",
        48,
        "PA",
        (150, 191),
        "list_bill",
        "quarterly",
        1,
        2012,
        (55_000, 165_000),
        True,
    ),
    _GroupSpec(
        "G-1004",
        "Lakeshore Logistics",
        "lakeshorelogistics",
        120,
        "MI",
        (480, 492),
        "self_bill",
        "monthly",
        10,
        2015,
        (36_000, 92_000),
        True,
    ),
    _GroupSpec(
        "G-1005",
        "Pinecrest Health Clinics",
        "pinecresthealth",
        310,
        "WA",
        (980, 994),
        "list_bill",
        "monthly",
        5,
        2010,
        (42_000, 185_000),
        False,
        agency="CASCADE",
    ),
    _GroupSpec(
        "G-1006",
        "Meridian Manufacturing",
        "meridianmfg",
        640,
        "OH",
        (430, 458),
        "self_bill",
        "monthly",
        4,
        2008,
        (34_000, 128_000),
        True,
        subgroups=(
            ("FAB", "Fabrication division", "division", False),
            ("ASM", "Assembly division", "division", False),
            ("CORP", "Corporate office", "division", False),
        ),
    ),
    _GroupSpec(
        "G-1007",
        "Bayview Unified School District",
        "bayviewschools",
        1250,
        "CA",
        (940, 951),
        "list_bill",
        "monthly",
        7,
        2011,
        (48_000, 132_000),
        False,
    ),
    _GroupSpec(
        "G-1008",
        "Northstar Retail Group",
        "northstarretail",
        2000,
        "TX",
        (750, 799),
        "list_bill",
        "monthly",
        1,
        2009,
        (29_000, 142_000),
        True,
        subgroups=(
            ("DAL", "Dallas stores", "location", False),
            ("HOU", "Houston stores", "location", False),
            ("AUS", "Austin stores", "location", False),
            ("DC", "Fort Worth distribution center", "location", True),
        ),
    ),
]
DEMO_FIRST_GROUP = GROUPS[0].number

AGENCIES = [
    {
        "code": "HARBOR",
        "name": "Harbor Benefits Group",
        "tax_id": "94-3187452",
        "brokers": [
            {
                "npn": "18273645",
                "full_name": "Dana Whitfield",
                "email": "dana.whitfield@harborbenefits.example.com",
            },
            {
                "npn": "18273699",
                "full_name": "Marcus Lee",
                "email": "marcus.lee@harborbenefits.example.com",
            },
        ],
    },
    {
        "code": "CASCADE",
        "name": "Cascade Risk Partners",
        "tax_id": "91-2264810",
        "brokers": [
            {
                "npn": "20418833",
                "full_name": "Erin Castellanos",
                "email": "erin.castellanos@cascaderisk.example.com",
            },
        ],
    },
]

FEMALE = (
    "Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy "
    "Betty Sandra Ashley Emily Michelle Amanda Melissa Stephanie Rebecca Laura Sharon "
    "Cynthia Amy Angela Anna Brenda Emma Olivia Sophia Isabella Mia Priya Mei Fatima Aaliyah "
    "Camila Lucia Grace Hannah Chloe Nicole Rachel Megan Lauren Maria Rosa Ana"
).split()
MALE = (
    "James Robert John Michael David William Richard Joseph Thomas Charles Christopher "
    "Daniel Matthew Anthony Mark Donald Steven Andrew Paul Joshua Kenneth Kevin Brian George "
    "Timothy Ronald Jason Edward Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan Justin Luis "
    "Carlos Jose Juan Miguel Wei Raj Ahmed Omar Tyler Brandon Samuel Benjamin Noah Liam Ethan"
).split()
LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White "
    "Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres "
    "Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts "
    "Patel Kim Chen Singh Okafor Novak Kowalski Schmidt Murphy Sullivan O'Brien Fischer "
    "Yamamoto Tanaka Reyes Morales Ortiz Gutierrez Chavez Ramos Ruiz Alvarez Castillo Bennett "
    "Brooks Price Hughes Foster Sanders Ross Powell Long Jenkins Perry Russell Coleman Butler"
).split()


@dataclass
class DemoResult:
    """Whether this call loaded the demo, the import summary, the billing history it issued
    (see `load_demo`) and the logins to try."""

    loaded: bool
    summary: dict = field(default_factory=dict)
    logins: list[dict] = field(default_factory=list)
    history: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "loaded": self.loaded,
            "summary": self.summary,
            "history": self.history,
            "logins": self.logins,
        }


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _month_end(day: date) -> date:
    return _add_months(day, 1) - timedelta(days=1)


def _scaled(amount: str, factor: Decimal) -> str:
    return str(cents(D(amount) * factor))


class _Book:
    """Builds the document; all randomness comes from one seeded Random."""

    def __init__(self, today: date, seed: int):
        self.today = today
        self.rng = random.Random(seed)  # nosec B311 # a repeatable made-up book, not a secret
        self.window_start = _add_months(_month_start(today), -12)
        self.ssns: set[str] = set()
        self.member_seq = 0

    def ssn(self) -> str:
        rng = self.rng
        while True:
            area = rng.randint(1, 899)
            if area == 666:
                continue
            text = f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"
            if text not in self.ssns:
                self.ssns.add(text)
                return text

    def birth_date(self, age_from: int, age_to: int) -> date:
        age_days = self.rng.randint(age_from * 365, age_to * 365 + 364)
        return self.today - timedelta(days=age_days)

    def renewal_date(self, spec: _GroupSpec) -> date:
        """The most recent renewal anniversary on or before today (within the last 12 months)."""
        candidate = date(self.today.year, spec.renewal_month, 1)
        return candidate if candidate <= self.today else candidate.replace(year=candidate.year - 1)

    # ------------------------------------------------------------------ plans

    def plans(self, spec: _GroupSpec, original: date) -> list[dict]:
        rng = self.rng
        factor = Decimal(rng.randint(920, 1080)) / 1000
        renewal = self.renewal_date(spec) if spec.renews else None
        increase = Decimal(1000 + rng.randint(50, 80)) / 1000

        def renewing(code: str, name: str, product: str, make) -> dict:
            versions = [make(Decimal(1))]
            versions[0]["effective_from"] = original.isoformat()
            if renewal is not None and renewal > original:
                versions[0]["effective_to"] = (renewal - timedelta(days=1)).isoformat()
                new = make(increase)
                new["effective_from"] = renewal.isoformat()
                versions.append(new)
            return {
                "code": code,
                "name": name,
                "product": product,
                "effective_from": original.isoformat(),
                "rate_versions": versions,
            }

        def tiers(base: dict[str, str]):
            return lambda bump: {
                "tier_rates": {t: _scaled(a, factor * bump) for t, a in base.items()}
            }

        def bands(bump):
            return {
                "age_reference": "policy_anniversary",
                "age_bands": [
                    [lo, hi, _scaled(a, factor * bump)] for lo, hi, a in SMALL_GROUP_BANDS
                ],
            }

        def fixed(code, name, product, **rates) -> dict:
            return {
                "code": code,
                "name": name,
                "product": product,
                "effective_from": original.isoformat(),
                "rate_versions": [{"effective_from": original.isoformat(), **rates}],
            }

        small = spec.size < 20
        plans = []
        if small:
            plans.append(renewing("MED", "Small Group Medical Silver", "MED-SG", bands))
        else:
            plans.append(renewing("MED", "Medical PPO 1000", "MED-PPO", tiers(MEDICAL_PPO)))
        plans.append(renewing("DEN", "Dental PPO", "DEN-PPO", tiers(DENTAL)))
        plans.append(renewing("VIS", "Vision 12/12/24", "VIS-BASE", tiers(VISION)))
        plans.append(
            fixed(
                "LIFE",
                "Basic Life 2x salary to $200,000",
                "LIFE-BASIC",
                unit_rate="0.12",
                volume_salary_multiple="2",
                volume_rounding_unit="1000",
                volume_maximum="200000",
                age_reductions=[[65, "65"], [70, "50"]],
            )
        )
        if spec.size >= 14:
            plans.append(
                fixed(
                    "ADD",
                    "Basic AD&D 2x salary",
                    "ADD-BASIC",
                    unit_rate="0.03",
                    volume_salary_multiple="2",
                    volume_rounding_unit="1000",
                    volume_maximum="200000",
                    age_reductions=[[65, "65"], [70, "50"]],
                )
            )
        if spec.size >= 120:
            plans.append(
                fixed(
                    "SUPP",
                    "Supplemental Life (employee elected)",
                    "LIFE-SUPP",
                    unit_rate="0.21",
                    volume_flat_amount="10000",
                    volume_rounding_unit="10000",
                    volume_maximum="500000",
                    age_reductions=[[65, "65"], [70, "50"]],
                )
            )
        if spec.size >= 48:
            plans.append(
                fixed(
                    "STD",
                    "STD 60% to $1,000/week",
                    "STD-60",
                    unit_rate="0.225",
                    weekly_benefit_percent="0.60",
                    weekly_benefit_maximum="1000",
                )
            )
            ltd = fixed(
                "LTD",
                "LTD 60% to $10,000/month covered payroll",
                "LTD-60",
                unit_rate="0.35",
                covered_payroll_maximum="10000",
            )
            if spec.number == "G-1008":
                ltd["class"] = "SAL"
                ltd["name"] += " (salaried)"
            plans.append(ltd)
        return plans

    # ------------------------------------------------------------------ members

    def members(self, spec: _GroupSpec, original: date, plan_codes: set[str]) -> list[dict]:
        rng = self.rng
        members = []
        subgroup_codes = [code for code, *_ in spec.subgroups]
        has_classes = spec.size >= 48
        for index in range(spec.size):
            self.member_seq += 1
            gender = rng.choice("FM")
            first = rng.choice(FEMALE if gender == "F" else MALE)
            last = rng.choice(LAST)
            roll = rng.random()
            status = "active"
            if spec.size >= 48 and roll < 0.012:
                status = "cobra"
            elif spec.size >= 310 and roll < 0.025:
                status = "retiree"
            age = rng.randint(66, 74) if status == "retiree" else rng.randint(21, 66)
            birth = self.birth_date(age, age)
            fate = rng.random()
            if status == "active" and fate < 0.10:
                # Added during the last 12 months.
                hire = self.window_start + timedelta(
                    days=rng.randint(0, (self.today - self.window_start).days)
                )
            else:
                earliest_hire = birth + timedelta(days=365 * 19)
                tenure_days = rng.randint(
                    60, min(25 * 365, max(61, (self.today - earliest_hire).days))
                )
                hire = max(earliest_hire, self.today - timedelta(days=tenure_days))
                hire = min(hire, self.window_start - timedelta(days=45))
            # Coverage starts the first of the month after a 30-day wait, never before the policy.
            starts = max(original, _add_months(_month_start(hire + timedelta(days=30)), 1))
            ends = None
            if status == "active" and 0.10 <= fate < 0.18 and starts < self.window_start:
                # Terminated during the last 12 months: coverage through a month end.
                term_month = _add_months(self.window_start, rng.randint(0, 11))
                ends = _month_end(term_month)
                if ends >= self.today:
                    ends = _month_end(_add_months(_month_start(self.today), -1))
                status = "terminated"
            # Not clamped to today: a recent hire is enrolled ahead, covered from a coming month,
            # so no bill of the history lists someone hired after it was issued.
            klass = None
            if has_classes:
                klass = "HRLY" if rng.random() < 0.55 else "SAL"
            low, high = spec.salary_range
            if klass == "HRLY":
                high = (low + high) // 2
            salary = None
            if status != "retiree":
                salary = int(rng.triangular(low, high, low + (high - low) / 3)) // 250 * 250
            zip_code = (
                f"{rng.randint(spec.zip_prefixes[0], spec.zip_prefixes[-1]):03d}"
                f"{rng.randint(1, 99):02d}"
            )
            member = {
                "member_key": f"M{self.member_seq:07d}",
                "employee_id": f"{spec.number[-4:]}-{index + 1:05d}",
                "first_name": first,
                "last_name": last,
                "ssn": self.ssn(),
                "birth_date": birth.isoformat(),
                "gender": gender,
                "hire_date": hire.isoformat(),
                "status": status,
                "postal_code": zip_code,
            }
            if salary is not None:
                member["annual_salary"] = f"{salary}.00"
            if subgroup_codes:
                member["subgroup"] = rng.choices(
                    subgroup_codes, weights=[5, 4, 3, 2][: len(subgroup_codes)]
                )[0]
            if klass:
                member["class"] = klass
            dependents = self.dependents(age, last, gender)
            if dependents:
                member["dependents"] = dependents
            member["coverages"] = self.coverages(
                status,
                starts,
                ends,
                dependents,
                plan_codes,
                klass,
                salary,
                ltd_class_only=spec.number == "G-1008",
            )
            members.append(member)
        return members

    def dependents(self, age: int, last: str, gender: str) -> list[dict]:
        rng = self.rng
        deps = []
        married = rng.random() < (0.35 if age < 28 else 0.62)
        if married:
            spouse_gender = "M" if gender == "F" else "F"
            if rng.random() < 0.05:
                spouse_gender = gender
            spouse_age = max(19, age + rng.randint(-5, 5))
            deps.append(
                {
                    "dependent_key": "01",
                    "first_name": rng.choice(FEMALE if spouse_gender == "F" else MALE),
                    "last_name": last,
                    "relationship": "spouse",
                    "birth_date": self.birth_date(spouse_age, spouse_age).isoformat(),
                    "gender": spouse_gender,
                    "ssn": self.ssn(),
                }
            )
        max_child_age = min(25, age - 19)
        if max_child_age >= 0 and age < 62 and rng.random() < 0.5:
            for _ in range(rng.choice((1, 1, 2, 2, 2, 3))):
                child_gender = rng.choice("FM")
                child_age = rng.randint(0, max_child_age)
                child = {
                    "dependent_key": f"{len(deps) + 1:02d}",
                    "first_name": rng.choice(FEMALE if child_gender == "F" else MALE),
                    "last_name": last,
                    "relationship": "child",
                    "birth_date": self.birth_date(child_age, child_age).isoformat(),
                    "gender": child_gender,
                }
                if child_age >= 1:
                    child["ssn"] = self.ssn()
                deps.append(child)
        return deps

    def coverages(
        self, status, starts, ends, dependents, plan_codes, klass, salary, *, ltd_class_only: bool
    ) -> list[dict]:
        rng = self.rng
        has_spouse = any(d["relationship"] == "spouse" for d in dependents)
        has_child = any(d["relationship"] == "child" for d in dependents)
        tier = {
            (False, False): "EE",
            (True, False): "ES",
            (False, True): "EC",
            (True, True): "FAM",
        }[(has_spouse, has_child)]
        keys = [d["dependent_key"] for d in dependents]

        def cover(plan: str, **extra) -> dict:
            row = {"plan": plan, "effective_from": starts.isoformat(), **extra}
            if ends is not None:
                row["effective_to"] = ends.isoformat()
            return row

        rows = []
        health = {"MED": 0.88, "DEN": 0.93, "VIS": 0.72}
        for plan, chance in health.items():
            if status in ("cobra", "retiree") and plan == "VIS" and status == "retiree":
                continue
            if rng.random() < chance or (plan == "MED" and status != "active"):
                extra = {"tier": tier}
                if keys:
                    extra["dependents"] = keys
                rows.append(cover(plan, **extra))
        if status in ("cobra", "retiree"):
            return rows
        rows.append(cover("LIFE"))
        if "ADD" in plan_codes:
            rows.append(cover("ADD"))
        if "SUPP" in plan_codes and salary and rng.random() < 0.3:
            top = min(5 * salary, 500_000) // 10_000
            rows.append(cover("SUPP", elected_volume=f"{rng.randint(1, max(1, top)) * 10_000}"))
        if "STD" in plan_codes:
            rows.append(cover("STD"))
        if "LTD" in plan_codes and (not ltd_class_only or klass == "SAL"):
            rows.append(cover("LTD"))
        return rows

    # ------------------------------------------------------------------ groups

    def group(self, spec: _GroupSpec, writing_npn: str) -> dict:
        rng = self.rng
        original = date(spec.since_year, spec.renewal_month, 1)
        plans = self.plans(spec, original)
        classes = []
        if spec.size >= 48:
            classes = [
                {"code": "SAL", "name": "Salaried employees"},
                {"code": "HRLY", "name": "Hourly employees"},
            ]
        policy = {
            "effective_from": original.isoformat(),
            "billing_method": spec.method,
            "billing_frequency": spec.frequency,
            "lead_days": 15,
            "tolerance_amount": "50.00",
            "tolerance_percent": "2.00" if spec.method == "self_bill" else "10.00",
            "tolerance_rule": "and",
            "retro_add_days": 30 if spec.size < 1000 else 60,
            "retro_term_days": 60,
            "retro_change_days": 30,
            "coverage_month_rule": "fifteenth",
            "grace_days": 31,
            "grace_day_kind": "calendar",
            "payroll_frequency": "bi_weekly" if spec.method == "self_bill" else "monthly",
        }
        group = {
            "group_number": spec.number,
            "name": spec.name,
            "tax_id": f"{rng.randint(10, 88):02d}-{rng.randint(1000000, 9999999)}",
            "original_effective_date": original.isoformat(),
            "renewal_month": spec.renewal_month,
            "contact_email": f"hr@{spec.slug}.example.com",
            "state": spec.state,
            "billing_policies": [policy],
            "subgroups": [
                {"code": code, "name": name, "kind": kind, "bill_separately": separate}
                for code, name, kind, separate in spec.subgroups
            ],
            "classes": classes,
            "brokers_of_record": [
                {
                    "agency": spec.agency,
                    "writing_broker": writing_npn,
                    "effective_from": original.isoformat(),
                    "commission_split_percent": "100.00",
                }
            ],
            "plans": plans,
        }
        group["members"] = self.members(spec, original, {p["code"] for p in plans})
        return group


def build_demo_document(today: date, seed: int = DEMO_SEED) -> dict:
    """The demo set-up document (see docs/setup-format.md): eight groups of 5 to 2,000 members
    with 12 months of enrollment history before `today`, rates on all five rating bases with a
    medical/dental/vision renewal in the last 12 months for five groups, two broker agencies
    and one login per role, every password DEMO_PASSWORD. Same `today` and seed, same document."""
    return _build(today, seed)[0]


def _build(today: date, seed: int) -> tuple[dict, _Book]:
    book = _Book(today, seed)
    harbor = [b["npn"] for b in AGENCIES[0]["brokers"]]
    groups = []
    for index, spec in enumerate(GROUPS):
        npn = harbor[index % 2] if spec.agency == "HARBOR" else AGENCIES[1]["brokers"][0]["npn"]
        groups.append(book.group(spec, npn))
    users = []
    for spec in GROUPS:
        users.append(
            {
                "email": f"hr@{spec.slug}.example.com",
                "full_name": f"{spec.name} HR",
                "role": "employer",
                "password": DEMO_PASSWORD,
                "groups": [spec.number],
            }
        )
    users.append(
        {
            "email": "hr-houston@northstarretail.example.com",
            "full_name": "Houston stores HR",
            "role": "employer",
            "password": DEMO_PASSWORD,
            "groups": [{"group": "G-1008", "subgroup": "HOU"}],
        }
    )
    for agency in AGENCIES:
        for broker in agency["brokers"]:
            users.append(
                {
                    "email": broker["email"],
                    "full_name": broker["full_name"],
                    "role": "broker",
                    "password": DEMO_PASSWORD,
                    "broker_npn": broker["npn"],
                }
            )
    users += [
        {
            "email": "billing@carrier.example.com",
            "full_name": "Billing Specialist",
            "role": "billing_specialist",
            "password": DEMO_PASSWORD,
        },
        {
            "email": "supervisor@carrier.example.com",
            "full_name": "Billing Supervisor",
            "role": "supervisor",
            "password": DEMO_PASSWORD,
        },
        {
            "email": "admin@carrier.example.com",
            "full_name": "Portal Administrator",
            "role": "admin",
            "password": DEMO_PASSWORD,
        },
    ]
    document = {
        "products": PRODUCTS,
        "broker_agencies": AGENCIES,
        "groups": groups,
        "users": users,
    }
    return document, book


def demo_logins() -> list[dict]:
    """One row per demo login: role, email, password, the group it opens (`group`, empty for
    staff) and the story it shows there (`story`: who stopped paying, who is self-billed, who
    has subgroups...), told from the same specs and paying habits that build the book. `note`
    is the two in one line."""
    logins = [
        _login(
            "employer",
            f"hr@{spec.slug}.example.com",
            f"{spec.number} {spec.name}",
            group_story(spec),
        )
        for spec in GROUPS
    ]
    northstar = next(spec for spec in GROUPS if spec.number == "G-1008")
    logins.append(
        _login(
            "employer",
            "hr-houston@northstarretail.example.com",
            f"{northstar.number} {northstar.name}",
            "a location's HR contact: sees the Houston stores subgroup only (its members and "
            "upload), not the whole group",
        )
    )
    for agency in AGENCIES:
        numbers = [spec.number for spec in GROUPS if spec.agency == agency["code"]]
        for broker in agency["brokers"]:
            logins.append(
                _login(
                    "broker",
                    broker["email"],
                    "",
                    f"{broker['full_name']}, {agency['name']}: the book of "
                    f"{len(numbers)} group{'s' if len(numbers) > 1 else ''} "
                    f"({', '.join(numbers)}), premium and who is late, never member names",
                )
            )
    logins += [
        _login(
            "billing_specialist",
            "billing@carrier.example.com",
            "",
            "staff: Today's work queue, upload reviews, cash, suspense (a lockbox check "
            "waiting), billing runs",
        ),
        _login(
            "supervisor",
            "supervisor@carrier.example.com",
            "",
            "staff: approvals (adjustments above the limit, refunds, voids) and the audit log",
        ),
        _login("admin", "admin@carrier.example.com", "", "staff: everything, and users"),
    ]
    return logins


def _login(role: str, email: str, group: str, story: str) -> dict:
    login = {
        "role": role,
        "email": email,
        "password": DEMO_PASSWORD,
        "group": group,
        "story": story,
        "note": f"{group}: {story}" if group else story,
    }
    if Role(role).is_staff:
        login["authenticator_key"] = DEMO_TOTP_SECRET
    return login


def _enrol_staff(session: Session, at: datetime) -> None:
    """The demo's staff have their second factor set up with DEMO_TOTP_SECRET, and ten recovery
    codes nobody was shown (renew them on the Second factor page to see a set), so logging in
    does not warn that none are left."""
    for user in session.scalars(select(User).where(User.totp_confirmed_at.is_(None))):
        if user.role.is_staff:
            user.totp_secret_encrypted = second_factor.encrypt_secret(DEMO_TOTP_SECRET)
            user.totp_confirmed_at = at
            second_factor.new_recovery_codes(user)
    session.flush()


PAYS_BY = {
    PaymentMethod.CARD: "pays by card online",
    PaymentMethod.ACH_DEBIT: "pays online from its bank account",
    PaymentMethod.CHECK: "pays by check",
    PaymentMethod.ACH_CREDIT: "pays by ACH credit",
    PaymentMethod.WIRE: "pays by wire",
    PaymentMethod.LOCKBOX: "pays by check to the lockbox",
}
# The late-reported changes of `_late_changes`, by group: what the latest bills' retro shows.
LATE_CHANGE_STORIES = {
    "G-1005": "a termination reported late, credited as retro",
    "G-1007": "a new hire reported late, billed as retro",
    "G-1004": "a marriage (EE to ES) found at reconciliation, billed as retro",
    "G-1008": "a termination at the distribution center, credited on its own bill",
}


def group_story(spec: _GroupSpec) -> str:
    """What a demo group shows on the screens, in a line: size, how it is billed (self-billed,
    quarterly, subgroups and which are billed separately) and how it pays (`_habits`: late,
    short, over, returned, stopped paying)."""
    habit = _habits(date.today())[spec.number]
    parts = [f"{spec.size:,} members"]
    parts.append("self-billed (reports its own premium)" if spec.method == "self_bill" else "")
    if spec.frequency != "monthly":
        parts.append(f"billed {spec.frequency}")
    if spec.subgroups:
        names = [name for _, name, _, _ in spec.subgroups]
        separate = [name for _, name, _, alone in spec.subgroups if alone]
        kinds = "locations" if spec.subgroups[0][2] == "location" else "divisions"
        text = f"{len(names)} subgroups ({kinds}: {', '.join(names)})"
        if separate:
            text += f", {', '.join(separate)} billed separately"
        parts.append(text)
    if spec.size == max(g.size for g in GROUPS):
        parts.append("the book's largest bill, too large for a card")
    if habit.stops_paying_after is not None:
        parts.append("STOPPED PAYING last month: its latest bills are past due")
    else:
        pays = PAYS_BY[habit.method]
        if habit.source is PaymentSource.REMITTANCE_820:
            pays += " with an 820 remittance"
        days = abs(habit.days_after_due)
        when = f"{days} day{'' if days == 1 else 's'}"
        if habit.days_after_due > 0:
            pays += f", always about {when} late"
        elif habit.days_after_due < 0:
            pays += f", {when} early"
        parts.append(pays)
    if habit.short_by:
        parts.append(f"one payment ${habit.short_by} short, written off inside tolerance")
    if habit.over_by:
        parts.append(f"one overpayment of ${habit.over_by}, its credit used on the next bill")
    if habit.returned_once:
        parts.append("one payment returned NSF, paid again by wire")
    if spec.number in LATE_CHANGE_STORIES:
        parts.append(LATE_CHANGE_STORIES[spec.number])
    return "; ".join(part for part in parts if part)


def demo_is_loaded(session: Session) -> bool:
    """True when the demo book is in the database (its first group exists)."""
    found = select(EmployerGroup.id).where(EmployerGroup.group_number == DEMO_FIRST_GROUP)
    return session.scalar(found) is not None


def load_demo(
    session: Session, today: date | None = None, *, history_months: int = 12
) -> DemoResult:
    """Load the demo book unless its first group already exists (then change nothing and
    return loaded=False). Goes through import_setup; flushes only, the caller commits.

    Then issues the billing history a new user expects to find: for each month from
    `history_months` before `today`'s month up to the last period whose scheduled issue date
    (period start minus the policy's lead days) is on or before `today`, oldest first, the
    billing run of that month dated on its scheduled issue date (a quarterly group only in the
    months its periods start). Along the way a few enrollment changes are reported late (a
    termination, a new hire, a marriage; see `_late_changes`): on the report date the change is
    applied and the premium difference for every month already billed becomes an adjustment
    requested by the billing specialist and approved by the supervisor, which the next invoice
    carries in its retro section. Amounts are what was billed (credits) or what rating gives for
    the new enrollment (debits), never invented.

    With the default 12 that is 13 or 14 runs (today's month, and the next once its bill is
    out), about 350,000 invoice lines and most of the load time: about a minute on SQLite.
    `history_months=0` issues nothing. The CLI (`flask demo load`, so `make serve`) always uses
    the default; no environment variable changes it: tests pass a small history (the CLI test
    wraps this function). A change whose wrongly billed months fall before the history is left
    out (its credits would take back bills that were never issued).

    `summary` is the set-up import of the book; `history` lists the months run and counts the
    invoices, lines and adjustments (and any group held by a run, which the demo never has).
    A second call returns before any of this, so it issues and queues nothing again."""
    existing = session.scalar(
        select(EmployerGroup.id).where(EmployerGroup.group_number == DEMO_FIRST_GROUP)
    )
    if existing is not None:
        return DemoResult(loaded=False, summary={}, logins=demo_logins())
    today = today or date.today()
    document, book = _build(today, DEMO_SEED)
    summary = import_setup(session, document, source=DEMO_SOURCE)
    _enrol_staff(session, datetime.combine(today, time(), UTC))
    with mail.suppressed(session):  # a made-up history tells nobody anything
        history = _issue_history(session, document, book, today, history_months)
    return DemoResult(loaded=True, summary=summary.as_dict(), logins=demo_logins(), history=history)


# --------------------------------------------------------------------------- billing history

SPECIALIST_EMAIL = "billing@carrier.example.com"
SUPERVISOR_EMAIL = "supervisor@carrier.example.com"
MAX_LEAD_DAYS = 90


@dataclass(frozen=True)
class _BillingRun:
    """One scheduled billing run: the period month, its issue date, the demo groups due."""

    month: date
    run_date: date
    group_numbers: tuple[str, ...]


@dataclass(frozen=True)
class _LateChange:
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


def _billing_runs(session: Session, today: date, history_months: int) -> list[_BillingRun]:
    """The demo groups' billing runs from `history_months` before `today`'s month whose
    scheduled issue date is on or before `today`, oldest first; groups with another lead time
    get their own run on their own date."""
    if history_months <= 0:
        return []
    groups = session.scalars(
        select(EmployerGroup)
        .where(EmployerGroup.group_number.in_([spec.number for spec in GROUPS]))
        .options(selectinload(EmployerGroup.policies))
        .order_by(EmployerGroup.group_number)
    ).all()
    due: dict[tuple[date, date], list[str]] = defaultdict(list)
    month = add_months(_month_start(today), -history_months)
    while month <= today + timedelta(days=MAX_LEAD_DAYS):
        for group in groups:
            policy = group.policy_on(month)
            if policy is None:
                continue
            period_start, _ = billing_period_for(group, policy, month)
            run_date = period_start - timedelta(days=policy.lead_days)
            if period_start == month and run_date <= today:
                due[(month, run_date)].append(group.group_number)
        month = add_months(month, 1)
    return [_BillingRun(m, d, tuple(numbers)) for (m, d), numbers in sorted(due.items())]


def _issue_history(
    session: Session, document: dict, book: _Book, today: date, history_months: int
) -> dict:
    """Issue the billing runs of `_billing_runs` in order, reporting each late change just
    before the run that bills it. Returns what was issued."""
    runs = _billing_runs(session, today, history_months)
    history = {"months": [], "invoices": 0, "invoice_lines": 0, "adjustments": 0, "held": {}}
    if not runs:
        return history
    first_month, last_month = runs[0].month, runs[-1].month
    changes = [
        change
        for change in _late_changes(document, book, last_month)
        if change.first_wrong_month >= first_month
    ]
    staff = {
        user.email: user
        for user in session.scalars(
            select(User).where(User.email.in_([SPECIALIST_EMAIL, SUPERVISOR_EMAIL]))
        )
    }
    last_bill: dict[str, date] = {}
    payments = _PaymentBook()
    for run in runs:
        payments.record_until(session, run.run_date - timedelta(days=1))
        for change in changes:
            if change.bills_on != run.month or change.group_number not in run.group_numbers:
                continue
            previous = last_bill.get(change.group_number, run.run_date - timedelta(days=30))
            reported_on = min(
                previous + timedelta(days=change.days_after_bill), run.run_date - timedelta(days=2)
            )
            history["adjustments"] += _report_late_change(
                session, document, change, reported_on, staff
            )
        outcome = issue_billing_run(
            session, run.month, group_numbers=run.group_numbers, run_date=run.run_date
        )
        for number in run.group_numbers:
            last_bill[number] = run.run_date
        month = f"{run.month:%Y-%m}"
        if month not in history["months"]:
            history["months"].append(month)
        history["invoices"] += len(outcome.issued)
        history["invoice_lines"] += outcome.line_count
        for number, errors in outcome.held.items():
            history["held"][f"{number} {month}"] = [str(e) for e in errors]
        payments.schedule(outcome.issued, today)
    payments.record_until(session, today)
    history["payments"] = payments.recorded
    _lockbox_item_in_suspense(session, today)
    return history


# --------------------------------------------------------------------------- payment history


@dataclass(frozen=True)
class _PayingHabit:
    """How a demo group pays: method, days after the due date (negative: before), and the
    story it tells on the screens."""

    method: PaymentMethod
    source: PaymentSource
    days_after_due: int
    short_by: Decimal = Decimal("0.00")  # once, inside tolerance: written off
    over_by: Decimal = Decimal("0.00")  # once: left as a credit
    returned_once: bool = False  # one NSF return, paid again by wire a week later
    stops_paying_after: date | None = None  # the last due dates stay unpaid (past due)


def _habits(today: date) -> dict[str, _PayingHabit]:
    last_month = add_months(_month_start(today), -1)
    return {
        "G-1001": _PayingHabit(PaymentMethod.CARD, PaymentSource.ONLINE, -5),
        "G-1002": _PayingHabit(PaymentMethod.CHECK, PaymentSource.STAFF, 20),  # always late
        "G-1003": _PayingHabit(
            PaymentMethod.ACH_DEBIT, PaymentSource.ONLINE, -3, returned_once=True
        ),
        "G-1004": _PayingHabit(
            PaymentMethod.ACH_CREDIT, PaymentSource.STAFF, -2, short_by=Decimal("12.40")
        ),
        "G-1005": _PayingHabit(
            PaymentMethod.WIRE, PaymentSource.STAFF, 0, over_by=Decimal("150.00")
        ),
        "G-1006": _PayingHabit(PaymentMethod.ACH_CREDIT, PaymentSource.REMITTANCE_820, -1),
        "G-1007": _PayingHabit(
            PaymentMethod.LOCKBOX, PaymentSource.BANK_FILE, -4, stops_paying_after=last_month
        ),
        "G-1008": _PayingHabit(PaymentMethod.ACH_CREDIT, PaymentSource.STAFF, -6),
    }


@dataclass
class _PaymentBook:
    """Payments due to be recorded, each on its own date, interleaved with the billing runs so
    each invoice's "payments since the last bill" shows what had come in by then."""

    due: list[tuple[date, int]] = field(default_factory=list)  # (pay on, invoice id)
    recorded: int = 0
    _short_done: set[str] = field(default_factory=set)
    _over_done: set[str] = field(default_factory=set)
    _returned_done: set[str] = field(default_factory=set)

    def schedule(self, invoices, today: date) -> None:
        for invoice in invoices:
            habit = self._habit(invoice.invoice_number, today)
            if habit is None or (
                habit.stops_paying_after and invoice.due_on >= habit.stops_paying_after
            ):
                continue
            self.due.append((invoice.due_on + timedelta(days=habit.days_after_due), invoice.id))
        self.due.sort()
        self._today = today

    @staticmethod
    def _habit(invoice_number: str, today: date) -> _PayingHabit | None:
        return _habits(today).get(invoice_number[:6])

    def record_until(self, session: Session, day: date) -> None:
        while self.due and self.due[0][0] <= day:
            pay_on, invoice_id = self.due.pop(0)
            invoice = session.get(Invoice, invoice_id)
            self._pay(session, invoice, pay_on)

    def _pay(self, session: Session, invoice: Invoice, pay_on: date) -> None:
        group = session.get(EmployerGroup, invoice.group_id)
        owed = open_balances(session, group).get(invoice.id, Decimal("0.00"))
        if owed <= 0:
            return
        number = group.group_number
        habit = self._habit(invoice.invoice_number, self._today)
        amount = owed
        if habit.short_by and number not in self._short_done and owed > 10 * habit.short_by:
            amount -= habit.short_by
            self._short_done.add(number)
        elif habit.over_by and number not in self._over_done:
            amount += habit.over_by
            self._over_done.add(number)
        reference = f"{habit.method.value[:3].upper()}-{invoice.invoice_number[2:]}"
        payment, _ = record_payment(
            session,
            group=group,
            amount=amount,
            method=habit.method,
            received_on=pay_on,
            source=habit.source,
            reference=reference,
            payer_name=group.name,
            external_id=f"demo-{invoice.invoice_number}",
            invoice_ids=[invoice.id],
        )
        self.recorded += 1
        returned_on = pay_on + timedelta(days=4)
        if (
            habit.returned_once
            and number not in self._returned_done
            and returned_on + timedelta(days=7) <= self._today
        ):
            self._returned_done.add(number)
            return_payment(session, payment, on=returned_on, reason="nsf")
            record_payment(
                session,
                group=group,
                amount=payment.amount,
                method=PaymentMethod.WIRE,
                received_on=returned_on + timedelta(days=7),
                source=PaymentSource.STAFF,
                reference=f"WIR-{invoice.invoice_number[2:]}",
                payer_name=group.name,
                external_id=f"demo-{invoice.invoice_number}-replacement",
                invoice_ids=[invoice.id],
            )
            self.recorded += 1


def _lockbox_item_in_suspense(session: Session, today: date) -> None:
    """A lockbox check ten days ago that names no group or invoice: the suspense workbench's
    open item."""
    record_payment(
        session,
        group=None,
        amount=Decimal("1234.56"),
        method=PaymentMethod.LOCKBOX,
        received_on=today - timedelta(days=10),
        source=PaymentSource.BANK_FILE,
        reference="LBX-0042817",
        payer_name="NORTHSTAR RETAIL GRP",
        external_id="demo-lockbox-0042817",
        suspense_reason="lockbox check with no group or invoice number on the coupon",
    )


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


def _late_changes(document: dict, book: _Book, last_month: date) -> list[_LateChange]:
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
        ends = _month_end(month(-3))
        changes.append(
            _LateChange(
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
        _LateChange(
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
                coverage["effective_to"] = _month_end(month(-3)).isoformat()
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
            _LateChange(
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
        ends = _month_end(month(-4))
        changes.append(
            _LateChange(
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


def _report_late_change(
    session: Session, document: dict, change: _LateChange, reported_on: date, staff: dict
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
    differences = premium_differences(session, group, member, months)
    for (plan_id, coverage_month), amount in differences:
        session.add(
            Adjustment(
                group_id=group.id,
                member_id=member.id,
                plan_id=plan_id,
                coverage_month=coverage_month,
                amount=amount,
                reason_code=change.reason_code,
                source_type=change.source_type,
                status=AdjustmentStatus.APPROVED,
                requested_by_id=specialist.id if specialist else None,
                decided_by_id=supervisor.id if supervisor else None,
                decided_at=requested_at + timedelta(hours=18, minutes=25),
                decision_note=change.note,
                created_at=requested_at,
            )
        )
    session.flush()
    return len(differences)


def database_is_empty(session: Session) -> bool:
    """True when there are no groups and no users (what `demo load --if-empty` checks)."""
    groups = session.scalar(select(func.count()).select_from(EmployerGroup))
    users = session.scalar(select(func.count()).select_from(User))
    return not groups and not users
