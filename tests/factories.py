"""Builders for test data: make_group(session, **overrides), make_member(...), make_user(...)
and `scenario()`, the cast the access tests use."""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pyotp

from billing_core.config import DEV_TOTP_ENCRYPTION_KEY
from billing_core.models import (
    AgeReduction,
    BillingPolicy,
    BillingSubgroup,
    Broker,
    BrokerAgency,
    BrokerOfRecord,
    Coverage,
    CoveredDependent,
    Dependent,
    EmployerGroup,
    Invoice,
    Member,
    Payment,
    Plan,
    Product,
    RateAgeBand,
    RateTier,
    RateVersion,
    Upload,
    User,
    UserGroupAccess,
)
from billing_core.models.enums import (
    BillingFrequency,
    BillingMethod,
    LineOfCoverage,
    PaymentMethod,
    PaymentSource,
    RatingBasis,
    Relationship,
    Role,
    SubgroupKind,
    Tier,
    UploadFormat,
    UploadKind,
)
from billing_core.money import D
from billing_core.payments.receipts import record_payment
from billing_core.security import hash_password
from billing_core.users.second_factor import encrypt_secret, recovery_digest

PASSWORD = "correct-horse-42"
# Staff are made with a second factor already set up under this secret (they must log in with
# one): the login helpers (tests/web/conftest.py, tests/e2e/conftest.py) answer its prompt with
# totp_code(). RECOVERY_CODE is one of their recovery codes.
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
RECOVERY_CODE = "abcde-23456"


# Secrets production accepts (made up for the tests: none is published as a development value,
# SECRET_KEY is long and varied). Tests of production settings start from these.
PRODUCTION_ENV = {
    "APP_ENV": "production",
    "SECRET_KEY": "q8V2-rLx7Tn0pZc4Wm9Yb1Hs6Kd3Jf5Ge",
    "SSN_ENCRYPTION_KEY": "3c9pEoLbmOOWGqkIbvkHAiu3aM6hK1pGbdvvgtS-Ej0=",
    "TOTP_ENCRYPTION_KEY": "uXoSP81lfxgqe5BXHZ4tTBi0Em8ocVEu1iikntp9ijk=",
    "DATABASE_URL": "sqlite://",
}


def totp_code(at: datetime | None = None) -> str:
    totp = pyotp.TOTP(TOTP_SECRET)
    return totp.now() if at is None else totp.at(at)


_seq = itertools.count(1)


@functools.cache
def _password_hash() -> str:
    return hash_password(PASSWORD)


def make_group(session, **overrides) -> EmployerGroup:
    n = next(_seq)
    fields = dict(
        group_number=f"T{n:05d}",
        name=f"Test Employer {n}",
        tax_id=f"{n:09d}",
        original_effective_date=date(2024, 1, 1),
        renewal_month=1,
    )
    fields.update(overrides)
    group = EmployerGroup(**fields)
    session.add(group)
    session.flush()
    session.add(
        BillingPolicy(
            group_id=group.id,
            effective_from=fields["original_effective_date"],
            billing_method=BillingMethod.LIST_BILL,
            billing_frequency=BillingFrequency.MONTHLY,
        )
    )
    session.flush()
    return group


def make_subgroup(session, group, code="EAST", **overrides) -> BillingSubgroup:
    sub = BillingSubgroup(
        group_id=group.id,
        code=code,
        name=overrides.pop("name", f"{code.title()} location"),
        kind=SubgroupKind.LOCATION,
        **overrides,
    )
    session.add(sub)
    session.flush()
    return sub


def make_member(session, group, *, ssn=None, subgroup=None, **overrides) -> Member:
    n = next(_seq)
    fields = dict(
        group_id=group.id,
        subgroup_id=subgroup.id if subgroup else None,
        member_key=f"M{n:07d}",
        employee_id=f"E{n}",
        first_name="Pat",
        last_name=f"Member{n}",
        birth_date=date(1980, 5, 17),
        annual_salary=Decimal("52000.00"),
    )
    fields.update(overrides)
    member = Member(**fields)
    member.set_ssn(ssn or f"123-45-{n % 10000:04d}".replace("-0000", "-0001"))
    session.add(member)
    session.flush()
    return member


def _new_plan(session, group, product_code, name, line, basis, plan_prefix) -> Plan:
    """A plan of `group` (effective 2024-01-01, coded `plan_prefix` + a sequence number) on the
    shared test product `product_code`, made on first use."""
    product = session.query(Product).filter_by(code=product_code).one_or_none()
    if product is None:
        product = Product(code=product_code, name=name, line_of_coverage=line, rating_basis=basis)
        session.add(product)
        session.flush()
    plan = Plan(
        group_id=group.id,
        product_id=product.id,
        code=f"{plan_prefix}{next(_seq)}",
        name=name,
        effective_from=date(2024, 1, 1),
    )
    session.add(plan)
    session.flush()
    return plan


