"""The intake corpus: real-shaped census and 834 files under tests/data/intake, each beside a
`NAME.expected.json` saying what reading it must give, and the group they are uploaded to.

Expected file (every key optional but `covers` and `ok`):
  covers        which DOMAIN.md "Real files" item or issue point the file models
  kind_option   what `census parse --kind` is given (null: the reader decides)
  ok            the file reads without errors
  kind          census.kind, else kind_guess ("change" / "snapshot" / null)
  employees, dependents    counts of subscriber and dependent rows
  members       compared in order with census.as_dict()["members"]; each is a subset: only the
                keys given are compared; `coverages` and `dependents` are lists of subsets
  warnings, errors         substrings; each must appear in some warning (error)
  upload        what the employer's upload page must answer for the corpus group: accepted
                (bool), counts {add, term, change}, says (substrings on the page)
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

from billing_core.models import (
    BillingSubgroup,
    Coverage,
    Dependent,
    Member,
    Plan,
    Product,
    RateTier,
    RateVersion,
)
from billing_core.models.enums import (
    Gender,
    LineOfCoverage,
    RatingBasis,
    Relationship,
    SubgroupKind,
    Tier,
)

CORPUS = Path(__file__).resolve().parent / "data" / "intake"
EXPECTED_SUFFIX = ".expected.json"


def corpus_files() -> list[Path]:
    return sorted(
        p for p in CORPUS.iterdir() if p.is_file() and not p.name.endswith(EXPECTED_SUFFIX)
    )


def expected_for(path: Path) -> dict:
    return json.loads(path.with_name(path.name + EXPECTED_SUFFIX).read_text())


def matches(actual, wanted) -> bool:
    """`wanted` is a subset of `actual`: dicts compare the keys wanted gives, lists compare
    element by element with the same length."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(
            k in actual and matches(actual[k], v) for k, v in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(wanted)
            and all(matches(a, w) for a, w in zip(actual, wanted, strict=True))
        )
    return actual == wanted


def check_reading(result: dict, expected: dict) -> list[str]:
    """What differs between a reading (`census parse --json`'s payload or CensusFile.as_dict()
    with `ok`) and the expectation, in words; empty when it matches."""
    problems = []
    if result.get("ok") != expected["ok"]:
        problems.append(f"ok is {result.get('ok')}, expected {expected['ok']}: {result}")
        return problems
    errors, warnings = result.get("errors", []), result.get("warnings", [])
    for wanted in expected.get("errors", []):
        if not any(wanted.lower() in e.lower() for e in errors):
            problems.append(f"no error mentions {wanted!r}; errors: {errors}")
    for wanted in expected.get("warnings", []):
        if not any(wanted.lower() in w.lower() for w in warnings):
            problems.append(f"no warning mentions {wanted!r}; warnings: {warnings}")
    if not expected["ok"]:
        return problems
    kind = result.get("kind") or result.get("kind_guess")
    if "kind" in expected and kind != expected["kind"]:
        problems.append(f"kind {kind}, expected {expected['kind']}")
    for key in ("employees", "dependents"):
        if key in expected and result.get(key) != expected[key]:
            problems.append(f"{key} {result.get(key)}, expected {expected[key]}")
    members = result.get("members", [])
    for i, wanted in enumerate(expected.get("members", [])):
        if i >= len(members):
            problems.append(f"member {i} missing; wanted {wanted}")
        elif not matches(members[i], wanted):
            problems.append(f"member {i} is {members[i]}; wanted {wanted}")
    return problems


# --- the group the corpus is uploaded to --------------------------------------------------------

CORPUS_GROUP_NUMBER = "CORPUS1"
ROSTER_SIZE = 15  # employees E1001..E1015


