"""Benchmark: read a full-file X12 834 of 100,000 subscribers (about half with a spouse, a third
with children) generated in memory, then write its 999. Target: the read takes at most 10 s.
Exit code 0 whatever the result (a benchmark, not a test).

    .venv/bin/python bench/census_834.py [--subscribers N] [--profile FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from billing_core.census.x12 import acknowledgement_999, read_834  # noqa: E402

TARGET_SECONDS = 10.0


def generate(subscribers: int, seed: int = 834) -> bytes:
    """Birth and hire dates spread over decades and salaries to the cent, as in a real book (so
    the reader's date cache is not flattered)."""
    rng = random.Random(seed)

    def day(start: date, span_days: int) -> str:
        return (start + timedelta(days=rng.randrange(span_days))).strftime("%Y%m%d")

    body: list[str] = []
    employees = dependents = 0
    for n in range(1, subscribers + 1):
        employee_id = f"E{n:07d}"
        spouse = rng.random() < 0.5
        children = rng.choice((0, 0, 0, 1, 2, 3))
        level = "FAM" if spouse and children else "ESP" if spouse else "ECH" if children else "EMP"
        employees += 1
        body += [
            "INS*Y*18*030*XN*A***FT",
            f"REF*0F*{employee_id}",
            "REF*1L*GRP-77001",
            f"REF*DX*DIV{n % 7}",
            f"DTP*336*D8*{day(date(1995, 1, 1), 11000)}",
            f"NM1*IL*1*LAST{n}*FIRST{n}*Q***34*{100000000 + n:09d}",
            "PER*IP**HP*6145550101",
            f"N3*{n} MAIN ST",
            f"N4*COLUMBUS*OH*{43000 + n % 999:05d}",
            f"DMG*D8*{day(date(1955, 1, 1), 16000)}*{'FM'[n % 2]}*M",
            f"ICM*2*{(pay := rng.randrange(120000, 800000)) // 100}.{pay % 100:02d}*40",
            f"HD*030**HLT*PPO500*{level}",
            "DTP*348*D8*20250101",
            f"HD*030**DEN*DENHIGH*{level}",
            "DTP*348*D8*20250101",
            f"HD*030**VIS*VIS1*{level}",
            "DTP*348*D8*20250101",
            "HD*030**LIF*BLIFE*EMP",
            "DTP*348*D8*20250101",
            f"AMT*FK*{50000 + (n % 5) * 10000}",
        ]
        family = (["01"] if spouse else []) + ["19"] * children
        for k, relation in enumerate(family):
            dependents += 1
            body += [
                f"INS*N*{relation}*030*XN*A",
                f"REF*0F*{employee_id}",
                f"NM1*IL*1*LAST{n}*DEP{k}",
                f"DMG*D8*{day(date(1960, 1, 1), 20000)}*{'MF'[k % 2]}",
                f"HD*030**HLT*PPO500*{level}",
                "DTP*348*D8*20250101",
                f"HD*030**DEN*DENHIGH*{level}",
                "DTP*348*D8*20250101",
            ]
    header = [
        "ST*834*0001*005010X220A1",
        "BGN*00*BENCH*20260101*0900****4",
        "REF*38*GRP-77001",
        "DTP*007*D8*20260101",
        f"QTY*ET*{employees}",
        f"QTY*DT*{dependents}",
        f"QTY*TO*{employees + dependents}",
        "N1*P5*ACME WIDGETS INC*FI*361234567",
        "N1*IN*GREAT LAKES MUTUAL*FI*391112222",
    ]
    transaction = header + body
    transaction.append(f"SE*{len(transaction) + 1}*0001")
    lines = [
        "ISA*00*          *00*          *ZZ*ACMEPAYROLL    *ZZ*PREMIUMBILL    "
        "*260101*0900*^*00501*000000001*0*P*:",
        "GS*BE*ACMEPAYROLL*PREMIUMBILL*20260101*0900*1*X*005010X220A1",
        *transaction,
        "GE*1*1",
        "IEA*1*000000001",
    ]
    return ("~\n".join(lines) + "~\n").encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--profile", help="write cProfile stats of the read to this file")
    args = parser.parse_args()

    started = time.perf_counter()
    data = generate(args.subscribers)
    print(
        f"generated {args.subscribers:,} subscribers, {len(data) / 1e6:.1f} MB "
        f"in {time.perf_counter() - started:.1f} s"
    )

    profiler = cProfile.Profile() if args.profile else None
    cpu_started = time.process_time()
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    census = read_834(data, "bench.834")
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
        pstats.Stats(args.profile).sort_stats("cumulative").print_stats(15)
    read_seconds = time.perf_counter() - started
    read_cpu = time.process_time() - cpu_started

    started = time.perf_counter()
    acknowledgement_999(census, data)
    ack_seconds = time.perf_counter() - started

    print(
        f"read {census.employee_count:,} subscribers and {census.dependent_count:,} dependents "
        f"in {read_seconds:.2f} s ({read_cpu:.2f} s CPU; {len(census.errors)} errors); "
        f"999 in {ack_seconds:.2f} s"
    )
    verdict = "OK" if read_seconds <= TARGET_SECONDS else "SLOW"
    print(f"{verdict}: target {TARGET_SECONDS:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