def make_dental_plan(session, group, *, fam_rate="112.40") -> Plan:
    plan = _new_plan(
        session, group, "DEN-T", "Dental PPO", LineOfCoverage.DENTAL,
        RatingBasis.TIERED_COMPOSITE, "DEN",
    )  # fmt: skip
    version = RateVersion(plan_id=plan.id, effective_from=date(2024, 1, 1))
    session.add(version)
    session.flush()
    for tier, rate in [("EE", "38.20"), ("ES", "76.90"), ("EC", "84.10"), ("FAM", fam_rate)]:
        session.add(
            RateTier(rate_version_id=version.id, tier=Tier(tier), monthly_rate=Decimal(rate))
        )
    session.flush()
    return plan


def enroll(session, member, plan, tier="EE", effective_from=date(2024, 1, 1)) -> Coverage:
    coverage = Coverage(
        member_id=member.id,
        plan_id=plan.id,
        tier=Tier(tier) if tier else None,
        effective_from=effective_from,
    )
    session.add(coverage)
    session.flush()
    return coverage


def make_user(
    session,
    role: Role,
    *,
    groups=(),
    subgroups=(),
    broker=None,
    email=None,
    second_factor: bool | None = None,
) -> User:
    """A user whose password is PASSWORD; staff (or anyone with `second_factor`) with the
    authenticator TOTP_SECRET and the recovery code RECOVERY_CODE set up."""
    n = next(_seq)
    user = User(
        email=email or f"{role.value}{n}@example.test",
        full_name=f"{role.label} {n}",
        role=role,
        password_hash=_password_hash(),
        broker_id=broker.id if broker else None,
    )
    if role.is_staff if second_factor is None else second_factor:
        user.totp_secret_encrypted = encrypt_secret(TOTP_SECRET, keys=[DEV_TOTP_ENCRYPTION_KEY])
        user.totp_confirmed_at = datetime(2026, 1, 2, tzinfo=UTC)
        user.recovery_code_hashes = [recovery_digest(RECOVERY_CODE)]
    session.add(user)
    session.flush()
    for group in groups:
        session.add(UserGroupAccess(user_id=user.id, group_id=group.id))
    for sub in subgroups:
        session.add(UserGroupAccess(user_id=user.id, group_id=sub.group_id, subgroup_id=sub.id))
    session.flush()
    return user


def make_broker(session, agency_code: str) -> Broker:
    agency = BrokerAgency(code=agency_code, name=f"Agency {agency_code}")
    session.add(agency)
    session.flush()
    broker = Broker(
        agency_id=agency.id, npn=f"NPN{next(_seq)}", full_name=f"Broker of {agency_code}"
    )
    session.add(broker)
    session.flush()
    return broker


@dataclass
class Scenario:
    group_a: EmployerGroup
    group_b: EmployerGroup
    sub_east: BillingSubgroup
    sub_west: BillingSubgroup
    member_east: Member
    member_west: Member
    member_b: Member
    users: dict[str, User]
    invoice_a: Invoice
    invoice_b: Invoice


SCENARIO_PERIOD = date(2027, 1, 1)


def scenario(session) -> Scenario:
    """Two groups; A has East and West subgroups; a broker agency of record for A and another
    agency for B; one user for every role the access matrix knows; each group's January 2027
    invoice (A: East FAM 112.40 + West EE 38.20; B: ES 76.90)."""
    group_a = make_group(session, name="Acme Tooling")
    group_b = make_group(session, name="Borealis Foods")
    east = make_subgroup(session, group_a, "EAST")
    west = make_subgroup(session, group_a, "WEST")
    member_east = make_member(
        session, group_a, subgroup=east, ssn="219-09-9999", last_name="Eastwood"
    )
    member_west = make_member(
        session, group_a, subgroup=west, ssn="219-09-8888", last_name="Westbrook"
    )
    member_b = make_member(session, group_b, ssn="219-09-7777", last_name="Boreal")
    plan = make_dental_plan(session, group_a)
    enroll(session, member_east, plan, "FAM")
    enroll(session, member_west, plan, "EE")
    broker_a = make_broker(session, "AG-A")
    broker_other = make_broker(session, "AG-B")
    session.add(
        BrokerOfRecord(
            group_id=group_a.id,
            agency_id=broker_a.agency_id,
            writing_broker_id=broker_a.id,
            effective_from=date(2024, 1, 1),
        )
    )
    session.add(
        BrokerOfRecord(
            group_id=group_b.id, agency_id=broker_other.agency_id, effective_from=date(2024, 1, 1)
        )
    )
    session.flush()
    users = {
        "employer_a": make_user(session, Role.EMPLOYER, groups=[group_a]),
        "employer_a_east": make_user(session, Role.EMPLOYER, subgroups=[east]),
        "employer_b": make_user(session, Role.EMPLOYER, groups=[group_b]),
        "broker_a": make_user(session, Role.BROKER, broker=broker_a),
        "broker_other": make_user(session, Role.BROKER, broker=broker_other),
        "billing_specialist": make_user(session, Role.BILLING_SPECIALIST),
        "supervisor": make_user(session, Role.SUPERVISOR),
        "admin": make_user(session, Role.ADMIN),
    }
    plan_b = make_dental_plan(session, group_b)
    enroll(session, member_b, plan_b, "ES")
    from billing_core.billing.invoicing import issue_billing_run

    outcome = issue_billing_run(session, SCENARIO_PERIOD, run_date=date(2026, 12, 17))
    invoice_a, invoice_b = sorted(outcome.issued, key=lambda i: i.group_id)
    return Scenario(
        group_a,
        group_b,
        east,
        west,
        member_east,
        member_west,
        member_b,
        users,
        invoice_a,
        invoice_b,
    )


