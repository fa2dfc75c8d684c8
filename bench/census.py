"""Benchmark: a 100,000-member census through the upload pipeline, read -> normalise/validate ->
diff against 100,000 enrolled members -> rated, as a CSV snapshot and as a full-file X12 834.

The CSV is `_census_data.census_rows(families=True)`: 100,000 subscribers with their ~119,000
dependents (~219,000 rows, ~21 MB); the 834 is `_census_data.generate_834`: 100,000 subscribers
and ~150,000 dependents. Each gets its own group, built (not timed) from the file as read: 2% of
the file's subscribers are not enrolled (adds), 2,000 enrolled members are not in the file
(terms), 2% are enrolled at a lower salary and 1% on another medical tier (changes), 100,000
enrolled members in all, each with the SSN digest, last four and ciphertext a real member has.

Timed: `read_census` + `diff_census` + rating, as the upload job runs them (`read_and_diff`:
the file read while the database reads the enrollment). Decision on "rated": `premium_impact` (the
preview's figures: two billing-run dry runs of the whole group around `apply_census` in a
rolled-back savepoint) prices all 100,000 members twice, about 30 s here, so it is run only
with `--impact`, for information; the upload job prices it once and the upload keeps it (see
`census.uploads.upload_impact`). The bench rates what the diff changes: every
coverage change priced with `rating.premium` (rate_line's amount) at the rates in force on the
file's date, before (the enrolled plan, tier, volume and member) and after (the file's), and
the salary-based lines of members whose salary changed, summed per product (monthly premium,
Decimal dollars). Each distinct `rating.rating_key` is priced once, as the billing run does.

Targets (issue 19): CSV <= 2.5 s, <= 8x a bare `pandas.read_csv(path, dtype=str, keep_default_na=False)` (Python strings) of
the same file (timed just before each run: see `measure`), peak traced memory <= 1 GiB (tracemalloc, in a second untimed pass: tracing
slows allocation); 834 <= 5 s and <= 1 GiB. Exit code 0 whatever the result (a benchmark, not a
test); an unreachable PostgreSQL skips that database (fails under CI).

    .venv/bin/python bench/census.py [--members N] [--database sqlite|postgresql|both]
        [--only csv|834] [--profile FILE] [--impact]

BENCH_CENSUS_DATABASE_URL picks the PostgreSQL database (default
postgresql+psycopg://postgres@127.0.0.1:5432/bench_census); it is created when missing and its
`public` schema is dropped and recreated on every run. SQLite runs in a temporary file.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
from _census_data import AS_OF, census_rows, generate_834, write_csv
from billing_run import (
    IN_CI,
    Loader,
    load_average,
    postgres_ready,
    reset_schema,
    say,
    verdict,
)
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from billing_core import migrate
from billing_core.billing.rating import (
    MemberFacts,
    RateTable,
    premium,
    rating_key,
)
from billing_core.census.diff import CensusDiff, diff_census, read_and_diff
from billing_core.census.impact import premium_impact
from billing_core.census.reader import read_census
from billing_core.census.rows import CensusFile
from billing_core.config import DEV_SSN_KEY
from billing_core.db import make_engine, make_session_factory
from billing_core.errors import RatingDataMissing
from billing_core.models import (
    BenefitClass,
    BillingPolicy,
    BillingSubgroup,
    Coverage,
    EmployerGroup,
    Member,
    Plan,
    Product,
    RateTier,
    RateVersion,
    User,
)
from billing_core.models.enums import (
    BillingFrequency,
    BillingMethod,
    CoverageMonthRule,
    LineOfCoverage,
    RatingBasis,
    Role,
    SubgroupKind,
    Tier,
)
from billing_core.money import ZERO, D
from billing_core.security import configure_vault, vault

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_census"
TARGET_CSV_SECONDS = 2.5
TARGET_CSV_RATIO = 8.0
TARGET_834_SECONDS = 5.0
TARGET_BYTES = 1024**3
RATES_FROM = date(2024, 1, 1)
SEED = 5
# Best of three: the first run also warms what any process warms once (Arrow's thread pool,
# PostgreSQL's plans and buffers), and this machine's speed drifts by a tenth run to run.
TIMED_RUNS = 3

BASIS = {
    LineOfCoverage.MEDICAL: RatingBasis.TIERED_COMPOSITE,
    LineOfCoverage.DENTAL: RatingBasis.TIERED_COMPOSITE,
    LineOfCoverage.VISION: RatingBasis.TIERED_COMPOSITE,
    LineOfCoverage.BASIC_LIFE: RatingBasis.PER_THOUSAND_VOLUME,
    LineOfCoverage.SUPPLEMENTAL_LIFE: RatingBasis.PER_THOUSAND_VOLUME,
    LineOfCoverage.ADD: RatingBasis.PER_THOUSAND_VOLUME,
    LineOfCoverage.STD: RatingBasis.STD_WEEKLY_BENEFIT,
    LineOfCoverage.LTD: RatingBasis.LTD_COVERED_PAYROLL,
}
TIER_RATES = {
    LineOfCoverage.MEDICAL: ("612.40", "1286.04", "1102.32", "1776.00"),
    LineOfCoverage.DENTAL: ("38.25", "76.50", "84.15", "122.40"),
    LineOfCoverage.VISION: ("7.10", "13.49", "13.92", "20.87"),
}
RATE_FIELDS = (
    "unit_rate", "volume_salary_multiple", "volume_maximum", "volume_rounding_unit",
    "weekly_benefit_percent", "weekly_benefit_maximum", "covered_payroll_maximum",
)  # fmt: skip
SALARY_BASED = {RatingBasis.STD_WEEKLY_BENEFIT, RatingBasis.LTD_COVERED_PAYROLL}


# --------------------------------------------------------------------------- enrollment


def build_group(engine, number: str, census: CensusFile) -> dict[str, int]:
    """A group whose enrollment is `census` as read, with the adds, terms and changes of the
    module docstring; one plan per (line, plan code) the file names. Core inserts, not timed."""
    rng = random.Random(SEED)
    fernet = vault()._fernet()
    with engine.begin() as conn:
        load = Loader(conn)
        for model in (EmployerGroup, Product, Plan, RateVersion, Member, Coverage):
            load.next_id[model.__tablename__] = (
                conn.scalar(select(model.id).order_by(model.id.desc()).limit(1)) or 0
            )
        group_id = load.new_id(EmployerGroup)
        load.insert(
            EmployerGroup,
            [
                {
                    "id": group_id,
                    "group_number": number,
                    "name": f"Census Bench {number}",
                    # The generated 834's sponsor (N1*P5 ... FI*361234567): the file is this
                    # group's, not refused as another employer's (census.diff).
                    "tax_id": "36-1234567",
                    "original_effective_date": RATES_FROM,
                    "renewal_month": 1,
                }
            ],
        )
        load.insert(
            BillingPolicy,
            [
                {
                    "group_id": group_id,
                    "effective_from": RATES_FROM,
                    "billing_method": BillingMethod.LIST_BILL,
                    "billing_frequency": BillingFrequency.MONTHLY,
                    "coverage_month_rule": CoverageMonthRule.FIFTEENTH,
                }
            ],
        )
        plan_ids: dict[tuple[LineOfCoverage, str | None], int] = {}
        products, plans, versions, tiers = [], [], [], []
        wanted = sorted(
            {(c.line, c.plan_code) for m in census.members for c in m.coverages},
            key=lambda pair: (pair[0].value, pair[1] or ""),
        )
        for line, code in wanted:
            product_id = load.new_id(Product)
            plan_code = code or line.name
            products.append(
                {
                    "id": product_id,
                    # Cut to the column (PostgreSQL enforces VARCHAR(20), SQLite does not).
                    "code": f"{number}-{plan_code}"[: Product.code.type.length],
                    "name": f"{line.label} {plan_code}",
                    "line_of_coverage": line,
                    "rating_basis": BASIS[line],
                }
            )
            plan_ids[(line, code)] = plan_id = load.new_id(Plan)
            plans.append(
                {
                    "id": plan_id,
                    "group_id": group_id,
                    "product_id": product_id,
                    "code": plan_code,
                    "name": f"{line.label} {plan_code}",
                    "effective_from": RATES_FROM,
                }
            )
            version_id = load.new_id(RateVersion)
            version = dict.fromkeys(RATE_FIELDS) | {
                "id": version_id,
                "plan_id": plan_id,
                "effective_from": RATES_FROM,
            }
            if line in TIER_RATES:
                tiers += [
                    {"rate_version_id": version_id, "tier": tier, "monthly_rate": D(rate)}
                    for tier, rate in zip(
                        (Tier.EE, Tier.ES, Tier.EC, Tier.FAM), TIER_RATES[line], strict=True
                    )
                ]
            elif BASIS[line] is RatingBasis.PER_THOUSAND_VOLUME:
                version.update(unit_rate=D("0.145"), volume_salary_multiple=D(1))
                version.update(volume_maximum=D(200000), volume_rounding_unit=D(1000))
            elif line is LineOfCoverage.STD:
                version.update(unit_rate=D("0.305"), weekly_benefit_percent=D("0.6000"))
                version.update(weekly_benefit_maximum=D(1500))
            else:
                version.update(unit_rate=D("0.38"), covered_payroll_maximum=D(12500))
            versions.append(version)
        for model, rows in (
            (Product, products),
            (Plan, plans),
            (RateVersion, versions),
            (RateTier, tiers),
        ):
            load.insert(model, rows)
        subgroups = {m.subgroup_code for m in census.members if m.subgroup_code}
        load.insert(
            BillingSubgroup,
            [
                {
                    "group_id": group_id,
                    "code": code,
                    "name": f"Location {code}",
                    "kind": SubgroupKind.LOCATION,
                    "bill_separately": False,
                }
                for code in sorted(subgroups)
            ],
        )
        subgroup_ids = dict(
            conn.execute(
                select(BillingSubgroup.code, BillingSubgroup.id).where(
                    BillingSubgroup.group_id == group_id
                )
            ).all()
        )
        classes = {m.class_code for m in census.members if m.class_code}
        load.insert(
            BenefitClass,
            [{"group_id": group_id, "code": c, "name": f"Class {c}"} for c in sorted(classes)],
        )
        class_ids = dict(
            conn.execute(
                select(BenefitClass.code, BenefitClass.id).where(BenefitClass.group_id == group_id)
            ).all()
        )

        members, coverages = [], []
        enrolled = [m for m in census.members if rng.random() >= 0.02]
        extras = len(census.members) - len(enrolled)
        for n, row in enumerate(enrolled + enrolled[:extras]):
            member_id = load.new_id(Member)
            extra = n >= len(enrolled)
            salary = row.annual_salary
            if salary is not None and rng.random() < 0.02:
                salary = max(salary - 1000, ZERO)
            ssn = row.ssn
            members.append(
                {
                    "id": member_id,
                    "group_id": group_id,
                    "subgroup_id": subgroup_ids.get(row.subgroup_code),
                    "class_id": class_ids.get(row.class_code),
                    "member_key": f"M{member_id:07d}",
                    "employee_id": f"X{n:07d}" if extra else row.employee_id,
                    "first_name": row.first_name,
                    "last_name": row.last_name,
                    "birth_date": row.birth_date,
                    "gender": row.gender,
                    "hire_date": row.hire_date,
                    "annual_salary": salary,
                    "status": row.status,
                    "postal_code": row.postal_code,
                    "ssn_encrypted": fernet.encrypt(ssn.encode()).decode() if ssn else None,
                    "ssn_last4": ssn[-4:] if ssn else None,
                    "ssn_digest": vault().digest(ssn) if ssn and not extra else None,
                }
            )
            for coverage in row.coverages:
                tier = coverage.tier
                if coverage.line is LineOfCoverage.MEDICAL and tier and rng.random() < 0.01:
                    tier = Tier.EE if tier is not Tier.EE else Tier.ES
                coverages.append(
                    {
                        "id": load.new_id(Coverage),
                        "member_id": member_id,
                        "plan_id": plan_ids[(coverage.line, coverage.plan_code)],
                        "tier": tier,
                        "elected_volume": coverage.elected_volume,
                        "effective_from": coverage.effective_from or RATES_FROM,
                        "effective_to": coverage.effective_to,
                    }
                )
            if len(coverages) >= 50_000:
                load.insert(Member, members)
                load.insert(Coverage, coverages)
        load.insert(Member, members)
        load.insert(Coverage, coverages)
        if engine.dialect.name == "postgresql":
            load.fix_sequences()
    return load.counts


def ensure_staff(engine) -> None:
    with engine.begin() as conn:
        if conn.scalar(select(User.id).limit(1)) is None:
            conn.execute(
                User.__table__.insert(),
                {
                    "email": "bench@example.com",
                    "full_name": "Bench",
                    "password_hash": "-",
                    "role": Role.ADMIN,
                },
            )


# --------------------------------------------------------------------------- rating


def rate_diff(
    session: Session, group: EmployerGroup, diff: CensusDiff
) -> dict[str, tuple[Decimal, Decimal]]:
    """Monthly premium per product code, (before, after), of what `diff` changes, at the rates
    in force on `diff.as_of` (see the module docstring)."""
    on = diff.as_of.replace(day=1)
    plans = {
        p.id: p
        for p in session.scalars(
            select(Plan)
            .where(Plan.group_id == group.id)
            .options(
                selectinload(Plan.product),
                selectinload(Plan.rate_versions).selectinload(RateVersion.tier_rates),
                selectinload(Plan.rate_versions).selectinload(RateVersion.age_bands),
                selectinload(Plan.rate_versions).selectinload(RateVersion.age_reductions),
            )
        )
    }
    # Per plan (the ORM object itself as the key: its attributes cost a descriptor call each,
    # tens of thousands of times): its rate table and its product's code.
    tables = {
        plan: RateTable.from_version(plan.rate_version_on(on), plan.product.rating_basis)
        for plan in plans.values()
        if plan.rate_version_on(on) is not None
    }
    totals: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    code_of = {plan: plan.product.code for plan in plans.values()}
    memo: dict[tuple, Decimal] = {}

    def price(plan: Plan, tier, volume, birth, salary, side: int) -> None:
        table = tables[plan]
        key = (plan, rating_key(table, on, birth, salary, tier, volume))
        amount = memo.get(key)
        if amount is None:
            facts = MemberFacts(birth, salary, Tier(tier) if tier else None, volume)
            try:
                amount = memo[key] = premium(table, facts, on)
            except RatingDataMissing:
                amount = memo[key] = ZERO
        totals[code_of[plan]][side] += amount

    salary_changed = {}
    for entry in diff.changes:
        old, new = entry.enrolled, entry.row
        for change in entry.coverages:
            if change.plan_before is not None:
                salary = old.annual_salary
                price(change.plan_before, change.tier_before, change.volume_before,
                      old.birth_date, salary, 0)  # fmt: skip
            if change.plan_after is not None:
                facts_from = new or old
                salary = facts_from.annual_salary
                if salary is None and old is not None:
                    salary = old.annual_salary
                price(change.plan_after, change.tier_after, change.volume_after,
                      facts_from.birth_date, salary, 1)  # fmt: skip
        if any(f.field == "annual_salary" for f in entry.fields):
            touched = {c.line for c in entry.coverages}
            salary_changed[old.id] = (old, new, touched)
    if salary_changed:
        rows = session.execute(
            select(
                Coverage.member_id, Coverage.plan_id, Coverage.tier, Coverage.elected_volume
            ).where(Coverage.member_id.in_(list(salary_changed)), Coverage.in_force_at(on))
        )
        for member_id, plan_id, tier, volume in rows:
            plan = plans[plan_id]
            old, new, touched = salary_changed[member_id]
            if plan.product.line_of_coverage in touched or plan.product.rating_basis not in (
                SALARY_BASED | {RatingBasis.PER_THOUSAND_VOLUME}
            ):
                continue
            price(plan, tier, volume, old.birth_date, old.annual_salary, 0)
            price(plan, tier, volume, old.birth_date, new.annual_salary, 1)
    return {code: (before, after) for code, (before, after) in sorted(totals.items())}


# --------------------------------------------------------------------------- measuring


def pipeline(session: Session, group: EmployerGroup, data: bytes, name: str):
    """What the upload job does (census.processing): the file read while the database reads
    the group's enrollment (`read_and_diff`), then the rating."""
    census, diff = read_and_diff(
        session, group, lambda: read_census(data, name, as_of=AS_OF), AS_OF
    )
    rated = rate_diff(session, group, diff)
    return census, diff, rated


