"""The demo's set-up document (docs/setup-format.md), built from the book's shape with one seeded
Random: plans and rate versions (a renewal in the last 12 months for most groups), members with
a year of hires and terminations, dependents and coverages, and one login per role. The same
`today` and seed give the same document."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from billing_core.billing.enrollment import add_months, month_end, month_start
from billing_core.demo.book import (
    AGENCIES,
    DENTAL,
    FEMALE,
    GROUPS,
    LAST,
    MALE,
    MEDICAL_PPO,
    PRODUCTS,
    SMALL_GROUP_BANDS,
    VISION,
    GroupSpec,
)
from billing_core.demo.logins import DEMO_PASSWORD, SPECIALIST_EMAIL, SUPERVISOR_EMAIL
from billing_core.money import D, cents

DEMO_SEED = 2026


def _scaled(amount: str, factor: Decimal) -> str:
    return str(cents(D(amount) * factor))


class DocumentBuilder:
    """Builds the document; all randomness comes from one seeded Random."""

    def __init__(self, today: date, seed: int):
        self.today = today
        self.rng = random.Random(seed)  # nosec B311 # a repeatable made-up book, not a secret
        self.window_start = add_months(month_start(today), -12)
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

    def renewal_date(self, spec: GroupSpec) -> date:
        """The most recent renewal anniversary on or before today (within the last 12 months)."""
        candidate = date(self.today.year, spec.renewal_month, 1)
        return candidate if candidate <= self.today else candidate.replace(year=candidate.year - 1)

    # ------------------------------------------------------------------ plans

    def plans(self, spec: GroupSpec, original: date) -> list[dict]:
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

    def members(self, spec: GroupSpec, original: date, plan_codes: set[str]) -> list[dict]:
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
            starts = max(original, add_months(month_start(hire + timedelta(days=30)), 1))
            ends = None
            if status == "active" and 0.10 <= fate < 0.18 and starts < self.window_start:
                # Terminated during the last 12 months: coverage through a month end.
                term_month = add_months(self.window_start, rng.randint(0, 11))
                ends = month_end(term_month)
                if ends >= self.today:
                    ends = month_end(add_months(month_start(self.today), -1))
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

    def group(self, spec: GroupSpec, writing_npn: str) -> dict:
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
    return build_document(today, seed)[0]


def build_document(today: date, seed: int) -> tuple[dict, DocumentBuilder]:
    book = DocumentBuilder(today, seed)
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
            "email": SPECIALIST_EMAIL,
            "full_name": "Billing Specialist",
            "role": "billing_specialist",
            "password": DEMO_PASSWORD,
        },
        {
            "email": SUPERVISOR_EMAIL,
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