def renew_rates(session, plan, effective_from: date, rates: dict[str, str]) -> RateVersion:
    """A renewal: close the plan's open rate version the day before and open a new one."""
    for version in plan.rate_versions:
        if version.effective_to is None:
            version.effective_to = date.fromordinal(effective_from.toordinal() - 1)
    version = RateVersion(plan_id=plan.id, effective_from=effective_from)
    session.add(version)
    session.flush()
    for tier, rate in rates.items():
        session.add(
            RateTier(rate_version_id=version.id, tier=Tier(tier), monthly_rate=Decimal(rate))
        )
    session.flush()
    session.refresh(plan)
    return version


def make_life_plan(session, group, *, unit_rate="0.12", multiple="2") -> Plan:
    """Basic life at `unit_rate` per $1,000 of `multiple` x salary, capped at 500,000, reduced to
    65% at 65 and 50% at 70."""
    plan = _new_plan(
        session, group, "LIFE-T", "Basic Life", LineOfCoverage.BASIC_LIFE,
        RatingBasis.PER_THOUSAND_VOLUME, "LIFE",
    )  # fmt: skip
    version = RateVersion(
        plan_id=plan.id,
        effective_from=date(2024, 1, 1),
        unit_rate=Decimal(unit_rate),
        volume_salary_multiple=Decimal(multiple),
        volume_maximum=Decimal("500000"),
    )
    session.add(version)
    session.flush()
    for from_age, percent in [(65, "65"), (70, "50")]:
        session.add(
            AgeReduction(
                rate_version_id=version.id, from_age=from_age, volume_percent=Decimal(percent)
            )
        )
    session.flush()
    return plan


def make_invoice(session, group, charges: Decimal, day: date) -> Invoice:
    """An issued invoice for `charges` dollars due on `day`, posted to the group's receivable,
    without a billing run (negative charges: a credit, as when a retro credit exceeds the
    premium). For payment tests that need many invoices quickly."""
    from billing_core import ledger

    number = next(_seq)
    invoice = Invoice(
        invoice_number=f"P-{group.group_number}-{number}",
        group_id=group.id,
        billing_method=BillingMethod.LIST_BILL,
        period_start=day,
        period_end=day,
        issued_on=day,
        due_on=day,
        current_premium=max(charges, Decimal(0)),
        retro_total=min(charges, Decimal(0)),
        total_due=charges,
    )
    session.add(invoice)
    session.flush()
    receivable = ledger.account(session, ledger.Chart.RECEIVABLE, group)
    revenue = ledger.account(session, ledger.Chart.PREMIUM_REVENUE)
    ledger.post_entry(
        session,
        entry_date=day,
        memo=f"Invoice {invoice.invoice_number}",
        source_type="invoice",
        source_id=invoice.id,
        legs=[ledger.Leg(receivable, charges, invoice.id), ledger.Leg(revenue, -charges)],
    )
    return invoice