def measure(
    engine, group_number: str, data: bytes, name: str, profile: str | None, bare: Path | None
):
    """Seconds of the timed pipeline (best of three, with the CPU seconds of this process: wall
    time far above them means a busy machine or a slow database), then its tracemalloc peak in
    a further pass. With `bare` (the CSV), a bare read_csv of it is timed just before each run
    and the ratio is the best run's over its own: this machine's speed drifts by a fifth over
    minutes, so a read_csv timed at the start disagreed with runs timed later."""
    factory = make_session_factory(engine)
    times, cpu, bares = [], [], []
    result = None
    for attempt in range(TIMED_RUNS):
        if bare is not None:
            bares.append(bare_read_csv(bare))
        with factory() as session:
            group = session.scalar(
                select(EmployerGroup).where(EmployerGroup.group_number == group_number)
            )
            session.rollback()
            gc.collect()
            profiler = cProfile.Profile() if profile and attempt == 1 else None
            cpu_started, started = time.process_time(), time.perf_counter()
            if profiler:
                profiler.enable()
            census, diff, rated = pipeline(session, group, data, name)
            if profiler:
                profiler.disable()
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
            if profiler:
                path = f"{profile}.{name}"
                profiler.dump_stats(path)
                say(f"profile written to {path}; top 30 by cumulative time:")
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
            result = (census, diff, rated)
            session.rollback()
        del census, diff, rated
    with factory() as session:
        group = session.scalar(
            select(EmployerGroup).where(EmployerGroup.group_number == group_number)
        )
        session.rollback()
        gc.collect()
        tracemalloc.start()
        pipeline(session, group, data, name)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        session.rollback()
    best = times.index(min(times))
    return (
        times[best],
        [f"{t:.2f} ({c:.2f} CPU)" for t, c in zip(times, cpu, strict=True)],
        peak,
        result,
        bares[best] if bares else None,
    )


