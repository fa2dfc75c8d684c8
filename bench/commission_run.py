"""Benchmark: the monthly commission run (`billing_core.commissions.run.run_commissions`) over a
book of 1,000 groups and 50 agencies on PostgreSQL (issue 21).

Builds, by bulk Core inserts: 50 agencies with a broker each; `--groups` groups, each with
`--members` members on a dental and a basic life plan, an agency of record (one group in ten
split 60/40 between two agencies, one in ten changing agency mid-year); `--months` monthly
bills up to the run's month with their premium lines by member and coverage month and their
totals by plan (as the billing run keeps them), posted to the receivable; 90% of groups pay
each bill in full, 10% pay part of their last bills and are in grace (their new commission
held). Schedules: dental a flat 10% first year, 7% renewal for every agency; basic life graded
(15% to $5,000, 10% to $15,000, 5% to $40,000, 3% above) by the policy year; five agencies
earn dental per employee per month instead. Then runs the month before the last (the book's
first run: every month of history at once; timed and reported, not the target), and times:

  month   the last month's run: every coverage month recomputed and compared, that month's
          new lines (and the holds of the late groups) written and posted (target < 10 s)
  second  the same month again, which must add nothing (target < 10 s)

and prints the machine (CPUs, load average). Exit code 0 whatever the result (a benchmark, not
a test); an unreachable PostgreSQL skips, or fails under CI.

    .venv/bin/python bench/commission_run.py [--groups N] [--agencies N] [--members N]
        [--months N] [--keep]

BENCH_COMMISSIONS_DATABASE_URL picks the database (default
postgresql+psycopg://postgres@127.0.0.1:5432/bench_commissions); it is dropped and created
afresh on every run and dropped at the end (unless --keep). It refuses the test suite's
database and the other benchmarks'.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url

from billing_core import migrate
from billing_core.billing.enrollment import add_months
from billing_core.commissions.run import run_commissions
from billing_core.commissions.schedules import set_schedule
from billing_core.db import make_engine, make_session_factory
from billing_core.ledger import Chart
from billing_core.ledger.kept import rebuild_kept_balances
from billing_core.models import (
    BillingPolicy,
    Broker,
    BrokerAgency,
    BrokerOfRecord,
    EmployerGroup,
    Invoice,
    InvoiceLine,
    InvoicePlanTotal,
    JournalEntry,
    LedgerAccount,
    Member,
    Payment,
    PaymentAllocation,
    Plan,
    Posting,
    Product,
)
from billing_core.models.collections import DelinquencyState, DelinquencyTransition
from billing_core.models.commissions import CommissionKind, CommissionLine
from billing_core.models.enums import (
    AccountKind,
    BillingFrequency,
    BillingMethod,
    InvoiceSection,
    LineOfCoverage,
    PaymentMethod,
    PaymentSource,
    PaymentStatus,
    RatingBasis,
)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from aging_report import Ids, create_database, drop_database  # noqa: E402
from billing_run import IN_CI, postgres_ready, say, verdict  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_commissions"
TARGET = 10.0
SEED = 20261207
BATCH = 20_000
RUN_MONTH = date(2026, 12, 1)
TIMES: list[float] = []  # each run's CPU seconds in this process (the machine may be busy)


def bench_url() -> str:
    return os.environ.get("BENCH_COMMISSIONS_DATABASE_URL") or DEFAULT_URL


def refuse_test_database(url: str) -> None:
    name = make_url(url).database
    test_url = os.environ.get("TEST_DATABASE_URL") or "postgresql+psycopg://x@h/test"
    others = {"test", "postgres", "bench", "bench_reports", "bench_today", "bench_collections",
              "cicheck", "bench_million"}  # fmt: skip
    if name in others | {make_url(test_url).database}:
        say(
            f"REFUSED: {name!r} is not this benchmark's database; set BENCH_COMMISSIONS_DATABASE_URL"
        )
        sys.exit(2)


def build_book(engine, n_groups: int, n_agencies: int, members: int, months: int) -> dict:
    rng = random.Random(SEED)
    ids = Ids()
    counts: dict[str, int] = {}
    order = [BrokerAgency, Broker, Product, EmployerGroup, BillingPolicy, LedgerAccount, Plan,
             Member, BrokerOfRecord, Invoice, InvoiceLine, InvoicePlanTotal, JournalEntry,
             Posting, Payment, PaymentAllocation, DelinquencyTransition]  # fmt: skip
    buffers: dict[type, list[dict]] = {m: [] for m in order}
    first = add_months(RUN_MONTH, -(months - 1))

    def flush(conn, force=False):
        if not force and sum(len(rows) for rows in buffers.values()) < BATCH:
            return
        for model in order:
            rows = buffers[model]
            if rows:
                conn.execute(insert(model.__table__), rows)
                counts[model.__tablename__] = counts.get(model.__tablename__, 0) + len(rows)
                rows.clear()

    def entry(on, memo, source_type, legs):
        entry_id = ids(JournalEntry)
        buffers[JournalEntry].append({"id": entry_id, "entry_date": on, "memo": memo,
                                      "source_type": source_type, "source_id": None})  # fmt: skip
        for account_id, amount, invoice_id in legs:
            buffers[Posting].append({
                "id": ids(Posting), "entry_id": entry_id, "account_id": account_id,
                "debit": amount if amount > 0 else Decimal("0.00"),
                "credit": -amount if amount < 0 else Decimal("0.00"), "invoice_id": invoice_id,
            })  # fmt: skip
        return entry_id

    with engine.begin() as conn:
        agencies = []
        for a in range(1, n_agencies + 1):
            agency_id, broker_id = ids(BrokerAgency), ids(Broker)
            buffers[BrokerAgency].append({"id": agency_id, "code": f"AG{a:03d}",
                                          "name": f"Agency {a:03d}"})  # fmt: skip
            buffers[Broker].append({"id": broker_id, "agency_id": agency_id, "npn": f"N{a:07d}",
                                    "full_name": f"Broker {a:03d}"})  # fmt: skip
            agencies.append((agency_id, broker_id))
        dental, life = ids(Product), ids(Product)
        buffers[Product] += [
            {"id": dental, "code": "DEN-B", "name": "Dental PPO",
             "line_of_coverage": LineOfCoverage.DENTAL, "rating_basis": RatingBasis.TIERED_COMPOSITE},
            {"id": life, "code": "LIFE-B", "name": "Basic Life",
             "line_of_coverage": LineOfCoverage.BASIC_LIFE,
             "rating_basis": RatingBasis.PER_THOUSAND_VOLUME},
        ]  # fmt: skip
        cash, revenue = ids(LedgerAccount), ids(LedgerAccount)
        buffers[LedgerAccount] += [
            {"id": cash, "number": "1000", "code": "1000", "name": "Cash",
             "kind": AccountKind.ASSET, "group_id": None},
            {"id": revenue, "number": "4000", "code": "4000", "name": "Premium revenue",
             "kind": AccountKind.REVENUE, "group_id": None},
        ]  # fmt: skip
        for g in range(1, n_groups + 1):
            group_id, number = ids(EmployerGroup), f"K{g:05d}"
            original = add_months(first, -rng.randrange(0, 24))
            buffers[EmployerGroup].append({
                "id": group_id, "group_number": number, "name": f"Commission Employer {g:05d}",
                "tax_id": f"{g:09d}", "original_effective_date": original,
                "renewal_month": original.month,
            })  # fmt: skip
            buffers[BillingPolicy].append({
                "id": ids(BillingPolicy), "group_id": group_id, "effective_from": original,
                "billing_method": BillingMethod.LIST_BILL,
                "billing_frequency": BillingFrequency.MONTHLY,
            })  # fmt: skip
            receivable, unapplied = ids(LedgerAccount), ids(LedgerAccount)
            buffers[LedgerAccount] += [
                {"id": receivable, "number": f"{Chart.RECEIVABLE.code}-{number}",
                 "code": Chart.RECEIVABLE.code, "name": f"AR — {number}",
                 "kind": AccountKind.ASSET, "group_id": group_id},
                {"id": unapplied, "number": f"{Chart.UNAPPLIED_CASH.code}-{number}",
                 "code": Chart.UNAPPLIED_CASH.code, "name": f"Unapplied — {number}",
                 "kind": AccountKind.LIABILITY, "group_id": group_id},
            ]  # fmt: skip
            plans = []
            for product, code in ((dental, "DEN"), (life, "LIFE")):
                plan_id = ids(Plan)
                buffers[Plan].append({"id": plan_id, "group_id": group_id, "product_id": product,
                                      "code": code, "name": code, "effective_from": original})  # fmt: skip
                plans.append(plan_id)
            people = []
            for _m in range(members):
                member_id = ids(Member)
                buffers[Member].append({
                    "id": member_id, "group_id": group_id, "member_key": f"M{member_id:07d}",
                    "first_name": "Pat", "last_name": f"Member{member_id}",
                    "birth_date": date(1980, 1, 1) + timedelta(days=member_id % 9000),
                })  # fmt: skip
                people.append(member_id)
            agency, broker = agencies[rng.randrange(n_agencies)]
            roll = rng.random()
            if roll < 0.1:  # a split between two agencies
                other, _ = agencies[rng.randrange(n_agencies)]
                if other == agency:
                    other = agencies[(agencies.index((agency, broker)) + 1) % n_agencies][0]
                buffers[BrokerOfRecord] += [
                    {"id": ids(BrokerOfRecord), "group_id": group_id, "agency_id": agency,
                     "writing_broker_id": broker, "effective_from": original,
                     "effective_to": None, "commission_split_percent": Decimal("60.00")},
                    {"id": ids(BrokerOfRecord), "group_id": group_id, "agency_id": other,
                     "writing_broker_id": None, "effective_from": original,
                     "effective_to": None, "commission_split_percent": Decimal("40.00")},
                ]  # fmt: skip
            elif roll < 0.2:  # the agency changes mid-year
                change = add_months(first, months // 2)
                other, _ = agencies[rng.randrange(n_agencies)]
                buffers[BrokerOfRecord] += [
                    {"id": ids(BrokerOfRecord), "group_id": group_id, "agency_id": agency,
                     "writing_broker_id": broker, "effective_from": original,
                     "effective_to": change - timedelta(days=1),
                     "commission_split_percent": Decimal("100.00")},
                    {"id": ids(BrokerOfRecord), "group_id": group_id, "agency_id": other,
                     "writing_broker_id": None, "effective_from": change,
                     "effective_to": None, "commission_split_percent": Decimal("100.00")},
                ]  # fmt: skip
            else:
                buffers[BrokerOfRecord].append(
                    {"id": ids(BrokerOfRecord), "group_id": group_id, "agency_id": agency,
                     "writing_broker_id": broker, "effective_from": original,
                     "effective_to": None, "commission_split_percent": Decimal("100.00")}
                )  # fmt: skip
            late = rng.random() < 0.1
            dental_rate = Decimal(rng.randrange(30_00, 120_00)) / 100
            life_rate = Decimal(rng.randrange(5_00, 40_00)) / 100
            for n in range(months):
                period = add_months(first, n)
                invoice_id = ids(Invoice)
                lines = []
                for member_id in people:
                    for plan_id, rate in ((plans[0], dental_rate), (plans[1], life_rate)):
                        lines.append({
                            "id": ids(InvoiceLine), "invoice_id": invoice_id,
                            "line_number": len(lines) + 1, "section": InvoiceSection.PREMIUM,
                            "member_id": member_id, "plan_id": plan_id, "coverage_month": period,
                            "amount": rate, "description": "",
                        })  # fmt: skip
                premium = (dental_rate + life_rate) * len(people)
                buffers[InvoiceLine] += lines
                for plan_id, rate in ((plans[0], dental_rate), (plans[1], life_rate)):
                    buffers[InvoicePlanTotal].append({
                        "id": ids(InvoicePlanTotal), "invoice_id": invoice_id,
                        "section": InvoiceSection.PREMIUM, "plan_id": plan_id,
                        "amount": rate * len(people), "line_count": len(people),
                        "member_count": len(people),
                    })  # fmt: skip
                issued = period - timedelta(days=15)
                buffers[Invoice].append({
                    "id": invoice_id, "invoice_number": f"{number}-{period:%Y%m}",
                    "group_id": group_id, "billing_method": BillingMethod.LIST_BILL,
                    "period_start": period, "period_end": add_months(period, 1) - timedelta(days=1),
                    "issued_on": issued, "due_on": period, "current_premium": premium,
                    "total_due": premium, "status": "issued",
                })  # fmt: skip
                entry(issued, f"Invoice {number}-{period:%Y%m}", "invoice",
                      [(receivable, premium, invoice_id), (revenue, -premium, None)])  # fmt: skip
                paid = (
                    premium
                    if not (late and n >= months - 2)
                    else (premium / 2).quantize(Decimal("0.01"))
                )
                received = period + timedelta(days=rng.randrange(-10, 6))
                payment_id = ids(Payment)
                buffers[Payment].append({
                    "id": payment_id, "group_id": group_id, "method": PaymentMethod.CHECK,
                    "source": PaymentSource.STAFF, "status": PaymentStatus.SUCCEEDED,
                    "amount": paid, "received_on": received, "reference": f"{number}-{n}",
                    "invoice_choice": [],
                })  # fmt: skip
                entry(received, "Payment received", "payment",
                      [(cash, paid, None), (unapplied, -paid, None)])  # fmt: skip
                applied = entry(received, "Payment applied", "allocation",
                                [(unapplied, paid, None), (receivable, -paid, invoice_id)])  # fmt: skip
                buffers[PaymentAllocation].append({
                    "id": ids(PaymentAllocation), "payment_id": payment_id,
                    "invoice_id": invoice_id, "amount": paid, "journal_entry_id": applied,
                })  # fmt: skip
            if late:
                buffers[DelinquencyTransition].append({
                    "id": ids(DelinquencyTransition), "group_id": group_id, "episode": 1,
                    "from_state": DelinquencyState.PAST_DUE, "to_state": DelinquencyState.IN_GRACE,
                    "reason": "bench", "effective_on": RUN_MONTH + timedelta(days=5),
                    "as_of": RUN_MONTH + timedelta(days=5), "actor": "sweep",
                })  # fmt: skip
            flush(conn)
        flush(conn, force=True)
        for name, last in ids.last.items():
            conn.execute(
                text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :v)"), {"t": name, "v": last}
            )
    return counts


def schedules(factory, n_agencies: int) -> None:
    with factory() as session:
        set_schedule(session, line=LineOfCoverage.DENTAL, kind=CommissionKind.FLAT,
                     effective_from=date(2020, 1, 1), rates=[("0", "10")],
                     renewal_rates=[("0", "7")])  # fmt: skip
        set_schedule(session, line=LineOfCoverage.BASIC_LIFE, kind=CommissionKind.GRADED,
                     effective_from=date(2020, 1, 1),
                     rates=[("0", "15"), ("5000", "10"), ("15000", "5"), ("40000", "3")])  # fmt: skip
        for agency in session.scalars(select(BrokerAgency).order_by(BrokerAgency.id).limit(5)):
            set_schedule(session, line=LineOfCoverage.DENTAL, kind=CommissionKind.PER_EMPLOYEE,
                         agency=agency, effective_from=date(2020, 1, 1), rates=[("0", "4.50")])  # fmt: skip
        session.commit()


def timed_run(factory, month: date = RUN_MONTH):
    with factory() as session:
        started, cpu = time.perf_counter(), time.process_time()
        result = run_commissions(session, month, actor_email="bench")
        session.commit()
        elapsed = time.perf_counter() - started
        TIMES.append(time.process_time() - cpu)
        return elapsed, len(result.lines), result.commission_total, result.problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--agencies", type=int, default=50)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    url = bench_url()
    refuse_test_database(url)
    if not postgres_ready(url, create=create_database):
        return 1 if IN_CI else 0
    engine = make_engine(url)
    try:
        started = time.perf_counter()
        migrate.upgrade(engine)
        counts = build_book(engine, args.groups, args.agencies, args.members, args.months)
        factory = make_session_factory(engine)
        with factory() as session:
            rebuild_kept_balances(session)
            session.commit()
        schedules(factory, args.agencies)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        say(
            f"set-up (not measured): {time.perf_counter() - started:.1f} s for"
            f" {counts['employer_group']:,} groups, {counts['broker_agency']:,} agencies,"
            f" {counts['invoice']:,} bills, {counts['invoice_line']:,} premium lines,"
            f" {counts['payment']:,} payments"
        )
        load = os.getloadavg()
        say(
            f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        )
        before = add_months(RUN_MONTH, -1)
        catch_s, catch_lines, catch_total, _ = timed_run(factory, before)
        say(
            f"catch-up run {before:%b %Y} (the book's first: every month before it; not the"
            f" target): {catch_s:.2f} s, {TIMES[-1]:.2f} s CPU here, {catch_lines:,} lines,"
            f" net {catch_total:,.2f}"
        )
        first_s, first_lines, first_total, problems = timed_run(factory)
        with factory() as session:
            holds = session.scalar(
                select(func.count())
                .select_from(CommissionLine)
                .where(CommissionLine.kind == "hold")
            )
        say(
            f"month run {RUN_MONTH:%b %Y}: {first_s:.2f} s, {TIMES[-1]:.2f} s CPU here"
            f" (target < {TARGET:.0f} s);"
            f" {first_lines:,} lines ({holds:,} holds), net {first_total:,.2f};"
            f" {len(problems)} problem(s) {verdict(first_s < TARGET)}"
        )
        for problem in problems[:5]:
            say(f"  problem: {problem}")
        second_s, second_lines, second_total, _ = timed_run(factory)
        ok = second_lines == 0 and second_total == 0
        say(
            f"second run, same month: {second_s:.2f} s, {TIMES[-1]:.2f} s CPU here;"
            f" {second_lines} new lines"
            f" ({'nothing paid twice' if ok else 'PAID AGAIN'}) {verdict(ok and second_s < TARGET)}"
        )
    finally:
        engine.dispose()
        if not args.keep:
            drop_database(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