def make_age_banded_plan(
    session, group, bands: list[tuple[int, int, str]], *, child_rate: str | None = None, **rules
) -> Plan:
    """Small-group medical rated per covered person by `bands` ([min_age, max_age, monthly
    rate]), with `child_rate` (and `child_rate_max_age`, `max_charged_children` in `rules`)."""
    plan = _new_plan(
        session, group, "MED-AGE-T", "Medical Silver", LineOfCoverage.MEDICAL,
        RatingBasis.AGE_BANDED, "MED",
    )  # fmt: skip
    version = RateVersion(
        plan_id=plan.id,
        effective_from=date(2024, 1, 1),
        child_rate=Decimal(child_rate) if child_rate is not None else None,
        **rules,
    )
    for min_age, max_age, rate in bands:
        version.age_bands.append(
            RateAgeBand(min_age=min_age, max_age=max_age, monthly_rate=Decimal(rate))
        )
    session.add(version)
    session.flush()
    return plan


def cover_dependent(
    session, coverage, relationship: str, birth_date: date, *, effective_from=None
) -> Dependent:
    """A dependent of the coverage's member (`relationship`: spouse, domestic_partner, child),
    covered by `coverage`."""
    member_id = coverage.member_id
    dependent = Dependent(
        member_id=member_id,
        dependent_key=f"{session.query(Dependent).filter_by(member_id=member_id).count() + 1:02d}",
        first_name="Dep",
        last_name="Family",
        relationship_to_member=Relationship(relationship),
        birth_date=birth_date,
        effective_from=effective_from,
    )
    session.add(dependent)
    session.flush()
    session.add(CoveredDependent(coverage_id=coverage.id, dependent_id=dependent.id))
    session.flush()
    return dependent


def pay_by_check(session, group, amount, on, invoices=(), reference="chk") -> Payment:
    """A check from `group` recorded by staff (`amount` in dollars as text), allocated to
    `invoices` when given, else by the group's policy."""
    return staff_check(
        session, group, amount, on, reference=reference, invoice_ids=[i.id for i in invoices]
    )


def staff_check(session, group, amount, on, **extra) -> Payment:
    """A check recorded by staff (`amount` in dollars as text; `group` None: unidentified),
    with record_payment's other arguments (`extra`) as given."""
    payment, _ = record_payment(
        session,
        group=group,
        amount=D(amount),
        method=PaymentMethod.CHECK,
        received_on=on,
        source=PaymentSource.STAFF,
        **extra,
    )
    return payment


def queued_upload(session, group, uploaded_by, status, created_at=None, **extra) -> Upload:
    """An upload row as the staff queues see it (a census CSV snapshot; no file read), with a
    digest of its own, received at `created_at` (default now)."""
    upload = Upload(
        group_id=group.id,
        uploaded_by_id=uploaded_by.id,
        original_filename="census.csv",
        file_format=UploadFormat.CSV,
        file_kind=UploadKind.SNAPSHOT,
        content=b"-",
        size_bytes=1,
        sha256=f"{next(_seq):x}".rjust(64, "0"),
        status=status,
        **({"created_at": created_at} if created_at is not None else {}),
        **extra,
    )
    session.add(upload)
    return upload


def receive_upload(
    session,
    group,
    data: bytes,
    filename: str,
    *,
    uploaded_by,
    as_of: date,
    kind=None,
    status=None,
):
    """A census file taken in as the page takes it (census.intake.take_in, read now, the
    default limits), kept as `status` (default SUBMITTED: in the staff queue); a refused file
    raises ValidationFailed with its problems."""
    from billing_core.census.intake import take_in
    from billing_core.census.processing import CensusLimits
    from billing_core.errors import ValidationFailed
    from billing_core.models.enums import UploadStatus

    check = take_in(
        session,
        group,
        data,
        filename,
        uploaded_by=uploaded_by,
        kind=kind,
        chosen=None,
        as_of=as_of,
        limits=CensusLimits(),
        in_background=False,
        status=status or UploadStatus.SUBMITTED,
    )
    if check.upload is None:
        raise ValidationFailed(check.message, check.errors, check.warnings)
    return check


def census_row(member, tier="EE", **overrides):
    """The file row of an enrolled `member` as the readers hand it over (census.rows): its
    id, name, birth date and salary, on dental at `tier` (None: no coverage), with `overrides`."""
    from billing_core.census.rows import CensusCoverage, CensusMember

    fields = dict(
        source_row=2,
        employee_id=member.employee_id,
        first_name=member.first_name,
        last_name=member.last_name,
        birth_date=member.birth_date,
        annual_salary=member.annual_salary,
        coverages=[CensusCoverage(LineOfCoverage.DENTAL, tier=Tier(tier))] if tier else [],
    )
    fields.update(overrides)
    return CensusMember(**fields)


def census_file(*rows, kind=UploadKind.SNAPSHOT):
    """A read census CSV of `rows` (census_row), of `kind`."""
    from billing_core.census.rows import CensusFile
    from billing_core.models.enums import UploadFormat

    return CensusFile(
        source="census.csv", file_format=UploadFormat.CSV, members=list(rows), kind=kind
    )