def report(census: CensusFile, diff: CensusDiff, rated) -> None:
    counts = ", ".join(f"{count:,} {kind}" for kind, count in diff.counts.items())
    say(
        f"  {census.employee_count:,} subscribers, {census.dependent_count:,} dependents, "
        f"{len(census.errors)} file errors; diff: {counts}; {len(diff.errors)} diff errors"
    )
    for code, (before, after) in rated.items():
        say(f"    {code:18} before {before:>14,.2f}  after {after:>14,.2f}  {after - before:+,.2f}")


def bare_read_csv(path: Path) -> float:
    times = []
    for _ in range(3):
        gc.collect()
        started = time.perf_counter()
        # Python strings, as pandas stored text before pyarrow was installed (with pyarrow,
        # pandas 3 converts every cell to an Arrow string, a quarter slower: a floor that moved).
        with pd.option_context("mode.string_storage", "python"):
            pd.read_csv(path, dtype=str, keep_default_na=False)
        times.append(time.perf_counter() - started)
    return min(times)


def impact_seconds(engine, group_number: str, data: bytes, name: str) -> None:
    """premium_impact on the same diff, for information (slow: see the module docstring)."""
    with make_session_factory(engine)() as session:
        group = session.scalar(
            select(EmployerGroup).where(EmployerGroup.group_number == group_number)
        )
        actor = session.scalar(select(User).limit(1))
        diff = diff_census(session, group, read_census(data, name, as_of=AS_OF), AS_OF)
        started = time.perf_counter()
        impact = premium_impact(session, group, diff, actor=actor, today=AS_OF)
        say(
            f"  premium_impact (for information): {time.perf_counter() - started:.1f} s, next "
            f"bill change {impact.next_bill_change:,.2f}, retro {impact.retro_total:,.2f}"
        )
        session.rollback()