def _tiered_plan(session, group, code, name, line, rates) -> Plan:
    product = Product(
        code=f"{code}-P-{group.id}",
        name=name,
        line_of_coverage=line,
        rating_basis=RatingBasis.TIERED_COMPOSITE,
    )
    session.add(product)
    session.flush()
    plan = Plan(
        group_id=group.id, product_id=product.id, code=code, name=name,
        effective_from=date(2024, 1, 1),
    )  # fmt: skip
    session.add(plan)
    session.flush()
    version = RateVersion(plan_id=plan.id, effective_from=date(2024, 1, 1))
    session.add(version)
    session.flush()
    for tier, rate in zip(("EE", "ES", "EC", "FAM"), rates, strict=True):
        session.add(
            RateTier(rate_version_id=version.id, tier=Tier(tier), monthly_rate=Decimal(rate))
        )
    session.flush()
    return plan


def corpus_group(session):
    """Group CORPUS1: subgroups NORTH and SOUTH; plans MED-PPO "Blue PPO 1000" (medical),
    DEN-PPO "Dental PPO" and VIS-1 "Vision Basic", all tiered; employees E1001..E1015 (Pat
    Worker01..15, born 1980-01-NN, SSN 219-09-10NN), each on MED-PPO and DEN-PPO since
    2024-01-01: E1001 at FAM with spouse Sam Worker01 (1982-02-01) and child Kim Worker01
    (2012-03-01); E1002 at ES with spouse Lee Worker02 (1983-04-02); the others EE."""
    from tests.factories import make_group

    # The corpus's 834s name this sponsor (N1*P5*Corpus Manufacturing*FI*361234567): an 834
    # for another employer's tax id is refused (census.diff.sponsor_problem).
    group = make_group(
        session,
        group_number=CORPUS_GROUP_NUMBER,
        name="Corpus Manufacturing",
        tax_id="36-1234567",
    )
    subgroups = []
    for code in ("NORTH", "SOUTH"):
        sub = BillingSubgroup(
            group_id=group.id, code=code, name=f"{code.title()} plant", kind=SubgroupKind.LOCATION
        )
        session.add(sub)
        subgroups.append(sub)
    session.flush()
    medical = _tiered_plan(
        session, group, "MED-PPO", "Blue PPO 1000", LineOfCoverage.MEDICAL,
        ("610.00", "1220.00", "1100.00", "1750.00"),
    )  # fmt: skip
    dental = _tiered_plan(
        session, group, "DEN-PPO", "Dental PPO", LineOfCoverage.DENTAL,
        ("38.20", "76.90", "84.10", "112.40"),
    )  # fmt: skip
    _tiered_plan(
        session, group, "VIS-1", "Vision Basic", LineOfCoverage.VISION,
        ("7.10", "13.20", "14.00", "21.30"),
    )  # fmt: skip
    for n in range(1, ROSTER_SIZE + 1):
        member = Member(
            group_id=group.id,
            subgroup_id=subgroups[n % 2].id,
            member_key=f"C{n:07d}",
            employee_id=f"E{1000 + n}",
            first_name="Pat",
            last_name=f"Worker{n:02d}",
            birth_date=date(1980, 1, n),
            gender=Gender.FEMALE if n % 2 else Gender.MALE,
            hire_date=date(2020, 1, 6),
            annual_salary=Decimal("52000.00"),
        )
        member.set_ssn(f"219-09-{1000 + n}")
        session.add(member)
        session.flush()
        tier = {1: "FAM", 2: "ES"}.get(n, "EE")
        family = {
            1: [("Sam", Relationship.SPOUSE, date(1982, 2, 1)),
                ("Kim", Relationship.CHILD, date(2012, 3, 1))],
            2: [("Lee", Relationship.SPOUSE, date(1983, 4, 2))],
        }.get(n, [])  # fmt: skip
        for i, (first, relationship, born) in enumerate(family, start=1):
            session.add(
                Dependent(
                    member_id=member.id,
                    dependent_key=f"{i:02d}",
                    first_name=first,
                    last_name=f"Worker{n:02d}",
                    relationship_to_member=relationship,
                    birth_date=born,
                    effective_from=date(2024, 1, 1),
                )
            )
        for plan in (medical, dental):
            session.add(
                Coverage(
                    member_id=member.id, plan_id=plan.id, tier=Tier(tier),
                    effective_from=date(2024, 1, 1),
                )
            )  # fmt: skip
    session.flush()
    return group