def run_database(url: str, label: str, args, files: dict) -> bool:
    engine = make_engine(url)
    ok = True
    try:
        if engine.dialect.name == "postgresql":
            reset_schema(engine)
        migrate.upgrade(engine)
        ensure_staff(engine)
        for kind, (path, data, number) in files.items():
            started = time.perf_counter()
            # The file as read builds the group, and is then let go: the timed runs hold
            # nothing else, as an upload job's process does not (a census of 100,000 members
            # kept here is hundreds of thousands of objects that every garbage collection of
            # the timed run would walk: it slowed the full bench by a fifth to a half).
            counts = build_group(engine, number, read_census(data, path.name, as_of=AS_OF))
            gc.collect()
            say(
                f"[{label}] set-up (not measured): group {number}, {counts['member']:,} members, "
                f"{counts['coverage']:,} coverages in {time.perf_counter() - started:.1f} s"
            )
            if engine.dialect.name == "postgresql":
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("ANALYZE")
            seconds, times, peak, (census_read, diff, rated), bare = measure(
                engine, number, data, path.name, args.profile, path if kind == "csv" else None
            )
            say(
                f"[{label}] {kind}: read + diff + rate {seconds:.2f} s (runs: "
                + ", ".join(times)
                + f"); peak traced memory {peak / 2**20:,.0f} MiB"
            )
            report(census_read, diff, rated)
            if census_read.errors or diff.errors:
                say(f"  unexpected errors: {(census_read.errors + diff.errors)[:3]}")
                ok = False
            if kind == "csv":
                ratio = seconds / bare
                say(
                    f"  bare pandas.read_csv of the same file, timed just before that run: "
                    f"{bare:.2f} s; ratio {ratio:.1f}x"
                )
                checks = [
                    (seconds <= TARGET_CSV_SECONDS,
                     f"CSV {seconds:.2f} s (target <= {TARGET_CSV_SECONDS:g} s)"),
                    (ratio <= TARGET_CSV_RATIO,
                     f"CSV {ratio:.1f}x read_csv (target <= {TARGET_CSV_RATIO:.0f}x)"),
                    (peak <= TARGET_BYTES,
                     f"CSV peak {peak / 2**20:,.0f} MiB (target <= 1 GiB)"),
                ]  # fmt: skip
            else:
                checks = [
                    (seconds <= TARGET_834_SECONDS,
                     f"834 {seconds:.2f} s (target <= {TARGET_834_SECONDS:g} s)"),
                    (peak <= TARGET_BYTES, f"834 peak {peak / 2**20:,.0f} MiB (target <= 1 GiB)"),
                ]  # fmt: skip
            for passed, text in checks:
                say(f"[{label}] {verdict(passed)}: {text}")
                ok = ok and passed
            if args.impact:
                impact_seconds(engine, number, data, path.name)
    finally:
        engine.dispose()
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--only", choices=("csv", "834"))
    parser.add_argument("--profile", metavar="FILE", help="cProfile the second timed run")
    parser.add_argument("--impact", action="store_true", help="also time premium_impact")
    args = parser.parse_args()

    say(f"machine: {os.cpu_count()} CPUs, load average {load_average()} at start")
    configure_vault(DEV_SSN_KEY)
    directory = Path(tempfile.mkdtemp(prefix="census-bench-"))
    files = {}
    started = time.perf_counter()
    if args.only in (None, "csv"):
        path = directory / "census.csv"
        write_csv(path, census_rows(args.members, families=True))
        data = path.read_bytes()
        files["csv"] = (path, data, "CSV-BENCH")
    if args.only in (None, "834"):
        path = directory / "census.834"
        path.write_bytes(generate_834(args.members))
        data = path.read_bytes()
        files["834"] = (path, data, "X12-BENCH")
    for kind, (path, data, _) in files.items():
        census = read_census(data, path.name, as_of=AS_OF)
        say(
            f"{kind}: {census.employee_count:,} subscribers, {census.dependent_count:,} "
            f"dependents, {len(data) / 1e6:.1f} MB"
        )
        del census
    say(f"generated in {time.perf_counter() - started:.1f} s (not measured) in {directory}")

    results = []
    if args.database in ("sqlite", "both"):
        url = f"sqlite:///{directory / 'bench.sqlite'}"
        results.append(run_database(url, "SQLite", args, files))
    if args.database in ("postgresql", "both"):
        url = os.environ.get("BENCH_CENSUS_DATABASE_URL") or DEFAULT_PG_URL
        if postgres_ready(url):
            results.append(run_database(url, "PostgreSQL", args, files))
        elif IN_CI:
            results.append(False)
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    say(f"process max RSS {maxrss:,.0f} MiB (includes generating the files and set-up)")
    say(f"load average {load_average()} at end (other work on the machine slows every figure)")
    say(f"RESULT: {verdict(all(results))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
